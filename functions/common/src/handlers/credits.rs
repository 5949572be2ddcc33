//! `GET /api/v1/credits`: the signed-in account's balance, as the console shows it.

use super::{console_account, finish, within_deadline};
use crate::App;
use crate::error::ApiError;
use crate::response::json_response;
use crate::routes::{self, Route};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

#[derive(Serialize)]
struct Credits {
    success: bool,
    credits: u64,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    finish(&req, within_deadline(app, credits(app, &req)).await)
}

async fn credits(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    routes::expect(req, Route::Credits)?;
    let account = console_account(app, req).await?;
    // An account comes into being with its first key, holding the free credits; until then
    // the console shows what it will start with rather than a misleading 0.
    let credits = match app.store.balance(&account).await? {
        Some(balance) => balance.credits,
        None => app.config.free_credits,
    };
    Ok(json_response(
        StatusCode::OK,
        &Credits {
            success: true,
            credits,
        },
    ))
}
