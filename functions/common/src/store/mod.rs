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
#[cfg(feature = "embedded")]
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

/// How many live keys an account may hold. Bounds what listing reads and what the account
/// record keeps per key; documented in the OpenAPI file with its 409.
pub const MAX_LIVE_KEYS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCreation {
    Created,
    /// The account already holds [`MAX_LIVE_KEYS`] live keys; nothing was written.
    TooManyKeys,
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

/// A live key, found by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKey {
    pub account: AccountId,
    pub key: KeyId,
}

/// What an idempotency record keeps of a session response so that a retry gets the very same
/// answer: the token's *claims*, never the token. A copy of the table (or a backup) therefore
/// holds no live bearer token; the replay re-signs the claims, and ES256 with RFC 6979 nonces
/// is deterministic, so the replayed token is the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionGrant {
    pub session_id: String,
    /// The signed token's claims as JSON ([`crate::playground::SessionClaims`]).
    pub claims: String,
    pub expires_in: u64,
}

/// An `Idempotency-Key` request: the record to keep with the debit, and what identifies "the
/// same request". Keys are stored hashed, like API keys.
#[derive(Debug, Clone)]
pub struct IdempotentSession {
    /// SHA-256 hex of the `Idempotency-Key` header value.
    pub key_hash: String,
    /// SHA-256 hex over what must match for a retry (the request body).
    pub request_hash: String,
    pub grant: SessionGrant,
}

impl IdempotentSession {
    /// Whether a request carrying this idempotency key may be answered by the record the key
    /// left: `None` when it is the same request (replay), else why not. Both stores judge
    /// retries by this one rule.
    pub fn conflict_with(&self, recorded_api_key: &str, recorded_request_hash: &str, key: &KeyId) -> Option<IdempotencyConflict> {
        if recorded_api_key != key.as_str() {
            Some(IdempotencyConflict::DifferentApiKey)
        } else if recorded_request_hash != self.request_hash {
            Some(IdempotencyConflict::DifferentRequest)
        } else {
            None
        }
    }
}

/// How long an idempotency record answers retries.
pub const IDEMPOTENCY_WINDOW: time::Duration = time::Duration::hours(24);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdempotencyConflict {
    /// The idempotency key was first used with another API key.
    DifferentApiKey,
    /// The idempotency key was first used with a different request body.
    DifferentRequest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebitOutcome {
    /// One credit taken; `balance` is what is left after it.
    Debited {
        balance: u64,
    },
    /// The idempotency key was already used for this very request: nothing was taken, and this
    /// is the first request's answer.
    Replayed {
        balance: u64,
        grant: SessionGrant,
    },
    /// The idempotency key belongs to a different request; nothing was taken.
    Conflict(IdempotencyConflict),
    InsufficientCredits,
    /// The key was deleted after it was resolved; nothing was taken.
    InvalidKey,
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
        [AuditAction::KeyCreated, AuditAction::KeyDeleted, AuditAction::KeyUsed].into_iter().find(|a| a.as_str() == s)
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
        StoreError::Unavailable { context: context.into(), source: None }
    }

    pub fn internal(context: impl Into<String>) -> Self {
        StoreError::Internal { context: context.into(), source: None }
    }

    /// The same error, remembering what caused it.
    pub fn caused_by(self, cause: impl Into<Cause>) -> Self {
        match self {
            StoreError::Unavailable { context, .. } => StoreError::Unavailable { context, source: Some(cause.into()) },
            StoreError::Internal { context, .. } => StoreError::Internal { context, source: Some(cause.into()) },
        }
    }

    /// Whether retrying later may succeed (a 503 rather than a 500).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Stores a new key (its hash only) and its `key.created` audit event, unless the account
    /// already has [`MAX_LIVE_KEYS`] live keys. The account is created on its first key, with
    /// the store's free balance granted once, however many first keys race.
    async fn create_key(&self, key: NewKey, origin: Origin) -> Result<KeyCreation, StoreError>;

    /// The account's live keys, newest first.
    async fn list_keys(&self, account: &AccountId) -> Result<Vec<KeyRecord>, StoreError>;

    /// Soft-deletes a live key of this account and records `key.deleted`.
    /// `false` when there is no such live key for this account (nothing changed).
    async fn delete_key(&self, account: &AccountId, key: &KeyId, at: OffsetDateTime, origin: Origin) -> Result<bool, StoreError>;

    /// The live key with this hash, read so that a deletion that has returned is always seen.
    async fn resolve_key(&self, hash: &KeyHash) -> Result<Option<ResolvedKey>, StoreError>;

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

    /// Resolve, then debit without an idempotency key.
    async fn open_session(&self, hash: &KeyHash, debit: SessionDebit) -> Result<SessionOutcome, StoreError> {
        let Some(key) = self.resolve_key(hash).await? else { return Ok(SessionOutcome::InvalidKey) };
        Ok(match self.debit_session(&key, debit, None).await? {
            DebitOutcome::Debited { balance } => SessionOutcome::Opened { account: key.account, key: key.key, balance },
            DebitOutcome::InsufficientCredits => SessionOutcome::InsufficientCredits,
            DebitOutcome::InvalidKey => SessionOutcome::InvalidKey,
            DebitOutcome::Replayed { .. } | DebitOutcome::Conflict(_) => {
                return Err(StoreError::internal("idempotency outcome without an idempotency key"));
            }
        })
    }

    /// Adds credits (creating the account, with its free grant, if new); returns the balance.
    async fn grant_credits(&self, account: &AccountId, amount: u64, reason: &str, at: OffsetDateTime) -> Result<u64, StoreError>;

    /// `None` for an account that has never been created.
    async fn balance(&self, account: &AccountId) -> Result<Option<Balance>, StoreError>;

    /// Every ledger entry of the account, oldest first. Money records never expire: a balance
    /// stays explainable by its entries for the life of the account.
    async fn ledger(&self, account: &AccountId) -> Result<Vec<LedgerEntry>, StoreError>;

    /// Audit events not yet expired at `now`, oldest first.
    async fn audit_events(&self, account: &AccountId, now: OffsetDateTime) -> Result<Vec<AuditEvent>, StoreError>;
}

/// The ledger check: `credits = granted − debited` on the account, and its ledger entries (all
/// of them, however old) add up to the same totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerCheck {
    pub account: String,
    pub credits: u64,
    pub granted: u64,
    pub debited: u64,
    pub ledger_grants: u64,
    pub ledger_debits: u64,
    pub ledger_entries: usize,
    pub ok: bool,
}

/// Runs the ledger check for one account. `Ok(None)` for an account that does not exist.
pub async fn verify_ledger(store: &dyn Store, account: &AccountId) -> Result<Option<LedgerCheck>, StoreError> {
    let Some(balance) = store.balance(account).await? else { return Ok(None) };
    let ledger = store.ledger(account).await?;
    let sum = |kind| ledger.iter().filter(|e| e.kind == kind).map(|e| e.amount).sum::<u64>();
    let (ledger_grants, ledger_debits) = (sum(LedgerKind::Grant), sum(LedgerKind::Debit));
    let ok = balance.granted.checked_sub(balance.debited) == Some(balance.credits)
        && ledger_grants == balance.granted
        && ledger_debits == balance.debited;
    Ok(Some(LedgerCheck {
        account: account.to_string(),
        credits: balance.credits,
        granted: balance.granted,
        debited: balance.debited,
        ledger_grants,
        ledger_debits,
        ledger_entries: ledger.len(),
        ok,
    }))
}
