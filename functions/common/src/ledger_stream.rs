//! The ledger function's work: a batch of the table's stream records in, the ledger entries
//! and `key.used` audit events they carry written out, and the records to deliver again
//! reported back (`ReportBatchItemFailures`): from the first one not written on, so a crash or
//! a failed write mid-batch loses nothing and redelivery duplicates nothing.

use crate::store::StoreError;
use crate::store::dynamodb::DynamoStore;
use crate::store::dynamodb::stream::{StreamChange, change_of};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

/// Handles one batch; never fails as a whole: what could not be written is reported.
/// The ledger function's state: the table whose stream feeds it (DynamoDB only: the embedded
/// store writes its ledger itself).
impl crate::runtime::State for DynamoStore {
    fn build(startup: crate::startup::Startup) -> Result<Self, crate::startup::StartupError> {
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
    if let Err((index, e)) = store.materialise(&only).await {
        return retry_from(&event.records, changes[index].0, &e, index);
    }
    if let Some((i, e)) = unreadable {
        return retry_from(&event.records, i, &e, only.len());
    }
    tracing::info!(
        records = event.records.len(),
        changes = only.len(),
        "ledger written"
    );
    DynamoDbEventResponse::default()
}

fn change_of_record(record: &EventRecord) -> Result<Option<StreamChange>, StoreError> {
    let image = |item: &serde_dynamo::Item| -> Option<crate::store::dynamodb::Item> {
        (!item.is_empty()).then(|| item.clone().into())
    };
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
