//! What must never happen to the table, caught where every change passes: the stream the
//! ledger function reads. No code of ours does any of these; IAM forbids most of them; a
//! tripwire is for what slips past both (an operator's console edit, a restored backup, a
//! policy loosened by mistake). Each one the ledger function sees is logged with
//! `alarm = "table_tripwire"` and its kind, which a metric filter per kind counts and an
//! alarm watches (template.yaml).

use super::Item;
use super::items::{ACCOUNT_SK, LEDGER_PREFIX, LOOKUP_SK};
use aws_sdk_dynamodb::types::AttributeValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tripwire {
    /// A ledger row changed or removed: money records are written once and never again.
    LedgerRowChanged,
    /// A hash lookup lost its `deletedAt` or `leakedAt` (or went away with it): a revoked key
    /// brought back to life.
    LookupUnrevoked,
    /// A balance changed without its `version` moving: a change the ledger will never hear of.
    BalanceWithoutVersion,
}

impl Tripwire {
    /// The kind as logged, and as the metric filters match it.
    pub fn kind(self) -> &'static str {
        match self {
            Tripwire::LedgerRowChanged => "ledger_row_changed",
            Tripwire::LookupUnrevoked => "lookup_unrevoked",
            Tripwire::BalanceWithoutVersion => "balance_without_version",
        }
    }
}

/// What one stream record (its item before and after) trips, if anything.
pub fn tripped(old: Option<&Item>, new: Option<&Item>) -> Option<Tripwire> {
    let old = old.filter(|o| !o.is_empty())?;
    let new = new.filter(|n| !n.is_empty());
    let (pk, sk) = (string(old, "pk")?, string(old, "sk")?);
    // Layout 2's ledger rows (layout 1's, in `ACCOUNT#` partitions, are removed by the move
    // to layout 2 once copied: `migrate.rs`).
    if pk.starts_with(LEDGER_PREFIX) && sk.starts_with(LEDGER_PREFIX) {
        return (new != Some(old)).then_some(Tripwire::LedgerRowChanged);
    }
    if sk == LOOKUP_SK {
        let revoked = |item: &Item| item.contains_key("deletedAt") || item.contains_key("leakedAt");
        let lost = ["deletedAt", "leakedAt"]
            .iter()
            .any(|name| old.contains_key(*name) && !new.is_some_and(|n| n.contains_key(*name)));
        return (revoked(old) && lost).then_some(Tripwire::LookupUnrevoked);
    }
    if sk == ACCOUNT_SK {
        let new = new?;
        let moved = number(new, "version") > number(old, "version");
        return (number(new, "credits") != number(old, "credits") && !moved)
            .then_some(Tripwire::BalanceWithoutVersion);
    }
    None
}

fn string<'i>(item: &'i Item, name: &str) -> Option<&'i str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn number(item: &Item, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }
    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }
    fn n(v: u64) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }

    #[test]
    fn a_ledger_row_may_be_written_and_rewritten_unchanged_but_never_changed_or_removed() {
        let row = item(&[("pk", s("LEDGER#a")), ("sk", s("LEDGER#1")), ("amount", n(1))]);
        assert_eq!(tripped(None, Some(&row)), None, "written");
        assert_eq!(tripped(Some(&row), Some(&row)), None, "rewritten as it was");
        let mut changed = row.clone();
        changed.insert("amount".into(), n(100));
        assert_eq!(
            tripped(Some(&row), Some(&changed)),
            Some(Tripwire::LedgerRowChanged)
        );
        assert_eq!(
            tripped(Some(&row), None),
            Some(Tripwire::LedgerRowChanged),
            "removed"
        );
    }

    #[test]
    fn a_lookup_may_be_revoked_but_never_unrevoked() {
        let live = item(&[
            ("pk", s("KEYHASH#h")),
            ("sk", s("KEYHASH")),
            ("keyId", s("key_1")),
        ]);
        let mut deleted = live.clone();
        deleted.insert("deletedAt".into(), s("2026-12-06T00:00:00Z"));
        let mut leaked = live.clone();
        leaked.insert("leakedAt".into(), s("2026-12-06T00:00:00Z"));
        assert_eq!(tripped(Some(&live), Some(&deleted)), None, "revoked");
        assert_eq!(
            tripped(Some(&live), None),
            None,
            "a live lookup removed revives nothing"
        );
        for revoked in [&deleted, &leaked] {
            assert_eq!(
                tripped(Some(revoked), Some(&live)),
                Some(Tripwire::LookupUnrevoked)
            );
            assert_eq!(tripped(Some(revoked), None), Some(Tripwire::LookupUnrevoked));
            assert_eq!(tripped(Some(revoked), Some(revoked)), None);
        }
    }

    #[test]
    fn a_balance_moves_only_with_its_version() {
        let account = |credits, version| {
            item(&[
                ("pk", s("ACCOUNT#a")),
                ("sk", s("ACCOUNT")),
                ("credits", n(credits)),
                ("version", n(version)),
            ])
        };
        assert_eq!(
            tripped(Some(&account(3, 1)), Some(&account(2, 2))),
            None,
            "a debit"
        );
        assert_eq!(
            tripped(Some(&account(3, 1)), Some(&account(3, 1))),
            None,
            "another field"
        );
        assert_eq!(tripped(None, Some(&account(3, 1))), None, "created");
        assert_eq!(
            tripped(Some(&account(3, 1)), Some(&account(103, 1))),
            Some(Tripwire::BalanceWithoutVersion)
        );
        assert_eq!(
            tripped(Some(&account(3, 2)), Some(&account(2, 1))),
            Some(Tripwire::BalanceWithoutVersion),
            "a version that went back is no move"
        );
    }

    #[test]
    fn other_items_trip_nothing() {
        let key = item(&[("pk", s("KEY#a")), ("sk", s("KEY#key_1"))]);
        assert_eq!(tripped(Some(&key), None), None);
        // A layout-1 ledger row removed by the move to layout 2, once copied.
        let moved = item(&[("pk", s("ACCOUNT#a")), ("sk", s("LEDGER#1")), ("amount", n(1))]);
        assert_eq!(tripped(Some(&moved), None), None);
    }
}
