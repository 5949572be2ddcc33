//! The endpoints. Each `handle` never fails: expected failures become JSON error
//! responses through [`ApiError::into_response`], so Lambda never sees an invocation error.

use crate::App;
use crate::api_key::bearer_token;
use crate::console_auth::ConsoleAuthError;
use crate::error::ApiError;
use crate::ids::AccountId;
use crate::store::StoreError;
use lambda_http::{Body, Request, Response};
use std::future::Future;

pub mod audit;
pub mod console_page;
pub mod create_key;
pub mod create_session;
pub mod credits;
pub mod delete_key;
pub mod fallback;
pub mod jwks;
pub mod list_keys;
pub mod roll_key;
pub mod secret_scanning;

/// Store failures at the boundary between the store and HTTP: the detail (with its whole
/// chain of causes) goes to the log for operators; the client learns only the category.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %crate::error::error_chain(&e), "store failure");
        if e.is_transient() {
            ApiError::Unavailable
        } else {
            ApiError::Internal
        }
    }
}

/// Turns a handler's result into the response, mapping errors in the one shared place.
fn finish(req: &Request, result: Result<Response<Body>, ApiError>) -> Response<Body> {
    result.unwrap_or_else(|e| e.into_response(crate::request::request_id(req).as_deref()))
}

/// Runs a handler's work within the configured deadline: a stalled dependency answers the
/// contract's JSON 503 with `Retry-After`, well before the platform would kill the function.
/// Work cut short here was either not applied or is found again by an idempotent retry.
async fn within_deadline(
    app: &App,
    work: impl Future<Output = Result<Response<Body>, ApiError>>,
) -> Result<Response<Body>, ApiError> {
    match tokio::time::timeout(app.config.request_deadline, work).await {
        Ok(result) => result,
        Err(_) => {
            tracing::error!(
                deadline_ms = app.config.request_deadline.as_millis() as u64,
                "request deadline passed; answering 503"
            );
            Err(ApiError::Unavailable)
        }
    }
}

/// The console account behind `Authorization: Bearer <console JWT>`.
async fn console_account(app: &App, req: &Request) -> Result<AccountId, ApiError> {
    let token = bearer_token(req.headers()).map_err(|_| ApiError::MissingAuthorization)?;
    let verifier = app.console.as_ref().ok_or(ApiError::Internal)?;
    verifier.verify(token).await.map_err(|e| match e {
        ConsoleAuthError::Invalid => ApiError::InvalidConsoleToken,
        ConsoleAuthError::KeysUnavailable => {
            tracing::error!("console token not checked: the identity provider's key set is unavailable");
            ApiError::Unavailable
        }
    })
}
