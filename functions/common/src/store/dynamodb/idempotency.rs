//! Sessions with an `Idempotency-Key`: the debit and the record in one transaction, and the
//! recorded answer for a retry. Two requests either way: the transaction, then one batch read
//! for the balance right after the debit (the account item while the debit is its last change,
//! else the debit's ledger entry).

use super::DynamoStore;
use super::balance::{BalanceChange, DebitKey, Refusal};
use super::cancel::Retry;
use super::client::{TxError, from_item, internal, to_item};
use super::items::{Change, IDEMPOTENCY_PREFIX, IdempotencyItem, idempotency_pk};
use crate::store::{DebitOutcome, IdempotentSession, ResolvedKey, SessionGrant, StoreError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use time::OffsetDateTime;

impl DynamoStore {
    /// The debit with an idempotency record: one transaction of the balance change and a
    /// conditional put of the record, so an idempotency key can pay for one session only.
    pub(super) async fn debit_idempotent(
        &self,
        key: &ResolvedKey,
        change: &Change,
        mut debit_key: DebitKey,
        idem: IdempotentSession,
        at: OffsetDateTime,
    ) -> Result<DebitOutcome, StoreError> {
        let account = key.account.as_str();
        let record = IdempotencyItem {
            pk: idempotency_pk(account),
            sk: format!("{IDEMPOTENCY_PREFIX}{}", idem.key_hash),
            api_key_id: key.key.to_string(),
            request_hash: idem.request_hash.clone(),
            session_id: idem.grant.session_id.clone(),
            sealed_token: idem.grant.sealed_token.clone(),
            expires_in: idem.grant.expires_in,
            ledger_id: change.id.clone(),
            ttl: idem.record_expiry(at).unix_timestamp(),
        };
        // An expired record (live while now < ttl: `record_expiry`) that TTL has not removed
        // yet may be replaced. A used one comes back with the cancellation, so a replay needs
        // no extra read to find it.
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&record)?))
            .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", AttributeValue::N(at.unix_timestamp().to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(internal)?;
        let mut retry = Retry::new("session debit");
        loop {
            retry.next().await?;
            let writes = vec![
                BalanceChange::new(change, Some(debit_key))?.into_transaction_item(&self.table, account)?,
                TransactWriteItem::builder().put(put.clone()).build(),
            ];
            match self.transact(writes).await {
                Ok(()) => {
                    let balance = self.settled_balance(account, &change.id).await?;
                    return Ok(DebitOutcome::Debited { balance });
                }
                Err(TxError::Cancelled(c, mut old)) if c.condition_failed(0) || c.condition_failed(1) => {
                    // Item 0 is the debit: a deleted key is refused whatever else failed, and
                    // a used idempotency key (item 1) is answered even without credits left.
                    let refusal = match c.condition_failed(0) {
                        true => Some(Refusal::of_item(old.take(0), change, Some(debit_key))?),
                        false => None,
                    };
                    return match refusal {
                        Some(Refusal::Moving) => Err(super::migrate::not_moved(account)),
                        Some(Refusal::KeyRevoked | Refusal::NoAccount) => Ok(DebitOutcome::InvalidKey),
                        _ if c.condition_failed(1) => self.earlier_session(key, &idem, old.take(1), at).await,
                        Some(Refusal::Recount(recounted)) => {
                            debit_key = recounted;
                            continue;
                        }
                        Some(Refusal::KeyLimitReached) => Ok(DebitOutcome::KeyLimitReached),
                        Some(Refusal::TestLimitReached) => Ok(DebitOutcome::TestLimitReached),
                        _ => Ok(DebitOutcome::InsufficientCredits),
                    };
                }
                Err(TxError::Cancelled(c, _)) if c.is_transient() => continue,
                Err(TxError::Cancelled(c, _)) => return Err(c.into_error("session debit")),
                // Unknown outcome (the SDK's retries reuse the transaction's token, so at most
                // one of them applied): if our record is there, the debit happened with it.
                Err(TxError::Store(e)) => {
                    let mine: Option<IdempotencyItem> = self.get(record.pk.clone(), &record.sk).await?;
                    return match mine {
                        Some(r) if r.ledger_id == change.id => {
                            let balance = self.settled_balance(account, &change.id).await?;
                            Ok(DebitOutcome::Debited { balance })
                        }
                        _ => Err(e),
                    };
                }
            }
        }
    }

    /// The recorded answer for a used idempotency key, or the conflict. `returned` is the
    /// record as the cancelled transaction gave it back (read here if it did not).
    async fn earlier_session(
        &self,
        key: &ResolvedKey,
        idem: &IdempotentSession,
        returned: Option<super::client::Item>,
        now: OffsetDateTime,
    ) -> Result<DebitOutcome, StoreError> {
        let account = key.account.as_str();
        let record: Option<IdempotencyItem> = match returned {
            Some(item) => Some(from_item(item)?),
            None => {
                self.get(
                    idempotency_pk(account),
                    &format!("{IDEMPOTENCY_PREFIX}{}", idem.key_hash),
                )
                .await?
            }
        };
        let record = record
            .filter(|r| r.ttl > now.unix_timestamp())
            .ok_or_else(|| StoreError::unavailable("idempotency record changed while being read"))?;
        if let Some(conflict) = idem.conflict_with(&record.api_key_id, &record.request_hash, &key.key) {
            return Ok(DebitOutcome::Conflict(conflict));
        }
        let balance = self.settled_balance(account, &record.ledger_id).await?;
        Ok(DebitOutcome::Replayed {
            balance,
            grant: SessionGrant {
                session_id: record.session_id,
                sealed_token: record.sealed_token,
                expires_in: record.expires_in,
            },
        })
    }
}
