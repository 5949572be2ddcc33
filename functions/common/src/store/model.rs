//! The store's vocabulary: what the handlers hand it and what it gives back. Plain data and
//! the few rules that belong to the data itself (how an idempotent retry is judged).

use crate::api_key::{KeyHash, KeyMode};
use crate::ids::{AccountId, KeyId, SessionId};
use crate::key_name::KeyName;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

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
    pub name: KeyName,
    pub prefix: String,
    pub hash: KeyHash,
    pub created_at: OffsetDateTime,
    /// After this the key answers `401 Invalid API key`, decided by the debit's own write.
    pub expires_at: Option<OffsetDateTime>,
    /// How many sessions the key may open per UTC day (`None`: as many as the credits allow).
    pub sessions_per_day: Option<u32>,
}

impl NewKey {
    /// Written into the key's prefix (`vp_test_…`): it never changes.
    pub fn mode(&self) -> KeyMode {
        KeyMode::of(&self.prefix).unwrap_or_default()
    }
}

/// The largest `limits.sessionsPerDay` a key may be given.
pub const MAX_SESSIONS_PER_DAY: u32 = 1_000_000;

/// How many live keys an account may hold. Bounds what listing reads and what the account
/// record keeps per key; documented in the OpenAPI file with its 409.
pub const MAX_LIVE_KEYS: usize = 100;

/// What rolling a key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRoll {
    /// The new key is live; the old one works until this (and answers 401 from then on).
    Rolled { previous_expires_at: OffsetDateTime },
    /// No live, unexpired key with that id on this account; nothing was written.
    NotFound,
    /// The account holds [`MAX_LIVE_KEYS`] live keys (the old one counts until deleted).
    TooManyKeys,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCreation {
    Created,
    /// The account already holds [`MAX_LIVE_KEYS`] live keys; nothing was written.
    TooManyKeys,
}

/// A key that is live at the moment it was read, as its own holder may see it (the validity
/// check): what it is, never how it was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKey {
    pub id: KeyId,
    pub name: KeyName,
    pub prefix: String,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub sessions_per_day: Option<u32>,
}

impl LiveKey {
    pub fn mode(&self) -> KeyMode {
        KeyMode::of(&self.prefix).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: KeyId,
    pub name: KeyName,
    pub prefix: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
    pub sessions_per_day: Option<u32>,
    /// When the key was revoked because it was found leaked. It stays listed (and counts
    /// toward [`MAX_LIVE_KEYS`]) so that its owner sees why it stopped, until they delete it.
    pub leaked_at: Option<OffsetDateTime>,
}

impl KeyRecord {
    pub fn mode(&self) -> KeyMode {
        KeyMode::of(&self.prefix).unwrap_or_default()
    }
}

/// Where a leaked key was found, as the secret-scanning report said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leak {
    pub url: Option<String>,
    pub source: Option<String>,
}

/// One match of a leak report: the key it names (by hash) and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedLeak {
    pub hash: KeyHash,
    pub leak: Leak,
}

/// What a leak report did to the key it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeakRevocation {
    /// The key was live; it is revoked now, with a `key.leaked` audit event.
    Revoked { account: AccountId, key: KeyId },
    /// A key we issued that was already deleted or revoked; nothing changed.
    AlreadyRevoked,
    /// No key of ours has this hash; nothing changed.
    Unknown,
}

#[derive(Debug, Clone)]
pub struct SessionDebit {
    pub session: SessionId,
    pub at: OffsetDateTime,
    pub origin: Origin,
    /// What the session is paid with: the key's mode decides.
    pub spend: Spend,
}

/// What a session is paid with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    /// A live key's session: one credit.
    Credit,
    /// A test key's session: one of the account's `per_day` test sessions of the UTC day.
    /// No credit moves, whatever the balance (0 included), and nothing a test key does can
    /// add one.
    TestAllowance { per_day: u32 },
}

impl Spend {
    pub fn mode(self) -> KeyMode {
        match self {
            Spend::Credit => KeyMode::Live,
            Spend::TestAllowance { .. } => KeyMode::Test,
        }
    }
}

/// The default `VP_TEST_SESSIONS_PER_DAY`: test sessions per account per UTC day.
pub const DEFAULT_TEST_SESSIONS_PER_DAY: u32 = 100;

/// A live key, found by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKey {
    pub account: AccountId,
    pub key: KeyId,
    /// The key's place among its account's live keys, where a store numbers them (the
    /// DynamoDB store's account item does, to stay small; 0 elsewhere). Fixed when the key is
    /// made and never given to another key.
    pub slot: u64,
    /// The key's daily session limit: fixed when the key is made, so an instance may remember
    /// it with the mapping; the debit's own write counts against it.
    pub sessions_per_day: Option<u32>,
    /// When the key stops working, as it was made: fixed too, so a store may refuse a session
    /// past it without a write. What can end a key sooner (a roll's grace, a leak, deletion)
    /// is decided by the debit's own write.
    pub expires_at: Option<OffsetDateTime>,
}

/// What an idempotency record keeps of a session response so that a retry gets the very same
/// answer: the token *sealed* (AES-256-GCM under a key only create-session holds, bound to this
/// record), never the token itself. A copy of the table (or a backup) therefore holds no usable
/// bearer token, and a replay returns the sealed bytes, never signing again ([`crate::sealed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionGrant {
    pub session_id: String,
    /// [`crate::sealed::Seal::seal`] of the token.
    pub sealed_token: String,
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
    pub fn conflict_with(
        &self,
        recorded_api_key: &str,
        recorded_request_hash: &str,
        key: &KeyId,
    ) -> Option<IdempotencyConflict> {
        if recorded_api_key != key.as_str() {
            Some(IdempotencyConflict::DifferentApiKey)
        } else if recorded_request_hash != self.request_hash {
            Some(IdempotencyConflict::DifferentRequest)
        } else {
            None
        }
    }

    /// When the record made at `at` stops answering: after [`IDEMPOTENCY_WINDOW`], or when the
    /// token it holds expires if that is sooner, so a replay never hands out an expired token.
    /// A record is live while `now < expiry`; from `expiry` on, the key starts a new session
    /// (both stores, the same boundary).
    pub fn record_expiry(&self, at: OffsetDateTime) -> OffsetDateTime {
        let token_lives = time::Duration::seconds(i64::try_from(self.grant.expires_in).unwrap_or(i64::MAX));
        at + IDEMPOTENCY_WINDOW.min(token_lives)
    }
}

/// How long an idempotency record answers retries at most (less when its token lives less).
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
    /// The key has opened its `sessions_per_day` sessions this UTC day; nothing was taken.
    KeyLimitReached,
    /// A test key's account has opened its test sessions for this UTC day; nothing was taken.
    TestLimitReached,
    /// The key was deleted after it was resolved; nothing was taken.
    InvalidKey,
}

/// An account's balance with the running totals that must explain it:
/// `credits == granted - debited` always holds. `changes` counts the ledger's entries (balance
/// changes and test sessions), so the ledger must hold that many (fewer: the ledger has not
/// caught up yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub credits: u64,
    pub granted: u64,
    pub debited: u64,
    pub changes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerKind {
    Grant,
    Debit,
    /// A test key's session: amount 0, the balance unchanged. In the ledger so that every
    /// session of an account is accounted for in one place, and kept apart by its kind.
    Test,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Grant => "grant",
            LedgerKind::Debit => "debit",
            LedgerKind::Test => "test",
        }
    }

    /// The entry a session paid with `spend` makes.
    pub fn of_session(spend: Spend) -> Self {
        match spend {
            Spend::Credit => LedgerKind::Debit,
            Spend::TestAllowance { .. } => LedgerKind::Test,
        }
    }

    /// What one entry of this kind takes or gives.
    pub fn session_amount(self) -> u64 {
        u64::from(self == LedgerKind::Debit)
    }

    pub fn parse(s: &str) -> Option<Self> {
        [LedgerKind::Grant, LedgerKind::Debit, LedgerKind::Test]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The reason recorded with the free credits a new account starts with.
pub const FREE_CREDITS_REASON: &str = "free credits for a new account";

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditAction {
    #[serde(rename = "key.created")]
    KeyCreated,
    #[serde(rename = "key.deleted")]
    KeyDeleted,
    #[serde(rename = "key.used")]
    KeyUsed,
    /// A key rolled: `key_id` is the new key, `previous_key_id` the one it replaces.
    #[serde(rename = "key.rolled")]
    KeyRolled,
    /// A key revoked because secret scanning found it leaked (`url`, `source` say where).
    #[serde(rename = "key.leaked")]
    KeyLeaked,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::KeyCreated => "key.created",
            AuditAction::KeyDeleted => "key.deleted",
            AuditAction::KeyUsed => "key.used",
            AuditAction::KeyRolled => "key.rolled",
            AuditAction::KeyLeaked => "key.leaked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            AuditAction::KeyCreated,
            AuditAction::KeyDeleted,
            AuditAction::KeyUsed,
            AuditAction::KeyRolled,
            AuditAction::KeyLeaked,
        ]
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
    /// For `key.rolled`: the key the new one replaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_key_id: Option<String>,
    /// For `key.leaked`: where the reporter found the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For `key.leaked`: the reporter's kind of place (e.g. `content`, `commit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// For `key.used`: what the session spent (a live key's credit or a test key's allowance).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<KeyMode>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Epoch seconds after which the event is gone (90 days after `at`).
    pub expires_at: i64,
}

/// A low-credit event's kind: raised by the debit that takes a balance to the account's
/// threshold, and by the one that takes it to 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreditEventKind {
    #[serde(rename = "credits.low")]
    Low,
    #[serde(rename = "credits.exhausted")]
    Exhausted,
}

impl CreditEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CreditEventKind::Low => "credits.low",
            CreditEventKind::Exhausted => "credits.exhausted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [CreditEventKind::Low, CreditEventKind::Exhausted]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// The event a debit raises, given the balance right after it. Debits take one credit
    /// and each account's changes are applied one at a time, so exactly one debit lands on
    /// each value on the way down: one event per crossing however many sessions race, and a
    /// grant that lifts the balance above the threshold re-arms both.
    pub fn of_debit(balance_after: u64, threshold: u64) -> Option<Self> {
        match balance_after {
            0 => Some(CreditEventKind::Exhausted),
            b if b == threshold => Some(CreditEventKind::Low),
            _ => None,
        }
    }
}

/// The default `VP_LOW_CREDIT_THRESHOLD`: `credits.low` when one session is left.
pub const DEFAULT_LOW_CREDIT_THRESHOLD: u64 = 1;

/// A low-credit event as recorded (and, in AWS, put on the event bus).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditEvent {
    /// Stable across redelivery: consumers may use it to drop duplicates.
    pub id: String,
    pub event: CreditEventKind,
    pub account_id: String,
    /// The balance right after the debit that raised it.
    pub credits: u64,
    pub threshold: u64,
    /// The key whose session made the debit.
    pub key_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}
