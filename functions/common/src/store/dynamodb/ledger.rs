//! Reading the ledger and the audit trail (written by `stream.rs` and the key writes), and
//! the audit item the key writes record.

use super::DynamoStore;
use super::client::parse_time;
use super::items::{
    AUDIT_PREFIX, AuditItem, CreditEventItem, EVENT_PREFIX, LEDGER_PREFIX, LedgerItem, audit_pk, event_pk,
    ledger_pk,
};
use crate::clock;
use crate::ids::{AccountId, SessionId, new_ulid};
use crate::store::{AuditAction, AuditEvent, CreditEvent, LedgerEntry, Origin, StoreError};
use time::OffsetDateTime;

impl DynamoStore {
    pub(super) async fn read_ledger(&self, account: &AccountId) -> Result<Vec<LedgerEntry>, StoreError> {
        let items: Vec<LedgerItem> = self
            .query(ledger_pk(account.as_str()), LEDGER_PREFIX, false)
            .await?;
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
        let items: Vec<AuditItem> = self
            .query(audit_pk(account.as_str()), AUDIT_PREFIX, false)
            .await?;
        items
            .into_iter()
            .filter(|i| i.ttl > now.unix_timestamp())
            .map(audit_event)
            .collect()
    }

    /// Oldest first, by the account version each event's debit produced.
    pub(super) async fn read_credit_events(
        &self,
        account: &AccountId,
    ) -> Result<Vec<CreditEvent>, StoreError> {
        let mut items: Vec<CreditEventItem> = self
            .query(event_pk(account.as_str()), EVENT_PREFIX, false)
            .await?;
        items.sort_by_key(|i| i.version);
        items
            .into_iter()
            .map(|i| {
                Ok(CreditEvent {
                    at: parse_time(&i.at)?,
                    id: i.id,
                    event: i.event,
                    account_id: i.account_id,
                    credits: i.credits,
                    threshold: i.threshold,
                    key_id: i.key_id,
                })
            })
            .collect()
    }

    pub(super) async fn read_audit_page(
        &self,
        account: &AccountId,
        now: OffsetDateTime,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let items: Vec<AuditItem> = self
            .query_before(
                audit_pk(account.as_str()),
                AUDIT_PREFIX,
                before,
                limit,
                |item: &AuditItem| item.ttl > now.unix_timestamp(),
            )
            .await?;
        items.into_iter().map(audit_event).collect()
    }
}

fn audit_event(i: AuditItem) -> Result<AuditEvent, StoreError> {
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
        previous_key_id: i.previous_key_id,
        url: i.url,
        source: i.source,
        mode: i.mode,
    })
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
        pk: audit_pk(account),
        sk: format!("{AUDIT_PREFIX}{id}"),
        id,
        action,
        account_id: account.to_string(),
        key_id: key.to_string(),
        session_id: session.map(SessionId::to_string),
        ip_address: origin.ip.clone(),
        user_agent: origin.user_agent.clone(),
        previous_key_id: None,
        url: None,
        source: None,
        mode: None,
        at: clock::rfc3339(at),
        ttl: clock::expiry(at),
    }
}
