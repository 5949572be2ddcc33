//! One route table (`common::routes::ROUTES`), and every other place that names a route agrees
//! with it: the local router in `Cargo.toml`, the events in `template.yaml`, the paths of
//! `infra/openapi.yaml` (with their credential) and the Makefile's function list. Adding an
//! endpoint anywhere without adding it everywhere fails here.

use common::routes::{Auth, FALLBACK_FUNCTION, ROUTES, STREAM_FUNCTIONS, route_for};
use serde_yaml::Value;
use std::collections::BTreeSet;
use tests::workspace_root;

type Routes = BTreeSet<(String, String, String)>;

/// (method, path, function) of the table.
fn table() -> Routes {
    ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string(), r.function.to_string()))
        .collect()
}

fn functions_of_the_table() -> BTreeSet<String> {
    ROUTES
        .iter()
        .map(|r| r.function.to_string())
        .chain([FALLBACK_FUNCTION.to_string()])
        .chain(STREAM_FUNCTIONS.iter().map(|f| f.to_string()))
        .collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_local_router_serves_exactly_the_table_and_sends_the_rest_to_the_fallback() {
    let cargo: toml::Table = read("Cargo.toml").parse().unwrap();
    let router = cargo["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .unwrap();
    let mut served = Routes::new();
    for (path, entries) in router {
        match entries {
            toml::Value::String(function) => {
                assert_eq!(
                    function, FALLBACK_FUNCTION,
                    "{path}: only catch-alls send every method to one function"
                )
            }
            toml::Value::Array(entries) => {
                for entry in entries {
                    let (method, function) = (
                        entry["method"].as_str().unwrap(),
                        entry["function"].as_str().unwrap(),
                    );
                    if function != FALLBACK_FUNCTION {
                        // A static path beside a parameterised one (`/api/v1/keys/self` beside
                        // `/api/v1/keys/{id}`) passes on the methods the table routes there.
                        let routed = route_for(method, path)
                            .map(|r| r.spec())
                            .filter(|spec| spec.function == function)
                            .map_or(path.as_str(), |spec| spec.path);
                        served.insert((method.to_string(), routed.to_string(), function.to_string()));
                    }
                }
            }
            other => panic!("{path}: unexpected router entry {other}"),
        }
    }
    assert_eq!(served, table());
    for catch_all in ["/", "/{*path}"] {
        assert_eq!(router[catch_all].as_str(), Some(FALLBACK_FUNCTION), "{catch_all}");
    }
}

#[test]
fn the_template_deploys_exactly_the_table_with_the_fallback_on_default() {
    let template = yaml("template.yaml");
    let mut deployed = Routes::new();
    let mut functions = BTreeSet::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let function = resource["Properties"]["CodeUri"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        functions.insert(function.clone());
        for (_, event) in resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            if event["Type"].as_str() == Some("HttpApi") {
                let (method, path) = (
                    event["Properties"]["Method"].as_str().unwrap(),
                    event["Properties"]["Path"].as_str().unwrap(),
                );
                deployed.insert((method.to_string(), path.to_string(), function.clone()));
            }
        }
    }
    assert!(
        deployed.remove(&("ANY".into(), "$default".into(), FALLBACK_FUNCTION.into())),
        "the $default route goes to the fallback"
    );
    assert_eq!(deployed, table());
    assert_eq!(functions, functions_of_the_table());
}

#[test]
fn the_openapi_document_describes_exactly_the_table_with_each_routes_credential() {
    let openapi = yaml("infra/openapi.yaml");
    let mut described = Routes::new();
    for (path, operations) in openapi["paths"].as_mapping().unwrap() {
        let path = path.as_str().unwrap();
        for (method, operation) in operations.as_mapping().unwrap() {
            let method = method.as_str().unwrap().to_uppercase();
            let spec = ROUTES
                .iter()
                .find(|r| r.method == method && r.path == path)
                .unwrap_or_else(|| {
                    panic!("{method} {path} is in the OpenAPI file but not in the route table")
                });
            let scheme = operation["security"][0]
                .as_mapping()
                .and_then(|m| m.keys().next())
                .and_then(Value::as_str);
            let want = match spec.auth {
                Auth::ConsoleToken => Some("consoleToken"),
                Auth::ApiKey => Some("apiKey"),
                Auth::ReporterSignature => Some("githubSignature"),
                // `security: []`: no credential at all.
                Auth::Public => None,
            };
            assert_eq!(scheme, want, "{method} {path}: security");
            if spec.auth == Auth::Public {
                assert!(
                    operation["security"].as_sequence().is_some_and(|s| s.is_empty()),
                    "{method} {path}: a public route says so with security: []"
                );
            }
            described.insert((method, path.to_string(), spec.function.to_string()));
        }
    }
    assert_eq!(described, table());
}

#[test]
fn the_makefile_and_the_workspace_build_every_function_and_no_other() {
    let makefile = read("Makefile");
    let line = makefile
        .lines()
        .find_map(|l| l.strip_prefix("LAMBDA_FUNCTIONS :="))
        .expect("LAMBDA_FUNCTIONS in the Makefile");
    let listed: BTreeSet<String> = line.split_whitespace().map(str::to_string).collect();
    assert_eq!(listed, functions_of_the_table());
    let cargo: toml::Table = read("Cargo.toml").parse().unwrap();
    let members: BTreeSet<String> = cargo["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str().unwrap().strip_prefix("functions/"))
        .filter(|m| *m != "common")
        .map(str::to_string)
        .collect();
    assert_eq!(members, functions_of_the_table());
}

/// The `Route::Name`s a source text mentions.
fn routes_named_in(source: &str) -> BTreeSet<String> {
    source
        .split("Route::")
        .skip(1)
        .map(|rest| rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect())
        .collect()
}

#[test]
fn every_main_is_one_serve_call_for_exactly_its_functions_routes() {
    for function in functions_of_the_table() {
        let path = format!("functions/{function}/src/main.rs");
        let main = read(&path);
        // The body of `main`: one statement, a serve call (HTTP) or serve_events (the stream).
        let body = main
            .split("async fn main()")
            .nth(1)
            .and_then(|rest| rest.split_once('{'))
            .and_then(|(_, rest)| rest.rsplit_once('}'))
            .map(|(body, _)| body.trim().to_string())
            .unwrap_or_else(|| panic!("{path}: no async fn main"));
        let entry = match STREAM_FUNCTIONS.contains(&function.as_str()) {
            true => "common::runtime::serve_events(",
            false => "common::runtime::serve(",
        };
        assert!(
            body.starts_with(entry) && body.ends_with(".await") && !body.contains(';'),
            "{path}: main must be the one call {entry}…).await, found:\n{body}"
        );
        // The routes it names are exactly its routes in the table (the console names its
        // handler's ROUTES, checked below; the fallback UNMATCHED; the ledger none).
        let want: BTreeSet<String> = ROUTES
            .iter()
            .filter(|r| r.function == function)
            .map(|r| format!("{:?}", r.route))
            .collect();
        let named = routes_named_in(&main);
        match function.as_str() {
            "console" => assert!(body.contains("serve(ROUTES,"), "{path}"),
            FALLBACK_FUNCTION => assert!(body.contains("serve(UNMATCHED,"), "{path}"),
            _ => assert_eq!(named, want, "{path}"),
        }
    }
    let console: BTreeSet<String> = common::handlers::console_page::ROUTES
        .iter()
        .map(|r| format!("{r:?}"))
        .collect();
    let want: BTreeSet<String> = ROUTES
        .iter()
        .filter(|r| r.function == "console")
        .map(|r| format!("{:?}", r.route))
        .collect();
    assert_eq!(console, want, "console_page::ROUTES");
    assert!(common::routes::UNMATCHED.is_empty());
}
