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
use crate::startup::{Startup, StartupError};
use crate::webhooks::deliverer::Deliverer;
use crate::webhooks::delivery::Event;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use std::time::Duration;

/// What the attempt leaves of the request's deadline: time to record it and answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(1500);

#[derive(Serialize)]
struct TestSent {
    success: bool,
    delivery: DeliveryView,
}

/// test-webhook's state: the console's, and the deliverer (the key that opens signing
/// secrets, the sender) the sender function uses too.
pub struct State {
    pub console: ConsoleVerifier,
    pub deliverer: Deliverer,
}

impl runtime::State for State {
    /// The sealing key comes from an SSM parameter in AWS.
    async fn startup() -> Result<Startup, StartupError> {
        Startup::from_process_env::<true>().await
    }

    fn build(startup: Startup) -> Result<Self, StartupError> {
        let room = startup.config.request_deadline.saturating_sub(ANSWER_MARGIN);
        let deliverer = startup.deliverer()?;
        Ok(State {
            deliverer: Deliverer {
                sender: deliverer.sender.with_timeout(room),
                ..deliverer
            },
            console: startup.console()?,
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
    let event = Event {
        id: format!("msg_{}", crate::ids::new_ulid()),
        kind: "webhook.test".into(),
        timestamp: clock::now(),
        data: json!({"webhookId": id.as_str()}),
    };
    let sent = state
        .deliverer
        .attempt(&account, &id, &event, 1)
        .await?
        .ok_or(ApiError::WebhookNotFound)?;
    tracing::info!(webhook_id = %id, delivered = sent.kept.error.is_none(), "webhook test event sent");
    Ok(json_response(
        StatusCode::OK,
        &TestSent {
            success: true,
            delivery: DeliveryView::of(sent.kept),
        },
    ))
}
