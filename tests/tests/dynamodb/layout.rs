//! The table's layout, and the move from layout 1 to layout 2 (`vpctl table migrate`).
//!
//! What today's code writes is held to the committed layout-2 fixture; the committed layout-1
//! fixture, written by the code of layout 1, is what the move is tested on: it comes out as a
//! consistent store with the same keys, balances and ledger, a stopped move is finished by
//! running it again, and a move made while sessions and grants go on loses and double-counts
//! nothing. `VP_WRITE_LAYOUT_FIXTURE=1` writes the layout-2 fixture from a fresh run instead of
//! comparing (never under CI).

use common::ids::AccountId;
use common::store::dynamodb::DynamoStore;
use common::store::usage::{Granularity, Usage, UsageQuery};
use common::store::{
    DebitOutcome, Leak, LeakRevocation, LedgerKind, ReportedLeak, ResolvedKey, Store, StoreError,
    verify_ledger,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tests::conformance::{debit_at, origin};
use tests::dynamo::{
    CallCounter, Fault, FaultInjector, client, faulty_client, fresh_table, fresh_table_unfollowed, settled,
};
use tests::layout::{
    ACCOUNTS, FIXTURE, FIXTURE_V1, committed, dump, key_hash_named, load, shapes, write_every_kind,
};
use tests::*;

const WRITE_VAR: &str = "VP_WRITE_LAYOUT_FIXTURE";

/// The shapes less what only test keys' sessions write: the account's test count, their usage
/// counters and `key.used`'s mode (test keys came after layout 1, so a moved table has none);
/// and less the `key.expiring` reminders, which a key gets when it is made (or rolled onto):
/// keys moved from layout 1 were made before there were reminders, and get none.
fn without_test_sessions(
    mut shapes: std::collections::BTreeMap<(String, String), std::collections::BTreeSet<String>>,
) -> std::collections::BTreeMap<(String, String), std::collections::BTreeSet<String>> {
    let reminders = ("REMIND#{id}".to_string(), "REMIND#{id}".to_string());
    assert!(
        shapes.remove(&reminders).is_some(),
        "the fixture holds a key's reminders"
    );
    for ((pk, sk), attributes) in shapes.iter_mut() {
        let only_tests: &[&str] = match (pk.as_str(), sk.as_str()) {
            ("ACCOUNT#{id}", _) => &["testUse"],
            ("AUDIT#{id}", _) => &["mode"],
            ("USAGE#{id}", "USAGE#{id}") => &["t#{id}#{hour}"],
            _ => &[],
        };
        for attribute in only_tests {
            assert!(attributes.remove(*attribute), "{pk} has {attribute}");
        }
    }
    shapes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_todays_code_writes_has_the_shapes_of_the_layout_fixture() {
    // GIVEN a run that writes one of every kind of item, its ledger written from the stream
    let raw = client(None);
    let table = fresh_table(&raw).await;
    let dir = fixture_data_dir();
    let config = local_config(dir.path(), &[("VP_TABLE_NAME", &table)]);
    let store = settled(client(None), table.clone(), config.free_credits);
    let app = Functions::new(config, store.clone()).unwrap();
    write_every_kind(&app).await;
    for acct in ACCOUNTS {
        let check = verify_ledger(store.as_ref(), &account(acct))
            .await
            .unwrap()
            .unwrap();
        assert!(check.ok && check.behind == 0, "{acct}: {check:?}");
    }
    // WHEN the table is dumped
    let items = dump(&raw, &table).await;
    if std::env::var_os(WRITE_VAR).is_some() {
        assert!(std::env::var_os("CI").is_none(), "{WRITE_VAR} is set under CI");
        let text = serde_json::to_string_pretty(&items).unwrap() + "\n";
        std::fs::write(workspace_root().join(FIXTURE), text).unwrap();
        eprintln!("wrote {} items to {FIXTURE}", items.len());
    }
    // THEN every kind of item has the shape the fixture holds: a layout change shows here, and
    // needs a move of its own
    let now = shapes(&items);
    assert_eq!(
        now,
        shapes(&committed(FIXTURE)),
        "the table's layout changed: tables in layout 2 need a migration"
    );
    let kinds: Vec<String> = now.keys().map(|(pk, sk)| format!("{pk} {sk}")).collect();
    assert_eq!(kinds.len(), 10, "one of every kind: {kinds:?}");
}

/// The layout-1 fixture in a table nobody's ledger follows (its ledger is in the fixture).
async fn layout_1_table() -> (String, Vec<serde_json::Value>) {
    let raw = client(None);
    let table = fresh_table_unfollowed(&raw).await;
    let items = committed(FIXTURE_V1);
    load(&raw, &table, &items).await;
    (table, items)
}

/// The account's usage over `query`, checked against its ledger: every session and every
/// granted credit counted once.
async fn usage_matches_ledger(store: &dyn Store, acct: &AccountId, query: &UsageQuery) -> Usage {
    let ledger = store.ledger(acct).await.unwrap();
    let usage = store.usage(acct, query, common::clock::now()).await.unwrap();
    let total = |kind| {
        ledger
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.amount)
            .sum::<u64>()
    };
    let sessions: u64 = usage.sessions.values().flat_map(|c| c.values()).sum();
    assert_eq!(
        (sessions, usage.granted),
        (total(LedgerKind::Debit), total(LedgerKind::Grant)),
        "{acct}"
    );
    usage
}

async fn resolve(
    store: &dyn Store,
    items: &[serde_json::Value],
    name: &str,
) -> Result<Option<ResolvedKey>, StoreError> {
    store.resolve_key(&key_hash_named(items, name)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layout_1_fixture_moves_with_its_keys_balances_and_ledger() {
    // GIVEN the layout-1 fixture, which today's code serves none of yet
    let (table, items) = layout_1_table().await;
    let store = DynamoStore::new(client(None), table.clone(), 3);
    assert!(matches!(
        resolve(&store, &items, "Plain").await,
        Err(StoreError::Unavailable { .. })
    ));
    // (nor makes a key on it: its keys' state is still layout 1's, and a slot given now would
    // be given again by the move)
    let (_, early) = conformance::new_key(ACCOUNTS[0], "Too early", common::clock::now());
    let made = store.create_key(early, origin()).await;
    assert!(matches!(made, Err(StoreError::Unavailable { .. })), "{made:?}");
    // WHEN a dry run looks at it THEN it finds both accounts, their ledgers explaining their
    // balances (the check `vpctl credits verify` makes, before the move), and writes nothing
    let planned = store.migrate_table(true, |_| {}).await.unwrap();
    assert_eq!(
        planned
            .iter()
            .map(|m| (m.account.as_str(), m.keys))
            .collect::<Vec<_>>(),
        [("acct_layout_a", 6), ("acct_layout_b", 1)],
        "the live keys of each (the deleted one stays behind)"
    );
    assert!(planned.iter().all(|m| m.ledger_entries > 0 && !m.already_moved));
    assert_eq!(
        dump(&client(None), &table).await,
        items,
        "a dry run writes nothing"
    );
    // WHEN the table is moved
    let moved = store.migrate_table(false, |_| {}).await.unwrap();
    assert_eq!(moved.len(), 2);
    // THEN it has exactly the item shapes today's code writes, but for what only a test key's
    // session writes (layout 1 had no test keys; a moved account gets them on its first)
    let after = dump(&client(None), &table).await;
    assert_eq!(shapes(&after), without_test_sessions(shapes(&committed(FIXTURE))));
    // AND each account's ledger explains its balance, as `vpctl credits verify` checks it
    for acct in ACCOUNTS {
        let check = verify_ledger(&store, &account(acct)).await.unwrap().unwrap();
        assert!(check.ok && check.behind == 0, "{acct}: {check:?}");
    }
    assert_eq!(
        store
            .balance(&account(ACCOUNTS[0]))
            .await
            .unwrap()
            .unwrap()
            .credits,
        0
    );
    // AND the keys list as they were: the rolled key and its successor, the leaked one, not
    // the deleted one; with their last uses
    let listed = store.list_keys(&account(ACCOUNTS[0])).await.unwrap();
    let mut names: Vec<&str> = listed.iter().map(|k| k.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["Expiring", "Leaked", "Limited", "Plain", "Rolled", "Rolled"]
    );
    assert_eq!(listed.iter().filter(|k| k.leaked_at.is_some()).count(), 1);
    let used: Vec<&str> = listed
        .iter()
        .filter(|k| k.last_used_at.is_some())
        .map(|k| k.name.as_str())
        .collect();
    assert!(used.contains(&"Limited") && used.contains(&"Plain"), "{used:?}");
    assert_eq!(store.list_keys(&account(ACCOUNTS[1])).await.unwrap().len(), 1);
    // AND the usage of its history is counted from the ledger, to the session and the credit
    let day = time::macros::datetime!(2026-12-06 0:00 UTC);
    let query = UsageQuery::covering(day, day + time::Duration::DAY, Granularity::Day).unwrap();
    for acct in ACCOUNTS {
        let usage = usage_matches_ledger(&store, &account(acct), &query).await;
        assert!(
            usage.caught_up_to > day,
            "{acct}: counted up to the last change: {usage:?}"
        );
    }
    // AND the moved keys work: a live key opens a session once credits are granted; the
    // leaked and deleted ones are refused; the rolled key is still in its grace
    store
        .grant_credits(&account(ACCOUNTS[0]), 2, "after the move", common::clock::now())
        .await
        .unwrap();
    for name in ["Plain", "Limited"] {
        let key = resolve(&store, &items, name).await.unwrap().unwrap();
        let outcome = store
            .debit_session(&key, debit_at(common::clock::now()), None)
            .await
            .unwrap();
        assert!(
            matches!(outcome, DebitOutcome::Debited { .. }),
            "{name}: {outcome:?}"
        );
    }
    for name in ["Leaked", "Deleted"] {
        assert_eq!(resolve(&store, &items, name).await.unwrap(), None, "{name}");
    }
    // AND running it again finds nothing to do
    assert_eq!(store.accounts_in_layout_1().await.unwrap(), Vec::<String>::new());
    assert_eq!(store.migrate_table(false, |_| {}).await.unwrap(), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_stopped_anywhere_is_finished_by_running_it_again() {
    // GIVEN the table a move that nothing stopped makes
    let (clean, _) = layout_1_table().await;
    DynamoStore::new(client(None), clean.clone(), 3)
        .migrate_table(false, |_| {})
        .await
        .unwrap();
    let expected = dump(&client(None), &clean).await;
    // Account A (moved alone, so that the count is its own) has 6 live keys: its move copies (BatchWriteItem #1, #2), counts its history's
    // usage (UpdateItem #1: its one day; #2: how far the counts go), gives 6 lookups their
    // slots (#3 to #8), turns the account item (#9) and removes layout 1's items
    // (BatchWriteItem #3 on).
    let stops = [
        ("BatchWriteItem", 1, false),
        ("UpdateItem", 1, true),
        ("UpdateItem", 3, false),
        ("UpdateItem", 9, false),
        ("UpdateItem", 9, true),
        ("BatchWriteItem", 3, false),
    ];
    for (operation, occurrence, response_lost) in stops {
        let (table, _) = layout_1_table().await;
        let injector = FaultInjector::default();
        let store = DynamoStore::new(
            faulty_client(injector.clone(), CallCounter::default()),
            table.clone(),
            3,
        );
        // WHEN a move stops there
        injector.arm(Fault {
            operation,
            occurrence,
            response_lost,
        });
        let stopped = store.move_account(ACCOUNTS[0], false).await;
        injector.disarm();
        let at = format!(
            "{operation} #{occurrence}{}",
            if response_lost { " (answer lost)" } else { "" }
        );
        assert!(injector.fired() && stopped.is_err(), "{at}: {stopped:?}");
        // THEN running it again finishes it: the table is the one a clean move makes
        store.migrate_table(false, |_| {}).await.unwrap();
        assert_eq!(dump(&client(None), &table).await, expected, "stopped at {at}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_table_moves_while_the_api_serves_and_nothing_is_lost_or_counted_twice() {
    const SESSIONS: usize = 30;
    // GIVEN the layout-1 fixture in a table whose ledger the ledger function follows, and
    // credits granted to account A while it is still in layout 1 (a grant names no key)
    let raw = client(None);
    let table = fresh_table(&raw).await;
    let items = committed(FIXTURE_V1);
    load(&raw, &table, &items).await;
    let store = settled(client(None), table.clone(), 3);
    let mover = DynamoStore::new(client(None), table.clone(), 3);
    let (a, b) = (account(ACCOUNTS[0]), account(ACCOUNTS[1]));
    store
        .grant_credits(&a, SESSIONS as u64, "before the move", common::clock::now())
        .await
        .unwrap();
    // AND account B's key reported leaked while it waits: its lookup ends it
    let report = ReportedLeak {
        hash: key_hash_named(&items, "Only"),
        leak: Leak {
            url: Some("https://github.com/octo/app/blob/4f2c/.env".into()),
            source: Some("content".into()),
        },
    };
    let revoked = store
        .revoke_leaked(&[report], common::clock::now(), origin())
        .await
        .unwrap();
    assert!(
        matches!(revoked[..], [LeakRevocation::Revoked { .. }]),
        "{revoked:?}"
    );
    // WHEN sessions keep asking for account A's key, each until it gets one, and the move
    // starts once every one of them has been told to come back (503) ...
    let told_to_wait = Arc::new(AtomicUsize::new(0));
    let hash = key_hash_named(&items, "Plain");
    let sessions: Vec<_> = (0..SESSIONS)
        .map(|_| {
            let (store, hash, told_to_wait) = (store.clone(), hash.clone(), told_to_wait.clone());
            tokio::spawn(async move {
                let mut waited = false;
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                loop {
                    assert!(std::time::Instant::now() < deadline, "no session within 60 s");
                    let outcome = match store.resolve_key(&hash).await {
                        Ok(Some(key)) => {
                            store
                                .debit_session(&key, debit_at(common::clock::now()), None)
                                .await
                        }
                        Ok(None) => panic!("a live key stopped resolving"),
                        Err(e) => Err(e),
                    };
                    match outcome {
                        Ok(DebitOutcome::Debited { .. }) => return waited,
                        Err(StoreError::Unavailable { .. }) => {
                            if !waited {
                                told_to_wait.fetch_add(1, Ordering::SeqCst);
                                waited = true;
                            }
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                        other => panic!("{other:?}"),
                    }
                }
            })
        })
        .collect();
    while told_to_wait.load(Ordering::SeqCst) < SESSIONS {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // ... with another grant landing while it runs
    let (moved, granted) = tokio::join!(
        mover.migrate_table(false, |_| {}),
        store.grant_credits(&a, 5, "during the move", common::clock::now())
    );
    assert_eq!(moved.unwrap().len(), 2);
    granted.unwrap();
    // THEN every session got through exactly once
    for session in sessions {
        assert!(session.await.unwrap(), "every session waited first");
    }
    // AND account A holds exactly what was granted less what was spent, every change in its
    // ledger once
    let balance = store.balance(&a).await.unwrap().unwrap();
    assert_eq!(
        (balance.credits, balance.granted, balance.debited),
        (5, 7 + 35, 7 + 30)
    );
    for acct in [&a, &b] {
        let check = verify_ledger(store.as_ref(), acct).await.unwrap().unwrap();
        assert!(check.ok && check.behind == 0, "{acct}: {check:?}");
    }
    // AND its usage counts every change once: the history the move counted and the changes the
    // ledger function counted while it ran
    let now = common::clock::now();
    let query = UsageQuery::covering(
        time::macros::datetime!(2026-12-06 0:00 UTC),
        now + time::Duration::minutes(1),
        Granularity::Day,
    )
    .unwrap();
    usage_matches_ledger(store.as_ref(), &a, &query).await;
    // AND the key reported while its account waited is listed leaked and stays ended
    let only = store.list_keys(&b).await.unwrap();
    assert!(only.len() == 1 && only[0].leaked_at.is_some(), "{only:?}");
    assert_eq!(resolve(store.as_ref(), &items, "Only").await.unwrap(), None);
    assert_eq!(mover.accounts_in_layout_1().await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn vpctl_table_migrate_says_what_it_would_move_then_moves_it_then_finds_nothing_left() {
    // GIVEN the layout-1 fixture, and the operator CLI pointed at its table
    let (table, _) = layout_1_table().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(server::vpctl_path())
            .args(args)
            .env("VP_ENV", "local")
            .env("VP_DATA_DIR", dir.path())
            .envs(dynamo::sdk_env(&table))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "vpctl {args:?}: {stderr}");
        let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (lines, stderr)
    };
    let moves = |lines: &[serde_json::Value]| -> Vec<(String, bool, u64)> {
        lines
            .iter()
            .map(|l| {
                (
                    l["account"].as_str().unwrap().to_string(),
                    l["dryRun"].as_bool().unwrap(),
                    l["keys"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    // WHEN it is asked for a dry run THEN it names both accounts and their live keys, and
    // moves nothing
    let (lines, said) = run(&["table", "migrate", "--dry-run"]);
    assert_eq!(
        moves(&lines),
        [
            ("acct_layout_a".into(), true, 6),
            ("acct_layout_b".into(), true, 1)
        ]
    );
    assert!(said.contains("2 account(s) to move (dry run"), "{said}");
    let store = DynamoStore::new(client(None), table.clone(), 3);
    assert_eq!(store.accounts_in_layout_1().await.unwrap().len(), 2);
    // WHEN it moves the table THEN both accounts move, and a second run finds nothing
    let (lines, _) = run(&["table", "migrate"]);
    assert_eq!(
        moves(&lines),
        [
            ("acct_layout_a".into(), false, 6),
            ("acct_layout_b".into(), false, 1)
        ]
    );
    assert!(
        lines
            .iter()
            .all(|l| l["alreadyMoved"] == false && l["ledgerEntries"].as_u64() > Some(0))
    );
    let (lines, said) = run(&["table", "migrate"]);
    assert!(lines.is_empty() && said.contains("0 account(s) moved"), "{said}");
    assert_eq!(store.accounts_in_layout_1().await.unwrap(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_counted_while_the_move_recounts_its_day_is_kept() {
    // GIVEN the layout-1 fixture with a grant made since the deploy, which the ledger function
    // has written and counted (this hour's `g#` counter holds it)
    let (table, _) = layout_1_table().await;
    let grant_and_count = |table: String, amount: u64| async move {
        let store = DynamoStore::new(client(None), table.clone(), 3);
        store
            .grant_credits(
                &account(ACCOUNTS[0]),
                amount,
                "since the deploy",
                common::clock::now(),
            )
            .await
            .unwrap();
        let mut deliver = |event| async {
            Ok::<_, std::convert::Infallible>(common::ledger_stream::handle(&store, event).await)
        };
        assert_eq!(dynamo::stream_of(&table).await.step(&mut deliver).await, Ok(true));
    };
    grant_and_count(table.clone(), 30).await;
    // AND a move whose first read of a day's counts is held while another grant lands in the
    // same hour and is counted: after the move has read the ledger, before it recounts the day
    let hook = {
        let table = table.clone();
        move || tokio::runtime::Handle::current().block_on(grant_and_count(table, 5))
    };
    let held = dynamo::BeforeRequest::new("GetItem", "USAGE#acct_layout_a", hook);
    let mover = DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(
            dynamo::config_at(&dynamo::endpoint())
                .interceptor(held.clone())
                .build(),
        ),
        table.clone(),
        3,
    );
    // WHEN the table moves
    mover.migrate_table(false, |_| {}).await.unwrap();
    // THEN the grant is counted once, with the history: usage agrees with the ledger
    assert!(held.ran(), "the grant landed during the recount");
    let day = time::macros::datetime!(2026-12-06 0:00 UTC);
    let query =
        UsageQuery::covering(day, common::clock::now() + time::Duration::DAY, Granularity::Day).unwrap();
    let usage = usage_matches_ledger(&mover, &account(ACCOUNTS[0]), &query).await;
    assert_eq!(usage.granted, 7 + 30 + 5, "{usage:?}");
}
