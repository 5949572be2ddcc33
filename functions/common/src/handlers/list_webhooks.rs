//! `GET /api/v1/webhooks`: the signed-in account's webhook endpoints, oldest first, without
//! their secrets.

use super::webhook_body::WebhookView;
use crate::response::json_response;
use crate::runtime::Outcome;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde::Serialize;

#[derive(Serialize)]
struct WebhookList {
    success: bool,
    webhooks: Vec<WebhookView>,
}

/// The console state of this endpoint.
pub use super::ConsoleEndpoint as State;

pub async fn handle(state: &State, req: Request) -> Outcome {
    let account = state.account(&req).await?;
    let webhooks = state
        .store
        .list_webhooks(&account)
        .await?
        .into_iter()
        .map(WebhookView::of)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &WebhookList {
            success: true,
            webhooks,
        },
    ))
}
