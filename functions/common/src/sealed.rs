//! Sealed secrets: session tokens kept for idempotent replays, and webhook signing secrets.
//!
//! Both must be kept (a replay returns the first token byte for byte; a delivery is signed with
//! the secret its owner was shown), and neither may be usable from a copy of the table. Each is
//! kept encrypted with AES-256-GCM under a key of its own purpose, bound to the record it
//! belongs to ([`Binding`]).
//!
//! Replays:
//! A retry with the same `Idempotency-Key` must get the first answer byte for byte, so its
//! record must hold the token; but a record (or a backup of the table) must not hold a usable
//! one. The record therefore keeps the token encrypted with AES-256-GCM under a key that only
//! create-session holds, with the record's identity (account, idempotency-key hash, session)
//! as associated data: a sealed token copied into another record, or altered, does not open.
//! A replay opens it and never signs again, so signing stays one fresh, randomised signature
//! per paid session.
//!
//! Format: base64url(nonce ‖ ciphertext ‖ tag), the nonce 96 random bits from aws-lc (a key
//! seals well under 2³² tokens before it is rotated: NIST SP 800-38D's bound for random nonces).

use crate::config::SealingKeySource;
use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// The key's length: AES-256.
pub const KEY_LEN: usize = 32;

pub struct Seal {
    key: RandomizedNonceKey,
}

/// What a sealed text is bound to (AES-GCM's associated data): a sealed text copied into
/// another record does not open.
pub trait Binding {
    fn associated_data(&self) -> Vec<u8>;
}

/// Length-prefixed fields after a purpose tag, so no two bindings share an encoding.
fn encode(purpose: &[u8], fields: &[&str]) -> Vec<u8> {
    let mut aad = purpose.to_vec();
    for field in fields {
        aad.extend_from_slice(&(field.len() as u32).to_be_bytes());
        aad.extend_from_slice(field.as_bytes());
    }
    aad
}

/// The record a sealed token belongs to: what it is bound to.
#[derive(Debug, Clone, Copy)]
pub struct RecordBinding<'a> {
    pub account: &'a str,
    /// SHA-256 hex of the `Idempotency-Key`.
    pub idempotency_key_hash: &'a str,
    pub session_id: &'a str,
}

impl Binding for RecordBinding<'_> {
    fn associated_data(&self) -> Vec<u8> {
        encode(
            b"visionpipe replay v1",
            &[self.account, self.idempotency_key_hash, self.session_id],
        )
    }
}

/// The webhook endpoint a sealed signing secret belongs to.
#[derive(Debug, Clone, Copy)]
pub struct EndpointBinding<'a> {
    pub account: &'a str,
    pub endpoint: &'a str,
}

impl Binding for EndpointBinding<'_> {
    fn associated_data(&self) -> Vec<u8> {
        encode(b"visionpipe webhook secret v1", &[self.account, self.endpoint])
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealingKeyError {
    #[error("a sealing key must be {KEY_LEN} bytes, base64-encoded")]
    Invalid,
    #[error("cannot read or create the local sealing key at {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// A sealed token that does not open: altered, moved to another record, or sealed under
/// another key. Says nothing more, by design.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the sealed token does not open under this key and record")]
pub struct Unopenable;

impl Seal {
    pub fn from_source(source: &SealingKeySource) -> Result<Self, SealingKeyError> {
        match source {
            SealingKeySource::Value(secret) => Self::from_base64(secret.expose()),
            SealingKeySource::LocalFile(path) => {
                let encoded = crate::local_key::load_or_create(path, generate_key).map_err(|source| {
                    SealingKeyError::Io {
                        path: path.display().to_string(),
                        source,
                    }
                })?;
                Self::from_base64(&encoded)
            }
        }
    }

    /// From the key as configured: 32 bytes in standard base64.
    pub fn from_base64(encoded: &str) -> Result<Self, SealingKeyError> {
        use base64::engine::general_purpose::STANDARD;
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded.trim())
                .map_err(|_| SealingKeyError::Invalid)?,
        );
        if bytes.len() != KEY_LEN {
            return Err(SealingKeyError::Invalid);
        }
        let key = RandomizedNonceKey::new(&AES_256_GCM, &bytes).map_err(|_| SealingKeyError::Invalid)?;
        Ok(Seal { key })
    }

    /// The text (a token, a secret) sealed for `record`.
    pub fn seal(&self, record: impl Binding, token: &str) -> Result<String, Unopenable> {
        let mut in_out = token.as_bytes().to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(record.associated_data()), &mut in_out)
            .map_err(|_| Unopenable)?;
        let mut sealed = nonce.as_ref().to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The text sealed for `record`, or [`Unopenable`].
    pub fn open(&self, record: impl Binding, sealed: &str) -> Result<Zeroizing<String>, Unopenable> {
        let mut bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(sealed).map_err(|_| Unopenable)?);
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(Unopenable);
        }
        let (nonce, in_out) = bytes.split_at_mut(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unopenable)?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(record.associated_data()), in_out)
            .map_err(|_| Unopenable)?;
        let token = std::str::from_utf8(plain).map_err(|_| Unopenable)?;
        Ok(Zeroizing::new(token.to_string()))
    }
}

/// A fresh key as the configuration takes it (what `openssl rand -base64 32` prints).
pub fn generate_key() -> String {
    use base64::engine::general_purpose::STANDARD;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    aws_lc_rs::rand::fill(key.as_mut()).expect("the system random generator is available");
    STANDARD.encode(key.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: RecordBinding<'static> = RecordBinding {
        account: "acct_1",
        idempotency_key_hash: "ab12",
        session_id: "ses_1",
    };

    fn seal() -> Seal {
        Seal::from_base64(&generate_key()).unwrap()
    }

    #[test]
    fn a_sealed_token_opens_for_its_record_and_holds_no_plaintext() {
        let seal = seal();
        let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhY2N0XzEifQ.c2lnbmF0dXJl";
        let sealed = seal.seal(RECORD, token).unwrap();
        assert_eq!(seal.open(RECORD, &sealed).unwrap().as_str(), token);
        for piece in token.split('.') {
            assert!(!sealed.contains(piece), "{piece} shows through");
        }
        // Random nonces: sealing twice gives different bytes, both opening.
        let again = seal.seal(RECORD, token).unwrap();
        assert_ne!(sealed, again);
        assert_eq!(seal.open(RECORD, &again).unwrap().as_str(), token);
    }

    #[test]
    fn any_text_round_trips_the_empty_one_included_and_anything_shorter_than_nonce_and_tag_does_not_open() {
        let seal = seal();
        for token in ["", "x", &"t".repeat(2048)] {
            let sealed = seal.seal(RECORD, token).unwrap();
            assert_eq!(seal.open(RECORD, &sealed).unwrap().as_str(), token);
        }
        // 12-byte nonce + 16-byte tag is the shortest a sealed value can be.
        let shortest = URL_SAFE_NO_PAD.decode(seal.seal(RECORD, "").unwrap()).unwrap();
        assert_eq!(shortest.len(), 28);
        assert!(
            seal.open(RECORD, &URL_SAFE_NO_PAD.encode(&shortest[..27]))
                .is_err()
        );
    }

    #[test]
    fn an_altered_moved_or_foreign_sealed_token_does_not_open() {
        let seal = seal();
        let sealed = seal.seal(RECORD, "header.claims.signature").unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            assert_eq!(
                seal.open(RECORD, &URL_SAFE_NO_PAD.encode(&bytes)),
                Err(Unopenable),
                "byte {i}"
            );
            bytes[i] ^= 1;
        }
        for other in [
            RecordBinding {
                account: "acct_2",
                ..RECORD
            },
            RecordBinding {
                idempotency_key_hash: "ab13",
                ..RECORD
            },
            RecordBinding {
                session_id: "ses_2",
                ..RECORD
            },
        ] {
            assert_eq!(seal.open(other, &sealed), Err(Unopenable), "{other:?}");
        }
        let another = Seal::from_base64(&generate_key()).unwrap();
        assert_eq!(another.open(RECORD, &sealed), Err(Unopenable), "another key");
        for garbage in ["", "AAAA", "not base64!", &sealed[..sealed.len() - 4]] {
            assert_eq!(seal.open(RECORD, garbage), Err(Unopenable), "{garbage:?}");
        }
    }

    #[test]
    fn a_webhook_secret_opens_only_for_its_endpoint_never_as_a_replay() {
        let seal = seal();
        let endpoint = EndpointBinding {
            account: "acct_1",
            endpoint: "whk_1",
        };
        let sealed = seal.seal(endpoint, "whsec_abc").unwrap();
        assert_eq!(seal.open(endpoint, &sealed).unwrap().as_str(), "whsec_abc");
        let other = EndpointBinding {
            endpoint: "whk_2",
            ..endpoint
        };
        assert_eq!(seal.open(other, &sealed), Err(Unopenable));
        // The purpose is bound too: the same two fields as a replay's record do not open it.
        let as_replay = RecordBinding {
            account: "acct_1",
            idempotency_key_hash: "whk_1",
            session_id: "",
        };
        assert_eq!(seal.open(as_replay, &sealed), Err(Unopenable));
    }

    #[test]
    fn bindings_with_the_same_concatenation_differ() {
        let a = RecordBinding {
            account: "ab",
            idempotency_key_hash: "c",
            session_id: "d",
        };
        let b = RecordBinding {
            account: "a",
            idempotency_key_hash: "bc",
            session_id: "d",
        };
        assert_ne!(a.associated_data(), b.associated_data());
    }

    #[test]
    fn only_32_byte_base64_keys_are_taken() {
        use base64::engine::general_purpose::STANDARD;
        assert!(Seal::from_base64(&STANDARD.encode([1u8; 32])).is_ok());
        for bad in [
            STANDARD.encode([1u8; 16]),
            STANDARD.encode([1u8; 33]),
            "not base64".into(),
            String::new(),
        ] {
            assert!(
                matches!(Seal::from_base64(&bad), Err(SealingKeyError::Invalid)),
                "{bad:?}"
            );
        }
    }
}
