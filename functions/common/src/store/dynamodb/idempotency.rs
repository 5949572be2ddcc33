//! Sessions with an `Idempotency-Key`: the debit and the record in one transaction, and the
//! recorded answer for a retry.

use super::DynamoStore;
use super::balance::BalanceChange;
use super::cancel::Retry;
use super::client::{TxError, internal, to_item};
use super::items::{
    ACCOUNT_SK, AccountItem, IDEMPOTENCY_PREFIX, IdempotencyItem, LEDGER_PREFIX, LedgerItem, PendingEntry,
    account_pk,
};
use crate::store::{
    DebitOutcome, IDEMPOTENCY_WINDOW, IdempotentSession, ResolvedKey, SessionGrant, StoreError,
};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use time::OffsetDateTime;

impl DynamoStore {
    /// The debit with an idempotency record: one transaction of the balance change and a
    /// conditional put of the record, so a key can pay for one session only.
    pub(super) async fn debit_idempotent(
        &self,
        key: &ResolvedKey,
        id: &str,
        entry: &PendingEntry,
        idem: IdempotentSession,
        at: OffsetDateTime,
    ) -> Result<DebitOutcome, StoreError> {
        let account = key.account.as_str();
        let record = IdempotencyItem {
            pk: account_pk(account),
            sk: format!("{IDEMPOTENCY_PREFIX}{}", idem.key_hash),
            api_key_id: key.key.to_string(),
            request_hash: idem.request_hash.clone(),
            session_id: idem.grant.session_id.clone(),
            claims: idem.grant.claims.clone(),
            expires_in: idem.grant.expires_in,
            ledger_id: id.to_string(),
            ttl: (at + IDEMPOTENCY_WINDOW).unix_timestamp(),
        };
        let debit = BalanceChange::new(id, entry)?.into_transaction_item(&self.table, account)?;
        // An expired record that TTL has not removed yet may be replaced.
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&record)?))
            .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", AttributeValue::N(at.unix_timestamp().to_string()))
            .build()
            .map_err(internal)?;
        let mut retry = Retry::new("session debit");
        loop {
            retry.next().await?;
            let writes = vec![
                debit.clone(),
                TransactWriteItem::builder().put(put.clone()).build(),
            ];
            match self.transact(writes).await {
                Ok(()) => return self.debited(account, id).await,
                // Item 1 is the record: the Idempotency-Key was used already.
                Err(TxError::Cancelled(c)) if c.condition_failed(1) => {
                    return self.earlier_session(key, &idem, at).await;
                }
                // Item 0 is the debit: not enough credits, or the key was deleted meanwhile.
                Err(TxError::Cancelled(c)) if c.condition_failed(0) => {
                    let item: Option<AccountItem> = self.get(account_pk(account), ACCOUNT_SK).await?;
                    return Ok(match item {
                        Some(item) if item.live_keys.contains_key(key.key.as_str()) => {
                            DebitOutcome::InsufficientCredits
                        }
                        _ => DebitOutcome::InvalidKey,
                    });
                }
                Err(TxError::Cancelled(c)) if c.is_transient() => continue,
                Err(TxError::Cancelled(c)) => return Err(c.into_error("session debit")),
                // Unknown outcome: if our record is there, the debit happened with it.
                Err(TxError::Store(e)) => {
                    let mine: Option<IdempotencyItem> = self.get(record.pk.clone(), &record.sk).await?;
                    return match mine {
                        Some(r) if r.ledger_id == id => self.debited(account, id).await,
                        _ => Err(e),
                    };
                }
            }
        }
    }

    /// After a committed idempotent debit: read its balance, settle, report.
    pub(super) async fn debited(&self, account: &str, id: &str) -> Result<DebitOutcome, StoreError> {
        let item: Option<AccountItem> = self.get(account_pk(account), ACCOUNT_SK).await?;
        let balance = self.balance_after(account, id, item.as_ref()).await?;
        if let Some(item) = &item {
            self.settle_after(account, id, item).await;
        }
        Ok(DebitOutcome::Debited { balance })
    }

    /// The balance right after ledger entry `id`, pending or already copied out.
    pub(super) async fn balance_after(
        &self,
        account: &str,
        id: &str,
        item: Option<&AccountItem>,
    ) -> Result<u64, StoreError> {
        if let Some(&balance) = item.and_then(|i| i.pending_balances.get(id)) {
            return Ok(balance);
        }
        let entry: LedgerItem = self
            .get(account_pk(account), &format!("{LEDGER_PREFIX}{id}"))
            .await?
            .ok_or_else(|| internal(format!("ledger entry {id} missing")))?;
        Ok(entry.balance_after)
    }

    /// The recorded answer for a used idempotency key, or the conflict.
    pub(super) async fn earlier_session(
        &self,
        key: &ResolvedKey,
        idem: &IdempotentSession,
        now: OffsetDateTime,
    ) -> Result<DebitOutcome, StoreError> {
        let account = key.account.as_str();
        let record: IdempotencyItem = self
            .get(
                account_pk(account),
                &format!("{IDEMPOTENCY_PREFIX}{}", idem.key_hash),
            )
            .await?
            .filter(|r: &IdempotencyItem| r.ttl > now.unix_timestamp())
            .ok_or_else(|| StoreError::unavailable("idempotency record changed while being read"))?;
        if let Some(conflict) = idem.conflict_with(&record.api_key_id, &record.request_hash, &key.key) {
            return Ok(DebitOutcome::Conflict(conflict));
        }
        let item: Option<AccountItem> = self.get(account_pk(account), ACCOUNT_SK).await?;
        let balance = self
            .balance_after(account, &record.ledger_id, item.as_ref())
            .await?;
        Ok(DebitOutcome::Replayed {
            balance,
            grant: SessionGrant {
                session_id: record.session_id,
                claims: record.claims,
                expires_in: record.expires_in,
            },
        })
    }
}
