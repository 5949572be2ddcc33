//! Webhook endpoints as the store keeps them: where an account's events go, which ones, and
//! the endpoint's signing secret, sealed (`crate::sealed`, bound to the endpoint): a copy of the
//! table holds no secret that signs.

use crate::ids::{AccountId, WebhookId};
use crate::store::StoreError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// How many endpoints an account may have.
pub const MAX_WEBHOOKS: usize = 5;

/// The events an endpoint may subscribe to. (`webhook.test` is sent on request to the one
/// endpoint asked, whatever it subscribes to.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WebhookEvent {
    #[serde(rename = "credits.low")]
    CreditsLow,
    #[serde(rename = "credits.exhausted")]
    CreditsExhausted,
    #[serde(rename = "credits.granted")]
    CreditsGranted,
    #[serde(rename = "key.created")]
    KeyCreated,
    #[serde(rename = "key.deleted")]
    KeyDeleted,
    #[serde(rename = "key.rolled")]
    KeyRolled,
    #[serde(rename = "key.leaked")]
    KeyLeaked,
    #[serde(rename = "key.expiring")]
    KeyExpiring,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 8] = [
        WebhookEvent::CreditsLow,
        WebhookEvent::CreditsExhausted,
        WebhookEvent::CreditsGranted,
        WebhookEvent::KeyCreated,
        WebhookEvent::KeyDeleted,
        WebhookEvent::KeyRolled,
        WebhookEvent::KeyLeaked,
        WebhookEvent::KeyExpiring,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::CreditsLow => "credits.low",
            WebhookEvent::CreditsExhausted => "credits.exhausted",
            WebhookEvent::CreditsGranted => "credits.granted",
            WebhookEvent::KeyCreated => "key.created",
            WebhookEvent::KeyDeleted => "key.deleted",
            WebhookEvent::KeyRolled => "key.rolled",
            WebhookEvent::KeyLeaked => "key.leaked",
            WebhookEvent::KeyExpiring => "key.expiring",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// An endpoint to store.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub id: WebhookId,
    pub account: AccountId,
    pub url: String,
    pub events: BTreeSet<WebhookEvent>,
    pub description: Option<String>,
    /// The signing secret sealed for this endpoint ([`crate::sealed::EndpointBinding`]).
    pub sealed_secret: String,
    pub created_at: OffsetDateTime,
}

/// An endpoint as it is listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: WebhookId,
    pub url: String,
    pub events: BTreeSet<WebhookEvent>,
    pub description: Option<String>,
    pub created_at: OffsetDateTime,
    /// When an event to it was last given up on (after every retry failed); cleared by the
    /// next event it is delivered.
    pub failing_since: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookCreation {
    Created,
    /// The account has [`MAX_WEBHOOKS`] endpoints; nothing was written.
    TooMany,
}

/// How long an endpoint's delivery log keeps an attempt.
pub const DELIVERY_LOG_DAYS: i64 = 30;

/// One attempt to deliver an event to an endpoint, as its delivery log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// A ULID: attempts sort by it, newest last.
    pub id: String,
    pub webhook: WebhookId,
    /// The event's id (its `webhook-id`), the same for every attempt of one event.
    pub event_id: String,
    pub event_type: String,
    /// 1 for the first attempt of the event to this endpoint.
    pub attempt: u32,
    /// The endpoint's status code, if it answered.
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// Why it failed, if it did.
    pub error: Option<String>,
    pub at: OffsetDateTime,
}

/// What delivering a webhook needs of the store (a supertrait of [`crate::store::Store`]):
/// the functions that deliver hold this alone, so they link none of the rest of the store.
#[async_trait::async_trait]
pub trait DeliveryStore: Send + Sync {
    /// An endpoint of this account with its sealed signing secret, for a delivery.
    async fn webhook_secret(
        &self,
        account: &AccountId,
        id: &WebhookId,
    ) -> Result<Option<(WebhookRecord, String)>, StoreError>;

    /// Keeps an attempt in its endpoint's delivery log (for [`DELIVERY_LOG_DAYS`]).
    async fn record_delivery(&self, account: &AccountId, attempt: &DeliveryAttempt)
    -> Result<(), StoreError>;

    /// Marks an endpoint failing since `since` (an event to it was given up on), or clears the
    /// mark (`None`: an event was delivered). Nothing happens if the endpoint is gone.
    async fn set_webhook_failing(
        &self,
        account: &AccountId,
        id: &WebhookId,
        since: Option<OffsetDateTime>,
    ) -> Result<(), StoreError>;
}
