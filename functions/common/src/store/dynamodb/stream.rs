//! The ledger, written off the critical path: each balance change recorded on an account item
//! reaches the ledger function through the table's stream, and becomes its `LEDGER#` item (and
//! a debit's `key.used` audit event, the low-credit event it may raise, and its key's last
//! use). Items are keyed by the change's own ids and hold the same
//! content however often a record is delivered, so redelivery after a crash rewrites, never
//! duplicates.

use super::DynamoStore;
use super::client::{Item, internal, to_item, update_if};
use super::items::{ACCOUNT_SK, AccountItem, Change, KEY_PREFIX, key_pk};
use crate::store::StoreError;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures_util::{StreamExt, TryStreamExt, stream};
use std::collections::BTreeMap;

/// One balance change as the stream delivered it: the account right after it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamChange {
    pub account: String,
    pub credits: u64,
    pub version: u64,
    pub change: Change,
    /// The account's own low-credit threshold at the change, if it set one.
    pub threshold: Option<u64>,
}

/// What a stream record (its old and new images) means for the ledger: a change when it moved
/// a balance (the account's `version` went up), nothing for any other write.
pub fn change_of(old: Option<Item>, new: Option<Item>) -> Result<Option<StreamChange>, StoreError> {
    let Some(new) = new else {
        return Ok(None);
    };
    if new.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str) != Some(ACCOUNT_SK) {
        return Ok(None);
    }
    let new: AccountItem = super::client::from_item(new)?;
    let old_version = match old {
        Some(old) if !old.is_empty() => super::client::from_item::<AccountItem>(old)?.version,
        _ => 0,
    };
    let account = new
        .pk
        .strip_prefix("ACCOUNT#")
        .ok_or_else(|| internal("account item without its ACCOUNT# key"))?
        .to_string();
    Ok(match new.change {
        Some(change) if new.version > old_version => Some(StreamChange {
            account,
            credits: new.credits,
            version: new.version,
            threshold: new.low_credit_threshold,
            change,
        }),
        _ => None,
    })
}

/// Puts per `BatchWriteItem` (DynamoDB's limit is 25; a change needs at most three).
const PUTS_PER_BATCH: usize = 24;

/// Last-use writes one batch keeps in flight.
const LAST_USES_IN_FLIGHT: usize = 8;

impl DynamoStore {
    /// Writes the ledger (and audit) items of `changes`, in order, and each debit's key's last
    /// use. On failure, returns the index of the first change that may not be written yet:
    /// everything before it is.
    pub async fn materialise(&self, changes: &[StreamChange]) -> Result<(), (usize, StoreError)> {
        let mut start = 0;
        while start < changes.len() {
            let mut puts = Vec::new();
            let mut end = start;
            while end < changes.len() {
                let threshold = changes[end].threshold.unwrap_or(self.low_credit_threshold);
                let items = items_of(&changes[end], threshold).map_err(|e| (end, e))?;
                if !puts.is_empty() && puts.len() + items.len() > PUTS_PER_BATCH {
                    break;
                }
                puts.extend(items);
                end += 1;
            }
            // Last uses first: once a change's ledger entry is there, so is its key's last use.
            self.write_last_uses(&changes[start..end])
                .await
                .map_err(|e| (start, e))?;
            self.put_all(puts).await.map_err(|e| (start, e))?;
            // Counted once its ledger entries are there; a redelivery counts nothing twice.
            self.count_usage(&changes[start..end])
                .await
                .map_err(|e| (start, e))?;
            start = end;
        }
        Ok(())
    }

    /// Each key's latest session among `changes` onto its key item: never moved back (a
    /// redelivered or reordered record finds a later time there and changes nothing), never an
    /// item made (a key item that is gone stays gone).
    async fn write_last_uses(&self, changes: &[StreamChange]) -> Result<(), StoreError> {
        let mut latest: BTreeMap<(&str, &str), &str> = BTreeMap::new();
        for change in changes {
            if let Some(key) = &change.change.key_id {
                let at = latest.entry((&change.account, key)).or_insert(&change.change.at);
                // RFC 3339 times of one format order as strings.
                if change.change.at.as_str() > *at {
                    *at = &change.change.at;
                }
            }
        }
        let writes: Vec<_> = latest
            .into_iter()
            .map(|((account, key), at)| self.write_last_use(account, key, at))
            .collect();
        stream::iter(writes)
            .buffer_unordered(LAST_USES_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn write_last_use(&self, account: &str, key: &str, at: &str) -> Result<(), StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key_pk(account)))
            .key("sk", AttributeValue::S(format!("{KEY_PREFIX}{key}")))
            .update_expression("SET lastUsedAt = :at")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(lastUsedAt) OR lastUsedAt < :at)",
            )
            .expression_attribute_values(":at", AttributeValue::S(at.to_string()));
        // Refused: a later use is there already, or the key item is gone.
        update_if(request).await.map(|_| ())
    }

    /// Puts `items`, 25 to a `BatchWriteItem`.
    pub(super) async fn put_all(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let requests: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(internal)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_, StoreError>>()?;
        self.write_all(requests).await
    }
}

/// The items one change becomes: a low-credit event it raises (first, so that a reader who
/// sees the ledger entry finds the event too on a server that applies a batch in order), its
/// ledger entry, and a debit's `key.used` audit event.
fn items_of(change: &StreamChange, threshold: u64) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    if let Some(event) =
        change
            .change
            .credit_event_item(&change.account, change.credits, change.version, threshold)?
    {
        items.push(to_item(&event)?);
    }
    let ledger = change
        .change
        .ledger_item(&change.account, change.credits, change.version);
    items.push(to_item(&ledger)?);
    if let Some(audit) = change.change.audit_item(&change.account)? {
        items.push(to_item(&audit)?);
    }
    Ok(items)
}
