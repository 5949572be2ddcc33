//! A queued event's delivery to its endpoint, as the sender function (and the test event)
//! makes it: the endpoint's signing secret opened, one attempt sent, the attempt kept in the
//! endpoint's delivery log, and what comes next decided by the retry schedule. An endpoint
//! that fails its last attempt is marked failing (the console shows it); its next delivered
//! event clears the mark.

use super::delivery::{Event, Sender};
use super::queue::Job;
use super::retry::Schedule;
use super::signing::SigningSecret;
use crate::ids::{AccountId, WebhookId};
use crate::sealed::{EndpointBinding, Seal};
use crate::store::StoreError;
use crate::store::webhooks::{DeliveryAttempt, DeliveryStore};
use std::sync::Arc;
use std::time::Duration;

pub struct Deliverer {
    pub store: Arc<dyn DeliveryStore>,
    pub seal: Seal,
    pub sender: Sender,
    pub schedule: Schedule,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Delivered, or nothing to deliver to (the endpoint was deleted since the event was
    /// queued, or the job does not name one): the message is done with.
    Done,
    /// Failed: try again after this wait.
    RetryIn(Duration),
    /// Failed for the last time: the endpoint is marked failing and the message goes to the
    /// dead-letter queue.
    GaveUp,
}

impl Deliverer {
    /// Attempt `attempt` (1 for the first) of `job`, and what follows it.
    pub async fn deliver(&self, job: &Job, attempt: u32) -> Result<Next, StoreError> {
        let (Some(account), Some(webhook)) = (AccountId::parse(&job.account), WebhookId::parse(&job.webhook))
        else {
            tracing::error!(event_id = %job.event.id, "a webhook job names no valid endpoint; dropped");
            return Ok(Next::Done);
        };
        let Some(sent) = self.attempt(&account, &webhook, &job.event, attempt).await? else {
            return Ok(Next::Done);
        };
        let at = sent.kept.at;
        if sent.kept.error.is_none() {
            if sent.was_failing {
                self.store.set_webhook_failing(&account, &webhook, None).await?;
            }
            return Ok(Next::Done);
        }
        match self.schedule.wait_after(attempt) {
            Some(wait) => Ok(Next::RetryIn(wait)),
            None => {
                tracing::warn!(webhook_id = %webhook, event_id = %job.event.id, attempt, "webhook event given up on; endpoint marked failing");
                self.store
                    .set_webhook_failing(&account, &webhook, Some(at))
                    .await?;
                Ok(Next::GaveUp)
            }
        }
    }

    /// One attempt to deliver `event` to the endpoint, kept in its delivery log; `None` when the
    /// endpoint does not exist (nothing is sent).
    pub async fn attempt(
        &self,
        account: &AccountId,
        webhook: &WebhookId,
        event: &Event,
        attempt: u32,
    ) -> Result<Option<Sent>, StoreError> {
        let Some((endpoint, sealed)) = self.store.webhook_secret(account, webhook).await? else {
            return Ok(None);
        };
        let binding = EndpointBinding {
            account: account.as_str(),
            endpoint: webhook.as_str(),
        };
        // A secret that does not open was altered or moved: never sent with.
        let secret = self
            .seal
            .open(binding, &sealed)
            .ok()
            .and_then(|text| SigningSecret::parse(&text))
            .ok_or_else(|| {
                tracing::error!(webhook_id = %webhook, "a webhook secret did not open; nothing was sent");
                StoreError::internal("a webhook signing secret did not open")
            })?;
        let at = crate::clock::now();
        let sent = self.sender.send(&endpoint.url, &secret, event).await;
        let kept = DeliveryAttempt {
            id: crate::ids::new_ulid().to_string(),
            webhook: webhook.clone(),
            event_id: event.id.clone(),
            event_type: event.kind.clone(),
            attempt,
            status: sent.status,
            latency_ms: sent.latency.as_millis() as u64,
            error: sent.error,
            at,
        };
        self.store.record_delivery(account, &kept).await?;
        tracing::info!(webhook_id = %webhook, event_id = %event.id, attempt, status = ?kept.status, delivered = kept.error.is_none(), "webhook attempt");
        Ok(Some(Sent {
            kept,
            was_failing: endpoint.failing_since.is_some(),
        }))
    }
}

/// An attempt made: as the delivery log keeps it, and whether the endpoint was marked failing.
pub struct Sent {
    pub kept: DeliveryAttempt,
    pub was_failing: bool,
}
