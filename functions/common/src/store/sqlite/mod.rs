//! The embedded store: one SQLite file, safe to share between processes.
//!
//! `cargo lambda watch` runs every function (and several instances of each) as its own process,
//! all on this one file. Safety across processes comes from SQLite itself: WAL journal, a busy
//! timeout instead of immediate `SQLITE_BUSY`, and every write as one `BEGIN IMMEDIATE`
//! transaction, which takes the write lock up front so two debits can never interleave. The
//! debit itself is a conditional `UPDATE … WHERE credits >= 1`, so the balance cannot go
//! negative even if the transaction boundaries were wrong.

mod outbox;
mod reminders;
mod rows;
mod schema;
mod webhooks;

pub use outbox::Claimed;

use super::usage::{Usage, UsageQuery};
use super::webhooks::{DeliveryAttempt, NewWebhook, WebhookCreation, WebhookRecord};
use super::{
    AuditAction, AuditEvent, Balance, CreditEvent, CreditEventKind, DEFAULT_LOW_CREDIT_THRESHOLD,
    DebitOutcome, IdempotentSession, KeyCreation, KeyRecord, KeyRoll, LeakRevocation, LedgerEntry,
    LedgerKind, LiveKey, MAX_LIVE_KEYS, NewKey, Origin, ReportedLeak, ResolvedKey, SessionDebit, Spend,
    Store, StoreError,
};
use crate::api_key::{KeyHash, KeyMode};
use crate::clock;
use crate::ids::{AccountId, KeyId, WebhookId};
use crate::key_name::KeyName;
use async_trait::async_trait;
use rows::{
    Linked, earlier_session, ensure_account, id_col, insert_audit, insert_key, insert_ledger,
    insert_linked_audit, map_err, opt_time_col, time_col,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    free_credits: u64,
    low_credit_threshold: u64,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file; `free_credits` is what a new account gets.
    pub fn open(path: &Path, free_credits: u64) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::internal(format!("cannot create {}", dir.display())).caused_by(e))?;
        }
        let mut conn = Connection::open(path).map_err(map_err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(map_err)?;
        schema::prepare(&mut conn).map_err(map_err)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            free_credits,
            low_credit_threshold: DEFAULT_LOW_CREDIT_THRESHOLD,
        })
    }

    /// The balance at which a debit raises `credits.low` (default 1).
    pub fn with_low_credit_threshold(self, threshold: u64) -> Self {
        SqliteStore {
            low_credit_threshold: threshold,
            ..self
        }
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction on the blocking pool; commits on `Ok`.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, u64) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let free = self.free_credits;
        self.blocking(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx, free)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a transaction open: the
            // transaction guard rolls back on drop. So a poisoned lock is safe to reuse.
            let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::internal("store task failed").caused_by(e))?
        .map_err(map_err)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_key(&self, key: NewKey, origin: Origin) -> Result<KeyCreation, StoreError> {
        self.write(move |tx, free| {
            ensure_account(tx, &key.account, free, key.created_at)?;
            // Counted inside the write transaction, so racing creations cannot pass the cap.
            let live: i64 = tx.query_row(
                "SELECT count(*) FROM api_keys WHERE account_id = ?1 AND deleted_at IS NULL",
                [key.account.as_str()],
                |r| r.get(0),
            )?;
            if live as usize >= MAX_LIVE_KEYS {
                return Ok(KeyCreation::TooManyKeys);
            }
            insert_key(tx, &key)?;
            insert_audit(
                tx,
                key.account.as_str(),
                AuditAction::KeyCreated,
                key.id.as_str(),
                None,
                &origin,
                key.created_at,
            )?;
            Ok(KeyCreation::Created)
        })
        .await
    }

    async fn roll_key(
        &self,
        old: &KeyId,
        new: NewKey,
        old_expires_at: OffsetDateTime,
        origin: Origin,
    ) -> Result<KeyRoll, StoreError> {
        let old = old.clone();
        self.write(move |tx, _| {
            let now = new.created_at.unix_timestamp();
            // Only a live, unexpired key of this account can be rolled.
            let current: Option<Option<i64>> = tx
                .query_row(
                    "SELECT expires_at FROM api_keys WHERE id = ?1 AND account_id = ?2 AND deleted_at IS NULL
                     AND leaked_at IS NULL AND (expires_at IS NULL OR expires_at > ?3)",
                    params![old.as_str(), new.account.as_str(), now],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(current) = current else {
                return Ok(KeyRoll::NotFound);
            };
            let live: i64 = tx.query_row(
                "SELECT count(*) FROM api_keys WHERE account_id = ?1 AND deleted_at IS NULL",
                [new.account.as_str()],
                |r| r.get(0),
            )?;
            if live as usize >= MAX_LIVE_KEYS {
                return Ok(KeyRoll::TooManyKeys);
            }
            // A key already due to expire sooner keeps its earlier expiry.
            let expires = match current.and_then(clock::from_epoch) {
                Some(earlier) if earlier < old_expires_at => earlier,
                _ => old_expires_at,
            };
            tx.execute(
                "UPDATE api_keys SET expires_at = ?1 WHERE id = ?2",
                params![expires.unix_timestamp(), old.as_str()],
            )?;
            insert_key(tx, &new)?;
            // A limited key's count of today's sessions goes with it: a roll cannot reset the
            // day's limit. (The successor's expiry, the old key's, is the caller's.)
            tx.execute(
                "UPDATE api_keys SET (usage_day, usage_count) = (SELECT usage_day, usage_count FROM api_keys WHERE id = ?2)
                 WHERE id = ?1 AND sessions_per_day IS NOT NULL",
                params![new.id.as_str(), old.as_str()],
            )?;
            insert_linked_audit(
                tx,
                new.account.as_str(),
                AuditAction::KeyRolled,
                new.id.as_str(),
                Linked::PreviousKey(old.as_str()),
                None,
                &origin,
                new.created_at,
            )?;
            Ok(KeyRoll::Rolled {
                previous_expires_at: expires,
            })
        })
        .await
    }

    async fn list_keys(&self, account: &AccountId) -> Result<Vec<KeyRecord>, StoreError> {
        let account = account.clone();
        self.blocking(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, name, prefix, created_at, last_used_at, expires_at, sessions_per_day, leaked_at FROM api_keys
                 WHERE account_id = ?1 AND deleted_at IS NULL ORDER BY created_at DESC, id DESC",
            )?;
            stmt.query_map([account.as_str()], |row| {
                Ok(KeyRecord {
                    id: id_col(row, 0, KeyId::parse)?,
                    name: id_col(row, 1, |s| KeyName::parse(s).ok())?,
                    prefix: row.get(2)?,
                    created_at: time_col(row, 3)?,
                    last_used_at: opt_time_col(row, 4)?,
                    expires_at: row
                        .get::<_, Option<i64>>(5)?
                        .and_then(clock::from_epoch),
                    sessions_per_day: row.get(6)?,
                    leaked_at: opt_time_col(row, 7)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn delete_key(
        &self,
        account: &AccountId,
        key: &KeyId,
        at: OffsetDateTime,
        origin: Origin,
    ) -> Result<bool, StoreError> {
        let (account, key) = (account.clone(), key.clone());
        self.write(move |tx, _| {
            let deleted = tx.execute(
                "UPDATE api_keys SET deleted_at = ?1 WHERE id = ?2 AND account_id = ?3 AND deleted_at IS NULL",
                params![clock::rfc3339(at), key.as_str(), account.as_str()],
            )?;
            if deleted == 1 {
                insert_audit(tx, account.as_str(), AuditAction::KeyDeleted, key.as_str(), None, &origin, at)?;
            }
            Ok(deleted == 1)
        })
        .await
    }

    async fn revoke_leaked(
        &self,
        reports: &[ReportedLeak],
        at: OffsetDateTime,
        origin: Origin,
    ) -> Result<Vec<LeakRevocation>, StoreError> {
        let reports = reports.to_vec();
        // One transaction for the whole report, one match after another: SQLite writes one at
        // a time anyway, a thousand indexed lookups take milliseconds, and a key named again
        // finds itself already revoked.
        self.write(move |tx, _| {
            reports
                .iter()
                .map(|report| revoke_one(tx, report, at, &origin))
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await
    }

    async fn resolve_key(&self, hash: &KeyHash) -> Result<Option<ResolvedKey>, StoreError> {
        let hash = hash.clone();
        self.blocking(move |conn| {
            conn.query_row(
                "SELECT id, account_id, sessions_per_day, expires_at FROM api_keys WHERE key_hash = ?1 AND deleted_at IS NULL AND leaked_at IS NULL",
                [hash.as_str()],
                |row| {
                    Ok(ResolvedKey {
                        key: id_col(row, 0, KeyId::parse)?,
                        account: id_col(row, 1, AccountId::parse)?,
                        // The key's row is its own place: nothing numbers keys here.
                        slot: 0,
                        sessions_per_day: row.get(2)?,
                        // Its end as of now (a roll moves it here); the debit's query reads it
                        // again, so nothing is decided from this copy.
                        expires_at: row
                            .get::<_, Option<i64>>(3)?
                            .and_then(clock::from_epoch),
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn live_key(&self, key: &ResolvedKey, now: OffsetDateTime) -> Result<Option<LiveKey>, StoreError> {
        let (account, id) = (key.account.clone(), key.key.clone());
        self.blocking(move |conn| {
            conn.query_row(
                "SELECT id, name, prefix, created_at, expires_at, sessions_per_day FROM api_keys
                 WHERE id = ?1 AND account_id = ?2 AND deleted_at IS NULL AND leaked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > ?3)",
                params![id.as_str(), account.as_str(), now.unix_timestamp()],
                |row| {
                    Ok(LiveKey {
                        id: id_col(row, 0, KeyId::parse)?,
                        name: id_col(row, 1, |s| KeyName::parse(s).ok())?,
                        prefix: row.get(2)?,
                        created_at: time_col(row, 3)?,
                        expires_at: row.get::<_, Option<i64>>(4)?.and_then(clock::from_epoch),
                        sessions_per_day: row.get(5)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn debit_session(
        &self,
        key: &ResolvedKey,
        debit: SessionDebit,
        idempotency: Option<IdempotentSession>,
    ) -> Result<DebitOutcome, StoreError> {
        let ResolvedKey { account, key, .. } = key.clone();
        let threshold = self.low_credit_threshold;
        self.write(move |tx, _| {
            // The key may have been deleted (or have expired) since it was resolved; inside this
            // transaction the answer is final. Its limit is read here too, not taken from `key`.
            let day = clock::utc_day(debit.at);
            let live: Option<bool> = tx
                .query_row(
                    "SELECT sessions_per_day IS NULL OR usage_day IS NOT ?3 OR usage_count < sessions_per_day
                     FROM api_keys WHERE id = ?1 AND deleted_at IS NULL AND leaked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)",
                    params![key.as_str(), debit.at.unix_timestamp(), day],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(within_limit) = live else { return Ok(DebitOutcome::InvalidKey) };
            if let Some(idem) = &idempotency
                && let Some(earlier) = earlier_session(tx, &account, &key, idem, debit.at)?
            {
                return Ok(earlier);
            }
            // No credits outranks the daily limit (as on DynamoDB): waiting for tomorrow
            // would not help. Both are read before anything is written.
            // The account's own low-credit threshold, if it set one, else the store's: read with
            // the balance, in this transaction.
            let account_row: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT credits, coalesce(low_credit_threshold, ?2) FROM accounts WHERE id = ?1",
                    params![account.as_str(), threshold as i64],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let credits = account_row.map(|(credits, _)| credits);
            let threshold = account_row.map_or(threshold, |(_, own)| own as u64);
            let kind = LedgerKind::of_session(debit.spend);
            if kind == LedgerKind::Debit && credits.unwrap_or(0) < 1 {
                return Ok(DebitOutcome::InsufficientCredits);
            }
            if !within_limit {
                return Ok(DebitOutcome::KeyLimitReached);
            }
            let balance: i64 = match debit.spend {
                Spend::Credit => tx.query_row(
                    "UPDATE accounts SET credits = credits - 1, debited = debited + 1 WHERE id = ?1 RETURNING credits",
                    [account.as_str()],
                    |row| row.get(0),
                )?,
                // The account's test sessions today, within the allowance; no credit moves.
                Spend::TestAllowance { per_day } => {
                    let counted = tx
                        .query_row(
                            "UPDATE accounts SET test_count = CASE WHEN test_day IS ?2 THEN test_count + 1 ELSE 1 END, test_day = ?2
                             WHERE id = ?1 AND (test_day IS NOT ?2 OR test_count < ?3) RETURNING credits",
                            params![account.as_str(), day, per_day],
                            |row| row.get(0),
                        )
                        .optional()?;
                    match counted {
                        Some(credits) => credits,
                        None => return Ok(DebitOutcome::TestLimitReached),
                    }
                }
            };
            tx.execute(
                "UPDATE api_keys SET usage_count = CASE WHEN usage_day IS ?2 THEN usage_count + 1 ELSE 1 END, usage_day = ?2
                 WHERE id = ?1",
                params![key.as_str(), day],
            )?;
            let balance = balance as u64;
            insert_ledger(tx, &account, kind, kind.session_amount(), balance, Some(&key), Some(&debit.session), None, debit.at)?;
            tx.execute("UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2", params![clock::rfc3339(debit.at), key.as_str()])?;
            let spent = Linked::Spent(debit.spend.mode());
            insert_linked_audit(tx, account.as_str(), AuditAction::KeyUsed, key.as_str(), spent, Some(&debit.session), &debit.origin, debit.at)?;
            // Raised by the debit itself, in its transaction: exactly one per crossing.
            if kind == LedgerKind::Debit
                && let Some(kind) = CreditEventKind::of_debit(balance, threshold)
            {
                let id = rows::new_id();
                tx.execute(
                    "INSERT INTO credit_events (id, account_id, event, credits, threshold, key_id, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![id, account.as_str(), kind.as_str(), balance as i64, threshold as i64, key.as_str(), clock::rfc3339(debit.at)],
                )?;
                let event = crate::webhooks::events::credits_crossed(&id, kind, account.as_str(), balance, threshold, Some(key.as_str()), debit.at);
                outbox::enqueue(tx, account.as_str(), &event)?;
            }
            if let Some(idem) = &idempotency {
                tx.execute(
                    "INSERT OR REPLACE INTO idempotency (account_id, key_hash, api_key_id, request_hash, session_id, sealed_token, expires_in, balance_after, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        account.as_str(),
                        idem.key_hash,
                        key.as_str(),
                        idem.request_hash,
                        idem.grant.session_id,
                        idem.grant.sealed_token,
                        idem.grant.expires_in as i64,
                        balance as i64,
                        idem.record_expiry(debit.at).unix_timestamp()
                    ],
                )?;
            }
            Ok(DebitOutcome::Debited { balance })
        })
        .await
    }

    async fn grant_credits(
        &self,
        account: &AccountId,
        amount: u64,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        if amount == 0 || amount > i64::MAX as u64 / 2 {
            return Err(StoreError::internal("grant amount out of range"));
        }
        let (account, reason) = (account.clone(), reason.to_string());
        self.write(move |tx, free| {
            ensure_account(tx, &account, free, at)?;
            let balance: i64 = tx.query_row(
                "UPDATE accounts SET credits = credits + ?1, granted = granted + ?1 WHERE id = ?2 RETURNING credits",
                params![amount as i64, account.as_str()],
                |row| row.get(0),
            )?;
            insert_ledger(tx, &account, LedgerKind::Grant, amount, balance as u64, None, None, Some(&reason), at)?;
            Ok(balance as u64)
        })
        .await
    }

    async fn balance(&self, account: &AccountId) -> Result<Option<Balance>, StoreError> {
        let account = account.clone();
        self.blocking(move |conn| {
            conn.query_row(
                // Ledger rows are written in the same transaction as each change, so the count
                // of changes is the count of entries: this store is never behind.
                "SELECT credits, granted, debited, (SELECT count(*) FROM ledger WHERE account_id = ?1)
                 FROM accounts WHERE id = ?1",
                [account.as_str()],
                |row| {
                    Ok(Balance {
                        credits: row.get::<_, i64>(0)? as u64,
                        granted: row.get::<_, i64>(1)? as u64,
                        debited: row.get::<_, i64>(2)? as u64,
                        changes: row.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn ledger(&self, account: &AccountId) -> Result<Vec<LedgerEntry>, StoreError> {
        let account = account.clone();
        self.blocking(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, kind, amount, balance_after, key_id, session_id, reason, at FROM ledger
                 WHERE account_id = ?1 ORDER BY rowid",
            )?;
            stmt.query_map(params![account.as_str()], |row| {
                Ok(LedgerEntry {
                    id: row.get(0)?,
                    kind: id_col(row, 1, LedgerKind::parse)?,
                    amount: row.get::<_, i64>(2)? as u64,
                    balance_after: row.get::<_, i64>(3)? as u64,
                    key_id: row.get(4)?,
                    session_id: row.get(5)?,
                    reason: row.get(6)?,
                    at: time_col(row, 7)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn audit_events(
        &self,
        account: &AccountId,
        now: OffsetDateTime,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let account = account.clone();
        self.blocking(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, action, account_id, key_id, session_id, ip_address, user_agent, at, ttl, previous_key_id, url, source, mode FROM audit_events
                 WHERE account_id = ?1 AND ttl > ?2 ORDER BY rowid",
            )?;
            stmt.query_map(params![account.as_str(), now.unix_timestamp()], audit_row)?
                .collect()
        })
        .await
    }

    async fn credit_events(&self, account: &AccountId) -> Result<Vec<CreditEvent>, StoreError> {
        let account = account.clone();
        self.blocking(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, event, account_id, credits, threshold, key_id, at FROM credit_events
                 WHERE account_id = ?1 ORDER BY rowid",
            )?;
            stmt.query_map([account.as_str()], |row| {
                Ok(CreditEvent {
                    id: row.get(0)?,
                    event: id_col(row, 1, CreditEventKind::parse)?,
                    account_id: row.get(2)?,
                    credits: row.get::<_, i64>(3)? as u64,
                    threshold: row.get::<_, i64>(4)? as u64,
                    key_id: row.get(5)?,
                    at: time_col(row, 6)?,
                })
            })?
            .collect()
        })
        .await
    }

    /// From the ledger itself, written in each change's own transaction: always caught up.
    /// Sessions are summed per key and hour in SQL, then put into the query's buckets.
    async fn usage(
        &self,
        account: &AccountId,
        query: &UsageQuery,
        now: OffsetDateTime,
    ) -> Result<Usage, StoreError> {
        let (account, query) = (account.clone(), query.clone());
        self.blocking(move |conn| {
            let (from, to) = (clock::rfc3339(query.from), clock::rfc3339(query.to));
            let mut usage = Usage::empty(now);
            // RFC 3339 times of one width order as text; the first 13 characters are the hour.
            let mut per_hour = conn.prepare_cached(
                "SELECT key_id, substr(at, 1, 13), count(*), kind = 'test' FROM ledger
                 WHERE account_id = ?1 AND kind IN ('debit', 'test') AND at >= ?2 AND at < ?3 AND key_id IS NOT NULL
                 GROUP BY 1, 2, 4",
            )?;
            let rows = per_hour.query_map(params![account.as_str(), from, to], |row| {
                let hour: String = row.get(1)?;
                let at = clock::parse_rfc3339(&format!("{hour}:00:00Z")).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
                })?;
                let mode = if row.get(3)? { KeyMode::Test } else { KeyMode::Live };
                Ok((row.get::<_, String>(0)?, at, mode, row.get::<_, i64>(2)? as u64))
            })?;
            for row in rows {
                let (key, at, mode, sessions) = row?;
                usage.add_sessions(&query, &key, mode, at, sessions);
            }
            usage.granted = conn.query_row(
                "SELECT coalesce(sum(amount), 0) FROM ledger
                 WHERE account_id = ?1 AND kind = 'grant' AND at >= ?2 AND at < ?3",
                params![account.as_str(), from, to],
                |row| row.get::<_, i64>(0),
            )? as u64;
            Ok(usage)
        })
        .await
    }

    async fn create_webhook(&self, hook: NewWebhook) -> Result<WebhookCreation, StoreError> {
        self.write(move |tx, _| webhooks::create(tx, &hook)).await
    }

    async fn list_webhooks(&self, account: &AccountId) -> Result<Vec<WebhookRecord>, StoreError> {
        let account = account.clone();
        self.blocking(move |conn| webhooks::list(conn, &account)).await
    }

    async fn delete_webhook(&self, account: &AccountId, id: &WebhookId) -> Result<bool, StoreError> {
        let (account, id) = (account.clone(), id.clone());
        self.write(move |tx, _| webhooks::delete(tx, &account, &id)).await
    }

    async fn deliveries(
        &self,
        account: &AccountId,
        id: &WebhookId,
        now: OffsetDateTime,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let (account, id, before) = (account.clone(), id.clone(), before.map(str::to_string));
        self.blocking(move |conn| webhooks::deliveries(conn, &account, &id, now, before.as_deref(), limit))
            .await
    }

    async fn set_low_credit_threshold(
        &self,
        account: &AccountId,
        threshold: u64,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let account = account.clone();
        self.write(move |tx, free| {
            ensure_account(tx, &account, free, at)?;
            tx.execute(
                "UPDATE accounts SET low_credit_threshold = ?1 WHERE id = ?2",
                params![threshold as i64, account.as_str()],
            )?;
            Ok(())
        })
        .await
    }

    async fn audit_page(
        &self,
        account: &AccountId,
        now: OffsetDateTime,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let (account, before) = (account.clone(), before.map(str::to_string));
        self.blocking(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, action, account_id, key_id, session_id, ip_address, user_agent, at, ttl, previous_key_id, url, source, mode FROM audit_events
                 WHERE account_id = ?1 AND ttl > ?2 AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4",
            )?;
            stmt.query_map(
                params![account.as_str(), now.unix_timestamp(), before, limit as i64],
                audit_row,
            )?
            .collect()
        })
        .await
    }
}

#[async_trait]
impl crate::store::webhooks::DeliveryStore for SqliteStore {
    async fn webhook_secret(
        &self,
        account: &AccountId,
        id: &WebhookId,
    ) -> Result<Option<(WebhookRecord, String)>, StoreError> {
        let (account, id) = (account.clone(), id.clone());
        self.blocking(move |conn| webhooks::with_secret(conn, &account, &id))
            .await
    }

    async fn record_delivery(
        &self,
        account: &AccountId,
        attempt: &DeliveryAttempt,
    ) -> Result<(), StoreError> {
        let (account, attempt) = (account.clone(), attempt.clone());
        self.write(move |tx, _| webhooks::record_delivery(tx, &account, &attempt))
            .await
    }

    async fn set_webhook_failing(
        &self,
        account: &AccountId,
        id: &WebhookId,
        since: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        let (account, id) = (account.clone(), id.clone());
        self.write(move |tx, _| {
            tx.execute(
                "UPDATE webhooks SET failing_since = ?1 WHERE account_id = ?2 AND id = ?3",
                params![since.map(clock::rfc3339), account.as_str(), id.as_str()],
            )?;
            Ok(())
        })
        .await
    }
}

fn audit_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEvent> {
    Ok(AuditEvent {
        id: row.get(0)?,
        event: id_col(row, 1, AuditAction::parse)?,
        account_id: row.get(2)?,
        key_id: row.get(3)?,
        session_id: row.get(4)?,
        ip_address: row.get(5)?,
        user_agent: row.get(6)?,
        at: time_col(row, 7)?,
        expires_at: row.get(8)?,
        previous_key_id: row.get(9)?,
        url: row.get(10)?,
        source: row.get(11)?,
        mode: row
            .get::<_, Option<String>>(12)?
            .as_deref()
            .and_then(KeyMode::parse),
    })
}

/// Revokes the key one leak report names, inside the report's transaction.
fn revoke_one(
    tx: &rusqlite::Transaction,
    report: &ReportedLeak,
    at: OffsetDateTime,
    origin: &Origin,
) -> rusqlite::Result<LeakRevocation> {
    let found: Option<(KeyId, AccountId, bool)> = tx
        .query_row(
            "SELECT id, account_id, deleted_at IS NOT NULL OR leaked_at IS NOT NULL FROM api_keys WHERE key_hash = ?1",
            [report.hash.as_str()],
            |row| Ok((id_col(row, 0, KeyId::parse)?, id_col(row, 1, AccountId::parse)?, row.get(2)?)),
        )
        .optional()?;
    let Some((key, account, revoked)) = found else {
        return Ok(LeakRevocation::Unknown);
    };
    if revoked {
        return Ok(LeakRevocation::AlreadyRevoked);
    }
    tx.execute(
        "UPDATE api_keys SET leaked_at = ?1 WHERE id = ?2",
        params![clock::rfc3339(at), key.as_str()],
    )?;
    insert_linked_audit(
        tx,
        account.as_str(),
        AuditAction::KeyLeaked,
        key.as_str(),
        Linked::Leak(&report.leak),
        None,
        origin,
        at,
    )?;
    Ok(LeakRevocation::Revoked { account, key })
}
