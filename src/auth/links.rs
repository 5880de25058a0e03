//! Signed links for hospital contacts. A token names the engagement, the contact and one
//! purpose; it expires, can be revoked (its `jti` is stored), and carries no personal data.

use chrono::{Duration, NaiveDateTime};
use hmac::{Hmac, Mac};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;

const AUDIENCE: &str = "engagement-tracker/link";

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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkClaims {
    pub jti: String,
    /// Engagement id.
    pub eng: String,
    /// Contact id.
    pub con: String,
    pub pur: Purpose,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// Why a link does not open (the page says so in Japanese).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    Expired,
    Invalid,
    Revoked,
    WrongPurpose,
}

pub struct LinkKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    csrf_key: Vec<u8>,
}

impl LinkKeys {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            csrf_key: secret.to_vec(),
        }
    }

    /// A new token; the caller stores its `jti` (see `db::links`).
    pub fn sign(
        &self,
        engagement_id: &str,
        contact_id: &str,
        purpose: Purpose,
        now: NaiveDateTime,
        ttl: Duration,
    ) -> Result<(String, LinkClaims), jsonwebtoken::errors::Error> {
        let claims = LinkClaims {
            jti: uuid::Uuid::now_v7().to_string(),
            eng: engagement_id.to_owned(),
            con: contact_id.to_owned(),
            pur: purpose,
            aud: AUDIENCE.into(),
            iat: now.and_utc().timestamp(),
            exp: (now + ttl).and_utc().timestamp(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// Checks signature, audience and expiry (revocation is the database's part).
    pub fn verify(&self, token: &str) -> Result<LinkClaims, LinkError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&[AUDIENCE]);
        v.leeway = 0;
        decode::<LinkClaims>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => LinkError::Expired,
                _ => LinkError::Invalid,
            })
    }

    /// The CSRF value for forms opened with this link: an HMAC of its `jti`, so a page of
    /// another site cannot post a form without having the link itself.
    pub fn csrf(&self, jti: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.csrf_key) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(b"csrf:");
        mac.update(jti.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn csrf_ok(&self, jti: &str, given: &str) -> bool {
        let expected = self.csrf(jti);
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

    fn now() -> NaiveDateTime {
        chrono::Utc::now().naive_utc()
    }

    #[test]
    fn links_verify_and_name_their_purpose() {
        let k = LinkKeys::new(SECRET);
        let (t, c) = k
            .sign("e1", "c1", Purpose::Diagram, now(), Duration::days(14))
            .unwrap();
        let back = k.verify(&t).unwrap();
        assert_eq!(
            (back.eng.as_str(), back.con.as_str(), back.pur),
            ("e1", "c1", Purpose::Diagram)
        );
        assert_eq!(back.jti, c.jti);
    }

    #[test]
    fn expired_forged_and_foreign_tokens_fail() {
        let k = LinkKeys::new(SECRET);
        let (t, _) = k
            .sign(
                "e1",
                "c1",
                Purpose::Hearing,
                now() - Duration::days(20),
                Duration::days(14),
            )
            .unwrap();
        assert_eq!(k.verify(&t).unwrap_err(), LinkError::Expired);
        let (t, _) = k
            .sign("e1", "c1", Purpose::Hearing, now(), Duration::days(14))
            .unwrap();
        let mut forged = t.clone();
        let i = forged.len() - 5;
        let c = if &forged[i..=i] == "A" { "B" } else { "A" };
        forged.replace_range(i..=i, c);
        assert_eq!(k.verify(&forged).unwrap_err(), LinkError::Invalid);
        let other = LinkKeys::new(b"another-secret-another-secret-xx");
        assert_eq!(other.verify(&t).unwrap_err(), LinkError::Invalid);
        // An access token for the API is not a link.
        let api = crate::auth::jwt::Keys::new(SECRET, 900)
            .issue("u1")
            .unwrap();
        assert_eq!(k.verify(&api).unwrap_err(), LinkError::Invalid);
    }

    #[test]
    fn csrf_values_are_bound_to_the_link() {
        let k = LinkKeys::new(SECRET);
        let a = k.csrf("jti-1");
        assert!(k.csrf_ok("jti-1", &a));
        assert!(!k.csrf_ok("jti-2", &a));
        assert!(!k.csrf_ok("jti-1", ""));
    }
}
