//! The identity provider's public key set, cached per instance.
//!
//! Keys are looked up by `kid`. An unknown `kid` refreshes the set — that is how a provider's
//! key rotation reaches us without a deploy — but at most once per [`MIN_REFRESH_INTERVAL`], so
//! a flood of tokens with made-up `kid`s costs the provider one request per interval, not one
//! each. A refresh that fails keeps the keys already held; only an instance that has never held
//! any answers "unavailable" (503) rather than "invalid" (401).

use super::{ALGORITHMS, ConsoleAuthError, fetch};
use crate::config::ConsoleKeySource;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Fewest seconds between two fetches of a remote key set.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// One key of the set, bound to the one algorithm it verifies.
pub struct TrustedKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

type Keys = HashMap<String, Arc<TrustedKey>>;

pub struct KeyCache {
    source: ConsoleKeySource,
    keys: RwLock<Arc<Keys>>,
    /// When an unknown `kid` last caused a refresh; the lock also makes concurrent misses
    /// share one fetch.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
    fetcher: std::sync::OnceLock<fetch::Fetcher>,
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("cannot fetch the console key set: {0}")]
    Fetch(String),
    #[error("cannot read the local console signing key: {0}")]
    Local(String),
    #[error("the console key set is not a JWK set with usable ES256/RS256 keys: {0}")]
    Unusable(String),
}

impl KeyCache {
    pub fn new(source: ConsoleKeySource) -> Self {
        KeyCache {
            source,
            keys: RwLock::new(Arc::default()),
            last_refresh: tokio::sync::Mutex::new(None),
            fetcher: std::sync::OnceLock::new(),
        }
    }

    fn cached(&self) -> Arc<Keys> {
        self.keys
            .read()
            .expect("the key map is never left half-written")
            .clone()
    }

    /// The key named `kid`, refreshing the set once if it is not held.
    pub async fn get(&self, kid: &str) -> Result<Arc<TrustedKey>, ConsoleAuthError> {
        if let Some(key) = self.cached().get(kid) {
            return Ok(key.clone());
        }
        self.refresh_if_due().await;
        let keys = self.cached();
        match keys.get(kid) {
            Some(key) => Ok(key.clone()),
            None if keys.is_empty() => Err(ConsoleAuthError::KeysUnavailable),
            None => Err(ConsoleAuthError::Invalid),
        }
    }

    async fn refresh_if_due(&self) {
        let mut last = self.last_refresh.lock().await;
        let interval = match self.source {
            ConsoleKeySource::Url(_) => MIN_REFRESH_INTERVAL,
            // Reading a local file costs nothing worth limiting.
            ConsoleKeySource::LocalKey(_) => Duration::ZERO,
        };
        if last.is_some_and(|at| at.elapsed() < interval) {
            return;
        }
        *last = Some(Instant::now());
        if let Err(e) = self.load().await {
            tracing::warn!(error = %e, "console key set refresh failed; keeping the keys held");
        }
    }

    /// Fetches the set now and replaces the held keys with it (cold start). Not counted
    /// against the interval, which limits refreshes that unknown `kid`s cause.
    pub async fn refresh(&self) -> Result<(), RefreshError> {
        let _one_at_a_time = self.last_refresh.lock().await;
        self.load().await
    }

    async fn load(&self) -> Result<(), RefreshError> {
        let document = match &self.source {
            ConsoleKeySource::Url(url) => {
                let fetcher = self.fetcher.get_or_init(fetch::Fetcher::new);
                fetcher.get(url).await.map_err(RefreshError::Fetch)?
            }
            #[cfg(feature = "embedded")]
            ConsoleKeySource::LocalKey(path) => super::signer::ConsoleSigner::local_key_set(path)
                .map_err(|e| RefreshError::Local(e.to_string()))?,
            // Lambda builds leave local runs out (AWS configuration never names a local key),
            // and with them the local signer's key parsing and generation.
            #[cfg(not(feature = "embedded"))]
            ConsoleKeySource::LocalKey(_) => {
                return Err(RefreshError::Local(
                    "a local console key needs a local build (the `embedded` feature)".into(),
                ));
            }
        };
        let keys = parse_key_set(&document)?;
        let count = keys.len();
        *self.keys.write().expect("the key map is never left half-written") = Arc::new(keys);
        tracing::info!(keys = count, "console key set loaded");
        Ok(())
    }
}

/// The usable keys of a JWK set document. Keys we cannot use (another type or curve, no `kid`,
/// an encryption key, an algorithm other than ES256/RS256) are skipped, not fatal: providers
/// publish such keys beside the ones that sign their tokens.
pub fn parse_key_set(document: &[u8]) -> Result<Keys, RefreshError> {
    #[derive(serde::Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document =
        serde_json::from_slice(document).map_err(|e| RefreshError::Unusable(e.to_string()))?;
    let keys: Keys = document
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| Some((jwk.common.key_id.clone()?, Arc::new(trusted(&jwk)?))))
        .collect();
    if keys.is_empty() {
        return Err(RefreshError::Unusable("no usable key".into()));
    }
    Ok(keys)
}

fn trusted(jwk: &Jwk) -> Option<TrustedKey> {
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        _ => return None,
    };
    let declared = match jwk.common.key_algorithm {
        None => algorithm,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(_) => return None,
    };
    if declared != algorithm || !ALGORITHMS.contains(&algorithm) {
        return None;
    }
    Some(TrustedKey {
        key: DecodingKey::from_jwk(jwk).ok()?,
        algorithm,
    })
}
