//! `GET /api/v1/keys`: the signed-in account's keys, newest first: the live ones, and those
//! revoked because they were found leaked (until deleted, so their owner sees why).

use super::create_key::Limits;
use super::{console_account, finish, within_deadline};
use crate::error::ApiError;
use crate::response::json_response;
use crate::routes::Route;
use crate::{App, clock, routes};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

#[derive(Serialize)]
struct KeyList {
    success: bool,
    keys: Vec<KeySummary>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeySummary {
    id: String,
    name: String,
    prefix: String,
    created_at: String,
    /// `null` until the key opens its first session.
    last_used_at: Option<String>,
    /// `null` for a key that does not expire.
    expires_at: Option<String>,
    /// `null` for a key without limits.
    limits: Option<Limits>,
    /// When secret scanning reported the key leaked (it answers 401 since); `null` if never.
    leaked_at: Option<String>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    finish(&req, within_deadline(app, list_keys(app, &req)).await)
}

async fn list_keys(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    routes::expect(req, Route::ListKeys)?;
    let account = console_account(app, req).await?;
    let keys = app
        .store
        .list_keys(&account)
        .await?
        .into_iter()
        .map(|k| KeySummary {
            id: k.id.to_string(),
            name: k.name.into(),
            prefix: k.prefix,
            created_at: clock::rfc3339(k.created_at),
            last_used_at: k.last_used_at.map(clock::rfc3339),
            expires_at: k.expires_at.map(clock::rfc3339),
            limits: Limits::of(k.sessions_per_day),
            leaked_at: k.leaked_at.map(clock::rfc3339),
        })
        .collect();
    Ok(json_response(StatusCode::OK, &KeyList { success: true, keys }))
}
