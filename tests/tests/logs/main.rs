//! No log line ever carries a plaintext API key, a console token, a playground token or a
//! secret. Every flow and every bad request runs here with the functions' own log format
//! captured, and each line is searched for every secret the run produced; every line logged
//! inside an invocation carries the invocation's span. Needs the local DynamoDB-protocol server
//! that `make test` starts.

mod tripwires;

use std::io::Write;
use std::sync::{Arc, Mutex};
use tests::bad_input::Credentials;
use tests::*;

#[derive(Clone, Default)]
pub(crate) struct Capture(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn with_auth(name: &str, auth: &str) -> lambda_http::Request {
    let mut req = fixture(name);
    req.headers_mut().insert("authorization", auth.parse().unwrap());
    req
}

/// Runs every flow with the functions' log format at `level` captured; returns the log lines
/// and every secret the run produced.
async fn run_flows(level: &str) -> (Vec<String>, Vec<String>) {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber =
        common::runtime::log_subscriber(common::runtime::log_filter(Some(level)), move || writer.clone());
    // This test's thread only (the runtime is current-thread), so both levels can run at once.
    let _guard = tracing::subscriber::set_default(subscriber);

    let t = TestApp::new();
    let mut secrets: Vec<String> = vec![KEY_OK.into(), fixture_console_key_pem()];
    // A key created through the API, used, retried idempotently, run dry.
    let console_token = console_signer(&t.app.config).mint(&account(FIXTURE_ACCOUNT), 600);
    secrets.push(console_token.clone());
    let console = format!("Bearer {console_token}");
    let (_, created, _) = parts(t.app.create_key(with_auth("create-key", &console)).await);
    let key = created["key"].as_str().unwrap().to_string();
    secrets.push(key.clone());
    let bearer = format!("Bearer {key}");
    for fixture_name in [
        "create-session",
        "create-session-idempotent",
        "create-session-idempotent",
        "create-session",
        "create-session",
    ] {
        let (_, body, _) = parts(t.app.create_session(with_auth(fixture_name, &bearer)).await);
        if let Some(token) = body["token"].as_str() {
            secrets.push(token.to_string());
        }
    }
    t.app.list_keys(with_auth("list-keys", &console)).await;
    // The fixture key: used, deleted, refused.
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    t.store()
        .grant_credits(&account(FIXTURE_ACCOUNT), 5, "test", common::clock::now())
        .await
        .unwrap();
    let (_, body, _) = parts(t.app.create_session(fixture("create-session")).await);
    secrets.push(body["token"].as_str().expect("session opened").to_string());
    assert_eq!(t.app.delete_key(fixture("delete-key")).await.status(), 200);
    assert_eq!(
        t.app.create_session(fixture("create-session")).await.status(),
        401
    );

    // Every request of the bad-input table, with its console tokens that must be refused.
    let credentials = Credentials::for_config(&t.app.config, FIXTURE_ACCOUNT, &key);
    secrets.extend(
        credentials
            .bad_console_tokens()
            .into_iter()
            .map(|(_, token)| token),
    );
    for case in credentials.cases() {
        t.app.dispatch(case.to_request()).await;
    }
    // A store that is down, whose errors are logged in detail.
    let broken = common::store::dynamodb::DynamoStore::new(dynamo::unreachable_client(), "down", 3);
    let app = Functions::new(local_config(t.dir.path(), &[]), Arc::new(broken)).unwrap();
    for name in ["create-key", "list-keys", "create-session"] {
        app.dispatch(fixture(name)).await;
    }

    // The same flows on DynamoDB, where the SDK's own logging sees every request and response.
    let client = dynamo::client(None);
    let table = dynamo::fresh_table(&client).await;
    let store = dynamo::settled(client, table.clone(), 3);
    let app = Functions::new(local_config(t.dir.path(), &[("VP_TABLE_NAME", &table)]), store).unwrap();
    let (_, created, _) = parts(app.create_key(with_auth("create-key", &console)).await);
    let dynamo_key = created["key"].as_str().unwrap().to_string();
    secrets.push(dynamo_key.clone());
    for fixture_name in [
        "create-session",
        "create-session-idempotent",
        "create-session-idempotent",
    ] {
        let (_, body, _) = parts(
            app.create_session(with_auth(fixture_name, &format!("Bearer {dynamo_key}")))
                .await,
        );
        secrets.push(body["token"].as_str().expect("session opened").to_string());
    }
    app.list_keys(with_auth("list-keys", &console)).await;
    // A secret read from SSM at cold start: the decrypted value is in the SDK's response.
    let ssm = dynamo::ssm_client();
    let parameter = format!("/vp-test/{}/log-probe", common::ids::new_ulid());
    let value = format!("ssm-secret-value-{}", common::ids::new_ulid());
    dynamo::put_secure_parameter(&ssm, &parameter, &value).await;
    let mut env =
        std::collections::HashMap::from([("VP_PLAYGROUND_SIGNING_KEY_PARAMETER".to_string(), parameter)]);
    common::secrets::resolve(&mut env, &ssm).await.unwrap();
    assert_eq!(env["VP_PLAYGROUND_SIGNING_KEY"], value);
    secrets.push(value);

    // What the Lambda runtime and the SDK would print at their most verbose.
    emit_probes(&format!("Authorization: Bearer {KEY_OK}"));

    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    (text.lines().map(str::to_string).collect(), secrets)
}

/// A trace and a debug event from every capped target.
fn emit_probes(text: &str) {
    macro_rules! probe {
        ($($target:literal),*) => {
            $(
                tracing::trace!(target: $target, "{text}");
                tracing::debug!(target: $target, "{text}");
            )*
        };
    }
    common::with_capped_targets!(probe);
}

/// Every 24-character window of every secret (the random part of a key, a token's signature,
/// a secret value): none may appear anywhere in any line.
fn assert_no_secret(lines: &[String], secrets: &[String]) {
    const WINDOW: usize = 24;
    let mut windows = std::collections::HashSet::new();
    for secret in secrets {
        let bytes = secret.as_bytes();
        if bytes.len() <= WINDOW {
            windows.insert(bytes.to_vec());
        } else {
            windows.extend(bytes.windows(WINDOW).map(<[u8]>::to_vec));
        }
    }
    for line in lines {
        let bytes = line.as_bytes();
        for size in [WINDOW]
            .into_iter()
            .chain(windows.iter().map(Vec::len).filter(|&n| n < WINDOW))
        {
            for piece in bytes.windows(size) {
                assert!(!windows.contains(piece), "a secret reached the log: {line}");
            }
        }
    }
}

async fn check_level(level: &str) {
    let (lines, secrets) = run_flows(level).await;
    let text = lines.join("\n");
    assert!(
        lines.iter().any(|l| l.contains("session opened")),
        "logs were captured:\n{text}"
    );
    assert!(
        lines.iter().any(|l| l.contains("store failure")),
        "store failures are logged:\n{text}"
    );
    assert!(
        lines
            .iter()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "every line is structured JSON"
    );
    // A line logged inside an invocation — a store failure deep in a handler included — carries
    // the invocation's span: request id, function and route, so it joins its request.
    let joined = |line: &String| {
        let span = &serde_json::from_str::<serde_json::Value>(line).unwrap()["span"];
        span["name"] == "invocation"
            && span["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty() && id != "-")
            && span["function"].is_string()
            && span["route"].is_string()
    };
    for marker in ["store failure", "session opened", "\"request\""] {
        let marked: Vec<&String> = lines.iter().filter(|l| l.contains(marker)).collect();
        assert!(!marked.is_empty(), "{marker} is logged:\n{text}");
        for line in marked {
            assert!(joined(line), "a line without its invocation's span: {line}");
        }
    }
    assert!(
        !text.contains("Authorization: Bearer"),
        "a capped dependency's verbose output reached the log"
    );
    assert_no_secret(&lines, &secrets);
    eprintln!(
        "RUST_LOG={level}: {} log lines checked against every 24-character window of {} secrets",
        lines.len(),
        secrets.len()
    );
}

#[tokio::test]
async fn no_log_line_contains_a_key_a_token_or_a_secret() {
    check_level("info").await;
}

#[tokio::test]
async fn not_even_at_trace() {
    check_level("trace").await;
}

#[tokio::test]
async fn not_even_when_the_runtime_and_the_sdk_are_asked_for_trace_by_name() {
    check_level("trace,lambda_runtime=trace,aws_smithy_runtime=trace,aws_sdk_ssm=trace,hyper=trace").await;
}

#[test]
fn the_window_check_catches_a_piece_from_the_middle() {
    let secret = "vp_live_0123456789abcdef0123456789abcdef0123456789abcdef012345670ff3c212".to_string();
    let leaked = vec![format!("{{\"msg\":\"x{}y\"}}", &secret[20..44])];
    let caught = std::panic::catch_unwind(|| assert_no_secret(&leaked, std::slice::from_ref(&secret)));
    assert!(
        caught.is_err(),
        "a 24-character piece from the middle must be caught"
    );
}
