//! `GET /api/v1/keys`: the signed-in account's live keys, newest first.

use super::{console_account, finish};
use crate::error::ApiError;
use crate::http::{json_response, require_method};
use crate::{App, clock};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    finish(&req, list_keys(app, &req).await)
}

async fn list_keys(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    require_method(req, Method::GET, "GET")?;
    let account = console_account(app, req)?;
    let keys: Vec<_> = app
        .store
        .list_keys(&account)
        .await?
        .into_iter()
        .map(|k| {
            json!({
                "id": k.id.as_str(),
                "name": k.name,
                "prefix": k.prefix,
                "createdAt": clock::rfc3339(k.created_at),
                "lastUsedAt": k.last_used_at.map(clock::rfc3339),
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({"success": true, "keys": keys})))
}
