//! No log line ever carries a plaintext API key, a console token, a playground token or a
//! secret. Every flow and every bad request runs here with the functions' own log format
//! captured, and each line is searched for every secret the run produced.

use common::handlers::{create_key, create_session, delete_key, list_keys};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tests::bad_input::Credentials;
use tests::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

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

#[tokio::test]
async fn no_log_line_contains_a_key_a_token_or_a_secret() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing::subscriber::set_global_default(common::runtime::log_subscriber(move || writer.clone())).unwrap();

    let t = TestApp::new();
    let console_config = t.app.config.console().unwrap().clone();
    let mut secrets: Vec<String> = vec![KEY_OK.into(), console_config.secret.expose().into()];
    // A key created through the API, used, retried idempotently, run dry.
    let console_token = common::console_auth::mint(&console_config, &account(FIXTURE_ACCOUNT), 600);
    secrets.push(console_token.clone());
    let console = format!("Bearer {console_token}");
    let (_, created, _) = parts(create_key::handle(&t.app, with_auth("create-key", &console)).await);
    let key = created["key"].as_str().unwrap().to_string();
    secrets.push(key.clone());
    let bearer = format!("Bearer {key}");
    for fixture_name in ["create-session", "create-session-idempotent", "create-session-idempotent", "create-session", "create-session"] {
        let (_, body, _) = parts(create_session::handle(&t.app, with_auth(fixture_name, &bearer)).await);
        if let Some(token) = body["token"].as_str() {
            secrets.push(token.to_string());
        }
    }
    list_keys::handle(&t.app, with_auth("list-keys", &console)).await;
    // The fixture key: used, deleted, refused.
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    t.store().grant_credits(&account(FIXTURE_ACCOUNT), 5, "test", common::clock::now()).await.unwrap();
    let (_, body, _) = parts(create_session::handle(&t.app, fixture("create-session")).await);
    secrets.push(body["token"].as_str().expect("session opened").to_string());
    assert_eq!(delete_key::handle(&t.app, fixture("delete-key")).await.status(), 200);
    assert_eq!(create_session::handle(&t.app, fixture("create-session")).await.status(), 401);

    // Every request of the bad-input table, with its console tokens that must be refused.
    let credentials = Credentials { console: console_config.clone(), account: FIXTURE_ACCOUNT.into(), api_key: key.clone() };
    secrets.extend(credentials.bad_console_tokens().into_iter().map(|(_, token)| token));
    for case in credentials.cases() {
        tests::bad_input::dispatch(&t.app, case.to_request()).await;
    }
    // And a store that is down, whose errors are logged in detail.
    let broken = common::store::dynamodb::DynamoStore::new(tests::dynamo::unreachable_client(), "down", 3);
    let app = common::App::new(local_config(t.dir.path(), &[]), Arc::new(broken)).unwrap();
    for name in ["create-key", "list-keys", "create-session"] {
        tests::bad_input::dispatch(&app, fixture(name)).await;
    }

    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().any(|l| l.contains("session opened")), "logs were captured:\n{text}");
    assert!(lines.iter().any(|l| l.contains("store failure")), "store failures are logged:\n{text}");
    assert!(lines.iter().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()), "every line is structured JSON");
    for secret in &secrets {
        // Whole secrets, and any 24-character piece of a key's random part or a token's signature.
        let probe = if secret.len() > 40 { &secret[secret.len() - 24..] } else { secret.as_str() };
        for line in &lines {
            assert!(!line.contains(probe), "a secret reached the log: {line}");
        }
    }
    eprintln!("{} log lines checked against {} secrets", lines.len(), secrets.len());
}
