//! `key.expiring` reminders on DynamoDB (`crate::webhooks::reminders`): one item per key and
//! lead, written in the transaction that makes the key (or its roll's successor), in a partition
//! per hour of its due time, which no other function writes:
//!
//! | item | pk | sk |
//! |---|---|---|
//! | a reminder (`ttl`: 72 h after it is due) | `REMIND#<yyyy-mm-ddThh>` | `REMIND#<account>#<key>#<days>` |
//!
//! The scheduled pass reads the partitions of the last 72 hours and this one: each reminder
//! due, whose key is still live with the same expiry, becomes a `key.expiring` event on the
//! webhook queue; every reminder due is then deleted. A pass that fails midway leaves the rest
//! for the next; one that runs twice finds the sent ones gone.

use super::DynamoStore;
use super::client::{classify, internal};
use super::items::{KEY_PREFIX, KeyItem, key_pk};
use crate::store::{NewKey, StoreError};
use crate::webhooks::delivery::Event;
use crate::webhooks::reminders::{LOOKBACK, due_times, key_expiring};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

pub const REMIND_PREFIX: &str = "REMIND#";

/// The partition of the reminders due in `at`'s hour.
pub fn remind_pk(at: OffsetDateTime) -> String {
    format!(
        "{REMIND_PREFIX}{:04}-{:02}-{:02}T{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour()
    )
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReminderItem {
    pub pk: String,
    pub sk: String,
    pub account_id: String,
    pub key_id: String,
    /// The key's expiry when the reminder was kept (epoch seconds): a key whose expiry changed
    /// since gets no reminder for the old one.
    pub expires_at: i64,
    pub days: u8,
    /// When it is due (epoch seconds).
    pub due: i64,
    pub ttl: i64,
}

impl ReminderItem {
    /// The reminders of a key made (or rolled onto) at `key.created_at`.
    pub fn of(key: &NewKey) -> Vec<ReminderItem> {
        let Some(expires_at) = key.expires_at else {
            return Vec::new();
        };
        due_times(expires_at, key.created_at)
            .into_iter()
            .map(|(days, due)| ReminderItem {
                pk: remind_pk(due),
                sk: format!("{REMIND_PREFIX}{}#{}#{days}", key.account, key.id),
                account_id: key.account.to_string(),
                key_id: key.id.to_string(),
                expires_at: expires_at.unix_timestamp(),
                days,
                due: due.unix_timestamp(),
                ttl: (due + LOOKBACK).unix_timestamp(),
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl crate::store::Reminders for DynamoStore {
    async fn send_due_reminders(&self, now: OffsetDateTime) -> Result<Vec<Event>, StoreError> {
        let mut sent = Vec::new();
        let mut hour = now - LOOKBACK;
        while hour <= now {
            let due: Vec<ReminderItem> = self.query(remind_pk(hour), REMIND_PREFIX, false).await?;
            for reminder in due.into_iter().filter(|r| r.due <= now.unix_timestamp()) {
                let key: Option<KeyItem> = self
                    .get(
                        key_pk(&reminder.account_id),
                        &format!("{KEY_PREFIX}{}", reminder.key_id),
                    )
                    .await?;
                let live = key.is_some_and(|k| {
                    k.leaked_at.is_none()
                        && k.expires_at == Some(reminder.expires_at)
                        && reminder.expires_at > now.unix_timestamp()
                });
                if live {
                    let expires_at = crate::clock::from_epoch(reminder.expires_at)
                        .ok_or_else(|| internal("a reminder with an expiry out of range"))?;
                    let event =
                        key_expiring(&reminder.account_id, &reminder.key_id, expires_at, reminder.days);
                    self.queue_webhooks(&[(reminder.account_id.clone(), event.clone())])
                        .await
                        .map_err(|(_, e)| e)?;
                    sent.push(event);
                }
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", AttributeValue::S(reminder.pk))
                    .key("sk", AttributeValue::S(reminder.sk))
                    .send()
                    .await
                    .map_err(classify)?;
            }
            hour += Duration::hours(1);
        }
        Ok(sent)
    }
}
