//! `DELETE /api/v1/keys/{id}`: revoke a key, at once and for good.

use crate::clock;
use crate::error::ApiError;
use crate::ids::KeyId;
use crate::request::origin;
use crate::response::json_response;
use crate::runtime::Outcome;
use lambda_http::http::StatusCode;
use lambda_http::{Request, RequestExt};
use serde_json::json;

/// The console state of this endpoint.
pub use super::ConsoleEndpoint as State;

pub async fn handle(state: &State, req: Request) -> Outcome {
    let req = &req;
    let account = state.account(req).await?;
    // Anything that is not a well-formed key id cannot name a key: the same 404 as a key that
    // does not exist, is someone else's, or is already deleted, so nothing can be probed.
    let id = key_id(req).ok_or(ApiError::KeyNotFound)?;
    if !state
        .store
        .delete_key(&account, &id, clock::now(), origin(req))
        .await?
    {
        return Err(ApiError::KeyNotFound);
    }
    tracing::info!(key_id = %id, "api key deleted");
    Ok(json_response(StatusCode::OK, &json!({"success": true})))
}

/// The `{id}` path parameter: API Gateway and `cargo lambda watch` both supply it; the raw path
/// is the fallback for a bare invocation.
fn key_id(req: &Request) -> Option<KeyId> {
    let params = req.path_parameters_ref();
    let raw = match params.and_then(|p| p.first("id")) {
        Some(id) => id.to_string(),
        None => req.raw_http_path().strip_prefix("/api/v1/keys/")?.to_string(),
    };
    KeyId::parse(&raw)
}
