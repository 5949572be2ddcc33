//! `GET /api/v1/keys`: the signed-in account's keys, newest first: the live ones, and those
//! revoked because they were found leaked (until deleted, so their owner sees why).

use super::create_key::Limits;
use crate::api_key::KeyMode;
use crate::clock;
use crate::response::json_response;
use crate::runtime::Outcome;
use lambda_http::Request;
use lambda_http::http::StatusCode;
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
    /// `live` or `test`.
    mode: KeyMode,
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

/// The console state of this endpoint.
pub use super::ConsoleEndpoint as State;

pub async fn handle(state: &State, req: Request) -> Outcome {
    let req = &req;
    let account = state.account(req).await?;
    let keys = state
        .store
        .list_keys(&account)
        .await?
        .into_iter()
        .map(|k| KeySummary {
            mode: k.mode(),
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
