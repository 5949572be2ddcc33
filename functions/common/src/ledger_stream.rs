//! The ledger function's work: a batch of the table's stream records in, the ledger entries
//! and `key.used` audit events they carry written out, the webhook events they raise queued
//! (`store::dynamodb::raised`), and the records to deliver again
//! reported back (`ReportBatchItemFailures`): from the first one not written on, so a crash or
//! a failed write mid-batch loses nothing and redelivery duplicates nothing. Every record also
//! passes the table's tripwires (`store::dynamodb::tripwire`).

use crate::store::StoreError;
use crate::store::dynamodb::DynamoStore;
use crate::store::dynamodb::raised;
use crate::store::dynamodb::stream::{StreamChange, change_of};
use crate::store::dynamodb::tripwire;
use crate::webhooks::delivery::Event as WebhookEvent;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

/// Handles one batch; never fails as a whole: what could not be written is reported.
/// The ledger function's state: the table whose stream feeds it (DynamoDB only: the embedded
/// store writes its ledger itself).
impl crate::runtime::State for DynamoStore {
    fn build(startup: crate::startup::Startup) -> Result<Self, crate::startup::StartupError> {
        if startup.config.webhooks.queue_url.is_none() {
            tracing::warn!("no webhook queue configured (VP_WEBHOOK_QUEUE_URL): no webhook events are sent");
        }
        startup.dynamodb_store()
    }
}

pub async fn handle(store: &DynamoStore, event: Event) -> DynamoDbEventResponse {
    // The changes up to the first record we cannot read; that record and everything after it
    // are delivered again (and a record that never reads ends on the failure destination after
    // the source mapping's retries): never silently dropped. What comes before it is written
    // first, since reporting it as the retry point tells Lambda everything earlier succeeded.
    let mut changes: Vec<(usize, StreamChange)> = Vec::new();
    let mut unreadable = None;
    for (i, record) in event.records.iter().enumerate() {
        match change_of_record(record) {
            Ok(Some(change)) => changes.push((i, change)),
            Ok(None) => {}
            Err(e) => {
                unreadable = Some((i, e));
                break;
            }
        }
    }
    let only: Vec<StreamChange> = changes.iter().map(|(_, c)| c.clone()).collect();
    // How far the batch is settled: its records up to the first change not written, or the
    // first record that does not read.
    let (settled, failure) = match store.materialise(&only).await {
        Err((index, e)) => (changes[index].0, Some((e, index))),
        Ok(()) => match unreadable {
            Some((i, e)) => (i, Some((e, only.len()))),
            None => (event.records.len(), None),
        },
    };
    // Then the webhook events of the settled records: a record whose events are not all
    // queued is delivered again (its ledger items are rewritten unchanged).
    let raised = match raised_events(store, &event.records[..settled], &changes) {
        Ok(raised) => raised,
        Err((i, e)) => return retry_from(&event.records, i, &e, 0),
    };
    let events: Vec<(String, WebhookEvent)> = raised.iter().map(|(_, r)| r.clone()).collect();
    if let Err((index, e)) = store.queue_webhooks(&events).await {
        let from = raised[index].0;
        sound_tripwires(&event.records[..from]);
        return retry_from(&event.records, from, &e, 0);
    }
    if let Some((e, written)) = failure {
        sound_tripwires(&event.records[..settled]);
        return retry_from(&event.records, settled, &e, written);
    }
    sound_tripwires(&event.records);
    tracing::info!(
        records = event.records.len(),
        changes = only.len(),
        "ledger written"
    );
    DynamoDbEventResponse::default()
}

/// Logs each record of `records` that trips a wire (`store::dynamodb::tripwire`), for the
/// metric filters. Only records this delivery settles: one delivered again is counted then.
fn sound_tripwires(records: &[EventRecord]) {
    for record in records {
        let (old, new) = (image(&record.change.old_image), image(&record.change.new_image));
        if let Some(wire) = tripwire::tripped(old.as_ref(), new.as_ref()) {
            let keys = image(&record.change.keys).unwrap_or_default();
            let key = |name: &str| {
                keys.get(name)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            tracing::error!(
                alarm = "table_tripwire",
                tripwire = wire.kind(),
                pk = %key("pk"),
                sk = %key("sk"),
                "a change that must never happen reached the table"
            );
        }
    }
}

fn image(item: &serde_dynamo::Item) -> Option<crate::store::dynamodb::Item> {
    (!item.is_empty()).then(|| item.clone().into())
}

/// The webhook events of `records` (all settled), each with the index of its record: a
/// change's, from `changes` (by record index), and an inserted audit item's.
#[allow(clippy::type_complexity)]
fn raised_events(
    store: &DynamoStore,
    records: &[EventRecord],
    changes: &[(usize, StreamChange)],
) -> Result<Vec<(usize, (String, WebhookEvent))>, (usize, StoreError)> {
    let mut raised = Vec::new();
    let mut changes = changes.iter().peekable();
    for (i, record) in records.iter().enumerate() {
        if let Some((_, change)) = changes.next_if(|(at, _)| *at == i) {
            for e in raised::change_events(change, store.low_credit_threshold()).map_err(|e| (i, e))? {
                raised.push((i, (change.account.clone(), e)));
            }
        } else if record.event_name == "INSERT"
            && let Some(new) = image(&record.change.new_image)
            && let Some(event) = raised::audit_event(new).map_err(|e| (i, e))?
        {
            raised.push((i, event));
        }
    }
    Ok(raised)
}

fn change_of_record(record: &EventRecord) -> Result<Option<StreamChange>, StoreError> {
    change_of(image(&record.change.old_image), image(&record.change.new_image))
}

/// The response that has the batch delivered again from record `from` on.
fn retry_from(
    records: &[EventRecord],
    from: usize,
    error: &StoreError,
    written: usize,
) -> DynamoDbEventResponse {
    tracing::warn!(error = %error, written, retry_from = from, "ledger batch incomplete; the rest will be redelivered");
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures.push({
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = records[from].change.sequence_number.clone();
        failure
    });
    response
}
