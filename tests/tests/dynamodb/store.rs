//! The store conformance suite on the DynamoDB store, against the local DynamoDB-protocol
//! server `make test` starts; plus what only DynamoDB needs showing: the calls a session costs.

use tests::conformance::{FREE_CREDITS, StoreUnderTest};
use tests::dynamo::{CallCounter, client, fresh_table};

async fn dynamodb() -> StoreUnderTest {
    let client = client(None);
    let table = fresh_table(&client).await;
    StoreUnderTest {
        store: tests::dynamo::settled(client, table.clone(), FREE_CREDITS),
        guard: Box::new(table),
    }
}

/// Every behaviour of the conformance suite (`tests::conformance`), each on a fresh store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dynamodb_store_has_every_behaviour_a_store_must_have() {
    tests::conformance::conforms(dynamodb).await;
}

/// `key.expiring` reminders (their own trait, so their own runner).
#[tokio::test]
async fn the_dynamodb_store_reminds_of_keys_about_to_expire() {
    let client = client(None);
    let table = fresh_table(&client).await;
    let store = std::sync::Arc::new(common::store::dynamodb::DynamoStore::new(
        client,
        table,
        FREE_CREDITS,
    ));
    tests::conformance::webhooks::a_key_that_expires_is_reminded_seven_days_and_one_day_before_while_it_lives_with_that_expiry(
        store.clone(),
        store,
    )
    .await;
}

/// An instance (an App) whose DynamoDB requests are counted.
async fn counted_instance(table: &str, counter: &CallCounter) -> (tests::Functions, tempfile::TempDir) {
    let dir = tests::fixture_data_dir();
    let config = tests::local_config(dir.path(), &[("VP_TABLE_NAME", table)]);
    let store = tests::dynamo::settled(client(Some(counter.clone())), table, config.free_credits);
    (tests::Functions::new(config, store).unwrap(), dir)
}

async fn session(app: &tests::Functions, key: &str, idempotency_key: Option<&str>) -> u16 {
    let mut req = tests::fixture("create-session");
    let headers = req.headers_mut();
    headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
    if let Some(k) = idempotency_key {
        headers.insert("idempotency-key", k.parse().unwrap());
    }
    app.create_session(req).await.status().as_u16()
}

#[tokio::test]
async fn a_warm_session_is_one_request_a_first_seen_key_two_an_idempotent_one_two() {
    // GIVEN a key with credits and an instance that has not seen it
    let counter = CallCounter::default();
    let table = fresh_table(&client(None)).await;
    let (app, _dir) = counted_instance(&table, &counter).await;
    tests::seed_key(
        app.store.as_ref(),
        "acct_calls",
        tests::FIXTURE_KEY_ID,
        tests::KEY_OK,
    )
    .await;
    counter.take();

    // WHEN the key is first seen THEN two: resolve it, and the conditional debit
    assert_eq!(session(&app, tests::KEY_OK, None).await, 200);
    assert_eq!(counter.take(), ["GetItem", "UpdateItem"]);
    // WHEN it is seen again THEN one: the debit alone
    assert_eq!(session(&app, tests::KEY_OK, None).await, 200);
    assert_eq!(counter.take(), ["UpdateItem"]);
    // WHEN it carries an Idempotency-Key THEN two: debit and record in one transaction, and
    // the balance right after it; its retry the same two, and nothing more is taken
    assert_eq!(session(&app, tests::KEY_OK, Some("order-1")).await, 200);
    assert_eq!(counter.take(), ["TransactWriteItems", "BatchGetItem"]);
    assert_eq!(session(&app, tests::KEY_OK, Some("order-1")).await, 200);
    assert_eq!(counter.take(), ["TransactWriteItems", "BatchGetItem"]);
    // WHEN the balance is empty THEN one: the refused debit
    tests::drain(app.store.as_ref(), tests::KEY_OK).await;
    counter.take();
    assert_eq!(session(&app, tests::KEY_OK, None).await, 402);
    assert_eq!(counter.take(), ["UpdateItem"]);
    // WHEN the key is unknown THEN one: the lookup, and nothing is remembered of it
    assert_eq!(session(&app, tests::KEY_EMPTY, None).await, 401);
    assert_eq!(session(&app, tests::KEY_EMPTY, None).await, 401);
    assert_eq!(counter.take(), ["GetItem", "GetItem"]);
    // WHEN a well-formed key's checksum does not match THEN none: it was never issued
    let (status, body, _) = tests::parts(
        app.create_session(tests::fixture("create-session-bad-checksum"))
            .await,
    );
    assert_eq!((status, body["error"].as_str()), (401, Some("Invalid API key")));
    assert!(counter.take().is_empty(), "a look-alike costs no store request");
    eprintln!(
        "create-session DynamoDB requests: warm 1, first seen 2, idempotent 2, replay 2, 402 1, unknown 1, bad checksum 0"
    );
}

#[tokio::test]
async fn a_validity_check_is_one_read_warm_two_cold_and_writes_nothing() {
    // GIVEN a live key and an instance that has not seen it
    let counter = CallCounter::default();
    let table = fresh_table(&client(None)).await;
    let (app, _dir) = counted_instance(&table, &counter).await;
    tests::seed_key(
        app.store.as_ref(),
        "acct_check",
        tests::FIXTURE_KEY_ID,
        tests::KEY_OK,
    )
    .await;
    let balance = tests::credits(app.store.as_ref(), "acct_check").await;
    counter.take();
    let check = |event: &'static str| async { tests::parts(app.check_key(tests::fixture(event)).await) };
    // WHEN it is first seen THEN two reads: its lookup and its own item
    let (status, body, _) = check("check-key").await;
    assert_eq!(
        (status, body["id"].as_str()),
        (200, Some(tests::FIXTURE_KEY_ID)),
        "{body}"
    );
    assert_eq!(counter.take(), ["GetItem", "GetItem"]);
    // WHEN it checks again THEN one read: its own item
    assert_eq!(check("check-key").await.0, 200);
    assert_eq!(counter.take(), ["GetItem"]);
    // WHEN it is unknown THEN one read, the lookup; a look-alike costs none
    assert_eq!(check("check-key-invalid-key").await.0, 401);
    assert_eq!(counter.take(), ["GetItem"]);
    // AND nothing was ever written: the balance and "last used" are as they were
    assert_eq!(tests::credits(app.store.as_ref(), "acct_check").await, balance);
    let listed = app.store.list_keys(&tests::account("acct_check")).await.unwrap();
    assert_eq!(listed[0].last_used_at, None);
    // WHEN the key is deleted THEN the warm instance's next check is refused: liveness is read
    assert!(
        app.store
            .delete_key(
                &tests::account("acct_check"),
                &common::ids::KeyId::parse(tests::FIXTURE_KEY_ID).unwrap(),
                common::clock::now(),
                Default::default()
            )
            .await
            .unwrap()
    );
    counter.take();
    assert_eq!(check("check-key").await.0, 401);
    assert_eq!(counter.take(), ["GetItem"]);
    eprintln!("check-key DynamoDB requests: warm 1, first seen 2, unknown 1, writes 0");
}

#[tokio::test]
async fn a_test_keys_session_is_one_request_warm_counted_in_that_write_and_spends_no_credit() {
    // GIVEN a test key, which an instance has not seen, on an account with its free credits
    let counter = CallCounter::default();
    let table = fresh_table(&client(None)).await;
    let dir = tests::fixture_data_dir();
    let config = tests::local_config(
        dir.path(),
        &[("VP_TABLE_NAME", &table), ("VP_TEST_SESSIONS_PER_DAY", "2")],
    );
    let store = tests::dynamo::settled(client(Some(counter.clone())), &table, config.free_credits);
    let app = tests::Functions::new(config, store).unwrap();
    let (plaintext, key) = tests::conformance::new_key_of(
        common::api_key::KeyMode::Test,
        "acct_test_calls",
        "Staging",
        common::clock::now(),
    );
    app.store.create_key(key, Default::default()).await.unwrap();
    let before = tests::credits(app.store.as_ref(), "acct_test_calls").await;
    counter.take();
    // WHEN it opens the account's first test session of the day THEN as a limited key's first:
    // its lookup, and the debit that is told the day's count has not begun and starts it
    assert_eq!(session(&app, plaintext.expose(), None).await, 200);
    assert_eq!(counter.take(), ["GetItem", "UpdateItem", "UpdateItem"]);
    // WHEN it opens the second THEN one request, as any warm session
    assert_eq!(session(&app, plaintext.expose(), None).await, 200);
    assert_eq!(counter.take(), ["UpdateItem"]);
    // WHEN the allowance (2) is spent THEN 429 from that same one request
    assert_eq!(session(&app, plaintext.expose(), None).await, 429);
    assert_eq!(counter.take(), ["UpdateItem"]);
    // AND no credit moved
    assert_eq!(
        tests::credits(app.store.as_ref(), "acct_test_calls").await,
        before
    );
}

#[tokio::test]
async fn a_limited_key_counts_its_day_in_the_debits_own_write() {
    // GIVEN a key limited to 2 sessions a day, which an instance has not seen
    let counter = CallCounter::default();
    let table = fresh_table(&client(None)).await;
    let (app, _dir) = counted_instance(&table, &counter).await;
    let plaintext = common::api_key::PlaintextKey::generate(common::api_key::KeyMode::Live);
    let key = common::store::NewKey {
        id: common::ids::KeyId::generate(),
        account: tests::account("acct_daily_calls"),
        name: common::key_name::KeyName::parse("Limited").unwrap(),
        prefix: plaintext.display_prefix(),
        hash: plaintext.hash(),
        created_at: common::clock::now(),
        expires_at: None,
        sessions_per_day: Some(2),
    };
    app.store.create_key(key, Default::default()).await.unwrap();
    counter.take();
    // WHEN it opens its first session of the day THEN one more request than an unlimited key:
    // the debit assumes today's count has begun, is told it has not, and starts it
    assert_eq!(session(&app, plaintext.expose(), None).await, 200);
    assert_eq!(counter.take(), ["GetItem", "UpdateItem", "UpdateItem"]);
    // WHEN it opens its second THEN one request, as for any warm key
    assert_eq!(session(&app, plaintext.expose(), None).await, 200);
    assert_eq!(counter.take(), ["UpdateItem"]);
    // WHEN it is past its limit THEN 429 from that same one request, and nothing is taken
    let before = tests::credits(app.store.as_ref(), "acct_daily_calls").await;
    counter.take();
    assert_eq!(session(&app, plaintext.expose(), None).await, 429);
    assert_eq!(counter.take(), ["UpdateItem"]);
    assert_eq!(
        tests::credits(app.store.as_ref(), "acct_daily_calls").await,
        before
    );
}

#[tokio::test]
async fn a_key_deleted_through_another_instance_is_refused_by_the_next_session_in_one_request() {
    // GIVEN an instance that has resolved and remembered a key
    let counter = CallCounter::default();
    let table = fresh_table(&client(None)).await;
    let (warm, _dir) = counted_instance(&table, &counter).await;
    let (other, _other_dir) = counted_instance(&table, &CallCounter::default()).await;
    tests::seed_key(
        warm.store.as_ref(),
        tests::FIXTURE_ACCOUNT,
        tests::FIXTURE_KEY_ID,
        tests::KEY_OK,
    )
    .await;
    assert_eq!(session(&warm, tests::KEY_OK, None).await, 200);
    counter.take();
    // WHEN another instance deletes the key
    let key = common::ids::KeyId::parse(tests::FIXTURE_KEY_ID).unwrap();
    let deleted = other
        .store
        .delete_key(
            &tests::account(tests::FIXTURE_ACCOUNT),
            &key,
            common::clock::now(),
            Default::default(),
        )
        .await
        .unwrap();
    assert!(deleted);
    // THEN the warm instance's next session is refused: one request, the debit's own condition
    let before = tests::credits(warm.store.as_ref(), tests::FIXTURE_ACCOUNT).await;
    counter.take();
    assert_eq!(session(&warm, tests::KEY_OK, None).await, 401);
    assert_eq!(counter.take(), ["UpdateItem"]);
    assert_eq!(
        tests::credits(warm.store.as_ref(), tests::FIXTURE_ACCOUNT).await,
        before
    );
    // AND the idempotent path refuses it too, whatever the idempotency key
    assert_eq!(session(&warm, tests::KEY_OK, Some("after-delete")).await, 401);
}

#[tokio::test]
async fn a_corrupted_ledger_entry_fails_the_ledger_check() {
    // GIVEN an account whose ledger is intact
    let client = client(None);
    let table = fresh_table(&client).await;
    let store = tests::dynamo::settled(client.clone(), table.clone(), 1);
    let store = store.as_ref();
    let account = tests::account("acct_corrupt");
    store
        .grant_credits(&account, 5, "support", common::clock::now())
        .await
        .unwrap();
    assert!(
        common::store::verify_ledger(store, &account)
            .await
            .unwrap()
            .unwrap()
            .ok
    );
    // WHEN one ledger item is altered behind the store's back
    let entry = store
        .ledger(&account)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("support"))
        .unwrap();
    client
        .update_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("LEDGER#{account}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("LEDGER#{}", entry.id)),
        )
        .update_expression("SET amount = :more")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":more", aws_sdk_dynamodb::types::AttributeValue::N("6".into()))
        .send()
        .await
        .unwrap();
    // THEN the check fails
    let check = common::store::verify_ledger(store, &account)
        .await
        .unwrap()
        .unwrap();
    assert!(!check.ok, "{check:?}");
}

#[tokio::test]
async fn the_idempotency_record_holds_no_live_token_and_the_replay_keeps_the_recorded_balance() {
    // GIVEN an idempotent session, another session, and the retry, on DynamoDB
    let client = client(None);
    let table = fresh_table(&client).await;
    let dir = tests::fixture_data_dir();
    let config = tests::local_config(dir.path(), &[("VP_TABLE_NAME", &table)]);
    let store = tests::dynamo::settled(client.clone(), table.clone(), config.free_credits);
    let app = tests::Functions::new(config, store.clone()).unwrap();
    tests::seed_key(
        store.as_ref(),
        tests::FIXTURE_ACCOUNT,
        tests::FIXTURE_KEY_ID,
        tests::KEY_OK,
    )
    .await;
    let token = tests::replay_after_another_session(&app).await;
    // THEN no item of the table (a backup would hold the same) carries the token
    let items = client.scan().table_name(&table).send().await.unwrap();
    assert!(
        items
            .items()
            .iter()
            .any(|i| i["sk"].as_s().is_ok_and(|s| s.starts_with("IDEM#"))),
        "the record exists"
    );
    tests::assert_holds_no_token(format!("{:?}", items.items()).as_bytes(), &token, "the table");

    // WHEN someone who can write the table alters the record's sealed token
    let record = items
        .items()
        .iter()
        .find(|i| i["sk"].as_s().is_ok_and(|s| s.starts_with("IDEM#")))
        .unwrap();
    let sealed = record["sealedToken"].as_s().unwrap().clone();
    let mut altered = sealed.into_bytes();
    let middle = altered.len() / 2;
    altered[middle] = if altered[middle] == b'A' { b'B' } else { b'A' };
    client
        .update_item()
        .table_name(&table)
        .key("pk", record["pk"].clone())
        .key("sk", record["sk"].clone())
        .update_expression("SET sealedToken = :altered")
        .expression_attribute_values(
            ":altered",
            aws_sdk_dynamodb::types::AttributeValue::S(String::from_utf8(altered).unwrap()),
        )
        .send()
        .await
        .unwrap();
    // THEN the retry is a 500 without a token, and takes nothing
    let retry = app
        .create_session(tests::fixture("create-session-idempotent"))
        .await;
    let (status, body, _) = tests::parts(retry);
    assert_eq!(
        (status, body["code"].as_str()),
        (500, Some("internal_error")),
        "{body}"
    );
    assert!(body.get("token").is_none(), "{body}");
    assert_eq!(tests::credits(store.as_ref(), tests::FIXTURE_ACCOUNT).await, 1);
}

#[tokio::test]
async fn lookups_dynamodb_leaves_unread_are_asked_for_again_and_every_reported_key_is_revoked() {
    // GIVEN an account with 10 keys, and a store whose first batch reads DynamoDB answers only
    // half of
    let table = fresh_table(&client(None)).await;
    let half = tests::dynamo::HalfProcessed::new(2);
    let store = common::store::dynamodb::DynamoStore::new(
        tests::dynamo::half_processing_client(half.clone(), CallCounter::default()),
        table,
        FREE_CREDITS,
    );
    let mut created = Vec::new();
    for i in 0..10 {
        created.push(tests::conformance::create(&store, "acct_many", &format!("key {i}")).await);
    }
    // WHEN one report names all ten
    let reports: Vec<_> = created
        .iter()
        .map(|(plaintext, _)| common::store::ReportedLeak {
            hash: plaintext.hash(),
            leak: common::store::Leak {
                url: None,
                source: None,
            },
        })
        .collect();
    let outcomes = common::store::Store::revoke_leaked(
        &store,
        &reports,
        common::clock::now(),
        tests::conformance::origin(),
    )
    .await
    .unwrap();
    // THEN the lookups DynamoDB left unread were read again, and every key is revoked
    assert_eq!(
        half.handed_back(),
        5 + 2,
        "two reads were halved: 10 -> 5 handed back, then 5 -> 2"
    );
    let revoked: Vec<_> = outcomes
        .into_iter()
        .map(|o| match o {
            common::store::LeakRevocation::Revoked { key, .. } => key,
            other => panic!("{other:?}"),
        })
        .collect();
    let ids: Vec<_> = created.into_iter().map(|(_, id)| id).collect();
    assert_eq!(revoked, ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_of_1000_matches_revokes_exactly_its_live_keys_on_dynamodb() {
    let counter = CallCounter::default();
    let table = fresh_table(&client(None)).await;
    let (app, _dir) = counted_instance(&table, &counter).await;
    tests::reports::a_report_of_1000_matches_revokes_exactly_its_live_keys(&app, Some(&counter)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_revokes_one_accounts_keys_one_after_another() {
    use common::store::Store;
    // GIVEN 20 live keys in each of two accounts
    let watch = tests::dynamo::TransactionsInFlight::default();
    let table = fresh_table(&client(None)).await;
    let store =
        common::store::dynamodb::DynamoStore::new(tests::dynamo::watched_client(watch.clone()), table, 3);
    let mut reports = Vec::new();
    for acct in ["acct_turns_a", "acct_turns_b"] {
        for i in 0..20 {
            let (plaintext, _) = tests::conformance::create(&store, acct, &format!("K{i}")).await;
            reports.push(common::store::ReportedLeak {
                hash: plaintext.hash(),
                leak: Default::default(),
            });
        }
    }
    // WHEN one report names them all
    let outcomes = store
        .revoke_leaked(&reports, common::clock::now(), tests::conformance::origin())
        .await
        .unwrap();
    // THEN all are revoked, and never two transactions on one account item at once (they would
    // cancel each other on DynamoDB and spend their retries)
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, common::store::LeakRevocation::Revoked { .. }))
    );
    let most = watch.most();
    assert_eq!(most.get("acct_turns_a"), Some(&1), "{most:?}");
    assert_eq!(most.get("acct_turns_b"), Some(&1), "{most:?}");
}

#[tokio::test]
async fn a_key_past_the_expiry_it_was_made_with_is_refused_without_a_request() {
    use common::store::{DebitOutcome, Store};
    // GIVEN a key made to expire in a day, resolved (and so remembered) by an instance
    let counter = CallCounter::default();
    let table = fresh_table(&client(None)).await;
    let store = common::store::dynamodb::DynamoStore::new(client(Some(counter.clone())), table, 3);
    let now = common::clock::now();
    let (plaintext, mut key) = tests::conformance::new_key("acct_expiry_calls", "CI", now);
    key.expires_at = Some(now + time::Duration::days(1));
    store.create_key(key, tests::conformance::origin()).await.unwrap();
    let resolved = store.resolve_key(&plaintext.hash()).await.unwrap().unwrap();
    assert_eq!(resolved.expires_at, Some(now + time::Duration::days(1)));
    counter.take();
    // WHEN a session comes a second before it, and at it
    let before = tests::conformance::debit_at(now + time::Duration::days(1) - time::Duration::seconds(1));
    assert!(matches!(
        store.debit_session(&resolved, before, None).await.unwrap(),
        DebitOutcome::Debited { .. }
    ));
    assert_eq!(counter.take(), ["UpdateItem"]);
    let at = tests::conformance::debit_at(now + time::Duration::days(1));
    // THEN the first is the usual one write, the second refused with none: that expiry never
    // changes, so the instance decides it
    assert_eq!(
        store.debit_session(&resolved, at, None).await.unwrap(),
        DebitOutcome::InvalidKey
    );
    assert!(
        counter.take().is_empty(),
        "no request for a key past the expiry it was made with"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usage_query_is_one_batch_read_of_one_item_per_day_and_never_reads_the_ledger() {
    use common::store::usage::{Granularity, UsageQuery};
    // GIVEN an account with a key that has opened sessions, the stream delivered
    let counter = CallCounter::default();
    let table = fresh_table(&client(None)).await;
    let (app, _dir) = counted_instance(&table, &counter).await;
    tests::seed_key(
        app.store.as_ref(),
        "acct_usage_calls",
        tests::FIXTURE_KEY_ID,
        tests::KEY_OK,
    )
    .await;
    for _ in 0..2 {
        assert_eq!(session(&app, tests::KEY_OK, None).await, 200);
    }
    let now = common::clock::now();
    for (days, granularity) in [(90, Granularity::Day), (7, Granularity::Hour)] {
        let query = UsageQuery::covering(now - time::Duration::days(days), now, granularity).unwrap();
        // (counted once the ledger function has caught up: the settled store waits for it)
        let usage = app
            .store
            .usage(&tests::account("acct_usage_calls"), &query, now)
            .await
            .unwrap();
        assert_eq!(
            usage.sessions[tests::FIXTURE_KEY_ID].values().sum::<u64>(),
            2,
            "{usage:?} {query:?}"
        );
        // WHEN the range is read again THEN one BatchGetItem (the account item, how far the
        // counts go, one item a day: at most 92, within one batch's 100), nothing else
        counter.take();
        app.store
            .usage(&tests::account("acct_usage_calls"), &query, now)
            .await
            .unwrap();
        assert_eq!(counter.take(), ["BatchGetItem"], "{granularity:?}");
    }
}
