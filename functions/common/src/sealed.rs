//! Sealed copies of session tokens, for idempotent replays.
//!
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

pub struct ReplaySeal {
    key: RandomizedNonceKey,
}

/// The record a sealed token belongs to: what it is bound to.
#[derive(Debug, Clone, Copy)]
pub struct RecordBinding<'a> {
    pub account: &'a str,
    /// SHA-256 hex of the `Idempotency-Key`.
    pub idempotency_key_hash: &'a str,
    pub session_id: &'a str,
}

impl RecordBinding<'_> {
    /// Length-prefixed fields, so no two bindings share an encoding.
    fn associated_data(&self) -> Vec<u8> {
        let mut aad = b"visionpipe replay v1".to_vec();
        for field in [self.account, self.idempotency_key_hash, self.session_id] {
            aad.extend_from_slice(&(field.len() as u32).to_be_bytes());
            aad.extend_from_slice(field.as_bytes());
        }
        aad
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealingKeyError {
    #[error("the replay sealing key must be {KEY_LEN} bytes, base64-encoded")]
    Invalid,
    #[error("cannot read or create the local replay sealing key at {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// A sealed token that does not open: altered, moved to another record, or sealed under
/// another key. Says nothing more, by design.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the sealed token does not open under this key and record")]
pub struct Unopenable;

impl ReplaySeal {
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
        Ok(ReplaySeal { key })
    }

    /// The token sealed for `record`.
    pub fn seal(&self, record: RecordBinding<'_>, token: &str) -> Result<String, Unopenable> {
        let mut in_out = token.as_bytes().to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(record.associated_data()), &mut in_out)
            .map_err(|_| Unopenable)?;
        let mut sealed = nonce.as_ref().to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The token sealed for `record`, or [`Unopenable`].
    pub fn open(&self, record: RecordBinding<'_>, sealed: &str) -> Result<Zeroizing<String>, Unopenable> {
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

    fn seal() -> ReplaySeal {
        ReplaySeal::from_base64(&generate_key()).unwrap()
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
        let another = ReplaySeal::from_base64(&generate_key()).unwrap();
        assert_eq!(another.open(RECORD, &sealed), Err(Unopenable), "another key");
        for garbage in ["", "AAAA", "not base64!", &sealed[..sealed.len() - 4]] {
            assert_eq!(seal.open(RECORD, garbage), Err(Unopenable), "{garbage:?}");
        }
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
        assert!(ReplaySeal::from_base64(&STANDARD.encode([1u8; 32])).is_ok());
        for bad in [
            STANDARD.encode([1u8; 16]),
            STANDARD.encode([1u8; 33]),
            "not base64".into(),
            String::new(),
        ] {
            assert!(
                matches!(ReplaySeal::from_base64(&bad), Err(SealingKeyError::Invalid)),
                "{bad:?}"
            );
        }
    }
}
