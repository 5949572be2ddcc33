//! `POST /api/v1/secret-scanning`: GitHub's secret-scanning partner endpoint. GitHub reports
//! strings matching our key format that it found in public places; each one that is a live
//! key of ours is revoked at once (`key.leaked` in its account's audit trail), and every match
//! gets a `true_positive` / `false_positive` label back.

use crate::api_key::{KeyHash, has_valid_checksum, is_well_formed};
use crate::clock;
use crate::config::ConfigError;
use crate::error::ApiError;
use crate::request::{body_bytes, origin};
use crate::response::json_response;
use crate::runtime::{self, Outcome};
use crate::secret_scanning::{Label, ReportedToken, ReporterKeys, Verdict};
use crate::startup::{Startup, StartupError};
use crate::store::{Leak, LeakRevocation, Store};
use lambda_http::Request;
use lambda_http::http::StatusCode;
use std::sync::Arc;

/// The most matches one report may carry: each costs up to two store requests, and the
/// answer must come within the request deadline. GitHub sends matches in small batches.
pub const MAX_TOKENS_PER_REPORT: usize = 100;

const IDENTIFIER_HEADER: &str = "github-public-key-identifier";
const SIGNATURE_HEADER: &str = "github-public-key-signature";

/// The secret-scanning function's state: the store, and the reporters' public keys (GitHub's
/// key document; locally, the stand-in reporter's key).
pub struct State {
    pub store: Arc<dyn Store>,
    pub reporters: ReporterKeys,
}

impl runtime::State for State {
    fn build(startup: Startup) -> Result<Self, StartupError> {
        let source = startup.config.secret_scanning.as_ref().ok_or_else(|| {
            ConfigError(format!(
                "{} (GitHub's secret-scanning public keys) is required when running in AWS",
                crate::config::vars::SECRET_SCANNING_KEYS
            ))
        })?;
        Ok(State {
            reporters: source.keys()?,
            store: startup.store()?,
        })
    }
}

pub async fn handle(state: &State, req: Request) -> Outcome {
    let req = &req;
    let reporters = &state.reporters;
    let body = body_bytes(req)?;
    // The signature is checked over the raw bytes before anything is parsed: nobody but a
    // configured reporter can make this function read the store.
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    match (header(IDENTIFIER_HEADER), header(SIGNATURE_HEADER)) {
        (Some(identifier), Some(signature)) if reporters.verify(identifier, signature, body) => {}
        _ => return Err(ApiError::InvalidSignature),
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
    let (at, from) = (clock::now(), origin(req));
    let mut verdicts = Vec::with_capacity(reported.len());
    for found in reported {
        let hash = KeyHash::of(&found.token);
        let label = label(state, &found, &hash, at, &from).await?;
        verdicts.push(Verdict {
            token_hash: hash.as_str().to_string(),
            token_type: found.token_type,
            label,
        });
    }
    Ok(json_response(StatusCode::OK, &verdicts))
}

/// Ours or not, revoking it if it is a live key. A string that is not a key we could have
/// issued (format, checksum) costs no store request; one we issued that is already deleted or
/// revoked is still ours (`true_positive`) and changes nothing.
async fn label(
    state: &State,
    reported: &ReportedToken,
    hash: &KeyHash,
    at: time::OffsetDateTime,
    from: &crate::store::Origin,
) -> Result<Label, ApiError> {
    if !is_well_formed(&reported.token) || !has_valid_checksum(&reported.token) {
        return Ok(Label::FalsePositive);
    }
    let leak = Leak {
        url: reported.url.clone(),
        // GitHub's documentation lists the kinds capitalised ("Content"), its reports send them in
        // lower case: either is taken, and kept in lower case so the audit trail reads one way.
        source: reported.source.as_deref().map(str::to_ascii_lowercase),
    };
    Ok(
        match state.store.revoke_leaked(hash, leak, at, from.clone()).await? {
            LeakRevocation::Revoked { account, key } => {
                // Never the token; the key id and account are what an operator needs.
                tracing::warn!(account = %account, key_id = %key, "leaked api key revoked");
                Label::TruePositive
            }
            LeakRevocation::AlreadyRevoked => Label::TruePositive,
            LeakRevocation::Unknown => Label::FalsePositive,
        },
    )
}
