use rand::RngCore;
use sha2::{Digest, Sha256};

/// SHA-256 of an API token. Tokens carry 256 random bits, so a fast hash is enough: there is
/// nothing to brute-force, and lookups stay one index probe.
pub type TokenHash = [u8; 32];

const API_TOKEN_PREFIX: &str = "hm_";

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A new API token secret, e.g. `hm_3f…` (256 random bits). Shown once, then only its hash is kept.
pub fn new_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", random_hex(32))
}

/// A new capture-URL token: 128 random bits, the public and unguessable part of `/h/<token>`.
pub fn capture_token() -> String {
    random_hex(16)
}

pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let a = new_api_token();
        let b = new_api_token();
        assert!(a.starts_with("hm_"));
        assert_eq!(a.len(), 3 + 64);
        assert_ne!(a, b);
        assert_eq!(capture_token().len(), 32);
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
