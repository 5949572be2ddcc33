//! Every hostile or malformed request in `tests::bad_input` (handler level): each gets its
//! documented 4xx in the contract's JSON form, never a 5xx, and changes nothing. Requests are
//! dispatched the way the routes send them (unmatched ones to the fallback function).

use common::handlers::{create_key, create_session, delete_key, fallback, list_keys};
use common::store::Store;
use serde_json::json;
use tests::bad_input::{Case, Credentials};
use tests::*;

fn event(case: &Case) -> lambda_http::Request {
    let (body, base64) = match std::str::from_utf8(&case.body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => {
            use base64::Engine;
            (base64::engine::general_purpose::STANDARD.encode(&case.body), true)
        }
    };
    let headers: serde_json::Map<String, serde_json::Value> = case.headers.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let segments: Vec<&str> = case.path.split('/').collect();
    let mut e = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": case.path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": {"method": case.method, "path": case.path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "bad-input"},
            "requestId": "bad-input", "routeKey": "$default", "stage": "$default", "accountId": "1", "apiId": "t",
            "domainName": "t", "domainPrefix": "t", "time": "27/Nov/2026:02:00:00 +0000", "timeEpoch": 0
        },
        "isBase64Encoded": base64,
    });
    if !case.body.is_empty() {
        e["body"] = json!(body);
    }
    if segments.len() == 5 && case.path.starts_with("/api/v1/keys/") {
        e["pathParameters"] = json!({"id": segments[4]});
    }
    lambda_http::request::from_str(&e.to_string()).expect("valid event")
}

async fn snapshot(store: &dyn Store) -> String {
    let a = account(FIXTURE_ACCOUNT);
    let now = common::clock::now();
    format!(
        "{:?} {:?} {} {}",
        store.list_keys(&a).await.unwrap(),
        store.balance(&a).await.unwrap(),
        store.ledger(&a, now).await.unwrap().len(),
        store.audit_events(&a, now).await.unwrap().len()
    )
}

#[tokio::test]
async fn every_bad_request_gets_its_documented_4xx_and_changes_nothing() {
    // GIVEN a working key and console token for the fixture account
    let t = TestApp::new();
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    let credentials = Credentials { console: t.app.config.console().unwrap().clone(), account: FIXTURE_ACCOUNT.into(), api_key: KEY_OK.into() };
    let cases = credentials.cases();
    let before = snapshot(t.store()).await;

    let mut failures = Vec::new();
    for case in &cases {
        // WHEN the request arrives at whichever function the routes give it to
        let req = event(case);
        let response = match common::routes::function_for(case.method, &case.path) {
            Some("create-key") => create_key::handle(&t.app, req).await,
            Some("list-keys") => list_keys::handle(&t.app, req).await,
            Some("delete-key") => delete_key::handle(&t.app, req).await,
            Some("create-session") => create_session::handle(&t.app, req).await,
            _ => fallback::handle(req).await,
        };
        // THEN exactly the documented status and message, in the contract's JSON form
        let (status, body, headers) = parts(response);
        let ok = status == case.status
            && body["success"] == false
            && body["error"] == case.error
            && body["code"].is_string()
            && headers["content-type"] == "application/json"
            && (status != 405 || headers.contains_key("allow"));
        if !ok {
            failures.push(format!("{}: got {status} {body}, want {} {:?}", case.name, case.status, case.error));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases wrong:\n{}", failures.len(), cases.len(), failures.join("\n"));
    // AND nothing changed
    assert_eq!(snapshot(t.store()).await, before);
    eprintln!("bad-input cases (handler level): {}", cases.len());
    assert!(cases.len() >= 50);
}

#[tokio::test]
async fn a_request_for_someone_elses_key_is_not_found_and_changes_nothing() {
    // GIVEN the fixture key belongs to another account
    let t = TestApp::new();
    seed_key(t.store(), "acct_victim", FIXTURE_KEY_ID, KEY_OK).await;
    let before = format!("{:?} {:?}", t.store().list_keys(&account("acct_victim")).await.unwrap(), t.store().balance(&account("acct_victim")).await.unwrap());
    // WHEN the fixture account lists, deletes it
    let (_, listed, _) = parts(list_keys::handle(&t.app, fixture("list-keys")).await);
    assert_eq!(listed["keys"], json!([]), "never another account's keys");
    let (status, body, _) = parts(delete_key::handle(&t.app, fixture("delete-key")).await);
    assert_eq!((status, body["error"].as_str()), (404, Some("API key not found")));
    // THEN the victim's key and balance are untouched
    let after = format!("{:?} {:?}", t.store().list_keys(&account("acct_victim")).await.unwrap(), t.store().balance(&account("acct_victim")).await.unwrap());
    assert_eq!(before, after);
}
