//! Short-lived access tokens for coordinators, signed with HS256.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::ids::UserId;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "engagement-tracker";
const AUDIENCE: &str = "engagement-tracker/api";
/// Seconds a token is still taken after its `exp` (clocks of replicas differ a little).
const LEEWAY_SECS: u64 = 5;
/// Verified tokens remembered at most; past that the memory starts again empty.
const VERIFIED_MAX: usize = 4096;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The user's `token_version` when the token was issued; a password, role or activity
    /// change raises it, and older tokens stop working. Absent in tokens issued before it
    /// existed (taken as 0).
    #[serde(default)]
    pub ver: i64,
}

pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Built once: every API request verifies a token.
    validation: Validation,
    /// Tokens whose signature and claims were checked, by their text. A client sends the same
    /// token with every request until it expires, and checking the HMAC and parsing the claims
    /// again was an eighth of the instructions of an engagement read. Only expiry changes
    /// with time, and it is checked on every use; the account itself is looked up for every
    /// request (`authenticate`), so a changed password or role still ends the token at once.
    verified: Mutex<HashMap<Box<str>, Claims>>,
    pub ttl_secs: i64,
}

impl Keys {
    pub fn new(secret: &[u8], ttl_secs: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        // Expiry is checked in `verify_at`, for remembered tokens too (`exp` must be present).
        validation.validate_exp = false;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            verified: Mutex::default(),
            ttl_secs,
        }
    }

    pub fn issue(
        &self,
        user_id: &UserId,
        token_version: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now,
            exp: now + self.ttl_secs,
            jti: uuid::Uuid::now_v7().to_string(),
            ver: token_version,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The claims of a token signed with this key and not expired by the system clock.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        self.verify_at(token, jsonwebtoken::get_current_timestamp())
    }

    /// As [`Keys::verify`], at `now` (seconds since the epoch).
    fn verify_at(&self, token: &str, now: u64) -> Result<Claims, jsonwebtoken::errors::Error> {
        let remembered = self.remembered().get(token).cloned();
        let known = remembered.is_some();
        let claims = match remembered {
            Some(claims) => claims,
            None => decode::<Claims>(token, &self.decoding, &self.validation)?.claims,
        };
        if !u64::try_from(claims.exp).is_ok_and(|exp| exp + LEEWAY_SECS >= now) {
            if known {
                self.remembered().remove(token);
            }
            return Err(ErrorKind::ExpiredSignature.into());
        }
        if !known {
            let mut verified = self.remembered();
            if verified.len() >= VERIFIED_MAX {
                verified.clear();
            }
            verified.insert(token.into(), claims.clone());
        }
        Ok(claims)
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Claims>> {
        // A panic elsewhere while holding the lock leaves only a cache behind: keep using it.
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_tokens_verify() {
        let keys = Keys::new(SECRET, 900);
        let t = keys.issue(&"user-1".into(), 3).unwrap();
        let claims = keys.verify(&t).unwrap();
        assert_eq!((claims.sub.as_str(), claims.ver), ("user-1", 3));
    }

    #[test]
    fn other_key_and_tampering_fail() {
        let keys = Keys::new(SECRET, 900);
        let other = Keys::new(b"another-secret-another-secret-xx", 900);
        let t = keys.issue(&"user-1".into(), 3).unwrap();
        assert!(other.verify(&t).is_err());
        let mut tampered = t.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(keys.verify(&tampered).is_err());
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires() {
        let keys = Keys::new(SECRET, 900);
        let t = keys.issue(&"user-1".into(), 3).unwrap();
        let issued = jsonwebtoken::get_current_timestamp();
        assert_eq!(keys.verify_at(&t, issued).unwrap().sub, "user-1");
        assert!(keys.remembered().contains_key(t.as_str()));
        assert_eq!(keys.verify_at(&t, issued + 900).unwrap().sub, "user-1");
        // Past its expiry and the leeway: refused, and forgotten.
        let err = keys
            .verify_at(&t, issued + 900 + LEEWAY_SECS + 2)
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::ExpiredSignature);
        assert!(!keys.remembered().contains_key(t.as_str()));
        // A forged token is never remembered.
        let last = if t.ends_with('A') { "B" } else { "A" };
        let forged = format!("{}{last}", &t[..t.len() - 1]);
        assert!(keys.verify(&forged).is_err());
        assert!(!keys.remembered().contains_key(forged.as_str()));
    }

    #[test]
    fn expired_tokens_fail() {
        let keys = Keys::new(SECRET, -3600);
        let t = keys.issue(&"user-1".into(), 3).unwrap();
        assert!(keys.verify(&t).is_err());
        assert!(keys.remembered().is_empty());
    }
}
