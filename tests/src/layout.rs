//! The DynamoDB table's layout as data: a run that writes one of every kind of item, the
//! table dumped, and each item's shape (its key patterns and attribute names). Two committed
//! fixtures are such dumps: `dynamodb-layout-v2.json`, which a test holds today's code to (a
//! layout change fails that test, not a deploy), and `dynamodb-layout-v1.json`, written by the
//! code of layout 1, which the move to layout 2 (`vpctl table migrate`) is tested on.

use crate::conformance::{new_key, new_key_of, origin, test_debit_at};
use crate::{Functions, account, fixture, parts};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use common::clock;
use common::store::{DebitOutcome, Leak, ReportedLeak};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use time::Duration;

pub const FIXTURE: &str = "tests/fixtures/dynamodb-layout-v2.json";
/// Layout 1's run, by the code of commit e21cb2c.
pub const FIXTURE_V1: &str = "tests/fixtures/dynamodb-layout-v1.json";
/// The accounts the run writes.
pub const ACCOUNTS: [&str; 2] = ["acct_layout_a", "acct_layout_b"];

/// One of every kind of item: accounts with grants and debits (a session with an
/// Idempotency-Key among them, and a balance run down past the low-credit threshold to 0),
/// keys plain, expiring, limited (used today), rolled, deleted and leaked, and their audit
/// trail. Needs the ledger function following the stream for the ledger, audit and events.
pub async fn write_every_kind(app: &Functions) {
    let store = app.store.as_ref();
    let now = clock::now();
    let (a, b) = (ACCOUNTS[0], ACCOUNTS[1]);
    let mut keys = Vec::new();
    for (name, expires, per_day) in [
        ("Plain", None, None),
        ("Expiring", Some(now + Duration::days(30)), None),
        ("Limited", None, Some(5)),
        ("Rolled", None, None),
        ("Deleted", None, None),
        ("Leaked", None, None),
    ] {
        let (plaintext, mut key) = new_key(a, name, now);
        key.expires_at = expires;
        key.sessions_per_day = per_day;
        store.create_key(key.clone(), origin()).await.unwrap();
        keys.push((plaintext, key));
    }
    store
        .create_key(new_key(b, "Only", now).1, origin())
        .await
        .unwrap();
    // A test key and its session: the account's test count, a `test` ledger entry, its usage.
    // (On account A, whose last change is a debit; B's stays its free grant, with a reason.)
    let (sandbox, key) = new_key_of(common::api_key::KeyMode::Test, a, "Sandbox", now);
    store.create_key(key, origin()).await.unwrap();
    let resolved = store.resolve_key(&sandbox.hash()).await.unwrap().unwrap();
    assert!(matches!(
        store
            .debit_session(&resolved, test_debit_at(clock::now(), 100), None)
            .await
            .unwrap(),
        DebitOutcome::Debited { .. }
    ));
    store
        .grant_credits(&account(a), 4, "layout fixture", now)
        .await
        .unwrap();
    // Sessions: the limited key twice (its day's count), the plain key with an Idempotency-Key.
    for (plaintext, _) in [&keys[2], &keys[2], &keys[0]] {
        let resolved = store.resolve_key(&plaintext.hash()).await.unwrap().unwrap();
        let debit = crate::conformance::debit_at(clock::now());
        assert!(matches!(
            store.debit_session(&resolved, debit, None).await.unwrap(),
            DebitOutcome::Debited { .. }
        ));
    }
    let mut idempotent = fixture("create-session-idempotent");
    let bearer = format!("Bearer {}", keys[0].0.expose());
    idempotent
        .headers_mut()
        .insert("authorization", bearer.parse().unwrap());
    let (status, body, _) = parts(app.create_session(idempotent).await);
    assert_eq!(status, 200, "{body}");
    // Rolled with a day's grace; deleted; leaked.
    let (_, successor) = new_key(a, "Rolled", now);
    store
        .roll_key(&keys[3].1.id, successor, now + Duration::days(1), origin())
        .await
        .unwrap();
    assert!(
        store
            .delete_key(&account(a), &keys[4].1.id, now, origin())
            .await
            .unwrap()
    );
    let leak = ReportedLeak {
        hash: keys[5].0.hash(),
        leak: Leak {
            url: Some("https://github.com/octo/app/blob/4f2c/.env".into()),
            source: Some("content".into()),
        },
    };
    store.revoke_leaked(&[leak], now, origin()).await.unwrap();
    // The rest of the balance spent: credits.low and credits.exhausted.
    loop {
        let resolved = store.resolve_key(&keys[0].0.hash()).await.unwrap().unwrap();
        match store
            .debit_session(&resolved, crate::conformance::debit_at(clock::now()), None)
            .await
            .unwrap()
        {
            DebitOutcome::Debited { .. } => {}
            DebitOutcome::InsufficientCredits => break,
            other => panic!("{other:?}"),
        }
    }
}

/// Every item of `table`, in DynamoDB's JSON form, ordered by key.
pub async fn dump(client: &Client, table: &str) -> Vec<serde_json::Value> {
    let items: Vec<HashMap<String, AttributeValue>> = client
        .scan()
        .table_name(table)
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let mut items: Vec<serde_json::Value> = items
        .into_iter()
        .map(|item| serde_json::to_value(serde_dynamo::Item::from(item)).unwrap())
        .collect();
    let key = |v: &serde_json::Value| (v["pk"]["S"].to_string(), v["sk"]["S"].to_string());
    items.sort_by_key(key);
    items
}

/// Puts `items` (a [`dump`]) into `table`.
pub async fn load(client: &Client, table: &str, items: &[serde_json::Value]) {
    for chunk in items.chunks(25) {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|v| {
                let item: serde_dynamo::Item = serde_json::from_value(v.clone()).unwrap();
                let put = PutRequest::builder().set_item(Some(item.into())).build().unwrap();
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        while !requests.is_empty() {
            let out = client
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .unwrap();
            requests = out
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
        }
    }
}

/// Each kind of item as its key patterns (ids, hashes and ULIDs as `{id}`) and the sorted
/// names of its attributes (maps keyed by ids as `{id}` too, one level down).
pub fn shapes(items: &[serde_json::Value]) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut shapes: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for item in items {
        let pattern = |name: &str| {
            let value = item[name]["S"].as_str().unwrap_or("");
            match value.split_once('#') {
                Some((class, _)) => format!("{class}#{{id}}"),
                None => value.to_string(),
            }
        };
        let names = shapes.entry((pattern("pk"), pattern("sk"))).or_default();
        for (name, value) in item.as_object().unwrap() {
            names.insert(crate::iam::counter_pattern(name));
            if let Some(map) = value.get("M").and_then(|m| m.as_object()) {
                for (inner, inner_value) in map {
                    let inner = if inner.starts_with("key_") {
                        "{id}"
                    } else if inner.parse::<u64>().is_ok() {
                        "{slot}"
                    } else {
                        inner.as_str()
                    };
                    names.insert(format!("{name}.{inner}"));
                    if let Some(deeper) = inner_value.get("M").and_then(|m| m.as_object()) {
                        names.extend(deeper.keys().map(|d| format!("{name}.{inner}.{d}")));
                    }
                }
            }
        }
    }
    shapes
}

/// A committed fixture, as [`dump`] wrote it.
pub fn committed(path: &str) -> Vec<serde_json::Value> {
    let text =
        std::fs::read_to_string(crate::workspace_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The hash of the first key named `name` in a dump (only hashes are stored: the keys can be
/// resolved, and so used, but never presented).
pub fn key_hash_named(items: &[serde_json::Value], name: &str) -> common::api_key::KeyHash {
    let hash = items
        .iter()
        .find(|i| i["name"]["S"] == name && i["keyHash"]["S"].is_string())
        .unwrap_or_else(|| panic!("no key named {name}"))["keyHash"]["S"]
        .clone();
    serde_json::from_value(hash).unwrap()
}
