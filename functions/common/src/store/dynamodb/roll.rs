//! Rolling a key: its successor goes live and the old key gets an expiry, in one transaction.

use super::DynamoStore;
use super::cancel::Retry;
use super::client::{TxError, to_attribute};
use super::items::*;
use super::ledger::audit_item;
use crate::clock;
use crate::ids::KeyId;
use crate::store::{AuditAction, KeyRoll, MAX_LIVE_KEYS, NewKey, Origin, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

impl DynamoStore {
    pub(super) async fn roll(
        &self,
        old: &KeyId,
        new: NewKey,
        old_expires_at: OffsetDateTime,
        origin: Origin,
    ) -> Result<KeyRoll, StoreError> {
        let account = new.account.as_str();
        let now = new.created_at.unix_timestamp();
        let old_sk = format!("{KEY_PREFIX}{old}");
        let new_item = KeyItem::of(&new);
        let lookup = LookupItem::of(&new);
        let mut audit = audit_item(
            account,
            AuditAction::KeyRolled,
            new.id.as_str(),
            None,
            &origin,
            new.created_at,
        );
        audit.previous_key_id = Some(old.to_string());
        let mut retry = Retry::new("key roll");
        loop {
            retry.next().await?;
            let Some(old_item) = self.get::<KeyItem>(account_pk(account), &old_sk).await? else {
                return Ok(KeyRoll::NotFound);
            };
            if old_item.deleted_at.is_some()
                || old_item.leaked_at.is_some()
                || old_item.expires_at.is_some_and(|t| t <= now)
            {
                return Ok(KeyRoll::NotFound);
            }
            // A key already due to expire sooner keeps its earlier expiry.
            let expires = match old_item.expires_at.and_then(clock::from_epoch) {
                Some(earlier) if earlier < old_expires_at => earlier,
                _ => old_expires_at,
            };
            let expires_value = || AttributeValue::N(expires.unix_timestamp().to_string());
            // What the successor carries over: a limited key's count of today's sessions, so a
            // roll cannot reset the day's limit. (A key without an entry yet gets one of day 0,
            // which no debit takes for today.) Its expiry (the old key's, set by the caller) is
            // one it is made with: on its lookup, like any new key's.
            let mut update = String::from("SET liveKeys.#new = :never, keyExpiries.#old = :expires");
            let mut values = vec![
                (":never", AttributeValue::S(NEVER_USED.into())),
                (":expires", expires_value()),
                (":cap", AttributeValue::N(MAX_LIVE_KEYS.to_string())),
                (":now", AttributeValue::N(now.to_string())),
            ];
            if new.sessions_per_day.is_some() {
                update.push_str(", keyUse.#new = if_not_exists(keyUse.#old, :unused)");
                values.push((":unused", to_attribute(&KeyUse { day: 0, count: 0 })?));
            }
            let writes = vec![
                // The account: the successor joins the live keys (room permitting) and the old
                // key's expiry is set where the debit's condition reads it — only if the old key
                // is still live and unexpired.
                self.update(
                    (account_pk(account), ACCOUNT_SK.into()),
                    &update,
                    "attribute_exists(liveKeys.#old) AND size(liveKeys) < :cap \
                     AND (attribute_not_exists(keyExpiries.#old) OR keyExpiries.#old > :now)",
                    &[("#new", new.id.as_str()), ("#old", old.as_str())],
                    values,
                )?,
                // The old key item, for listing.
                self.update(
                    (account_pk(account), old_sk.clone()),
                    "SET expiresAt = :expires",
                    "attribute_exists(pk) AND attribute_not_exists(deletedAt)",
                    &[],
                    vec![(":expires", expires_value())],
                )?,
                self.put(&new_item, Some("attribute_not_exists(pk)"))?,
                self.put(&lookup, Some("attribute_not_exists(pk)"))?,
                self.put(&audit, None)?,
            ];
            let rolled = KeyRoll::Rolled {
                previous_expires_at: expires,
            };
            match self.transact(writes).await {
                Ok(()) => return Ok(rolled),
                Err(TxError::Cancelled(c, _)) if c.condition_failed(0) => {
                    // Full, or the old key went (deleted, expired) meanwhile: the next
                    // attempt's read says which.
                    let full = self
                        .get::<AccountItem>(account_pk(account), ACCOUNT_SK)
                        .await?
                        .is_some_and(|a| {
                            a.live_keys.contains_key(old.as_str()) && a.live_keys.len() >= MAX_LIVE_KEYS
                        });
                    if full {
                        return Ok(KeyRoll::TooManyKeys);
                    }
                }
                Err(TxError::Cancelled(c, _)) if c.condition_failed(1) || c.is_transient() => {}
                Err(TxError::Cancelled(c, _)) => return Err(c.into_error("key roll")),
                // Applied with the answer lost? The successor's item says.
                Err(TxError::Store(e)) => {
                    return match self.get::<KeyItem>(new_item.pk.clone(), &new_item.sk).await {
                        Ok(Some(found)) if found.key_hash == new_item.key_hash => Ok(rolled),
                        _ => Err(e),
                    };
                }
            }
        }
    }
}
