//! Balance changes: the account item with its free grant, the one conditional update that
//! moves credits (and records the change for the stream), and the account's live keys' slots.

use super::DynamoStore;
use super::cancel::Retry;
use super::client::{
    Conditional, Item, TxError, from_item, internal, is_ambiguous, service_error, to_attribute, update_if,
};
use super::items::{
    ACCOUNT_SK, AccountItem, Change, DayUse, LEDGER_PREFIX, LedgerItem, account_pk, ledger_pk, slot_name,
};
use crate::clock;
use crate::store::{FREE_CREDITS_REASON, LedgerKind, MAX_LIVE_KEYS, Spend, StoreError};
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;

/// How long a caller waits for the ledger to show a change whose write answered ambiguously
/// (a timeout or a 500 after which other changes landed on the account).
const SETTLE_WAIT: Duration = Duration::from_secs(2);

impl DynamoStore {
    /// The put that creates an account with its free grant (as its first change, version 1)
    /// and, when `first_key`, its first key live in slot 1. Conditional: an existing account
    /// is never replaced.
    pub(super) fn new_account(
        &self,
        account: &str,
        at: OffsetDateTime,
        first_key: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let free = self.free_credits;
        let grant = (free > 0).then(|| Change::grant(free, FREE_CREDITS_REASON, at));
        let item = AccountItem {
            pk: account_pk(account),
            sk: ACCOUNT_SK.into(),
            credits: free,
            granted: free,
            debited: 0,
            created_at: clock::rfc3339(at),
            key_seq: u64::from(first_key),
            live_keys: None,
            live: first_key.then_some(FIRST_SLOT).into_iter().collect(),
            ends: HashMap::new(),
            uses: HashMap::new(),
            test_use: None,
            low_credit_threshold: None,
            version: u64::from(grant.is_some()),
            change: grant,
        };
        self.put(&item, Some("attribute_not_exists(pk)"))
    }

    /// An `UpdateItem` of `account`'s account item, to be given its expressions.
    pub(super) fn update_account_item(&self, account: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(account_pk(account)))
            .key("sk", AttributeValue::S(ACCOUNT_SK.into()))
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
        match self.transact(vec![self.new_account(account, at, false)?]).await {
            Ok(()) => Ok(()),
            // Someone else created it meanwhile.
            Err(TxError::Cancelled(c, _)) if c.condition_failed(0) => Ok(()),
            Err(TxError::Cancelled(c, _)) => Err(c.into_error("account creation")),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    /// Applies a balance change with one conditional `UpdateItem` of the account item; returns
    /// the balance right after it, or why the condition refused it.
    ///
    /// The SDK does not retry this call: a retried update whose first attempt landed (a 500 or
    /// a timeout after the write) would take a second credit, and nothing in a plain update can
    /// tell the two apart. We retry only rejections that certainly changed nothing (throttling,
    /// a transaction in flight on the item) and settle an ambiguous answer by looking for the
    /// change itself.
    ///
    /// A debit names its key's slot (`key`), which must be live. A debit by a key with a daily
    /// limit also counts the session in the same write, and a test key's session (a change
    /// that moves no credit) counts against the account's test allowance the same way; the
    /// first such session of a UTC day costs one more request (see [`DayCount`]).
    pub(super) async fn change_balance(
        &self,
        account: &str,
        change: &Change,
        key: Option<DebitKey>,
    ) -> Result<Result<u64, Refusal>, StoreError> {
        let mut key = key;
        let mut retry = Retry::new("balance change");
        loop {
            retry.next().await?;
            let update = BalanceChange::new(change, key)?;
            let result = self
                .update_account_item(account)
                .update_expression(update.update)
                .condition_expression(update.condition)
                .set_expression_attribute_names((!update.names.is_empty()).then_some(update.names))
                .set_expression_attribute_values(Some(update.values))
                // A test session does not update the balance, so only the whole new item has it.
                .return_values(match change.kind {
                    LedgerKind::Test => ReturnValue::AllNew,
                    _ => ReturnValue::UpdatedNew,
                })
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .customize()
                .config_override(
                    aws_sdk_dynamodb::config::Builder::default().retry_config(RetryConfig::disabled()),
                )
                .send()
                .await;
            match result {
                Ok(out) => {
                    let new: Updated = from_item(out.attributes.unwrap_or_default())?;
                    return Ok(Ok(new.credits));
                }
                Err(SdkError::ServiceError(ctx)) => match ctx.into_err() {
                    UpdateItemError::ConditionalCheckFailedException(e) => {
                        match Refusal::of_item(e.item, change, key)? {
                            Refusal::Recount(recounted) => {
                                key = Some(recounted);
                                continue;
                            }
                            refusal => return Ok(Err(refusal)),
                        }
                    }
                    UpdateItemError::TransactionConflictException(_) => continue,
                    UpdateItemError::InternalServerError(_) => {
                        return self.settled_balance(account, &change.id).await.map(Ok);
                    }
                    other => {
                        let error = service_error(&other);
                        if error.is_transient() {
                            continue;
                        }
                        return Err(error);
                    }
                },
                // The outcome is unknown (timeout, connection lost): find out before answering.
                Err(e) if is_ambiguous(&e) => return self.settled_balance(account, &change.id).await.map(Ok),
                Err(e) => return Err(super::client::classify(e)),
            }
        }
    }

    /// The balance right after change `id`, which has been (or may have been) applied: the
    /// account item while it is still the last change, else its ledger entry once the stream
    /// has delivered it. One request when either is there; an error (nothing can be claimed)
    /// if neither shows it within [`SETTLE_WAIT`].
    pub(super) async fn settled_balance(&self, account: &str, id: &str) -> Result<u64, StoreError> {
        let started = std::time::Instant::now();
        loop {
            let items = self
                .batch_get_keys(vec![
                    (account_pk(account), ACCOUNT_SK.to_string()),
                    (ledger_pk(account), format!("{LEDGER_PREFIX}{id}")),
                ])
                .await?;
            for item in items {
                if item.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(ACCOUNT_SK) {
                    let account_item: AccountItem = from_item(item)?;
                    if account_item.change.as_ref().is_some_and(|c| c.id == id) {
                        return Ok(account_item.credits);
                    }
                } else {
                    let entry: LedgerItem = from_item(item)?;
                    return Ok(entry.balance_after);
                }
            }
            if started.elapsed() >= SETTLE_WAIT {
                return Err(StoreError::unavailable(format!(
                    "balance change {id}: outcome not known yet"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The next slot of an existing account with room for another live key, taken with one
    /// atomic increment: never given twice, even to creations racing (a slot taken by a
    /// creation that then fails is just never used). An account at its cap gives none, so
    /// asking again and again does not make slot numbers (and the item) grow.
    pub(super) async fn next_slot(&self, account: &str) -> Result<NextSlot, StoreError> {
        let request = self
            .update_account_item(account)
            .update_expression("SET keySeq = if_not_exists(keySeq, :zero) + :one")
            // An account still in table layout 1 gives none: the move gives its slots.
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(liveKeys) \
                 AND (attribute_not_exists(live) OR size(live) < :cap)",
            )
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":cap", AttributeValue::N(MAX_LIVE_KEYS.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match update_if(request).await? {
            Conditional::Applied(new) => {
                let seq: KeySeq = from_item(new.unwrap_or_default())?;
                Ok(NextSlot::Taken(seq.key_seq))
            }
            Conditional::Refused(Some(old)) if old.contains_key("liveKeys") => Ok(NextSlot::Moving),
            Conditional::Refused(Some(_)) => Ok(NextSlot::Full),
            Conditional::Refused(None) => Ok(NextSlot::NoAccount),
        }
    }

    /// Makes `slot` live on an existing account, if the account has room. (A key's expiry, if
    /// any, travels on its lookup: it never changes.)
    pub(super) fn add_live_key(&self, account: &str, slot: u64) -> Result<TransactWriteItem, StoreError> {
        self.update(
            (account_pk(account), ACCOUNT_SK.into()),
            "ADD live :slot",
            "attribute_exists(pk) AND (attribute_not_exists(live) OR size(live) < :cap)",
            &[],
            vec![
                (":slot", AttributeValue::Ns(vec![slot.to_string()])),
                (":cap", AttributeValue::N(MAX_LIVE_KEYS.to_string())),
            ],
        )
    }

    /// Takes a deleted key's slot out of the account item: out of `live`, and its end and
    /// daily count with it.
    pub(super) fn drop_live_key(&self, account: &str, slot: u64) -> Result<TransactWriteItem, StoreError> {
        self.update(
            (account_pk(account), ACCOUNT_SK.into()),
            "DELETE live :slot REMOVE ends.#slot, uses.#slot",
            "attribute_exists(pk)",
            &[("#slot", &slot_name(slot))],
            vec![(":slot", AttributeValue::Ns(vec![slot.to_string()]))],
        )
    }
}

/// What [`DynamoStore::next_slot`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NextSlot {
    Taken(u64),
    /// The account holds `MAX_LIVE_KEYS` live keys.
    Full,
    NoAccount,
    /// The account is still in layout 1.
    Moving,
}

/// The slot of an account's first key.
pub(super) const FIRST_SLOT: u64 = 1;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeySeq {
    key_seq: u64,
}

/// What `ReturnValues: UPDATED_NEW` gives back that we need.
#[derive(Deserialize)]
struct Updated {
    credits: u64,
}

/// Why a balance change's condition refused it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    InsufficientCredits,
    /// The debit's key is no longer among the account's live keys.
    KeyRevoked,
    /// The debit's key has opened its sessions for this UTC day.
    KeyLimitReached,
    /// The test key's account has opened its test sessions for this UTC day.
    TestLimitReached,
    /// A daily count was not in the state the write assumed (the day turned, or another debit
    /// started today's count first): write again, counting as this key does.
    Recount(DebitKey),
    NoAccount,
    /// The account is still in layout 1: nothing is decided until it has moved.
    Moving,
}

/// The key a debit spends with: its slot, and its daily session limit with how this attempt
/// counts the session; for a test key, the account's test allowance and how this attempt
/// counts against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DebitKey {
    pub(super) slot: u64,
    pub(super) per_day: Option<u32>,
    pub(super) count: DayCount,
    pub(super) test: Option<(u32, DayCount)>,
}

impl DebitKey {
    pub(super) fn of(key: &crate::store::ResolvedKey, spend: Spend) -> Self {
        DebitKey {
            slot: key.slot,
            per_day: key.sessions_per_day,
            count: DayCount::Today,
            test: match spend {
                Spend::Credit => None,
                Spend::TestAllowance { per_day } => Some((per_day, DayCount::Today)),
            },
        }
    }
}

/// The account item keeps, per limited key, `uses.<slot> = day × 10⁷ + count` ([`DayUse`]).
/// One entry per key, whatever the number of days, so the item stays bounded; the price is
/// that an update cannot branch on the stored day, so a debit assumes the day's count has
/// begun (`Today`, every session but the day's first) and the refusal, which carries the old
/// item, says when it has not (`NewDay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DayCount {
    /// Add one to today's count, if it is below the limit.
    Today,
    /// Start today's count at one, if no debit has yet today.
    NewDay,
}

/// How a daily count packed as [`DayUse`] stands on `today`, against `limit`: `None` when it
/// is used up, else how the next session counts.
fn day_count(packed: Option<u64>, today: Option<i64>, limit: u32) -> Option<DayCount> {
    match packed.map(DayUse::unpacked).filter(|u| Some(u.day) == today) {
        Some(used) if used.count >= u64::from(limit) => None,
        Some(_) => Some(DayCount::Today),
        None => Some(DayCount::NewDay),
    }
}

impl Refusal {
    /// Reads the reason off the item as it was when the condition failed. A debit without
    /// credits is refused for that before its limit (waiting for the next day would not help);
    /// a key's own limit is told before its account's test allowance.
    pub(super) fn of(old: &AccountItem, change: &Change, key: Option<DebitKey>) -> Self {
        let at = clock::parse_rfc3339(&change.at).ok();
        let today = at.map(clock::utc_day);
        let ended = |slot: u64| matches!((old.ends.get(&slot_name(slot)), at), (Some(end), Some(at)) if *end <= at.unix_timestamp());
        let fallback = match change.kind {
            LedgerKind::Debit => Refusal::InsufficientCredits,
            _ => Refusal::NoAccount,
        };
        match key {
            _ if old.live_keys.is_some() => Refusal::Moving,
            Some(key) if !old.live.contains(&key.slot) || ended(key.slot) => Refusal::KeyRevoked,
            _ if change.kind == LedgerKind::Debit && old.credits < change.amount => {
                Refusal::InsufficientCredits
            }
            Some(key) => {
                let mut recounted = key;
                if let Some(per_day) = key.per_day {
                    let used = old.uses.get(&slot_name(key.slot)).copied();
                    match day_count(used, today, per_day) {
                        None => return Refusal::KeyLimitReached,
                        Some(count) => recounted.count = count,
                    }
                }
                if let Some((per_day, _)) = key.test {
                    match day_count(old.test_use, today, per_day) {
                        None => return Refusal::TestLimitReached,
                        Some(count) => recounted.test = Some((per_day, count)),
                    }
                }
                // Counted as the item stood, it would have been applied: something else refused.
                if recounted == key {
                    fallback
                } else {
                    Refusal::Recount(recounted)
                }
            }
            None => fallback,
        }
    }

    /// The same, from an old item as DynamoDB returned it (absent: no account).
    pub(super) fn of_item(
        old: Option<Item>,
        change: &Change,
        key: Option<DebitKey>,
    ) -> Result<Self, StoreError> {
        Ok(match old {
            Some(old) => Refusal::of(&from_item(old)?, change, key),
            None => Refusal::NoAccount,
        })
    }
}

/// The conditional update that changes a balance, bumps `version` and records the change.
pub(super) struct BalanceChange {
    update: String,
    condition: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl BalanceChange {
    pub(super) fn new(change: &Change, key: Option<DebitKey>) -> Result<Self, StoreError> {
        let (balance, guard) = match change.kind {
            LedgerKind::Debit => (
                "credits = credits - :amount, debited = debited + :amount, ",
                "credits >= :amount",
            ),
            LedgerKind::Grant => (
                "credits = credits + :amount, granted = granted + :amount, ",
                "attribute_exists(pk)",
            ),
            // A test session moves no credit, whatever the balance: it is counted below.
            LedgerKind::Test => ("", "attribute_exists(pk)"),
        };
        let mut update = format!("SET {balance}version = version + :one, change = :change");
        let mut names = HashMap::new();
        let mut values = HashMap::from([
            (":one".to_string(), AttributeValue::N("1".into())),
            (":change".to_string(), to_attribute(change)?),
        ]);
        if change.kind != LedgerKind::Test {
            values.insert(":amount".into(), AttributeValue::N(change.amount.to_string()));
        }
        let mut condition = guard.to_string();
        if let Some(key) = key {
            // The key must still be live and not ended: a key deleted (or leaked, or past a
            // roll's grace) after it was resolved (or remembered) is refused by the very write
            // that would spend.
            condition.push_str(
                " AND contains(live, :slot) AND (attribute_not_exists(ends.#slot) OR ends.#slot > :now)",
            );
            names.insert("#slot".into(), slot_name(key.slot));
            values.insert(":slot".into(), AttributeValue::N(key.slot.to_string()));
            let at = clock::parse_rfc3339(&change.at).map_err(|_| internal("a change's time is RFC 3339"))?;
            values.insert(":now".into(), AttributeValue::N(at.unix_timestamp().to_string()));
            let day = clock::utc_day(at);
            let today = DayUse { day, count: 0 }.packed();
            let mut count = |counter: &str, tag: &str, per_day: u32, how: DayCount| {
                values.insert(":today".into(), AttributeValue::N(today.to_string()));
                match how {
                    DayCount::Today => {
                        // Today's count, below the limit: today ≤ packed < today + limit.
                        condition.push_str(&format!(" AND {counter} >= :today AND {counter} < :bound{tag}"));
                        update.push_str(&format!(", {counter} = {counter} + :one"));
                        let bound = today + u64::from(per_day);
                        values.insert(format!(":bound{tag}"), AttributeValue::N(bound.to_string()));
                    }
                    DayCount::NewDay => {
                        condition.push_str(&format!(
                            " AND (attribute_not_exists({counter}) OR {counter} < :today)"
                        ));
                        update.push_str(&format!(", {counter} = :first"));
                        let first = DayUse { day, count: 1 }.packed();
                        values.insert(":first".into(), AttributeValue::N(first.to_string()));
                    }
                }
            };
            if let Some(per_day) = key.per_day {
                count("uses.#slot", "", per_day, key.count);
            }
            // The account's test allowance: one number for all its test keys.
            if let Some((per_day, how)) = key.test {
                count("testUse", "Test", per_day, how);
            }
        }
        Ok(BalanceChange {
            update,
            condition,
            names,
            values,
        })
    }

    /// The same change as one item of a transaction (the idempotent debit's), returning the
    /// old account item if its condition fails.
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
            .set_expression_attribute_names((!self.names.is_empty()).then_some(self.names))
            .set_expression_attribute_values(Some(self.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}
