//! `POST /api/v1/keys/{id}/roll`: replace a key without downtime. The successor (same name, limits and
//! same account) is returned once, like a new key; the old key keeps working for the grace
//! period asked for (`expiresInSeconds`, 0 to 7 days, default 0) and answers 401 after it.

use super::create_key::{CreatedKey, issue};
use crate::clock;
use crate::error::ApiError;
use crate::ids::KeyId;
use crate::request::{json_body, origin};
use crate::response::json_response;
use crate::runtime::Outcome;
use crate::store::KeyRoll;
use lambda_http::http::StatusCode;
use lambda_http::{Request, RequestExt};
use serde::{Deserialize, Serialize};

/// The longest grace period: a week.
pub const MAX_GRACE_SECS: u64 = 604_800;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RollBody {
    #[serde(default)]
    expires_in_seconds: Option<serde_json::Value>,
}

/// The successor as create-key shows a new key, and when the old key stops working.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RolledKey<'a> {
    #[serde(flatten)]
    successor: CreatedKey<'a>,
    previous_key_expires_at: String,
}

const EXPECTED: &str = r#"empty or a JSON object {"expiresInSeconds": <0-604800>}"#;

/// The console state of this endpoint.
pub use super::ConsoleEndpoint as State;

pub async fn handle(state: &State, req: Request) -> Outcome {
    let req = &req;
    let account = state.account(req).await?;
    let grace = match json_body::<RollBody>(req, EXPECTED)?.and_then(|b| b.expires_in_seconds) {
        None => 0,
        Some(value) => value.as_u64().filter(|s| *s <= MAX_GRACE_SECS).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "expiresInSeconds must be a whole number from 0 to {MAX_GRACE_SECS}"
            ))
        })?,
    };
    // Not a key id: the same 404 as a key that does not exist (nothing can be probed).
    let old = key_id(req).ok_or(ApiError::KeyNotFound)?;
    let now = clock::now();
    // The successor keeps the old key's name, mode, limits and expiry (a roll cannot make an
    // expiring key into one that never expires); the store carries the day's session count over.
    let previous = state
        .store
        .list_keys(&account)
        .await?
        .into_iter()
        .find(|k| k.id == old)
        .ok_or(ApiError::KeyNotFound)?;
    let mode = previous.mode();
    let (key, record) = issue(
        account,
        previous.name,
        mode,
        now,
        previous.expires_at,
        previous.sessions_per_day,
    );
    let previous_expires_at = match state
        .store
        .roll_key(
            &old,
            record.clone(),
            now + time::Duration::seconds(grace as i64),
            origin(req),
        )
        .await?
    {
        KeyRoll::Rolled { previous_expires_at } => previous_expires_at,
        KeyRoll::NotFound => return Err(ApiError::KeyNotFound),
        KeyRoll::TooManyKeys => return Err(ApiError::TooManyKeys),
    };
    tracing::info!(key_id = %record.id, previous_key_id = %old, "api key rolled");
    Ok(json_response(
        StatusCode::CREATED,
        &RolledKey {
            successor: CreatedKey::of(&key, &record),
            previous_key_expires_at: clock::rfc3339(previous_expires_at),
        },
    ))
}

/// The `{id}` path parameter (API Gateway and `cargo lambda watch` supply it; the raw path is
/// the fallback for a bare invocation).
fn key_id(req: &Request) -> Option<KeyId> {
    let raw = match req.path_parameters_ref().and_then(|p| p.first("id")) {
        Some(id) => id.to_string(),
        None => req
            .raw_http_path()
            .strip_prefix("/api/v1/keys/")?
            .strip_suffix("/roll")?
            .to_string(),
    };
    KeyId::parse(&raw)
}
