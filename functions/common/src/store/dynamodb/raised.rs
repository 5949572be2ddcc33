//! The webhook events the table's stream raises, as the ledger function finds them in the
//! records it already reads (no third reader of the stream): a balance change's low-credit
//! crossing or grant, and a key's `key.created`/`deleted`/`rolled`/`leaked` audit event as it
//! is inserted. Each goes on the webhook queue once per endpoint of the account that
//! subscribes to it. Ids come from the change or the audit event, so a redelivered record
//! queues the same events again under the same ids: delivery is at least once, and receivers
//! drop the duplicates.

use super::DynamoStore;
use super::client::{Item, from_item, parse_time};
use super::items::{AUDIT_PREFIX, AuditItem};
use super::stream::StreamChange;
use crate::ids::AccountId;
use crate::store::webhooks::WebhookRecord;
use crate::store::{LedgerKind, StoreError};
use crate::webhooks::delivery::Event;
use crate::webhooks::events::{self, KeyDetail};
use crate::webhooks::queue::{Job, JobQueue};
use std::collections::HashMap;

/// The events a balance change raises: its crossing of the account's threshold (or of 0),
/// and a grant.
pub fn change_events(change: &StreamChange, default_threshold: u64) -> Result<Vec<Event>, StoreError> {
    let at = parse_time(&change.change.at)?;
    let mut raised = Vec::new();
    let threshold = change.threshold.unwrap_or(default_threshold);
    if let Some(item) =
        change
            .change
            .credit_event_item(&change.account, change.credits, change.version, threshold)?
    {
        raised.push(events::credits_crossed(
            &item.id,
            item.event,
            &change.account,
            item.credits,
            item.threshold,
            item.key_id.as_deref(),
            at,
        ));
    }
    if change.change.kind == LedgerKind::Grant {
        raised.push(events::credits_granted(
            &change.change.id,
            &change.account,
            change.change.amount,
            change.credits,
            change.change.reason.as_deref(),
            at,
        ));
    }
    Ok(raised)
}

/// The event a newly inserted audit item raises, if any (a key's creation, deletion, roll or
/// leak; not its sessions).
pub fn audit_event(inserted: Item) -> Result<Option<(String, Event)>, StoreError> {
    if !inserted
        .get("sk")
        .and_then(|v| v.as_s().ok())
        .is_some_and(|sk| sk.starts_with(AUDIT_PREFIX))
    {
        return Ok(None);
    }
    let audit: AuditItem = from_item(inserted)?;
    let detail = KeyDetail {
        previous_key: audit.previous_key_id.as_deref(),
        url: audit.url.as_deref(),
        source: audit.source.as_deref(),
    };
    let at = parse_time(&audit.at)?;
    Ok(events::key_event(
        &audit.id,
        audit.action,
        &audit.account_id,
        &audit.key_id,
        detail,
        at,
    )
    .map(|event| (audit.account_id.clone(), event)))
}

impl DynamoStore {
    /// Where the ledger function puts the events it finds (none without a queue: the
    /// deployment then has no webhooks).
    pub fn with_webhook_queue(self, queue: impl JobQueue + 'static) -> Self {
        DynamoStore {
            webhook_queue: Some(std::sync::Arc::new(queue)),
            ..self
        }
    }

    /// Queues each of `raised` (account, event) for the account's endpoints that subscribe to
    /// it. On failure, returns the index of the first one that may not be queued yet.
    pub async fn queue_webhooks(&self, raised: &[(String, Event)]) -> Result<(), (usize, StoreError)> {
        let Some(queue) = &self.webhook_queue else {
            return Ok(());
        };
        // Each account's endpoints, read once per batch.
        let mut endpoints: HashMap<&str, Vec<WebhookRecord>> = HashMap::new();
        for (i, (account, event)) in raised.iter().enumerate() {
            if !endpoints.contains_key(account.as_str()) {
                let id = AccountId::parse(account).ok_or_else(|| {
                    (
                        i,
                        StoreError::internal("an event for an account id that does not parse"),
                    )
                })?;
                let list = self.read_webhooks(&id).await.map_err(|e| (i, e))?;
                endpoints.insert(account, list);
            }
            let Some(kind) = events::subscription(event) else {
                continue;
            };
            let jobs: Vec<Job> = endpoints[account.as_str()]
                .iter()
                .filter(|hook| hook.events.contains(&kind))
                .map(|hook| Job {
                    account: account.clone(),
                    webhook: hook.id.to_string(),
                    event: event.clone(),
                })
                .collect();
            if !jobs.is_empty() {
                queue.send(&jobs).await.map_err(|e| (i, e))?;
            }
        }
        Ok(())
    }
}
