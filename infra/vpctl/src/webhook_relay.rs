//! `vpctl webhooks relay`: the local stand-in for Lambda's SQS event source mapping. It takes
//! queued webhook jobs (from the embedded store's outbox, or from the SQS queue on the local
//! DynamoDB-protocol server) and invokes the sender function `cargo lambda watch` serves with
//! them as an SQS batch, through the same Invoke API Lambda uses; then it deletes the jobs the
//! function did not report failed, as Lambda does. It also runs the key-reminders function every
//! [`REMINDERS_EVERY`], as the template's schedule does every 15 minutes. Batches run side by side (up to
//! `CONCURRENT_BATCHES`), so a slow endpoint holds up only its own batch, and a job in flight
//! stays hidden, so no other batch takes it meanwhile.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use common::store::sqlite::SqliteStore;
use common::webhooks::retry::MAX_ATTEMPTS;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Jobs per invocation (the template's batch size).
const BATCH: usize = 10;
/// How long a job handed out stays hidden: longer than an invocation can take.
const IN_FLIGHT: Duration = Duration::from_secs(60);
const CONCURRENT_BATCHES: usize = 4;
const IDLE: Duration = Duration::from_millis(100);
/// How often the key reminders run locally.
const REMINDERS_EVERY: Duration = Duration::from_secs(60);

/// Where the jobs are.
pub enum Source {
    Outbox(SqliteStore),
    Sqs {
        client: aws_sdk_sqs::Client,
        url: String,
    },
}

/// A job taken: its receipt, body and receive count.
struct Taken {
    receipt: String,
    body: String,
    receives: u32,
}

impl Source {
    /// On SQS, makes the queue (and its dead-letter queue, after [`MAX_ATTEMPTS`] receives) if
    /// the local server does not have it yet, as the template does in AWS.
    pub async fn sqs(sdk: &aws_config::SdkConfig, url: String) -> Result<Source, String> {
        let client = aws_sdk_sqs::Client::new(sdk);
        let name = url.rsplit('/').next().unwrap_or_default().to_string();
        let dead = client
            .create_queue()
            .queue_name(format!("{name}-dead"))
            .send()
            .await
            .map_err(|e| format!("creating the local dead-letter queue: {e}"))?;
        let dead_arn = client
            .get_queue_attributes()
            .queue_url(dead.queue_url.unwrap_or_default())
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| format!("reading the dead-letter queue: {e}"))?
            .attributes
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
            .unwrap_or_default();
        let redrive = format!(r#"{{"deadLetterTargetArn":"{dead_arn}","maxReceiveCount":"{MAX_ATTEMPTS}"}}"#);
        client
            .create_queue()
            .queue_name(&name)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy, redrive)
            .send()
            .await
            .map_err(|e| format!("creating the local webhook queue: {e}"))?;
        Ok(Source::Sqs { client, url })
    }

    async fn take(&self) -> Result<Vec<Taken>, String> {
        match self {
            Source::Outbox(store) => Ok(store
                .claim_jobs(BATCH, IN_FLIGHT, MAX_ATTEMPTS)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|c| Taken {
                    receipt: c.receipt,
                    body: c.body,
                    receives: c.receives,
                })
                .collect()),
            Source::Sqs { client, url } => {
                let out = client
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(BATCH as i32)
                    .visibility_timeout(IN_FLIGHT.as_secs() as i32)
                    .message_system_attribute_names(
                        aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                    )
                    .send()
                    .await
                    .map_err(|e| format!("receiving webhook jobs: {e}"))?;
                Ok(out
                    .messages
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| Taken {
                        receives: m
                            .attributes
                            .as_ref()
                            .and_then(|a| {
                                a.get(
                                    &aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                                )
                            })
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(1),
                        receipt: m.receipt_handle.unwrap_or_default(),
                        body: m.body.unwrap_or_default(),
                    })
                    .collect())
            }
        }
    }

    async fn delete(&self, receipts: Vec<String>) -> Result<(), String> {
        match self {
            Source::Outbox(store) => store.finish_jobs(receipts).await.map_err(|e| e.to_string()),
            Source::Sqs { client, url } => {
                for receipt in receipts {
                    client
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(receipt)
                        .send()
                        .await
                        .map_err(|e| format!("deleting a delivered job: {e}"))?;
                }
                Ok(())
            }
        }
    }
}

pub async fn run(source: Source, invoke_url: &str, function: &str) -> Result<(), String> {
    let url = format!(
        "{}/2015-03-31/functions/{function}/invocations",
        invoke_url.trim_end_matches('/')
    );
    eprintln!("relaying webhook jobs to {url}");
    let reminders = format!(
        "{}/2015-03-31/functions/key-reminders/invocations",
        invoke_url.trim_end_matches('/')
    );
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(REMINDERS_EVERY).await;
            let url = reminders.clone();
            let ran =
                tokio::task::spawn_blocking(move || ureq::post(&url).send_json(serde_json::json!({}))).await;
            if let Ok(Err(e)) = ran {
                eprintln!("vpctl webhooks relay: the key reminders did not run: {e}");
            }
        }
    });
    let source = Arc::new(source);
    let slots = Arc::new(Semaphore::new(CONCURRENT_BATCHES));
    loop {
        let slot = slots.clone().acquire_owned().await.map_err(|e| e.to_string())?;
        let taken = match source.take().await {
            Ok(taken) => taken,
            Err(e) => {
                eprintln!("vpctl webhooks relay: taking webhook jobs failed; retrying: {e}");
                Vec::new()
            }
        };
        if taken.is_empty() {
            drop(slot);
            tokio::time::sleep(IDLE).await;
            continue;
        }
        let (source, url) = (source.clone(), url.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let receipts: Vec<String> = taken.iter().map(|t| t.receipt.clone()).collect();
            let event = batch(taken);
            let answer = tokio::task::spawn_blocking(move || invoke(&url, &event)).await;
            let failed: Vec<String> = match answer {
                Ok(Ok(response)) => response
                    .batch_item_failures
                    .into_iter()
                    .map(|f| f.item_identifier)
                    .collect(),
                // The invocation failed: the whole batch comes back after its hidden time.
                Ok(Err(e)) => {
                    eprintln!("vpctl webhooks relay: the sender failed; its jobs come back: {e}");
                    return;
                }
                Err(e) => {
                    eprintln!("vpctl webhooks relay: the relay's invocation task failed: {e}");
                    return;
                }
            };
            // Message ids are the receipts here.
            let done = receipts.into_iter().filter(|r| !failed.contains(r)).collect();
            if let Err(e) = source.delete(done).await {
                eprintln!("vpctl webhooks relay: delivered jobs not deleted; they will be sent again: {e}");
            }
        });
    }
}

/// The jobs as Lambda hands an SQS batch to a function (the receipt doubles as message id).
fn batch(taken: Vec<Taken>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = taken
        .into_iter()
        .map(|t| {
            let mut message = SqsMessage::default();
            message.message_id = Some(t.receipt.clone());
            message.receipt_handle = Some(t.receipt);
            message.body = Some(t.body);
            message.attributes =
                HashMap::from([("ApproximateReceiveCount".to_string(), t.receives.to_string())]);
            message
        })
        .collect();
    event
}

/// One synchronous invocation; the function's partial-batch response back.
fn invoke(url: &str, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
    let mut response = ureq::post(url)
        .config()
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .send_json(event)
        .map_err(|e| format!("invoking the webhook sender: {e}"))?;
    response
        .body_mut()
        .read_json()
        .map_err(|e| format!("the webhook sender's answer: {e}"))
}
