//! Short-lived access tokens for coordinators, signed with HS256.

use crate::domain::ids::UserId;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "engagement-tracker";
const AUDIENCE: &str = "engagement-tracker/api";

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
    pub ttl_secs: i64,
}

impl Keys {
    pub fn new(secret: &[u8], ttl_secs: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
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

    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        Ok(decode::<Claims>(token, &self.decoding, &self.validation)?.claims)
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
    fn expired_tokens_fail() {
        let keys = Keys::new(SECRET, -3600);
        let t = keys.issue(&"user-1".into(), 3).unwrap();
        assert!(keys.verify(&t).is_err());
    }
}
