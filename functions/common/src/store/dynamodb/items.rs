//! The single-table layout: item shapes and their keys. Each class of item has a partition
//! prefix of its own, so that IAM's `dynamodb:LeadingKeys` tells the classes apart (a
//! function's policy names the classes it may touch; see template.yaml):
//!
//! | item | pk | sk |
//! |---|---|---|
//! | account (the balance) | `ACCOUNT#<account>` | `ACCOUNT` |
//! | key | `KEY#<account>` | `KEY#<key id>` |
//! | hash lookup | `KEYHASH#<sha-256 hex>` | `KEYHASH` |
//! | ledger entry | `LEDGER#<account>` | `LEDGER#<ulid>` (kept for the life of the account) |
//! | audit event | `AUDIT#<account>` | `AUDIT#<ulid>` (with `ttl`) |
//! | low-credit event | `EVENT#<account>` | `EVENT#<change id>` (with `ttl`) |
//! | idempotency record | `IDEM#<account>` | `IDEM#<key hash>` (with `ttl`) |
//!
//! Sort keys are those of layout 1, where every class but the lookup shared `ACCOUNT#`: an
//! item moves to layout 2 by its partition key alone (`migrate.rs`).
//!
//! The hash lookup is its own item, read with a strongly consistent `GetItem`, rather than a
//! GSI: GSIs are eventually consistent, so a deleted key could still pass for a moment.
//!
//! The account item is all a session writes: the balance with its running totals, a slot per
//! live key (a small number given when the key is made, never given again: `live`, `ends`,
//! `uses`), a `version` counting balance changes and `change`, the last balance change itself.
//! Slots rather than key ids keep the item under 1 KB with 100 live keys (docs/performance.md).
//! A key's last use is not decided by that write, so the ledger function writes it onto the
//! key item from the stream. The table's stream carries each change to the ledger function
//! (`stream.rs`), which writes it out as its `LEDGER#` item (and a debit's `key.used` audit
//! event), keyed by the change's own id so that a redelivered record rewrites the same items.
//! `version` tells how many ledger entries there must be, so a reader can tell whether the
//! ledger has caught up. A debit that takes the balance to the low-credit threshold or to 0
//! also becomes an `EVENT#` item, keyed by the change's id: put once however often the record
//! is delivered, and since rewriting an item unchanged writes no stream record, its one
//! `INSERT` is what the template's pipe puts on the event bus.

use crate::api_key::KeyHash;
use crate::key_name::KeyName;
use crate::store::{AuditAction, LedgerKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

pub const ACCOUNT_SK: &str = "ACCOUNT";
pub const LOOKUP_SK: &str = "KEYHASH";
pub const KEY_PREFIX: &str = "KEY#";
pub const LEDGER_PREFIX: &str = "LEDGER#";
pub const AUDIT_PREFIX: &str = "AUDIT#";
pub const EVENT_PREFIX: &str = "EVENT#";

pub fn account_pk(account: &str) -> String {
    format!("ACCOUNT#{account}")
}

pub fn key_pk(account: &str) -> String {
    format!("KEY#{account}")
}

pub fn ledger_pk(account: &str) -> String {
    format!("LEDGER#{account}")
}

pub fn audit_pk(account: &str) -> String {
    format!("AUDIT#{account}")
}

pub fn event_pk(account: &str) -> String {
    format!("EVENT#{account}")
}

pub fn idempotency_pk(account: &str) -> String {
    format!("IDEM#{account}")
}

pub fn lookup_pk(hash: &str) -> String {
    format!("KEYHASH#{hash}")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountItem {
    pub pk: String,
    pub sk: String,
    pub credits: u64,
    pub granted: u64,
    pub debited: u64,
    pub created_at: String,
    /// The last slot given to a key of this account. Slots are never given twice: an instance
    /// that remembers a deleted key's slot must never find it live again.
    #[serde(default)]
    pub key_seq: u64,
    /// The slots of the account's live keys (leaked ones included, until deleted). The debit's
    /// condition requires its key's slot here, so a deleted key is refused by the very write
    /// that would spend; create-key's condition caps its size at `MAX_LIVE_KEYS`. A number
    /// set: about 2 bytes a key. Absent while the account has no key (a set is never empty).
    #[serde(
        default,
        with = "serde_dynamo::number_set",
        skip_serializing_if = "BTreeSet::is_empty"
    )]
    pub live: BTreeSet<u64>,
    /// Slot → epoch seconds after which the key is refused, for live keys whose end can still
    /// change: a rolled key's grace, a leaked key (0). An expiry a key is made with never
    /// changes, so it is on the key's lookup instead and the debit decides it from what the
    /// instance remembers. Always present (created empty with the account): nested paths can
    /// only be set in a map that exists. The debit's condition reads it.
    #[serde(default)]
    pub ends: HashMap<String, i64>,
    /// Slot → its sessions on one UTC day, packed as `day × 10⁷ + count` (see
    /// [`DayUse`]), for live keys with a daily limit. Always present, like `ends`; about
    /// 10 bytes a key.
    #[serde(default)]
    pub uses: HashMap<String, u64>,
    /// The account's test sessions on one UTC day, packed as `uses` packs a key's: what its
    /// test keys have spent of the daily test allowance. Absent until the first test session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_use: Option<u64>,
    /// Present only on an account still in layout 1 (its live keys by id), which layout 2's
    /// code does not act on: `vpctl table migrate` moves it first (`migrate.rs`).
    #[serde(default, skip_serializing)]
    pub live_keys: Option<serde::de::IgnoredAny>,
    /// The balance at which the account's debits raise `credits.low`, if it set its own; the
    /// ledger function reads it from the stream record of each change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_credit_threshold: Option<u64>,
    /// How many balance changes (and test sessions) there have been: the number of ledger
    /// entries there must be.
    #[serde(default)]
    pub version: u64,
    /// The last balance change, for the stream to carry to the ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

/// A limited key's sessions on `day` (days since 1970-01-01 UTC), as `uses` packs it: one
/// number, so that one comparison with a bound tells both the day and the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayUse {
    pub day: i64,
    pub count: u64,
}

impl DayUse {
    /// Counts stay below this (`MAX_SESSIONS_PER_DAY` is far below it).
    pub const SPAN: u64 = 10_000_000;

    pub fn packed(self) -> u64 {
        self.day.max(0) as u64 * Self::SPAN + self.count
    }

    pub fn unpacked(packed: u64) -> Self {
        DayUse {
            day: (packed / Self::SPAN) as i64,
            count: packed % Self::SPAN,
        }
    }
}

/// A slot as the `ends` and `uses` maps key it.
pub fn slot_name(slot: u64) -> String {
    slot.to_string()
}

/// One balance change as the account item records it (and the stream delivers it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The ledger entry's id (a ULID: entries sort by it).
    pub id: String,
    pub kind: LedgerKind,
    pub amount: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub at: String,
    /// The `key.used` audit event that goes with a debit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<ChangeAudit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeAudit {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyItem {
    pub pk: String,
    pub sk: String,
    pub key_id: String,
    pub account_id: String,
    pub name: KeyName,
    pub prefix: String,
    pub key_hash: KeyHash,
    pub created_at: String,
    /// Its place in the account item's `live`, `ends` and `uses`.
    #[serde(default)]
    pub slot: u64,
    /// Epoch seconds, for listing (a roll's grace end too, as in the account's `ends`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_per_day: Option<u32>,
    /// Set when secret scanning reported the key leaked (it stays listed until deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaked_at: Option<String>,
    /// When the key last opened a session, written by the ledger function from the stream
    /// (seconds behind the session), never by the session's own write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

impl KeyItem {
    /// A new key's item, in its account's key partition, in `slot`.
    pub fn of(key: &crate::store::NewKey, slot: u64) -> Self {
        KeyItem {
            pk: key_pk(key.account.as_str()),
            sk: format!("{KEY_PREFIX}{}", key.id),
            slot,
            key_id: key.id.to_string(),
            account_id: key.account.to_string(),
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            key_hash: key.hash.clone(),
            created_at: crate::clock::rfc3339(key.created_at),
            expires_at: key.expires_at.map(time::OffsetDateTime::unix_timestamp),
            sessions_per_day: key.sessions_per_day,
            leaked_at: None,
            last_used_at: None,
        }
    }
}

impl LookupItem {
    /// A new key's hash lookup: its account, id, slot, daily limit and expiry (what a session
    /// needs to know before its one write), nothing else.
    pub fn of(key: &crate::store::NewKey, slot: u64) -> Self {
        LookupItem {
            pk: lookup_pk(key.hash.as_str()),
            sk: LOOKUP_SK.into(),
            account_id: key.account.to_string(),
            key_id: key.id.to_string(),
            slot,
            deleted_at: None,
            sessions_per_day: key.sessions_per_day,
            expires_at: key.expires_at.map(time::OffsetDateTime::unix_timestamp),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LookupItem {
    pub pk: String,
    pub sk: String,
    pub account_id: String,
    pub key_id: String,
    /// The key's slot in its account item (see [`AccountItem::live`]).
    #[serde(default)]
    pub slot: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_per_day: Option<u32>,
    /// The expiry the key was made with (epoch seconds), decided from what the instance
    /// remembers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerItem {
    pub pk: String,
    pub sk: String,
    pub id: String,
    pub kind: LedgerKind,
    pub amount: u64,
    pub balance_after: u64,
    /// The account's `version` right after this change (1 for its first).
    #[serde(default)]
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditItem {
    pub pk: String,
    pub sk: String,
    pub id: String,
    pub action: AuditAction,
    pub account_id: String,
    pub key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// For `key.rolled`: the key the new one replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_key_id: Option<String>,
    /// For `key.leaked`: where the reporter found the key, and what kind of place it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// For `key.used`: a live key's session or a test key's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<crate::api_key::KeyMode>,
    pub at: String,
    pub ttl: i64,
}

impl Change {
    /// A grant of `amount` credits at `at`, for `reason`.
    pub fn grant(amount: u64, reason: &str, at: time::OffsetDateTime) -> Self {
        Change {
            id: crate::ids::new_ulid().to_string(),
            kind: LedgerKind::Grant,
            amount,
            key_id: None,
            session_id: None,
            reason: Some(reason.to_string()),
            at: crate::clock::rfc3339(at),
            audit: None,
        }
    }

    /// The ledger item this change becomes, given the account right after it.
    pub fn ledger_item(&self, account: &str, balance_after: u64, version: u64) -> LedgerItem {
        LedgerItem {
            pk: ledger_pk(account),
            sk: format!("{LEDGER_PREFIX}{}", self.id),
            id: self.id.clone(),
            kind: self.kind,
            amount: self.amount,
            balance_after,
            version,
            key_id: self.key_id.clone(),
            session_id: self.session_id.clone(),
            reason: self.reason.clone(),
            at: self.at.clone(),
        }
    }

    /// The `key.used` audit item of a session (a debit or a test session), if this change is one.
    pub fn audit_item(&self, account: &str) -> Result<Option<AuditItem>, crate::store::StoreError> {
        let Some(audit) = self.audit.as_ref() else {
            return Ok(None);
        };
        let at = crate::clock::parse_rfc3339(&self.at)
            .map_err(|e| crate::store::StoreError::internal(format!("change time: {e}")))?;
        Ok(Some(AuditItem {
            pk: audit_pk(account),
            sk: format!("{AUDIT_PREFIX}{}", audit.id),
            id: audit.id.clone(),
            action: AuditAction::KeyUsed,
            account_id: account.to_string(),
            key_id: self.key_id.clone().unwrap_or_default(),
            session_id: self.session_id.clone(),
            ip_address: audit.ip_address.clone(),
            user_agent: audit.user_agent.clone(),
            at: self.at.clone(),
            ttl: crate::clock::expiry(at),
            previous_key_id: None,
            url: None,
            source: None,
            mode: Some(match self.kind {
                LedgerKind::Test => crate::api_key::KeyMode::Test,
                _ => crate::api_key::KeyMode::Live,
            }),
        }))
    }
}

/// A low-credit event (`credits.low` / `credits.exhausted`), kept 90 days.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditEventItem {
    pub pk: String,
    pub sk: String,
    pub id: String,
    pub event: crate::store::CreditEventKind,
    pub account_id: String,
    pub credits: u64,
    pub threshold: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    pub at: String,
    pub ttl: i64,
    /// The account's `version` right after the debit: orders events exactly (ids are ULIDs
    /// from different instances, ordered only to the millisecond).
    pub version: u64,
}

impl Change {
    /// The low-credit event this change raises, if it is a debit that took the balance
    /// (`balance_after`) to `threshold` or to 0. Its id is the change's, so redelivery rewrites it.
    pub fn credit_event_item(
        &self,
        account: &str,
        balance_after: u64,
        version: u64,
        threshold: u64,
    ) -> Result<Option<CreditEventItem>, crate::store::StoreError> {
        if self.kind != LedgerKind::Debit {
            return Ok(None);
        }
        let Some(event) = crate::store::CreditEventKind::of_debit(balance_after, threshold) else {
            return Ok(None);
        };
        let at = crate::clock::parse_rfc3339(&self.at)
            .map_err(|e| crate::store::StoreError::internal(format!("change time: {e}")))?;
        Ok(Some(CreditEventItem {
            pk: event_pk(account),
            sk: format!("{EVENT_PREFIX}{}", self.id),
            id: self.id.clone(),
            event,
            account_id: account.to_string(),
            credits: balance_after,
            threshold,
            key_id: self.key_id.clone(),
            at: self.at.clone(),
            ttl: crate::clock::expiry(at),
            version,
        }))
    }
}

pub const IDEMPOTENCY_PREFIX: &str = "IDEM#";

/// An `Idempotency-Key` record: written in the same transaction as its debit, kept 24 hours.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyItem {
    pub pk: String,
    pub sk: String,
    pub api_key_id: String,
    pub request_hash: String,
    pub session_id: String,
    /// The session token sealed with the replay key (see [`crate::store::SessionGrant`]).
    pub sealed_token: String,
    pub expires_in: u64,
    /// The debit's ledger id (its change id): its balance-after is the replayed `credits`.
    pub ledger_id: String,
    pub ttl: i64,
}
