//! `GET /api/v1/audit`: the signed-in account's audit trail (the last 90 days), newest first,
//! a page at a time: `?limit=1..100` (default 50) and `?cursor=` from the previous page's
//! `nextCursor` (`null` on the last page).

use crate::clock;
use crate::error::ApiError;
use crate::response::json_response;
use crate::runtime::Outcome;
use crate::store::AuditEvent;
use lambda_http::http::StatusCode;
use lambda_http::{Request, RequestExt};
use serde::Serialize;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditPage {
    success: bool,
    events: Vec<AuditEvent>,
    next_cursor: Option<String>,
}

/// The console state of this endpoint.
pub use super::ConsoleEndpoint as State;

pub async fn handle(state: &State, req: Request) -> Outcome {
    let req = &req;
    let account = state.account(req).await?;
    let (limit, cursor) = page_request(req)?;
    // One more than asked says whether another page follows.
    let mut events = state
        .store
        .audit_page(&account, clock::now(), cursor.as_deref(), limit + 1)
        .await?;
    let next_cursor = if events.len() > limit {
        events.truncate(limit);
        events.last().map(|e| e.id.clone())
    } else {
        None
    };
    Ok(json_response(
        StatusCode::OK,
        &AuditPage {
            success: true,
            events,
            next_cursor,
        },
    ))
}

/// `limit` and `cursor` from the query string; anything else there is a mistake worth naming.
/// (The delivery log pages the same way.)
pub(super) fn page_request(req: &Request) -> Result<(usize, Option<String>), ApiError> {
    let params = req.query_string_parameters();
    let mut limit = DEFAULT_LIMIT;
    let mut cursor = None;
    for (name, _) in params.iter() {
        let values = params.all(name).unwrap_or_default();
        if values.len() > 1 {
            return Err(bad(
                "Query parameters limit and cursor may be given once each".into()
            ));
        }
        let value = values[0];
        match name {
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| bad(format!("limit must be a whole number from 1 to {MAX_LIMIT}")))?;
            }
            // Cursors are event ids: ULIDs in their canonical (upper-case) form. Anything else
            // was not issued by this API.
            "cursor" => match ulid::Ulid::from_string(value) {
                Ok(id) if id.to_string() == value => cursor = Some(value.to_string()),
                _ => return Err(bad("cursor is not one this API issued".into())),
            },
            // Not echoed: the name is the caller's text.
            _ => return Err(bad("Unknown query parameter: expected limit or cursor".into())),
        }
    }
    Ok((limit, cursor))
}

fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}
