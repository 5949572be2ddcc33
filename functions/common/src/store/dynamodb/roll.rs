//! Rolling a key: its successor goes live and the old key gets an expiry, in one transaction.

use super::DynamoStore;
use super::balance::NextSlot;
use super::cancel::Retry;
use super::client::TxError;
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
        let old_key = (key_pk(account), format!("{KEY_PREFIX}{old}"));
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
            let Some(old_item) = self.get::<KeyItem>(old_key.0.clone(), &old_key.1).await? else {
                self.refuse_layout_1(account).await?;
                return Ok(KeyRoll::NotFound);
            };
            if old_item.leaked_at.is_some() || old_item.expires_at.is_some_and(|t| t <= now) {
                return Ok(KeyRoll::NotFound);
            }
            let slot = match self.next_slot(account).await? {
                NextSlot::Taken(slot) => slot,
                NextSlot::Full => return Ok(KeyRoll::TooManyKeys),
                NextSlot::Moving => return Err(super::migrate::not_moved(account)),
                // The account went with the key: nothing to roll.
                NextSlot::NoAccount => return Ok(KeyRoll::NotFound),
            };
            // A key already due to expire sooner keeps its earlier expiry.
            let expires = match old_item.expires_at.and_then(clock::from_epoch) {
                Some(earlier) if earlier < old_expires_at => earlier,
                _ => old_expires_at,
            };
            let expires_value = || AttributeValue::N(expires.unix_timestamp().to_string());
            // What the successor carries over: a limited key's count of today's sessions, so a
            // roll cannot reset the day's limit. (A key without a count yet gets 0, which no
            // debit takes for today's.) Its expiry (the old key's, set by the caller) is one it
            // is made with: on its lookup, like any new key's.
            let mut update = String::from("ADD live :new SET ends.#old = :expires");
            let mut values = vec![
                (":new", AttributeValue::Ns(vec![slot.to_string()])),
                (":old", AttributeValue::N(old_item.slot.to_string())),
                (":expires", expires_value()),
                (":cap", AttributeValue::N(MAX_LIVE_KEYS.to_string())),
                (":now", AttributeValue::N(now.to_string())),
            ];
            let mut names = vec![("#old", slot_name(old_item.slot))];
            if new.sessions_per_day.is_some() {
                update.push_str(", uses.#new = if_not_exists(uses.#old, :unused)");
                values.push((":unused", AttributeValue::N("0".into())));
                names.push(("#new", slot_name(slot)));
            }
            let names: Vec<(&str, &str)> = names.iter().map(|(p, n)| (*p, n.as_str())).collect();
            let new_item = KeyItem::of(&new, slot);
            let mut writes = vec![
                // The account: the successor's slot goes live (room permitting) and the old
                // key's end is set where the debit's condition reads it — only if the old key
                // is still live and not ended.
                self.update(
                    (account_pk(account), ACCOUNT_SK.into()),
                    &update,
                    "contains(live, :old) AND size(live) < :cap \
                     AND (attribute_not_exists(ends.#old) OR ends.#old > :now)",
                    &names,
                    values,
                )?,
                // The old key item, for listing.
                self.update(
                    old_key.clone(),
                    "SET expiresAt = :expires",
                    "attribute_exists(pk)",
                    &[],
                    vec![(":expires", expires_value())],
                )?,
                self.put(&new_item, Some("attribute_not_exists(pk)"))?,
                self.put(&LookupItem::of(&new, slot), Some("attribute_not_exists(pk)"))?,
                self.put(&audit, None)?,
            ];
            // Items after the audit event: the cancellation reasons above count from 0.
            for reminder in super::reminders::ReminderItem::of(&new) {
                writes.push(self.put(&reminder, None)?);
            }
            let rolled = KeyRoll::Rolled {
                previous_expires_at: expires,
            };
            match self.transact(writes).await {
                Ok(()) => return Ok(rolled),
                Err(TxError::Cancelled(c, _)) if c.condition_failed(0) => {
                    // Full, or the old key went (deleted, ended) meanwhile: the next
                    // attempt's reads say which.
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
