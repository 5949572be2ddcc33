//! The endpoints, one module each: its [`crate::runtime::State`] (what it needs, built at cold
//! start) and its `handle`, which answers a request its function's routes matched. Expected
//! failures are `Err(ApiError)`, which the runtime maps to the contract's JSON errors
//! ([`crate::error`]), so Lambda never sees an invocation error.

use crate::api_key::{KeyHash, KeyMode, bearer_token, has_valid_checksum, is_well_formed};
use crate::console_auth::{ConsoleAuthError, ConsoleVerifier};
use crate::error::ApiError;
use crate::ids::AccountId;
use crate::runtime::State;
use crate::startup::{Startup, StartupError};
use crate::store::Store;
use lambda_http::Request;
use std::sync::Arc;

pub mod audit;
pub mod check_key;
pub mod console_page;
pub mod create_key;
pub mod create_session;
pub mod create_webhook;
pub mod credits;
pub mod delete_key;
pub mod delete_webhook;
pub mod fallback;
pub mod jwks;
pub mod list_keys;
pub mod list_webhooks;
pub mod roll_key;
pub mod secret_scanning;
pub mod test_webhook;
pub mod update_account;
pub mod usage;
mod webhook_body;
pub mod webhook_deliveries;
mod webhook_delivery_view;

/// The state of every endpoint the Cloud Console calls with a console token: the store, and
/// the verifier of console tokens (fetching the identity provider's key set at cold start).
pub struct ConsoleEndpoint {
    pub store: Arc<dyn Store>,
    pub console: ConsoleVerifier,
    /// Credits a new account starts with (the balance shown before the first key).
    pub free_credits: u64,
}

impl State for ConsoleEndpoint {
    fn build(startup: Startup) -> Result<Self, StartupError> {
        Ok(ConsoleEndpoint {
            console: startup.console()?,
            store: startup.store()?,
            free_credits: startup.config.free_credits,
        })
    }

    async fn warm(&self) {
        self.console.prefetch().await;
    }
}

impl ConsoleEndpoint {
    /// The console account behind `Authorization: Bearer <console JWT>`.
    async fn account(&self, req: &Request) -> Result<AccountId, ApiError> {
        console_account(&self.console, req).await
    }
}

/// The console account behind `Authorization: Bearer <console JWT>`, for endpoints whose
/// state is more than [`ConsoleEndpoint`].
pub(crate) async fn console_account(console: &ConsoleVerifier, req: &Request) -> Result<AccountId, ApiError> {
    let token = bearer_token(req.headers()).map_err(|_| ApiError::MissingAuthorization)?;
    console.verify(token).await.map_err(|e| match e {
        ConsoleAuthError::Invalid => ApiError::InvalidConsoleToken,
        ConsoleAuthError::KeysUnavailable => {
            tracing::error!("console token not checked: the identity provider's key set is unavailable");
            ApiError::Unavailable
        }
    })
}

/// The hash and mode of the API key in `Authorization: Bearer vp_live_…` (or `vp_test_…`), or
/// the 401 every endpoint that takes an API key gives. Only the form and checksum are checked
/// here: a look-alike that was never issued costs no store request. The mode is the key's
/// prefix, which its hash covers: a key's mode is what it was made with.
pub(crate) fn presented_api_key(req: &Request) -> Result<(KeyHash, KeyMode), ApiError> {
    let token = bearer_token(req.headers()).map_err(|_| ApiError::MissingAuthorization)?;
    if !is_well_formed(token) {
        return Err(ApiError::InvalidKeyFormat);
    }
    if !has_valid_checksum(token) {
        return Err(ApiError::InvalidKey);
    }
    Ok((KeyHash::of(token), KeyMode::of(token).unwrap_or_default()))
}
