//! `POST /api/v1/secret-scanning`: GitHub's secret-scanning partner endpoint. GitHub reports
//! strings matching our key format that it found in public places; each one that is a live
//! key of ours is revoked at once (`key.leaked` in its account's audit trail), and every match
//! gets a `true_positive` / `false_positive` label back.

use crate::api_key::{KeyHash, has_valid_checksum, is_well_formed};
use crate::clock;
use crate::config::{ConfigError, ReporterKeysSource, vars};
use crate::error::ApiError;
use crate::request::{body_bytes, origin};
use crate::response::json_response;
use crate::runtime::{self, Outcome};
use crate::secret_scanning::published::{KeysUnavailable, PublishedKeys};
use crate::secret_scanning::{Label, ReportedToken, ReporterKeys, ReporterSigner, Verdict};
use crate::startup::{Startup, StartupError};
use crate::store::{Leak, LeakRevocation, ReportedLeak, Store};
use lambda_http::Request;
use lambda_http::http::StatusCode;
use std::sync::Arc;

/// The most matches one report may carry. GitHub's documentation asks partners to take large
/// reports whole; the store reads them 100 to a request and revokes live keys a few at a time,
/// so 1,000 answer well within the request deadline.
pub const MAX_TOKENS_PER_REPORT: usize = 1_000;

/// This route's body cap (every other route keeps `request::MAX_BODY_BYTES`): 1,000 matches
/// with long URLs fit with room to spare, and API Gateway and Lambda allow far more.
pub const MAX_REPORT_BYTES: usize = 1024 * 1024;

const IDENTIFIER_HEADER: &str = "github-public-key-identifier";
const SIGNATURE_HEADER: &str = "github-public-key-signature";

/// The secret-scanning function's state: the store, and the reporters' public keys (GitHub's
/// key document, fetched or pinned; locally, the stand-in reporter's key).
pub struct State {
    pub store: Arc<dyn Store>,
    pub reporters: PublishedKeys,
}

impl runtime::State for State {
    fn build(startup: Startup) -> Result<Self, StartupError> {
        let reporters = match &startup.config.secret_scanning {
            ReporterKeysSource::Url(url) => PublishedKeys::remote(url.clone()),
            ReporterKeysSource::Document(document) => PublishedKeys::pinned(
                ReporterKeys::from_document(document)
                    .map_err(|e| ConfigError(format!("{}: {e}", vars::SECRET_SCANNING_KEYS)))?,
            ),
            ReporterKeysSource::LocalKey(path) => PublishedKeys::pinned(
                ReporterSigner::local(path)
                    .map_err(|e| ConfigError(format!("local secret-scanning key {}: {e}", path.display())))?
                    .keys(),
            ),
        };
        Ok(State {
            reporters,
            store: startup.store()?,
        })
    }

    /// GitHub's keys before the first report, when they are fetched.
    async fn warm(&self) {
        self.reporters.prefetch().await;
    }
}

pub async fn handle(state: &State, req: Request) -> Outcome {
    let req = &req;
    let body = body_bytes(req, MAX_REPORT_BYTES)?;
    // The signature is checked over the raw bytes before anything is parsed: nobody but a
    // configured reporter can make this function read the store.
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let (Some(identifier), Some(signature)) = (header(IDENTIFIER_HEADER), header(SIGNATURE_HEADER)) else {
        return Err(ApiError::InvalidSignature);
    };
    match state.reporters.verify(identifier, signature, body).await {
        Ok(true) => {}
        Ok(false) => return Err(ApiError::InvalidSignature),
        Err(KeysUnavailable) => {
            tracing::error!("report not checked: GitHub's secret-scanning keys were never fetched");
            return Err(ApiError::Unavailable);
        }
    }
    let reported: Vec<ReportedToken> = serde_json::from_slice(body).map_err(|_| {
        ApiError::BadRequest(
            r#"Request body must be a JSON array of {"token", "type", "url", "source"} matches"#.into(),
        )
    })?;
    if reported.len() > MAX_TOKENS_PER_REPORT {
        return Err(ApiError::BadRequest(format!(
            "A report may carry at most {MAX_TOKENS_PER_REPORT} matches"
        )));
    }
    let at = clock::now();
    // Each match's hash, and whether it could be a key we issued (format, checksum): those that
    // cannot cost no store request; the rest go to the store in one call, which answers one
    // outcome per match, in order.
    let hashed: Vec<(KeyHash, bool)> = reported
        .iter()
        .map(|found| (KeyHash::of(&found.token), could_be_ours(&found.token)))
        .collect();
    let ours: Vec<ReportedLeak> = reported
        .iter()
        .zip(&hashed)
        .filter(|(_, (_, ours))| *ours)
        .map(|(found, (hash, _))| ReportedLeak {
            hash: hash.clone(),
            leak: Leak {
                url: found.url.clone(),
                // GitHub's documentation lists the kinds capitalised ("Content"), its reports
                // send them in lower case: either is taken, and kept in lower case so the audit
                // trail reads one way.
                source: found.source.as_deref().map(str::to_ascii_lowercase),
            },
        })
        .collect();
    let mut outcomes = state
        .store
        .revoke_leaked(&ours, at, origin(req))
        .await?
        .into_iter();
    let verdicts: Vec<Verdict> = reported
        .into_iter()
        .zip(hashed)
        .map(|(found, (hash, ours))| Verdict {
            token_hash: hash.as_str().to_string(),
            token_type: found.token_type,
            label: match ours {
                true => label(outcomes.next().expect("one outcome per looked-up match")),
                false => Label::FalsePositive,
            },
        })
        .collect();
    Ok(json_response(StatusCode::OK, &verdicts))
}

fn could_be_ours(token: &str) -> bool {
    is_well_formed(token) && has_valid_checksum(token)
}

/// A key we issued is ours (`true_positive`) whether this report revoked it or it was deleted
/// or revoked before; only a key no one issued is `false_positive`.
fn label(outcome: LeakRevocation) -> Label {
    match outcome {
        LeakRevocation::Revoked { account, key } => {
            // Never the token; the key id and account are what an operator needs.
            tracing::warn!(account = %account, key_id = %key, "leaked api key revoked");
            Label::TruePositive
        }
        LeakRevocation::AlreadyRevoked => Label::TruePositive,
        LeakRevocation::Unknown => Label::FalsePositive,
    }
}
