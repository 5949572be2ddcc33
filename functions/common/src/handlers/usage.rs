//! `GET /api/v1/usage?from=&to=&granularity=hour|day[&keyId=]`: sessions per key and credits
//! granted, per UTC hour or day, for the signed-in account (the console's chart). Whole
//! buckets: `from` is rounded down and `to` up; at most 7 days of hours or 90 days of days.
//! Every bucket of the range is a point of each key's series, zeros included; only keys with
//! a session in the range have one. `caughtUpTo` says how far the counts are exact (on
//! DynamoDB they are written from the table's stream, seconds behind the sessions).

use crate::api_key::KeyMode;
use crate::clock;
use crate::error::ApiError;
use crate::ids::KeyId;
use crate::response::json_response;
use crate::runtime::Outcome;
use crate::store::usage::{Granularity, UsageQuery};
use lambda_http::http::StatusCode;
use lambda_http::{Request, RequestExt};
use serde::Serialize;
use std::collections::HashMap;
use time::OffsetDateTime;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageReport {
    success: bool,
    granularity: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    to: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    caught_up_to: OffsetDateTime,
    series: Vec<Series>,
    totals: Totals,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Series {
    key_id: String,
    /// `null` for a key deleted since.
    name: Option<String>,
    /// `test` for a test key, whose sessions spent no credit.
    mode: KeyMode,
    points: Vec<Point>,
}

#[derive(Serialize)]
struct Point {
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    sessions: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Totals {
    /// Live keys' sessions: the credits spent.
    sessions: u64,
    /// Test keys' sessions, which spent none.
    test_sessions: u64,
    granted: u64,
}

/// The console state of this endpoint.
pub use super::ConsoleEndpoint as State;

pub async fn handle(state: &State, req: Request) -> Outcome {
    let req = &req;
    let account = state.account(req).await?;
    let (query, key) = usage_request(req)?;
    let now = clock::now();
    let mut usage = state.store.usage(&account, &query, now).await?;
    if let Some(key) = &key {
        usage.sessions.retain(|id, _| id == key.as_str());
    }
    let names: HashMap<String, String> = state
        .store
        .list_keys(&account)
        .await?
        .into_iter()
        .map(|k| (k.id.to_string(), k.name.as_str().to_string()))
        .collect();
    let mut series: Vec<Series> = usage
        .sessions
        .into_iter()
        .map(|(key_id, counts)| Series {
            name: names.get(&key_id).cloned(),
            mode: match usage.test_keys.contains(&key_id) {
                true => KeyMode::Test,
                false => KeyMode::Live,
            },
            points: query
                .starts()
                .map(|at| Point {
                    at,
                    sessions: counts.get(&at).copied().unwrap_or(0),
                })
                .collect(),
            key_id,
        })
        .collect();
    // The busiest key first, then by id: the order a stacked chart and a table read best in.
    let total = |s: &Series| s.points.iter().map(|p| p.sessions).sum::<u64>();
    series.sort_by(|a, b| total(b).cmp(&total(a)).then_with(|| a.key_id.cmp(&b.key_id)));
    let of_mode = |mode| series.iter().filter(|s| s.mode == mode).map(total).sum();
    let (sessions, test_sessions) = (of_mode(KeyMode::Live), of_mode(KeyMode::Test));
    Ok(json_response(
        StatusCode::OK,
        &UsageReport {
            success: true,
            granularity: query.granularity.as_str(),
            from: query.from,
            to: query.to,
            caught_up_to: usage.caught_up_to.min(now),
            series,
            totals: Totals {
                sessions,
                test_sessions,
                granted: usage.granted,
            },
        },
    ))
}

/// The query string: `from` and `to` (RFC 3339), `granularity` (`hour` or `day`, `day` when
/// absent) and `keyId`; each at most once, nothing else.
fn usage_request(req: &Request) -> Result<(UsageQuery, Option<KeyId>), ApiError> {
    let params = req.query_string_parameters();
    let (mut from, mut to, mut granularity, mut key) = (None, None, Granularity::Day, None);
    for (name, _) in params.iter() {
        let values = params.all(name).unwrap_or_default();
        if values.len() > 1 {
            return Err(bad(
                "Query parameters from, to, granularity and keyId may be given once each",
            ));
        }
        let value = values[0];
        let time = |what: &str| {
            clock::parse_rfc3339(value).map_err(|_| {
                ApiError::BadRequest(format!(
                    "{what} must be an RFC 3339 time, such as 2026-12-01T00:00:00Z"
                ))
            })
        };
        match name {
            "from" => from = Some(time("from")?),
            "to" => to = Some(time("to")?),
            "granularity" => {
                granularity =
                    Granularity::parse(value).ok_or_else(|| bad("granularity must be hour or day"))?;
            }
            "keyId" => {
                key = Some(KeyId::parse(value).ok_or_else(|| bad("keyId is not a key id this API issued"))?)
            }
            // Not echoed: the name is the caller's text.
            _ => {
                return Err(bad(
                    "Unknown query parameter: expected from, to, granularity or keyId",
                ));
            }
        }
    }
    let (Some(from), Some(to)) = (from, to) else {
        return Err(bad("from and to are required (RFC 3339 times)"));
    };
    let query = UsageQuery::covering(from, to, granularity).ok_or_else(|| bad("to must be after from"))?;
    if query.buckets() > granularity.max_buckets() {
        return Err(bad(match granularity {
            Granularity::Hour => {
                "A range of at most 7 days with granularity=hour (use granularity=day for longer)"
            }
            Granularity::Day => "A range of at most 90 days with granularity=day",
        }));
    }
    Ok((query, key))
}

fn bad(message: &str) -> ApiError {
    ApiError::BadRequest(message.to_string())
}
