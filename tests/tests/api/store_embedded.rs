//! The store conformance suite on the embedded (SQLite) store.

use std::sync::Arc;
use tests::conformance::{FREE_CREDITS, StoreUnderTest};

async fn embedded() -> StoreUnderTest {
    let dir = tempfile::tempdir().unwrap();
    let store =
        common::store::sqlite::SqliteStore::open(&dir.path().join("conformance.db"), FREE_CREDITS).unwrap();
    StoreUnderTest {
        store: Arc::new(store),
        guard: Box::new(dir),
    }
}

/// Every behaviour of the conformance suite (`tests::conformance`), each on a fresh store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_embedded_store_has_every_behaviour_a_store_must_have() {
    tests::conformance::conforms(embedded).await;
}

/// `key.expiring` reminders (their own trait, so their own runner).
#[tokio::test]
async fn the_embedded_store_reminds_of_keys_about_to_expire() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        common::store::sqlite::SqliteStore::open(&dir.path().join("reminders.db"), FREE_CREDITS).unwrap(),
    );
    tests::conformance::webhooks::a_key_that_expires_is_reminded_seven_days_and_one_day_before_while_it_lives_with_that_expiry(
        store.clone(),
        store,
    )
    .await;
}
