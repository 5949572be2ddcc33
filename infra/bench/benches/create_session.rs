//! CPU per create-session request at the handler: event in, signed session out, with no I/O,
//! so what is measured is our code — request checks, the key hash, ES256 signing (aws-lc), the response.
//! Two stores: an in-memory one (below: the two calls create-session makes, a balance under a
//! mutex — in AWS the store is a network request, not CPU of ours), which is the handler's own
//! figure, and the embedded SQLite store in memory (what `make dev` adds: its transaction and the
//! hand-off to its thread). `make bench` runs it; criterion's median is the p50 docs/performance.md reports.

use async_trait::async_trait;
use common::api_key::KeyHash;
use common::handlers::create_session;
use common::ids::{AccountId, KeyId};
use common::routes::Route;
use common::runtime::{State, respond};
use common::startup::Startup;
use common::store::sqlite::SqliteStore;
use common::store::{
    AuditEvent, Balance, CreditEvent, DebitOutcome, IdempotentSession, KeyCreation, KeyRecord, KeyRoll,
    LeakRevocation, LedgerEntry, LiveKey, NewKey, Origin, ReportedLeak, ResolvedKey, SessionDebit, Store,
    StoreError,
};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

const EVENT: &str = include_str!("../../../events/create-session.json");
/// The key the fixture event carries.
const KEY: &str = "vp_live_0123456789abcdef0123456789abcdef0123456789abcdef012345670ff3c212";

/// One account's balance and one key, in memory: what create-session asks of a store (resolve
/// the key, take a credit), answered without I/O. Everything else is refused, not faked.
struct MemoryStore {
    key: (KeyHash, ResolvedKey),
    balance: Mutex<u64>,
}

fn not_for_this_bench() -> StoreError {
    StoreError::internal("not a create-session call: the bench store holds one key and a balance")
}

#[async_trait]
impl Store for MemoryStore {
    async fn resolve_key(&self, hash: &KeyHash) -> Result<Option<ResolvedKey>, StoreError> {
        Ok((*hash == self.key.0).then(|| self.key.1.clone()))
    }

    async fn debit_session(
        &self,
        key: &ResolvedKey,
        _debit: SessionDebit,
        idempotency: Option<IdempotentSession>,
    ) -> Result<DebitOutcome, StoreError> {
        if idempotency.is_some() || *key != self.key.1 {
            return Err(not_for_this_bench());
        }
        let mut balance = self.balance.lock().unwrap();
        if *balance == 0 {
            return Ok(DebitOutcome::InsufficientCredits);
        }
        *balance -= 1;
        Ok(DebitOutcome::Debited { balance: *balance })
    }

    async fn create_key(&self, _: NewKey, _: Origin) -> Result<KeyCreation, StoreError> {
        Err(not_for_this_bench())
    }
    async fn roll_key(
        &self,
        _: &KeyId,
        _: NewKey,
        _: OffsetDateTime,
        _: Origin,
    ) -> Result<KeyRoll, StoreError> {
        Err(not_for_this_bench())
    }
    async fn list_keys(&self, _: &AccountId) -> Result<Vec<KeyRecord>, StoreError> {
        Err(not_for_this_bench())
    }
    async fn delete_key(
        &self,
        _: &AccountId,
        _: &KeyId,
        _: OffsetDateTime,
        _: Origin,
    ) -> Result<bool, StoreError> {
        Err(not_for_this_bench())
    }
    async fn revoke_leaked(
        &self,
        _: &[ReportedLeak],
        _: OffsetDateTime,
        _: Origin,
    ) -> Result<Vec<LeakRevocation>, StoreError> {
        Err(not_for_this_bench())
    }
    async fn live_key(&self, _: &ResolvedKey, _: OffsetDateTime) -> Result<Option<LiveKey>, StoreError> {
        Err(not_for_this_bench())
    }
    async fn grant_credits(
        &self,
        _: &AccountId,
        _: u64,
        _: &str,
        _: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        Err(not_for_this_bench())
    }
    async fn balance(&self, _: &AccountId) -> Result<Option<Balance>, StoreError> {
        Err(not_for_this_bench())
    }
    async fn ledger(&self, _: &AccountId) -> Result<Vec<LedgerEntry>, StoreError> {
        Err(not_for_this_bench())
    }
    async fn audit_events(&self, _: &AccountId, _: OffsetDateTime) -> Result<Vec<AuditEvent>, StoreError> {
        Err(not_for_this_bench())
    }
    async fn credit_events(&self, _: &AccountId) -> Result<Vec<CreditEvent>, StoreError> {
        Err(not_for_this_bench())
    }
    async fn usage(
        &self,
        _: &AccountId,
        _: &common::store::usage::UsageQuery,
        _: OffsetDateTime,
    ) -> Result<common::store::usage::Usage, StoreError> {
        Err(not_for_this_bench())
    }
    async fn audit_page(
        &self,
        _: &AccountId,
        _: OffsetDateTime,
        _: Option<&str>,
        _: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        Err(not_for_this_bench())
    }
    async fn create_webhook(
        &self,
        _: common::store::webhooks::NewWebhook,
    ) -> Result<common::store::webhooks::WebhookCreation, StoreError> {
        Err(not_for_this_bench())
    }
    async fn list_webhooks(
        &self,
        _: &AccountId,
    ) -> Result<Vec<common::store::webhooks::WebhookRecord>, StoreError> {
        Err(not_for_this_bench())
    }
    async fn delete_webhook(&self, _: &AccountId, _: &common::ids::WebhookId) -> Result<bool, StoreError> {
        Err(not_for_this_bench())
    }
    async fn set_low_credit_threshold(
        &self,
        _: &AccountId,
        _: u64,
        _: OffsetDateTime,
    ) -> Result<(), StoreError> {
        Err(not_for_this_bench())
    }
    async fn deliveries(
        &self,
        _: &AccountId,
        _: &common::ids::WebhookId,
        _: OffsetDateTime,
        _: Option<&str>,
        _: usize,
    ) -> Result<Vec<common::store::webhooks::DeliveryAttempt>, StoreError> {
        Err(not_for_this_bench())
    }
}

#[async_trait]
impl common::store::webhooks::DeliveryStore for MemoryStore {
    async fn webhook_secret(
        &self,
        _: &AccountId,
        _: &common::ids::WebhookId,
    ) -> Result<Option<(common::store::webhooks::WebhookRecord, String)>, StoreError> {
        Err(not_for_this_bench())
    }

    async fn record_delivery(
        &self,
        _: &AccountId,
        _: &common::store::webhooks::DeliveryAttempt,
    ) -> Result<(), StoreError> {
        Err(not_for_this_bench())
    }

    async fn set_webhook_failing(
        &self,
        _: &AccountId,
        _: &common::ids::WebhookId,
        _: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        Err(not_for_this_bench())
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_string_lossy().into_owned();
    let config = common::config::Config::from_lookup(|name| match name {
        "VP_ENV" => Some("local".into()),
        "VP_DATA_DIR" => Some(data_dir.clone()),
        _ => None,
    })
    .unwrap();
    let store = Arc::new(SqliteStore::open(std::path::Path::new(":memory:"), 0).unwrap());
    let account = AccountId::parse("acct_bench").unwrap();
    runtime.block_on(async {
        let key = NewKey {
            id: KeyId::generate(),
            account: account.clone(),
            name: common::key_name::KeyName::parse("Bench").unwrap(),
            prefix: KEY[..12].to_string(),
            hash: KeyHash::of(KEY),
            created_at: common::clock::now(),
            expires_at: None,
            sessions_per_day: None,
        };
        store.create_key(key, Origin::default()).await.unwrap();
        store
            .grant_credits(&account, 1_000_000_000, "bench", common::clock::now())
            .await
            .unwrap();
    });
    // create-session's own state, built as its cold start builds it.
    let state = |store: Arc<dyn Store>| {
        create_session::State::build(Startup::with_store(config.clone(), store)).unwrap()
    };
    let embedded = state(store.clone());
    // Its parts, to see where the time goes: signing the session token, and the debit alone.
    let signer = &embedded.signer;
    let session = common::ids::SessionId::generate();
    c.bench_function("ES256 session token", |b| {
        b.iter(|| {
            signer
                .issue(
                    &account,
                    &session,
                    common::api_key::KeyMode::Live,
                    common::clock::now(),
                )
                .unwrap()
        })
    });
    let resolved = runtime
        .block_on(store.resolve_key(&KeyHash::of(KEY)))
        .unwrap()
        .unwrap();
    c.bench_function("debit on the embedded store in memory", |b| {
        b.to_async(&runtime).iter(|| async {
            let debit = SessionDebit {
                session: common::ids::SessionId::generate(),
                at: common::clock::now(),
                origin: Origin::default(),
                spend: common::store::Spend::Credit,
            };
            store.debit_session(&resolved, debit, None).await.unwrap()
        })
    });
    // The whole invocation as the runtime runs it: span, route check, deadline, handler.
    let deadline = config.request_deadline;
    let handler = |c: &mut Criterion, name: &str, state: &create_session::State| {
        c.bench_function(name, |b| {
            b.to_async(&runtime).iter_batched(
                || lambda_http::request::from_str(EVENT).unwrap(),
                |req| async {
                    let response = respond(
                        &[Route::CreateSession],
                        state,
                        deadline,
                        req,
                        create_session::handle,
                    )
                    .await;
                    assert_eq!(response.status(), 200);
                },
                BatchSize::SmallInput,
            )
        });
    };
    handler(c, "create-session handler (embedded store in memory)", &embedded);
    let memory = MemoryStore {
        key: (KeyHash::of(KEY), resolved),
        balance: Mutex::new(u64::MAX),
    };
    handler(
        c,
        "create-session handler (in-memory store)",
        &state(Arc::new(memory)),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
