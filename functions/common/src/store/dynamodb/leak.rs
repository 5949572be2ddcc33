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
use std::collections::HashMap;
use time::OffsetDateTime;

/// How many revocations (each one transaction) one report keeps in flight.
const REVOCATIONS_IN_FLIGHT: usize = 8;

impl DynamoStore {
    /// Every reported key's lookup item read in `BatchGetItem`s of 100; each live one revoked
    /// ([`Self::revoke_found`]), up to [`REVOCATIONS_IN_FLIGHT`] at once.
    pub(super) async fn revoke_leaks(
        &self,
        reports: &[ReportedLeak],
        at: OffsetDateTime,
        origin: &Origin,
    ) -> Result<Vec<LeakRevocation>, StoreError> {
        let (distinct, index) = ReportedLeak::distinct(reports);
        let keys = distinct
            .iter()
            .map(|r| (lookup_pk(r.hash.as_str()), LOOKUP_SK.to_string()))
            .collect();
        let mut lookups = HashMap::new();
        for item in self.batch_get_keys(keys).await? {
            let lookup: LookupItem = from_item(item)?;
            lookups.insert(lookup.pk.clone(), lookup);
        }
        let revocations = distinct.iter().map(|report| {
            let lookup = lookups.remove(&lookup_pk(report.hash.as_str()));
            async move {
                match lookup {
                    None => Ok(LeakRevocation::Unknown),
                    Some(lookup) if lookup.deleted_at.is_some() => Ok(LeakRevocation::AlreadyRevoked),
                    Some(lookup) => self.revoke_found(&lookup, report, at, origin).await,
                }
            }
        });
        let outcomes: Vec<LeakRevocation> = stream::iter(revocations.collect::<Vec<_>>())
            .buffered(REVOCATIONS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(ReportedLeak::per_report(outcomes, &index))
    }

    /// One transaction: the key item is marked leaked, its lookup marked deleted (a first-seen
    /// key no longer resolves), its expiry on the account item set to 0 (so the debit's own
    /// condition refuses it in instances that remember it), and `key.leaked` recorded. The key
    /// stays among the account's live keys, which is what lists it, until it is deleted.
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
        let account_pk = account_pk(account.as_str());
        let key_sk = format!("{KEY_PREFIX}{key}");
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
            let writes = vec![
                self.update(
                    (account_pk.clone(), key_sk.clone()),
                    "SET leakedAt = :at",
                    "attribute_exists(pk) AND attribute_not_exists(deletedAt) AND attribute_not_exists(leakedAt)",
                    &[],
                    vec![(":at", stamp())],
                )?,
                self.update(
                    (lookup_pk(hash.as_str()), LOOKUP_SK.into()),
                    "SET deletedAt = :at",
                    "attribute_exists(pk)",
                    &[],
                    vec![(":at", stamp())],
                )?,
                self.update(
                    (account_pk.clone(), ACCOUNT_SK.into()),
                    "SET keyExpiries.#key = :zero",
                    "attribute_exists(liveKeys.#key)",
                    &[("#key", key.as_str())],
                    vec![(":zero", AttributeValue::N("0".into()))],
                )?,
                self.put(&audit, None)?,
            ];
            match self.transact(writes).await {
                Ok(()) => return Ok(LeakRevocation::Revoked { account, key }),
                // Deleted or reported by someone else meanwhile: nothing for this report to do.
                Err(TxError::Cancelled(c, _)) if c.condition_failed(0) || c.condition_failed(2) => {
                    return Ok(LeakRevocation::AlreadyRevoked);
                }
                Err(TxError::Cancelled(c, _)) if c.is_transient() => continue,
                Err(TxError::Cancelled(c, _)) => return Err(c.into_error("leaked key revocation")),
                // Applied with the answer lost? Our time on the key item says.
                Err(TxError::Store(e)) => {
                    return match self.get::<KeyItem>(account_pk.clone(), &key_sk).await {
                        Ok(Some(found))
                            if found.leaked_at.as_deref() == Some(clock::rfc3339(at).as_str()) =>
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
