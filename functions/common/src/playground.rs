//! Playground session tokens: ES256 JWTs we sign, verifiable by anyone holding our JWKS.
//!
//! The signing key is a P-256 key in PKCS#8 PEM, signed with by aws-lc (randomised nonces). Its
//! `kid` is the RFC 7638 thumbprint of the public key, so rotating the key changes the `kid` and
//! verifiers can hold old and new keys.

use crate::api_key::KeyMode;
use crate::config::{PlaygroundConfig, SigningKeySource};
use crate::ids::{AccountId, SessionId};
use crate::jwk::EcPublicJwk;
pub use crate::local_key::{SigningKeyError, generate_pem, load_or_create_local_key};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use zeroize::Zeroizing;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SessionClaims {
    pub iss: String,
    pub aud: String,
    /// Account id.
    pub sub: String,
    /// Session id.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// `live` or `test`: a test key's session spent no credit, and the playground may mark or
    /// limit it (that is the playground's decision; this API only says which it is).
    pub mode: KeyMode,
}

pub struct IssuedSession {
    pub token: String,
    pub expires_in: u64,
}

/// Why a session token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("session claims: {0}")]
    Claims(#[from] serde_json::Error),
    #[error("ES256 signing failed")]
    Signing,
}

pub struct PlaygroundSigner {
    /// aws-lc's ECDSA key: it signs with its own randomised nonces, and wipes the private
    /// scalar when freed. The PEM it came from is not kept.
    key: EcdsaKeyPair,
    /// The JWS header, base64url-encoded once: `{"typ":"JWT","alg":"ES256","kid":…}`.
    header: String,
    /// The public key, as the JWKS publishes it.
    jwk: EcPublicJwk,
    issuer: String,
    audience: String,
    base_url: String,
    ttl_secs: u64,
}

impl PlaygroundSigner {
    pub fn from_config(
        source: &SigningKeySource,
        config: &PlaygroundConfig,
    ) -> Result<Self, SigningKeyError> {
        match source {
            SigningKeySource::Pem(pem) => Self::from_pem(pem.expose(), config),
            SigningKeySource::LocalFile(path) => Self::from_pem(&load_or_create_local_key(path)?, config),
        }
    }

    /// From a P-256 private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`); the decoded
    /// document is wiped once aws-lc has parsed (and checked) it.
    pub fn from_pem(pem: &str, config: &PlaygroundConfig) -> Result<Self, SigningKeyError> {
        use p256::pkcs8::der::pem;
        let (label, der) = pem::decode_vec(pem.trim().as_bytes()).map_err(|_| SigningKeyError::Invalid)?;
        let der = Zeroizing::new(der);
        if label != "PRIVATE KEY" {
            return Err(SigningKeyError::Invalid);
        }
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map_err(|_| SigningKeyError::Invalid)?;
        let jwk =
            EcPublicJwk::from_sec1_uncompressed(key.public_key().as_ref()).ok_or(SigningKeyError::Invalid)?;
        let header = URL_SAFE_NO_PAD.encode(
            json!({"typ": "JWT", "alg": "ES256", "kid": jwk.kid})
                .to_string()
                .as_bytes(),
        );
        Ok(PlaygroundSigner {
            key,
            header,
            jwk,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            base_url: config.base_url.clone(),
            ttl_secs: config.token_ttl_secs,
        })
    }

    pub fn kid(&self) -> &str {
        &self.jwk.kid
    }

    pub fn public_jwk(&self) -> &EcPublicJwk {
        &self.jwk
    }

    /// A new token for `session`, valid for the configured lifetime from `now`.
    pub fn issue(
        &self,
        account: &AccountId,
        session: &SessionId,
        mode: KeyMode,
        now: OffsetDateTime,
    ) -> Result<IssuedSession, IssueError> {
        let iat = now.unix_timestamp();
        let claims = SessionClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: account.as_str().to_string(),
            sid: session.as_str().to_string(),
            iat,
            exp: iat + self.ttl_secs as i64,
            jti: crate::ids::new_ulid().to_string(),
            mode,
        };
        // JWS compact serialization (RFC 7515): header.claims.signature, each base64url; the
        // ES256 signature is r ‖ s, 64 bytes (RFC 7518 §3.4).
        let signing_input = format!(
            "{}.{}",
            self.header,
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?)
        );
        let signature = self
            .key
            .sign(&aws_lc_rs::rand::SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| IssueError::Signing)?;
        Ok(IssuedSession {
            token: format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref())),
            expires_in: self.ttl_secs,
        })
    }

    /// Where the playground opens `token`.
    /// Where the session opens; a test session's URL says so (`&mode=test`) as its token does.
    pub fn playground_url(&self, token: &str, mode: KeyMode) -> String {
        match mode {
            KeyMode::Live => format!("{}/playground?token={token}", self.base_url),
            KeyMode::Test => format!("{}/playground?token={token}&mode=test", self.base_url),
        }
    }

    /// The public key set (RFC 7517) that verifies every token this signer issues.
    pub fn jwks(&self) -> Value {
        crate::jwk::key_set([&self.jwk])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    fn config() -> PlaygroundConfig {
        PlaygroundConfig {
            signing_key: None,
            replay_sealing_key: None,
            base_url: "https://play.test".into(),
            issuer: "iss.test".into(),
            audience: "aud.test".into(),
            token_ttl_secs: 3600,
            public_keys: None,
        }
    }

    #[test]
    fn tokens_verify_with_the_published_jwks_and_carry_the_claims() {
        let signer = PlaygroundSigner::from_pem(&generate_pem(), &config()).unwrap();
        let account = AccountId::parse("acct_1").unwrap();
        let session = SessionId::generate();
        let issued = signer
            .issue(&account, &session, KeyMode::Live, OffsetDateTime::now_utc())
            .unwrap();
        assert_eq!(
            signer.playground_url(&issued.token, KeyMode::Live),
            format!("https://play.test/playground?token={}", issued.token)
        );
        assert_eq!(
            signer.playground_url(&issued.token, KeyMode::Test),
            format!("https://play.test/playground?token={}&mode=test", issued.token)
        );

        let jwk = &signer.jwks()["keys"][0];
        let header = jsonwebtoken::decode_header(&issued.token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), jwk["kid"].as_str());
        let key =
            DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap()).unwrap();
        let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&["aud.test"]);
        validation.set_issuer(&["iss.test"]);
        let claims = jsonwebtoken::decode::<SessionClaims>(&issued.token, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims.sub, "acct_1");
        assert_eq!(claims.sid, session.as_str());
        assert_eq!(claims.exp - claims.iat, 3600);
        assert_eq!(claims.mode, KeyMode::Live);
        let test = signer
            .issue(&account, &session, KeyMode::Test, OffsetDateTime::now_utc())
            .unwrap();
        let test_claims = jsonwebtoken::decode::<SessionClaims>(&test.token, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(test_claims.mode, KeyMode::Test);

        let other = PlaygroundSigner::from_pem(&generate_pem(), &config()).unwrap();
        let jwk = &other.jwks()["keys"][0];
        let wrong =
            DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap()).unwrap();
        assert!(jsonwebtoken::decode::<SessionClaims>(&issued.token, &wrong, &validation).is_err());
    }

    #[test]
    fn local_key_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/key.pem");
        let first = load_or_create_local_key(&path).unwrap();
        let second = load_or_create_local_key(&path).unwrap();
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn garbage_pem_is_rejected() {
        assert!(
            PlaygroundSigner::from_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                &config()
            )
            .is_err()
        );
    }

    #[test]
    fn each_token_is_a_fresh_signature_even_over_the_same_claims() {
        // aws-lc's nonces are random: the same key and input never sign to the same bytes, so
        // no two signatures share a nonce however often a caller asks.
        let signer = PlaygroundSigner::from_pem(&generate_pem(), &config()).unwrap();
        let input = b"header.claims";
        let signatures: std::collections::HashSet<Vec<u8>> = (0..20)
            .map(|_| {
                let sig = signer
                    .key
                    .sign(&aws_lc_rs::rand::SystemRandom::new(), input)
                    .unwrap();
                sig.as_ref().to_vec()
            })
            .collect();
        assert_eq!(signatures.len(), 20);
        assert!(signatures.iter().all(|s| s.len() == 64), "r ‖ s, fixed width");
    }

    #[test]
    fn a_pem_with_a_public_key_that_is_not_its_own_is_refused() {
        use p256::pkcs8::{EncodePrivateKey, LineEnding};
        let der = |seed: [u8; 32]| {
            p256::SecretKey::from_slice(&seed)
                .unwrap()
                .to_pkcs8_der()
                .unwrap()
        };
        let (first, second) = (der([7u8; 32]), der([200u8; 32]));
        // Both documents have the same layout; the public key is their last 65 bytes.
        let mut mixed = first.as_bytes().to_vec();
        let n = mixed.len();
        mixed[n - 65..].copy_from_slice(&second.as_bytes()[second.as_bytes().len() - 65..]);
        let mixed = p256::pkcs8::der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &mixed).unwrap();
        assert!(PlaygroundSigner::from_pem(&mixed, &config()).is_err());
        let good = p256::SecretKey::from_slice(&[7u8; 32])
            .unwrap()
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap();
        assert!(PlaygroundSigner::from_pem(&good, &config()).is_ok());
        let public = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(PlaygroundSigner::from_pem(public, &config()).is_err());
    }

    #[test]
    fn the_kid_is_the_one_published_and_the_one_in_every_token() {
        let signer = PlaygroundSigner::from_pem(&generate_pem(), &config()).unwrap();
        assert_eq!(signer.kid().len(), 43, "a base64url SHA-256 thumbprint");
        assert_eq!(signer.jwks()["keys"][0]["kid"], signer.kid());
        let issued = signer
            .issue(
                &AccountId::parse("acct_1").unwrap(),
                &SessionId::generate(),
                KeyMode::Live,
                OffsetDateTime::now_utc(),
            )
            .unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&issued.token).unwrap().kid.as_deref(),
            Some(signer.kid())
        );
    }

    #[test]
    fn processes_starting_together_all_get_the_one_local_key() {
        // Every racer misses the file, writes its own, and all but one lose the link race.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("signing-key.pem");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
        let racers: Vec<_> = (0..16)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    load_or_create_local_key(&path)
                })
            })
            .collect();
        let pems: Vec<Zeroizing<String>> = racers
            .into_iter()
            .map(|r| r.join().unwrap().expect("every racer gets the key"))
            .collect();
        assert!(pems.iter().all(|p| p == &pems[0]));
        assert_eq!(load_or_create_local_key(&path).unwrap(), pems[0]);
    }
}
