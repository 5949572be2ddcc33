//! `GET /api/v1/credits`: the signed-in account's balance, as the console shows it.

use crate::response::json_response;
use crate::runtime::Outcome;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde::Serialize;

#[derive(Serialize)]
struct Credits {
    success: bool,
    credits: u64,
}

/// The console state of this endpoint.
pub use super::ConsoleEndpoint as State;

pub async fn handle(state: &State, req: Request) -> Outcome {
    let req = &req;
    let account = state.account(req).await?;
    // An account comes into being with its first key, holding the free credits; until then
    // the console shows what it will start with rather than a misleading 0.
    let credits = match state.store.balance(&account).await? {
        Some(balance) => balance.credits,
        None => state.free_credits,
    };
    Ok(json_response(
        StatusCode::OK,
        &Credits {
            success: true,
            credits,
        },
    ))
}
