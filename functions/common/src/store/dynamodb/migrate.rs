//! Moving a table from layout 1 to layout 2 (`vpctl table migrate`), while the API serves.
//!
//! Layout 1 kept every class of an account's items in its `ACCOUNT#` partition, and its
//! account item named live keys by id (`liveKeys`, `keyExpiries`, `keyUse`). Layout 2 is in
//! [`super::items`]. Items keep their sort keys, so an item moves by its partition key alone.
//!
//! How the two coexist while a table moves (docs/operating.md, "Moving the table to layout 2"):
//! - Layout 2's code never acts on an account still in layout 1: whatever would read or change
//!   its keys answers 503 with Retry-After (`not_moved`), so nothing is decided on a half-moved
//!   account. It can tell at no extra cost on the hot path: a layout-1 lookup has no slot (a
//!   session, a validity check), a layout-1 account item has `liveKeys` (a debit's refusal, a
//!   slot's condition); listing, deleting and rolling look at the account item only when the
//!   key partition has nothing. What never depended on the layout goes on: a grant (its
//!   update names no key), the ledger function (it writes layout 2's partitions for every
//!   account, so changes made while an account waits are in place when it moves), and a leak
//!   report (a layout-1 key's lookup is marked deleted and leaked, which ends it; the move
//!   carries the leak over to its key).
//! - An account moves in an order that keeps every reader right at every step: its items are
//!   copied into their new partitions, its keys' lookups get their slots (a session that
//!   resolves one now meets the layout-1 account item and gets a 503), then one conditional
//!   update turns the account item into layout 2 (from here on everything is served), and
//!   only then are the layout-1 copies removed.
//! - Every step writes what a rerun would write again (slots are given by the keys' creation
//!   order, copies are the same items), so a move that stops anywhere is finished by running
//!   the command again, and running it on a moved table changes nothing.

use super::DynamoStore;
use super::client::{Item, classify, from_item, internal, parse_time, to_attribute, update_if};
use super::items::{
    ACCOUNT_SK, AUDIT_PREFIX, AccountItem, DayUse, EVENT_PREFIX, IDEMPOTENCY_PREFIX, KEY_PREFIX,
    LEDGER_PREFIX, LOOKUP_SK, LedgerItem, account_pk, audit_pk, event_pk, idempotency_pk, key_pk, ledger_pk,
    lookup_pk, slot_name,
};
use super::usage;
use crate::store::{LedgerKind, StoreError};
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use futures_util::{StreamExt, stream};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use time::OffsetDateTime;

/// The 503 for an account layout 2's code will not act on until it has moved.
pub(super) fn not_moved(account: &str) -> StoreError {
    StoreError::unavailable(format!(
        "account {account} is still in table layout 1 (vpctl table migrate moves it)"
    ))
}

/// What moving one account did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountMove {
    pub account: String,
    /// Its live keys, each given a slot.
    pub keys: usize,
    /// Items copied into layout 2's partitions (keys, ledger, audit, events, idempotency).
    pub copied: usize,
    /// Layout-1 items removed from the `ACCOUNT#` partition once the account had moved.
    pub removed: usize,
    /// Ledger entries that explain the balance, counted before the move.
    pub ledger_entries: usize,
    /// The account item was already in layout 2 (an earlier run moved it, or was stopped
    /// after doing so): only leftovers were removed.
    pub already_moved: bool,
}

/// Accounts one run moves at once: each account is some 20 requests one after another, so a
/// table of thousands moves in minutes rather than an hour.
const ACCOUNTS_IN_FLIGHT: usize = 8;

/// How long a move waits for the ledger function to catch up with a balance.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(10);

/// A layout-1 account item's keys, as far as the move needs them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layout1Account {
    live_keys: HashMap<String, String>,
    #[serde(default)]
    key_expiries: HashMap<String, i64>,
    #[serde(default)]
    key_use: HashMap<String, Layout1KeyUse>,
}

#[derive(Debug, Deserialize)]
struct Layout1KeyUse {
    day: i64,
    count: u64,
}

/// What a key's move needs from its layout-1 item.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layout1Key {
    key_id: String,
    key_hash: String,
    created_at: String,
    #[serde(default)]
    last_used_at: Option<String>,
    #[serde(default)]
    leaked_at: Option<String>,
    #[serde(default)]
    expires_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LookupMarks {
    #[serde(default)]
    leaked_at: Option<String>,
}

impl DynamoStore {
    /// A 503 if `account` is still in layout 1; asked only where layout 2 found nothing.
    pub(super) async fn refuse_layout_1(&self, account: &str) -> Result<(), StoreError> {
        match self.get::<AccountItem>(account_pk(account), ACCOUNT_SK).await? {
            Some(item) if item.live_keys.is_some() => Err(not_moved(account)),
            _ => Ok(()),
        }
    }

    /// The accounts with anything left in layout 1: a layout-1 account item, or items other
    /// than the account item in an `ACCOUNT#` partition. One scan of the table's keys.
    pub async fn accounts_in_layout_1(&self) -> Result<Vec<String>, StoreError> {
        let items: Vec<Item> = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :account) AND (sk <> :balance OR attribute_exists(liveKeys))")
            .projection_expression("pk")
            .expression_attribute_values(":account", AttributeValue::S("ACCOUNT#".into()))
            .expression_attribute_values(":balance", AttributeValue::S(ACCOUNT_SK.into()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(classify)?;
        let accounts: BTreeSet<String> = items
            .iter()
            .filter_map(|i| {
                i.get("pk")?
                    .as_s()
                    .ok()?
                    .strip_prefix("ACCOUNT#")
                    .map(str::to_string)
            })
            .collect();
        Ok(accounts.into_iter().collect())
    }

    /// Moves one account to layout 2 (see the module's header for the order), or with
    /// `dry_run` says what that would do and writes nothing. Refuses (an error, nothing
    /// written) an account whose layout-1 ledger does not explain its balance.
    pub async fn move_account(&self, account: &str, dry_run: bool) -> Result<AccountMove, StoreError> {
        let partition = self.query_raw(account_pk(account), "", false).await?;
        let (balance, old): (Vec<Item>, Vec<Item>) = partition
            .into_iter()
            .partition(|i| i.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(ACCOUNT_SK));
        let mut moved = AccountMove {
            account: account.to_string(),
            keys: 0,
            copied: 0,
            removed: 0,
            ledger_entries: 0,
            already_moved: true,
        };
        if let Some(balance) = balance.into_iter().next().filter(|b| b.contains_key("liveKeys")) {
            moved.already_moved = false;
            let balance: Layout1Account = from_item(balance)?;
            moved.ledger_entries = self.check_layout_1_ledger(account, &old).await?;
            let plan = self.plan(account, &balance, &old).await?;
            moved.keys = plan.slots.len();
            moved.copied = plan.copies.len();
            if !dry_run {
                self.put_all(plan.copies.clone()).await?;
                self.count_history(account, &old).await?;
                for lookup in &plan.lookups {
                    self.give_lookup_its_slot(lookup).await?;
                }
                self.turn_account_item(account, &plan).await?;
            }
        }
        moved.removed = old.len();
        if !dry_run && !old.is_empty() {
            self.remove_all(old).await?;
        }
        Ok(moved)
    }

    /// Every account with anything left in layout 1, [`ACCOUNTS_IN_FLIGHT`] at a time (an
    /// account's own steps stay in order), reported to `each` in account order as they finish.
    /// The first failure stops the run: what moved stays moved, and a rerun goes on from there.
    pub async fn migrate_table(
        &self,
        dry_run: bool,
        mut each: impl FnMut(&AccountMove),
    ) -> Result<Vec<AccountMove>, StoreError> {
        let accounts = self.accounts_in_layout_1().await?;
        let mut moving =
            stream::iter(accounts.iter().map(|a| self.move_account(a, dry_run))).buffered(ACCOUNTS_IN_FLIGHT);
        let mut moves = Vec::new();
        while let Some(moved) = moving.next().await {
            let moved = moved?;
            each(&moved);
            moves.push(moved);
        }
        Ok(moves)
    }

    /// The ledger entries of a layout-1 account (those still in its `ACCOUNT#` partition and
    /// those the ledger function has written to `LEDGER#` since the deploy), checked against
    /// its balance as `vpctl credits verify` checks a moved one: how many there are. The API
    /// keeps serving (a grant may land meanwhile), so a ledger behind its balance is read
    /// again, for up to [`CATCH_UP`].
    async fn check_layout_1_ledger(&self, account: &str, old: &[Item]) -> Result<usize, StoreError> {
        let started = std::time::Instant::now();
        loop {
            let Some(balance) = self.get::<AccountItem>(account_pk(account), ACCOUNT_SK).await? else {
                return Err(internal(format!("account {account} vanished while moving")));
            };
            let all = self.ledger_entries(account, old).await?;
            let sum = |kind| {
                all.values()
                    .filter(|e| e.kind == kind)
                    .map(|e| e.amount)
                    .sum::<u64>()
            };
            let (grants, debits) = (sum(LedgerKind::Grant), sum(LedgerKind::Debit));
            let count = all.len() as u64;
            if count < balance.version && started.elapsed() < CATCH_UP {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
            let explained = count == balance.version
                && grants == balance.granted
                && debits == balance.debited
                && balance.granted.checked_sub(balance.debited) == Some(balance.credits);
            if !explained {
                return Err(StoreError::internal(format!(
                    "account {account}: its ledger ({count} entries, {grants} granted, {debits} debited) does not \
                     explain its balance ({} changes, {} granted, {} debited, {} credits); not moved (if the ledger \
                     function is behind, run again once it has caught up)",
                    balance.version, balance.granted, balance.debited, balance.credits
                )));
            }
            return Ok(all.len());
        }
    }

    /// Every ledger entry of a layout-1 account, by id: those still in its `ACCOUNT#` partition
    /// (`old`) and those the ledger function has written to `LEDGER#` since the deploy.
    async fn ledger_entries(
        &self,
        account: &str,
        old: &[Item],
    ) -> Result<BTreeMap<String, LedgerItem>, StoreError> {
        let mut entries = BTreeMap::new();
        for item in old.iter().filter(|i| sort_key(i).starts_with(LEDGER_PREFIX)) {
            let entry: LedgerItem = from_item(item.clone())?;
            entries.insert(entry.id.clone(), entry);
        }
        for entry in self
            .query::<LedgerItem>(ledger_pk(account), LEDGER_PREFIX, false)
            .await?
        {
            entries.insert(entry.id.clone(), entry);
        }
        Ok(entries)
    }

    /// Usage counts for the account's history, which the ledger function (counting only what it
    /// is delivered) never saw: each day's counters set to a recount of the ledger up to the
    /// version the day's item has counted (all of the day's entries when it has none), in one
    /// update conditional on that version, and how far the counts go. The ledger function may
    /// count a new change meanwhile: the update then fails and the day is recounted, from the
    /// ledger read again if the day has counted a change this reading lacks (its entry is
    /// written before it is counted). A rerun recounts the same.
    async fn count_history(&self, account: &str, old: &[Item]) -> Result<(), StoreError> {
        let mut ledger = self.ledger_entries(account, old).await?;
        'read: loop {
            let known = ledger.values().map(|e| e.version).max().unwrap_or(0);
            let mut days: BTreeMap<time::Date, Vec<(&LedgerItem, OffsetDateTime)>> = BTreeMap::new();
            for entry in ledger.values() {
                let at = parse_time(&entry.at)?;
                days.entry(at.date()).or_default().push((entry, at));
            }
            for (day, entries) in &days {
                loop {
                    let counted = self.day_counted_to(account, *day).await?;
                    if counted.is_some_and(|c| c > known) {
                        ledger = self.ledger_entries(account, old).await?;
                        continue 'read;
                    }
                    let upto =
                        counted.unwrap_or_else(|| entries.iter().map(|(e, _)| e.version).max().unwrap_or(0));
                    let counts = usage::counts(
                        entries
                            .iter()
                            .filter(|(e, _)| e.version <= upto)
                            .map(|(e, at)| (e.kind, e.key_id.as_deref(), *at, e.amount)),
                    );
                    if self.set_day_counts(account, *day, counted, upto, counts).await? {
                        break;
                    }
                }
            }
            if let Some(last) = ledger.values().max_by_key(|e| e.version) {
                self.counted_up_to(account, last.version, &last.at).await?;
            }
            return Ok(());
        }
    }

    /// The slots, copies and lookup updates of one account's move.
    async fn plan(&self, account: &str, balance: &Layout1Account, old: &[Item]) -> Result<Plan, StoreError> {
        let mut live: Vec<(Layout1Key, Item)> = Vec::new();
        let mut copies = Vec::new();
        for item in old {
            let sk = sort_key(item);
            let pk = if sk.starts_with(KEY_PREFIX) {
                let key: Layout1Key = from_item(item.clone())?;
                // A deleted key's item stays behind (its lookup is what keeps it deleted).
                if balance.live_keys.contains_key(&key.key_id) {
                    live.push((key, item.clone()));
                }
                continue;
            } else if sk.starts_with(LEDGER_PREFIX) {
                ledger_pk(account)
            } else if sk.starts_with(AUDIT_PREFIX) {
                audit_pk(account)
            } else if sk.starts_with(EVENT_PREFIX) {
                event_pk(account)
            } else if sk.starts_with(IDEMPOTENCY_PREFIX) {
                idempotency_pk(account)
            } else {
                return Err(internal(format!(
                    "account {account}: an item of no known class: {sk}"
                )));
            };
            copies.push(with_pk(item.clone(), pk));
        }
        // Slots in the order the keys were made: the same on every run.
        live.sort_by(|(a, _), (b, _)| (&a.created_at, &a.key_id).cmp(&(&b.created_at, &b.key_id)));
        let hashes = live
            .iter()
            .map(|(k, _)| (lookup_pk(&k.key_hash), LOOKUP_SK.to_string()))
            .collect();
        let mut leaked_by_lookup: HashMap<String, String> = HashMap::new();
        for lookup in self.batch_get_keys(hashes).await? {
            let pk = lookup
                .get("pk")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            if let Some(at) = from_item::<LookupMarks>(lookup)?.leaked_at {
                leaked_by_lookup.insert(pk, at);
            }
        }
        let mut plan = Plan {
            copies,
            ..Plan::default()
        };
        for (slot, (key, item)) in (1u64..).zip(live) {
            let mut item = with_pk(item, key_pk(account));
            item.remove("deletedAt");
            item.insert("slot".into(), AttributeValue::N(slot.to_string()));
            // The latest use either place knew: the key item's, or (older layout-1 tables) the
            // account item's.
            let used = [
                key.last_used_at.clone(),
                balance.live_keys.get(&key.key_id).cloned(),
            ]
            .into_iter()
            .flatten()
            .filter(|t| !t.is_empty())
            .max();
            if let Some(used) = used {
                item.insert("lastUsedAt".into(), AttributeValue::S(used));
            }
            // A leak reported while the account waited was marked on the lookup.
            let lookup = lookup_pk(&key.key_hash);
            let leaked = key
                .leaked_at
                .clone()
                .or_else(|| leaked_by_lookup.get(&lookup).cloned());
            if let Some(at) = &leaked {
                item.insert("leakedAt".into(), AttributeValue::S(at.clone()));
                plan.ends.insert(slot_name(slot), 0);
            } else if let Some(end) = balance.key_expiries.get(&key.key_id) {
                plan.ends.insert(slot_name(slot), *end);
            }
            if let Some(used) = balance.key_use.get(&key.key_id) {
                let packed = DayUse {
                    day: used.day,
                    count: used.count,
                }
                .packed();
                plan.uses.insert(slot_name(slot), packed);
            }
            plan.copies.push(item);
            plan.lookups.push(LookupUpdate {
                hash: key.key_hash.clone(),
                slot,
                expires_at: key.expires_at,
                leaked_at: leaked,
            });
            plan.slots.insert(slot);
        }
        Ok(plan)
    }

    /// A live key's lookup gets its slot, and what layout 2 keeps on a lookup that layout 1 kept
    /// elsewhere: the key's expiry (layout 1 had it only where its debit read it, and on its
    /// key item: it can only have moved earlier since, which the account item's `ends` still
    /// decides) and a leak.
    async fn give_lookup_its_slot(&self, lookup: &LookupUpdate) -> Result<(), StoreError> {
        let mut update = String::from("SET slot = :slot");
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(lookup_pk(&lookup.hash)))
            .key("sk", AttributeValue::S(LOOKUP_SK.into()))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":slot", AttributeValue::N(lookup.slot.to_string()));
        if let Some(end) = lookup.expires_at {
            update.push_str(", expiresAt = if_not_exists(expiresAt, :end)");
            request = request.expression_attribute_values(":end", AttributeValue::N(end.to_string()));
        }
        if let Some(at) = &lookup.leaked_at {
            update.push_str(", leakedAt = :leaked");
            request = request.expression_attribute_values(":leaked", AttributeValue::S(at.clone()));
        }
        // Refused: a key without a lookup cannot be presented, so there is nothing to give.
        update_if(request.update_expression(update)).await.map(|_| ())
    }

    /// The one update that turns the account item into layout 2; conditional on its still
    /// being in layout 1 (another run may have turned it meanwhile, which is as good).
    async fn turn_account_item(&self, account: &str, plan: &Plan) -> Result<(), StoreError> {
        let seq = plan.slots.iter().max().copied().unwrap_or(0);
        let mut update = String::from("SET keySeq = :seq, ends = :ends, uses = :uses");
        let mut request = self
            .update_account_item(account)
            .condition_expression("attribute_exists(liveKeys)")
            .expression_attribute_values(":seq", AttributeValue::N(seq.to_string()))
            .expression_attribute_values(":ends", to_attribute(&plan.ends)?)
            .expression_attribute_values(":uses", to_attribute(&plan.uses)?);
        if !plan.slots.is_empty() {
            update.push_str(", live = :live");
            let live = plan.slots.iter().map(u64::to_string).collect();
            request = request.expression_attribute_values(":live", AttributeValue::Ns(live));
        }
        update.push_str(" REMOVE liveKeys, keyExpiries, keyUse");
        update_if(request.update_expression(update)).await.map(|_| ())
    }

    /// Deletes `items` (by key), 25 to a `BatchWriteItem`.
    async fn remove_all(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let requests: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                let key = item
                    .into_iter()
                    .filter(|(name, _)| name == "pk" || name == "sk")
                    .collect();
                let delete = DeleteRequest::builder()
                    .set_key(Some(key))
                    .build()
                    .map_err(internal)?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<_, StoreError>>()?;
        self.write_all(requests).await
    }
}

#[derive(Default)]
struct Plan {
    copies: Vec<Item>,
    /// One per live key.
    lookups: Vec<LookupUpdate>,
    slots: BTreeSet<u64>,
    ends: HashMap<String, i64>,
    uses: HashMap<String, u64>,
}

struct LookupUpdate {
    hash: String,
    slot: u64,
    expires_at: Option<i64>,
    leaked_at: Option<String>,
}

fn sort_key(item: &Item) -> &str {
    item.get("sk")
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str)
}

fn with_pk(mut item: Item, pk: String) -> Item {
    item.insert("pk".into(), AttributeValue::S(pk));
    item
}
