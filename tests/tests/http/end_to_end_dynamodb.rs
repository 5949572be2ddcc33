//! The whole API over HTTP on the DynamoDB store: `cargo lambda watch` with the functions
//! pointed at the local DynamoDB-protocol server purely through the standard AWS variables.

use std::sync::Arc;
use tests::dynamo::{client, fresh_table, sdk_env};
use tests::server::Server;

fn start_on_dynamodb(instances: u32) -> Server {
    let table = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { fresh_table(&client(None)).await });
    let env = sdk_env(&table);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(instances, &env)
}

fn create_key(server: &Server, account: &str) -> (String, String, String) {
    let console = server.console_token(account);
    let created = server.create_key(&console, "Load");
    assert_eq!(created.status, 201, "{}", created.raw);
    (
        console,
        created.body["key"].as_str().unwrap().to_string(),
        created.body["id"].as_str().unwrap().to_string(),
    )
}

/// 50 racing requests on 20 credits, as on the embedded store. (The 200-on-100 race runs at the
/// handler level in `concurrency_dynamodb.rs`: cargo lambda watch stops answering with more than
/// about 100 requests queued, a limit of the emulator, not of Lambda.)
#[test]
fn fifty_concurrent_sessions_on_twenty_credits() {
    let server = Arc::new(start_on_dynamodb(4));
    // GIVEN an account with 20 credits (3 free + 17 granted)
    let (_, key, _) = create_key(&server, "acct_race");
    server.vpctl(&["credits", "grant", "--account", "acct_race", "--amount", "17"]);
    assert_eq!(server.open_session("vp_live_").status, 401, "warm-up");

    // WHEN 50 session requests are released at once
    let replies = server.race_sessions(&key, 50);

    // THEN exactly 20 succeed, each with its own remaining balance, and 30 get 402
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 20, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 402).count(), 30, "{statuses:?}");
    tests::server::assert_each_balance_once(&replies, 20);
    // AND the balance is 0 with 20 debit entries in the ledger
    let verify: serde_json::Value =
        serde_json::from_str(&server.vpctl(&["credits", "verify", "--account", "acct_race"])).unwrap();
    assert_eq!(verify["ok"], true, "{verify}");
    assert_eq!(
        (verify["credits"].as_u64(), verify["ledgerDebits"].as_u64()),
        (Some(0), Some(20))
    );
}

#[test]
fn a_deleted_key_fails_on_the_very_next_request_over_http() {
    let server = start_on_dynamodb(2);
    let (console, key, key_id) = create_key(&server, "acct_revoke");
    assert_eq!(server.open_session(&key).status, 200);
    let auth = format!("Bearer {console}");
    let deleted = server.request(
        "DELETE",
        &format!("/api/v1/keys/{key_id}"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(deleted.status, 200, "{}", deleted.raw);
    let next = server.open_session(&key);
    assert_eq!(
        (next.status, next.body["error"].as_str()),
        (401, Some("Invalid API key"))
    );
    let listed = server.request("GET", "/api/v1/keys", &[("authorization", &auth)], None);
    assert_eq!(listed.body["keys"], serde_json::json!([]));
}
