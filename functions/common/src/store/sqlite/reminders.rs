//! `key.expiring` reminders in the embedded store (`crate::webhooks::reminders`): a row per key
//! and lead, written with the key; the pass turns the due ones whose key is still live with the
//! same expiry into outbox rows, and deletes every due one, in one transaction.

use super::outbox;
use crate::store::NewKey;
use crate::webhooks::delivery::Event;
use crate::webhooks::reminders::{due_times, key_expiring};
use rusqlite::params;
use time::OffsetDateTime;

pub(super) fn insert(tx: &rusqlite::Transaction<'_>, key: &NewKey) -> rusqlite::Result<()> {
    let Some(expires_at) = key.expires_at else {
        return Ok(());
    };
    for (days, due) in due_times(expires_at, key.created_at) {
        tx.execute(
            "INSERT INTO key_reminders (key_id, days, account_id, expires_at, due_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                key.id.as_str(),
                days,
                key.account.as_str(),
                expires_at.unix_timestamp(),
                due.unix_timestamp()
            ],
        )?;
    }
    Ok(())
}

fn send_due(tx: &rusqlite::Transaction<'_>, now: OffsetDateTime) -> rusqlite::Result<Vec<Event>> {
    let now = now.unix_timestamp();
    let due: Vec<(String, String, u8, i64)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT r.account_id, r.key_id, r.days, r.expires_at FROM key_reminders r
             JOIN api_keys k ON k.id = r.key_id
             WHERE r.due_at <= ?1 AND r.expires_at > ?1
               AND k.deleted_at IS NULL AND k.leaked_at IS NULL AND k.expires_at = r.expires_at
             ORDER BY r.due_at",
        )?;
        stmt.query_map([now], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    let mut sent = Vec::new();
    for (account, key, days, expires_at) in due {
        let Some(expires_at) = crate::clock::from_epoch(expires_at) else {
            continue;
        };
        let event = key_expiring(&account, &key, expires_at, days);
        outbox::enqueue(tx, &account, &event)?;
        sent.push(event);
    }
    tx.execute("DELETE FROM key_reminders WHERE due_at <= ?1", [now])?;
    Ok(sent)
}

#[async_trait::async_trait]
impl crate::store::Reminders for super::SqliteStore {
    async fn send_due_reminders(&self, now: OffsetDateTime) -> Result<Vec<Event>, crate::store::StoreError> {
        self.write(move |tx, _| send_due(tx, now)).await
    }
}
