//! CPU per create-session request at the handler: event in, signed session out, on the
//! embedded store in memory (no I/O), so what is measured is our code — request checks, the
//! key hash, the debit's transaction and ES256 signing. `make bench` runs it; criterion's
//! median is the p50 the README reports.

use common::api_key::KeyHash;
use common::handlers::create_session;
use common::ids::{AccountId, KeyId};
use common::store::sqlite::SqliteStore;
use common::store::{NewKey, Origin, Store};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::sync::Arc;

const EVENT: &str = include_str!("../../../events/create-session.json");
/// The key the fixture event carries.
const KEY: &str = "vp_live_0123456789abcdef0123456789abcdef0123456789abcdef012345670ff3c212";

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
    let app = common::App::new(config, store.clone()).unwrap();
    // Its parts, to see where the time goes: signing the session token, and the debit alone.
    let signer = app.playground.as_ref().unwrap();
    let session = common::ids::SessionId::generate();
    c.bench_function("ES256 session token", |b| {
        b.iter(|| signer.issue(&account, &session, common::clock::now()).unwrap())
    });
    let resolved = runtime
        .block_on(store.resolve_key(&KeyHash::of(KEY)))
        .unwrap()
        .unwrap();
    c.bench_function("debit on the embedded store in memory", |b| {
        b.to_async(&runtime).iter(|| async {
            let debit = common::store::SessionDebit {
                session: common::ids::SessionId::generate(),
                at: common::clock::now(),
                origin: Origin::default(),
            };
            store.debit_session(&resolved, debit, None).await.unwrap()
        })
    });
    c.bench_function("create-session handler (embedded store in memory)", |b| {
        b.to_async(&runtime).iter_batched(
            || lambda_http::request::from_str(EVENT).unwrap(),
            |req| async {
                let response = create_session::handle(&app, req).await;
                assert_eq!(response.status(), 200);
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
