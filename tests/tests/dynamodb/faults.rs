//! Fault injection on the DynamoDB store: every call on the create-session and create-key paths
//! fails once, either before it is sent or with its response lost after DynamoDB applied it.
//! After every fault: either nothing changed (and the client got 503 with Retry-After), or the
//! operation completed exactly once, or a retry with the same Idempotency-Key completes it.
//! Never a lost or double debit, never a half-created key; the ledger check holds throughout.

use common::store::dynamodb::DynamoStore;
use common::store::{Store, verify_ledger};
use std::sync::Arc;
use tests::Functions;
use tests::dynamo::{CallCounter, Fault, FaultInjector, client, faulty_client, fresh_table};
use tests::*;

struct Rig {
    app: Functions,
    injector: FaultInjector,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let table = fresh_table(&client(None)).await;
    let injector = FaultInjector::default();
    let dir = fixture_data_dir();
    let config = local_config(dir.path(), &[("VP_TABLE_NAME", &table)]);
    let store = dynamo::settled(
        faulty_client(injector.clone(), CallCounter::default()),
        table,
        config.free_credits,
    );
    Rig {
        app: Functions::new(config, store).unwrap(),
        injector,
        _dir: dir,
    }
}

impl Rig {
    fn store(&self) -> &dyn Store {
        self.app.store.as_ref()
    }

    async fn debits(&self) -> u64 {
        let check = verify_ledger(self.store(), &account(FIXTURE_ACCOUNT))
            .await
            .unwrap()
            .unwrap();
        assert!(check.ok, "ledger check failed: {check:?}");
        check.debited
    }
}

fn plan(points: &[(&'static str, usize)]) -> Vec<Fault> {
    points
        .iter()
        .flat_map(|&(operation, occurrence)| {
            [false, true].map(|response_lost| Fault {
                operation,
                occurrence,
                response_lost,
            })
        })
        .collect()
}

fn describe(f: &Fault) -> String {
    format!(
        "{} #{} {}",
        f.operation,
        f.occurrence,
        if f.response_lost {
            "response lost"
        } else {
            "not sent"
        }
    )
}

#[tokio::test]
async fn create_session_without_idempotency_key() {
    // The two requests of a first-seen key's session: resolve, debit.
    let mut report = Vec::new();
    for fault in plan(&[("GetItem", 1), ("UpdateItem", 1)]) {
        let rig = rig().await;
        seed_key(rig.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
        rig.injector.arm(fault);
        let (status, body, headers) = parts(rig.app.create_session(fixture("create-session")).await);
        rig.injector.disarm();
        assert!(
            rig.injector.fired(),
            "{}: the fault never struck",
            describe(&fault)
        );
        let debits = rig.debits().await;
        match status {
            200 => assert_eq!(
                (debits, body["credits"].as_u64()),
                (1, Some(2)),
                "{}: success must be exactly one debit",
                describe(&fault)
            ),
            503 => {
                assert_eq!(debits, 0, "{}: a 503 must have changed nothing", describe(&fault));
                assert_eq!(headers["retry-after"], "1");
            }
            other => panic!("{}: unexpected {other} {body}", describe(&fault)),
        }
        report.push(format!("{} -> {status}", describe(&fault)));
    }
    eprintln!("create-session faults:\n  {}", report.join("\n  "));
    // A debit that never reached DynamoDB answers 503; one whose answer was lost is found on
    // the account (the change it recorded) and completes the session.
    assert_eq!(
        report,
        [
            "GetItem #1 not sent -> 503",
            "GetItem #1 response lost -> 503",
            "UpdateItem #1 not sent -> 503",
            "UpdateItem #1 response lost -> 200",
        ]
    );
}

#[tokio::test]
async fn create_session_with_idempotency_key_completes_on_retry() {
    // Resolve, debit + record (one transaction), read the balance.
    let mut report = Vec::new();
    for fault in plan(&[("GetItem", 1), ("TransactWriteItems", 1), ("BatchGetItem", 1)]) {
        let rig = rig().await;
        seed_key(rig.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
        rig.injector.arm(fault);
        let first = rig.app.create_session(fixture("create-session-idempotent")).await;
        rig.injector.disarm();
        assert!(
            rig.injector.fired(),
            "{}: the fault never struck",
            describe(&fault)
        );
        // WHEN the client retries with the same key THEN it completes, paid once
        let retry = rig.app.create_session(fixture("create-session-idempotent")).await;
        assert_eq!(
            retry.status(),
            200,
            "{}: the retry must complete",
            describe(&fault)
        );
        if first.status() == 200 {
            assert_eq!(
                first.body().as_ref(),
                retry.body().as_ref(),
                "{}: replay differs",
                describe(&fault)
            );
        } else {
            assert_eq!(first.status(), 503, "{}", describe(&fault));
        }
        assert_eq!(rig.debits().await, 1, "{}: exactly one debit", describe(&fault));
        report.push(format!(
            "{} -> {} then {}",
            describe(&fault),
            first.status().as_u16(),
            retry.status().as_u16()
        ));
    }
    eprintln!("idempotent create-session faults:\n  {}", report.join("\n  "));
    // 503 only while the debit is not yet known to have happened (or its balance not yet read);
    // every later fault still answers the session.
    assert_eq!(
        report,
        [
            "GetItem #1 not sent -> 503 then 200",
            "GetItem #1 response lost -> 503 then 200",
            "TransactWriteItems #1 not sent -> 503 then 200",
            "TransactWriteItems #1 response lost -> 200 then 200",
            "BatchGetItem #1 not sent -> 503 then 200",
            "BatchGetItem #1 response lost -> 503 then 200",
        ]
    );
}

#[tokio::test]
async fn create_key_is_all_or_nothing() {
    let mut report = Vec::new();
    // The first request takes a slot (UpdateItem; on a new account it finds none to take),
    // the second writes the account, key, lookup and audit event.
    for fault in plan(&[("UpdateItem", 1), ("TransactWriteItems", 1)]) {
        let rig = rig().await;
        rig.injector.arm(fault);
        let (status, body, headers) = parts(rig.app.create_key(fixture("create-key")).await);
        rig.injector.disarm();
        assert!(
            rig.injector.fired(),
            "{}: the fault never struck",
            describe(&fault)
        );
        let keys = rig.store().list_keys(&account(FIXTURE_ACCOUNT)).await.unwrap();
        let audit = rig
            .store()
            .audit_events(&account(FIXTURE_ACCOUNT), common::clock::now())
            .await
            .unwrap();
        match status {
            201 => {
                // Whole: listed, audited, and the returned plaintext works.
                assert_eq!((keys.len(), audit.len()), (1, 1), "{}", describe(&fault));
                let mut req = fixture("create-session");
                req.headers_mut().insert(
                    "authorization",
                    format!("Bearer {}", body["key"].as_str().unwrap())
                        .parse()
                        .unwrap(),
                );
                assert_eq!(
                    rig.app.create_session(req).await.status(),
                    200,
                    "{}",
                    describe(&fault)
                );
            }
            503 => {
                // Nothing: no key, no audit event, not even the account.
                assert!(
                    keys.is_empty() && audit.is_empty(),
                    "{}: half-created key",
                    describe(&fault)
                );
                assert_eq!(
                    rig.store().balance(&account(FIXTURE_ACCOUNT)).await.unwrap(),
                    None
                );
                assert_eq!(headers["retry-after"], "1");
            }
            other => panic!("{}: unexpected {other} {body}", describe(&fault)),
        }
        report.push(format!("{} -> {status}", describe(&fault)));
    }
    eprintln!("create-key faults:\n  {}", report.join("\n  "));
    assert_eq!(
        report,
        [
            "UpdateItem #1 not sent -> 503",
            "UpdateItem #1 response lost -> 503",
            "TransactWriteItems #1 not sent -> 503",
            "TransactWriteItems #1 response lost -> 201"
        ]
    );
}

#[tokio::test]
async fn a_store_that_is_down_gives_503_with_retry_after_everywhere() {
    // GIVEN a DynamoDB endpoint where nothing listens
    let dir = fixture_data_dir();
    let app_config = local_config(dir.path(), &[("VP_TABLE_NAME", "down")]);
    let store = Arc::new(DynamoStore::new(dynamo::unreachable_client(), "down", 3));
    let app = Functions::new(app_config, store).unwrap();
    // WHEN each endpoint is called THEN 503, Retry-After, and the contract's error form
    for (name, response) in [
        ("create-key", app.create_key(fixture("create-key")).await),
        ("list-keys", app.list_keys(fixture("list-keys")).await),
        ("delete-key", app.delete_key(fixture("delete-key")).await),
        (
            "create-session",
            app.create_session(fixture("create-session")).await,
        ),
    ] {
        assert_unavailable(&parts(response), name);
    }
}

/// An app whose DynamoDB answers with injected service errors when armed.
async fn erring_rig() -> (Functions, dynamo::ErrorInjector, CallCounter, tempfile::TempDir) {
    let table = fresh_table(&client(None)).await;
    let errors = dynamo::ErrorInjector::default();
    let counter = CallCounter::default();
    let dir = fixture_data_dir();
    let config = local_config(dir.path(), &[("VP_TABLE_NAME", &table)]);
    let store = dynamo::settled(
        dynamo::erring_client(errors.clone(), counter.clone()),
        table,
        config.free_credits,
    );
    let app = Functions::new(config, store).unwrap();
    seed_key(app.store.as_ref(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    (app, errors, counter, dir)
}

#[tokio::test]
async fn a_deletion_cancelled_for_any_reason_but_the_keys_own_condition_is_a_503_and_the_key_stays_live() {
    // The deletion is one transaction: [mark the key, mark its hash lookup, audit event].
    let cases: [(&str, [&str; 3], usize, u16); 6] = [
        (
            "throttling outlasting our retries",
            ["None", "ThrottlingError", "None"],
            100,
            503,
        ),
        ("throttled once", ["None", "ThrottlingError", "None"], 1, 200),
        ("validation", ["ValidationError", "None", "None"], 1, 503),
        (
            "lookup's condition",
            ["None", "ConditionalCheckFailed", "None"],
            1,
            503,
        ),
        (
            "conflict outlasting our retries",
            ["TransactionConflict", "None", "None"],
            100,
            503,
        ),
        // Only the key's own condition means "already deleted by someone else".
        (
            "key's own condition",
            ["ConditionalCheckFailed", "None", "None"],
            1,
            404,
        ),
    ];
    let mut report = Vec::new();
    for (label, reasons, times, want) in cases {
        let (app, errors, _, _dir) = erring_rig().await;
        errors.arm(
            "TransactWriteItems",
            1,
            times,
            "TransactionCanceledException",
            &reasons,
        );
        let (status, body, headers) = parts(app.delete_key(fixture("delete-key")).await);
        errors.disarm();
        assert!(errors.fired() > 0, "{label}: never fired");
        assert_eq!(status, want, "{label}: {body}");
        if status == 503 {
            assert_unavailable(&(status, body.clone(), headers.clone()), label);
        }
        if status == 200 {
            // Retried and done: revoked.
            assert!(
                app.store
                    .list_keys(&account(FIXTURE_ACCOUNT))
                    .await
                    .unwrap()
                    .is_empty(),
                "{label}"
            );
            assert_eq!(
                app.create_session(fixture("create-session")).await.status(),
                401,
                "{label}"
            );
        } else {
            // Nothing changed: the key is still listed and still opens sessions.
            assert_eq!(
                app.store
                    .list_keys(&account(FIXTURE_ACCOUNT))
                    .await
                    .unwrap()
                    .len(),
                1,
                "{label}"
            );
            assert_eq!(
                app.create_session(fixture("create-session")).await.status(),
                200,
                "{label}: key must stay live"
            );
        }
        report.push(format!("{label} (x{}) -> {status}", errors.fired()));
    }
    eprintln!("delete-key cancellations:\n  {}", report.join("\n  "));
    assert_eq!(report.len(), 6);
}

#[tokio::test]
async fn a_plain_debit_meeting_a_transaction_conflict_is_retried_then_503_never_500() {
    // GIVEN an idempotent debit in flight on the same account (a transaction), the plain debit's
    // UpdateItem is refused with TransactionConflictException
    let (app, errors, counter, _dir) = erring_rig().await;
    counter.take();
    errors.arm("UpdateItem", 1, 1, "TransactionConflictException", &[]);
    // WHEN it conflicts once THEN it is retried and succeeds, paid once
    let (status, body, _) = parts(app.create_session(fixture("create-session")).await);
    assert_eq!((status, body["credits"].as_u64()), (200, Some(2)), "{body}");
    assert_eq!(errors.fired(), 1);
    assert_eq!(
        counter.take(),
        ["GetItem", "UpdateItem", "UpdateItem"],
        "resolve, conflicted debit, retried debit"
    );

    // WHEN it keeps conflicting THEN 503 with Retry-After, nothing taken
    errors.arm("UpdateItem", 1, 100, "TransactionConflictException", &[]);
    let (status, body, headers) = parts(app.create_session(fixture("create-session")).await);
    errors.disarm();
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(
        errors.fired() as u32,
        common::store::dynamodb::cancel::MAX_ATTEMPTS
    );
    let check = verify_ledger(app.store.as_ref(), &account(FIXTURE_ACCOUNT))
        .await
        .unwrap()
        .unwrap();
    assert!(check.ok, "{check:?}");
    assert_eq!(
        (check.debited, check.credits),
        (1, 2),
        "only the first session was paid"
    );
}

#[tokio::test]
async fn the_sdks_own_retry_of_an_applied_debit_does_not_debit_twice() {
    // GIVEN the debit's UpdateItem is applied by DynamoDB but answered with a retryable 500
    let (app, errors, counter, _dir) = erring_rig().await;
    counter.take();
    errors.arm_applied_then_500("UpdateItem", 1);
    // WHEN the session is opened
    let (status, body, _) = parts(app.create_session(fixture("create-session")).await);
    errors.disarm();
    // THEN the debit is not sent again (the SDK does not retry it: a plain update cannot tell
    // its own earlier attempt apart); the change it recorded on the account is found instead,
    // and the session completes: one session, one debit
    assert_eq!(errors.fired(), 1);
    assert_eq!(
        counter.take(),
        ["GetItem", "UpdateItem", "BatchGetItem"],
        "resolve, debit, settle"
    );
    assert_eq!((status, body["credits"].as_u64()), (200, Some(2)), "{body}");
    let check = verify_ledger(app.store.as_ref(), &account(FIXTURE_ACCOUNT))
        .await
        .unwrap()
        .unwrap();
    assert!(check.ok, "{check:?}");
    assert_eq!(check.debited, 1, "exactly one debit");
}

#[tokio::test]
async fn throttling_of_a_plain_read_or_write_is_a_503_with_retry_after_and_takes_nothing() {
    // The session's own requests: the key's lookup (GetItem) and the debit (UpdateItem), each
    // throttled past the SDK's retries, by either of DynamoDB's throttling errors.
    for operation in ["GetItem", "UpdateItem"] {
        for error in ["ThrottlingException", "ProvisionedThroughputExceededException"] {
            let label = format!("{operation} {error}");
            let (app, errors, _, _dir) = erring_rig().await;
            let before = credits(app.store.as_ref(), FIXTURE_ACCOUNT).await;
            errors.arm(operation, 1, 100, error, &[]);
            let answer = parts(app.create_session(fixture("create-session")).await);
            errors.disarm();
            assert!(errors.fired() > 0, "{label}: never fired");
            assert_unavailable(&answer, &label);
            assert_eq!(
                credits(app.store.as_ref(), FIXTURE_ACCOUNT).await,
                before,
                "{label}: nothing taken"
            );
        }
    }
}
