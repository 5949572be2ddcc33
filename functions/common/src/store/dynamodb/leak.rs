//! Revoking a key reported leaked: refused at once, listed as leaked until its owner deletes it.

use super::DynamoStore;
use super::cancel::Retry;
use super::client::{TxError, from_item, internal};
use super::items::*;
use super::ledger::audit_item;
use crate::clock;
use crate::ids::{AccountId, KeyId};
use crate::store::{AuditAction, LeakRevocation, Origin, ReportedLeak, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::{StreamExt, TryStreamExt, stream};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

/// How many accounts' revocations one report works on at once. Within an account they go one
/// after another: each writes the account item, and transactions racing on one item would
/// cancel each other and spend their retries.
const ACCOUNTS_IN_FLIGHT: usize = 8;

impl DynamoStore {
    /// Every reported key's lookup item read in `BatchGetItem`s of 100; each live one revoked
    /// ([`Self::revoke_found`]): an account's keys in turn, up to [`ACCOUNTS_IN_FLIGHT`]
    /// accounts at once.
    pub(super) async fn revoke_leaks(
        &self,
        reports: &[ReportedLeak],
        at: OffsetDateTime,
        origin: &Origin,
    ) -> Result<Vec<LeakRevocation>, StoreError> {
        let (distinct, index) = distinct(reports);
        let keys = distinct
            .iter()
            .map(|r| (lookup_pk(r.hash.as_str()), LOOKUP_SK.to_string()))
            .collect();
        let mut lookups = HashMap::new();
        for item in self.batch_get_keys(keys).await? {
            let lookup: LookupItem = from_item(item)?;
            lookups.insert(lookup.pk.clone(), lookup);
        }
        // What the lookups settle at once, and the live keys to revoke, by account.
        let mut outcomes: Vec<Option<LeakRevocation>> = Vec::with_capacity(distinct.len());
        let mut live: BTreeMap<String, Vec<(usize, LookupItem)>> = BTreeMap::new();
        for (i, report) in distinct.iter().enumerate() {
            outcomes.push(match lookups.remove(&lookup_pk(report.hash.as_str())) {
                None => Some(LeakRevocation::Unknown),
                Some(lookup) if lookup.deleted_at.is_some() => Some(LeakRevocation::AlreadyRevoked),
                Some(lookup) => {
                    live.entry(lookup.account_id.clone())
                        .or_default()
                        .push((i, lookup));
                    None
                }
            });
        }
        let per_account: Vec<_> = live
            .into_values()
            .map(|keys| {
                let distinct = &distinct;
                async move {
                    let mut revoked = Vec::with_capacity(keys.len());
                    for (i, lookup) in keys {
                        revoked.push((i, self.revoke_found(&lookup, distinct[i], at, origin).await?));
                    }
                    Ok::<_, StoreError>(revoked)
                }
            })
            .collect();
        let revoked: Vec<Vec<(usize, LeakRevocation)>> = stream::iter(per_account)
            .buffer_unordered(ACCOUNTS_IN_FLIGHT)
            .try_collect()
            .await?;
        for (i, outcome) in revoked.into_iter().flatten() {
            outcomes[i] = Some(outcome);
        }
        let outcomes = outcomes
            .into_iter()
            .map(|o| o.ok_or_else(|| internal("a reported key left without an outcome")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(per_report(outcomes, &index))
    }

    /// One transaction: the key item is marked leaked, its lookup marked deleted (a first-seen
    /// key no longer resolves), its slot's end on the account item set to 0 (so the debit's own
    /// condition refuses it in instances that remember it), and `key.leaked` recorded. The key
    /// stays listed (and counted against the cap) until it is deleted.
    async fn revoke_found(
        &self,
        lookup: &LookupItem,
        report: &ReportedLeak,
        at: OffsetDateTime,
        origin: &Origin,
    ) -> Result<LeakRevocation, StoreError> {
        let hash = &report.hash;
        let (Some(account), Some(key)) = (AccountId::parse(&lookup.account_id), KeyId::parse(&lookup.key_id))
        else {
            return Err(internal("bad ids in key lookup item"));
        };
        let key_item = (key_pk(account.as_str()), format!("{KEY_PREFIX}{key}"));
        let mut audit = audit_item(
            account.as_str(),
            AuditAction::KeyLeaked,
            key.as_str(),
            None,
            origin,
            at,
        );
        audit.url = report.leak.url.clone();
        audit.source = report.leak.source.clone();
        let stamp = || AttributeValue::S(clock::rfc3339(at));
        let mut retry = Retry::new("leaked key revocation");
        loop {
            retry.next().await?;
            // The lookup is marked deleted (a first-seen key no longer resolves) and leaked.
            let mark_lookup = self.update(
                (lookup_pk(hash.as_str()), LOOKUP_SK.into()),
                "SET deletedAt = :at, leakedAt = :at",
                "attribute_exists(pk) AND attribute_not_exists(deletedAt)",
                &[],
                vec![(":at", stamp())],
            )?;
            // A key of an account still in layout 1 (no slot yet) is ended by its lookup alone:
            // layout 2's code serves none of its sessions until it has moved, and the move
            // carries the leak over to its key item and slot (`migrate.rs`).
            let writes = if lookup.slot == 0 {
                vec![mark_lookup, self.put(&audit, None)?]
            } else {
                vec![
                    self.update(
                        key_item.clone(),
                        "SET leakedAt = :at",
                        "attribute_exists(pk) AND attribute_not_exists(leakedAt)",
                        &[],
                        vec![(":at", stamp())],
                    )?,
                    mark_lookup,
                    self.update(
                        (account_pk(account.as_str()), ACCOUNT_SK.into()),
                        "SET ends.#slot = :zero",
                        "contains(live, :slot)",
                        &[("#slot", &slot_name(lookup.slot))],
                        vec![
                            (":zero", AttributeValue::N("0".into())),
                            (":slot", AttributeValue::N(lookup.slot.to_string())),
                        ],
                    )?,
                    self.put(&audit, None)?,
                ]
            };
            match self.transact(writes).await {
                Ok(()) => return Ok(LeakRevocation::Revoked { account, key }),
                // Deleted or reported by someone else meanwhile: nothing for this report to do.
                Err(TxError::Cancelled(c, _)) if (0..3).any(|i| c.condition_failed(i)) => {
                    return Ok(LeakRevocation::AlreadyRevoked);
                }
                Err(TxError::Cancelled(c, _)) if c.is_transient() => continue,
                Err(TxError::Cancelled(c, _)) => return Err(c.into_error("leaked key revocation")),
                // Applied with the answer lost? Our time on the lookup says.
                Err(TxError::Store(e)) => {
                    return match self.get::<LookupItem>(lookup_pk(hash.as_str()), LOOKUP_SK).await {
                        Ok(Some(found))
                            if found.deleted_at.as_deref() == Some(clock::rfc3339(at).as_str()) =>
                        {
                            Ok(LeakRevocation::Revoked { account, key })
                        }
                        _ => Err(e),
                    };
                }
            }
        }
    }
}

/// The first report of each key, in order, and for every report the index of its key
/// among them: a key reported twice is looked up and revoked once.
fn distinct(reports: &[ReportedLeak]) -> (Vec<&ReportedLeak>, Vec<usize>) {
    let mut seen = HashMap::new();
    let mut distinct = Vec::new();
    let mut index = Vec::with_capacity(reports.len());
    for report in reports {
        let i = *seen.entry(report.hash.as_str()).or_insert_with(|| {
            distinct.push(report);
            distinct.len() - 1
        });
        index.push(i);
    }
    (distinct, index)
}

/// One outcome per report from one per distinct key ([`distinct`]): a key's first
/// report reads what happened to it; a repeat of a key this call revoked reads
/// `AlreadyRevoked`, as it would have in a report of its own.
fn per_report(outcomes: Vec<LeakRevocation>, index: &[usize]) -> Vec<LeakRevocation> {
    let mut told = vec![false; outcomes.len()];
    index
        .iter()
        .map(|&i| {
            let outcome = match &outcomes[i] {
                LeakRevocation::Revoked { .. } if told[i] => LeakRevocation::AlreadyRevoked,
                outcome => outcome.clone(),
            };
            told[i] = true;
            outcome
        })
        .collect()
}
