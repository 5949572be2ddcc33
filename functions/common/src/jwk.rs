//! P-256 public keys as JSON Web Keys (RFC 7517), named by their RFC 7638 thumbprints.
//!
//! Both token kinds use this: playground session tokens (we sign, the playground verifies
//! with `/.well-known/jwks.json`) and, locally, console tokens (`vpctl` signs, the key
//! endpoints verify). A `kid` that is the key's thumbprint changes with the key, so old and
//! new keys can be published side by side during a rotation.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use p256::ecdsa::VerifyingKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcPublicJwk {
    /// Affine coordinates, base64url without padding.
    pub x: String,
    pub y: String,
    /// RFC 7638 thumbprint of (crv, kty, x, y).
    pub kid: String,
}

impl EcPublicJwk {
    pub fn of(key: &VerifyingKey) -> Self {
        Self::from_sec1_uncompressed(key.to_encoded_point(false).as_bytes())
            .expect("an uncompressed encoding of a valid key has both coordinates")
    }

    /// From an uncompressed SEC 1 point (0x04 ‖ x ‖ y, 65 bytes), as aws-lc gives a public key.
    pub fn from_sec1_uncompressed(point: &[u8]) -> Option<Self> {
        let [0x04, coordinates @ ..] = point else {
            return None;
        };
        if coordinates.len() != 64 {
            return None;
        }
        let (x, y) = coordinates.split_at(32);
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        // RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
        let thumbprint_input = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint_input.as_bytes()));
        Some(EcPublicJwk { x, y, kid })
    }

    /// The key as one member of a key set, for ES256 signatures.
    pub fn to_json(&self) -> Value {
        json!({
            "kty": "EC", "crv": "P-256", "x": self.x, "y": self.y,
            "kid": self.kid, "use": "sig", "alg": "ES256"
        })
    }
}

/// A key set document: `{"keys": [...]}`.
pub fn key_set<'a>(keys: impl IntoIterator<Item = &'a EcPublicJwk>) -> Value {
    json!({ "keys": keys.into_iter().map(EcPublicJwk::to_json).collect::<Vec<_>>() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint() {
        // RFC 7638 §3.1 works an RSA example; for P-256 we check the definition directly:
        // the kid is SHA-256 over exactly {"crv","kty","x","y"} in that order.
        let key = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
        let jwk = EcPublicJwk::of(&VerifyingKey::from(key.public_key()));
        let input = format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, jwk.x, jwk.y);
        assert_eq!(jwk.kid, URL_SAFE_NO_PAD.encode(Sha256::digest(input.as_bytes())));
        assert_eq!(URL_SAFE_NO_PAD.decode(&jwk.x).unwrap().len(), 32);
        let other = p256::SecretKey::from_slice(&[8u8; 32]).unwrap();
        assert_ne!(
            EcPublicJwk::of(&VerifyingKey::from(other.public_key())).kid,
            jwk.kid
        );
    }
}
