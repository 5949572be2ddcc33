//! Console tokens: the JWTs the Cloud Console's sign-in issues, verified on every console call.
//!
//! They come from an identity provider, so they are verified as its tokens are meant to be:
//! an asymmetric signature (ES256 or RS256; anything else, `HS*` and `none` included, is
//! refused before a key is looked at) checked with the key its header's `kid` names in the
//! provider's public key set ([`keys`]). `exp`, `iss`, `aud` and `sub` are required; `nbf` is
//! honoured when present; `aud` may be a string or an array (RFC 7519 §4.1.3); `sub` is the
//! account id. Locally, `vpctl` signs them with a local key ([`signer`]) whose set the stack
//! trusts.

use crate::config::ConsoleAuthConfig;
use crate::ids::AccountId;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

pub mod keys;
pub mod signer;

pub use keys::KeyCache;
pub use signer::ConsoleSigner;

/// Why a console token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConsoleAuthError {
    /// 401: malformed, unsigned, signed by an unknown key, expired, or for someone else.
    #[error("invalid console token")]
    Invalid,
    /// 503: the provider's key set could not be read and no cached key could decide.
    #[error("the console's key set is unavailable")]
    KeysUnavailable,
}

pub struct ConsoleVerifier {
    keys: KeyCache,
    /// Issuer, audience, required claims and leeway; the algorithm is set per key.
    validation: Validation,
}

/// The algorithms an identity provider signs with that we accept. Each key is bound to one.
pub const ALGORITHMS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::RS256];

impl ConsoleVerifier {
    pub fn new(config: &ConsoleAuthConfig) -> Self {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        ConsoleVerifier {
            keys: KeyCache::new(config.keys.clone()),
            validation,
        }
    }

    /// Loads the key set ahead of the first request (cold start); a failure is only logged,
    /// the first request tries again.
    pub async fn prefetch(&self) {
        if let Err(e) = self.keys.refresh().await {
            tracing::warn!(error = %e, "console key set not loaded at cold start");
        }
    }

    pub async fn verify(&self, token: &str) -> Result<AccountId, ConsoleAuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| ConsoleAuthError::Invalid)?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(ConsoleAuthError::Invalid);
        }
        let kid = header.kid.ok_or(ConsoleAuthError::Invalid)?;
        let key = self.keys.get(&kid).await?;
        // The key's own algorithm, not the header's choice: a key verifies one algorithm only.
        if key.algorithm != header.alg {
            return Err(ConsoleAuthError::Invalid);
        }
        let mut validation = self.validation.clone();
        validation.algorithms = vec![key.algorithm];
        // Only `sub` is read here; exp/iss/aud/nbf are checked by `validation` on the raw claims.
        #[derive(Deserialize)]
        struct Subject {
            sub: String,
        }
        let data = jsonwebtoken::decode::<Subject>(token, &key.key, &validation)
            .map_err(|_| ConsoleAuthError::Invalid)?;
        AccountId::parse(&data.claims.sub).ok_or(ConsoleAuthError::Invalid)
    }
}

#[cfg(test)]
mod tests;
