//! Balance changes: the account item with its free grant, the one conditional update that
//! moves credits and records the ledger entry inline, and the account's live keys.

use super::DynamoStore;
use super::cancel::Retry;
use super::client::{TxError, classify, from_item, internal, is_ambiguous, service_error, to_attribute};
use super::items::{ACCOUNT_SK, AccountItem, PendingEntry, account_pk};
use crate::clock;
use crate::ids::{KeyId, new_ulid};
use crate::store::{FREE_CREDITS_REASON, LedgerKind, MAX_LIVE_KEYS, StoreError};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use std::collections::HashMap;
use time::OffsetDateTime;

impl DynamoStore {
    /// The account item and its free-credit grant, for a transaction that creates the account
    /// (with its first key when `first_key` is given).
    pub(super) fn new_account_items(
        &self,
        account: &str,
        at: OffsetDateTime,
        first_key: Option<&KeyId>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let free = self.free_credits;
        let item = AccountItem {
            pk: account_pk(account),
            sk: ACCOUNT_SK.into(),
            credits: free,
            granted: free,
            debited: 0,
            created_at: clock::rfc3339(at),
            last_used: HashMap::new(),
            live_keys: first_key
                .map(|k| (k.to_string(), clock::rfc3339(at)))
                .into_iter()
                .collect(),
            pending: HashMap::new(),
            pending_balances: HashMap::new(),
        };
        let mut items = vec![self.put(&item, Some("attribute_not_exists(pk)"))?];
        if free > 0 {
            let grant = PendingEntry::grant(free, FREE_CREDITS_REASON, at);
            items.push(self.put(&grant.ledger_item(account, &new_ulid().to_string(), free), None)?);
        }
        Ok(items)
    }

    /// Creates the account with its free grant unless it exists. Exactly once: the account put is
    /// conditional, and a lost race just means someone else created it.
    pub(super) async fn ensure_account(&self, account: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        if self
            .get::<AccountItem>(account_pk(account), ACCOUNT_SK)
            .await?
            .is_some()
        {
            return Ok(());
        }
        match self.transact(self.new_account_items(account, at, None)?).await {
            Ok(()) => Ok(()),
            // The account put is item 0: someone else created it meanwhile.
            Err(TxError::Cancelled(c)) if c.condition_failed(0) => Ok(()),
            Err(TxError::Cancelled(c)) => Err(c.into_error("account creation")),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    /// Applies a balance change and its ledger entry in one conditional update of the account
    /// item; returns the balance right after it and the whole new account item, or why the
    /// condition refused it (when that was not our own earlier attempt).
    ///
    /// An idempotent debit on the same account is a transaction; a plain update that meets one
    /// in flight is refused with `TransactionConflict` and retried (then 503), never a 500.
    pub(super) async fn change_balance(
        &self,
        account: &str,
        id: &str,
        entry: &PendingEntry,
    ) -> Result<Result<(u64, AccountItem), Refusal>, StoreError> {
        let mut retry = Retry::new("balance change");
        loop {
            retry.next().await?;
            match self.change_balance_once(account, id, entry).await? {
                Change::Applied(balance, item) => return Ok(Ok((balance, *item))),
                Change::Refused(refusal) => return Ok(Err(refusal)),
                Change::Conflicted => continue,
            }
        }
    }

    /// One attempt of [`Self::change_balance`].
    pub(super) async fn change_balance_once(
        &self,
        account: &str,
        id: &str,
        entry: &PendingEntry,
    ) -> Result<Change, StoreError> {
        let change = BalanceChange::new(id, entry)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(account_pk(account)))
            .key("sk", AttributeValue::S(ACCOUNT_SK.into()))
            .update_expression(change.update)
            .condition_expression(change.condition)
            .set_expression_attribute_names(Some(change.names))
            .set_expression_attribute_values(Some(change.values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item: AccountItem = from_item(out.attributes.unwrap_or_default())?;
                let balance = *item
                    .pending_balances
                    .get(id)
                    .ok_or_else(|| internal("update returned no balance"))?;
                Ok(Change::Applied(balance, Box::new(item)))
            }
            Err(SdkError::ServiceError(ctx)) => match ctx.into_err() {
                UpdateItemError::ConditionalCheckFailedException(e) => {
                    let Some(old) = e.item else {
                        return Ok(Change::Refused(Refusal::NoAccount));
                    };
                    let old: AccountItem = from_item(old)?;
                    // Our own earlier attempt already applied (its response was lost).
                    if let Some(&balance) = old.pending_balances.get(id) {
                        return Ok(Change::Applied(balance, Box::new(old)));
                    }
                    Ok(Change::Refused(Refusal::of(&old, entry)))
                }
                UpdateItemError::TransactionConflictException(_) => Ok(Change::Conflicted),
                other => Err(service_error(&other)),
            },
            // The outcome is unknown (timeout, connection lost): look before reporting failure.
            Err(e) if is_ambiguous(&e) => {
                let item: Option<AccountItem> = self.get(account_pk(account), ACCOUNT_SK).await?;
                match item {
                    Some(item) => match item.pending_balances.get(id).copied() {
                        Some(balance) => Ok(Change::Applied(balance, Box::new(item))),
                        None => Err(classify(e)),
                    },
                    None => Err(classify(e)),
                }
            }
            Err(e) => Err(classify(e)),
        }
    }

    /// Adds a key to an existing account's live keys, if the account has room for it.
    pub(super) fn add_live_key(
        &self,
        account: &str,
        key: &KeyId,
        at: OffsetDateTime,
    ) -> Result<TransactWriteItem, StoreError> {
        self.update(
            (account_pk(account), ACCOUNT_SK.into()),
            "SET liveKeys.#key = :at",
            "attribute_exists(pk) AND size(liveKeys) < :cap",
            &[("#key", key.as_str())],
            vec![
                (":at", AttributeValue::S(clock::rfc3339(at))),
                (":cap", AttributeValue::N(MAX_LIVE_KEYS.to_string())),
            ],
        )
    }

    /// Removes a deleted key from the account: no longer live, no last use kept for it.
    pub(super) fn drop_live_key(&self, account: &str, key: &KeyId) -> Result<TransactWriteItem, StoreError> {
        self.update(
            (account_pk(account), ACCOUNT_SK.into()),
            "REMOVE liveKeys.#key, lastUsed.#key",
            "attribute_exists(pk)",
            &[("#key", key.as_str())],
            Vec::new(),
        )
    }
}

/// What one attempt at a balance change did.
pub(super) enum Change {
    /// The balance right after the change, and the account item as it now is.
    Applied(u64, Box<AccountItem>),
    Refused(Refusal),
    /// A transaction on the item was in flight; nothing changed.
    Conflicted,
}

/// Why a balance change's condition refused it.
pub(super) enum Refusal {
    InsufficientCredits,
    /// The debit's key is no longer among the account's live keys.
    KeyRevoked,
    NoAccount,
}

impl Refusal {
    /// Reads the reason off the item as it was when the condition failed.
    fn of(old: &AccountItem, entry: &PendingEntry) -> Self {
        match &entry.key_id {
            Some(key) if !old.live_keys.contains_key(key) => Refusal::KeyRevoked,
            _ if entry.kind == LedgerKind::Debit => Refusal::InsufficientCredits,
            _ => Refusal::NoAccount,
        }
    }
}

/// The conditional update that changes a balance and records its ledger entry inline.
pub(super) struct BalanceChange {
    update: String,
    condition: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl BalanceChange {
    /// The same change as one item of a transaction (the idempotent debit's).
    pub(super) fn into_transaction_item(
        self,
        table: &str,
        account: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(table)
            .key("pk", AttributeValue::S(account_pk(account)))
            .key("sk", AttributeValue::S(ACCOUNT_SK.into()))
            .update_expression(self.update)
            .condition_expression(self.condition)
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values(Some(self.values))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub(super) fn new(id: &str, entry: &PendingEntry) -> Result<Self, StoreError> {
        let debit = entry.kind == LedgerKind::Debit;
        let (sign, guard, total) = if debit {
            ("-", "credits >= :amount", "debited")
        } else {
            ("+", "attribute_exists(pk)", "granted")
        };
        let mut update = format!(
            "SET credits = credits {sign} :amount, {total} = {total} + :amount, pending.#id = :entry, pendingBalances.#id = credits {sign} :amount"
        );
        let mut names = HashMap::from([("#id".to_string(), id.to_string())]);
        let mut values = HashMap::from([
            (":amount".to_string(), AttributeValue::N(entry.amount.to_string())),
            (":entry".to_string(), to_attribute(entry)?),
        ]);
        let mut condition = format!("{guard} AND attribute_not_exists(pending.#id)");
        if let Some(key) = &entry.key_id {
            update.push_str(", lastUsed.#key = :at");
            // The key must still be live: deleted after it was resolved means refused.
            condition.push_str(" AND attribute_exists(liveKeys.#key)");
            names.insert("#key".into(), key.clone());
            values.insert(":at".into(), AttributeValue::S(entry.at.clone()));
        }
        Ok(BalanceChange {
            update,
            condition,
            names,
            values,
        })
    }
}
