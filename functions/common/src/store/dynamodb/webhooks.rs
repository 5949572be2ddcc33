//! Webhook endpoints on DynamoDB: one item per endpoint and one that counts them, each class in
//! partitions of its own (as every class of the table is: IAM tells classes apart by partition
//! only), which no function that keeps keys or balances writes:
//!
//! | item | pk | sk |
//! |---|---|---|
//! | endpoint | `HOOK#<account>` | `HOOK#<id>` |
//! | how many there are | `HOOKS#<account>` | `HOOKS` |
//! | a delivery attempt (`ttl`: 30 days) | `DELIVERY#<account>` | `DELIVERY#<endpoint id>#<ulid>` |
//!
//! An endpoint is created with the count in one transaction whose condition caps it, so racing
//! creations never pass [`MAX_WEBHOOKS`]; deleting it takes the count down in the same way.

use super::DynamoStore;
use super::cancel::Retry;
use super::client::TxError;
use crate::clock;
use crate::ids::{AccountId, WebhookId};
use crate::store::StoreError;
use crate::store::webhooks::{
    DELIVERY_LOG_DAYS, DeliveryAttempt, MAX_WEBHOOKS, NewWebhook, WebhookCreation, WebhookEvent,
    WebhookRecord,
};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub const HOOK_PREFIX: &str = "HOOK#";
/// The sort key of the item that counts an account's endpoints.
pub const HOOKS_SK: &str = "HOOKS";

pub fn hook_pk(account: &str) -> String {
    format!("{HOOK_PREFIX}{account}")
}

pub fn hook_count_pk(account: &str) -> String {
    format!("HOOKS#{account}")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookItem {
    pub pk: String,
    pub sk: String,
    pub id: String,
    pub account_id: String,
    pub url: String,
    /// The subscribed events' names (a string set: never empty, as the API requires one).
    #[serde(with = "serde_dynamo::string_set")]
    pub events: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The signing secret, sealed for this endpoint (`crate::sealed::EndpointBinding`).
    pub sealed_secret: String,
    pub created_at: String,
    /// Set by the sender when an event to the endpoint is given up on; removed by the next
    /// delivered one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
}

impl WebhookItem {
    fn of(hook: &NewWebhook) -> Self {
        WebhookItem {
            pk: hook_pk(hook.account.as_str()),
            sk: format!("{HOOK_PREFIX}{}", hook.id),
            id: hook.id.to_string(),
            account_id: hook.account.to_string(),
            url: hook.url.clone(),
            events: hook.events.iter().map(|e| e.as_str().to_string()).collect(),
            description: hook.description.clone(),
            sealed_secret: hook.sealed_secret.clone(),
            created_at: clock::rfc3339(hook.created_at),
            failing_since: None,
        }
    }

    fn record(self) -> Result<WebhookRecord, StoreError> {
        Ok(WebhookRecord {
            id: WebhookId::parse(&self.id)
                .ok_or_else(|| super::client::internal("a webhook item with a bad id"))?,
            created_at: super::client::parse_time(&self.created_at)?,
            url: self.url,
            events: self
                .events
                .iter()
                .filter_map(|e| WebhookEvent::parse(e))
                .collect(),
            description: self.description,
            failing_since: self
                .failing_since
                .as_deref()
                .map(super::client::parse_time)
                .transpose()?,
        })
    }
}

pub const DELIVERY_PREFIX: &str = "DELIVERY#";

pub fn delivery_pk(account: &str) -> String {
    format!("{DELIVERY_PREFIX}{account}")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryItem {
    pub pk: String,
    pub sk: String,
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: String,
    pub ttl: i64,
}

impl DynamoStore {
    pub(super) async fn webhook_with_secret(
        &self,
        account: &AccountId,
        id: &WebhookId,
    ) -> Result<Option<(WebhookRecord, String)>, StoreError> {
        let item: Option<WebhookItem> = self
            .get(hook_pk(account.as_str()), &format!("{HOOK_PREFIX}{id}"))
            .await?;
        item.map(|i| {
            let sealed = i.sealed_secret.clone();
            Ok((i.record()?, sealed))
        })
        .transpose()
    }

    pub(super) async fn put_delivery(
        &self,
        account: &AccountId,
        attempt: &DeliveryAttempt,
    ) -> Result<(), StoreError> {
        let item = DeliveryItem {
            pk: delivery_pk(account.as_str()),
            sk: format!("{DELIVERY_PREFIX}{}#{}", attempt.webhook, attempt.id),
            id: attempt.id.clone(),
            webhook_id: attempt.webhook.to_string(),
            event_id: attempt.event_id.clone(),
            event_type: attempt.event_type.clone(),
            attempt: attempt.attempt,
            status: attempt.status,
            latency_ms: attempt.latency_ms,
            error: attempt.error.clone(),
            at: clock::rfc3339(attempt.at),
            ttl: (attempt.at + time::Duration::days(DELIVERY_LOG_DAYS)).unix_timestamp(),
        };
        self.put_all(vec![super::client::to_item(&item)?]).await
    }

    pub(super) async fn read_deliveries(
        &self,
        account: &AccountId,
        id: &WebhookId,
        now: time::OffsetDateTime,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let items: Vec<DeliveryItem> = self
            .query_before(
                delivery_pk(account.as_str()),
                &format!("{DELIVERY_PREFIX}{id}#"),
                before,
                limit,
                |item: &DeliveryItem| item.ttl > now.unix_timestamp(),
            )
            .await?;
        items
            .into_iter()
            .map(|i| {
                Ok(DeliveryAttempt {
                    webhook: WebhookId::parse(&i.webhook_id)
                        .ok_or_else(|| super::client::internal("a delivery with a bad endpoint id"))?,
                    at: super::client::parse_time(&i.at)?,
                    id: i.id,
                    event_id: i.event_id,
                    event_type: i.event_type,
                    attempt: i.attempt,
                    status: i.status,
                    latency_ms: i.latency_ms,
                    error: i.error,
                })
            })
            .collect()
    }

    /// Sets or removes the endpoint's `failingSince`; an endpoint deleted meanwhile stays gone.
    pub(super) async fn mark_failing(
        &self,
        account: &AccountId,
        id: &WebhookId,
        since: Option<time::OffsetDateTime>,
    ) -> Result<(), StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(hook_pk(account.as_str())))
            .key("sk", AttributeValue::S(format!("{HOOK_PREFIX}{id}")))
            .condition_expression("attribute_exists(pk)");
        let request = match since {
            Some(at) => request
                .update_expression("SET failingSince = :at")
                .expression_attribute_values(":at", AttributeValue::S(clock::rfc3339(at))),
            None => request.update_expression("REMOVE failingSince"),
        };
        super::client::update_if(request).await.map(|_| ())
    }

    /// The count up by one, if below the cap; or down by one.
    fn hook_count(&self, account: &str, up: bool) -> Result<TransactWriteItem, StoreError> {
        let key = (hook_count_pk(account), HOOKS_SK.to_string());
        match up {
            true => self.update(
                key,
                "ADD live :one",
                "attribute_not_exists(live) OR live < :cap",
                &[],
                vec![
                    (":one", AttributeValue::N("1".into())),
                    (":cap", AttributeValue::N(MAX_WEBHOOKS.to_string())),
                ],
            ),
            false => self.update(
                key,
                "ADD live :one",
                "attribute_exists(live)",
                &[],
                vec![(":one", AttributeValue::N("-1".into()))],
            ),
        }
    }

    pub(super) async fn put_webhook(&self, hook: NewWebhook) -> Result<WebhookCreation, StoreError> {
        let account = hook.account.as_str();
        let item = WebhookItem::of(&hook);
        let mut retry = Retry::new("webhook creation");
        loop {
            retry.next().await?;
            let writes = vec![
                self.hook_count(account, true)?,
                self.put(&item, Some("attribute_not_exists(pk)"))?,
            ];
            match self.transact(writes).await {
                Ok(()) => return Ok(WebhookCreation::Created),
                Err(TxError::Cancelled(c, _)) if c.condition_failed(0) => {
                    return Ok(WebhookCreation::TooMany);
                }
                Err(TxError::Cancelled(c, _)) if c.is_transient() => continue,
                Err(TxError::Cancelled(c, _)) => return Err(c.into_error("webhook creation")),
                // Applied with its answer lost? Then the endpoint is there.
                Err(TxError::Store(e)) => {
                    return match self.get::<WebhookItem>(item.pk.clone(), &item.sk).await {
                        Ok(Some(_)) => Ok(WebhookCreation::Created),
                        _ => Err(e),
                    };
                }
            }
        }
    }

    pub(super) async fn read_webhooks(&self, account: &AccountId) -> Result<Vec<WebhookRecord>, StoreError> {
        let items: Vec<WebhookItem> = self.query(hook_pk(account.as_str()), HOOK_PREFIX, false).await?;
        items.into_iter().map(WebhookItem::record).collect()
    }

    pub(super) async fn remove_webhook(
        &self,
        account: &AccountId,
        id: &WebhookId,
    ) -> Result<bool, StoreError> {
        let key = (hook_pk(account.as_str()), format!("{HOOK_PREFIX}{id}"));
        let mut retry = Retry::new("webhook deletion");
        loop {
            retry.next().await?;
            let writes = vec![
                self.delete(key.clone(), "attribute_exists(pk)")?,
                self.hook_count(account.as_str(), false)?,
            ];
            match self.transact(writes).await {
                Ok(()) => return Ok(true),
                Err(TxError::Cancelled(c, _)) if c.condition_failed(0) => return Ok(false),
                Err(TxError::Cancelled(c, _)) if c.is_transient() => continue,
                Err(TxError::Cancelled(c, _)) => return Err(c.into_error("webhook deletion")),
                // Answer lost: gone now is gone (a repeat would have found nothing either).
                Err(TxError::Store(e)) => {
                    return match self.get::<WebhookItem>(key.0.clone(), &key.1).await {
                        Ok(None) => Ok(true),
                        _ => Err(e),
                    };
                }
            }
        }
    }
}
