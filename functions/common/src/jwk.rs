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

    /// Known answers from an independent implementation (jwcrypto 1.5.6 on pyca/cryptography),
    /// made once with:
    ///
    /// ```text
    /// python3 -m venv v && v/bin/pip install jwcrypto==1.5.6 && v/bin/python -c "
    /// from cryptography.hazmat.primitives.asymmetric import ec; from jwcrypto import jwk
    /// for s in (7, 8):
    ///     k = jwk.JWK.from_pyca(ec.derive_private_key(int.from_bytes(bytes([s])*32, 'big'), ec.SECP256R1()).public_key())
    ///     print(s, k.export_public(as_dict=True), k.thumbprint())"
    /// ```
    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint_as_an_independent_library_computes_it() {
        for (scalar, x, y, kid) in [
            (
                7u8,
                "HhhTL9R1TALzBB2cdc6zO4P_2BrHzk_ogsyxyYvFiW4",
                "pGwxHE4v9A3ZajZT5uRURdMt_khuztdcepDGoYiBwKM",
                "gWjt7nmB1udyFpLYVp0SxJnI8lJEvl7q8AFYZRqnGV8",
            ),
            (
                8,
                "OtqxXWYla_Fc1xYDWz8EFETlEv7R3WTUunVZfSDjZvE",
                "VG0skKg-uroBWVCZ5fP_u9M4THSU3mdZ_dXmXvrpzGc",
                "FNTotPeVek-MEChStrtHEZ9__f_R0R6CnaCg3QzzSQw",
            ),
        ] {
            let key = p256::SecretKey::from_slice(&[scalar; 32]).unwrap();
            let jwk = EcPublicJwk::of(&VerifyingKey::from(key.public_key()));
            assert_eq!(
                (jwk.x.as_str(), jwk.y.as_str(), jwk.kid.as_str()),
                (x, y, kid),
                "scalar {scalar}"
            );
            let published = jwk.to_json();
            assert_eq!(
                (published["kid"].as_str(), published["alg"].as_str()),
                (Some(kid), Some("ES256"))
            );
        }
    }

    #[test]
    fn a_point_that_is_not_uncompressed_p256_has_no_jwk() {
        assert_eq!(EcPublicJwk::from_sec1_uncompressed(&[0x02; 33]), None);
        assert_eq!(EcPublicJwk::from_sec1_uncompressed(&[0x04; 64]), None);
        assert_eq!(EcPublicJwk::from_sec1_uncompressed(&[]), None);
    }
}
