//! `GET /.well-known/jwks.json`: the public keys that verify playground session tokens.
//!
//! Public and cacheable. During a signing-key rotation it publishes both keys, so tokens
//! signed before the switch keep verifying until they expire (docs/operating.md, "Rotating the playground
//! signing key"). The document is built once per cold start; the function holds no private key.

use crate::config::{Config, ConfigError, SigningKeySource, vars};
use crate::jwk::EcPublicJwk;
use crate::local_key::load_or_create_local_key;
use crate::runtime::{self, Outcome};
use crate::startup::{Startup, StartupError};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};

/// Verifiers may keep the set this long; a rotation publishes the new key at least this long
/// before signing with it (docs/operating.md).
pub const MAX_AGE_SECS: u32 = 300;

pub struct PublishedKeys {
    document: String,
    pub kids: Vec<String>,
}

impl PublishedKeys {
    /// `VP_PLAYGROUND_PUBLIC_KEYS` (PEM public keys, current and previous); locally, when it is
    /// unset, the local signing key's public half.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let keys = match (&config.playground.public_keys, &config.playground.signing_key) {
            (Some(pems), _) => parse_public_keys(pems)?,
            (None, Some(SigningKeySource::LocalFile(path))) => {
                let pem = load_or_create_local_key(path).map_err(|e| ConfigError(e.to_string()))?;
                let secret = p256::SecretKey::from_pkcs8_pem(&pem)
                    .map_err(|_| ConfigError(format!("{} is not a P-256 key", path.display())))?;
                vec![EcPublicJwk::of(&secret.public_key().into())]
            }
            (None, _) => {
                return Err(ConfigError(format!(
                    "{} (PEM public keys of the playground signing keys) is required when running in AWS",
                    vars::PUBLIC_KEYS
                )));
            }
        };
        Ok(PublishedKeys {
            document: crate::jwk::key_set(&keys).to_string(),
            kids: keys.into_iter().map(|k| k.kid).collect(),
        })
    }
}

/// Every `PUBLIC KEY` block of a PEM bundle, as P-256 JWKs; at least one, no duplicates.
pub fn parse_public_keys(pems: &str) -> Result<Vec<EcPublicJwk>, ConfigError> {
    const END: &str = "-----END PUBLIC KEY-----";
    let invalid = || ConfigError(format!("{} must hold P-256 PEM public keys", vars::PUBLIC_KEYS));
    let mut keys: Vec<EcPublicJwk> = Vec::new();
    for block in pems.split_inclusive(END).filter(|b| !b.trim().is_empty()) {
        let key = p256::PublicKey::from_public_key_pem(block.trim()).map_err(|_| invalid())?;
        let jwk = EcPublicJwk::of(&key.into());
        if !keys.contains(&jwk) {
            keys.push(jwk);
        }
    }
    if keys.is_empty() {
        return Err(invalid());
    }
    Ok(keys)
}

/// The jwks function's state: the document it publishes.
pub use PublishedKeys as State;

impl runtime::State for PublishedKeys {
    /// The public keys come from an SSM parameter in AWS.
    async fn startup() -> Result<Startup, StartupError> {
        Startup::from_process_env::<true>().await
    }

    fn build(startup: Startup) -> Result<Self, StartupError> {
        Ok(PublishedKeys::from_config(&startup.config)?)
    }
}

pub async fn handle(keys: &PublishedKeys, _: Request) -> Outcome {
    let mut response = Response::new(Body::Text(keys.document.clone()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&format!("public, max-age={MAX_AGE_SECS}")).expect("ASCII"),
    );
    Ok(response)
}
