//! The embedded store's webhook endpoints (the `webhooks` table).

use super::rows::{id_col, time_col};
use crate::clock;
use crate::ids::{AccountId, WebhookId};
use crate::store::webhooks::{MAX_WEBHOOKS, NewWebhook, WebhookCreation, WebhookEvent, WebhookRecord};
use rusqlite::params;

/// Events as the table keeps them: their names, space-separated.
fn events_text(hook: &NewWebhook) -> String {
    hook.events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Counted and inserted in the caller's write transaction, so racing creations cannot pass
/// the cap together.
pub(super) fn create(tx: &rusqlite::Transaction<'_>, hook: &NewWebhook) -> rusqlite::Result<WebhookCreation> {
    let count: i64 = tx.query_row(
        "SELECT count(*) FROM webhooks WHERE account_id = ?1",
        [hook.account.as_str()],
        |row| row.get(0),
    )?;
    if count as usize >= MAX_WEBHOOKS {
        return Ok(WebhookCreation::TooMany);
    }
    tx.execute(
        "INSERT INTO webhooks (id, account_id, url, events, description, sealed_secret, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            hook.id.as_str(),
            hook.account.as_str(),
            hook.url,
            events_text(hook),
            hook.description,
            hook.sealed_secret,
            clock::rfc3339(hook.created_at)
        ],
    )?;
    Ok(WebhookCreation::Created)
}

pub(super) fn list(conn: &rusqlite::Connection, account: &AccountId) -> rusqlite::Result<Vec<WebhookRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, url, events, description, created_at FROM webhooks WHERE account_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([account.as_str()], |row| {
        let events: String = row.get(2)?;
        Ok(WebhookRecord {
            id: id_col(row, 0, WebhookId::parse)?,
            url: row.get(1)?,
            events: events.split(' ').filter_map(WebhookEvent::parse).collect(),
            description: row.get(3)?,
            created_at: time_col(row, 4)?,
        })
    })?;
    rows.collect()
}

pub(super) fn delete(
    tx: &rusqlite::Transaction<'_>,
    account: &AccountId,
    id: &WebhookId,
) -> rusqlite::Result<bool> {
    let removed = tx.execute(
        "DELETE FROM webhooks WHERE account_id = ?1 AND id = ?2",
        params![account.as_str(), id.as_str()],
    )?;
    Ok(removed == 1)
}
