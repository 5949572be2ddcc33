//! What each function asks of AWS, recorded request by request, must equal the shapes committed
//! in `infra/iam/requests.json` — which `make iam-check` proves every function's policy allows.
//! A code change that makes a new kind of request fails here until the file is re-recorded
//! (`make iam-shapes`) and the policy is shown to allow it; a shape no longer made fails too, so
//! the file can never go stale.

use common::routes::route_for;
use lambda_http::RequestExt;
use tests::Functions;
use tests::dynamo::{
    CallCounter, Fault, FaultInjector, config_at, endpoint, fresh_table_unfollowed, ssm_config,
};
use tests::iam::{RequestShape, ShapeRecorder};
use tests::*;

const SHAPES_FILE: &str = "infra/iam/requests.json";
/// Set to re-record the file instead of comparing with it.
const RECORD_VAR: &str = "VP_RECORD_IAM_SHAPES";

/// Every function that reaches DynamoDB on a request.
const STORE_FUNCTIONS: [&str; 15] = [
    "test-webhook",
    "webhook-deliveries",
    "create-key",
    "create-webhook",
    "list-webhooks",
    "delete-webhook",
    "update-account",
    "list-keys",
    "delete-key",
    "roll-key",
    "create-session",
    "check-key",
    "credits",
    "audit",
    "secret-scanning",
];

/// Each function's SSM parameters (variable, template.yaml's default name), read in one request
/// at cold start. The console endpoints have none: console tokens verify with public keys.
const PARAMETERS: [(&str, &[(&str, &str)]); 5] = [
    (
        "test-webhook",
        &[(
            "VP_WEBHOOK_SEALING_KEY_PARAMETER",
            "/visionpipe/webhook-sealing-key",
        )],
    ),
    (
        "create-webhook",
        &[(
            "VP_WEBHOOK_SEALING_KEY_PARAMETER",
            "/visionpipe/webhook-sealing-key",
        )],
    ),
    (
        "webhook-sender",
        &[(
            "VP_WEBHOOK_SEALING_KEY_PARAMETER",
            "/visionpipe/webhook-sealing-key",
        )],
    ),
    (
        "create-session",
        &[
            (
                "VP_PLAYGROUND_SIGNING_KEY_PARAMETER",
                "/visionpipe/playground-signing-key",
            ),
            (
                "VP_REPLAY_SEALING_KEY_PARAMETER",
                "/visionpipe/replay-sealing-key",
            ),
        ],
    ),
    (
        "jwks",
        &[(
            "VP_PLAYGROUND_PUBLIC_KEYS_PARAMETER",
            "/visionpipe/playground-public-keys",
        )],
    ),
];

struct Rig {
    recorder: ShapeRecorder,
    injector: FaultInjector,
    app: Functions,
    /// The recording client and its table, for the ledger function.
    client: aws_sdk_dynamodb::Client,
    table: String,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let recorder = ShapeRecorder::default();
    let injector = FaultInjector::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        config_at(&endpoint())
            .interceptor(recorder.clone())
            .interceptor(injector.clone())
            .interceptor(CallCounter::default())
            .build(),
    );
    recorder.acting_as("setup");
    // Nobody follows the stream: the ledger function's turn is recorded at the end.
    let table = fresh_table_unfollowed(&client).await;
    // The fixtures' console tokens verify against this directory's (fixture) console key.
    let dir = fixture_data_dir();
    let config = local_config(dir.path(), &[("VP_TABLE_NAME", &table)]);
    let store = dynamo::settled(client.clone(), table.clone(), config.free_credits);
    let mut app = Functions::new(config, store).unwrap();
    // The webhook fixture's host, resolved without DNS.
    app.create_webhook.resolver = std::sync::Arc::new(common::webhooks::guard::FixedResolver::new(&[(
        "hooks.example.com",
        "93.184.215.14",
    )]));
    Rig {
        recorder,
        injector,
        client,
        table,
        app,
        _dir: dir,
    }
}

impl Rig {
    /// Sends the `events/` fixture `name` to the function its route names (the recorder labels
    /// the requests with that function), optionally with one fault armed, and checks the status.
    async fn step(&self, name: &str, fault: Option<Fault>, want: u16) {
        self.send(fixture(name), name, fault, want).await;
    }

    async fn send(&self, req: lambda_http::Request, name: &str, fault: Option<Fault>, want: u16) {
        let route = route_for(req.method().as_str(), req.raw_http_path()).expect("the fixture of a route");
        let function = route.spec().function;
        self.recorder.acting_as(function);
        if let Some(fault) = fault {
            self.injector.arm(fault);
        }
        let status = self.app.dispatch(req).await.status().as_u16();
        self.injector.disarm();
        self.recorder.acting_as("setup");
        assert_eq!(status, want, "{name} ({function})");
    }
}

impl Rig {
    /// The `events/` fixture `name` with `body`, sent as its function; its 201 body.
    async fn created(&self, name: &str, body: serde_json::Value) -> serde_json::Value {
        let mut req = fixture(name);
        *req.body_mut() = lambda_http::Body::Text(body.to_string());
        let function = route_for(req.method().as_str(), req.raw_http_path())
            .expect("the fixture of a route")
            .spec()
            .function;
        self.recorder.acting_as(function);
        let (status, created, _) = parts(self.app.dispatch(req).await);
        self.recorder.acting_as("setup");
        assert_eq!(status, 201, "{name}: {created}");
        created
    }

    /// Two sessions with the key `created` shows (the day's first, and one more).
    async fn sessions(&self, created: &serde_json::Value, name: &str) {
        for _ in 0..2 {
            let mut session = fixture("create-session");
            let bearer = format!("Bearer {}", created["key"].as_str().unwrap());
            session
                .headers_mut()
                .insert("authorization", bearer.parse().unwrap());
            self.send(session, name, None, 200).await;
        }
    }
}

fn lost(operation: &'static str, occurrence: usize) -> Option<Fault> {
    Some(Fault {
        operation,
        occurrence,
        response_lost: true,
    })
}

/// Drives every path of every function that reaches AWS: first and later keys, listing,
/// deletion, sessions paid, refused, idempotent and replayed, and the recovery reads that
/// follow a lost response.
async fn record() -> Vec<RequestShape> {
    let rig = rig().await;
    let app = &rig.app;

    // list-keys, roll-key and usage before any key (is the account still in table layout 1?);
    // create-key: a new account (with its free grant), an existing one, a lost response;
    // list-keys.
    for (name, fault, want) in [
        ("list-keys", None, 200),
        ("roll-key", None, 404),
        ("usage", None, 200),
        ("create-key", None, 201),
        ("create-key", lost("TransactWriteItems", 1), 201),
        ("list-keys", None, 200),
        ("credits", None, 200),
        ("audit", None, 200),
    ] {
        rig.step(name, fault, want).await;
    }

    // The settings of an account that does not exist yet: it is made (with its free grant) first.
    let mut settings = fixture("update-account");
    let token = console_signer(&app.config).mint(&account("acct_settings_first"), 3600);
    settings
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    rig.send(settings, "update-account (a new account)", None, 200)
        .await;

    // Webhook endpoints: created (once with its answer lost: the item is read back), listed,
    // an unknown one deleted, a real one deleted with its answer lost; the account's threshold
    // on an existing account.
    for (name, fault, want) in [
        ("create-webhook", None, 201),
        ("create-webhook", lost("TransactWriteItems", 1), 201),
        ("list-webhooks", None, 200),
        ("delete-webhook", None, 404),
        ("update-account", None, 200),
    ] {
        rig.step(name, fault, want).await;
    }
    let hook = rig
        .created(
            "create-webhook",
            serde_json::json!({"url": "https://hooks.example.com/x", "events": ["key.leaked"]}),
        )
        .await;
    let delete = fixture("delete-webhook").with_path_parameters(std::collections::HashMap::from([(
        "id".to_string(),
        hook["id"].as_str().unwrap().to_string(),
    )]));
    rig.send(
        delete,
        "delete-webhook (answer lost)",
        lost("TransactWriteItems", 1),
        200,
    )
    .await;
    // A test event to an endpoint that answers (a stand-in on loopback, answering 500: the
    // attempt is kept with its status), and the log read; an unknown endpoint's of each.
    let endpoint = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/y",
        endpoint.server_addr().to_ip().unwrap().port()
    );
    let answering = std::thread::spawn(move || {
        let request = endpoint.recv().unwrap();
        request.respond(tiny_http::Response::empty(500)).unwrap();
    });
    let hook = rig
        .created(
            "create-webhook",
            serde_json::json!({"url": url, "events": ["credits.low"]}),
        )
        .await;
    let id = hook["id"].as_str().unwrap().to_string();
    let of = |name: &str| {
        fixture(name).with_path_parameters(std::collections::HashMap::from([("id".to_string(), id.clone())]))
    };
    rig.send(of("test-webhook"), "test-webhook", None, 200).await;
    answering.join().unwrap();
    rig.send(of("webhook-deliveries"), "webhook-deliveries", None, 200)
        .await;
    rig.step("test-webhook", None, 404).await;
    rig.step("webhook-deliveries", None, 404).await;

    // A key that expires (its expiry joins the account item and the key item).
    let expiry = common::clock::rfc3339(common::clock::now() + time::Duration::days(30));
    let expiring_key = rig
        .created(
            "create-key",
            serde_json::json!({"name": "Expiring", "expiresAt": expiry}),
        )
        .await;
    // Its roll: the successor's lookup carries the expiry it inherits.
    let id = expiring_key["id"].as_str().unwrap().to_string();
    let roll =
        fixture("roll-key").with_path_parameters(std::collections::HashMap::from([("id".to_string(), id)]));
    rig.send(roll, "roll-key (expiring key)", None, 201).await;

    // A key with a daily limit (kept on its key and lookup items); its sessions, which count
    // in the account item's keyUse (the day's first starts the count, the next adds to it);
    // and its roll (the successor keeps the limit).
    let created = rig
        .created(
            "create-key",
            serde_json::json!({"name": "Limited", "limits": {"sessionsPerDay": 5}}),
        )
        .await;
    rig.sessions(&created, "create-session (limited key)").await;
    let id = created["id"].as_str().unwrap().to_string();
    let roll =
        fixture("roll-key").with_path_parameters(std::collections::HashMap::from([("id".to_string(), id)]));
    rig.send(roll, "roll-key (limited key)", None, 201).await;

    // A test key and its sessions, counted in the account item's testUse (the day's first
    // starts the count, the next adds to it), with no credit moved.
    let created = rig
        .created(
            "create-key",
            serde_json::json!({"name": "Staging", "mode": "test"}),
        )
        .await;
    rig.sessions(&created, "create-session (test key)").await;

    // create-session: paid, idempotent (answer lost) then replayed, another body, a lost debit
    // response, refused.
    seed_key(app.store.as_ref(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    app.store
        .grant_credits(&account(FIXTURE_ACCOUNT), 3, "test credits", common::clock::now())
        .await
        .unwrap();
    for (name, fault, want) in [
        ("create-session", None, 200),
        // The debit's transaction lands but its answer is lost: the record is read back.
        ("create-session-idempotent", lost("TransactWriteItems", 1), 200),
        ("create-session-idempotent", None, 200),
        ("create-session-idempotent-other-body", None, 422),
        ("create-session", lost("UpdateItem", 1), 200),
    ] {
        rig.step(name, fault, want).await;
    }
    drain(app.store.as_ref(), KEY_OK).await;
    rig.step("create-session", None, 402).await;

    // check-key: the fixture key, first seen (its lookup and its item), then warm; a key never
    // issued (its lookup only).
    rig.step("check-key", None, 200).await;
    rig.step("check-key", None, 200).await;
    rig.step("check-key-invalid-key", None, 401).await;

    // roll-key: the fixture key rolls, keeping an hour's grace.
    rig.step("roll-key", None, 201).await;

    // secret-scanning: GitHub reports the fixture key (revoked, with the answer lost: the key
    // item is read back), a never-issued key (its lookup only) and a look-alike (nothing).
    rig.step("secret-scanning", lost("TransactWriteItems", 1), 200)
        .await;

    // delete-key: the key, again (gone), and another whose response is lost.
    rig.step("delete-key", None, 200).await;
    rig.step("delete-key", None, 404).await;
    seed_key(
        app.store.as_ref(),
        FIXTURE_ACCOUNT,
        "key_01JF0000000000000000000001",
        KEY_EMPTY,
    )
    .await;
    rig.step("delete-key-not-found", lost("TransactWriteItems", 1), 200)
        .await;

    // ledger: the table's stream so far, delivered to the ledger function once; the events it
    // raises (the fixture account's endpoints subscribe to credits.low) go on the webhook queue.
    let (sqs, queue_url) = dynamo::sqs_queue(Some(rig.recorder.clone())).await;
    rig.recorder.acting_as("ledger");
    let queue = common::webhooks::queue::SqsQueue::from_client(sqs.clone(), queue_url.clone());
    let ledger = common::store::dynamodb::DynamoStore::new(rig.client.clone(), rig.table.clone(), 0)
        .with_webhook_queue(queue);
    let mut stream = dynamo::stream_of(&rig.table).await;
    let mut deliver = |event| async {
        Ok::<_, std::convert::Infallible>(common::ledger_stream::handle(&ledger, event).await)
    };
    assert_eq!(
        stream.step(&mut deliver).await,
        Ok(true),
        "the ledger function wrote the stream"
    );
    rig.recorder.acting_as("setup");

    // key-reminders: 23 days on, the expiring key's successor (rolled above, with the 30-day
    // expiry it inherited) is due its 7-day reminder, sent to an endpoint for key.expiring.
    rig.created(
        "create-webhook",
        serde_json::json!({"url": "https://hooks.example.com/expiring", "events": ["key.expiring"]}),
    )
    .await;
    rig.recorder.acting_as("key-reminders");
    let sent = common::store::Reminders::send_due_reminders(
        &ledger,
        common::clock::now() + time::Duration::days(23) + time::Duration::hours(1),
    )
    .await
    .unwrap();
    assert_eq!(sent.len(), 1, "the successor's 7-day reminder: {sent:?}");
    rig.recorder.acting_as("setup");

    // webhook-sender: an endpoint that answers 500 and then 200; a job for it failing (put off),
    // failing for the last time (the endpoint marked failing), then delivered (the mark removed).
    webhook_sender_turn(&rig, &sqs, &queue_url).await;

    // Parameters: each function's one GetParameters call at cold start.
    let ssm = aws_sdk_ssm::Client::from_conf(ssm_config().interceptor(rig.recorder.clone()).build());
    for (function, parameters) in PARAMETERS {
        let mut env = std::collections::HashMap::new();
        for (variable, name) in parameters {
            dynamo::put_secure_parameter(&ssm, name, "secret").await;
            env.insert(variable.to_string(), name.to_string());
        }
        rig.recorder.acting_as(function);
        common::secrets::resolve(&mut env, &ssm).await.unwrap();
        rig.recorder.acting_as("setup");
    }
    rig.recorder
        .shapes()
        .into_iter()
        .filter(|s| s.function != "setup")
        .collect()
}

async fn webhook_sender_turn(rig: &Rig, sqs: &aws_sdk_sqs::Client, queue_url: &str) {
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
    let endpoint = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/hook",
        endpoint.server_addr().to_ip().unwrap().port()
    );
    let answering = std::thread::spawn(move || {
        for status in [500, 500, 200] {
            let request = endpoint.recv().unwrap();
            request.respond(tiny_http::Response::empty(status)).unwrap();
        }
    });
    let hook = rig
        .created(
            "create-webhook",
            serde_json::json!({"url": url, "events": ["key.created"]}),
        )
        .await;
    let job = common::webhooks::queue::Job {
        account: FIXTURE_ACCOUNT.into(),
        webhook: hook["id"].as_str().unwrap().into(),
        event: common::webhooks::events::credits_granted(
            "01JF0000000000000000000009",
            FIXTURE_ACCOUNT,
            5,
            5,
            None,
            common::clock::now(),
        ),
    };
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(serde_json::to_string(&job).unwrap())
        .send()
        .await
        .unwrap();
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let receipt = received[0].receipt_handle.clone();
    let state = common::webhook_sender::State {
        deliverer: common::startup::Startup::with_store(rig.app.config.clone(), rig.app.store.clone())
            .deliverer()
            .unwrap(),
        requeue: std::sync::Arc::new(common::webhooks::queue::SqsQueue::from_client(
            sqs.clone(),
            queue_url.to_string(),
        )),
    };
    rig.recorder.acting_as("webhook-sender");
    for (attempt, failed) in [(1, 1), (common::webhooks::retry::MAX_ATTEMPTS, 1), (1, 0)] {
        let mut message = SqsMessage::default();
        message.message_id = Some("m".into());
        message.receipt_handle = receipt.clone();
        message.body = Some(serde_json::to_string(&job).unwrap());
        message.attributes = [("ApproximateReceiveCount".to_string(), attempt.to_string())].into();
        let mut event = SqsEvent::default();
        event.records = vec![message];
        let response = common::webhook_sender::handle(&state, event).await;
        assert_eq!(response.batch_item_failures.len(), failed, "attempt {attempt}");
    }
    rig.recorder.acting_as("setup");
    answering.join().unwrap();
}

/// The shapes in `infra/iam/requests.json`.
fn committed() -> Vec<RequestShape> {
    let text = std::fs::read_to_string(workspace_root().join(SHAPES_FILE))
        .unwrap_or_else(|e| panic!("{SHAPES_FILE}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{SHAPES_FILE}: {e}"))
}

#[tokio::test]
async fn every_aws_request_matches_the_committed_iam_shapes() {
    let recorded = record().await;
    let path = workspace_root().join(SHAPES_FILE);
    let text = serde_json::to_string_pretty(&recorded).unwrap() + "\n";
    if std::env::var_os(RECORD_VAR).is_some() {
        // Recording replaces the comparison, so CI (and `make test`, which clears the variable)
        // never records: a stray variable there would pass without comparing anything.
        assert!(
            std::env::var_os("CI").is_none(),
            "{RECORD_VAR} is set under CI: this test would re-record {SHAPES_FILE} instead of comparing"
        );
        std::fs::write(&path, &text).unwrap();
        eprintln!("recorded {} request shapes into {SHAPES_FILE}", recorded.len());
    } else {
        let committed = committed();
        let new: Vec<_> = recorded.iter().filter(|s| !committed.contains(s)).collect();
        let gone: Vec<_> = committed.iter().filter(|s| !recorded.contains(s)).collect();
        assert!(
            new.is_empty() && gone.is_empty(),
            "the functions' AWS requests changed: re-record with `make iam-shapes` and prove them with `make iam-check`\n\
             made now, not committed: {new:#?}\ncommitted, no longer made: {gone:#?}"
        );
    }
    // What follows holds whether recording or comparing.
    assert!(
        recorded
            .iter()
            .any(|s| s.function == "ledger" && s.action == "dynamodb:BatchWriteItem"),
        "the ledger function writes the ledger"
    );
    // Every store function reaches DynamoDB, and each reads its own parameters in one request.
    for function in STORE_FUNCTIONS {
        assert!(
            recorded
                .iter()
                .any(|s| s.function == function && s.action.starts_with("dynamodb:")),
            "{function}"
        );
    }
    for function in STORE_FUNCTIONS.iter().chain(&["jwks"]) {
        let reads = recorded
            .iter()
            .filter(|s| s.function == *function && s.action == "ssm:GetParameters")
            .count();
        let want = PARAMETERS.iter().filter(|(f, _)| f == function).count();
        assert_eq!(reads, want, "{function}");
    }
}

#[test]
fn key_lookups_are_strongly_consistent() {
    // Revocation has no window only because the hash lookup is read with ConsistentRead: a
    // local server is always consistent, so the flag itself is what must be seen. The committed
    // shapes are what the functions do (the test above), so a lookup that lost the flag fails
    // here whether or not the file was re-recorded.
    let committed = committed();
    let lookups: Vec<_> = committed
        .iter()
        .filter(|s| s.action == "dynamodb:GetItem" && s.leading_key.as_deref() == Some("KEYHASH#{id}"))
        .collect();
    assert!(!lookups.is_empty());
    assert!(
        lookups.iter().all(|s| s.consistent_read == Some(true)),
        "{lookups:#?}"
    );
}
