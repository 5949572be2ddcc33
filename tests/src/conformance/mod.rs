//! The behaviour every [`Store`] must have, written once per capability and run against each
//! implementation by one runner (`tests/tests/api/store_embedded.rs`,
//! `tests/tests/dynamodb/store.rs`). A behaviour only one store has is a bug in the other.
//!
//! Every store under test is built with [`FREE_CREDITS`] free credits per new account.

use crate::{OpenSession, SessionOutcome, account, credits, seed_key};
use common::api_key::{KeyHash, KeyMode, PlaintextKey};
use common::clock;
use common::ids::{KeyId, SessionId};
use common::store::{
    AuditAction, CreditEventKind, DebitOutcome, IdempotencyConflict, IdempotentSession, KeyCreation, KeyRoll,
    Leak, LeakRevocation, LedgerKind, LiveKey, MAX_LIVE_KEYS, NewKey, Origin, ReportedLeak, ResolvedKey,
    SessionDebit, SessionGrant, Spend, Store,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

pub const FREE_CREDITS: u64 = 3;

pub mod audit;
pub mod credits;
pub mod daily_limits;
pub mod idempotency;
pub mod keys;
pub mod leaks;
pub mod test_keys;
pub mod usage;
pub mod webhooks;

/// A store plus whatever must live as long as it (a temp dir, a table).
pub struct StoreUnderTest {
    pub store: Arc<dyn Store>,
    pub guard: Box<dyn std::any::Any + Send + Sync>,
}

/// A behaviour's check, run on a fresh store.
pub type Check = fn(Arc<dyn Store>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// One behaviour: its name, and its check.
pub struct Case {
    pub name: &'static str,
    pub run: Check,
}

/// Every capability's cases.
pub const CAPABILITIES: [(&str, &[Case]); 9] = [
    ("keys", keys::CASES),
    ("credits", credits::CASES),
    ("audit", audit::CASES),
    ("idempotency", idempotency::CASES),
    ("daily_limits", daily_limits::CASES),
    ("leaks", leaks::CASES),
    ("usage", usage::CASES),
    ("test_keys", test_keys::CASES),
    ("webhooks", webhooks::CASES),
];

/// Runs every case of every capability, each on a fresh store from `factory` and in its own
/// task (capabilities side by side, a capability's cases one after another), and fails naming
/// every case that failed: a panic in one (printed as it happens) hides none of the others.
pub async fn conforms<F, Fut>(factory: F)
where
    F: Fn() -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = StoreUnderTest> + Send + 'static,
{
    let runs: Vec<_> = CAPABILITIES
        .iter()
        .map(|(capability, cases)| {
            let failed = tokio::spawn(async move {
                let mut failed = Vec::new();
                for case in *cases {
                    let under_test = factory().await;
                    if tokio::spawn((case.run)(under_test.store.clone())).await.is_err() {
                        failed.push(format!("{capability}::{}", case.name));
                    }
                }
                failed
            });
            (*capability, failed)
        })
        .collect();
    let mut failed = Vec::new();
    for (capability, run) in runs {
        failed.extend(
            run.await
                .unwrap_or_else(|e| panic!("{capability}: the runner failed: {e}")),
        );
    }
    let total: usize = CAPABILITIES.iter().map(|(_, cases)| cases.len()).sum();
    assert!(
        failed.is_empty(),
        "{} of {total} behaviours failed: {failed:?}",
        failed.len()
    );
}

pub fn new_key(account_id: &str, name: &str, at: OffsetDateTime) -> (PlaintextKey, NewKey) {
    new_key_of(KeyMode::Live, account_id, name, at)
}

pub fn new_key_of(mode: KeyMode, account_id: &str, name: &str, at: OffsetDateTime) -> (PlaintextKey, NewKey) {
    let plaintext = PlaintextKey::generate(mode);
    let key = NewKey {
        id: KeyId::generate(),
        account: account(account_id),
        name: common::key_name::KeyName::parse(name).expect("valid name"),
        prefix: plaintext.display_prefix(),
        hash: plaintext.hash(),
        created_at: at,
        expires_at: None,
        sessions_per_day: None,
    };
    (plaintext, key)
}

pub fn origin() -> Origin {
    Origin {
        ip: Some("198.51.100.4".into()),
        user_agent: Some("conformance/1.0".into()),
    }
}

pub fn debit_at(at: OffsetDateTime) -> SessionDebit {
    SessionDebit {
        session: SessionId::generate(),
        at,
        origin: origin(),
        spend: Spend::Credit,
    }
}

/// The same, paid from the account's test allowance of `per_day` (a test key's session).
pub fn test_debit_at(at: OffsetDateTime, per_day: u32) -> SessionDebit {
    SessionDebit {
        spend: Spend::TestAllowance { per_day },
        ..debit_at(at)
    }
}

pub(crate) fn debit() -> SessionDebit {
    debit_at(clock::now())
}

pub async fn create(store: &dyn Store, account_id: &str, name: &str) -> (PlaintextKey, KeyId) {
    let (plaintext, key) = new_key(account_id, name, clock::now());
    let id = key.id.clone();
    store.create_key(key, origin()).await.expect("create key");
    (plaintext, id)
}

/// The ledger invariant (`vpctl credits verify`): balance = grants − debits, explained entry by entry.
pub async fn assert_ledger_ok(store: &dyn Store, account_id: &str) {
    let check = common::store::verify_ledger(store, &account(account_id))
        .await
        .unwrap()
        .expect("account exists");
    assert!(check.ok, "ledger check failed: {check:?}");
}

pub(crate) fn grant(tag: &str) -> SessionGrant {
    SessionGrant {
        session_id: format!("ses_{tag}"),
        sealed_token: format!("sealed-{tag}"),
        expires_in: 86400,
    }
}

pub(crate) fn idem(key: &str, request: &str, tag: &str) -> Option<IdempotentSession> {
    Some(IdempotentSession {
        key_hash: format!("hash-of-{key}"),
        request_hash: format!("body-{request}"),
        grant: grant(tag),
    })
}

pub(crate) async fn resolved(store: &dyn Store, plaintext: &PlaintextKey) -> ResolvedKey {
    store
        .resolve_key(&plaintext.hash())
        .await
        .unwrap()
        .expect("live key")
}

pub(crate) async fn debits(store: &dyn Store, account_id: &str) -> usize {
    store
        .ledger(&account(account_id))
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == LedgerKind::Debit)
        .count()
}
