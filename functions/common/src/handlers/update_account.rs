//! `PUT /api/v1/account`: the signed-in account's settings. Today one: `lowCreditThreshold`,
//! the balance at which its debits raise `credits.low` (the deployment's
//! `VP_LOW_CREDIT_THRESHOLD` until it sets one).

use crate::clock;
use crate::error::ApiError;
use crate::request::json_body;
use crate::response::json_response;
use crate::runtime::Outcome;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde::{Deserialize, Serialize};

/// The largest threshold an account may set.
pub const MAX_THRESHOLD: u64 = 1_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AccountBody {
    low_credit_threshold: serde_json::Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountSettings {
    success: bool,
    low_credit_threshold: u64,
}

const EXPECTED: &str = r#"a JSON object {"lowCreditThreshold": <1-1000000>}"#;

/// The console state of this endpoint.
pub use super::ConsoleEndpoint as State;

pub async fn handle(state: &State, req: Request) -> Outcome {
    let req = &req;
    let account = state.account(req).await?;
    let body: AccountBody = json_body(req, EXPECTED)?
        .ok_or_else(|| ApiError::BadRequest(format!("Request body must be {EXPECTED}")))?;
    let threshold = body
        .low_credit_threshold
        .as_u64()
        .filter(|n| (1..=MAX_THRESHOLD).contains(n))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "lowCreditThreshold must be a whole number from 1 to {MAX_THRESHOLD}"
            ))
        })?;
    state
        .store
        .set_low_credit_threshold(&account, threshold, clock::now())
        .await?;
    tracing::info!(threshold, "low-credit threshold set");
    Ok(json_response(
        StatusCode::OK,
        &AccountSettings {
            success: true,
            low_credit_threshold: threshold,
        },
    ))
}
