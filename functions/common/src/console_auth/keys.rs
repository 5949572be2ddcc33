//! The identity provider's public key set, cached per instance.
//!
//! Keys are looked up by `kid`. An unknown `kid` refreshes the set — that is how a provider's
//! key rotation reaches us without a deploy — but at most once per [`MIN_REFRESH_INTERVAL`], so
//! a flood of tokens with made-up `kid`s costs the provider one request per interval, not one
//! each. Held keys are also fetched again once the provider's answer says they are stale
//! (`Cache-Control: max-age`, [`DEFAULT_MAX_AGE`] when it says nothing), so a key the provider
//! withdraws stops verifying on warm instances too. A refresh that fails keeps the keys already
//! held (tried again after [`MIN_REFRESH_INTERVAL`]); only an instance that has never held any
//! answers "unavailable" (503) rather than "invalid" (401).

use super::{ALGORITHMS, ConsoleAuthError};
use crate::config::ConsoleKeySource;
use crate::fetch;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Fewest seconds between two fetches of a remote key set.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// How long a key set is held when its answer gives no `max-age` (a local key file, too).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);

/// Longest a key set is held, whatever its answer says: a withdrawn key is dropped within a day.
pub const LONGEST_MAX_AGE: Duration = Duration::from_secs(86_400);

/// One key of the set, bound to the one algorithm it verifies.
pub struct TrustedKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

type Keys = HashMap<String, Arc<TrustedKey>>;

/// The keys held, and until when they may be used without asking the provider again.
#[derive(Default)]
struct Held {
    keys: Keys,
    fresh_until: Option<Instant>,
}

impl Held {
    fn stale(&self) -> bool {
        self.fresh_until.is_some_and(|until| Instant::now() >= until)
    }
}

pub struct KeyCache {
    source: ConsoleKeySource,
    held: RwLock<Arc<Held>>,
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
            held: RwLock::new(Arc::default()),
            last_refresh: tokio::sync::Mutex::new(None),
            fetcher: std::sync::OnceLock::new(),
        }
    }

    fn cached(&self) -> Arc<Held> {
        self.held
            .read()
            .expect("the key map is never left half-written")
            .clone()
    }

    /// The key named `kid`: from the held set while it is fresh; else after one refresh (a
    /// stale set, or a `kid` it does not hold).
    pub async fn get(&self, kid: &str) -> Result<Arc<TrustedKey>, ConsoleAuthError> {
        let held = self.cached();
        if held.stale() {
            self.refresh_stale().await;
        } else if let Some(key) = held.keys.get(kid) {
            return Ok(key.clone());
        }
        if !self.cached().keys.contains_key(kid) {
            self.refresh_if_due().await;
        }
        let held = self.cached();
        match held.keys.get(kid) {
            Some(key) => Ok(key.clone()),
            None if held.keys.is_empty() => Err(ConsoleAuthError::KeysUnavailable),
            None => Err(ConsoleAuthError::Invalid),
        }
    }

    /// Fetches a stale set again (once, however many requests find it stale). On failure the
    /// held keys stay in use and the next try is [`MIN_REFRESH_INTERVAL`] away: an identity
    /// provider that is down does not take the console down with it.
    async fn refresh_stale(&self) {
        let mut last = self.last_refresh.lock().await;
        if !self.cached().stale() {
            return;
        }
        *last = Some(Instant::now());
        if let Err(e) = self.load().await {
            tracing::warn!(error = %e, "stale console key set not refreshed; keeping the keys held for now");
            let mut held = self.held.write().expect("the key map is never left half-written");
            *held = Arc::new(Held {
                keys: held.keys.clone(),
                fresh_until: Some(Instant::now() + MIN_REFRESH_INTERVAL),
            });
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
        let (document, max_age) = match &self.source {
            ConsoleKeySource::Url(url) => {
                let fetcher = self.fetcher.get_or_init(fetch::Fetcher::new);
                let fetched = fetcher.get(url).await.map_err(RefreshError::Fetch)?;
                (fetched.body, fetched.max_age)
            }
            #[cfg(feature = "embedded")]
            ConsoleKeySource::LocalKey(path) => (
                super::signer::ConsoleSigner::local_key_set(path)
                    .map_err(|e| RefreshError::Local(e.to_string()))?,
                None,
            ),
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
        let max_age = max_age.unwrap_or(DEFAULT_MAX_AGE).min(LONGEST_MAX_AGE);
        *self.held.write().expect("the key map is never left half-written") = Arc::new(Held {
            keys,
            fresh_until: Some(Instant::now() + max_age),
        });
        tracing::info!(
            keys = count,
            max_age_s = max_age.as_secs(),
            "console key set loaded"
        );
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
