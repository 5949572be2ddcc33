//! `POST /api/v1/webhooks`: the signed-in account adds an endpoint for its events. The answer
//! shows the endpoint's signing secret (`whsec_…`) this once; the store keeps it sealed.

use super::webhook_body::{WebhookView, description, events};
use crate::clock;
use crate::console_auth::ConsoleVerifier;
use crate::error::ApiError;
use crate::ids::WebhookId;
use crate::request::json_body;
use crate::response::json_response;
use crate::runtime::{self, Outcome};
use crate::sealed::{EndpointBinding, Seal};
use crate::startup::{Startup, StartupError};
use crate::store::Store;
use crate::store::webhooks::{NewWebhook, WebhookCreation, WebhookRecord};
use crate::webhooks::guard::{self, Policy, Refused, Resolve, SystemResolver};
use crate::webhooks::signing::SigningSecret;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateWebhookBody {
    url: serde_json::Value,
    events: serde_json::Value,
    #[serde(default)]
    description: Option<serde_json::Value>,
}

const EXPECTED: &str = r#"a JSON object {"url": "https://…", "events": ["credits.low", …], "description": "<optional, at most 256 characters>"}"#;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedWebhook<'a> {
    success: bool,
    #[serde(flatten)]
    endpoint: WebhookView,
    /// Shown in this response only; the store keeps it sealed.
    secret: &'a str,
}

/// create-webhook's state: the console's, the key that seals signing secrets, and how hosts
/// are resolved (the system's; tests give their own).
pub struct State {
    pub store: Arc<dyn Store>,
    pub console: ConsoleVerifier,
    pub seal: Seal,
    pub resolver: Arc<dyn Resolve>,
    pub policy: Policy,
}

impl runtime::State for State {
    /// The sealing key comes from an SSM parameter in AWS.
    async fn startup() -> Result<Startup, StartupError> {
        Startup::from_process_env::<true>().await
    }

    fn build(startup: Startup) -> Result<Self, StartupError> {
        let config = &startup.config;
        Ok(State {
            seal: Seal::from_source(config.webhook_sealing_key()?)?,
            policy: Policy {
                allow_local: config.webhooks.allow_local,
            },
            console: startup.console()?,
            store: startup.store()?,
            resolver: Arc::new(SystemResolver),
        })
    }

    async fn warm(&self) {
        self.console.prefetch().await;
    }
}

pub async fn handle(state: &State, req: Request) -> Outcome {
    let req = &req;
    let account = super::console_account(&state.console, req).await?;
    let body: CreateWebhookBody = json_body(req, EXPECTED)?
        .ok_or_else(|| ApiError::BadRequest(format!("Request body must be {EXPECTED}")))?;
    let url = body
        .url
        .as_str()
        .ok_or_else(|| ApiError::BadRequest(Refused::NotAUrl.to_string()))?;
    let endpoint = guard::parse(url, state.policy).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let events = events(&body.events)?;
    let description = description(body.description.as_ref())?;
    // Where the host points now: a private or metadata address is refused here, and again at
    // every delivery (it may point elsewhere by then).
    guard::checked_addresses(
        state.resolver.as_ref(),
        &endpoint.host,
        endpoint.port,
        state.policy,
    )
    .await
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;

    let id = WebhookId::generate();
    let secret = SigningSecret::generate();
    let sealed_secret = state
        .seal
        .seal(
            EndpointBinding {
                account: account.as_str(),
                endpoint: id.as_str(),
            },
            secret.expose(),
        )
        .map_err(|_| ApiError::Internal)?;
    let hook = NewWebhook {
        id,
        account,
        url: url.to_string(),
        events,
        description,
        sealed_secret,
        created_at: clock::now(),
    };
    if state.store.create_webhook(hook.clone()).await? == WebhookCreation::TooMany {
        return Err(ApiError::TooManyWebhooks);
    }
    tracing::info!(webhook_id = %hook.id, "webhook endpoint created");
    let record = WebhookRecord {
        id: hook.id,
        url: hook.url,
        events: hook.events,
        description: hook.description,
        created_at: hook.created_at,
        failing_since: None,
    };
    Ok(json_response(
        StatusCode::CREATED,
        &CreatedWebhook {
            success: true,
            endpoint: WebhookView::of(record),
            secret: secret.expose(),
        },
    ))
}
