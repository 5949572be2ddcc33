//! The webhook sender function's work: a batch of queued jobs in (one event for one endpoint
//! each, as SQS delivers them), each delivered at once and side by side, so a slow endpoint
//! holds back none of the others beyond its own 10 s; the failed ones reported back
//! (`ReportBatchItemFailures`) after their next attempt was put off by the retry schedule. A job
//! failed for the last time is reported too, so the queue's redrive policy moves it to the
//! dead-letter queue (the endpoint was marked failing).

use crate::runtime;
use crate::startup::{Startup, StartupError};
use crate::webhooks::deliverer::{Deliverer, Next};
use crate::webhooks::queue::{Job, Requeue};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::future::join_all;
use std::sync::Arc;
use std::time::Duration;

pub struct State {
    pub deliverer: Deliverer,
    pub requeue: Arc<dyn Requeue>,
}

impl runtime::State for State {
    /// The sealing key comes from an SSM parameter in AWS.
    async fn startup() -> Result<Startup, StartupError> {
        Startup::from_process_env::<true>().await
    }

    fn build(startup: Startup) -> Result<Self, StartupError> {
        Ok(State {
            deliverer: startup.deliverer()?,
            requeue: startup.requeue()?,
        })
    }
}

pub async fn handle(state: &State, event: SqsEvent) -> SqsBatchResponse {
    let outcomes = join_all(event.records.iter().map(|message| deliver(state, message))).await;
    let mut response = SqsBatchResponse::default();
    for (message, delivered) in event.records.iter().zip(outcomes) {
        if !delivered {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    tracing::info!(
        jobs = event.records.len(),
        failed = response.batch_item_failures.len(),
        "webhook batch sent"
    );
    response
}

/// One job; `false` when it is to come back (or, given up on, go to the dead letters).
async fn deliver(state: &State, message: &SqsMessage) -> bool {
    let Some(job) = message
        .body
        .as_deref()
        .and_then(|body| serde_json::from_str::<Job>(body).ok())
    else {
        tracing::error!(message_id = ?message.message_id, "a webhook job that does not read; left for the dead-letter queue");
        return false;
    };
    // SQS counts receives; the first is attempt 1.
    let attempt = message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let wait = match state.deliverer.deliver(&job, attempt).await {
        Ok(Next::Done) => return true,
        Ok(Next::RetryIn(wait)) => wait,
        Ok(Next::GaveUp) => Duration::ZERO,
        Err(e) => {
            // The store failed (nothing was recorded as given up): the queue's own timeout
            // brings the job back.
            tracing::warn!(event_id = %job.event.id, error = %crate::error::error_chain(&e), "webhook job not settled");
            return false;
        }
    };
    if let Some(receipt) = &message.receipt_handle
        && let Err(e) = state.requeue.retry_in(receipt, wait).await
    {
        tracing::warn!(event_id = %job.event.id, error = %crate::error::error_chain(&e), "retry not delayed; the queue's own timeout applies");
    }
    false
}
