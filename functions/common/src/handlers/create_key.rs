//! `POST /api/v1/keys`: create an API key for the signed-in console account.

use crate::api_key::{KeyMode, PlaintextKey};
use crate::clock;
use crate::error::ApiError;
use crate::ids::KeyId;
use crate::key_name::KeyName;
use crate::request::{json_body, origin};
use crate::response::json_response;
use crate::runtime::Outcome;
use crate::store::{KeyCreation, MAX_SESSIONS_PER_DAY, NewKey};
use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKeyBody {
    name: String,
    #[serde(default, rename = "expiresAt")]
    expires_at: Option<String>,
    #[serde(default)]
    limits: Option<LimitsBody>,
    #[serde(default)]
    mode: Option<serde_json::Value>,
}

/// `mode`: `live` (the default) or `test`.
fn mode(value: Option<serde_json::Value>) -> Result<KeyMode, ApiError> {
    let Some(value) = value else {
        return Ok(KeyMode::Live);
    };
    value
        .as_str()
        .and_then(KeyMode::parse)
        .ok_or_else(|| ApiError::BadRequest("mode must be \"live\" or \"test\"".into()))
}

/// `limits`: each member optional; an unknown one is refused rather than silently ignored
/// (a misspelt limit would otherwise leave the key unlimited).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LimitsBody {
    #[serde(default)]
    sessions_per_day: Option<serde_json::Value>,
}

/// `limits.sessionsPerDay`: a whole number from 1 to [`MAX_SESSIONS_PER_DAY`].
fn sessions_per_day(limits: Option<LimitsBody>) -> Result<Option<u32>, ApiError> {
    let Some(value) = limits.and_then(|l| l.sessions_per_day) else {
        return Ok(None);
    };
    value
        .as_u64()
        .filter(|n| (1..=u64::from(MAX_SESSIONS_PER_DAY)).contains(n))
        .map(|n| Some(n as u32))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "limits.sessionsPerDay must be a whole number from 1 to {MAX_SESSIONS_PER_DAY}"
            ))
        })
}

impl<'a> CreatedKey<'a> {
    /// The body that shows `key` (its plaintext) this once, with what is stored of it.
    pub(super) fn of(key: &'a PlaintextKey, record: &'a NewKey) -> Self {
        CreatedKey {
            success: true,
            id: record.id.as_str(),
            name: record.name.as_str(),
            key: key.expose(),
            prefix: &record.prefix,
            mode: record.mode(),
            created_at: clock::rfc3339(record.created_at),
            limits: Limits::of(record.sessions_per_day),
        }
    }
}

/// A fresh key (its plaintext, for the one response that shows it) and the record the store
/// keeps of it (its hash). Create and roll both issue keys this way.
pub(super) fn issue(
    account: crate::ids::AccountId,
    name: KeyName,
    mode: KeyMode,
    now: time::OffsetDateTime,
    expires_at: Option<time::OffsetDateTime>,
    sessions_per_day: Option<u32>,
) -> (PlaintextKey, NewKey) {
    let key = PlaintextKey::generate(mode);
    let record = NewKey {
        id: KeyId::generate(),
        account,
        name,
        prefix: key.display_prefix(),
        hash: key.hash(),
        created_at: now,
        expires_at,
        sessions_per_day,
    };
    (key, record)
}

/// The longest a key may be set to live.
pub const MAX_LIFETIME: time::Duration = time::Duration::days(365);

/// `expiresAt`: an RFC 3339 time in the future, at most [`MAX_LIFETIME`] ahead of `now`.
fn expiry(raw: Option<&str>, now: time::OffsetDateTime) -> Result<Option<time::OffsetDateTime>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let at = clock::parse_rfc3339(raw).map_err(|_| {
        ApiError::BadRequest("expiresAt must be an RFC 3339 date-time, e.g. 2027-01-31T00:00:00Z".into())
    })?;
    if at <= now {
        return Err(ApiError::BadRequest("expiresAt must be in the future".into()));
    }
    if at > now + MAX_LIFETIME {
        return Err(ApiError::BadRequest(
            "expiresAt must be at most one year ahead".into(),
        ));
    }
    Ok(Some(clock::truncate(at)))
}

/// A key as the API shows it the one time its plaintext exists (create and roll).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreatedKey<'a> {
    pub(super) success: bool,
    pub(super) id: &'a str,
    pub(super) name: &'a str,
    /// The plaintext key: in this response only, never stored or shown again.
    pub(super) key: &'a str,
    pub(super) prefix: &'a str,
    pub(super) mode: KeyMode,
    pub(super) created_at: String,
    /// Only for a key made with limits: the contract's body is unchanged for every other key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) limits: Option<Limits>,
}

/// A key's limits as the API shows them (`null`: none).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Limits {
    sessions_per_day: u32,
}

impl Limits {
    pub(super) fn of(sessions_per_day: Option<u32>) -> Option<Self> {
        sessions_per_day.map(|n| Limits { sessions_per_day: n })
    }
}

const EXPECTED: &str = r#"a JSON object {"name": "<1-64 characters>", "mode": "<optional live or test>", "expiresAt": "<optional RFC 3339 time>", "limits": {"sessionsPerDay": <optional 1-1000000>}}"#;

/// The console state of this endpoint.
pub use super::ConsoleEndpoint as State;

pub async fn handle(state: &State, req: Request) -> Outcome {
    let req = &req;
    let account = state.account(req).await?;
    let body: CreateKeyBody = json_body(req, EXPECTED)?
        .ok_or_else(|| ApiError::BadRequest(format!("Request body must be {EXPECTED}")))?;
    let name =
        KeyName::parse(&body.name).map_err(|e| ApiError::BadRequest(format!("Invalid key name: {e}")))?;

    let now = clock::now();
    let expires_at = expiry(body.expires_at.as_deref(), now)?;
    let sessions_per_day = sessions_per_day(body.limits)?;
    let mode = mode(body.mode)?;

    let (key, record) = issue(account, name, mode, now, expires_at, sessions_per_day);
    if state.store.create_key(record.clone(), origin(req)).await? == KeyCreation::TooManyKeys {
        return Err(ApiError::TooManyKeys);
    }
    tracing::info!(key_id = %record.id, "api key created");
    Ok(json_response(StatusCode::CREATED, &CreatedKey::of(&key, &record)))
}
