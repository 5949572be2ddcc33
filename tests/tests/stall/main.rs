//! A stalled DynamoDB: the server is frozen (SIGSTOP) for 8 s in the middle of a burst of
//! sessions. Every request must still answer within 5 s — the contract's JSON 503 with
//! `Retry-After` when it could not finish — and every client that retries its Idempotency-Key
//! after the thaw gets its session, paid exactly once, with the ledger intact.
//!
//! This test starts its own local server (freezing the shared one would stall every other test)
//! and builds the store exactly as a function's cold start does, SDK timeouts included.

use common::store::verify_ledger;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tests::Functions;
use tests::*;

const BURST: usize = 24;
const FREEZE: Duration = Duration::from_secs(8);
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// A private local DynamoDB server; stopped (and thawed first) when dropped.
struct PrivateServer {
    pid: i32,
    url: String,
}

impl PrivateServer {
    fn start() -> Self {
        let port = server::free_port();
        let log = std::env::temp_dir().join(format!("stall-dynamodb-{port}.log"));
        let out = Command::new(workspace_root().join("infra/local-dynamodb.sh"))
            .args([port.to_string(), log.display().to_string()])
            .output()
            .expect("infra/local-dynamodb.sh runs");
        assert!(
            out.status.success(),
            "local DynamoDB did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pid = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("the script prints the server's pid");
        PrivateServer {
            pid,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {signal} {}", self.pid);
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.pid.to_string()])
            .status();
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
    }
}

fn session_request(idempotency_key: &str) -> lambda_http::Request {
    let mut req = fixture("create-session-idempotent");
    req.headers_mut()
        .insert("idempotency-key", idempotency_key.parse().unwrap());
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_store_answers_503_within_5_s_and_idempotent_retries_are_paid_once() {
    // GIVEN a function's store on a private server, built the way a cold start builds it
    let server = PrivateServer::start();
    let plain = aws_sdk_dynamodb::Client::from_conf(dynamo::config_at(&server.url).build());
    let table = common::ids::new_ulid().to_string().to_lowercase();
    common::store::dynamodb::table::create_table(&plain, &table)
        .await
        .unwrap();
    // The ledger function on the table's stream, as in AWS (it waits out the freeze too).
    dynamo::follow_ledger_at(&server.url, &table).await;
    // Built as the functions build it: from their environment (common::aws_env).
    let env = [
        ("AWS_ENDPOINT_URL_DYNAMODB", server.url.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let sdk = common::startup::sdk_config(&env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let production_deadline = common::config::DEFAULT_REQUEST_DEADLINE_MS.to_string();
    let config = local_config(
        dir.path(),
        &[
            ("VP_TABLE_NAME", &table),
            ("VP_REQUEST_DEADLINE_MS", &production_deadline),
        ],
    );
    assert_eq!(
        config.request_deadline,
        Duration::from_secs(4),
        "the production default"
    );
    let store = common::startup::Startup::with_sdk(config.clone(), sdk)
        .store()
        .unwrap();
    let app = Arc::new(Functions::new(config, store).unwrap());
    seed_key(app.store.as_ref(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    app.store
        .grant_credits(&account(FIXTURE_ACCOUNT), 100, "stall test", common::clock::now())
        .await
        .unwrap();
    let before = app
        .store
        .balance(&account(FIXTURE_ACCOUNT))
        .await
        .unwrap()
        .unwrap();

    // WHEN a burst of sessions (each with its own Idempotency-Key) meets an 8 s freeze
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..BURST {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(40 * i as u64)).await;
            let sent = Instant::now();
            let response = app.create_session(session_request(&format!("burst-{i}"))).await;
            (i, sent.elapsed(), parts(response))
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.signal("-STOP");
    let frozen_at = started.elapsed();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    // (All answered while the server was still frozen.)
    assert!(
        started.elapsed() < frozen_at + FREEZE,
        "answers came only after the thaw"
    );
    tokio::time::sleep((frozen_at + FREEZE).saturating_sub(started.elapsed())).await;
    server.signal("-CONT");

    // THEN every request answered within 5 s: a session, or a JSON 503 with Retry-After
    let mut first_bodies = std::collections::HashMap::new();
    let (mut ok, mut unavailable) = (0, 0);
    for (i, took, (status, body, headers)) in &answers {
        assert!(*took < ANSWER_WITHIN, "request {i} took {took:?}");
        match status {
            200 => {
                ok += 1;
                first_bodies.insert(*i, body.clone());
            }
            503 => {
                unavailable += 1;
                assert_eq!(headers["retry-after"], "1");
                assert_eq!(body["error"], "Service temporarily unavailable, please retry");
            }
            other => panic!("request {i}: unexpected {other} {body}"),
        }
    }
    eprintln!("burst of {BURST} with the store frozen at {frozen_at:?}: {ok} × 200, {unavailable} × 503");
    assert!(unavailable > 0, "the freeze must have caught requests in flight");

    // AND after the thaw, every client retrying its key gets its session, paid once
    for i in 0..BURST {
        let (status, body, _) = parts(app.create_session(session_request(&format!("burst-{i}"))).await);
        assert_eq!(status, 200, "retry {i}: {body}");
        if let Some(first) = first_bodies.get(&i) {
            assert_eq!(first, &body, "retry {i} must replay the first answer");
        }
    }
    let check = verify_ledger(&dynamo::Settled(app.store.clone()), &account(FIXTURE_ACCOUNT))
        .await
        .unwrap()
        .unwrap();
    assert!(check.ok, "{check:?}");
    assert_eq!(
        check.debited - before.debited,
        BURST as u64,
        "exactly one debit per Idempotency-Key"
    );
}
