//! `POST /api/v1/sessions`: an API consumer opens a playground session for one credit.

use super::presented_api_key;
use crate::api_key::KeyMode;
use crate::error::ApiError;
use crate::ids::SessionId;
use crate::key_cache::KeyCache;
use crate::playground::PlaygroundSigner;
use crate::request::{MAX_BODY_BYTES, body_bytes, json_body, origin};
use crate::response::json_response;
use crate::runtime::{self, Outcome};
use crate::sealed::RecordBinding;
use crate::sealed::Seal;
use crate::startup::{Startup, StartupError};
use crate::store::Store;
use crate::store::{DebitOutcome, IdempotencyConflict, IdempotentSession, SessionDebit, SessionGrant, Spend};
use crate::{clock, idempotency};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use std::sync::Arc;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OpenedSession<'a> {
    success: bool,
    /// Balance after this session's debit (a test session's leaves it as it was).
    credits: u64,
    /// `live` or `test`, as the key that opened it.
    mode: KeyMode,
    playground_url: &'a str,
    token: &'a str,
    expires_in: u64,
}

/// create-session's state: the store, the keys that sign and seal session tokens, and the
/// API keys this instance has resolved.
pub struct State {
    pub store: Arc<dyn Store>,
    pub signer: PlaygroundSigner,
    pub seal: Seal,
    /// The warm path: a key seen before costs no lookup.
    pub keys: KeyCache,
    /// What test keys spend: sessions per account per UTC day.
    pub test_sessions_per_day: u32,
}

impl runtime::State for State {
    /// The signing and sealing keys come from SSM parameters in AWS.
    async fn startup() -> Result<Startup, StartupError> {
        Startup::from_process_env::<true>().await
    }

    /// Both keys are parsed here into types that wipe themselves, and the text they came from
    /// is dropped with the startup.
    fn build(startup: Startup) -> Result<Self, StartupError> {
        let config = &startup.config;
        Ok(State {
            signer: PlaygroundSigner::from_config(config.signing_key()?, &config.playground)?,
            seal: Seal::from_source(config.replay_sealing_key()?)?,
            store: startup.store()?,
            keys: KeyCache::default(),
            test_sessions_per_day: config.test_sessions_per_day,
        })
    }
}

pub async fn handle(state: &State, req: Request) -> Outcome {
    let req = &req;
    let (signer, seal) = (&state.signer, &state.seal);
    let (hash, mode) = presented_api_key(req)?;
    let idempotency_key =
        idempotency::from_headers(req.headers()).map_err(|m| ApiError::BadRequest(m.to_string()))?;
    // The only body accepted besides none at all is `{}` (an object with no members).
    const EXPECTED: &str = "empty or an empty JSON object {}";
    if json_body::<serde_json::Map<String, serde_json::Value>>(req, EXPECTED)?
        .is_some_and(|members| !members.is_empty())
    {
        return Err(ApiError::BadRequest(format!("Request body must be {EXPECTED}")));
    }

    // A key this instance has resolved before costs no read: its liveness is checked by the
    // debit's own write below, not by this lookup.
    let key = state
        .keys
        .resolve(state.store.as_ref(), &hash)
        .await?
        .ok_or(ApiError::InvalidKey)?;
    // The token is signed before the debit so that an idempotency record can hold it (sealed),
    // written atomically with the debit. If the debit is refused it is never sent.
    let debit = SessionDebit {
        session: SessionId::generate(),
        at: clock::now(),
        origin: origin(req),
        spend: match mode {
            KeyMode::Live => Spend::Credit,
            KeyMode::Test => Spend::TestAllowance {
                per_day: state.test_sessions_per_day,
            },
        },
    };
    let issued = signer
        .issue(&key.account, &debit.session, mode, debit.at)
        .map_err(|e| {
            tracing::error!(error = %e, "signing a session token failed");
            ApiError::Internal
        })?;
    let session_id = debit.session.to_string();
    let retry_after_secs = clock::seconds_to_next_utc_day(debit.at);
    // The record's identity, which its sealed token is bound to: hashed once, for the record
    // written with this debit and for opening the one a replay finds.
    let idempotency_key_hash = idempotency_key.map(|k| idempotency::sha256_hex(k.as_bytes()));
    let binding = |key_hash, session_id| RecordBinding {
        account: key.account.as_str(),
        idempotency_key_hash: key_hash,
        session_id,
    };
    let idempotency = match &idempotency_key_hash {
        None => None,
        Some(key_hash) => {
            let sealed_token = seal
                .seal(binding(key_hash, &session_id), &issued.token)
                .map_err(|e| {
                    tracing::error!(error = %e, "sealing a session token failed");
                    ApiError::Internal
                })?;
            Some(IdempotentSession {
                key_hash: key_hash.clone(),
                request_hash: idempotency::sha256_hex(body_bytes(req, MAX_BODY_BYTES).unwrap_or_default()),
                grant: SessionGrant {
                    session_id: session_id.clone(),
                    sealed_token,
                    expires_in: issued.expires_in,
                },
            })
        }
    };
    match state.store.debit_session(&key, debit, idempotency).await? {
        DebitOutcome::Debited { balance } => {
            tracing::info!(key_id = %key.key, session_id, balance, mode = mode.as_str(), "session opened");
            Ok(session_response(
                balance,
                mode,
                &signer.playground_url(&issued.token, mode),
                &issued.token,
                issued.expires_in,
            ))
        }
        DebitOutcome::Replayed { balance, grant } => {
            tracing::info!(key_id = %key.key, session_id = %grant.session_id, "idempotent retry replayed");
            // A replay comes only from a request with an Idempotency-Key. Only a record altered
            // (or restored under another key) fails to open: never answered with a token, and
            // logged for the alarm on this line (template.yaml).
            let key_hash = idempotency_key_hash.as_deref().ok_or(ApiError::Internal)?;
            let token = seal
                .open(binding(key_hash, &grant.session_id), &grant.sealed_token)
                .map_err(|e| {
                    tracing::error!(
                        alarm = "sealed_replay_unopenable",
                        key_id = %key.key,
                        session_id = %grant.session_id,
                        error = %e,
                        "an idempotency record's sealed token did not open; answering 500"
                    );
                    ApiError::Internal
                })?;
            let mut response = session_response(
                balance,
                mode,
                &signer.playground_url(&token, mode),
                &token,
                grant.expires_in,
            );
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
        DebitOutcome::Conflict(IdempotencyConflict::DifferentApiKey) => {
            Err(ApiError::IdempotencyKeyUsedByAnotherApiKey)
        }
        DebitOutcome::Conflict(IdempotencyConflict::DifferentRequest) => {
            Err(ApiError::IdempotencyKeyUsedForAnotherRequest)
        }
        DebitOutcome::InsufficientCredits => Err(ApiError::InsufficientCredits),
        DebitOutcome::KeyLimitReached => Err(ApiError::KeyLimitReached { retry_after_secs }),
        DebitOutcome::TestLimitReached => Err(ApiError::TestLimitReached { retry_after_secs }),
        DebitOutcome::InvalidKey => {
            state.keys.forget(&hash);
            Err(ApiError::InvalidKey)
        }
    }
}

/// The 200 body: built the same way for a first answer and its replays, so they are identical.
fn session_response(
    balance: u64,
    mode: KeyMode,
    playground_url: &str,
    token: &str,
    expires_in: u64,
) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &OpenedSession {
            success: true,
            credits: balance,
            mode,
            playground_url,
            token,
            expires_in,
        },
    )
}
