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
