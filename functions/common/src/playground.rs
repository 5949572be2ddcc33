//! Playground session tokens: ES256 JWTs we sign, verifiable by anyone holding our JWKS.
//!
//! The signing key is a P-256 key in PKCS#8 PEM. Its `kid` is the RFC 7638 thumbprint of the
//! public key, so rotating the key changes the `kid` and verifiers can hold old and new keys.

use crate::config::{PlaygroundConfig, SigningKeySource};
use crate::es256::{Es256Error, Es256Key};
use crate::ids::{AccountId, SessionId};
use crate::jwk::EcPublicJwk;
pub use crate::local_key::{SigningKeyError, generate_pem, load_or_create_local_key};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

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
}

pub struct IssuedSession {
    pub token: String,
    pub playground_url: String,
    pub expires_in: u64,
    /// The token's claims as JSON: what an idempotency record keeps instead of the token.
    pub claims: String,
}

/// Why a session token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("session claims: {0}")]
    Claims(#[from] serde_json::Error),
    #[error(transparent)]
    Signing(#[from] Es256Error),
}

pub struct PlaygroundSigner {
    /// Held parsed (parsing derives the public key, a scalar multiplication), and signing with
    /// aws-lc's base-point tables: see `es256`.
    key: Es256Key,
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
        let pem = match source {
            SigningKeySource::Pem(pem) => pem.expose().to_string(),
            SigningKeySource::LocalFile(path) => load_or_create_local_key(path)?,
        };
        Self::from_pem(&pem, config)
    }

    pub fn from_pem(pem: &str, config: &PlaygroundConfig) -> Result<Self, SigningKeyError> {
        let key = Es256Key::from_pkcs8_pem(pem).map_err(|_| SigningKeyError::Invalid)?;
        let jwk = EcPublicJwk::of(key.verifying_key());
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

    pub fn issue(
        &self,
        account: &AccountId,
        session: &SessionId,
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
        };
        self.sign(&claims, self.ttl_secs)
    }

    /// Signs recorded claims again, for an idempotent replay. ES256 signing here is
    /// deterministic (RFC 6979 nonces), so the same claims and key give the same token bytes.
    pub fn reissue(&self, claims_json: &str, expires_in: u64) -> Result<IssuedSession, IssueError> {
        let claims: SessionClaims = serde_json::from_str(claims_json)?;
        self.sign(&claims, expires_in)
    }

    fn sign(&self, claims: &SessionClaims, expires_in: u64) -> Result<IssuedSession, IssueError> {
        // JWS compact serialization (RFC 7515): header.claims.signature, each base64url; the
        // ES256 signature is r || s, 64 bytes (RFC 7518 §3.4), with RFC 6979 nonces.
        // Serialised once: the token carries these bytes and an idempotency record keeps them.
        let claims_json = serde_json::to_string(claims)?;
        let signing_input = format!("{}.{}", self.header, URL_SAFE_NO_PAD.encode(&claims_json));
        let signature = self.key.sign(signing_input.as_bytes())?;
        let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        Ok(IssuedSession {
            playground_url: format!("{}/playground?token={token}", self.base_url),
            token,
            expires_in,
            claims: claims_json,
        })
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
            .issue(&account, &session, OffsetDateTime::now_utc())
            .unwrap();
        assert_eq!(
            issued.playground_url,
            format!("https://play.test/playground?token={}", issued.token)
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
    fn recorded_claims_re_sign_to_the_same_token_bytes() {
        let signer = PlaygroundSigner::from_pem(&generate_pem(), &config()).unwrap();
        let account = AccountId::parse("acct_1").unwrap();
        let first = signer
            .issue(&account, &SessionId::generate(), OffsetDateTime::now_utc())
            .unwrap();
        let signature = first.token.rsplit('.').next().unwrap();
        assert!(
            !first.claims.contains(signature),
            "the claims carry no signature: they are not a token"
        );
        let again = signer.reissue(&first.claims, first.expires_in).unwrap();
        assert_eq!(
            (again.token, again.playground_url),
            (first.token, first.playground_url)
        );
        assert!(signer.reissue("not json", 60).is_err());
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
        let pems: Vec<String> = racers
            .into_iter()
            .map(|r| r.join().unwrap().expect("every racer gets the key"))
            .collect();
        assert!(pems.iter().all(|p| p == &pems[0]));
        assert_eq!(load_or_create_local_key(&path).unwrap(), pems[0]);
    }
}
