//! The operator's ledger check (`vpctl credits verify`), written once over the [`Store`] trait
//! so both stores are judged by the same rule.

use super::{LedgerKind, Store, StoreError};
use crate::ids::AccountId;
use serde::Serialize;

/// The ledger check: `credits = granted − debited` on the account, and its ledger entries (all
/// of them, however old) add up to the same totals, test sessions moving nothing. On DynamoDB the ledger is written from the
/// table's stream: while entries are still on their way (`behind > 0`) the sums cannot match
/// yet, and the check says so instead of calling the ledger wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerCheck {
    pub account: String,
    pub credits: u64,
    pub granted: u64,
    pub debited: u64,
    pub ledger_grants: u64,
    pub ledger_debits: u64,
    /// Test keys' sessions: entries that must move nothing (amount 0).
    pub ledger_test_sessions: u64,
    pub ledger_entries: usize,
    /// Balance changes whose ledger entries have not been written yet (0 once caught up).
    pub behind: u64,
    pub ok: bool,
}

/// Runs the ledger check for one account. `Ok(None)` for an account that does not exist.
pub async fn verify_ledger(
    store: &dyn Store,
    account: &AccountId,
) -> Result<Option<LedgerCheck>, StoreError> {
    let Some(balance) = store.balance(account).await? else {
        return Ok(None);
    };
    let ledger = store.ledger(account).await?;
    let sum = |kind| {
        ledger
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.amount)
            .sum::<u64>()
    };
    let (ledger_grants, ledger_debits) = (sum(LedgerKind::Grant), sum(LedgerKind::Debit));
    let tests = ledger.iter().filter(|e| e.kind == LedgerKind::Test);
    let ledger_test_sessions = tests.clone().count() as u64;
    let tests_moved_nothing = tests.clone().all(|e| e.amount == 0);
    let behind = balance.changes.saturating_sub(ledger.len() as u64);
    let ok = balance.granted.checked_sub(balance.debited) == Some(balance.credits)
        && behind == 0
        && ledger.len() as u64 == balance.changes
        && ledger_grants == balance.granted
        && ledger_debits == balance.debited
        && tests_moved_nothing;
    Ok(Some(LedgerCheck {
        account: account.to_string(),
        credits: balance.credits,
        granted: balance.granted,
        debited: balance.debited,
        ledger_grants,
        ledger_debits,
        ledger_test_sessions,
        ledger_entries: ledger.len(),
        behind,
        ok,
    }))
}
