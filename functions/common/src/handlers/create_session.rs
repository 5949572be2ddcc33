//! `POST /api/v1/sessions`: an API consumer opens a playground session for one credit.

use super::finish;
use crate::api_key::{KeyHash, bearer_token, is_well_formed};
use crate::error::ApiError;
use crate::http::{json_body, json_response, origin, require_method};
use crate::ids::SessionId;
use crate::store::{SessionDebit, SessionOutcome};
use crate::{App, clock};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

/// The only body accepted besides none at all: `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OpenedSession {
    success: bool,
    /// Balance after this session's debit.
    credits: u64,
    playground_url: String,
    token: String,
    expires_in: u64,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    finish(&req, create_session(app, &req).await)
}

async fn create_session(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::POST, "POST")?;
    // Checked at cold start; never missing here, and looked up before any credit moves.
    let signer = app.playground.as_ref().ok_or(ApiError::Internal)?;
    let token = bearer_token(req.headers()).map_err(|_| ApiError::MissingAuthorization)?;
    if !is_well_formed(token) {
        return Err(ApiError::InvalidKeyFormat);
    }
    json_body::<NoFields>(req, "empty or an empty JSON object {}")?;

    let debit = SessionDebit { session: SessionId::generate(), at: clock::now(), origin: origin(req) };
    let (session, at) = (debit.session.clone(), debit.at);
    let (account, key, balance) = match app.store.open_session(&KeyHash::of(token), debit).await? {
        SessionOutcome::Opened { account, key, balance } => (account, key, balance),
        SessionOutcome::InvalidKey => return Err(ApiError::InvalidKey),
        SessionOutcome::InsufficientCredits => return Err(ApiError::InsufficientCredits),
    };
    // Signing with a key that was validated at cold start does not fail in practice; if it
    // ever did, the log line below carries the session id so the credit can be refunded.
    let issued = signer.issue(&account, &session, at).map_err(|e| {
        tracing::error!(session_id = %session, error = %e, "signing failed after the debit");
        ApiError::Internal
    })?;
    tracing::info!(key_id = %key, session_id = %session, balance, "session opened");
    Ok(json_response(
        StatusCode::OK,
        &OpenedSession {
            success: true,
            credits: balance,
            playground_url: issued.playground_url,
            token: issued.token,
            expires_in: issued.expires_in,
        },
    ))
}
