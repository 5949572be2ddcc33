//! `POST /api/v1/webhooks/{id}/test`: send the endpoint a `webhook.test` event now, signed as
//! every event is, and answer with the attempt (kept in its delivery log too). The attempt
//! waits as long as the request can: 10 s in AWS (the function's deadline is longer), less
//! where the deadline is shorter.

use super::delete_webhook::webhook_id;
use super::webhook_delivery_view::DeliveryView;
use crate::clock;
use crate::console_auth::ConsoleVerifier;
use crate::error::ApiError;
use crate::response::json_response;
use crate::runtime::{self, Outcome};
use crate::sealed::{EndpointBinding, Seal};
use crate::startup::{Startup, StartupError};
use crate::store::Store;
use crate::store::webhooks::DeliveryAttempt;
use crate::webhooks::delivery::{Event, Sender};
use crate::webhooks::guard::{Policy, SystemResolver};
use crate::webhooks::signing::SigningSecret;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// What the attempt leaves of the request's deadline: time to record it and answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(1500);

#[derive(Serialize)]
struct TestSent {
    success: bool,
    delivery: DeliveryView,
}

/// test-webhook's state: the console's, the key that opens signing secrets, and the sender.
pub struct State {
    pub store: Arc<dyn Store>,
    pub console: ConsoleVerifier,
    pub seal: Seal,
    pub sender: Sender,
}

impl runtime::State for State {
    /// The sealing key comes from an SSM parameter in AWS.
    async fn startup() -> Result<Startup, StartupError> {
        Startup::from_process_env::<true>().await
    }

    fn build(startup: Startup) -> Result<Self, StartupError> {
        let config = &startup.config;
        let policy = Policy {
            allow_local: config.webhooks.allow_local,
        };
        let room = config.request_deadline.saturating_sub(ANSWER_MARGIN);
        Ok(State {
            seal: Seal::from_source(config.webhook_sealing_key()?)?,
            sender: Sender::new(Arc::new(SystemResolver), policy).with_timeout(room),
            console: startup.console()?,
            store: startup.store()?,
        })
    }

    async fn warm(&self) {
        self.console.prefetch().await;
    }
}

pub async fn handle(state: &State, req: Request) -> Outcome {
    let req = &req;
    let account = super::console_account(&state.console, req).await?;
    let id = webhook_id(req, "/test").ok_or(ApiError::WebhookNotFound)?;
    let (endpoint, sealed) = state
        .store
        .webhook_secret(&account, &id)
        .await?
        .ok_or(ApiError::WebhookNotFound)?;
    let binding = EndpointBinding {
        account: account.as_str(),
        endpoint: id.as_str(),
    };
    // A secret that does not open was altered or moved: never sent with, and logged.
    let secret = state
        .seal
        .open(binding, &sealed)
        .ok()
        .and_then(|text| SigningSecret::parse(&text))
        .ok_or_else(|| {
            tracing::error!(webhook_id = %id, "a webhook secret did not open; nothing was sent");
            ApiError::Internal
        })?;
    let event = Event {
        id: format!("msg_{}", crate::ids::new_ulid()),
        kind: "webhook.test".into(),
        timestamp: clock::now(),
        data: json!({"webhookId": id.as_str()}),
    };
    let sent = state.sender.send(&endpoint.url, &secret, &event).await;
    let attempt = DeliveryAttempt {
        id: crate::ids::new_ulid().to_string(),
        webhook: id,
        event_id: event.id,
        event_type: event.kind,
        attempt: 1,
        status: sent.status,
        latency_ms: sent.latency.as_millis() as u64,
        error: sent.error,
        at: event.timestamp,
    };
    state.store.record_delivery(&account, &attempt).await?;
    tracing::info!(webhook_id = %attempt.webhook, delivered = attempt.error.is_none(), "webhook test event sent");
    Ok(json_response(
        StatusCode::OK,
        &TestSent {
            success: true,
            delivery: DeliveryView::of(attempt),
        },
    ))
}
