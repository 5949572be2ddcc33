//! The ledger and audit records: a balance change's entry is written inline on the account
//! item, then copied to its own `LEDGER#` / `AUDIT#` items and removed. Both steps are
//! idempotent and readers merge pending entries, so a crash between them loses nothing.

use super::DynamoStore;
use super::client::{TxError, classify, parse_time};
use super::items::{
    ACCOUNT_SK, AUDIT_PREFIX, AccountItem, AuditItem, LEDGER_PREFIX, LedgerItem, PendingEntry, account_pk,
};
use crate::clock;
use crate::ids::{AccountId, SessionId, new_ulid};
use crate::store::{AuditAction, AuditEvent, LedgerEntry, Origin, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use time::OffsetDateTime;

/// Pending entries older than this were left by a crashed writer; the next writer copies them.
const STALE_PENDING: time::Duration = time::Duration::seconds(30);

impl DynamoStore {
    pub(super) async fn read_ledger(&self, account: &AccountId) -> Result<Vec<LedgerEntry>, StoreError> {
        let account = account.as_str();
        let mut items: Vec<LedgerItem> = self.query(account, LEDGER_PREFIX, false).await?;
        for (id, entry, balance) in self.pending(account).await? {
            if !items.iter().any(|i| i.id == id) {
                items.push(entry.ledger_item(account, &id, balance));
            }
        }
        items.sort_by(|a, b| a.id.cmp(&b.id));
        items
            .into_iter()
            .map(|i| {
                Ok(LedgerEntry {
                    kind: i.kind,
                    at: parse_time(&i.at)?,
                    id: i.id,
                    amount: i.amount,
                    balance_after: i.balance_after,
                    key_id: i.key_id,
                    session_id: i.session_id,
                    reason: i.reason,
                })
            })
            .collect()
    }

    pub(super) async fn read_audit_events(
        &self,
        account: &AccountId,
        now: OffsetDateTime,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let account = account.as_str();
        let mut items: Vec<AuditItem> = self.query(account, AUDIT_PREFIX, false).await?;
        for (_, entry, _) in self.pending(account).await? {
            if let Some(audit) = entry.audit_item(account)
                && !items.iter().any(|i| i.id == audit.id)
            {
                items.push(audit);
            }
        }
        items.sort_by(|a, b| a.id.cmp(&b.id));
        items
            .into_iter()
            .filter(|i| i.ttl > now.unix_timestamp())
            .map(|i| {
                Ok(AuditEvent {
                    event: i.action,
                    at: parse_time(&i.at)?,
                    expires_at: i.ttl,
                    id: i.id,
                    account_id: i.account_id,
                    key_id: i.key_id,
                    session_id: i.session_id,
                    ip_address: i.ip_address,
                    user_agent: i.user_agent,
                })
            })
            .collect()
    }

    /// Copies pending entries to their own ledger and audit items, then drops them from the
    /// account. Idempotent (same ids, same content) and safe to interrupt at any point.
    pub(super) async fn settle(
        &self,
        account: &str,
        entries: Vec<(String, PendingEntry, u64)>,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        for chunk in entries.chunks(12) {
            let mut writes = Vec::new();
            for (id, entry, balance) in chunk {
                writes.push(self.put(&entry.ledger_item(account, id, *balance), None)?);
                if let Some(audit) = entry.audit_item(account) {
                    writes.push(self.put(&audit, None)?);
                }
            }
            self.transact(writes).await.map_err(|e| match e {
                TxError::Cancelled(c) => c.into_error("ledger copy"),
                TxError::Store(e) => e,
            })?;
        }
        let mut names = HashMap::new();
        let mut removes = Vec::new();
        for (i, (id, _, _)) in entries.iter().enumerate() {
            names.insert(format!("#p{i}"), id.clone());
            removes.push(format!("pending.#p{i}, pendingBalances.#p{i}"));
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(account_pk(account)))
            .key("sk", AttributeValue::S(ACCOUNT_SK.into()))
            .update_expression(format!("REMOVE {}", removes.join(", ")))
            .set_expression_attribute_names(Some(names))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Settles our own entry plus any left behind by a crashed writer. Failures are logged, not
    /// returned: the balance change is already durable and readers see pending entries.
    pub(super) async fn settle_after(&self, account: &str, own_id: &str, item: &AccountItem) {
        let stale_before = clock::rfc3339(clock::now() - STALE_PENDING);
        let entries: Vec<_> = item
            .pending
            .iter()
            .filter(|(id, e)| id.as_str() == own_id || e.at < stale_before)
            .filter_map(|(id, e)| item.pending_balances.get(id).map(|&b| (id.clone(), e.clone(), b)))
            .collect();
        if let Err(e) = self.settle(account, entries).await {
            tracing::warn!(error = %e, "ledger copy deferred; entries stay pending on the account");
        }
    }

    /// The account's pending entries as (id, entry, balance after).
    pub(super) async fn pending(
        &self,
        account: &str,
    ) -> Result<Vec<(String, PendingEntry, u64)>, StoreError> {
        let Some(item) = self.get::<AccountItem>(account_pk(account), ACCOUNT_SK).await? else {
            return Ok(Vec::new());
        };
        Ok(item
            .pending
            .into_iter()
            .filter_map(|(id, e)| item.pending_balances.get(&id).map(|&b| (id, e, b)))
            .collect())
    }
}

pub(super) fn audit_item(
    account: &str,
    action: AuditAction,
    key: &str,
    session: Option<&SessionId>,
    origin: &Origin,
    at: OffsetDateTime,
) -> AuditItem {
    let id = new_ulid().to_string();
    AuditItem {
        pk: account_pk(account),
        sk: format!("{AUDIT_PREFIX}{id}"),
        id,
        action,
        account_id: account.to_string(),
        key_id: key.to_string(),
        session_id: session.map(SessionId::to_string),
        ip_address: origin.ip.clone(),
        user_agent: origin.user_agent.clone(),
        at: clock::rfc3339(at),
        ttl: clock::expiry(at),
    }
}
