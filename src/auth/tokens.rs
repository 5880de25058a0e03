//! Long-lived API tokens for scripts and dashboards: random, shown once, stored as SHA-256.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "et_";

pub struct NewToken {
    /// The secret, shown to the caller once.
    pub plain: String,
    pub hash: String,
    /// The first characters, kept so a person can tell tokens apart in a list.
    pub prefix: String,
}

pub fn generate() -> NewToken {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let plain = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    NewToken {
        hash: hash(&plain),
        prefix: plain.chars().take(10).collect(),
        plain,
    }
}

pub fn hash(plain: &str) -> String {
    hex::encode(Sha256::digest(plain.as_bytes()))
}

pub fn looks_like_api_token(token: &str) -> bool {
    token.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hashed() {
        let a = generate();
        let b = generate();
        assert_ne!(a.plain, b.plain);
        assert!(looks_like_api_token(&a.plain));
        assert_eq!(a.hash, hash(&a.plain));
        assert_eq!(a.hash.len(), 64);
        assert!(a.plain.starts_with(&a.prefix));
    }
}
