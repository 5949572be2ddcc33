//! The embedded store's webhook endpoints (the `webhooks` table).

use super::rows::{id_col, opt_time_col, time_col};
use crate::clock;
use crate::ids::{AccountId, WebhookId};
use crate::store::webhooks::{
    DELIVERY_LOG_DAYS, DeliveryAttempt, MAX_WEBHOOKS, NewWebhook, WebhookCreation, WebhookEvent,
    WebhookRecord,
};
use rusqlite::OptionalExtension;
use rusqlite::params;
use time::OffsetDateTime;

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

fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<WebhookRecord> {
    let events: String = row.get(2)?;
    Ok(WebhookRecord {
        id: id_col(row, 0, WebhookId::parse)?,
        url: row.get(1)?,
        events: events.split(' ').filter_map(WebhookEvent::parse).collect(),
        description: row.get(3)?,
        created_at: time_col(row, 4)?,
        failing_since: opt_time_col(row, 5)?,
    })
}

pub(super) fn list(conn: &rusqlite::Connection, account: &AccountId) -> rusqlite::Result<Vec<WebhookRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, url, events, description, created_at, failing_since FROM webhooks WHERE account_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([account.as_str()], record)?;
    rows.collect()
}

pub(super) fn with_secret(
    conn: &rusqlite::Connection,
    account: &AccountId,
    id: &WebhookId,
) -> rusqlite::Result<Option<(WebhookRecord, String)>> {
    conn.query_row(
        "SELECT id, url, events, description, created_at, failing_since, sealed_secret FROM webhooks WHERE account_id = ?1 AND id = ?2",
        params![account.as_str(), id.as_str()],
        |row| Ok((record(row)?, row.get(6)?)),
    )
    .optional()
}

pub(super) fn record_delivery(
    tx: &rusqlite::Transaction<'_>,
    account: &AccountId,
    attempt: &DeliveryAttempt,
) -> rusqlite::Result<()> {
    let ttl = (attempt.at + time::Duration::days(DELIVERY_LOG_DAYS)).unix_timestamp();
    tx.execute(
        "INSERT INTO webhook_deliveries (id, account_id, webhook_id, event_id, event_type, attempt, status, latency_ms, error, at, ttl)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            attempt.id,
            account.as_str(),
            attempt.webhook.as_str(),
            attempt.event_id,
            attempt.event_type,
            attempt.attempt,
            attempt.status,
            attempt.latency_ms as i64,
            attempt.error,
            clock::rfc3339(attempt.at),
            ttl
        ],
    )?;
    Ok(())
}

pub(super) fn deliveries(
    conn: &rusqlite::Connection,
    account: &AccountId,
    id: &WebhookId,
    now: OffsetDateTime,
    before: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<DeliveryAttempt>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, webhook_id, event_id, event_type, attempt, status, latency_ms, error, at FROM webhook_deliveries
         WHERE account_id = ?1 AND webhook_id = ?2 AND ttl > ?3 AND (?4 IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?5",
    )?;
    let rows = stmt.query_map(
        params![
            account.as_str(),
            id.as_str(),
            now.unix_timestamp(),
            before,
            limit as i64
        ],
        |row| {
            Ok(DeliveryAttempt {
                id: row.get(0)?,
                webhook: id_col(row, 1, WebhookId::parse)?,
                event_id: row.get(2)?,
                event_type: row.get(3)?,
                attempt: row.get(4)?,
                status: row.get(5)?,
                latency_ms: row.get::<_, i64>(6)? as u64,
                error: row.get(7)?,
                at: time_col(row, 8)?,
            })
        },
    )?;
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
