//! The production store: one DynamoDB table (layout in [`items`]).
//!
//! How each guarantee is kept:
//! - **Instant revocation.** A session resolves its key with a strongly consistent `GetItem` on
//!   the hash lookup item; deleting a key marks the key item and its lookup in one transaction.
//!   Once the delete has returned, every later read sees it.
//! - **Never below zero, never lost, never double-counted.** The debit is one conditional
//!   `UpdateItem` on the account item: `credits >= 1` guards the balance, and the same update
//!   writes the ledger entry (under `pending.<ledger id>`), so the change and its record are one
//!   atomic write. The condition also requires that `pending.<ledger id>` does not exist yet:
//!   if the SDK retries an update whose response was lost, the retry fails that condition
//!   instead of debiting twice, and the old item returned with the failure shows the first
//!   attempt's entry, which we then report as the success it was. DynamoDB serialises
//!   conditional updates on one item without transaction conflicts, so a hot account under
//!   racing requests never needs a retry loop.
//! - **Records.** The pending entry is then copied to its own `LEDGER#` / `AUDIT#` items (with
//!   `ttl`) and removed from the account. Both steps are idempotent, and readers merge the
//!   pending entries in, so a crash between them loses nothing; a later session on the account
//!   finishes the copy.

pub mod cancel;
pub mod items;
pub mod table;

use super::*;
use crate::clock;
use crate::ids::new_ulid;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use cancel::{Cancellation, Retry};
use items::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

/// Pending entries older than this were left by a crashed writer; the next writer copies them.
const STALE_PENDING: time::Duration = time::Duration::seconds(30);

pub struct DynamoStore {
    client: Client,
    table: String,
    free_credits: u64,
}

enum TxError {
    /// The transaction was cancelled; nothing was written.
    Cancelled(Cancellation),
    Store(StoreError),
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, free_credits: u64) -> Self {
        DynamoStore { client, table: table.into(), free_credits }
    }

    async fn get<T: DeserializeOwned>(&self, pk: String, sk: &str) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.item.map(from_item).transpose()
    }

    /// All items of one account with the given sort-key prefix, strongly consistent.
    async fn query<T: DeserializeOwned>(&self, account: &str, prefix: &str, newest_first: bool) -> Result<Vec<T>, StoreError> {
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(account_pk(account)))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_string()))
            .consistent_read(true)
            .scan_index_forward(!newest_first)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(classify)?;
        items.into_iter().map(from_item).collect()
    }

    /// Items of one account partition by sort key, strongly consistent, in batches of 100,
    /// asking again for whatever DynamoDB leaves unprocessed.
    async fn batch_get<T: DeserializeOwned>(&self, account: &str, sort_keys: Vec<String>) -> Result<Vec<T>, StoreError> {
        let mut found = Vec::new();
        for chunk in sort_keys.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|sk| {
                    HashMap::from([
                        ("pk".to_string(), AttributeValue::S(account_pk(account))),
                        ("sk".to_string(), AttributeValue::S(sk.clone())),
                    ])
                })
                .collect();
            let mut request = KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build().map_err(internal)?;
            let mut retry = Retry::new("batch read");
            loop {
                retry.next().await?;
                let out = self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(classify)?;
                for item in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                    found.push(from_item(item)?);
                }
                match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                    Some(rest) if !rest.keys.is_empty() => request = rest,
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        // The token makes SDK retries of this exact call idempotent for 10 minutes.
        let token = new_ulid().to_string();
        match self.client.transact_write_items().set_transact_items(Some(items)).client_request_token(token).send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(ctx)) => match ctx.into_err() {
                TransactWriteItemsError::TransactionCanceledException(e) => {
                    Err(TxError::Cancelled(Cancellation::from_sdk(e.cancellation_reasons())))
                }
                other => Err(TxError::Store(service_error(&other))),
            },
            Err(other) => Err(TxError::Store(classify(other))),
        }
    }

    fn put(&self, item: &impl Serialize, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put =
            Put::builder().table_name(&self.table).set_item(Some(to_item(item)?)).set_condition_expression(condition.map(str::to_string));
        Ok(TransactWriteItem::builder().put(put.build().map_err(internal)?).build())
    }

    /// The account item and its free-credit grant, for a transaction that creates the account
    /// (with its first key when `first_key` is given).
    fn new_account_items(
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
            live_keys: first_key.map(|k| (k.to_string(), clock::rfc3339(at))).into_iter().collect(),
            pending: HashMap::new(),
            pending_balances: HashMap::new(),
        };
        let mut items = vec![self.put(&item, Some("attribute_not_exists(pk)"))?];
        if free > 0 {
            let grant = PendingEntry::grant(free, "free credits for a new account", at);
            items.push(self.put(&grant.ledger_item(account, &new_ulid().to_string(), free), None)?);
        }
        Ok(items)
    }

    /// Creates the account with its free grant unless it exists. Exactly once: the account put is
    /// conditional, and a lost race just means someone else created it.
    async fn ensure_account(&self, account: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        if self.get::<AccountItem>(account_pk(account), ACCOUNT_SK).await?.is_some() {
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
    async fn change_balance(
        &self,
        account: &str,
        id: &str,
        entry: &PendingEntry,
    ) -> Result<Result<(u64, AccountItem), Refusal>, StoreError> {
        let mut retry = Retry::new("balance change");
        loop {
            retry.next().await?;
            match self.change_balance_once(account, id, entry).await? {
                Change::Applied(balance, item) => return Ok(Ok((balance, item))),
                Change::Refused(refusal) => return Ok(Err(refusal)),
                Change::Conflicted => continue,
            }
        }
    }

    /// One attempt of [`Self::change_balance`].
    async fn change_balance_once(&self, account: &str, id: &str, entry: &PendingEntry) -> Result<Change, StoreError> {
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
                let balance = *item.pending_balances.get(id).ok_or_else(|| internal("update returned no balance"))?;
                Ok(Change::Applied(balance, item))
            }
            Err(SdkError::ServiceError(ctx)) => match ctx.into_err() {
                UpdateItemError::ConditionalCheckFailedException(e) => {
                    let Some(old) = e.item else { return Ok(Change::Refused(Refusal::NoAccount)) };
                    let old: AccountItem = from_item(old)?;
                    // Our own earlier attempt already applied (its response was lost).
                    if let Some(&balance) = old.pending_balances.get(id) {
                        return Ok(Change::Applied(balance, old));
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
                        Some(balance) => Ok(Change::Applied(balance, item)),
                        None => Err(classify(e)),
                    },
                    None => Err(classify(e)),
                }
            }
            Err(e) => Err(classify(e)),
        }
    }

    /// The debit with an idempotency record: one transaction of the balance change and a
    /// conditional put of the record, so a key can pay for one session only.
    async fn debit_idempotent(
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
        let change = BalanceChange::new(id, entry)?;
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(account_pk(account)))
            .key("sk", AttributeValue::S(ACCOUNT_SK.into()))
            .update_expression(change.update)
            .condition_expression(change.condition)
            .set_expression_attribute_names(Some(change.names))
            .set_expression_attribute_values(Some(change.values))
            .build()
            .map_err(internal)?;
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
            let writes =
                vec![TransactWriteItem::builder().update(update.clone()).build(), TransactWriteItem::builder().put(put.clone()).build()];
            match self.transact(writes).await {
                Ok(()) => return self.debited(account, id).await,
                // Item 1 is the record: the Idempotency-Key was used already.
                Err(TxError::Cancelled(c)) if c.condition_failed(1) => return self.earlier_session(key, &idem, at).await,
                // Item 0 is the debit: not enough credits, or the key was deleted meanwhile.
                Err(TxError::Cancelled(c)) if c.condition_failed(0) => {
                    let item: Option<AccountItem> = self.get(account_pk(account), ACCOUNT_SK).await?;
                    return Ok(match item {
                        Some(item) if item.live_keys.contains_key(key.key.as_str()) => DebitOutcome::InsufficientCredits,
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

    /// A conditional update of one item, for a transaction. `names` and `values` fill the
    /// expressions' `#name` and `:value` placeholders.
    fn update(
        &self,
        (pk, sk): (String, String),
        expression: &str,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .update_expression(expression)
            .condition_expression(condition);
        for (placeholder, name) in names {
            update = update.expression_attribute_names(*placeholder, *name);
        }
        for (placeholder, value) in values {
            update = update.expression_attribute_values(placeholder, value);
        }
        Ok(TransactWriteItem::builder().update(update.build().map_err(internal)?).build())
    }

    /// Adds a key to an existing account's live keys, if the account has room for it.
    fn add_live_key(&self, account: &str, key: &KeyId, at: OffsetDateTime) -> Result<TransactWriteItem, StoreError> {
        self.update(
            (account_pk(account), ACCOUNT_SK.into()),
            "SET liveKeys.#key = :at",
            "attribute_exists(pk) AND size(liveKeys) < :cap",
            &[("#key", key.as_str())],
            vec![(":at", AttributeValue::S(clock::rfc3339(at))), (":cap", AttributeValue::N(MAX_LIVE_KEYS.to_string()))],
        )
    }

    /// Removes a deleted key from the account: no longer live, no last use kept for it.
    fn drop_live_key(&self, account: &str, key: &KeyId) -> Result<TransactWriteItem, StoreError> {
        self.update(
            (account_pk(account), ACCOUNT_SK.into()),
            "REMOVE liveKeys.#key, lastUsed.#key",
            "attribute_exists(pk)",
            &[("#key", key.as_str())],
            Vec::new(),
        )
    }

    /// After a committed idempotent debit: read its balance, settle, report.
    async fn debited(&self, account: &str, id: &str) -> Result<DebitOutcome, StoreError> {
        let item: Option<AccountItem> = self.get(account_pk(account), ACCOUNT_SK).await?;
        let balance = self.balance_after(account, id, item.as_ref()).await?;
        if let Some(item) = &item {
            self.settle_after(account, id, item).await;
        }
        Ok(DebitOutcome::Debited { balance })
    }

    /// The balance right after ledger entry `id`, pending or already copied out.
    async fn balance_after(&self, account: &str, id: &str, item: Option<&AccountItem>) -> Result<u64, StoreError> {
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
    async fn earlier_session(&self, key: &ResolvedKey, idem: &IdempotentSession, now: OffsetDateTime) -> Result<DebitOutcome, StoreError> {
        let account = key.account.as_str();
        let record: IdempotencyItem = self
            .get(account_pk(account), &format!("{IDEMPOTENCY_PREFIX}{}", idem.key_hash))
            .await?
            .filter(|r: &IdempotencyItem| r.ttl > now.unix_timestamp())
            .ok_or_else(|| StoreError::Unavailable("idempotency record changed while being read".into()))?;
        if let Some(conflict) = idem.conflict_with(&record.api_key_id, &record.request_hash, &key.key) {
            return Ok(DebitOutcome::Conflict(conflict));
        }
        let item: Option<AccountItem> = self.get(account_pk(account), ACCOUNT_SK).await?;
        let balance = self.balance_after(account, &record.ledger_id, item.as_ref()).await?;
        Ok(DebitOutcome::Replayed {
            balance,
            grant: SessionGrant { session_id: record.session_id, claims: record.claims, expires_in: record.expires_in },
        })
    }

    /// Copies pending entries to their own ledger and audit items, then drops them from the
    /// account. Idempotent (same ids, same content) and safe to interrupt at any point.
    async fn settle(&self, account: &str, entries: Vec<(String, PendingEntry, u64)>) -> Result<(), StoreError> {
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
    async fn settle_after(&self, account: &str, own_id: &str, item: &AccountItem) {
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
    async fn pending(&self, account: &str) -> Result<Vec<(String, PendingEntry, u64)>, StoreError> {
        let Some(item) = self.get::<AccountItem>(account_pk(account), ACCOUNT_SK).await? else { return Ok(Vec::new()) };
        Ok(item.pending.into_iter().filter_map(|(id, e)| item.pending_balances.get(&id).map(|&b| (id, e, b))).collect())
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_key(&self, key: NewKey, origin: Origin) -> Result<KeyCreation, StoreError> {
        let account = key.account.as_str();
        let created_at = clock::rfc3339(key.created_at);
        let key_item = KeyItem {
            pk: account_pk(account),
            sk: format!("{KEY_PREFIX}{}", key.id),
            key_id: key.id.to_string(),
            account_id: account.to_string(),
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            key_hash: key.hash.as_str().to_string(),
            created_at: created_at.clone(),
            deleted_at: None,
        };
        let lookup = LookupItem {
            pk: lookup_pk(key.hash.as_str()),
            sk: LOOKUP_SK.into(),
            account_id: account.to_string(),
            key_id: key.id.to_string(),
            deleted_at: None,
        };
        let audit = audit_item(account, AuditAction::KeyCreated, key.id.as_str(), None, &origin, key.created_at);
        let mut retry = Retry::new("key creation");
        loop {
            retry.next().await?;
            let exists = self.get::<AccountItem>(account_pk(account), ACCOUNT_SK).await?.is_some();
            // Item 0 either creates the account with this key live, or adds the key to the
            // account's live keys if there is room.
            let mut writes = if exists {
                vec![self.add_live_key(account, &key.id, key.created_at)?]
            } else {
                self.new_account_items(account, key.created_at, Some(&key.id))?
            };
            writes.push(self.put(&key_item, Some("attribute_not_exists(pk)"))?);
            writes.push(self.put(&lookup, Some("attribute_not_exists(pk)"))?);
            writes.push(self.put(&audit, None)?);
            match self.transact(writes).await {
                Ok(()) => return Ok(KeyCreation::Created),
                // Someone created the account meanwhile, or contention: go again.
                Err(TxError::Cancelled(c)) if (!exists && c.condition_failed(0)) || c.is_transient() => continue,
                // The account is full (or vanished, which the next attempt will see).
                Err(TxError::Cancelled(c)) if c.condition_failed(0) => {
                    let item: Option<AccountItem> = self.get(account_pk(account), ACCOUNT_SK).await?;
                    if item.is_some_and(|i| i.live_keys.len() >= MAX_LIVE_KEYS) {
                        return Ok(KeyCreation::TooManyKeys);
                    }
                    continue;
                }
                Err(TxError::Cancelled(c)) => return Err(c.into_error("key creation")),
                // The transaction may have been applied with its response lost: look before
                // failing, so a created key is never reported as not created.
                Err(TxError::Store(e)) => {
                    return match self.get::<KeyItem>(key_item.pk.clone(), &key_item.sk).await {
                        Ok(Some(found)) if found.key_hash == key_item.key_hash => Ok(KeyCreation::Created),
                        _ => Err(e),
                    };
                }
            }
        }
    }

    /// The account item names its live keys; only those key items are read (never the deleted
    /// ones, however many there are), at most [`MAX_LIVE_KEYS`] in one batch.
    async fn list_keys(&self, account: &AccountId) -> Result<Vec<KeyRecord>, StoreError> {
        let Some(account_item) = self.get::<AccountItem>(account_pk(account.as_str()), ACCOUNT_SK).await? else { return Ok(Vec::new()) };
        let sort_keys = account_item.live_keys.keys().map(|id| format!("{KEY_PREFIX}{id}")).collect();
        let keys: Vec<KeyItem> = self.batch_get(account.as_str(), sort_keys).await?;
        let mut records = keys
            .into_iter()
            .filter(|k| k.deleted_at.is_none())
            .map(|k| {
                Ok(KeyRecord {
                    id: KeyId::parse(&k.key_id).ok_or_else(|| internal("bad key id in table"))?,
                    created_at: parse_time(&k.created_at)?,
                    last_used_at: account_item.last_used.get(&k.key_id).map(|t| parse_time(t)).transpose()?,
                    name: k.name,
                    prefix: k.prefix,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Newest first, as on the embedded store.
        records.sort_by(|a, b| (b.created_at, b.id.as_str()).cmp(&(a.created_at, a.id.as_str())));
        Ok(records)
    }

    async fn delete_key(&self, account: &AccountId, key: &KeyId, at: OffsetDateTime, origin: Origin) -> Result<bool, StoreError> {
        let sk = format!("{KEY_PREFIX}{key}");
        let Some(item) = self.get::<KeyItem>(account_pk(account.as_str()), &sk).await? else { return Ok(false) };
        if item.deleted_at.is_some() {
            return Ok(false);
        }
        let mark = |pk: String, sk: String, condition: &str| {
            self.update((pk, sk), "SET deletedAt = :at", condition, &[], vec![(":at", AttributeValue::S(clock::rfc3339(at)))])
        };
        let audit = audit_item(account.as_str(), AuditAction::KeyDeleted, key.as_str(), None, &origin, at);
        let mut retry = Retry::new("key deletion");
        loop {
            retry.next().await?;
            let writes = vec![
                mark(account_pk(account.as_str()), sk.clone(), "attribute_exists(pk) AND attribute_not_exists(deletedAt)")?,
                mark(lookup_pk(&item.key_hash), LOOKUP_SK.into(), "attribute_exists(pk)")?,
                self.put(&audit, None)?,
                self.drop_live_key(account.as_str(), key)?,
            ];
            match self.transact(writes).await {
                Ok(()) => return Ok(true),
                // Item 0 is the key's own condition: deleted by a concurrent request, so for this
                // one there was nothing to delete.
                Err(TxError::Cancelled(c)) if c.condition_failed(0) => return Ok(false),
                Err(TxError::Cancelled(c)) if c.is_transient() => continue,
                // Anything else (throttling that outlasted the SDK's retries, validation, the
                // lookup's condition) changed nothing and the key is still live: never a 404.
                Err(TxError::Cancelled(c)) => return Err(c.into_error("key deletion")),
                // Applied with its response lost? Our deletion time on the key says so.
                Err(TxError::Store(e)) => {
                    return match self.get::<KeyItem>(account_pk(account.as_str()), &sk).await {
                        Ok(Some(found)) if found.deleted_at.as_deref() == Some(clock::rfc3339(at).as_str()) => Ok(true),
                        _ => Err(e),
                    };
                }
            }
        }
    }

    async fn resolve_key(&self, hash: &KeyHash) -> Result<Option<ResolvedKey>, StoreError> {
        let Some(lookup) = self.get::<LookupItem>(lookup_pk(hash.as_str()), LOOKUP_SK).await? else { return Ok(None) };
        if lookup.deleted_at.is_some() {
            return Ok(None);
        }
        match (AccountId::parse(&lookup.account_id), KeyId::parse(&lookup.key_id)) {
            (Some(account), Some(key)) => Ok(Some(ResolvedKey { account, key })),
            _ => Err(internal("bad ids in key lookup item")),
        }
    }

    async fn debit_session(
        &self,
        key: &ResolvedKey,
        debit: SessionDebit,
        idempotency: Option<IdempotentSession>,
    ) -> Result<DebitOutcome, StoreError> {
        let id = new_ulid().to_string();
        let entry = PendingEntry {
            kind: "debit".into(),
            amount: 1,
            key_id: Some(key.key.to_string()),
            session_id: Some(debit.session.to_string()),
            reason: None,
            at: clock::rfc3339(debit.at),
            ttl: clock::expiry(debit.at),
            audit: Some(PendingAudit { id: new_ulid().to_string(), ip_address: debit.origin.ip, user_agent: debit.origin.user_agent }),
        };
        if let Some(idem) = idempotency {
            return self.debit_idempotent(key, &id, &entry, idem, debit.at).await;
        }
        // No re-check of the key here: it was resolved with a strongly consistent read after
        // this request started, so any deletion that had returned by then was seen.
        let (balance, item) = match self.change_balance(key.account.as_str(), &id, &entry).await? {
            Ok(applied) => applied,
            Err(Refusal::KeyRevoked) => return Ok(DebitOutcome::InvalidKey),
            Err(Refusal::InsufficientCredits | Refusal::NoAccount) => return Ok(DebitOutcome::InsufficientCredits),
        };
        self.settle_after(key.account.as_str(), &id, &item).await;
        Ok(DebitOutcome::Debited { balance })
    }

    async fn grant_credits(&self, account: &AccountId, amount: u64, reason: &str, at: OffsetDateTime) -> Result<u64, StoreError> {
        if amount == 0 {
            return Err(internal("grant amount must be positive"));
        }
        self.ensure_account(account.as_str(), at).await?;
        let id = new_ulid().to_string();
        let entry = PendingEntry::grant(amount, reason, at);
        let (balance, item) =
            self.change_balance(account.as_str(), &id, &entry).await?.map_err(|_| internal("account vanished during grant"))?;
        self.settle_after(account.as_str(), &id, &item).await;
        Ok(balance)
    }

    async fn balance(&self, account: &AccountId) -> Result<Option<Balance>, StoreError> {
        let item: Option<AccountItem> = self.get(account_pk(account.as_str()), ACCOUNT_SK).await?;
        Ok(item.map(|a| Balance { credits: a.credits, granted: a.granted, debited: a.debited }))
    }

    async fn ledger(&self, account: &AccountId) -> Result<Vec<LedgerEntry>, StoreError> {
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
                    kind: if i.kind == "grant" { LedgerKind::Grant } else { LedgerKind::Debit },
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

    async fn audit_events(&self, account: &AccountId, now: OffsetDateTime) -> Result<Vec<AuditEvent>, StoreError> {
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
                    event: AuditAction::parse(&i.action).ok_or_else(|| internal("bad audit action in table"))?,
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
}

/// What one attempt at a balance change did.
enum Change {
    Applied(u64, AccountItem),
    Refused(Refusal),
    /// A transaction on the item was in flight; nothing changed.
    Conflicted,
}

/// Why a balance change's condition refused it.
enum Refusal {
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
            _ if entry.kind == "debit" => Refusal::InsufficientCredits,
            _ => Refusal::NoAccount,
        }
    }
}

/// The conditional update that changes a balance and records its ledger entry inline.
struct BalanceChange {
    update: String,
    condition: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl BalanceChange {
    fn new(id: &str, entry: &PendingEntry) -> Result<Self, StoreError> {
        let debit = entry.kind == "debit";
        let (sign, guard, total) = if debit { ("-", "credits >= :amount", "debited") } else { ("+", "attribute_exists(pk)", "granted") };
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
        Ok(BalanceChange { update, condition, names, values })
    }
}

fn audit_item(
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
        action: action.as_str().into(),
        account_id: account.to_string(),
        key_id: key.to_string(),
        session_id: session.map(SessionId::to_string),
        ip_address: origin.ip.clone(),
        user_agent: origin.user_agent.clone(),
        at: clock::rfc3339(at),
        ttl: clock::expiry(at),
    }
}

fn to_item(value: &impl Serialize) -> Result<Item, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::to_item(value).map_err(internal)
}

fn to_attribute(value: &impl Serialize) -> Result<AttributeValue, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(value).map_err(internal)
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(internal)
}

fn parse_time(s: &str) -> Result<OffsetDateTime, StoreError> {
    clock::parse_rfc3339(s).map_err(internal)
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// Error codes that mean "the service is busy or briefly failing": retrying later is right.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

fn service_error(e: &impl ProvideErrorMetadata) -> StoreError {
    let code = e.code().unwrap_or("unknown");
    let message = format!("{code}: {}", e.message().unwrap_or(""));
    if TRANSIENT_CODES.contains(&code) { StoreError::Unavailable(message) } else { StoreError::Internal(message) }
}

/// A failure where the request may or may not have been applied.
fn is_ambiguous<E, R>(e: &SdkError<E, R>) -> bool {
    matches!(e, SdkError::TimeoutError(_) | SdkError::ResponseError(_) | SdkError::DispatchFailure(_))
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    match &e {
        SdkError::ServiceError(ctx) => service_error(ctx.err()),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string())
        }
        _ => StoreError::Internal(aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string()),
    }
}
