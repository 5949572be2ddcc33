//! One racer in the cross-process debit test: opens sessions on a shared embedded store file
//! and prints how many succeeded.
//!
//! `debit-worker <db> <api-key> <attempts> <go-file> atomic|read-then-write`
//!
//! `atomic` goes through the real `SqliteStore`. `read-then-write` is a deliberately broken
//! debit (read the balance, then write balance − 1) that exists only so the test can prove it
//! would catch a non-atomic implementation.

use common::api_key::KeyHash;
use common::ids::SessionId;
use common::store::{Origin, SessionDebit, sqlite::SqliteStore};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::time::Duration;
use tests::{OpenSession, SessionOutcome};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, key, attempts, go_file, mode] = args.as_slice() else {
        eprintln!("usage: debit-worker <db> <api-key> <attempts> <go-file> atomic|read-then-write");
        std::process::exit(2);
    };
    let attempts: u32 = attempts.parse().expect("attempts is a number");
    // Start together: every worker waits for the parent's signal file.
    while !Path::new(go_file).exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let hash = KeyHash::of(key);
    let successes = match mode.as_str() {
        "atomic" => atomic(Path::new(db), &hash, attempts),
        "read-then-write" => read_then_write(Path::new(db), &hash, attempts),
        other => panic!("unknown mode {other}"),
    };
    println!("{successes}");
}

fn atomic(db: &Path, hash: &KeyHash, attempts: u32) -> u32 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = SqliteStore::open(db, 0).expect("open store");
    runtime.block_on(async {
        let mut successes = 0;
        for _ in 0..attempts {
            let debit = SessionDebit {
                session: SessionId::generate(),
                at: common::clock::now(),
                origin: Origin::default(),
                spend: common::store::Spend::Credit,
            };
            if let SessionOutcome::Opened { .. } = store.open_session(hash, debit).await.expect("store works")
            {
                successes += 1;
            }
        }
        successes
    })
}

fn read_then_write(db: &Path, hash: &KeyHash, attempts: u32) -> u32 {
    let conn = Connection::open(db).expect("open db");
    conn.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
    let mut successes = 0;
    for _ in 0..attempts {
        let (account, credits): (String, i64) = conn
            .query_row(
                "SELECT a.id, a.credits FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = ?1",
                [hash.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .expect("read")
            .expect("key seeded");
        if credits < 1 {
            continue;
        }
        std::thread::sleep(Duration::from_millis(2)); // the window every racer slips through
        conn.execute(
            "UPDATE accounts SET credits = ?1, debited = debited + 1 WHERE id = ?2",
            params![credits - 1, account],
        )
        .expect("write");
        conn.execute(
            "INSERT INTO ledger (id, account_id, kind, amount, balance_after, at) VALUES (?1, ?2, 'debit', 1, ?3, '2026-01-01T00:00:00Z')",
            params![ulid::Ulid::new().to_string(), account, credits - 1],
        )
        .expect("ledger");
        successes += 1;
    }
    successes
}
