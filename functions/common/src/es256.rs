//! ES256 (ECDSA on P-256 with SHA-256) signing with RFC 6979 deterministic nonces, giving
//! exactly the bytes RustCrypto's `p256::ecdsa::SigningKey` gives (the tests hold it to that),
//! faster.
//!
//! Why not just `SigningKey`: its costly step is the nonce point k×G, a generic scalar
//! multiplication, and most of a session's CPU. aws-lc, already linked for TLS, has a dedicated
//! base-point multiplication. Why not aws-lc's own ECDSA: it signs with random nonces only, and
//! an idempotent replay must return the same token bytes from the recorded claims (records never
//! hold tokens). So the nonce, r and s are computed here (RustCrypto's constant-time scalar
//! arithmetic and RFC 6979 HMAC-DRBG) and only k×G is asked of aws-lc — through its ECDH
//! "public key from private key" call, which is exactly scalar × generator, constant-time.
//!
//! Measured (`make bench`, x86-64): a token took 229 µs with `SigningKey`, 49 µs here. That needs
//! aws-lc's full build (`.cargo/config.toml`): its size-optimised variant, which our
//! `opt-level = "z"` would otherwise select, has no P-256 tables (k×G ~125 µs, a token ~160 µs).

use aws_lc_rs::agreement::{ECDH_P256, PrivateKey};
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::ops::{Invert, Reduce};
use p256::elliptic_curve::{Curve, FieldBytesEncoding, PrimeField};
use p256::{FieldBytes, NistP256, NonZeroScalar, PublicKey, Scalar, SecretKey, U256};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("ES256: the P-256 base-point multiplication failed")]
pub struct Es256Error;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("not a P-256 private key in PKCS#8 PEM")]
pub struct InvalidKey;

pub struct Es256Key {
    d: NonZeroScalar,
    public: VerifyingKey,
}

impl Es256Key {
    /// Reads a PKCS#8 PEM P-256 key (`-----BEGIN PRIVATE KEY-----`). `p256`'s own reader checks
    /// the embedded public key by recomputing it with its slow multiplication, ~0.25 ms of a
    /// cold start; here it is recomputed with the fast one and compared.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, InvalidKey> {
        use p256::pkcs8::{AssociatedOid, ObjectIdentifier, PrivateKeyInfo, der::Decode};
        const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
        let (label, der) =
            p256::pkcs8::der::pem::decode_vec(pem.trim().as_bytes()).map_err(|_| InvalidKey)?;
        if label != "PRIVATE KEY" {
            return Err(InvalidKey);
        }
        let info = PrivateKeyInfo::from_der(&der).map_err(|_| InvalidKey)?;
        info.algorithm
            .assert_oids(EC_PUBLIC_KEY, NistP256::OID)
            .map_err(|_| InvalidKey)?;
        let ec = sec1::EcPrivateKey::from_der(info.private_key).map_err(|_| InvalidKey)?;
        let secret = SecretKey::from_slice(ec.private_key).map_err(|_| InvalidKey)?;
        let key = Es256Key::new(&secret).map_err(|_| InvalidKey)?;
        match ec.public_key {
            Some(embedded) if embedded != key.public.to_encoded_point(embedded.len() == 33).as_bytes() => {
                Err(InvalidKey)
            }
            _ => Ok(key),
        }
    }

    /// Derives the public key with the same fast multiplication (a cold-start step).
    pub fn new(secret: &SecretKey) -> Result<Self, Es256Error> {
        let d = secret.to_nonzero_scalar();
        let point = base_point_times(&d.to_repr())?;
        let public = PublicKey::from_sec1_bytes(&point).map_err(|_| Es256Error)?;
        Ok(Es256Key {
            d,
            public: VerifyingKey::from(public),
        })
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// ECDSA over SHA-256(`message`), nonce per RFC 6979 §3.2 (no extra data), as SEC 1 and
    /// `ecdsa::hazmat::sign_prehashed` define it: r = x(k×G) mod n, s = k⁻¹(z + r·d) mod n.
    pub fn sign(&self, message: &[u8]) -> Result<Signature, Es256Error> {
        // A SHA-256 digest is exactly the field size, so bits2field is the digest itself.
        let z: FieldBytes = Sha256::digest(message);
        let order: FieldBytes = NistP256::ORDER.encode_field_bytes();
        let k_bytes = rfc6979::generate_k::<Sha256, _>(&self.d.to_repr(), &order, &z, &[]);
        // generate_k only returns values in [1, n-1], so this always succeeds.
        let k = Option::<NonZeroScalar>::from(NonZeroScalar::from_repr(k_bytes)).ok_or(Es256Error)?;
        let point = base_point_times(&k_bytes)?;
        let mut x = FieldBytes::default();
        x.copy_from_slice(&point[1..33]);
        let r = <Scalar as Reduce<U256>>::reduce_bytes(&x);
        let z = <Scalar as Reduce<U256>>::reduce_bytes(&z);
        let s = *Invert::invert(&k) * (z + r * *self.d);
        Signature::from_scalars(r, s).map_err(|_| Es256Error)
    }
}

/// scalar × G as an uncompressed SEC 1 point (0x04 ‖ x ‖ y); `scalar` is in [1, n-1].
fn base_point_times(scalar: &FieldBytes) -> Result<[u8; 65], Es256Error> {
    let key = PrivateKey::from_private_key(&ECDH_P256, scalar).map_err(|_| Es256Error)?;
    let point = key.compute_public_key().map_err(|_| Es256Error)?;
    point.as_ref().try_into().map_err(|_| Es256Error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::{Signer, Verifier};
    use proptest::prelude::*;

    #[test]
    fn pkcs8_keys_read_as_p256_reads_them_and_a_mismatched_public_key_is_refused() {
        use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
        for seed in [[7u8; 32], [200u8; 32]] {
            let secret = SecretKey::from_slice(&seed).unwrap();
            let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
            let key = Es256Key::from_pkcs8_pem(&pem).unwrap();
            let reference = SecretKey::from_pkcs8_pem(&pem).unwrap();
            assert_eq!(*key.verifying_key(), VerifyingKey::from(reference.public_key()));
            assert_eq!(key.sign(b"m").unwrap(), SigningKey::from(&reference).sign(b"m"));
        }
        // The first key's private half with the second key's public half: refused, as p256 does.
        let pem = |seed: [u8; 32]| SecretKey::from_slice(&seed).unwrap().to_pkcs8_der().unwrap();
        let (first, second) = (pem([7u8; 32]), pem([200u8; 32]));
        let (a, b) = (first.as_bytes(), second.as_bytes());
        // Both documents have the same layout; the public key is their last 65 bytes.
        let mut mixed = a.to_vec();
        let n = mixed.len();
        mixed[n - 65..].copy_from_slice(&b[b.len() - 65..]);
        let mixed_pem = p256::pkcs8::der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &mixed).unwrap();
        assert!(SecretKey::from_pkcs8_pem(&mixed_pem).is_err());
        assert_eq!(Es256Key::from_pkcs8_pem(&mixed_pem).err(), Some(InvalidKey));
        for garbage in [
            "",
            "not a key",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        ] {
            assert_eq!(Es256Key::from_pkcs8_pem(garbage).err(), Some(InvalidKey));
        }
    }

    #[test]
    fn the_public_key_is_the_one_rustcrypto_derives() {
        let secret = SecretKey::from_slice(&[7u8; 32]).unwrap();
        let key = Es256Key::new(&secret).unwrap();
        assert_eq!(key.verifying_key(), SigningKey::from(&secret).verifying_key());
    }

    #[test]
    fn rfc_6979_test_vector_a_2_5_sha_256_sample() {
        // RFC 6979 appendix A.2.5: P-256, SHA-256, message "sample".
        let d = hex::decode("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721").unwrap();
        let key = Es256Key::new(&SecretKey::from_slice(&d).unwrap()).unwrap();
        let signature = key.sign(b"sample").unwrap();
        assert_eq!(
            hex::encode_upper(signature.to_bytes()),
            "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716\
             F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Byte for byte what RustCrypto's deterministic signer gives, and it verifies.
        #[test]
        fn signs_exactly_as_rustcrypto_does(
            seed in proptest::array::uniform32(any::<u8>()),
            message in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            // Not every 32 bytes is a valid scalar (0, or ≥ n): those seeds are skipped.
            let Ok(secret) = SecretKey::from_slice(&seed) else { return Ok(()) };
            let ours = Es256Key::new(&secret).unwrap().sign(&message).unwrap();
            let reference: Signature = SigningKey::from(&secret).sign(&message);
            prop_assert_eq!(ours, reference);
            prop_assert!(SigningKey::from(&secret).verifying_key().verify(&message, &ours).is_ok());
        }
    }
}
