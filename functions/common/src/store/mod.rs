//! Persistence: what the handlers and `vpctl` need from storage, as one trait ([`Store`]) over
//! the types of [`model`]; two implementations, [`dynamodb`] (production) and `sqlite` (the
//! embedded store for local runs).
//!
//! Every method is a single atomic unit: it changes everything it says or nothing. Expected
//! outcomes (a key that does not exist, an empty balance) are values, not errors; `StoreError`
//! means the store itself failed and the caller should answer 503/500 with nothing changed.

use crate::api_key::KeyHash;
use crate::ids::{AccountId, KeyId, WebhookId};
use async_trait::async_trait;
use time::OffsetDateTime;

pub mod dynamodb;
mod ledger_check;
pub mod model;
#[cfg(feature = "embedded")]
pub mod sqlite;
pub mod usage;
pub mod webhooks;

pub use ledger_check::{LedgerCheck, verify_ledger};
pub use model::*;

/// What caused a store error (an SDK or SQLite error), kept for the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Transient: contention, throttling or an unreachable service. Safe to retry; nothing changed.
    #[error("store unavailable: {context}")]
    Unavailable {
        context: String,
        #[source]
        source: Option<Cause>,
    },
    /// Anything else the store could not do; nothing changed.
    #[error("store failure: {context}")]
    Internal {
        context: String,
        #[source]
        source: Option<Cause>,
    },
}

impl StoreError {
    pub fn unavailable(context: impl Into<String>) -> Self {
        StoreError::Unavailable {
            context: context.into(),
            source: None,
        }
    }

    pub fn internal(context: impl Into<String>) -> Self {
        StoreError::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// The same error, remembering what caused it.
    pub fn caused_by(self, cause: impl Into<Cause>) -> Self {
        match self {
            StoreError::Unavailable { context, .. } => StoreError::Unavailable {
                context,
                source: Some(cause.into()),
            },
            StoreError::Internal { context, .. } => StoreError::Internal {
                context,
                source: Some(cause.into()),
            },
        }
    }

    /// Whether retrying later may succeed (a 503 rather than a 500).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// `key.expiring` reminders (`crate::webhooks::reminders`), apart from [`Store`]: only the
/// key-reminders function sends them, and a trait of their own keeps their code out of every
/// other function (a trait object links all its methods).
#[async_trait]
pub trait Reminders: Send + Sync {
    /// Sends the reminders due by `now` whose key is still live with the expiry they were kept
    /// for onto the webhook queue, and forgets every reminder due; the events sent.
    async fn send_due_reminders(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<crate::webhooks::delivery::Event>, StoreError>;
}

/// Every store is also a [`webhooks::DeliveryStore`]: what delivering a webhook needs, a trait
/// of its own so that the functions that deliver (test-webhook, the webhook sender) link only that.
#[async_trait]
pub trait Store: webhooks::DeliveryStore + Send + Sync {
    /// Stores a new key (its hash only) and its `key.created` audit event, unless the account
    /// already has [`MAX_LIVE_KEYS`] live keys. The account is created on its first key, with
    /// the store's free balance granted once, however many first keys race.
    async fn create_key(&self, key: NewKey, origin: Origin) -> Result<KeyCreation, StoreError>;

    /// Replaces a live, unexpired key of this account with `new` (same account and name),
    /// atomically: the new key goes live, the old one expires at `old_expires_at` (or its own
    /// earlier expiry), and `key.rolled` records both ids.
    async fn roll_key(
        &self,
        old: &KeyId,
        new: NewKey,
        old_expires_at: OffsetDateTime,
        origin: Origin,
    ) -> Result<KeyRoll, StoreError>;

    /// The account's live keys, newest first.
    async fn list_keys(&self, account: &AccountId) -> Result<Vec<KeyRecord>, StoreError>;

    /// Soft-deletes a live key of this account and records `key.deleted`.
    /// `false` when there is no such live key for this account (nothing changed).
    async fn delete_key(
        &self,
        account: &AccountId,
        key: &KeyId,
        at: OffsetDateTime,
        origin: Origin,
    ) -> Result<bool, StoreError>;

    /// Revokes each live key among `reports` because it was found leaked, with a `key.leaked`
    /// audit event: from then on it answers 401, and it stays listed as leaked until deleted.
    /// One outcome per report, in order. A key reported twice in one call is revoked once (the
    /// later report reads `AlreadyRevoked`). Each revocation is atomic on its own; after an
    /// error some may have landed, and reporting the same keys again is safe.
    async fn revoke_leaked(
        &self,
        reports: &[ReportedLeak],
        at: OffsetDateTime,
        origin: Origin,
    ) -> Result<Vec<LeakRevocation>, StoreError>;

    /// The live key with this hash, read so that a deletion that has returned is always seen.
    async fn resolve_key(&self, hash: &KeyHash) -> Result<Option<ResolvedKey>, StoreError>;

    /// The key `key` resolved to, if it is live at `now`: not deleted, not reported leaked, not
    /// expired (a rolled key's grace included). One strongly consistent read of the key's own
    /// record; nothing is written, not even "last used" (a check is not use).
    async fn live_key(&self, key: &ResolvedKey, now: OffsetDateTime) -> Result<Option<LiveKey>, StoreError>;

    /// Takes one credit from the key's account, atomically with the ledger entry, the key's
    /// `lastUsedAt`, the `key.used` audit event and, when given, the idempotency record. With
    /// an idempotency key already used by this account, takes nothing and reports the first
    /// outcome (or the conflict).
    async fn debit_session(
        &self,
        key: &ResolvedKey,
        debit: SessionDebit,
        idempotency: Option<IdempotentSession>,
    ) -> Result<DebitOutcome, StoreError>;

    /// Adds credits (creating the account, with its free grant, if new); returns the balance.
    async fn grant_credits(
        &self,
        account: &AccountId,
        amount: u64,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    /// `None` for an account that has never been created.
    async fn balance(&self, account: &AccountId) -> Result<Option<Balance>, StoreError>;

    /// Every ledger entry of the account, oldest first. Money records never expire: a balance
    /// stays explainable by its entries for the life of the account.
    async fn ledger(&self, account: &AccountId) -> Result<Vec<LedgerEntry>, StoreError>;

    /// Audit events not yet expired at `now`, oldest first.
    async fn audit_events(
        &self,
        account: &AccountId,
        now: OffsetDateTime,
    ) -> Result<Vec<AuditEvent>, StoreError>;

    /// The account's low-credit events (`credits.low`, `credits.exhausted`), oldest first.
    /// Recorded with the debit that raised them (embedded) or from the table's stream by the
    /// ledger function (DynamoDB), never on a session's critical request.
    async fn credit_events(&self, account: &AccountId) -> Result<Vec<CreditEvent>, StoreError>;

    /// Sessions per key and credits granted per bucket of `query` (see [`usage`]), as far as
    /// the store has counted them at `now`: never by reading the ledger entry by entry on
    /// DynamoDB (one counter item per day of the range, written by the ledger function).
    async fn usage(
        &self,
        account: &AccountId,
        query: &usage::UsageQuery,
        now: OffsetDateTime,
    ) -> Result<usage::Usage, StoreError>;

    /// Stores a webhook endpoint, unless the account has [`webhooks::MAX_WEBHOOKS`]
    /// (however many creations race).
    async fn create_webhook(
        &self,
        hook: webhooks::NewWebhook,
    ) -> Result<webhooks::WebhookCreation, StoreError>;

    /// The account's webhook endpoints, oldest first (never their secrets).
    async fn list_webhooks(&self, account: &AccountId) -> Result<Vec<webhooks::WebhookRecord>, StoreError>;

    /// Removes an endpoint of this account; `false` when it has none with this id.
    async fn delete_webhook(&self, account: &AccountId, id: &WebhookId) -> Result<bool, StoreError>;

    /// One page of an endpoint's delivery log: attempts older than the one with id `before`
    /// (from the newest when `None`), newest first, at most `limit`, none past its keeping at `now`.
    async fn deliveries(
        &self,
        account: &AccountId,
        id: &WebhookId,
        now: OffsetDateTime,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<webhooks::DeliveryAttempt>, StoreError>;

    /// The balance at which the account's debits raise `credits.low`, instead of the
    /// deployment's default; the account is created (with its free grant) if it is new.
    async fn set_low_credit_threshold(
        &self,
        account: &AccountId,
        threshold: u64,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// One page of the audit trail, as the console reads it: events not yet expired at `now`
    /// and older than the event with id `before` (from the newest when `None`), newest first,
    /// at most `limit`. Event ids are ULIDs, so their order is the order of events.
    async fn audit_page(
        &self,
        account: &AccountId,
        now: OffsetDateTime,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError>;
}
