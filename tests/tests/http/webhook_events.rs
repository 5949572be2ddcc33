//! Webhook events from real changes, end to end, on both stores as `make dev` runs them: the
//! change (a key made, credits granted, a race of sessions across the account's own threshold)
//! raises its events — in the embedded store's transaction, or in the ledger function's pass
//! over the table's stream — they wait on the queue (the outbox, or SQS on the local server),
//! and `vpctl webhooks relay` hands them to the webhook sender, which signs and sends them to a
//! receiver built on the `standardwebhooks` package from PyPI.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tests::dynamo::{client, fresh_table_unfollowed, sdk_env};
use tests::receiver::Receiver;
use tests::server::Server;

/// The retry schedule's unit: 20 ms instead of 30 s, so the waits after three failures take
/// under a second; the schedule's shape is the one AWS runs.
const RETRY_UNIT_MS: &str = "20";

fn embedded() -> Server {
    Server::start(4, &[("VP_WEBHOOK_RETRY_UNIT_MS", RETRY_UNIT_MS)])
}

fn dynamodb() -> Server {
    let table = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { fresh_table_unfollowed(&client(None)).await });
    let mut env = sdk_env(&table);
    env.push(("VP_WEBHOOK_RETRY_UNIT_MS", RETRY_UNIT_MS.into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(4, &env)
}

#[test]
fn events_from_changes_reach_a_verifying_receiver_on_the_embedded_store() {
    events_from_changes(embedded());
}

#[test]
fn events_from_changes_reach_a_verifying_receiver_on_dynamodb() {
    events_from_changes(dynamodb());
}

/// Waits (up to a minute) until `done` holds for the receiver's deliveries.
fn wait_for(
    receiver: &Receiver,
    what: &str,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = receiver.deliveries();
        if done(&seen) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never arrived; the receiver saw {seen:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn delivered<'a>(seen: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    seen.iter()
        .filter(|d| d["type"] == kind && d["status"] == 200)
        .collect()
}

fn events_from_changes(server: Server) {
    let account = "acct_hooks";
    let console = server.console_token(account);
    let auth = format!("Bearer {console}");
    let json = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    // GIVEN an account whose own low-credit threshold is 5 ...
    let set = server.request(
        "PUT",
        "/api/v1/account",
        &json,
        Some(r#"{"lowCreditThreshold": 5}"#),
    );
    assert_eq!(set.status, 200, "{}", set.raw);
    // ... and an endpoint for its credit and key events, at a receiver that answers its first
    // three deliveries 500
    let receiver = Receiver::without_secret(3);
    let body = serde_json::json!({
        "url": receiver.url,
        "events": ["credits.low", "credits.exhausted", "credits.granted", "key.created"],
    });
    let created = server.request("POST", "/api/v1/webhooks", &json, Some(&body.to_string()));
    assert_eq!(created.status, 201, "{}", created.raw);
    receiver.set_secret(created.body["secret"].as_str().unwrap());
    let hook = created.body["id"].as_str().unwrap().to_string();

    // WHEN a key is made
    let key = server.create_key(&console, "Hooks");
    assert_eq!(key.status, 201, "{}", key.raw);
    let key_id = key.body["id"].as_str().unwrap().to_string();

    // THEN its key.created arrives after three 500s, every attempt under the one event id and
    // verified by the standardwebhooks package
    let seen = wait_for(&receiver, "key.created", |seen| {
        !delivered(seen, "key.created").is_empty()
    });
    let attempts: Vec<_> = seen.iter().filter(|d| d["type"] == "key.created").collect();
    let statuses: Vec<_> = attempts.iter().map(|d| d["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [500, 500, 500, 200], "{attempts:#?}");
    assert!(
        attempts
            .iter()
            .all(|d| d["verified"] == true && d["id"] == attempts[0]["id"])
    );
    assert_eq!(attempts[0]["data"]["keyId"], key_id.as_str());
    // AND the endpoint's delivery log shows the four attempts, newest first
    let log = server.request("GET", &format!("/api/v1/webhooks/{hook}/deliveries"), &json, None);
    assert_eq!(log.status, 200, "{}", log.raw);
    let kept: Vec<_> = log.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["attempt"].as_u64().unwrap(), d["status"].as_u64()))
        .collect();
    assert_eq!(
        kept,
        [(4, Some(200)), (3, Some(500)), (2, Some(500)), (1, Some(500))],
        "{}",
        log.raw
    );

    // WHEN 17 credits are granted (20 in all) and 30 sessions race for them
    server.vpctl(&["credits", "grant", "--account", account, "--amount", "17"]);
    let server = Arc::new(server);
    let key = key.body["key"].as_str().unwrap().to_string();
    let replies = server.race_sessions(&key, 30);
    assert_eq!(replies.iter().filter(|r| r.status == 200).count(), 20);

    // THEN the grant, and the account's crossing of 5 and of 0, each arrive: at least once, and
    // exactly once by event id
    wait_for(&receiver, "credits.exhausted", |seen| {
        ["credits.granted", "credits.low", "credits.exhausted"]
            .iter()
            .all(|kind| !delivered(seen, kind).is_empty())
    });
    // (a moment for any duplicate to arrive too)
    std::thread::sleep(Duration::from_secs(2));
    let seen = receiver.deliveries();
    assert!(seen.iter().all(|d| d["verified"] == true), "{seen:#?}");
    let mut ids: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for d in &seen {
        ids.entry(d["type"].as_str().unwrap())
            .or_default()
            .insert(d["id"].as_str().unwrap());
    }
    for kind in ["credits.low", "credits.exhausted", "credits.granted"] {
        assert_eq!(ids[kind].len(), 1, "one {kind} event: {seen:#?}");
    }
    let low = delivered(&seen, "credits.low")[0];
    assert_eq!(
        (low["data"]["credits"].as_u64(), low["data"]["threshold"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(delivered(&seen, "credits.exhausted")[0]["data"]["credits"], 0);
    assert_eq!(delivered(&seen, "credits.granted")[0]["data"]["amount"], 17);
    // AND no event the endpoint did not subscribe to (sessions raise none)
    assert!(ids.keys().all(|k| {
        [
            "credits.low",
            "credits.exhausted",
            "credits.granted",
            "key.created",
        ]
        .contains(k)
    }));
}
