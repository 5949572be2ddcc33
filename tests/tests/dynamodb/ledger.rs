//! The ledger function on the table's stream: every balance change becomes exactly one ledger
//! entry (and every debit one `key.used` event, every crossing one low-credit event), whatever fails in the middle of a batch and
//! however often a batch is delivered again.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use common::ledger_stream;
use common::store::dynamodb::DynamoStore;
use common::store::usage::{Granularity, Usage, UsageQuery};
use common::store::{LedgerKind, Store, verify_ledger};
use std::collections::BTreeSet;
use std::convert::Infallible;
use tests::dynamo::{self, CallCounter, Fault, FaultInjector, client, faulty_client, fresh_table_unfollowed};
use tests::*;

pub(crate) const SESSIONS: usize = 30;

/// A table whose stream nobody follows, holding a key that has opened `SESSIONS` sessions.
pub(crate) async fn unwritten_ledger() -> (String, std::sync::Arc<dyn Store>, tempfile::TempDir) {
    let table = fresh_table_unfollowed(&client(None)).await;
    let dir = fixture_data_dir();
    let config = local_config(dir.path(), &[("VP_TABLE_NAME", &table)]);
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(DynamoStore::new(client(None), table.clone(), config.free_credits));
    // Credits for exactly SESSIONS sessions, so that they cross the low-credit threshold and 0.
    let granted = SESSIONS as u64 - config.free_credits;
    let app = Functions::new(config, store.clone()).unwrap();
    seed_key(store.as_ref(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    store
        .grant_credits(&account(FIXTURE_ACCOUNT), granted, "test", common::clock::now())
        .await
        .unwrap();
    for _ in 0..SESSIONS {
        let (status, body, _) = parts(app.create_session(fixture("create-session")).await);
        assert_eq!(status, 200, "{body}");
    }
    (table, store, dir)
}

/// The ledger is whole: as many entries as changes, each once, adding up to the balance, and
/// one key.used event per debit.
pub(crate) async fn assert_whole(store: &dyn Store) {
    let account = account(FIXTURE_ACCOUNT);
    let check = verify_ledger(store, &account).await.unwrap().unwrap();
    assert!(check.ok && check.behind == 0, "{check:?}");
    let ledger = store.ledger(&account).await.unwrap();
    let ids: BTreeSet<_> = ledger.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), ledger.len(), "no entry twice");
    let debits = ledger.iter().filter(|e| e.kind == LedgerKind::Debit).count();
    assert_eq!(debits, SESSIONS);
    let used = store
        .audit_events(&account, common::clock::now())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == common::store::AuditAction::KeyUsed)
        .count();
    assert_eq!(used, SESSIONS, "one key.used event per debit");
    let events: Vec<_> = store
        .credit_events(&account)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event.as_str(), e.credits))
        .collect();
    assert_eq!(
        events,
        [("credits.low", 1), ("credits.exhausted", 0)],
        "one low-credit event per crossing"
    );
    // And the usage counters: every change counted once, and caught up.
    let (usage, asked) = usage_now(store).await;
    assert_eq!(usage.caught_up_to, asked, "every change counted");
    let sessions: u64 = usage.sessions.get(FIXTURE_KEY_ID).map_or(0, |c| c.values().sum());
    assert_eq!(sessions, SESSIONS as u64, "each session counted once");
    assert_eq!(usage.granted, SESSIONS as u64, "the free credits and the grant");
}

/// The fixture account's usage over the last two hours, as the store has counted it now, and
/// when it was asked (to compare `caught_up_to` with).
async fn usage_now(store: &dyn Store) -> (Usage, time::OffsetDateTime) {
    let now = common::clock::now();
    let query = UsageQuery::covering(
        now - time::Duration::hours(2),
        now + time::Duration::minutes(1),
        Granularity::Hour,
    )
    .unwrap();
    let usage = store.usage(&account(FIXTURE_ACCOUNT), &query, now).await.unwrap();
    (usage, now)
}

#[tokio::test]
async fn until_the_stream_is_delivered_the_check_says_the_ledger_is_behind_not_wrong() {
    let (_table, store, _dir) = unwritten_ledger().await;
    let check = verify_ledger(store.as_ref(), &account(FIXTURE_ACCOUNT))
        .await
        .unwrap()
        .unwrap();
    // The grants and every session are changes; none is written yet, and the check says so.
    assert!(!check.ok, "{check:?}");
    assert_eq!(check.ledger_entries, 0);
    assert!(check.behind as usize > SESSIONS, "{check:?}");
    // And usage counts nothing yet, and says it is caught up to no time at all.
    let (usage, _) = usage_now(store.as_ref()).await;
    assert_eq!(usage.caught_up_to, time::OffsetDateTime::UNIX_EPOCH);
    assert!(
        !usage.sessions.contains_key(FIXTURE_KEY_ID) && usage.granted == 0,
        "{usage:?}"
    );
}

#[tokio::test]
async fn a_batch_that_fails_midway_is_delivered_again_from_there_and_nothing_is_lost_or_doubled() {
    // The second ledger write, not sent or landing with its answer lost (as if the function
    // crashed right after); the first usage count landing with its answer lost (its chunk's
    // UpdateItems: the key's last use, then the day's counts).
    for (operation, response_lost) in [
        ("BatchWriteItem", false),
        ("BatchWriteItem", true),
        ("UpdateItem", true),
    ] {
        let occurrence = 2;
        // GIVEN a stream of 30-odd balance changes, and a ledger function whose write fails
        let (table, store, _dir) = unwritten_ledger().await;
        let injector = FaultInjector::default();
        let ledger = DynamoStore::new(
            faulty_client(injector.clone(), CallCounter::default()),
            table.clone(),
            0,
        );
        injector.arm(Fault {
            operation,
            occurrence,
            response_lost,
        });
        let mut stream = dynamo::stream_of(&table).await;
        let mut deliver = |event| async { Ok::<_, Infallible>(ledger_stream::handle(&ledger, event).await) };

        // WHEN the batch is delivered THEN the function reports where to resume
        let first = stream.step(&mut deliver).await;
        assert!(injector.fired(), "the fault struck");
        assert!(first.is_err(), "the batch is reported incomplete: {first:?}");
        let behind = verify_ledger(store.as_ref(), &account(FIXTURE_ACCOUNT))
            .await
            .unwrap()
            .unwrap()
            .behind;
        // (the usage counts lag: some sessions are not counted yet, and the counts claim no
        // more than the time of the last change they hold)
        let (usage, asked) = usage_now(store.as_ref()).await;
        let counted: u64 = usage.sessions.get(FIXTURE_KEY_ID).map_or(0, |c| c.values().sum());
        assert!(
            counted < SESSIONS as u64 && usage.caught_up_to < asked,
            "{usage:?}"
        );
        if operation == "BatchWriteItem" {
            assert!(behind > 0, "part of the batch is still unwritten");
        }

        // WHEN the rest is delivered again THEN the ledger is whole, every entry once
        injector.disarm();
        assert_eq!(stream.step(&mut deliver).await, Ok(true));
        assert_whole(store.as_ref()).await;
    }
}

#[tokio::test]
async fn a_whole_batch_delivered_twice_writes_each_entry_once() {
    // GIVEN the stream delivered once in full
    let (table, store, _dir) = unwritten_ledger().await;
    let ledger = DynamoStore::new(client(None), table.clone(), 0);
    let mut deliver = |event| async { Ok::<_, Infallible>(ledger_stream::handle(&ledger, event).await) };
    assert_eq!(dynamo::stream_of(&table).await.step(&mut deliver).await, Ok(true));
    // WHEN all of it is delivered again (a function that timed out after writing everything)
    assert_eq!(dynamo::stream_of(&table).await.step(&mut deliver).await, Ok(true));
    // THEN nothing is doubled
    assert_whole(store.as_ref()).await;
}

#[tokio::test]
async fn a_record_that_cannot_be_read_is_the_retry_point_and_every_change_before_it_is_written() {
    // GIVEN the stream's records, one of them in the middle unreadable
    let (table, store, _dir) = unwritten_ledger().await;
    let mut stream = dynamo::stream_of(&table).await;
    let mut captured = None;
    let mut capture = |event| {
        captured = Some(event);
        async { Err::<DynamoDbEventResponse, _>("captured, not delivered") }
    };
    assert!(stream.step(&mut capture).await.is_err());
    let mut event: Event = captured.expect("the stream had records");
    let bad = event.records.len() / 2;
    event.records[bad].change.new_image.insert(
        "version".into(),
        serde_dynamo::AttributeValue::S("not a number".into()),
    );
    let before_bad = event.records[..bad]
        .iter()
        .filter(|r| r.change.new_image.get("sk") == Some(&serde_dynamo::AttributeValue::S("ACCOUNT".into())))
        .filter(|r| r.change.new_image.get("change").is_some())
        .count();

    // WHEN the ledger function handles the batch
    let ledger = DynamoStore::new(client(None), table.clone(), 0);
    let response = ledger_stream::handle(&ledger, event.clone()).await;

    // THEN the unreadable record is where the batch resumes, and every change before it is
    // already written (Lambda takes everything before the retry point as done)
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        response.batch_item_failures[0].item_identifier,
        event.records[bad].change.sequence_number
    );
    let written = verify_ledger(store.as_ref(), &account(FIXTURE_ACCOUNT))
        .await
        .unwrap()
        .unwrap()
        .ledger_entries;
    assert_eq!(written, before_bad);
    assert!(before_bad > 0, "the unreadable record is not the first change");
}

#[tokio::test]
async fn what_dynamodb_leaves_unprocessed_is_written_again_until_the_ledger_is_whole() {
    // GIVEN a ledger function whose first writes DynamoDB processes only half of
    let (table, store, _dir) = unwritten_ledger().await;
    let half = dynamo::HalfProcessed::new(3);
    let ledger = DynamoStore::new(
        dynamo::half_processing_client(half.clone(), CallCounter::default()),
        table.clone(),
        0,
    );
    let mut deliver = |event| async { Ok::<_, Infallible>(ledger_stream::handle(&ledger, event).await) };
    // WHEN the stream is delivered once
    assert_eq!(dynamo::stream_of(&table).await.step(&mut deliver).await, Ok(true));
    // THEN what was handed back was written too: the ledger is whole, every entry once
    assert!(half.handed_back() > 0, "nothing was left unprocessed");
    assert_whole(store.as_ref()).await;
}

#[tokio::test]
async fn a_keys_last_use_is_listed_once_the_stream_has_delivered_its_session() {
    // GIVEN a key that has opened sessions, their records not yet delivered
    let (table, store, _dir) = unwritten_ledger().await;
    let listed = |store: std::sync::Arc<dyn Store>| async move {
        store.list_keys(&account(FIXTURE_ACCOUNT)).await.unwrap()[0].last_used_at
    };
    // THEN the list does not show it yet: the session's own write does not carry it
    assert_eq!(
        listed(store.clone()).await,
        None,
        "a session's write leaves the last use to the stream"
    );
    // AND another account's key item is gone, behind the API's back, before its session arrives
    let (gone, gone_id) = conformance::create(store.as_ref(), "acct_item_gone", "Gone").await;
    let gone_key = store.resolve_key(&gone.hash()).await.unwrap().unwrap();
    store
        .debit_session(&gone_key, conformance::debit_at(common::clock::now()), None)
        .await
        .unwrap();
    let gone_item = || {
        use aws_sdk_dynamodb::types::AttributeValue::S;
        std::collections::HashMap::from([
            ("pk".to_string(), S("KEY#acct_item_gone".into())),
            ("sk".to_string(), S(format!("KEY#{gone_id}"))),
        ])
    };
    client(None)
        .delete_item()
        .table_name(&table)
        .set_key(Some(gone_item()))
        .send()
        .await
        .unwrap();
    // WHEN the stream is delivered
    let ledger = DynamoStore::new(client(None), table.clone(), 0);
    let mut deliver = |event| async { Ok::<_, Infallible>(ledger_stream::handle(&ledger, event).await) };
    let mut stream = dynamo::stream_of(&table).await;
    assert_eq!(stream.step(&mut deliver).await, Ok(true));
    let first = listed(store.clone()).await.expect("listed once delivered");
    // AND a session stamped a day earlier arrives in a later batch (a slow instance), and then
    // the whole stream again (a redelivery): neither moves it back
    store
        .grant_credits(&account(FIXTURE_ACCOUNT), 1, "late", common::clock::now())
        .await
        .unwrap();
    let key = store
        .resolve_key(&common::api_key::KeyHash::of(KEY_OK))
        .await
        .unwrap()
        .unwrap();
    let yesterday = conformance::debit_at(common::clock::now() - time::Duration::days(1));
    assert!(matches!(
        store.debit_session(&key, yesterday, None).await.unwrap(),
        common::store::DebitOutcome::Debited { .. }
    ));
    assert_eq!(stream.step(&mut deliver).await, Ok(true));
    assert_eq!(
        listed(store.clone()).await,
        Some(first),
        "the late record moved nothing"
    );
    assert_eq!(dynamo::stream_of(&table).await.step(&mut deliver).await, Ok(true));
    // THEN it is the last session's time, and stays so
    let last_debit = store
        .ledger(&account(FIXTURE_ACCOUNT))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == LedgerKind::Debit && e.key_id.as_deref() == Some(FIXTURE_KEY_ID))
        .map(|e| e.at)
        .max()
        .unwrap();
    assert_eq!(
        first, last_debit,
        "the latest session's time, not the late record's"
    );
    assert_eq!(listed(store).await, Some(last_debit));
    // AND the key item that was gone is not made again by its last use
    let item = client(None)
        .get_item()
        .table_name(&table)
        .set_key(Some(gone_item()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item;
    assert_eq!(item, None);
}
