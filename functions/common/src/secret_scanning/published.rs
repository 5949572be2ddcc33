//! GitHub's secret-scanning keys as an instance holds them: pinned at deploy, or fetched from
//! where GitHub publishes them.
//!
//! A fetched document is loaded at cold start and held. A report naming a key identifier the
//! held document lacks (GitHub has rotated its key) fetches the document again, at most once
//! per [`MIN_REFRESH_INTERVAL`]: a flood of reports with made-up identifiers costs GitHub one
//! request per interval per instance, not one each (its API allows an unauthenticated caller 60
//! an hour). A fetch that fails keeps the held keys in use; only an instance that has never held
//! any answers "unavailable" (503, so GitHub sends the report again later) rather than
//! "invalid" (401). A document held for [`LONGEST_HOLD`] is fetched again on the next report,
//! so a key GitHub withdraws stops verifying within a day even on a long-lived instance.

use super::ReporterKeys;
use crate::fetch::Fetcher;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// Fewest seconds between two fetches that reports cause.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// Longest a fetched document is used without asking for it again.
pub const LONGEST_HOLD: Duration = Duration::from_secs(86_400);

/// No key has ever been held: a report can be neither accepted nor refused.
#[derive(Debug, PartialEq, Eq)]
pub struct KeysUnavailable;

pub struct PublishedKeys {
    held: RwLock<Option<Arc<Held>>>,
    /// `None` for a pinned document (or the local key): nothing to fetch.
    remote: Option<Remote>,
}

struct Held {
    keys: ReporterKeys,
    loaded: Instant,
}

struct Remote {
    url: String,
    /// [`MIN_REFRESH_INTERVAL`]; shorter in tests, which show both sides of it.
    min_interval: Duration,
    /// When a report last caused a fetch; the lock also makes concurrent misses share one.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
    fetcher: OnceLock<Fetcher>,
}

impl PublishedKeys {
    /// Keys that never change while the instance lives (a pinned document, the local key).
    pub fn pinned(keys: ReporterKeys) -> Self {
        PublishedKeys {
            held: RwLock::new(Some(Arc::new(Held {
                keys,
                loaded: Instant::now(),
            }))),
            remote: None,
        }
    }

    /// The document at `url`, fetched by [`Self::prefetch`] or the first report.
    pub fn remote(url: String) -> Self {
        Self::remote_every(url, MIN_REFRESH_INTERVAL)
    }

    fn remote_every(url: String, min_interval: Duration) -> Self {
        PublishedKeys {
            held: RwLock::new(None),
            remote: Some(Remote {
                url,
                min_interval,
                last_refresh: tokio::sync::Mutex::new(None),
                fetcher: OnceLock::new(),
            }),
        }
    }

    fn held(&self) -> Option<Arc<Held>> {
        self.held
            .read()
            .expect("the held keys are never left half-written")
            .clone()
    }

    /// Loads the document at cold start. Not counted against the interval, which limits the
    /// fetches that reports cause; a failure is logged and left to the first report.
    pub async fn prefetch(&self) {
        if let Some(remote) = &self.remote {
            let _one_at_a_time = remote.last_refresh.lock().await;
            if let Err(e) = self.load(remote).await {
                tracing::warn!(error = %e, "GitHub's secret-scanning keys not fetched at cold start");
            }
        }
    }

    /// Whether `signature` over `body` was made by the key named `identifier`, fetching the
    /// document again first when it lacks that key or has been held too long (and a fetch is
    /// due).
    pub async fn verify(
        &self,
        identifier: &str,
        signature: &str,
        body: &[u8],
    ) -> Result<bool, KeysUnavailable> {
        if let Some(remote) = &self.remote {
            let due = self
                .held()
                .is_none_or(|held| !held.keys.knows(identifier) || held.loaded.elapsed() >= LONGEST_HOLD);
            if due {
                self.refresh_if_due(remote).await;
            }
        }
        match self.held() {
            Some(held) => Ok(held.keys.verify(identifier, signature, body)),
            None => Err(KeysUnavailable),
        }
    }

    async fn refresh_if_due(&self, remote: &Remote) {
        let mut last = remote.last_refresh.lock().await;
        if last.is_some_and(|at| at.elapsed() < remote.min_interval) {
            return;
        }
        *last = Some(Instant::now());
        if let Err(e) = self.load(remote).await {
            tracing::warn!(error = %e, "GitHub's secret-scanning keys not refreshed; keeping the keys held");
        }
    }

    async fn load(&self, remote: &Remote) -> Result<(), String> {
        let fetched = remote.fetcher.get_or_init(Fetcher::new).get(&remote.url).await?;
        let document =
            std::str::from_utf8(&fetched.body).map_err(|_| "the document is not UTF-8".to_string())?;
        let keys = ReporterKeys::from_document(document)?;
        tracing::info!("GitHub's secret-scanning keys loaded");
        *self
            .held
            .write()
            .expect("the held keys are never left half-written") = Some(Arc::new(Held {
            keys,
            loaded: Instant::now(),
        }));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::ReporterSigner;
    use super::*;
    use crate::fetch::stand_in::Provider;

    fn signer() -> ReporterSigner {
        ReporterSigner::from_pem(&crate::local_key::generate_pem()).unwrap()
    }

    const BODY: &[u8] = br#"[{"token":"x","type":"visionpipe_api_key"}]"#;

    async fn verifies(keys: &PublishedKeys, by: &ReporterSigner) -> Result<bool, KeysUnavailable> {
        keys.verify(by.identifier(), &by.sign(BODY), BODY).await
    }

    #[tokio::test]
    async fn a_rotated_key_is_fetched_on_the_first_report_it_signs_and_made_up_ones_at_most_once_per_interval()
     {
        // GIVEN GitHub's document holds key A, loaded at cold start
        let (a, b, made_up) = (signer(), signer(), signer());
        let github = Provider::start(200, a.document().into_bytes());
        let keys = PublishedKeys::remote(github.url.clone());
        keys.prefetch().await;
        assert_eq!(verifies(&keys, &a).await, Ok(true));
        assert_eq!(github.requests(), 1, "a held key costs no fetch");
        // WHEN GitHub rotates to key B THEN B's first report fetches the document and verifies
        github.answer(200, b.document().into_bytes());
        assert_eq!(verifies(&keys, &b).await, Ok(true));
        assert_eq!(github.requests(), 2);
        // AND reports naming keys GitHub never published are refused without asking again
        for _ in 0..5 {
            assert_eq!(verifies(&keys, &made_up).await, Ok(false));
        }
        assert_eq!(github.requests(), 2, "at most one fetch per interval");
        // AND A, no longer published, no longer verifies
        assert_eq!(verifies(&keys, &a).await, Ok(false));
    }

    #[tokio::test]
    async fn once_the_interval_has_passed_an_unknown_key_is_asked_for_again() {
        let (a, b) = (signer(), signer());
        let github = Provider::start(200, a.document().into_bytes());
        let keys = PublishedKeys::remote_every(github.url.clone(), Duration::from_millis(200));
        keys.prefetch().await;
        github.answer(200, b.document().into_bytes());
        let unknown = signer();
        assert_eq!(verifies(&keys, &unknown).await, Ok(false), "fetched: B only");
        assert_eq!(
            verifies(&keys, &unknown).await,
            Ok(false),
            "within the interval: not asked"
        );
        assert_eq!(github.requests(), 2);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(verifies(&keys, &unknown).await, Ok(false));
        assert_eq!(github.requests(), 3, "after it: asked again");
        assert_eq!(verifies(&keys, &b).await, Ok(true));
    }

    #[tokio::test]
    async fn held_keys_keep_verifying_while_github_is_unreachable() {
        let a = signer();
        let github = Provider::start(200, a.document().into_bytes());
        let keys = PublishedKeys::remote(github.url.clone());
        keys.prefetch().await;
        github.answer(503, Vec::new());
        // A report naming an unknown key tries GitHub (which fails) and keeps what is held.
        assert_eq!(verifies(&keys, &signer()).await, Ok(false));
        assert_eq!(github.requests(), 2);
        assert_eq!(verifies(&keys, &a).await, Ok(true));
        assert_eq!(github.requests(), 2);
    }

    #[tokio::test]
    async fn an_instance_that_never_held_a_key_answers_unavailable_and_asks_once_per_interval() {
        let github = Provider::start(503, Vec::new());
        let keys = PublishedKeys::remote(github.url.clone());
        keys.prefetch().await;
        for _ in 0..3 {
            assert_eq!(verifies(&keys, &signer()).await, Err(KeysUnavailable));
        }
        assert_eq!(
            github.requests(),
            2,
            "the cold start's fetch, then one a report caused"
        );
        // A cold start's fetch is not held back by the interval.
        let a = signer();
        github.answer(200, a.document().into_bytes());
        keys.prefetch().await;
        assert_eq!(verifies(&keys, &a).await, Ok(true));
    }

    #[tokio::test]
    async fn a_pinned_document_is_never_fetched() {
        let a = signer();
        let keys = PublishedKeys::pinned(ReporterKeys::from_document(&a.document()).unwrap());
        assert_eq!(verifies(&keys, &a).await, Ok(true));
        assert_eq!(verifies(&keys, &signer()).await, Ok(false));
    }
}
