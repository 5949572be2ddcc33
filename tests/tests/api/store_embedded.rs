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

tests::conformance_tests!(embedded);
