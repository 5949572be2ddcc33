//! Signing console tokens the way the console's sign-in does: ES256 with a `kid`.
//!
//! Production tokens come from the identity provider; this signer is for local runs (`vpctl
//! token`, `vpctl console`) and tests. Its key is a P-256 key generated once under the data
//! directory, and the local stack trusts exactly that key's set, so a token signed by any other
//! key is refused there too.

use crate::config::ConsoleAuthConfig;
use crate::ids::AccountId;
use crate::jwk::EcPublicJwk;
use crate::local_key::{SigningKeyError, load_or_create_local_key};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::SecretKey;
use p256::ecdsa::SigningKey;
use p256::pkcs8::DecodePrivateKey;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct ConsoleClaims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

pub struct ConsoleSigner {
    key: EncodingKey,
    jwk: EcPublicJwk,
    issuer: String,
    audience: String,
}

impl ConsoleSigner {
    pub fn from_pem(pem: &str, config: &ConsoleAuthConfig) -> Result<Self, SigningKeyError> {
        let jwk = public_jwk(pem)?;
        Ok(ConsoleSigner {
            key: EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|_| SigningKeyError::Invalid)?,
            jwk,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        })
    }

    /// The local key at `path`, created on first use.
    pub fn local(path: &Path, config: &ConsoleAuthConfig) -> Result<Self, SigningKeyError> {
        Self::from_pem(&load_or_create_local_key(path)?, config)
    }

    /// The key set that trusts the local key at `path` (created on first use), as JSON.
    pub fn local_key_set(path: &Path) -> Result<Vec<u8>, SigningKeyError> {
        let jwk = public_jwk(&load_or_create_local_key(path)?)?;
        Ok(crate::jwk::key_set([&jwk]).to_string().into_bytes())
    }

    pub fn kid(&self) -> &str {
        &self.jwk.kid
    }

    /// A token for `account`, valid for `ttl_secs` from now (negative: already expired).
    pub fn mint(&self, account: &AccountId, ttl_secs: i64) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.sign(&ConsoleClaims {
            sub: account.as_str().to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + ttl_secs,
        })
    }

    /// Any claims, signed with this key and its `kid` (tests build odd tokens with it).
    pub fn sign(&self, claims: &impl Serialize) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.jwk.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .expect("ES256 signing with a parsed P-256 key cannot fail")
    }
}

fn public_jwk(pem: &str) -> Result<EcPublicJwk, SigningKeyError> {
    let secret = SecretKey::from_pkcs8_pem(pem).map_err(|_| SigningKeyError::Invalid)?;
    Ok(EcPublicJwk::of(SigningKey::from(&secret).verifying_key()))
}
