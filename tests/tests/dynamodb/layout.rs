//! The table's layout, held to the committed v1 fixture (`tests::layout`): what today's code
//! writes has exactly the fixture's item shapes, and the fixture, loaded into a table, is a
//! consistent store as today's code reads it. The layout redesign (issue 19) starts from here:
//! its migration takes this fixture in and must come out with the same keys, balances and
//! ledger.
//!
//! `VP_WRITE_LAYOUT_FIXTURE=1` writes the fixture from a fresh run instead of comparing (never
//! under CI).

use common::store::verify_ledger;
use tests::dynamo::{client, fresh_table, fresh_table_unfollowed, settled};
use tests::layout::{ACCOUNTS, FIXTURE, dump, load, shapes, write_every_kind};
use tests::*;

const WRITE_VAR: &str = "VP_WRITE_LAYOUT_FIXTURE";

/// Attributes the code writes that the v1 fixture lacks, each one that today's code reads from
/// a v1 table without a migration: (pk pattern, sk pattern, attribute, how a v1 table is read).
const ADDED_SINCE_V1: &[(&str, &str, &str, &str)] = &[
    (
        "ACCOUNT#{id}",
        "KEY#{id}",
        "lastUsedAt",
        "written from the stream; a v1 table's last uses are still read from the account's liveKeys",
    ),
    (
        "KEYHASH#{id}",
        "KEYHASH",
        "expiresAt",
        "the expiry a key is made with; a v1 table has it in the account's keyExpiries, which the debit's condition still reads",
    ),
];

fn committed() -> Vec<serde_json::Value> {
    let text =
        std::fs::read_to_string(workspace_root().join(FIXTURE)).unwrap_or_else(|e| panic!("{FIXTURE}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{FIXTURE}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_todays_code_writes_has_the_shapes_of_the_v1_fixture() {
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
    // THEN every kind of item has the shape the fixture holds
    let (now, mut then) = (shapes(&items), shapes(&committed()));
    for (pk, sk, attribute, _) in ADDED_SINCE_V1 {
        then.get_mut(&(pk.to_string(), sk.to_string()))
            .unwrap()
            .insert(attribute.to_string());
    }
    assert_eq!(
        now, then,
        "the table's layout changed: a table in the v1 layout needs a migration (issue 19)"
    );
    let kinds: Vec<String> = now.keys().map(|(pk, sk)| format!("{pk} {sk}")).collect();
    assert_eq!(kinds.len(), 7, "one of every kind: {kinds:?}");
}

#[tokio::test]
async fn the_v1_fixture_loaded_into_a_table_is_a_consistent_store() {
    // GIVEN the fixture in a table nobody's ledger follows (its ledger is in the fixture)
    let raw = client(None);
    let table = fresh_table_unfollowed(&raw).await;
    let items = committed();
    load(&raw, &table, &items).await;
    let store = common::store::dynamodb::DynamoStore::new(client(None), table, 3);
    // THEN each account's ledger explains its balance, entry by entry
    for acct in ACCOUNTS {
        let check = verify_ledger(&store, &account(acct)).await.unwrap().unwrap();
        assert!(check.ok && check.behind == 0, "{acct}: {check:?}");
    }
    // AND the keys list as written: the rolled key and its successor, the leaked one, and not
    // the deleted one
    use common::store::Store;
    let listed = store.list_keys(&account(ACCOUNTS[0])).await.unwrap();
    let mut names: Vec<&str> = listed.iter().map(|k| k.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["Expiring", "Leaked", "Limited", "Plain", "Rolled", "Rolled"]
    );
    assert_eq!(listed.iter().filter(|k| k.leaked_at.is_some()).count(), 1);
    // (the keys' last uses from where a v1 table keeps them)
    let used: Vec<&str> = listed
        .iter()
        .filter(|k| k.last_used_at.is_some())
        .map(|k| k.name.as_str())
        .collect();
    assert!(used.contains(&"Limited") && used.contains(&"Plain"), "{used:?}");
    assert_eq!(
        store
            .balance(&account(ACCOUNTS[0]))
            .await
            .unwrap()
            .unwrap()
            .credits,
        0
    );
    assert_eq!(store.list_keys(&account(ACCOUNTS[1])).await.unwrap().len(), 1);
    // AND the fixture holds every kind of item the layout has
    assert_eq!(shapes(&items).len(), 7, "{:#?}", shapes(&items).keys());
}
