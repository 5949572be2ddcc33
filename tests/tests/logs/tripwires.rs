//! The table's tripwires on the local stack: each change that must never happen, made behind
//! the API's back, reaches the ledger function through the stream (past the template's filter)
//! and is counted once by its metric filter (read from template.yaml and applied to the
//! function's own log lines), while the API's own writes trip nothing.

use super::Capture;
use aws_sdk_dynamodb::types::AttributeValue;
use common::store::Store;
use common::store::dynamodb::DynamoStore;
use std::convert::Infallible;
use tests::dynamo::{self, client, fresh_table_unfollowed, update_behind_the_apis_back};
use tests::*;

/// The ledger function's metric filters: (metric, `$.path` = value conditions).
fn metric_filters() -> Vec<(String, Vec<(String, String)>)> {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let template: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let resources = template["Resources"].as_mapping().unwrap();
    resources
        .values()
        .filter(|r| r["Type"] == "AWS::Logs::MetricFilter")
        .filter(|r| match &r["Properties"]["LogGroupName"] {
            // `!Ref LedgerLogs`
            serde_yaml::Value::Tagged(reference) => {
                reference.tag == "Ref" && reference.value.as_str() == Some("LedgerLogs")
            }
            _ => false,
        })
        .map(|r| {
            let pattern = r["Properties"]["FilterPattern"].as_str().unwrap();
            let conditions = pattern
                .trim()
                .strip_prefix('{')
                .and_then(|p| p.strip_suffix('}'))
                .unwrap_or_else(|| panic!("a JSON filter pattern: {pattern}"))
                .split("&&")
                .map(|c| {
                    let (path, value) = c.split_once('=').unwrap_or_else(|| panic!("only = in {pattern}"));
                    (
                        path.trim().to_string(),
                        value.trim().trim_matches('"').to_string(),
                    )
                })
                .collect();
            let metric = r["Properties"]["MetricTransformations"][0]["MetricName"]
                .as_str()
                .unwrap();
            (metric.to_string(), conditions)
        })
        .collect()
}

fn matches(line: &serde_json::Value, conditions: &[(String, String)]) -> bool {
    conditions.iter().all(|(path, value)| {
        let found = path
            .strip_prefix("$.")
            .expect("a path from the line's root")
            .split('.')
            .try_fold(line, |v, step| v.get(step));
        found.and_then(|v| v.as_str()) == Some(value.as_str())
    })
}

#[tokio::test]
async fn each_change_that_must_never_happen_is_counted_once_by_its_metric() {
    // GIVEN a table whose ledger is written: a key that opened sessions, a deleted key
    let raw = client(None);
    let table = fresh_table_unfollowed(&raw).await;
    let dir = fixture_data_dir();
    let config = local_config(dir.path(), &[("VP_TABLE_NAME", &table)]);
    let store = std::sync::Arc::new(DynamoStore::new(client(None), table.clone(), config.free_credits));
    let app = Functions::new(config, store.clone()).unwrap();
    seed_key(store.as_ref(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    seed_key(
        store.as_ref(),
        FIXTURE_ACCOUNT,
        "key_01JF0000000000000000000001",
        KEY_EMPTY,
    )
    .await;
    for _ in 0..2 {
        assert_eq!(app.create_session(fixture("create-session")).await.status(), 200);
    }
    let gone = common::ids::KeyId::parse("key_01JF0000000000000000000001").unwrap();
    assert!(
        store
            .delete_key(
                &account(FIXTURE_ACCOUNT),
                &gone,
                common::clock::now(),
                Default::default()
            )
            .await
            .unwrap()
    );
    let ledger = DynamoStore::new(client(None), table.clone(), 0);
    let mut stream = dynamo::stream_of(&table).await;
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber =
        common::runtime::log_subscriber(common::runtime::log_filter(Some("info")), move || writer.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut deliver =
        |event| async { Ok::<_, Infallible>(common::ledger_stream::handle(&ledger, event).await) };
    while stream.step(&mut deliver).await.unwrap() {}
    let lines = |capture: &Capture| -> Vec<serde_json::Value> {
        String::from_utf8(capture.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let tripped = |lines: &[serde_json::Value]| {
        lines
            .iter()
            .filter(|l| l["fields"]["alarm"] == "table_tripwire")
            .count()
    };
    assert_eq!(tripped(&lines(&capture)), 0, "the API's own writes trip nothing");
    let entries = store.ledger(&account(FIXTURE_ACCOUNT)).await.unwrap();
    assert!(entries.len() >= 3, "the ledger is written: {entries:?}");
    capture.0.lock().unwrap().clear();

    // WHEN, behind the API's back, a ledger row is changed, the deleted key's lookup loses its
    // deletedAt, and the balance is raised without its version
    let ledger_row = (
        format!("LEDGER#{FIXTURE_ACCOUNT}"),
        format!("LEDGER#{}", entries[0].id),
    );
    update_behind_the_apis_back(
        &table,
        ledger_row,
        "SET amount = :n",
        &[(":n", AttributeValue::N("1000".into()))],
    )
    .await;
    let lookup = (
        format!("KEYHASH#{}", common::api_key::KeyHash::of(KEY_EMPTY).as_str()),
        "KEYHASH".to_string(),
    );
    update_behind_the_apis_back(&table, lookup, "REMOVE deletedAt", &[]).await;
    update_behind_the_apis_back(
        &table,
        (format!("ACCOUNT#{FIXTURE_ACCOUNT}"), "ACCOUNT".into()),
        "SET credits = credits + :n",
        &[(":n", AttributeValue::N("100".into()))],
    )
    .await;
    while stream.step(&mut deliver).await.unwrap() {}

    // THEN each is logged once, and each metric filter counts exactly its own
    let lines = lines(&capture);
    assert_eq!(tripped(&lines), 3, "{lines:#?}");
    let filters = metric_filters();
    let counts: Vec<(String, usize)> = filters
        .iter()
        .map(|(metric, conditions)| {
            (
                metric.clone(),
                lines.iter().filter(|l| matches(l, conditions)).count(),
            )
        })
        .collect();
    for metric in ["LedgerRowChanged", "LookupUnrevoked", "BalanceWithoutVersion"] {
        assert!(counts.contains(&(metric.to_string(), 1)), "{metric}: {counts:?}");
    }
}
