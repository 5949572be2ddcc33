//! The whole API over HTTP on the DynamoDB store: `cargo lambda watch` with the functions
//! pointed at the local DynamoDB-protocol server purely through the standard AWS variables,
//! and `vpctl stream relay` delivering the table's stream to the ledger function, as
//! `VP_STORE=dynamodb make dev` runs them.

use std::sync::Arc;
use tests::dynamo::{client, fresh_table_unfollowed, sdk_env};
use tests::server::Server;

fn start_on_dynamodb(instances: u32) -> Server {
    let table = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { fresh_table_unfollowed(&client(None)).await });
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

/// A hot account over HTTP: 100 racing requests on 50 credits. (200 at once run at the handler
/// level across 8 instances, `dynamodb/concurrency.rs`: `cargo lambda watch` leaves requests
/// unanswered once about 100 are queued, a limit of the emulator, not of Lambda.)
#[test]
fn a_hundred_concurrent_sessions_on_fifty_credits() {
    let server = Arc::new(start_on_dynamodb(8));
    // GIVEN an account with 50 credits (3 free + 47 granted)
    let (_, key, _) = create_key(&server, "acct_race");
    server.vpctl(&["credits", "grant", "--account", "acct_race", "--amount", "47"]);
    assert_eq!(server.open_session("vp_live_").status, 401, "warm-up");

    // WHEN 100 session requests are released at once
    let replies = server.race_sessions(&key, 100);

    // THEN exactly 50 succeed, each with its own remaining balance, and 50 get 402 — and no
    // request met a conflict (a 503 would show it)
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 50, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 402).count(), 50, "{statuses:?}");
    tests::server::assert_each_balance_once(&replies, 50);
    // AND once the ledger function has caught up, the balance is 0 with 50 debit entries
    let verify: serde_json::Value =
        serde_json::from_str(&server.vpctl_settled(&["credits", "verify", "--account", "acct_race"]))
            .unwrap();
    assert_eq!(verify["ok"], true, "{verify}");
    assert_eq!(
        (verify["credits"].as_u64(), verify["ledgerDebits"].as_u64()),
        (Some(0), Some(50))
    );
    // AND the audit export holds one key.used event per session
    let audit = server.vpctl_settled(&["audit", "export", "--account", "acct_race"]);
    assert_eq!(audit.lines().filter(|l| l.contains("\"key.used\"")).count(), 50);
    // AND the ledger function, fed by the local stream, recorded one event per crossing
    let events = server.vpctl_settled(&["events", "--account", "acct_race"]);
    assert_eq!(
        tests::server::event_names(&events),
        ["credits.low", "credits.exhausted"],
        "{events}"
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

/// What the console page reads, over HTTP on DynamoDB: the balance at once, and the audit trail
/// (creation and deletion at once; key use once the ledger function has written it).
#[test]
fn the_console_reads_credits_and_the_audit_trail_over_http() {
    let server = start_on_dynamodb(2);
    let (console, key, key_id) = create_key(&server, "acct_console");
    let auth = format!("Bearer {console}");
    assert_eq!(server.open_session(&key).status, 200);
    let credits = server.request("GET", "/api/v1/credits", &[("authorization", &auth)], None);
    assert_eq!(
        credits.body,
        serde_json::json!({"success": true, "credits": 2}),
        "{}",
        credits.raw
    );
    let deleted = server.request(
        "DELETE",
        &format!("/api/v1/keys/{key_id}"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(deleted.status, 200);
    // The ledger function writes key.used from the stream: once caught up, three events.
    server.vpctl_settled(&["credits", "verify", "--account", "acct_console"]);
    let mut events = Vec::new();
    let mut path = "/api/v1/audit?limit=1".to_string();
    loop {
        let page = server.request("GET", &path, &[("authorization", &auth)], None);
        assert_eq!(page.status, 200, "{}", page.raw);
        events.extend(
            page.body["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event"].clone()),
        );
        match page.body["nextCursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/audit?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(events, ["key.deleted", "key.used", "key.created"]);
}
