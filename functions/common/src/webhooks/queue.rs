//! The webhook queue: one message per event and endpoint ([`Job`]), so that an endpoint that
//! fails or is slow holds back nothing of any other. In AWS (and local DynamoDB runs) it is an
//! SQS queue ([`SqsQueue`]); the embedded store keeps its own outbox table, written in the
//! transaction that raises the event. Either way the sender function gets the messages as SQS
//! delivers them, and a failed one comes back after the wait the retry schedule gives
//! ([`Requeue`]).

use super::delivery::Event;
use crate::store::StoreError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One event for one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub account: String,
    pub webhook: String,
    pub event: Event,
}

/// Puts jobs on the queue: the ledger function and the key reminders, through SQS. A trait, so
/// that a function that builds no queue (every other one) links no SQS client even though the
/// store it shares with them can hold one.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// On an error some may be there already (a redelivered stream batch sends them again,
    /// under the same event ids).
    async fn send(&self, jobs: &[Job]) -> Result<(), StoreError>;
}

/// Has a received message come back after `wait` (instead of the queue's own timeout).
#[async_trait]
pub trait Requeue: Send + Sync {
    async fn retry_in(&self, receipt: &str, wait: Duration) -> Result<(), StoreError>;
}

/// SQS's limit of messages per `SendMessageBatch`.
const SEND_BATCH: usize = 10;

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(sdk: &aws_types::SdkConfig, url: String) -> Self {
        Self::from_client(aws_sdk_sqs::Client::new(sdk), url)
    }

    /// The queue at `url` through `client` (tests record its requests).
    pub fn from_client(client: aws_sdk_sqs::Client, url: String) -> Self {
        SqsQueue { client, url }
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn send(&self, jobs: &[Job]) -> Result<(), StoreError> {
        for chunk in jobs.chunks(SEND_BATCH) {
            let mut batch = self.client.send_message_batch().queue_url(&self.url);
            for (i, job) in chunk.iter().enumerate() {
                let body = serde_json::to_string(job)
                    .map_err(|e| StoreError::internal("serialising a webhook job").caused_by(e))?;
                let entry = aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|e| StoreError::internal("a webhook job message").caused_by(e))?;
                batch = batch.entries(entry);
            }
            let out = batch
                .send()
                .await
                .map_err(|e| StoreError::unavailable("queueing webhook deliveries").caused_by(e))?;
            if !out.failed.is_empty() {
                return Err(StoreError::unavailable(format!(
                    "{} webhook deliveries not queued",
                    out.failed.len()
                )));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Requeue for SqsQueue {
    async fn retry_in(&self, receipt: &str, wait: Duration) -> Result<(), StoreError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(i32::try_from(wait.as_secs()).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| StoreError::unavailable("delaying a webhook retry").caused_by(e))?;
        Ok(())
    }
}
