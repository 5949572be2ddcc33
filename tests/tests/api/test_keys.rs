//! Test keys through the endpoints: `"mode":"test"` makes a `vp_test_` key, which opens
//! sessions from the account's daily test allowance and never spends a credit, says so in its
//! token and playground URL, and is listed, checked, rolled and counted as a test key.

use common::api_key::{KeyMode, has_valid_checksum};
use common::clock;
use lambda_http::{Body, RequestExt};
use serde_json::{Value, json};
use tests::*;

/// create-key's fixture with this body.
fn create_key_with(body: Value) -> lambda_http::Request {
    let mut req = fixture("create-key");
    *req.body_mut() = Body::from(body.to_string());
    req
}

/// create-session's fixture with this API key.
fn session_with(key: &str) -> lambda_http::Request {
    let mut req = fixture("create-session");
    let bearer = format!("Bearer {key}");
    req.headers_mut().insert("authorization", bearer.parse().unwrap());
    req
}

use tests::session_claims as claims_of;

/// Makes a key of `mode` (absent: none given) and returns the create-key answer.
async fn make(t: &TestApp, name: &str, mode: Option<&str>) -> Value {
    let mut body = json!({"name": name});
    if let Some(mode) = mode {
        body["mode"] = json!(mode);
    }
    let (status, body, _) = parts(t.app.create_key(create_key_with(body)).await);
    assert_eq!(status, 201, "{body}");
    body
}

#[tokio::test]
async fn a_test_key_is_made_listed_and_checked_as_one_and_keys_are_live_by_default() {
    let t = TestApp::new();
    // WHEN a key is made with "mode":"test" (the events/ fixture), one with "live" and one
    // without a mode
    let (status, test, _) = parts(t.app.create_key(fixture("create-key-test")).await);
    assert_eq!(status, 201, "{test}");
    let live = make(&t, "Production", Some("live")).await;
    let default = make(&t, "Default", None).await;
    // THEN the test key is vp_test_ with the same checksum scheme, and each answer says its mode
    let key = test["key"].as_str().unwrap();
    assert!(key.starts_with("vp_test_") && has_valid_checksum(key), "{key}");
    assert_eq!(test["prefix"], &key[..12]);
    assert_eq!(
        (
            test["mode"].as_str(),
            live["mode"].as_str(),
            default["mode"].as_str()
        ),
        (Some("test"), Some("live"), Some("live"))
    );
    assert!(default["key"].as_str().unwrap().starts_with("vp_live_"));
    // AND the list shows each key's mode
    let (status, list, _) = parts(t.app.list_keys(fixture("list-keys")).await);
    assert_eq!(status, 200, "{list}");
    let modes: Vec<_> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["name"].as_str().unwrap(), k["mode"].as_str().unwrap()))
        .collect();
    assert_eq!(
        modes,
        [("Default", "live"), ("Production", "live"), ("Staging", "test")]
    );
    // AND the key learns its own mode from the validity check
    let mut check = fixture("check-key");
    check
        .headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let (status, own, _) = parts(t.app.check_key(check).await);
    assert_eq!((status, own["mode"].as_str()), (200, Some("test")), "{own}");
}

#[tokio::test]
async fn a_test_session_spends_no_credit_says_test_and_stops_at_the_allowance_with_retry_after() {
    // GIVEN an allowance of 2 test sessions a day, and a test key on an account whose 3 free
    // credits a live key has spent
    let t = TestApp::with(&[("VP_TEST_SESSIONS_PER_DAY", "2")]);
    let test = make(&t, "Staging", Some("test")).await;
    let live = make(&t, "Production", None).await;
    let live_key = live["key"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(t.app.create_session(session_with(live_key)).await.status(), 200);
    }
    let (status, body, _) = parts(t.app.create_session(session_with(live_key)).await);
    assert_error(status, &body, 402, "Insufficient credits");
    // WHEN the test key opens two sessions
    let test_key = test["key"].as_str().unwrap();
    for _ in 0..2 {
        let (status, body, _) = parts(t.app.create_session(session_with(test_key)).await);
        // THEN each opens at balance 0, says test, and so do its token and playground URL
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            field_names(&body),
            [
                "credits",
                "expiresIn",
                "mode",
                "playgroundUrl",
                "success",
                "token"
            ]
        );
        assert_eq!(
            (body["credits"].as_u64(), body["mode"].as_str()),
            (Some(0), Some("test"))
        );
        let token = body["token"].as_str().unwrap();
        assert_eq!(
            body["playgroundUrl"],
            format!("https://visionpipe3d.quochuy.dev/playground?token={token}&mode=test")
        );
        assert_eq!(claims_of(&t, token).mode, KeyMode::Test);
    }
    // AND the third is 429 test_limit_reached, retrying at the next UTC midnight
    let (status, body, headers) = parts(t.app.create_session(session_with(test_key)).await);
    assert_error(
        status,
        &body,
        429,
        "Test session limit reached: test keys share a daily allowance; live keys are not affected",
    );
    assert_eq!(body["code"], "test_limit_reached");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(retry, clock::seconds_to_next_utc_day(clock::now()));
    // AND a live session's token says live
    t.store()
        .grant_credits(&account(FIXTURE_ACCOUNT), 1, "top-up", clock::now())
        .await
        .unwrap();
    let (status, body, _) = parts(t.app.create_session(session_with(live_key)).await);
    assert_eq!((status, body["mode"].as_str()), (200, Some("live")), "{body}");
    assert_eq!(claims_of(&t, body["token"].as_str().unwrap()).mode, KeyMode::Live);
    assert!(!body["playgroundUrl"].as_str().unwrap().contains("mode="));
    // AND only the live sessions moved credits
    let balance = t
        .store()
        .balance(&account(FIXTURE_ACCOUNT))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((balance.credits, balance.debited, balance.granted), (0, 4, 4));
}

#[tokio::test]
async fn a_rolled_test_key_stays_a_test_key_and_usage_keeps_test_sessions_apart() {
    let t = TestApp::new();
    let test = make(&t, "Staging", Some("test")).await;
    let live = make(&t, "Production", None).await;
    for key in [&test, &test, &live] {
        let key = key["key"].as_str().unwrap();
        assert_eq!(t.app.create_session(session_with(key)).await.status(), 200);
    }
    // WHEN usage is asked for today
    let now = clock::now();
    let params = [
        ("from".to_string(), clock::rfc3339(now - time::Duration::hours(1))),
        ("to".to_string(), clock::rfc3339(now + time::Duration::minutes(1))),
    ];
    let (status, usage, _) = parts(
        t.app
            .usage(fixture("usage").with_query_string_parameters(
                params.into_iter().collect::<std::collections::HashMap<_, _>>(),
            ))
            .await,
    );
    // THEN each series says its key's mode, and the totals keep test sessions apart
    assert_eq!(status, 200, "{usage}");
    let series: Vec<_> = usage["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["mode"].as_str().unwrap()))
        .collect();
    assert_eq!(series, [("Staging", "test"), ("Production", "live")]);
    assert_eq!(
        usage["totals"],
        json!({"sessions": 1, "testSessions": 2, "granted": 3})
    );
    // WHEN the test key is rolled THEN its successor is a test key too
    let id = test["id"].as_str().unwrap();
    let roll = fixture("roll-key").with_path_parameters(std::collections::HashMap::from([(
        "id".to_string(),
        id.to_string(),
    )]));
    let (status, rolled, _) = parts(t.app.roll_key(roll).await);
    assert_eq!(status, 201, "{rolled}");
    assert_eq!(rolled["mode"], "test");
    assert!(rolled["key"].as_str().unwrap().starts_with("vp_test_"));
}

#[tokio::test]
async fn secret_scanning_revokes_a_leaked_test_key_reported_under_its_own_token_type() {
    let t = TestApp::new();
    let test = make(&t, "Staging", Some("test")).await;
    let key = test["key"].as_str().unwrap();
    // WHEN GitHub reports the key under the test keys' token type
    let report = json!([{"token": key, "type": "visionpipe_test_api_key", "url": "https://github.com/o/r/blob/1/.env", "source": "content"}]);
    let (status, verdicts, _) = parts(
        t.app
            .secret_scanning(reports::signed_report(&t.app.config, &report.to_string()))
            .await,
    );
    // THEN it is ours, answered under the type it was reported as, and revoked at once
    assert_eq!(status, 200, "{verdicts}");
    assert_eq!(
        (verdicts[0]["label"].as_str(), verdicts[0]["token_type"].as_str()),
        (Some("true_positive"), Some("visionpipe_test_api_key"))
    );
    let (status, body, _) = parts(t.app.create_session(session_with(key)).await);
    assert_error(status, &body, 401, "Invalid API key");
}
