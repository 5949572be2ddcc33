//! Rows the store's transactions write and read: accounts, ledger entries, audit events,
//! idempotency records, and typed columns.

use super::super::{
    AuditAction, DebitOutcome, FREE_CREDITS_REASON, IdempotentSession, Leak, LedgerKind, NewKey, Origin,
    SessionGrant, StoreError,
};
use crate::api_key::KeyMode;
use crate::clock;
use crate::ids::{AccountId, KeyId, SessionId};
use crate::webhooks::events::{self, KeyDetail};
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

pub(super) fn map_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => StoreError::unavailable("SQLite is busy").caused_by(e),
        _ => StoreError::internal("SQLite failed").caused_by(e),
    }
}

pub(super) fn new_id() -> String {
    crate::ids::new_ulid().to_string()
}

/// Creates the account with its free grant if it does not exist yet. Exactly once, because the
/// insert and the grant share the caller's transaction and the insert is keyed on the id.
pub(super) fn ensure_account(
    tx: &rusqlite::Transaction<'_>,
    account: &AccountId,
    free: u64,
    at: OffsetDateTime,
) -> rusqlite::Result<()> {
    let created = tx.execute(
        "INSERT INTO accounts (id, credits, granted, debited, created_at) VALUES (?1, ?2, ?2, 0, ?3)
         ON CONFLICT (id) DO NOTHING",
        params![account.as_str(), free as i64, clock::rfc3339(at)],
    )?;
    if created == 1 && free > 0 {
        insert_ledger(
            tx,
            account,
            LedgerKind::Grant,
            free,
            free,
            None,
            None,
            Some(FREE_CREDITS_REASON),
            at,
        )?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) fn insert_ledger(
    tx: &rusqlite::Transaction<'_>,
    account: &AccountId,
    kind: LedgerKind,
    amount: u64,
    balance_after: u64,
    key: Option<&KeyId>,
    session: Option<&SessionId>,
    reason: Option<&str>,
    at: OffsetDateTime,
) -> rusqlite::Result<()> {
    let id = new_id();
    tx.execute(
        "INSERT INTO ledger (id, account_id, kind, amount, balance_after, key_id, session_id, reason, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            id,
            account.as_str(),
            kind.as_str(),
            amount as i64,
            balance_after as i64,
            key.map(KeyId::as_str),
            session.map(SessionId::as_str),
            reason,
            clock::rfc3339(at)
        ],
    )?;
    if kind == LedgerKind::Grant {
        let event = events::credits_granted(&id, account.as_str(), amount, balance_after, reason, at);
        super::outbox::enqueue(tx, account.as_str(), &event)?;
    }
    Ok(())
}

/// A key's row (its hash, never the key).
pub(super) fn insert_key(tx: &rusqlite::Transaction<'_>, key: &NewKey) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO api_keys (id, account_id, name, prefix, key_hash, created_at, expires_at, sessions_per_day)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            key.id.as_str(),
            key.account.as_str(),
            key.name.as_str(),
            key.prefix,
            key.hash.as_str(),
            clock::rfc3339(key.created_at),
            key.expires_at.map(OffsetDateTime::unix_timestamp),
            key.sessions_per_day
        ],
    )?;
    super::reminders::insert(tx, key)
}

pub(super) fn insert_audit(
    tx: &rusqlite::Transaction<'_>,
    account: &str,
    action: AuditAction,
    key: &str,
    session: Option<&SessionId>,
    origin: &Origin,
    at: OffsetDateTime,
) -> rusqlite::Result<()> {
    insert_linked_audit(tx, account, action, key, Linked::Nothing, session, origin, at)
}

/// What an audit event names beside its key.
pub(super) enum Linked<'a> {
    Nothing,
    /// `key.rolled`: the key the new one replaces.
    PreviousKey(&'a str),
    /// `key.leaked`: where the reporter found the key.
    Leak(&'a Leak),
    /// `key.used`: what the session spent.
    Spent(KeyMode),
}

/// [`insert_audit`] with what the event names beside its key ([`Linked`]), in the one insert.
#[allow(clippy::too_many_arguments)]
pub(super) fn insert_linked_audit(
    tx: &rusqlite::Transaction<'_>,
    account: &str,
    action: AuditAction,
    key: &str,
    linked: Linked<'_>,
    session: Option<&SessionId>,
    origin: &Origin,
    at: OffsetDateTime,
) -> rusqlite::Result<()> {
    let (previous_key, leak, mode) = match linked {
        Linked::Nothing => (None, None, None),
        Linked::PreviousKey(key) => (Some(key), None, None),
        Linked::Leak(leak) => (None, Some(leak), None),
        Linked::Spent(mode) => (None, None, Some(mode.as_str())),
    };
    let id = new_id();
    tx.execute(
        "INSERT INTO audit_events (id, account_id, action, key_id, session_id, ip_address, user_agent, at, ttl, previous_key_id, url, source, mode)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            id,
            account,
            action.as_str(),
            key,
            session.map(SessionId::as_str),
            origin.ip,
            origin.user_agent,
            clock::rfc3339(at),
            clock::expiry(at),
            previous_key,
            leak.and_then(|l| l.url.as_deref()),
            leak.and_then(|l| l.source.as_deref()),
            mode
        ],
    )?;
    let detail = KeyDetail {
        previous_key,
        url: leak.and_then(|l| l.url.as_deref()),
        source: leak.and_then(|l| l.source.as_deref()),
    };
    if let Some(event) = events::key_event(&id, action, account, key, detail, at) {
        super::outbox::enqueue(tx, account, &event)?;
    }
    Ok(())
}

pub(super) fn time_col(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<OffsetDateTime> {
    let s: String = row.get(idx)?;
    clock::parse_rfc3339(&s)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

pub(super) fn opt_time_col(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Option<OffsetDateTime>> {
    match row.get::<_, Option<String>>(idx)? {
        None => Ok(None),
        Some(_) => time_col(row, idx).map(Some),
    }
}

/// A text column read into a domain type (an id, a kind, a name) by its parser.
pub(super) fn id_col<T>(
    row: &rusqlite::Row<'_>,
    idx: usize,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("bad value {s:?}").into(),
        )
    })
}

/// The outcome recorded for this account's idempotency key, if one is still in its window.
pub(super) fn earlier_session(
    tx: &rusqlite::Transaction<'_>,
    account: &AccountId,
    key: &KeyId,
    idem: &IdempotentSession,
    now: OffsetDateTime,
) -> rusqlite::Result<Option<DebitOutcome>> {
    let row = tx
        .query_row(
            "SELECT api_key_id, request_hash, session_id, sealed_token, expires_in, balance_after FROM idempotency
             WHERE account_id = ?1 AND key_hash = ?2 AND expires_at > ?3",
            params![account.as_str(), idem.key_hash, now.unix_timestamp()],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    SessionGrant {
                        session_id: row.get(2)?,
                        sealed_token: row.get(3)?,
                        expires_in: row.get::<_, i64>(4)? as u64,
                    },
                    row.get::<_, i64>(5)? as u64,
                ))
            },
        )
        .optional()?;
    Ok(row.map(|(api_key_id, request_hash, grant, balance)| {
        match idem.conflict_with(&api_key_id, &request_hash, key) {
            Some(conflict) => DebitOutcome::Conflict(conflict),
            None => DebitOutcome::Replayed { balance, grant },
        }
    }))
}
