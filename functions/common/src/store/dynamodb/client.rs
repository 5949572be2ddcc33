//! The DynamoDB calls the store is made of — consistent reads, batches, transactions, the
//! builders of transaction items — and how their failures are classified: transient
//! (throttling, timeouts: `Unavailable`, a 503) or not (`Internal`).

use super::DynamoStore;
use super::cancel::{Cancellation, Retry};
use crate::clock;
use crate::ids::new_ulid;
use crate::store::StoreError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, TransactWriteItem, Update, WriteRequest,
};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use time::OffsetDateTime;

/// How many `BatchGetItem`s one read keeps in flight: a report of 1,000 leaked keys reads its
/// lookups in about one round trip's time, without one call bursting past its share of the
/// table's throughput.
const BATCH_READS_IN_FLIGHT: usize = 4;

/// A DynamoDB item as the SDK holds it.
pub type Item = HashMap<String, AttributeValue>;

pub(super) enum TxError {
    /// The transaction was cancelled; nothing was written. With the items as they were, for
    /// those that asked for them (`ReturnValuesOnConditionCheckFailure: ALL_OLD`) and failed.
    Cancelled(Cancellation, OldItems),
    Store(StoreError),
}

impl DynamoStore {
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
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

    /// All items of partition `pk` with the given sort-key prefix (all of it for `""`),
    /// strongly consistent.
    pub(super) async fn query<T: DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        newest_first: bool,
    ) -> Result<Vec<T>, StoreError> {
        self.query_raw(pk, prefix, newest_first)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// [`Self::query`], the items as stored.
    pub(super) async fn query_raw(
        &self,
        pk: String,
        prefix: &str,
        newest_first: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", AttributeValue::S(pk));
        let query = match prefix {
            "" => query.key_condition_expression("pk = :pk"),
            prefix => query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_string())),
        };
        let items: Vec<Item> = query
            .consistent_read(true)
            .scan_index_forward(!newest_first)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(classify)?;
        Ok(items)
    }

    /// Up to `limit` items of partition `pk` whose sort key is `prefix` + something below
    /// `prefix` + `before` (all of the prefix when `None`), newest (highest) first, that
    /// `keep` accepts. Strongly consistent; reads page by page only as far as it needs.
    pub(super) async fn query_before<T: DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        before: Option<&str>,
        limit: usize,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Vec<T>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_string()))
            .consistent_read(true)
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32);
        query = match before {
            // `sk < :before` alone would run into the partition's other item kinds.
            Some(before) => query
                .key_condition_expression("pk = :pk AND sk BETWEEN :prefix AND :before")
                .expression_attribute_values(":before", AttributeValue::S(format!("{prefix}{before}"))),
            None => query.key_condition_expression("pk = :pk AND begins_with(sk, :prefix)"),
        };
        let before_sk = before.map(|b| format!("{prefix}{b}"));
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let out = query
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(classify)?;
            for item in out.items.unwrap_or_default() {
                // BETWEEN includes its upper bound: the cursor's own item is not "before" it.
                let is_cursor =
                    matches!((&before_sk, item.get("sk")), (Some(b), Some(AttributeValue::S(sk))) if sk == b);
                if is_cursor {
                    continue;
                }
                let value: T = from_item(item)?;
                if keep(&value) {
                    found.push(value);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(found),
            }
        }
    }

    /// Items by `(pk, sk)`, strongly consistent, in any order: `BatchGetItem`s of 100 keys (its
    /// limit), up to [`BATCH_READS_IN_FLIGHT`] at once, each asking again for whatever
    /// DynamoDB leaves unprocessed. The keys must be distinct (DynamoDB refuses repeats).
    pub(super) async fn batch_get_keys(&self, keys: Vec<(String, String)>) -> Result<Vec<Item>, StoreError> {
        let batches: Vec<_> = keys
            .chunks(100)
            .map(|chunk| self.batch_get_one(chunk.to_vec()))
            .collect();
        let found: Vec<Vec<Item>> = stream::iter(batches)
            .buffer_unordered(BATCH_READS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn batch_get_one(&self, chunk: Vec<(String, String)>) -> Result<Vec<Item>, StoreError> {
        let keys: Vec<Item> = chunk
            .into_iter()
            .map(|(pk, sk)| {
                HashMap::from([
                    ("pk".to_string(), AttributeValue::S(pk)),
                    ("sk".to_string(), AttributeValue::S(sk)),
                ])
            })
            .collect();
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(internal)?;
        let mut found = Vec::new();
        let mut retry = Retry::new("batch read");
        loop {
            retry.next().await?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(classify)?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                Some(rest) if !rest.keys.is_empty() => request = rest,
                _ => return Ok(found),
            }
        }
    }

    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        // The token makes SDK retries of this exact call idempotent for 10 minutes.
        let token = new_ulid().to_string();
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(ctx)) => match ctx.into_err() {
                TransactWriteItemsError::TransactionCanceledException(e) => {
                    let reasons = e.cancellation_reasons();
                    let old = OldItems(reasons.iter().map(|r| r.item.clone()).collect());
                    Err(TxError::Cancelled(Cancellation::from_sdk(reasons), old))
                }
                other => Err(TxError::Store(service_error(&other))),
            },
            Err(other) => Err(TxError::Store(classify(other))),
        }
    }

    pub(super) fn put(
        &self,
        item: &impl Serialize,
        condition: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(item)?))
            .set_condition_expression(condition.map(str::to_string));
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(internal)?)
            .build())
    }

    /// A conditional update of one item, for a transaction. `names` and `values` fill the
    /// expressions' `#name` and `:value` placeholders.
    /// `requests`, 25 to a `BatchWriteItem` (its limit), each batch asking again for whatever
    /// DynamoDB leaves unprocessed.
    pub(super) async fn write_all(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(25) {
            let mut requests = chunk.to_vec();
            let mut retry = Retry::new("batch write");
            while !requests.is_empty() {
                retry.next().await?;
                let out = self
                    .client
                    .batch_write_item()
                    .set_request_items(Some(HashMap::from([(self.table.clone(), requests)])))
                    .send()
                    .await
                    .map_err(classify)?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    /// A conditional delete, as one item of a transaction.
    pub(super) fn delete(
        &self,
        (pk, sk): (String, String),
        condition: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .condition_expression(condition)
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    pub(super) fn update(
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
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(internal)?)
            .build())
    }
}

/// What a conditional `UpdateItem` came to.
pub(super) enum Conditional {
    /// Applied: the attributes the request asked for (`ReturnValues`), if any.
    Applied(Option<Item>),
    /// Its condition refused it: nothing changed. The item as it was, if the request asked for
    /// it (`ReturnValuesOnConditionCheckFailure: ALL_OLD`) and there was one.
    Refused(Option<Item>),
}

/// Sends a conditional `UpdateItem`, telling its condition's refusal apart from a failure.
pub(super) async fn update_if(request: UpdateItemFluentBuilder) -> Result<Conditional, StoreError> {
    match request.send().await {
        Ok(out) => Ok(Conditional::Applied(out.attributes)),
        Err(SdkError::ServiceError(ctx)) => match ctx.into_err() {
            UpdateItemError::ConditionalCheckFailedException(e) => Ok(Conditional::Refused(e.item)),
            other => Err(service_error(&other).caused_by(other)),
        },
        Err(e) => Err(classify(e)),
    }
}

/// The old items a cancelled transaction returned, by request position.
pub(super) struct OldItems(Vec<Option<Item>>);

impl OldItems {
    /// Item `index` as it was, if DynamoDB returned it.
    pub(super) fn take(&mut self, index: usize) -> Option<Item> {
        self.0.get_mut(index).and_then(Option::take)
    }
}

pub(super) fn to_item(value: &impl Serialize) -> Result<Item, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::to_item(value).map_err(internal)
}

pub(super) fn to_attribute(value: &impl Serialize) -> Result<AttributeValue, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(value).map_err(internal)
}

pub(super) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(internal)
}

pub(super) fn parse_time(s: &str) -> Result<OffsetDateTime, StoreError> {
    clock::parse_rfc3339(s).map_err(internal)
}

/// A failure of ours (building a request, reading an item), described by `e`.
pub(super) fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::internal(e.to_string())
}

/// Error codes that mean "the service is busy or briefly failing": retrying later is right.
pub(super) const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

pub(super) fn service_error(e: &impl ProvideErrorMetadata) -> StoreError {
    let code = e.code().unwrap_or("unknown");
    let message = format!("{code}: {}", e.message().unwrap_or(""));
    if TRANSIENT_CODES.contains(&code) {
        StoreError::unavailable(message)
    } else {
        StoreError::internal(message)
    }
}

/// A failure where the request may or may not have been applied.
pub(super) fn is_ambiguous<E, R>(e: &SdkError<E, R>) -> bool {
    matches!(
        e,
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) | SdkError::DispatchFailure(_)
    )
}

/// The store error for an SDK error, keeping the SDK error (and its causes) as the source.
pub(super) fn classify<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let error = match &e {
        SdkError::ServiceError(ctx) => service_error(ctx.err()),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::unavailable("DynamoDB did not answer")
        }
        _ => StoreError::internal("DynamoDB request failed"),
    };
    error.caused_by(e)
}
