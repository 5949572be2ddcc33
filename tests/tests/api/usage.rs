//! `GET /api/v1/usage`, on the embedded store (the counts themselves are a conformance case on
//! both stores; the lag of DynamoDB's counters is shown in `tests/tests/dynamodb/ledger.rs`).

use common::clock;
use lambda_http::RequestExt;
use serde_json::Value;
use std::collections::HashMap;
use tests::*;

/// The `usage` fixture with this query string.
fn usage_request(params: &[(&str, String)]) -> lambda_http::Request {
    let params: HashMap<String, String> = params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    fixture("usage").with_query_string_parameters(params)
}

#[tokio::test]
async fn usage_answers_each_keys_sessions_per_bucket_with_names_and_totals() {
    // GIVEN the fixture key used three times, and another key used once and then deleted
    let t = app_with_key().await;
    let (_, other, _) = parts(t.app.create_key(fixture("create-key")).await);
    let other_id = other["id"].as_str().unwrap().to_string();
    t.store()
        .grant_credits(&account(FIXTURE_ACCOUNT), 10, "usage", clock::now())
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            t.app.create_session(fixture("create-session")).await.status(),
            200
        );
    }
    let mut session = fixture("create-session");
    let bearer = format!("Bearer {}", other["key"].as_str().unwrap());
    session
        .headers_mut()
        .insert("authorization", bearer.parse().unwrap());
    assert_eq!(t.app.create_session(session).await.status(), 200);
    let gone = common::ids::KeyId::parse(&other_id).unwrap();
    assert!(
        t.store()
            .delete_key(&account(FIXTURE_ACCOUNT), &gone, clock::now(), Default::default())
            .await
            .unwrap()
    );
    // WHEN the last two hours or so are asked for by the hour
    let now = clock::now();
    let (from, to) = (now - time::Duration::hours(1), now + time::Duration::minutes(1));
    let (status, body, _) = parts(
        t.app
            .usage(usage_request(&[
                ("from", clock::rfc3339(from)),
                ("to", clock::rfc3339(to)),
                ("granularity", "hour".into()),
            ]))
            .await,
    );
    // THEN every bucket of the range is a point of each key's series, the busiest key first,
    // the deleted key without a name, and the totals add up
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        field_names(&body),
        [
            "caughtUpTo",
            "from",
            "granularity",
            "series",
            "success",
            "to",
            "totals"
        ]
    );
    assert_eq!(body["granularity"], "hour");
    let (start, end) = (
        clock::parse_rfc3339(body["from"].as_str().unwrap()).unwrap(),
        clock::parse_rfc3339(body["to"].as_str().unwrap()).unwrap(),
    );
    assert!(
        start <= from && to <= end && (end - start).whole_hours() <= 3,
        "{body}"
    );
    let series = body["series"].as_array().unwrap();
    let summary: Vec<(&str, &Value, u64)> = series
        .iter()
        .map(|s| {
            let total = s["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["sessions"].as_u64().unwrap())
                .sum();
            (s["keyId"].as_str().unwrap(), &s["name"], total)
        })
        .collect();
    assert_eq!(
        summary,
        [
            (FIXTURE_KEY_ID, &Value::from("Seeded"), 3),
            (other_id.as_str(), &Value::Null, 1)
        ],
        "{body}"
    );
    for s in series {
        let starts: Vec<&str> = s["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["at"].as_str().unwrap())
            .collect();
        assert_eq!(
            starts.len() as i64,
            (end - start).whole_hours(),
            "one point per hour: {starts:?}"
        );
        assert_eq!(starts[0], body["from"].as_str().unwrap());
    }
    assert_eq!(body["totals"]["sessions"], 4);
    // (the embedded store counts in each session's own transaction: caught up to the answer)
    let caught_up = clock::parse_rfc3339(body["caughtUpTo"].as_str().unwrap()).unwrap();
    assert!(caught_up >= now && caught_up <= clock::now(), "{body}");

    // WHEN one key is asked for, by the day (the default)
    let (status, body, _) = parts(
        t.app
            .usage(usage_request(&[
                ("from", clock::rfc3339(from)),
                ("to", clock::rfc3339(to)),
                ("keyId", other_id.clone()),
            ]))
            .await,
    );
    // THEN only its series
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["granularity"], "day");
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{body}");
    assert_eq!(series[0]["keyId"], other_id.as_str());
    assert_eq!(body["totals"]["sessions"], 1);
}

#[tokio::test]
async fn usage_of_an_account_with_no_sessions_is_empty_not_an_error() {
    let t = TestApp::new();
    let now = clock::now();
    let (status, body, _) = parts(
        t.app
            .usage(usage_request(&[
                ("from", clock::rfc3339(now - time::Duration::days(90))),
                ("to", clock::rfc3339(now - time::Duration::days(1))),
            ]))
            .await,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["series"], serde_json::json!([]));
    assert_eq!(
        body["totals"],
        serde_json::json!({"sessions": 0, "testSessions": 0, "granted": 0})
    );
}
