//! `GET /api/v1/keys/self`: is this API key live? The least intrusive authenticated call there
//! is, for GitHub's validity checks of leaked tokens and customers' own health checks: it
//! answers what the key is, spends no credit and writes nothing (not even "last used": a check
//! is not use).

use super::create_key::Limits;
use super::presented_api_key;
use crate::api_key::KeyMode;
use crate::clock;
use crate::error::ApiError;
use crate::key_cache::KeyCache;
use crate::response::json_response;
use crate::runtime::{self, Outcome};
use crate::startup::{Startup, StartupError};
use crate::store::Store;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde::Serialize;
use std::sync::Arc;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeySelf {
    success: bool,
    id: String,
    name: String,
    prefix: String,
    mode: KeyMode,
    created_at: String,
    /// `null` for a key that does not expire.
    expires_at: Option<String>,
    /// `null` for a key without limits.
    limits: Option<Limits>,
}

/// check-key's state: the store, and the API keys this instance has resolved (so a warm check
/// is one read of the key's own record).
pub struct State {
    pub store: Arc<dyn Store>,
    pub keys: KeyCache,
}

impl runtime::State for State {
    fn build(startup: Startup) -> Result<Self, StartupError> {
        Ok(State {
            store: startup.store()?,
            keys: KeyCache::default(),
        })
    }
}

pub async fn handle(state: &State, req: Request) -> Outcome {
    let (hash, _) = presented_api_key(&req)?;
    let key = state
        .keys
        .resolve(state.store.as_ref(), &hash)
        .await?
        .ok_or(ApiError::InvalidKey)?;
    let Some(live) = state.store.live_key(&key, clock::now()).await? else {
        // Deleted, leaked or expired: it can never be live again.
        state.keys.forget(&hash);
        return Err(ApiError::InvalidKey);
    };
    Ok(json_response(
        StatusCode::OK,
        &KeySelf {
            success: true,
            mode: live.mode(),
            id: live.id.to_string(),
            name: live.name.into(),
            prefix: live.prefix,
            created_at: clock::rfc3339(live.created_at),
            expires_at: live.expires_at.map(clock::rfc3339),
            limits: Limits::of(live.sessions_per_day),
        },
    ))
}
