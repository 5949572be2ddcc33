//! A hot account: 200 session requests at once on an account with 100 credits, on the
//! DynamoDB store, through the create-session handler of eight independent "instances" (each
//! its own App and SDK client, as eight Lambda execution environments would be). Plain
//! conditional updates on one item never conflict with each other: DynamoDB applies them one
//! after another, so there is no `TransactionConflict` and nothing of ours to retry.

use common::store::LedgerKind;
use std::sync::Arc;
use tests::Functions;
use tests::dynamo::{self, CallCounter, client, fresh_table};
use tests::*;

const INSTANCES: usize = 8;
const REQUESTS: usize = 200;
const CREDITS: u64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn two_hundred_concurrent_sessions_on_one_hundred_credits() {
    // GIVEN a key whose account holds 100 credits, and eight instances sharing one table
    let table = fresh_table(&client(None)).await;
    let dir = fixture_data_dir();
    let counter = CallCounter::default();
    let instances: Vec<Arc<Functions>> = (0..INSTANCES)
        .map(|_| {
            // The local server answers one request at a time, so 200 at once queue for longer
            // than the production deadline (4 s): this test is about exactness under races,
            // so it gives them the most the configuration allows.
            let config = local_config(
                dir.path(),
                &[("VP_TABLE_NAME", &table), ("VP_REQUEST_DEADLINE_MS", "60000")],
            );
            let store = dynamo::settled(client(Some(counter.clone())), table.clone(), config.free_credits);
            Arc::new(Functions::new(config, store).unwrap())
        })
        .collect();
    let store = instances[0].store.clone();
    seed_key(store.as_ref(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    store
        .grant_credits(
            &account(FIXTURE_ACCOUNT),
            CREDITS - 3,
            "load test",
            common::clock::now(),
        )
        .await
        .unwrap();

    counter.take();

    // WHEN 200 requests are released at once, spread over the instances
    let barrier = Arc::new(tokio::sync::Barrier::new(REQUESTS));
    let racers: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let (app, barrier) = (instances[i % INSTANCES].clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                parts(app.create_session(fixture("create-session")).await)
            })
        })
        .collect();
    let mut replies = Vec::new();
    for racer in racers {
        replies.push(racer.await.unwrap());
    }

    // THEN exactly 100 succeed, each reporting its own remaining balance, and 100 get 402
    let ok: Vec<_> = replies.iter().filter(|(s, _, _)| *s == 200).collect();
    let refused = replies
        .iter()
        .filter(|(s, b, _)| *s == 402 && b["error"] == "Insufficient credits")
        .count();
    assert_eq!(
        (ok.len(), refused),
        (100, 100),
        "{:?}",
        replies.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    let mut balances: Vec<u64> = ok
        .iter()
        .map(|(_, b, _)| b["credits"].as_u64().unwrap())
        .collect();
    balances.sort();
    assert_eq!(balances, (0..CREDITS).collect::<Vec<_>>());
    // AND each request made exactly one debit attempt (no TransactionConflict, no retry of
    // ours, no transaction at all), after at most one lookup of the key per request
    let calls = counter.take();
    let count = |op: &str| calls.iter().filter(|c| *c == op).count();
    assert_eq!(
        count("UpdateItem"),
        REQUESTS,
        "one debit attempt per request: {calls:?}"
    );
    assert!(count("GetItem") <= REQUESTS, "{calls:?}");
    assert_eq!(calls.len(), count("UpdateItem") + count("GetItem"), "{calls:?}");
    eprintln!(
        "hot account: {REQUESTS} racing sessions over {INSTANCES} instances: {} UpdateItem, {} GetItem (first sight of the key), 0 retries",
        count("UpdateItem"),
        count("GetItem")
    );

    // AND the balance is 0, with exactly 100 debit entries explaining it
    let account = account(FIXTURE_ACCOUNT);
    let balance = store.balance(&account).await.unwrap().unwrap();
    assert_eq!(
        (balance.credits, balance.granted, balance.debited),
        (0, CREDITS, CREDITS)
    );
    let ledger = store.ledger(&account).await.unwrap();
    assert_eq!(
        ledger.iter().filter(|e| e.kind == LedgerKind::Debit).count() as u64,
        CREDITS
    );
    let audit = store.audit_events(&account, common::clock::now()).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.event == common::store::AuditAction::KeyUsed)
            .count() as u64,
        CREDITS
    );
    conformance::assert_ledger_ok(store.as_ref(), FIXTURE_ACCOUNT).await;
}

/// The last free place under the live-key cap, raced for by ten writers that have all taken a
/// slot (and so seen room) before any of them writes: only the transaction's own condition,
/// `size(live) < cap`, stands between them and an account over its cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 16)]
async fn writers_that_all_saw_room_still_leave_the_account_at_its_cap() {
    let table = fresh_table(&client(None)).await;
    let gate = dynamo::ReadsFirst::default();
    let gated = aws_sdk_dynamodb::Client::from_conf(
        dynamo::config_at(&dynamo::endpoint())
            .interceptor(gate.clone())
            .build(),
    );
    let store = dynamo::settled(gated, table, conformance::FREE_CREDITS);
    conformance::keys::racing_for_the_last_place(store, || gate.arm(10)).await;
}
