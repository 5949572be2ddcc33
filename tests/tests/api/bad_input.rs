//! Every hostile or malformed request in `tests::bad_input` (handler level): each gets its
//! documented 4xx in the contract's JSON form, never a 5xx, and changes nothing. Requests are
//! dispatched the way the routes send them (unmatched ones to the fallback function).

use common::store::Store;
use serde_json::json;
use tests::bad_input::Credentials;
use tests::*;

async fn snapshot(store: &dyn Store) -> String {
    let a = account(FIXTURE_ACCOUNT);
    let now = common::clock::now();
    format!(
        "{:?} {:?} {} {}",
        store.list_keys(&a).await.unwrap(),
        store.balance(&a).await.unwrap(),
        store.ledger(&a).await.unwrap().len(),
        store.audit_events(&a, now).await.unwrap().len()
    )
}

#[tokio::test]
async fn every_bad_request_gets_its_documented_4xx_and_changes_nothing() {
    // GIVEN a working key and console token for the fixture account
    let t = TestApp::new();
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    let credentials = Credentials::for_config(&t.app.config, FIXTURE_ACCOUNT, KEY_OK);
    let cases = credentials.cases();
    let before = snapshot(t.store()).await;

    let mut failures = Vec::new();
    for case in &cases {
        // WHEN the request arrives at whichever function the routes give it to
        let response = t.app.dispatch(case.to_request()).await;
        // THEN exactly the documented status and message, in the contract's JSON form
        let (status, body, headers) = parts(response);
        let ok = status == case.status
            && body["success"] == false
            && body["error"] == case.error
            && body["code"].is_string()
            && headers["content-type"] == "application/json"
            && headers["x-content-type-options"] == "nosniff"
            && (status != 405 || headers.contains_key("allow"));
        if !ok {
            failures.push(format!(
                "{}: got {status} {body}, want {} {:?}",
                case.name, case.status, case.error
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // AND nothing changed
    assert_eq!(snapshot(t.store()).await, before);
    // Exact, so a case lost in an edit is noticed.
    assert_eq!(cases.len(), bad_input::CASES, "bad-input cases (handler level)");
}

#[tokio::test]
async fn a_request_for_someone_elses_key_is_not_found_and_changes_nothing() {
    // GIVEN the fixture key belongs to another account
    let t = TestApp::new();
    seed_key(t.store(), "acct_victim", FIXTURE_KEY_ID, KEY_OK).await;
    let before = format!(
        "{:?} {:?}",
        t.store().list_keys(&account("acct_victim")).await.unwrap(),
        t.store().balance(&account("acct_victim")).await.unwrap()
    );
    // WHEN the fixture account lists, deletes it
    let (_, listed, _) = parts(t.app.list_keys(fixture("list-keys")).await);
    assert_eq!(listed["keys"], json!([]), "never another account's keys");
    let (status, body, _) = parts(t.app.delete_key(fixture("delete-key")).await);
    assert_eq!((status, body["error"].as_str()), (404, Some("API key not found")));
    // THEN the victim's key and balance are untouched
    let after = format!(
        "{:?} {:?}",
        t.store().list_keys(&account("acct_victim")).await.unwrap(),
        t.store().balance(&account("acct_victim")).await.unwrap()
    );
    assert_eq!(before, after);
}
