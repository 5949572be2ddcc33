//! `DELETE /api/v1/webhooks/{id}`: remove an endpoint; nothing more is sent to it.

use crate::error::ApiError;
use crate::ids::WebhookId;
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
    // Not an endpoint id: the same 404 as one that does not exist or is another account's.
    let id = webhook_id(req, "").ok_or(ApiError::WebhookNotFound)?;
    if !state.store.delete_webhook(&account, &id).await? {
        return Err(ApiError::WebhookNotFound);
    }
    tracing::info!(webhook_id = %id, "webhook endpoint deleted");
    Ok(json_response(StatusCode::OK, &json!({"success": true})))
}

/// The `{id}` path parameter of `/api/v1/webhooks/{id}<rest>` (the raw path for a bare
/// invocation).
pub(super) fn webhook_id(req: &Request, rest: &str) -> Option<WebhookId> {
    let raw = match req.path_parameters_ref().and_then(|p| p.first("id")) {
        Some(id) => id.to_string(),
        None => req
            .raw_http_path()
            .strip_prefix("/api/v1/webhooks/")?
            .strip_suffix(rest)?
            .to_string(),
    };
    WebhookId::parse(&raw)
}
