//! The embedded store's webhook queue: an outbox table written in the same transaction as the
//! change that raises an event (one row per subscribed endpoint), so an event is queued exactly
//! when its change commits. `vpctl webhooks relay` takes rows as Lambda takes SQS messages
//! (hidden while in flight, deleted once delivered, dead after too many receives) and hands them
//! to the sender function; the sender delays a failed one through [`Requeue`], as it calls
//! SQS's `ChangeMessageVisibility` in AWS.

use super::SqliteStore;
use crate::clock;
use crate::store::StoreError;
use crate::webhooks::delivery::Event;
use crate::webhooks::queue::{Job, Requeue};
use async_trait::async_trait;
use rusqlite::params;
use std::time::Duration;

/// Queues `event` for each of `account`'s endpoints that subscribe to it, in the caller's
/// transaction.
pub(super) fn enqueue(tx: &rusqlite::Transaction<'_>, account: &str, event: &Event) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "SELECT id FROM webhooks WHERE account_id = ?1 AND ' ' || events || ' ' LIKE '% ' || ?2 || ' %'",
    )?;
    let endpoints: Vec<String> = stmt
        .query_map(params![account, event.kind], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let now = now_ms();
    for webhook in endpoints {
        let job = Job {
            account: account.to_string(),
            webhook,
            event: event.clone(),
        };
        let body =
            serde_json::to_string(&job).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        tx.execute(
            "INSERT INTO webhook_outbox (account_id, webhook_id, job, visible_at) VALUES (?1, ?2, ?3, ?4)",
            params![account, job.webhook, body, now],
        )?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    (clock::now().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A queued job handed out: its receipt (the row id), body and how often it was handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub receipt: String,
    pub body: String,
    pub receives: u32,
}

impl SqliteStore {
    /// Up to `limit` visible jobs, each hidden for `hide` and its receive count raised, as
    /// SQS's `ReceiveMessage` does. A job already received `max_receives` times is not handed
    /// out again but moved to the dead letters (`dead_at`), as a redrive policy does.
    pub async fn claim_jobs(
        &self,
        limit: usize,
        hide: Duration,
        max_receives: u32,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.write(move |tx, _| {
            let now = now_ms();
            tx.execute(
                "UPDATE webhook_outbox SET dead_at = ?1 WHERE dead_at IS NULL AND visible_at <= ?2 AND receives >= ?3",
                params![clock::rfc3339(clock::now()), now, max_receives],
            )?;
            let mut stmt = tx.prepare_cached(
                "UPDATE webhook_outbox SET receives = receives + 1, visible_at = ?1
                 WHERE id IN (SELECT id FROM webhook_outbox WHERE dead_at IS NULL AND visible_at <= ?2 ORDER BY id LIMIT ?3)
                 RETURNING id, job, receives",
            )?;
            let hidden_until = now + hide.as_millis() as i64;
            let rows = stmt.query_map(params![hidden_until, now, limit as i64], |row| {
                Ok(Claimed {
                    receipt: row.get::<_, i64>(0)?.to_string(),
                    body: row.get(1)?,
                    receives: row.get(2)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    /// Deletes delivered jobs (what Lambda does with the messages a batch did not report failed).
    pub async fn finish_jobs(&self, receipts: Vec<String>) -> Result<(), StoreError> {
        self.write(move |tx, _| {
            for receipt in receipts {
                tx.execute("DELETE FROM webhook_outbox WHERE id = ?1", [receipt])?;
            }
            Ok(())
        })
        .await
    }

    /// Jobs given up on (for `vpctl` and the tests: the dead-letter queue's depth).
    pub async fn dead_jobs(&self) -> Result<u64, StoreError> {
        self.blocking(|conn| {
            conn.query_row(
                "SELECT count(*) FROM webhook_outbox WHERE dead_at IS NOT NULL",
                [],
                |row| row.get::<_, i64>(0).map(|n| n as u64),
            )
        })
        .await
    }
}

#[async_trait]
impl Requeue for SqliteStore {
    async fn retry_in(&self, receipt: &str, wait: Duration) -> Result<(), StoreError> {
        let receipt = receipt.to_string();
        self.write(move |tx, _| {
            tx.execute(
                "UPDATE webhook_outbox SET visible_at = ?1 WHERE id = ?2",
                params![now_ms() + wait.as_millis() as i64, receipt],
            )?;
            Ok(())
        })
        .await
    }
}
