//! Persistence: what the handlers and `vpctl` need from storage, as one trait.
//!
//! Every method is a single atomic unit: it changes everything it says or nothing. Expected
//! outcomes (a key that does not exist, an empty balance) are values, not errors; `StoreError`
//! means the store itself failed and the caller should answer 503/500 with nothing changed.

use crate::api_key::KeyHash;
use crate::ids::{AccountId, KeyId, SessionId};
use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;

pub mod dynamodb;
pub mod sqlite;

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: KeyId,
    pub account: AccountId,
    pub name: String,
    pub prefix: String,
    pub hash: KeyHash,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: KeyId,
    pub name: String,
    pub prefix: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct SessionDebit {
    pub session: SessionId,
    pub at: OffsetDateTime,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOutcome {
    /// One credit was taken; `balance` is what is left after this debit.
    Opened { account: AccountId, key: KeyId, balance: u64 },
    /// No live key has this hash (never existed, or deleted).
    InvalidKey,
    /// The key is live but its account has no credits; nothing was changed.
    InsufficientCredits,
}

/// An account's balance with the running totals that must explain it:
/// `credits == granted - debited` always holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub credits: u64,
    pub granted: u64,
    pub debited: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerKind {
    Grant,
    Debit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub id: String,
    pub kind: LedgerKind,
    pub amount: u64,
    pub balance_after: u64,
    pub key_id: Option<String>,
    pub session_id: Option<String>,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuditAction {
    #[serde(rename = "key.created")]
    KeyCreated,
    #[serde(rename = "key.deleted")]
    KeyDeleted,
    #[serde(rename = "key.used")]
    KeyUsed,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::KeyCreated => "key.created",
            AuditAction::KeyDeleted => "key.deleted",
            AuditAction::KeyUsed => "key.used",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [AuditAction::KeyCreated, AuditAction::KeyDeleted, AuditAction::KeyUsed]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    pub event: AuditAction,
    pub account_id: String,
    pub key_id: String,
    pub session_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Epoch seconds after which the event is gone (90 days after `at`).
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Transient: contention or an unreachable service. Safe to retry; nothing changed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else the store could not do; nothing changed.
    #[error("store failure: {0}")]
    Internal(String),
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Stores a new key (its hash only) and its `key.created` audit event. The account is
    /// created on its first key, with the store's free balance granted once.
    async fn create_key(&self, key: NewKey, origin: Origin) -> Result<(), StoreError>;

    /// The account's live keys, newest first.
    async fn list_keys(&self, account: &AccountId) -> Result<Vec<KeyRecord>, StoreError>;

    /// Soft-deletes a live key of this account and records `key.deleted`.
    /// `false` when there is no such live key for this account (nothing changed).
    async fn delete_key(&self, account: &AccountId, key: &KeyId, at: OffsetDateTime, origin: Origin) -> Result<bool, StoreError>;

    /// Resolves a key by hash and takes one credit from its account, atomically with the
    /// ledger entry, the key's `lastUsedAt` and the `key.used` audit event.
    async fn open_session(&self, hash: &KeyHash, debit: SessionDebit) -> Result<SessionOutcome, StoreError>;

    /// Adds credits (creating the account, with its free grant, if new); returns the balance.
    async fn grant_credits(&self, account: &AccountId, amount: u64, reason: &str, at: OffsetDateTime) -> Result<u64, StoreError>;

    /// `None` for an account that has never been created.
    async fn balance(&self, account: &AccountId) -> Result<Option<Balance>, StoreError>;

    /// Ledger entries not yet expired at `now`, oldest first.
    async fn ledger(&self, account: &AccountId, now: OffsetDateTime) -> Result<Vec<LedgerEntry>, StoreError>;

    /// Audit events not yet expired at `now`, oldest first.
    async fn audit_events(&self, account: &AccountId, now: OffsetDateTime) -> Result<Vec<AuditEvent>, StoreError>;
}
