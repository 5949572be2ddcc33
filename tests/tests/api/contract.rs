//! The API contract lives in `infra/openapi.yaml`: every error the code answers with — status,
//! exact `error` string and `code` — is documented there as an example, and every documented
//! 400 message is one the bad-input table actually provokes. `docs/API.md` is generated from
//! the same file (`python3 infra/api_doc.py`; `make test` checks it is current).

use common::error::ApiError;
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};
use tests::bad_input::Credentials;
use tests::workspace_root;

type Answers = BTreeSet<(u16, String, String)>;

/// (status, error, code) of every error example of each operation (`METHOD path`), through the
/// `$ref`s of its responses.
fn documented_by_operation() -> BTreeMap<(String, String), Answers> {
    let path = workspace_root().join("infra/openapi.yaml");
    let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut by_operation = BTreeMap::new();
    for (path, operations) in doc["paths"].as_mapping().unwrap() {
        for (method, operation) in operations.as_mapping().unwrap() {
            let found: &mut Answers = by_operation
                .entry((
                    method.as_str().unwrap().to_uppercase(),
                    path.as_str().unwrap().to_string(),
                ))
                .or_default();
            for (status, response) in operation["responses"].as_mapping().unwrap() {
                let status: u16 = status.as_str().unwrap().parse().unwrap();
                let response = match response["$ref"].as_str() {
                    Some(reference) => &doc["components"]["responses"][reference.rsplit('/').next().unwrap()],
                    None => response,
                };
                let examples = response["content"]["application/json"]["examples"].as_mapping();
                for (_, example) in examples.into_iter().flatten() {
                    let value = &example["value"];
                    if value["success"].as_bool() == Some(false) {
                        let (error, code) =
                            (value["error"].as_str().unwrap(), value["code"].as_str().unwrap());
                        found.insert((status, error.to_string(), code.to_string()));
                    }
                }
            }
        }
    }
    by_operation
}

fn documented() -> Answers {
    documented_by_operation().into_values().flatten().collect()
}

#[test]
fn every_error_the_code_answers_with_is_documented_with_its_status_message_and_code() {
    let documented = documented();
    for e in ApiError::catalogue() {
        let entry = (e.status().as_u16(), e.message().to_string(), e.code().to_string());
        assert!(
            documented.contains(&entry),
            "not in infra/openapi.yaml: {entry:?}"
        );
    }
}

#[test]
fn every_bad_input_answer_is_documented_for_its_endpoint_and_every_documented_400_is_provoked() {
    let by_operation = documented_by_operation();
    let all = documented();
    let dir = tests::fixture_data_dir();
    let credentials = Credentials::for_config(
        &tests::local_config(dir.path(), &[]),
        tests::FIXTURE_ACCOUNT,
        tests::KEY_OK,
    );
    let mut provoked = BTreeSet::new();
    for case in credentials.cases() {
        let answer = (case.status, case.error.to_string());
        // A request for a route is documented on that operation; anything else (404, 405) on
        // whichever operation documents the answer.
        let documented: Answers = match common::routes::route_for(case.method, &case.path) {
            Some(route) => {
                by_operation[&(route.spec().method.to_string(), route.spec().path.to_string())].clone()
            }
            None => all.clone(),
        };
        assert!(
            documented.iter().any(|(s, e, _)| (*s, e.clone()) == answer),
            "{}: answered {answer:?}, which infra/openapi.yaml does not document there",
            case.name
        );
        provoked.insert(answer);
    }
    for (status, error, _) in all.iter().filter(|(s, _, _)| *s == 400) {
        assert!(
            provoked.contains(&(*status, error.clone())),
            "documented but never provoked: {error:?}"
        );
    }
}

#[tokio::test]
async fn every_answer_tells_browsers_not_to_sniff_its_type() {
    // Every fixture in events/, success or error, through whichever function its route names.
    let t = tests::app_with_key().await;
    let mut fixtures: Vec<String> = std::fs::read_dir(workspace_root().join("events"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".json").map(str::to_string))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() > 30, "{fixtures:?}");
    for name in fixtures {
        let response = t.app.dispatch(tests::fixture(&name)).await;
        assert_eq!(
            response
                .headers()
                .get("x-content-type-options")
                .map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{name}: {}",
            response.status()
        );
    }
}
