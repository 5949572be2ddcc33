//! Local only: follows the table's stream on a DynamoDB-protocol server (moto) and hands each
//! batch to the ledger function, as Lambda's event source mapping does in AWS: records in
//! order, a batch delivered again from the first record the function reports as failed, and
//! again whole if the function itself failed.

use crate::store::StoreError;
use aws_lambda_events::event::dynamodb::{Event, EventRecord, StreamRecord};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use std::future::Future;
use std::time::Duration;

/// How often an idle follower asks for new records.
const POLL: Duration = Duration::from_millis(50);

pub struct StreamFollower {
    streams: aws_sdk_dynamodbstreams::Client,
    /// Shard iterators still open (moto keeps one shard per table).
    iterators: Vec<String>,
    /// Records received and not yet delivered successfully.
    pending: Vec<EventRecord>,
}

impl StreamFollower {
    /// Follows `table`'s stream from its oldest record.
    pub async fn open(
        dynamodb: &aws_sdk_dynamodb::Client,
        streams: aws_sdk_dynamodbstreams::Client,
        table: &str,
    ) -> Result<Self, StoreError> {
        let described = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| StoreError::unavailable("describing the table").caused_by(e))?;
        let arn = described
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| StoreError::internal(format!("table {table} has no stream")))?;
        let stream = streams
            .describe_stream()
            .stream_arn(&arn)
            .send()
            .await
            .map_err(|e| StoreError::unavailable("describing the stream").caused_by(e))?;
        let mut iterators = Vec::new();
        for shard in stream
            .stream_description
            .map(|d| d.shards.unwrap_or_default())
            .unwrap_or_default()
        {
            let out = streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(shard.shard_id.unwrap_or_default())
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(|e| StoreError::unavailable("opening a shard iterator").caused_by(e))?;
            iterators.extend(out.shard_iterator);
        }
        Ok(StreamFollower {
            streams,
            iterators,
            pending: Vec::new(),
        })
    }

    /// Delivers the stream to `deliver` until the future is dropped.
    pub async fn run<F, Fut, E>(mut self, mut deliver: F)
    where
        F: FnMut(Event) -> Fut,
        Fut: Future<Output = Result<DynamoDbEventResponse, E>>,
        E: std::fmt::Display,
    {
        loop {
            match self.step(&mut deliver).await {
                Ok(true) => {}
                Ok(false) => tokio::time::sleep(POLL).await,
                Err(e) => {
                    tracing::warn!(error = %e, "stream delivery failed; retrying");
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }

    /// Reads new records if none are pending and delivers them once. `Ok(false)`: nothing to do.
    pub async fn step<F, Fut, E>(&mut self, deliver: &mut F) -> Result<bool, String>
    where
        F: FnMut(Event) -> Fut,
        Fut: Future<Output = Result<DynamoDbEventResponse, E>>,
        E: std::fmt::Display,
    {
        if self.pending.is_empty() {
            self.read().await.map_err(|e| e.to_string())?;
        }
        if self.pending.is_empty() {
            return Ok(false);
        }
        let mut event = Event::default();
        event.records = self.pending.clone();
        let response = deliver(event).await.map_err(|e| e.to_string())?;
        match response.batch_item_failures.first() {
            None => self.pending.clear(),
            Some(failure) => {
                let from = self
                    .pending
                    .iter()
                    .position(|r| r.change.sequence_number == failure.item_identifier)
                    .unwrap_or(0);
                self.pending.drain(..from);
                return Err(format!("{} records to deliver again", self.pending.len()));
            }
        }
        Ok(true)
    }

    async fn read(&mut self) -> Result<(), StoreError> {
        for iterator in &mut self.iterators {
            let out = self
                .streams
                .get_records()
                .shard_iterator(iterator.clone())
                .send()
                .await
                .map_err(|e| StoreError::unavailable("reading the stream").caused_by(e))?;
            if let Some(next) = out.next_shard_iterator {
                *iterator = next;
            }
            self.pending
                .extend(out.records.unwrap_or_default().into_iter().map(event_record));
        }
        Ok(())
    }
}

/// A record as the SDK reads it, in the shape Lambda delivers it to the function.
fn event_record(record: Record) -> EventRecord {
    let change = record
        .dynamodb
        .unwrap_or_else(|| aws_sdk_dynamodbstreams::types::StreamRecord::builder().build());
    let mut stream = StreamRecord::default();
    stream.keys = change.keys.unwrap_or_default().into();
    stream.new_image = change.new_image.unwrap_or_default().into();
    stream.old_image = change.old_image.unwrap_or_default().into();
    stream.sequence_number = change.sequence_number;
    stream.size_bytes = change.size_bytes.unwrap_or_default();
    let mut event = EventRecord::default();
    event.event_id = record.event_id.unwrap_or_default();
    event.event_name = record
        .event_name
        .map(|n| n.as_str().to_string())
        .unwrap_or_default();
    event.event_source = record.event_source;
    event.aws_region = record.aws_region.unwrap_or_default();
    event.change = stream;
    event
}
