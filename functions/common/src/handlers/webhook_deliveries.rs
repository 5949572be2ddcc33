//! `GET /api/v1/webhooks/{id}/deliveries`: an endpoint's recent delivery attempts, newest
//! first, a page at a time (`?limit=1..100`, default 50, and `?cursor=` from `nextCursor`),
//! each with its status code, latency and error. Kept 30 days.

use super::audit::page_request;
use super::delete_webhook::webhook_id;
use super::webhook_delivery_view::DeliveryView;
use crate::clock;
use crate::error::ApiError;
use crate::response::json_response;
use crate::runtime::Outcome;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryPage {
    success: bool,
    deliveries: Vec<DeliveryView>,
    next_cursor: Option<String>,
}

/// The console state of this endpoint.
pub use super::ConsoleEndpoint as State;

pub async fn handle(state: &State, req: Request) -> Outcome {
    let req = &req;
    let account = state.account(req).await?;
    let id = webhook_id(req, "/deliveries").ok_or(ApiError::WebhookNotFound)?;
    let (limit, cursor) = page_request(req)?;
    // Another account's endpoint (or none) is the same 404: nothing can be probed.
    if state.store.webhook_secret(&account, &id).await?.is_none() {
        return Err(ApiError::WebhookNotFound);
    }
    let mut attempts = state
        .store
        .deliveries(&account, &id, clock::now(), cursor.as_deref(), limit + 1)
        .await?;
    let next_cursor = if attempts.len() > limit {
        attempts.truncate(limit);
        attempts.last().map(|a| a.id.clone())
    } else {
        None
    };
    Ok(json_response(
        StatusCode::OK,
        &DeliveryPage {
            success: true,
            deliveries: attempts.into_iter().map(DeliveryView::of).collect(),
            next_cursor,
        },
    ))
}
