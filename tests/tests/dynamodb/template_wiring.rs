//! The template's stream wiring against what the code really writes. The ledger mapping's
//! filter, and the credit-events pipe's filter, detail type and input template, are read from
//! template.yaml and applied to the stream records of a real run (as the local relay delivers
//! them, in the form Lambda and Pipes receive). The local relay itself applies no filter, so
//! without this a typo in either would starve the ledger or the bus in AWS with every test green.

use crate::ledger::{SESSIONS, assert_whole, unwritten_ledger};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodb::types::AttributeValue;
use common::ledger_stream;
use common::store::dynamodb::DynamoStore;
use serde_json::Value;
use std::convert::Infallible;
use tests::dynamo::{self, client};
use tests::*;

fn template() -> serde_yaml::Value {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn patterns(filter_criteria: &serde_yaml::Value) -> Vec<Value> {
    filter_criteria["Filters"]
        .as_sequence()
        .expect("FilterCriteria.Filters")
        .iter()
        .map(|f| {
            serde_json::from_str(f["Pattern"].as_str().expect("a Pattern string")).expect("a JSON pattern")
        })
        .collect()
}

/// Does `event` match the EventBridge/Lambda event pattern `pattern`? The operators the template
/// may use are implemented; any other fails the test rather than guess.
fn matches(pattern: &Value, event: &Value) -> bool {
    let Value::Object(fields) = pattern else {
        panic!("a pattern is an object: {pattern}")
    };
    fields.iter().all(|(name, wanted)| {
        let got = event.get(name);
        match wanted {
            Value::Object(_) => got.is_some_and(|g| matches(wanted, g)),
            Value::Array(options) => {
                let candidates: Vec<&Value> = match got {
                    Some(Value::Array(items)) => items.iter().collect(),
                    Some(value) => vec![value],
                    None => vec![],
                };
                options.iter().any(|option| match option {
                    Value::Object(operator) => match operator.iter().next() {
                        Some((op, Value::String(prefix))) if op == "prefix" => candidates
                            .iter()
                            .any(|c| c.as_str().is_some_and(|s| s.starts_with(prefix.as_str()))),
                        Some((op, Value::Bool(exists))) if op == "exists" => got.is_some() == *exists,
                        _ => panic!("unsupported pattern operator {option}: teach this test its meaning"),
                    },
                    scalar => candidates.contains(&scalar),
                })
            }
            other => panic!("a pattern's values are arrays or objects, not {other}"),
        }
    })
}

fn matches_any(patterns: &[Value], record: &Value) -> bool {
    patterns.iter().any(|p| matches(p, record))
}

/// The value at a `$.a.b.c` path of the record.
fn at<'v>(record: &'v Value, path: &str) -> Option<&'v Value> {
    path.strip_prefix("$.")
        .expect("a path from the record's root")
        .split('.')
        .try_fold(record, |value, step| value.get(step))
}

/// Pipes' input template: each `<$.path>` replaced by the (string) value at that path.
fn render(template: &str, record: &Value) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("<$.") {
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find('>').expect("a closed placeholder");
        let path = &rest[start + 1..end];
        let value = at(record, path).unwrap_or_else(|| panic!("{path} is not in the record {record}"));
        out.push_str(
            value
                .as_str()
                .unwrap_or_else(|| panic!("{path} is not a string: {value}")),
        );
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Every record the stream holds now that `stream` has not yet read.
async fn read_all(stream: &mut common::local_stream::StreamFollower) -> Vec<EventRecord> {
    let mut records = Vec::new();
    let mut capture = |event: Event| {
        records.extend(event.records);
        async { Ok::<_, Infallible>(DynamoDbEventResponse::default()) }
    };
    while stream.step(&mut capture).await.unwrap() {}
    records
}

fn json(record: &EventRecord) -> Value {
    serde_json::to_value(record).unwrap()
}

#[tokio::test]
async fn the_ledger_mapping_and_the_credit_events_pipe_select_what_the_code_writes() {
    let template = template();
    let resources = &template["Resources"];
    let ledger_filter = patterns(
        &resources["LedgerFunction"]["Properties"]["Events"]["Changes"]["Properties"]["FilterCriteria"],
    );
    let pipe = &resources["CreditEventsPipe"]["Properties"];
    let pipe_filter = patterns(&pipe["SourceParameters"]["FilterCriteria"]);
    let input_template = pipe["TargetParameters"]["InputTemplate"]
        .as_str()
        .expect("InputTemplate");
    let detail_type = pipe["TargetParameters"]["EventBridgeEventBusParameters"]["DetailType"]
        .as_str()
        .expect("DetailType");

    // GIVEN a run's stream: a key created, credits granted, sessions down to 0 (crossing the
    // low-credit threshold and exhaustion), nothing of it in the ledger yet
    let (table, store, _dir) = unwritten_ledger().await;
    let mut stream = dynamo::stream_of(&table).await;
    let changes = read_all(&mut stream).await;
    assert!(changes.len() > SESSIONS, "{} records", changes.len());

    // WHEN the ledger function gets only what its mapping's filter passes
    let for_ledger: Vec<EventRecord> = changes
        .iter()
        .filter(|r| matches_any(&ledger_filter, &json(r)))
        .cloned()
        .collect();
    // In normal running the ledger's filter passes account items, and the inserted audit
    // events of keys made, deleted, rolled or leaked (the webhook events it queues): never a
    // session's key.used.
    let sk = |r: &EventRecord| match r.change.keys.get("sk") {
        Some(serde_dynamo::AttributeValue::S(sk)) => sk.clone(),
        _ => String::new(),
    };
    let action = |r: &EventRecord| match r.change.new_image.get("action") {
        Some(serde_dynamo::AttributeValue::S(action)) => action.clone(),
        _ => String::new(),
    };
    assert!(
        for_ledger.iter().all(|r| sk(r) == "ACCOUNT"
            || (r.event_name == "INSERT"
                && sk(r).starts_with("AUDIT#")
                && ["key.created", "key.deleted", "key.rolled", "key.leaked"].contains(&action(r).as_str()))),
        "the ledger's filter passes account items and key audit INSERTs only"
    );
    assert!(
        for_ledger.iter().any(|r| action(r) == "key.created"),
        "the key's creation reaches the ledger function (its key.created webhook event)"
    );
    let ledger = DynamoStore::new(client(None), table.clone(), 0);
    let mut event = Event::default();
    event.records = for_ledger;
    let response = ledger_stream::handle(&ledger, event.clone()).await;
    // THEN the ledger is whole: every balance change passed the filter
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_whole(store.as_ref()).await;

    // WHEN the pipe's filter is applied to every record, the ledger function's writes included
    let written = read_all(&mut stream).await;
    let all: Vec<Value> = changes.iter().chain(&written).map(json).collect();
    let to_bus: Vec<&Value> = all.iter().filter(|r| matches_any(&pipe_filter, r)).collect();
    // THEN it passes exactly the INSERTs of the low-credit events the ledger function wrote
    let events = store.credit_events(&account(FIXTURE_ACCOUNT)).await.unwrap();
    assert_eq!(
        to_bus.len(),
        events.len(),
        "one bus event per low-credit event: {to_bus:#?}"
    );
    for (record, event) in to_bus.iter().zip(&events) {
        assert_eq!(record["eventName"], "INSERT");
        // AND the detail type and the input template read attributes the item really has
        let detail_type = at(record, detail_type).and_then(Value::as_str);
        assert_eq!(detail_type, Some(event.event.as_str()));
        let detail: Value = serde_json::from_str(&render(input_template, record))
            .unwrap_or_else(|e| panic!("the input template renders no JSON ({e}): {record}"));
        assert_eq!(detail["event"], event.event.as_str(), "{detail}");
        assert_eq!(detail["accountId"], FIXTURE_ACCOUNT, "{detail}");
        assert_eq!(detail["credits"], event.credits.to_string(), "{detail}");
        assert!(detail["id"].as_str().is_some_and(|id| !id.is_empty()), "{detail}");
        assert!(
            detail["threshold"]
                .as_str()
                .is_some_and(|t| t.parse::<u64>().is_ok()),
            "{detail}"
        );
        assert!(
            detail["keyId"].as_str().is_some_and(|k| k.starts_with("key_")),
            "{detail}"
        );
        assert!(
            detail["at"]
                .as_str()
                .is_some_and(|t| common::clock::parse_rfc3339(t).is_ok()),
            "{detail}"
        );
    }

    // WHEN the ledger's batch is delivered again (a retry after a timeout)
    let again = ledger_stream::handle(&ledger, event).await;
    assert!(again.batch_item_failures.is_empty(), "{again:?}");
    // THEN the pipe passes nothing more: the bus gets one event per crossing
    let rewritten = read_all(&mut stream).await;
    let more: Vec<Value> = rewritten
        .iter()
        .map(json)
        .filter(|r| matches_any(&pipe_filter, r))
        .collect();
    assert!(more.is_empty(), "a redelivery put more on the bus: {more:#?}");
    // AND nothing the ledger function writes, first or again, comes back to it changed: the
    // local server records a rewrite that changes nothing as a MODIFY with equal images, which
    // DynamoDB does not record at all (and which trips no wire)
    let echoes: Vec<Value> = written
        .iter()
        .chain(&rewritten)
        .map(json)
        .filter(|r| matches_any(&ledger_filter, r))
        .filter(|r| r["dynamodb"]["OldImage"] != r["dynamodb"]["NewImage"])
        .collect();
    assert!(
        echoes.is_empty(),
        "the ledger function's own writes reach it: {echoes:#?}"
    );

    // WHEN a ledger row is changed and removed, and a lookup changed, behind the API's back
    let entry = &store.ledger(&account(FIXTURE_ACCOUNT)).await.unwrap()[0];
    let row = (
        format!("LEDGER#{FIXTURE_ACCOUNT}"),
        format!("LEDGER#{}", entry.id),
    );
    let lookup = (
        format!("KEYHASH#{}", common::api_key::KeyHash::of(KEY_OK).as_str()),
        "KEYHASH".to_string(),
    );
    let (n, s) = (
        AttributeValue::N("1000".into()),
        AttributeValue::S("key_01JF0000000000000000000009".into()),
    );
    dynamo::update_behind_the_apis_back(&table, row.clone(), "SET amount = :n", &[(":n", n)]).await;
    dynamo::update_behind_the_apis_back(&table, lookup, "SET keyId = :s", &[(":s", s)]).await;
    client(None)
        .delete_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(row.0))
        .key("sk", AttributeValue::S(row.1))
        .send()
        .await
        .unwrap();
    // THEN the ledger's filter passes all three, for its tripwires to see
    let tampering = read_all(&mut stream).await;
    let passed: Vec<(String, String)> = tampering
        .iter()
        .map(json)
        .filter(|r| matches_any(&ledger_filter, r))
        .map(|r| {
            (
                r["eventName"].as_str().unwrap().to_string(),
                r["dynamodb"]["Keys"]["sk"]["S"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let ledger_sk = format!("LEDGER#{}", entry.id);
    assert_eq!(
        passed,
        [
            ("MODIFY".to_string(), ledger_sk.clone()),
            ("MODIFY".to_string(), "KEYHASH".to_string()),
            ("REMOVE".to_string(), ledger_sk),
        ],
        "{tampering:#?}"
    );
}
