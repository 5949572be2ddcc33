//! The store conformance suite on the DynamoDB store, against the local DynamoDB-protocol
//! server `make test` starts; plus what only DynamoDB needs showing: the calls a session costs.

use common::api_key::KeyHash;
use common::store::dynamodb::DynamoStore;
use common::store::{Origin, SessionDebit, Store};
use std::sync::Arc;
use tests::conformance::{FREE_CREDITS, StoreUnderTest};
use tests::dynamo::{CallCounter, client, fresh_table};
use tests::{OpenSession, SessionOutcome};

async fn dynamodb() -> StoreUnderTest {
    let client = client(None);
    let table = fresh_table(&client).await;
    StoreUnderTest {
        store: Arc::new(DynamoStore::new(client, table.clone(), FREE_CREDITS)),
        guard: Box::new(table),
    }
}

tests::conformance_tests!(dynamodb);

#[tokio::test]
async fn calls_on_the_create_session_path() {
    // GIVEN a key on an account with credits, and a client that counts every request
    let counter = CallCounter::default();
    let client = client(Some(counter.clone()));
    let table = fresh_table(&client).await;
    let store = DynamoStore::new(client, table, 1);
    tests::seed_key(&store, "acct_calls", tests::FIXTURE_KEY_ID, tests::KEY_OK).await;
    let debit = || SessionDebit {
        session: common::ids::SessionId::generate(),
        at: common::clock::now(),
        origin: Origin::default(),
    };
    counter.take();

    // WHEN a session is opened THEN four calls: resolve, debit, copy the records, tidy up
    assert!(matches!(
        store
            .open_session(&KeyHash::of(tests::KEY_OK), debit())
            .await
            .unwrap(),
        SessionOutcome::Opened { .. }
    ));
    assert_eq!(
        counter.take(),
        ["GetItem", "UpdateItem", "TransactWriteItems", "UpdateItem"]
    );
    // WHEN the balance is empty THEN two: resolve, and the refused conditional debit
    assert_eq!(
        store
            .open_session(&KeyHash::of(tests::KEY_OK), debit())
            .await
            .unwrap(),
        SessionOutcome::InsufficientCredits
    );
    assert_eq!(counter.take(), ["GetItem", "UpdateItem"]);
    // WHEN the key is unknown THEN one: resolve
    assert_eq!(
        store
            .open_session(&KeyHash::of(tests::KEY_EMPTY), debit())
            .await
            .unwrap(),
        SessionOutcome::InvalidKey
    );
    assert_eq!(counter.take(), ["GetItem"]);
    eprintln!("create-session DynamoDB calls: success 4, insufficient credits 2, invalid key 1");
}

#[tokio::test]
async fn a_corrupted_ledger_entry_fails_the_ledger_check() {
    // GIVEN an account whose ledger is intact
    let client = client(None);
    let table = fresh_table(&client).await;
    let store = DynamoStore::new(client.clone(), table.clone(), 1);
    let account = tests::account("acct_corrupt");
    store
        .grant_credits(&account, 5, "support", common::clock::now())
        .await
        .unwrap();
    assert!(
        common::store::verify_ledger(&store, &account)
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
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ACCOUNT#{account}")),
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
    let check = common::store::verify_ledger(&store, &account)
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
    let dir = tempfile::tempdir().unwrap();
    let config = tests::local_config(dir.path(), &[("VP_TABLE_NAME", &table)]);
    let store = Arc::new(DynamoStore::new(
        client.clone(),
        table.clone(),
        config.free_credits,
    ));
    let app = common::App::new(config, store.clone()).unwrap();
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
}
