//! What a warm session writes, in bytes by DynamoDB's rules (`tests::dynamo::size`), for the
//! two accounts issue 19 sets the bar with: A, 100 live keys that all expire; B, the same keys
//! each with a daily limit and used today. Every session comes from the longest origin an
//! audit event keeps (a user agent of `MAX_USER_AGENT_BYTES`, an IPv6 address), since the
//! change a debit records carries it. A must write at most 1 KB (1 write unit), B at most 2 KB
//! (2); the figures are the ones docs/performance.md states, and this test holds the doc to the
//! code (it fails when either moves).

use common::store::{DebitOutcome, Store};
use common::store::{Origin, SessionDebit};
use tests::conformance::{debit_at, new_key, origin};
use tests::dynamo::size::{item_size, write_units};
use tests::dynamo::{CallCounter, client, fresh_table_unfollowed};
use tests::*;

/// A session from the longest origin an audit event keeps.
fn longest_debit() -> SessionDebit {
    SessionDebit {
        origin: Origin {
            ip: Some("2001:0db8:85a3:0000:0000:8a2e:0370:7334".into()),
            user_agent: Some("u".repeat(common::request::MAX_USER_AGENT_BYTES)),
        },
        ..debit_at(common::clock::now())
    }
}

/// The size of the item a warm session writes on an account whose `keys` live keys all expire
/// (and, `limited`, have a daily limit), every one used today, and the requests that session
/// made.
async fn warm_session_write(
    store: &dyn Store,
    counter: &CallCounter,
    table: &str,
    acct: &str,
    limited: bool,
    keys: usize,
) -> (usize, Vec<String>) {
    let now = common::clock::now();
    let held = store.list_keys(&account(acct)).await.unwrap().len();
    let mut plaintexts = Vec::new();
    for i in held..keys {
        let (plaintext, mut key) = new_key(acct, &format!("Key {i}"), now);
        key.expires_at = Some(now + time::Duration::days(300));
        key.sessions_per_day = limited.then_some(1_000);
        store.create_key(key, origin()).await.unwrap();
        plaintexts.push(plaintext);
    }
    store
        .grant_credits(&account(acct), 100, "sizes", now)
        .await
        .unwrap();
    let resolved = resolve_all(store, &plaintexts).await;
    // In B every key opens a session (so that each has its count for today), then a warm one.
    for key in resolved.iter().filter(|_| limited) {
        let outcome = store.debit_session(key, longest_debit(), None).await.unwrap();
        assert!(matches!(outcome, DebitOutcome::Debited { .. }), "{outcome:?}");
    }
    counter.take();
    let outcome = store
        .debit_session(&resolved[0], longest_debit(), None)
        .await
        .unwrap();
    assert!(matches!(outcome, DebitOutcome::Debited { .. }));
    let calls = counter.take();
    let item = client(None)
        .get_item()
        .table_name(table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ACCOUNT#{acct}")),
        )
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("ACCOUNT".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    (item_size(&item), calls)
}

async fn resolve_all(
    store: &dyn Store,
    plaintexts: &[common::api_key::PlaintextKey],
) -> Vec<common::store::ResolvedKey> {
    let mut resolved = Vec::new();
    for p in plaintexts {
        resolved.push(store.resolve_key(&p.hash()).await.unwrap().unwrap());
    }
    resolved
}

/// The `| bytes a warm session writes |` row of docs/performance.md: (A bytes, B bytes).
fn documented() -> (usize, usize) {
    let doc = std::fs::read_to_string(workspace_root().join("docs/performance.md")).unwrap();
    let row = doc
        .lines()
        .find(|l| l.starts_with("| bytes a warm session writes"))
        .expect("docs/performance.md states what a warm session writes");
    let figure = |label: &str| -> usize {
        let after = row
            .split(label)
            .nth(1)
            .unwrap_or_else(|| panic!("{label} in {row}"));
        after
            .trim_start()
            .split(' ')
            .next()
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap()
    };
    (figure("account A:"), figure("account B:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_session_writes_what_the_performance_doc_says() {
    let counter = CallCounter::default();
    // Nobody follows the stream: what a session writes is all this measures.
    let table = fresh_table_unfollowed(&client(None)).await;
    let store = common::store::dynamodb::DynamoStore::new(client(Some(counter.clone())), table.clone(), 3);
    let mut sizes = Vec::new();
    for (acct, limited) in [("acct_size_a", false), ("acct_size_b", true)] {
        let (size, calls) = warm_session_write(&store, &counter, &table, acct, limited, 100).await;
        assert_eq!(calls, ["UpdateItem"], "a warm session is one request");
        sizes.push(size);
    }
    let (a, b) = (sizes[0], sizes[1]);
    eprintln!(
        "a warm session writes: account A {a} B ({} write units), account B {b} B ({} write units)",
        write_units(a),
        write_units(b)
    );
    assert!(a <= 1024 && write_units(a) == 1, "account A: {a} B");
    assert!(b <= 2048 && write_units(b) == 2, "account B: {b} B");
    // Within a few bytes (a balance or a version one digit longer or shorter), and the same
    // write units.
    let (doc_a, doc_b) = documented();
    for (measured, stated, name) in [(a, doc_a, "A"), (b, doc_b, "B")] {
        assert!(
            measured.abs_diff(stated) <= 16 && write_units(measured) == write_units(stated),
            "account {name}: a warm session writes {measured} B; docs/performance.md says {stated} B"
        );
    }
}
