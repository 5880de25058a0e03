//! Links for hospital contacts. The URL carries a random 128-bit token (22 characters of
//! base64url) and nothing else; the database keeps only its SHA-256 beside the purpose,
//! engagement, contact and expiry (`db::links`). So a link says nothing about whom it is for,
//! and a database dump yields no usable link.

use crate::domain::ids::{ContactId, EngagementId};
use base64::Engine;
use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// What a link may open; each opens only its own page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = LinkPurpose)]
pub enum Purpose {
    /// Status and what is asked now; no action.
    Landing,
    /// Confirm or decline participation.
    Participation,
    /// Read the memorandum, upload the signed copy.
    Memorandum,
    /// Upload the network diagram.
    Diagram,
    /// Answer the pre-questionnaire.
    Questionnaire,
    /// Pick, move or cancel the hearing.
    Hearing,
}

impl Purpose {
    pub const ALL: [Purpose; 6] = [
        Purpose::Landing,
        Purpose::Participation,
        Purpose::Memorandum,
        Purpose::Diagram,
        Purpose::Questionnaire,
        Purpose::Hearing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Landing => "landing",
            Purpose::Participation => "participation",
            Purpose::Memorandum => "memorandum",
            Purpose::Diagram => "diagram",
            Purpose::Questionnaire => "questionnaire",
            Purpose::Hearing => "hearing",
        }
    }

    pub fn parse(s: &str) -> Option<Purpose> {
        Purpose::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// What an opened link grants, read from its stored row.
#[derive(Debug, Clone)]
pub struct LinkClaims {
    /// The stored SHA-256 of the token: the link's identity on the server.
    pub id: String,
    /// Engagement id.
    pub eng: EngagementId,
    /// Contact id.
    pub con: ContactId,
    pub pur: Purpose,
    pub expires_at: NaiveDateTime,
}

/// Why a link does not open (the page says so in Japanese).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    Expired,
    Invalid,
    Revoked,
    WrongPurpose,
}

/// Length of a token in a URL: 16 random bytes in base64url without padding.
pub const TOKEN_LEN: usize = 22;

/// A fresh link token and the hash to store for it.
pub struct NewLink {
    /// Goes into the URL only; never stored.
    pub token: String,
    pub hash: String,
}

/// The stored form of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a path segment can be a token at all (checked before any database look-up).
pub fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Issues link tokens and the CSRF values of the forms opened with them.
pub struct LinkKeys {
    csrf_key: Vec<u8>,
}

impl LinkKeys {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            csrf_key: secret.to_vec(),
        }
    }

    /// A new random token; the caller stores its hash (see `db::links`).
    pub fn issue(&self) -> NewLink {
        let mut raw = [0u8; 16];
        rand::rng().fill_bytes(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        NewLink {
            hash: hash(&token),
            token,
        }
    }

    /// The CSRF value for forms opened with a link (`id` is the link's stored hash): an HMAC
    /// with the server's secret, so a page of another site cannot post a form without having
    /// the link itself.
    pub fn csrf(&self, id: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.csrf_key) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(b"csrf:");
        mac.update(id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn csrf_ok(&self, id: &str, given: &str) -> bool {
        let expected = self.csrf(id);
        !expected.is_empty()
            && expected.len() == given.len()
            && expected
                .bytes()
                .zip(given.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn tokens_are_short_random_and_stored_as_hashes() {
        let k = LinkKeys::new(SECRET);
        let a = k.issue();
        let b = k.issue();
        assert_eq!(a.token.len(), TOKEN_LEN);
        assert!(well_formed(&a.token));
        assert_ne!(a.token, b.token);
        assert_eq!(a.hash, hash(&a.token));
        assert_eq!(a.hash.len(), 64);
        assert!(!a.hash.contains(&a.token));
    }

    #[test]
    fn only_token_shaped_segments_are_looked_up() {
        assert!(!well_formed(""));
        assert!(!well_formed(&"A".repeat(TOKEN_LEN + 1)));
        assert!(!well_formed("AAAAAAAAAAAAAAAAAAAA/="));
        // An access token for the API is not a link.
        let api = crate::auth::jwt::Keys::new(SECRET, 900)
            .issue(&"u1".into(), 0)
            .unwrap();
        assert!(!well_formed(&api));
    }

    #[test]
    fn csrf_values_are_bound_to_the_link() {
        let k = LinkKeys::new(SECRET);
        let a = k.csrf("link-1");
        assert!(k.csrf_ok("link-1", &a));
        assert!(!k.csrf_ok("link-2", &a));
        assert!(!k.csrf_ok("link-1", ""));
    }
}
