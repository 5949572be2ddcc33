//! The production store: one DynamoDB table (layout in [`items`]).
//!
//! How each guarantee is kept:
//! - **One request per warm session.** The key → account mapping never changes, so a session
//!   only resolves a key it has not seen (one strongly consistent `GetItem` on the hash lookup
//!   item; the handler remembers the answer). The debit is then one conditional `UpdateItem` on
//!   the account item (`balance.rs`): `credits >= 1` guards the balance and
//!   `contains(live, <slot>)` the key, so a deleted key is refused by the very write that would
//!   spend, however long ago it was resolved. Plain updates never meet a
//!   `TransactionConflict` from each other: a hot account takes them one after another.
//! - **Never below zero, never lost, never double-counted.** The same update bumps the
//!   account's `version` and records the change on the item, so the change and its record are
//!   one atomic write; the SDK never retries it (see `change_balance`), and an ambiguous answer
//!   is settled by finding the change, never by writing again.
//! - **Records** (`stream.rs`): the table's stream carries each change to the ledger function,
//!   which writes the `LEDGER#` and `AUDIT#` items, idempotently. `version` says how many
//!   entries there must be, so `vpctl credits verify` can tell a ledger still catching up.
//! - **Idempotency-Key** (`idempotency.rs`): the debit and the record in one transaction.
//! - **Tripwires** ([`tripwire`]): what must never happen to the table, recognised in the stream.
//!
//! Where things are: `client.rs` holds the calls and error classification, [`cancel`] the
//! transaction cancellation reasons and the one retry loop; this file holds only `impl Store`.

mod balance;
pub mod cancel;
mod client;
mod idempotency;
pub mod items;
mod leak;
mod ledger;
pub mod migrate;
pub mod raised;
pub mod reminders;
mod roll;
pub mod stream;
pub mod table;
pub mod tripwire;
pub mod usage;
pub mod webhooks;

pub use client::Item;

use crate::api_key::KeyHash;
use crate::clock;
use crate::ids::{AccountId, KeyId, new_ulid};
use crate::store::{
    AuditAction, AuditEvent, Balance, CreditEvent, DEFAULT_LOW_CREDIT_THRESHOLD, DebitOutcome,
    IdempotentSession, KeyCreation, KeyRecord, KeyRoll, LeakRevocation, LedgerEntry, LedgerKind, LiveKey,
    NewKey, Origin, ReportedLeak, ResolvedKey, SessionDebit, Store, StoreError,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use balance::{DebitKey, FIRST_SLOT, NextSlot, Refusal};
use cancel::Retry;
use client::{TxError, internal, parse_time};
use items::*;
use ledger::audit_item;
use time::OffsetDateTime;

pub struct DynamoStore {
    client: Client,
    table: String,
    free_credits: u64,
    /// Read by the ledger function only: the balance at which a debit raises `credits.low`.
    low_credit_threshold: u64,
    /// The ledger function's only: where the webhook events it finds go (`raised`).
    webhook_queue: Option<std::sync::Arc<dyn crate::webhooks::queue::JobQueue>>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, free_credits: u64) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            free_credits,
            low_credit_threshold: DEFAULT_LOW_CREDIT_THRESHOLD,
            webhook_queue: None,
        }
    }

    pub fn with_low_credit_threshold(self, threshold: u64) -> Self {
        DynamoStore {
            low_credit_threshold: threshold,
            ..self
        }
    }

    /// The deployment's low-credit threshold, for accounts that set none of their own.
    pub fn low_credit_threshold(&self) -> u64 {
        self.low_credit_threshold
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_key(&self, key: NewKey, origin: Origin) -> Result<KeyCreation, StoreError> {
        let account = key.account.as_str();
        let audit = audit_item(
            account,
            AuditAction::KeyCreated,
            key.id.as_str(),
            None,
            &origin,
            key.created_at,
        );
        let mut retry = Retry::new("key creation");
        loop {
            retry.next().await?;
            // Item 0 either creates the account with this key live in its first slot, or makes
            // the slot just taken live if there is still room (its condition re-checks the cap:
            // creations racing may all have been given slots).
            let (slot, account_write) = match self.next_slot(account).await? {
                NextSlot::Taken(slot) => (slot, self.add_live_key(account, slot)?),
                NextSlot::Full => return Ok(KeyCreation::TooManyKeys),
                NextSlot::Moving => return Err(migrate::not_moved(account)),
                NextSlot::NoAccount => (FIRST_SLOT, self.new_account(account, key.created_at, true)?),
            };
            let key_item = KeyItem::of(&key, slot);
            let mut writes = vec![
                account_write,
                self.put(&key_item, Some("attribute_not_exists(pk)"))?,
                self.put(&LookupItem::of(&key, slot), Some("attribute_not_exists(pk)"))?,
                self.put(&audit, None)?,
            ];
            for reminder in reminders::ReminderItem::of(&key) {
                writes.push(self.put(&reminder, None)?);
            }
            match self.transact(writes).await {
                Ok(()) => return Ok(KeyCreation::Created),
                // The account was created or filled meanwhile, or contention: the next attempt
                // decides.
                Err(TxError::Cancelled(c, _)) if c.condition_failed(0) || c.is_transient() => continue,
                Err(TxError::Cancelled(c, _)) => return Err(c.into_error("key creation")),
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

    async fn roll_key(
        &self,
        old: &KeyId,
        new: NewKey,
        old_expires_at: OffsetDateTime,
        origin: Origin,
    ) -> Result<KeyRoll, StoreError> {
        self.roll(old, new, old_expires_at, origin).await
    }

    /// The account's key partition holds its live keys only (a deleted key's item goes with
    /// it), at most [`crate::store::MAX_LIVE_KEYS`] and its leaked ones: one `Query`.
    async fn list_keys(&self, account: &AccountId) -> Result<Vec<KeyRecord>, StoreError> {
        let keys: Vec<KeyItem> = self.query(key_pk(account.as_str()), KEY_PREFIX, false).await?;
        if keys.is_empty() {
            self.refuse_layout_1(account.as_str()).await?;
        }
        let mut records = keys
            .into_iter()
            .map(|k| {
                Ok(KeyRecord {
                    id: KeyId::parse(&k.key_id).ok_or_else(|| internal("bad key id in table"))?,
                    created_at: parse_time(&k.created_at)?,
                    // Written from the stream, seconds behind the session.
                    last_used_at: k.last_used_at.as_deref().map(parse_time).transpose()?,
                    expires_at: k.expires_at.and_then(clock::from_epoch),
                    sessions_per_day: k.sessions_per_day,
                    leaked_at: k.leaked_at.as_deref().map(parse_time).transpose()?,
                    name: k.name,
                    prefix: k.prefix,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Newest first, as on the embedded store.
        records.sort_by(|a, b| (b.created_at, b.id.as_str()).cmp(&(a.created_at, a.id.as_str())));
        Ok(records)
    }

    /// One transaction: the key item goes, its lookup is marked deleted (kept, so that the key
    /// never resolves again and a leak report of it reads as revoked), its slot leaves the
    /// account item, and `key.deleted` is recorded.
    async fn delete_key(
        &self,
        account: &AccountId,
        key: &KeyId,
        at: OffsetDateTime,
        origin: Origin,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = (key_pk(account.as_str()), format!("{KEY_PREFIX}{key}"));
        let Some(item) = self.get::<KeyItem>(pk.clone(), &sk).await? else {
            self.refuse_layout_1(account.as_str()).await?;
            return Ok(false);
        };
        let lookup = (lookup_pk(item.key_hash.as_str()), LOOKUP_SK.to_string());
        let stamp = clock::rfc3339(at);
        let audit = audit_item(
            account.as_str(),
            AuditAction::KeyDeleted,
            key.as_str(),
            None,
            &origin,
            at,
        );
        let mut retry = Retry::new("key deletion");
        loop {
            retry.next().await?;
            let writes = vec![
                self.delete((pk.clone(), sk.clone()), "attribute_exists(pk)")?,
                self.update(
                    lookup.clone(),
                    "SET deletedAt = :at",
                    "attribute_exists(pk)",
                    &[],
                    vec![(":at", AttributeValue::S(stamp.clone()))],
                )?,
                self.put(&audit, None)?,
                self.drop_live_key(account.as_str(), item.slot)?,
            ];
            match self.transact(writes).await {
                Ok(()) => return Ok(true),
                // Item 0 is the key's own condition: deleted by a concurrent request, so for this
                // one there was nothing to delete.
                Err(TxError::Cancelled(c, _)) if c.condition_failed(0) => return Ok(false),
                Err(TxError::Cancelled(c, _)) if c.is_transient() => continue,
                // Anything else (throttling that outlasted the SDK's retries, validation, the
                // lookup's condition) changed nothing and the key is still live: never a 404.
                Err(TxError::Cancelled(c, _)) => return Err(c.into_error("key deletion")),
                // Applied with its response lost? Our deletion time on the lookup says so.
                Err(TxError::Store(e)) => {
                    return match self.get::<LookupItem>(lookup.0.clone(), &lookup.1).await {
                        Ok(Some(found)) if found.deleted_at.as_deref() == Some(stamp.as_str()) => Ok(true),
                        _ => Err(e),
                    };
                }
            }
        }
    }

    async fn revoke_leaked(
        &self,
        reports: &[ReportedLeak],
        at: OffsetDateTime,
        origin: Origin,
    ) -> Result<Vec<LeakRevocation>, StoreError> {
        self.revoke_leaks(reports, at, &origin).await
    }

    async fn resolve_key(&self, hash: &KeyHash) -> Result<Option<ResolvedKey>, StoreError> {
        let Some(lookup) = self
            .get::<LookupItem>(lookup_pk(hash.as_str()), LOOKUP_SK)
            .await?
        else {
            return Ok(None);
        };
        if lookup.deleted_at.is_some() {
            return Ok(None);
        }
        if lookup.slot == 0 {
            return Err(migrate::not_moved(&lookup.account_id));
        }
        match (AccountId::parse(&lookup.account_id), KeyId::parse(&lookup.key_id)) {
            (Some(account), Some(key)) => Ok(Some(ResolvedKey {
                account,
                key,
                slot: lookup.slot,
                sessions_per_day: lookup.sessions_per_day,
                expires_at: lookup.expires_at.and_then(clock::from_epoch),
            })),
            _ => Err(internal("bad ids in key lookup item")),
        }
    }

    async fn live_key(&self, key: &ResolvedKey, now: OffsetDateTime) -> Result<Option<LiveKey>, StoreError> {
        let Some(item) = self
            .get::<KeyItem>(key_pk(key.account.as_str()), &format!("{KEY_PREFIX}{}", key.key))
            .await?
        else {
            return Ok(None);
        };
        // The key item carries everything that ends a key but deletion (which removes it): a
        // leak, and its expiry (a roll sets the old key's end of grace there too).
        let ended = item.leaked_at.is_some() || item.expires_at.is_some_and(|t| t <= now.unix_timestamp());
        if ended {
            return Ok(None);
        }
        Ok(Some(LiveKey {
            id: key.key.clone(),
            created_at: parse_time(&item.created_at)?,
            expires_at: item.expires_at.and_then(clock::from_epoch),
            sessions_per_day: item.sessions_per_day,
            name: item.name,
            prefix: item.prefix,
        }))
    }

    async fn debit_session(
        &self,
        key: &ResolvedKey,
        debit: SessionDebit,
        idempotency: Option<IdempotentSession>,
    ) -> Result<DebitOutcome, StoreError> {
        // The expiry a key was made with never changes: past it, nothing to write (a key
        // refused is refused before its idempotency record is looked at, as the write does).
        if key.expires_at.is_some_and(|end| end <= debit.at) {
            return Ok(DebitOutcome::InvalidKey);
        }
        let kind = LedgerKind::of_session(debit.spend);
        let change = Change {
            id: new_ulid().to_string(),
            kind,
            amount: kind.session_amount(),
            key_id: Some(key.key.to_string()),
            session_id: Some(debit.session.to_string()),
            reason: None,
            at: clock::rfc3339(debit.at),
            audit: Some(ChangeAudit {
                id: new_ulid().to_string(),
                ip_address: debit.origin.ip,
                user_agent: debit.origin.user_agent,
            }),
        };
        let debit_key = DebitKey::of(key, debit.spend);
        if let Some(idem) = idempotency {
            return self
                .debit_idempotent(key, &change, debit_key, idem, debit.at)
                .await;
        }
        Ok(
            match self
                .change_balance(key.account.as_str(), &change, Some(debit_key))
                .await?
            {
                Ok(balance) => DebitOutcome::Debited { balance },
                Err(Refusal::Moving) => return Err(migrate::not_moved(key.account.as_str())),
                Err(Refusal::KeyRevoked | Refusal::NoAccount) => DebitOutcome::InvalidKey,
                Err(Refusal::KeyLimitReached) => DebitOutcome::KeyLimitReached,
                Err(Refusal::TestLimitReached) => DebitOutcome::TestLimitReached,
                Err(Refusal::InsufficientCredits) => DebitOutcome::InsufficientCredits,
                // change_balance writes again itself; a recount never comes back from it.
                Err(Refusal::Recount(_)) => return Err(internal("a daily count was left unsettled")),
            },
        )
    }

    async fn grant_credits(
        &self,
        account: &AccountId,
        amount: u64,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        if amount == 0 {
            return Err(internal("grant amount must be positive"));
        }
        self.ensure_account(account.as_str(), at).await?;
        self.change_balance(account.as_str(), &Change::grant(amount, reason, at), None)
            .await?
            .map_err(|_| internal("account vanished during grant"))
    }

    async fn balance(&self, account: &AccountId) -> Result<Option<Balance>, StoreError> {
        let item: Option<AccountItem> = self.get(account_pk(account.as_str()), ACCOUNT_SK).await?;
        Ok(item.map(|a| Balance {
            credits: a.credits,
            granted: a.granted,
            debited: a.debited,
            changes: a.version,
        }))
    }

    async fn ledger(&self, account: &AccountId) -> Result<Vec<LedgerEntry>, StoreError> {
        self.read_ledger(account).await
    }

    async fn audit_events(
        &self,
        account: &AccountId,
        now: OffsetDateTime,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.read_audit_events(account, now).await
    }

    async fn audit_page(
        &self,
        account: &AccountId,
        now: OffsetDateTime,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.read_audit_page(account, now, before, limit).await
    }

    async fn credit_events(&self, account: &AccountId) -> Result<Vec<CreditEvent>, StoreError> {
        self.read_credit_events(account).await
    }

    async fn create_webhook(
        &self,
        hook: crate::store::webhooks::NewWebhook,
    ) -> Result<crate::store::webhooks::WebhookCreation, StoreError> {
        self.put_webhook(hook).await
    }

    async fn list_webhooks(
        &self,
        account: &AccountId,
    ) -> Result<Vec<crate::store::webhooks::WebhookRecord>, StoreError> {
        self.read_webhooks(account).await
    }

    async fn delete_webhook(
        &self,
        account: &AccountId,
        id: &crate::ids::WebhookId,
    ) -> Result<bool, StoreError> {
        self.remove_webhook(account, id).await
    }

    async fn deliveries(
        &self,
        account: &AccountId,
        id: &crate::ids::WebhookId,
        now: OffsetDateTime,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<crate::store::webhooks::DeliveryAttempt>, StoreError> {
        self.read_deliveries(account, id, now, before, limit).await
    }

    /// On the account item, where the ledger function finds it in every stream record it
    /// already reads (no extra request to tell a crossing).
    async fn set_low_credit_threshold(
        &self,
        account: &AccountId,
        threshold: u64,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.ensure_account(account.as_str(), at).await?;
        let request = self
            .update_account_item(account.as_str())
            .update_expression("SET lowCreditThreshold = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::N(threshold.to_string()));
        match client::update_if(request).await? {
            client::Conditional::Applied(_) => Ok(()),
            client::Conditional::Refused(_) => {
                Err(internal("the account vanished while its threshold was set"))
            }
        }
    }

    async fn usage(
        &self,
        account: &AccountId,
        query: &crate::store::usage::UsageQuery,
        now: OffsetDateTime,
    ) -> Result<crate::store::usage::Usage, StoreError> {
        self.read_usage(account.as_str(), query, now).await
    }
}

#[async_trait]
impl crate::store::webhooks::DeliveryStore for DynamoStore {
    async fn webhook_secret(
        &self,
        account: &AccountId,
        id: &crate::ids::WebhookId,
    ) -> Result<Option<(crate::store::webhooks::WebhookRecord, String)>, StoreError> {
        self.webhook_with_secret(account, id).await
    }

    async fn record_delivery(
        &self,
        account: &AccountId,
        attempt: &crate::store::webhooks::DeliveryAttempt,
    ) -> Result<(), StoreError> {
        self.put_delivery(account, attempt).await
    }

    async fn set_webhook_failing(
        &self,
        account: &AccountId,
        id: &crate::ids::WebhookId,
        since: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        self.mark_failing(account, id, since).await
    }
}
