//! Usage counters: sessions per key and credits granted, per UTC hour, kept by the ledger
//! function in the same pass that writes ledger entries, and read one item per day.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | a day's counts | `USAGE#<account>` | `USAGE#<YYYY-MM-DD>` |
//! | how far the counts go | `USAGE#<account>` | `USAGE` |
//!
//! A day item holds `s#<key id>#<HH>` (sessions of that live key in that hour), `t#<key
//! id>#<HH>` (the same for a test key) and `g#<HH>` (credits granted), and `appliedVersion`, the account version of the last change counted in
//! it. Changes of one account reach the ledger function in order, so a day's update adds only
//! changes above its `appliedVersion`, on condition that it has not moved meanwhile: a record
//! delivered again (after a crash mid-batch, or a whole batch twice) is never counted twice.
//! The `USAGE` item holds the last version counted and its time: a reader compares it with the
//! balance's `version` to say how far the counts are exact (`caughtUpTo`).

use super::DynamoStore;
use super::client::{Conditional, Item, classify, internal, update_if};
use super::items::{ACCOUNT_SK, account_pk};
use super::stream::StreamChange;
use crate::api_key::KeyMode;
use crate::clock;
use crate::store::usage::{Usage, UsageQuery};
use crate::store::{LedgerKind, StoreError};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use futures_util::{StreamExt, TryStreamExt, stream};
use std::collections::BTreeMap;
use time::{Date, OffsetDateTime, Time};

pub const USAGE_PREFIX: &str = "USAGE#";
/// The sort key of the item that says how far an account's counts go.
pub const USAGE_SK: &str = "USAGE";

/// Day items one batch updates at once.
const DAYS_IN_FLIGHT: usize = 8;

pub fn usage_pk(account: &str) -> String {
    format!("{USAGE_PREFIX}{account}")
}

fn day_sk(day: Date) -> String {
    format!(
        "{USAGE_PREFIX}{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

impl DynamoStore {
    /// An `UpdateItem` of the account's usage item `sk`, to be given its expressions.
    fn update_usage_item(&self, account: &str, sk: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(usage_pk(account)))
            .key("sk", AttributeValue::S(sk.to_string()))
    }

    /// Counts `changes` (in stream order) into their accounts' day items, then records how far
    /// each account's counts go.
    pub(super) async fn count_usage(&self, changes: &[StreamChange]) -> Result<(), StoreError> {
        let mut days: BTreeMap<(&str, Date), Vec<(&StreamChange, OffsetDateTime)>> = BTreeMap::new();
        let mut latest: BTreeMap<&str, &StreamChange> = BTreeMap::new();
        for change in changes {
            let at = clock::parse_rfc3339(&change.change.at).map_err(internal)?;
            days.entry((&change.account, at.date()))
                .or_default()
                .push((change, at));
            let last = latest.entry(&change.account).or_insert(change);
            if change.version > last.version {
                *last = change;
            }
        }
        let updates: Vec<_> = days
            .into_iter()
            .map(|((account, day), changes)| self.count_day(account, day, changes))
            .collect();
        stream::iter(updates)
            .buffer_unordered(DAYS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        for (account, change) in latest {
            self.counted_up_to(account, change.version, &change.change.at)
                .await?;
        }
        Ok(())
    }

    /// Adds the changes of one account and day above the day item's `appliedVersion`.
    async fn count_day(
        &self,
        account: &str,
        day: Date,
        mut changes: Vec<(&StreamChange, OffsetDateTime)>,
    ) -> Result<(), StoreError> {
        changes.sort_by_key(|(c, _)| c.version);
        loop {
            let (Some((first, _)), Some((last, _))) = (changes.first(), changes.last()) else {
                return Ok(());
            };
            let mut update = String::from("SET appliedVersion = :last");
            let mut request = self
                .update_usage_item(account, &day_sk(day))
                .condition_expression("attribute_not_exists(appliedVersion) OR appliedVersion < :first")
                .expression_attribute_values(":first", AttributeValue::N(first.version.to_string()))
                .expression_attribute_values(":last", AttributeValue::N(last.version.to_string()))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            let counted = counts(
                changes
                    .iter()
                    .map(|(c, at)| (c.change.kind, c.change.key_id.as_deref(), *at, c.change.amount)),
            );
            for (i, (name, count)) in counted.into_iter().enumerate() {
                update.push_str(&format!("{}#c{i} :c{i}", if i == 0 { " ADD " } else { ", " }));
                request = request
                    .expression_attribute_names(format!("#c{i}"), name)
                    .expression_attribute_values(format!(":c{i}"), AttributeValue::N(count.to_string()));
            }
            match update_if(request.update_expression(update)).await? {
                Conditional::Applied(_) => return Ok(()),
                // Some of these were counted before (a redelivery): count the rest only.
                Conditional::Refused(old) => {
                    let applied = old
                        .as_ref()
                        .and_then(|i| number(i, "appliedVersion"))
                        .unwrap_or(0);
                    changes.retain(|(c, _)| c.version > applied);
                }
            }
        }
    }

    /// The account's counts go up to version `version`, a change made at `at` (never moved
    /// back).
    pub(super) async fn counted_up_to(
        &self,
        account: &str,
        version: u64,
        at: &str,
    ) -> Result<(), StoreError> {
        let request = self
            .update_usage_item(account, USAGE_SK)
            .update_expression("SET appliedVersion = :v, appliedAt = :at")
            .condition_expression("attribute_not_exists(appliedVersion) OR appliedVersion < :v")
            .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
            .expression_attribute_values(":at", AttributeValue::S(at.to_string()));
        // Refused: the counts already go further.
        update_if(request).await.map(|_| ())
    }

    /// The version a day's counts go up to, if any are kept.
    pub(super) async fn day_counted_to(&self, account: &str, day: Date) -> Result<Option<u64>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(usage_pk(account)))
            .key("sk", AttributeValue::S(day_sk(day)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item.as_ref().and_then(|i| number(i, "appliedVersion")))
    }

    /// Sets a day's counters to `counts`, up to version `upto`, if the day's counts still go
    /// up to `counted` (none kept: `None`); `false` if they moved meanwhile.
    pub(super) async fn set_day_counts(
        &self,
        account: &str,
        day: Date,
        counted: Option<u64>,
        upto: u64,
        counts: BTreeMap<String, u64>,
    ) -> Result<bool, StoreError> {
        let mut update = String::from("SET appliedVersion = :upto");
        let mut request = self
            .update_usage_item(account, &day_sk(day))
            .expression_attribute_values(":upto", AttributeValue::N(upto.to_string()));
        for (i, (name, count)) in counts.into_iter().enumerate() {
            update.push_str(&format!(", #c{i} = :c{i}"));
            request = request
                .expression_attribute_names(format!("#c{i}"), name)
                .expression_attribute_values(format!(":c{i}"), AttributeValue::N(count.to_string()));
        }
        request = match counted {
            Some(version) => request
                .condition_expression("appliedVersion = :counted")
                .expression_attribute_values(":counted", AttributeValue::N(version.to_string())),
            None => request.condition_expression("attribute_not_exists(appliedVersion)"),
        };
        let set = update_if(request.update_expression(update)).await?;
        Ok(matches!(set, Conditional::Applied(_)))
    }

    /// One `BatchGetItem`: the account item (its `version`), how far its counts go, and one
    /// item per day of the query.
    pub(super) async fn read_usage(
        &self,
        account: &str,
        query: &UsageQuery,
        now: OffsetDateTime,
    ) -> Result<Usage, StoreError> {
        let mut keys = vec![
            (account_pk(account), ACCOUNT_SK.to_string()),
            (usage_pk(account), USAGE_SK.to_string()),
        ];
        let mut day = query.from.date();
        while OffsetDateTime::new_utc(day, Time::MIDNIGHT) < query.to {
            keys.push((usage_pk(account), day_sk(day)));
            day = day
                .next_day()
                .ok_or_else(|| internal("a day after the end of time"))?;
        }
        let (mut version, mut counted, mut counted_at) = (None, 0, None);
        let mut usage = Usage::empty(now);
        for item in self.batch_get_keys(keys).await? {
            let sk = item
                .get("sk")
                .and_then(|v| v.as_s().ok())
                .map_or("", String::as_str);
            if sk == ACCOUNT_SK {
                version = number(&item, "version");
            } else if sk == USAGE_SK {
                counted = number(&item, "appliedVersion").unwrap_or(0);
                counted_at = item.get("appliedAt").and_then(|v| v.as_s().ok()).cloned();
            } else {
                add_day(&mut usage, query, sk, &item)?;
            }
        }
        if version.is_some_and(|v| counted < v) {
            // Times are to the second, and changes of that second after the last one counted
            // may not be: exact only before it, and so always before `now` while behind (a
            // caller tells "caught up" by `caught_up_to == now`).
            usage.caught_up_to = match counted_at {
                Some(at) => clock::parse_rfc3339(&at).map_err(internal)?.min(now) - time::Duration::SECOND,
                // Nothing counted yet: exact up to the account's beginning only.
                None => OffsetDateTime::UNIX_EPOCH,
            };
        }
        Ok(usage)
    }
}

/// Counter name → amount for balance changes (kind, key, time, amount): a debit's sessions
/// under `s#<key>#<hour>`, a test session under `t#<key>#<hour>`, a grant's credits under
/// `g#<hour>`.
pub(super) fn counts<'a>(
    changes: impl IntoIterator<Item = (LedgerKind, Option<&'a str>, OffsetDateTime, u64)>,
) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for (kind, key, at, amount) in changes {
        let (name, n) = match (kind, key) {
            (LedgerKind::Debit, Some(key)) => (format!("s#{key}#{:02}", at.hour()), amount),
            // Its amount is 0: what it counts is the session.
            (LedgerKind::Test, Some(key)) => (format!("t#{key}#{:02}", at.hour()), 1),
            (LedgerKind::Grant, _) => (format!("g#{:02}", at.hour()), amount),
            (LedgerKind::Debit | LedgerKind::Test, None) => continue,
        };
        *counts.entry(name).or_default() += n;
    }
    counts
}

/// A day item's counts into `usage`.
fn add_day(usage: &mut Usage, query: &UsageQuery, sk: &str, item: &Item) -> Result<(), StoreError> {
    let day = sk
        .strip_prefix(USAGE_PREFIX)
        .and_then(|d| Date::parse(d, time::macros::format_description!("[year]-[month]-[day]")).ok())
        .ok_or_else(|| internal(format!("a usage item with a bad day: {sk}")))?;
    for (name, value) in item {
        let Some((counter, hour)) = name.rsplit_once('#') else {
            continue;
        };
        let (Ok(hour), Some(count)) = (
            hour.parse::<u8>(),
            value.as_n().ok().and_then(|n| n.parse::<u64>().ok()),
        ) else {
            continue;
        };
        let at = OffsetDateTime::new_utc(day, Time::from_hms(hour, 0, 0).map_err(internal)?);
        if let Some(key) = counter.strip_prefix("s#") {
            usage.add_sessions(query, key, KeyMode::Live, at, count);
        } else if let Some(key) = counter.strip_prefix("t#") {
            usage.add_sessions(query, key, KeyMode::Test, at, count);
        } else if counter == "g" && query.contains(at) {
            usage.granted += count;
        }
    }
    Ok(())
}

fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}
