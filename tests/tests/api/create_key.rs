//! `POST /api/v1/keys` (and the options a key is created with: expiry, daily limit), driven by
//! the `events/` fixtures exactly as API Gateway delivers them: every success field by field,
//! every error with its exact message, and that nothing changed.

use common::api_key::is_well_formed;
use common::store::{AuditAction, LedgerKind};
use tests::*;

#[tokio::test]
async fn create_key_returns_the_plaintext_once_and_stores_only_its_hash() {
    // GIVEN a signed-in console user
    let t = TestApp::new();
    // WHEN they create a key named "Production"
    let (status, body, headers) = parts(t.app.create_key(fixture("create-key")).await);
    // THEN 201 with exactly the documented fields
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        field_names(&body),
        ["createdAt", "id", "key", "mode", "name", "prefix", "success"]
    );
    assert_eq!(body["success"], true);
    assert_eq!(body["name"], "Production");
    let key = body["key"].as_str().unwrap();
    assert!(is_well_formed(key), "{key}");
    assert_eq!(body["prefix"], &key[..12]);
    assert!(common::ids::KeyId::parse(body["id"].as_str().unwrap()).is_some());
    let created = common::clock::parse_rfc3339(body["createdAt"].as_str().unwrap()).unwrap();
    assert!(body["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!((time::OffsetDateTime::now_utc() - created).whole_seconds().abs() < 5);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "no-store");

    // AND the key is listed, the new account got its free credits, and the creation is audited
    let account = account(FIXTURE_ACCOUNT);
    let keys = t.store().list_keys(&account).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].id.as_str(), body["id"]);
    assert_eq!(t.store().balance(&account).await.unwrap().unwrap().credits, 3);
    let audit = t
        .store()
        .audit_events(&account, common::clock::now())
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].event, AuditAction::KeyCreated);
    assert_eq!(audit[0].key_id, body["id"].as_str().unwrap());
    assert_eq!(audit[0].ip_address.as_deref(), Some("203.0.113.7"));
    assert_eq!(audit[0].user_agent.as_deref(), Some("visionpipe-fixture/1.0"));
}

#[tokio::test]
async fn the_free_balance_is_granted_once_per_account() {
    let t = TestApp::with(&[("VP_FREE_CREDITS", "5")]);
    for _ in 0..3 {
        assert_eq!(t.app.create_key(fixture("create-key")).await.status(), 201);
    }
    let account = account(FIXTURE_ACCOUNT);
    let balance = t.store().balance(&account).await.unwrap().unwrap();
    assert_eq!((balance.credits, balance.granted, balance.debited), (5, 5, 0));
    let ledger = t.store().ledger(&account).await.unwrap();
    assert_eq!(ledger.len(), 1, "one grant for three keys");
    assert_eq!(ledger[0].kind, LedgerKind::Grant);
}

#[tokio::test]
async fn create_key_rejects_bad_requests_and_changes_nothing() {
    let cases = [
        ("create-key-missing-auth", 401, MISSING_AUTH),
        (
            "create-key-expired-token",
            401,
            "Invalid or expired console token",
        ),
        ("create-key-wrong-key", 401, "Invalid or expired console token"),
        (
            "create-key-empty-name",
            400,
            "Invalid key name: name must not be empty",
        ),
        (
            "create-key-long-name",
            400,
            "Invalid key name: name must be at most 64 characters",
        ),
        ("create-key-malformed-json", 400, "Request body is not valid JSON"),
        (
            "create-key-unknown-field",
            400,
            r#"Request body must be a JSON object {"name": "<1-64 characters>", "mode": "<optional live or test>", "expiresAt": "<optional RFC 3339 time>", "limits": {"sessionsPerDay": <optional 1-1000000>}}"#,
        ),
        (
            "create-key-no-body",
            400,
            r#"Request body must be a JSON object {"name": "<1-64 characters>", "mode": "<optional live or test>", "expiresAt": "<optional RFC 3339 time>", "limits": {"sessionsPerDay": <optional 1-1000000>}}"#,
        ),
        (
            "create-key-wrong-content-type",
            415,
            "Content-Type must be application/json",
        ),
    ];
    for (name, want_status, want_error) in cases {
        let t = TestApp::new();
        let (status, body, _) = parts(t.app.create_key(fixture(name)).await);
        assert_error(status, &body, want_status, want_error);
        assert_eq!(body["requestId"], "fixture-request-id", "{name}");
        let account = account(FIXTURE_ACCOUNT);
        assert!(
            t.store().list_keys(&account).await.unwrap().is_empty(),
            "{name} created a key"
        );
        assert_eq!(
            t.store().balance(&account).await.unwrap(),
            None,
            "{name} created the account"
        );
    }
}

#[tokio::test]
async fn unauthenticated_errors_advertise_bearer() {
    let t = TestApp::new();
    let (_, _, headers) = parts(t.app.create_key(fixture("create-key-missing-auth")).await);
    assert_eq!(headers["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_parsing() {
    let t = TestApp::new();
    let mut req = fixture("create-key");
    *req.body_mut() = lambda_http::Body::Text(format!(r#"{{"name":"{}"}}"#, "a".repeat(20_000)));
    let (status, body, _) = parts(t.app.create_key(req).await);
    assert_error(status, &body, 413, "Request body too large");
}

#[tokio::test]
async fn the_plaintext_key_never_reaches_the_store_file() {
    // GIVEN a key created through the handler and used once
    let t = TestApp::new();
    let (_, body, _) = parts(t.app.create_key(fixture("create-key")).await);
    let key = body["key"].as_str().unwrap().to_string();
    let mut req = fixture("create-session");
    req.headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    assert_eq!(t.app.create_session(req).await.status(), 200);
    // THEN neither the key nor its random part is in the database, its WAL or shared memory,
    // while its SHA-256 is
    let mut stored = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut path = t.db_path().into_os_string();
        path.push(suffix);
        stored.extend(std::fs::read(&path).unwrap_or_default());
    }
    let stored = String::from_utf8_lossy(&stored);
    assert!(!stored.contains(&key[8..]), "plaintext key found in the store");
    assert!(
        !stored.contains(&key[12..40]),
        "part of the key found in the store"
    );
    assert!(
        stored.contains(common::api_key::KeyHash::of(&key).as_str()),
        "the hash is what is stored"
    );
}

#[tokio::test]
async fn a_full_account_gets_409_too_many_keys_and_nothing_is_created() {
    // GIVEN the fixture account holds the most live keys it may
    let t = TestApp::new();
    for i in 0..common::store::MAX_LIVE_KEYS {
        seed_key(
            t.store(),
            FIXTURE_ACCOUNT,
            &format!("key_01JF{i:022}"),
            &format!("vp_live_{i:064x}"),
        )
        .await;
    }
    // WHEN one more is created THEN 409 with the documented message, and no key is added
    let (status, body, _) = parts(t.app.create_key(fixture("create-key")).await);
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"],
        "API key limit reached: an account can have at most 100 keys; delete one first"
    );
    assert_eq!(body["code"], "too_many_keys");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(&common::store::MAX_LIVE_KEYS.to_string())
    );
    assert_eq!(
        t.store()
            .list_keys(&account(FIXTURE_ACCOUNT))
            .await
            .unwrap()
            .len(),
        common::store::MAX_LIVE_KEYS
    );
}

// ---------------------------------------------------------------- with an expiry

fn create_key_with(body: &str) -> lambda_http::Request {
    let mut req = fixture("create-key");
    *req.body_mut() = lambda_http::Body::Text(body.to_string());
    req
}

#[tokio::test]
async fn a_key_created_with_an_expiry_lists_it_and_expired_keys_answer_401_without_paying() {
    // GIVEN a key created to expire in a week
    let t = TestApp::new();
    let week = common::clock::now() + time::Duration::days(7);
    let body =
        serde_json::json!({"name": "Temporary", "expiresAt": common::clock::rfc3339(week)}).to_string();
    let (status, created, _) = parts(t.app.create_key(create_key_with(&body)).await);
    assert_eq!(status, 201, "{created}");
    // THEN the list shows when it expires
    let (_, list, _) = parts(t.app.list_keys(fixture("list-keys")).await);
    assert_eq!(list["keys"][0]["id"], created["id"]);
    assert_eq!(list["keys"][0]["expiresAt"], common::clock::rfc3339(week));
    // AND it opens sessions until then
    let bearer = format!("Bearer {}", created["key"].as_str().unwrap());
    let mut req = fixture("create-session");
    req.headers_mut().insert("authorization", bearer.parse().unwrap());
    assert_eq!(t.app.create_session(req).await.status(), 200);

    // GIVEN a key whose expiry has passed (written to the store as it was created a year ago)
    let expired = common::api_key::PlaintextKey::generate(common::api_key::KeyMode::Live);
    let yesterday = common::clock::now() - time::Duration::days(1);
    t.store()
        .create_key(
            common::store::NewKey {
                id: common::ids::KeyId::generate(),
                account: account(FIXTURE_ACCOUNT),
                name: common::key_name::KeyName::parse("Expired").unwrap(),
                prefix: expired.display_prefix(),
                hash: expired.hash(),
                created_at: yesterday - time::Duration::days(364),
                expires_at: Some(yesterday),
                sessions_per_day: None,
            },
            Default::default(),
        )
        .await
        .unwrap();
    let before = credits(t.store(), FIXTURE_ACCOUNT).await;
    // WHEN it is used THEN 401 Invalid API key, and nothing is taken
    let mut req = fixture("create-session");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", expired.expose()).parse().unwrap(),
    );
    let (status, body, _) = parts(t.app.create_session(req).await);
    assert_error(status, &body, 401, "Invalid API key");
    assert_eq!(credits(t.store(), FIXTURE_ACCOUNT).await, before);
}

// ---------------------------------------------------------------- with a daily limit

#[tokio::test]
async fn a_key_with_a_daily_limit_lists_it_keeps_it_when_rolled_and_answers_429_past_it() {
    // GIVEN a key created with a limit of 2 sessions a day (the account has 3 free credits)
    let t = TestApp::new();
    let body = r#"{"name": "Metered", "limits": {"sessionsPerDay": 2}}"#;
    let (status, created, _) = parts(t.app.create_key(create_key_with(body)).await);
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["limits"], serde_json::json!({"sessionsPerDay": 2}));
    // THEN the list shows it (and null for a key without limits)
    let (_, list, _) = parts(t.app.list_keys(fixture("list-keys")).await);
    assert_eq!(
        list["keys"][0]["limits"],
        serde_json::json!({"sessionsPerDay": 2})
    );
    let session = |key: &str| {
        let mut req = fixture("create-session");
        req.headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
        t.app.create_session(req)
    };
    let key = created["key"].as_str().unwrap().to_string();
    // WHEN it opens 2 sessions THEN the third that day is 429, says when to retry, costs nothing
    assert_eq!(session(&key).await.status(), 200);
    assert_eq!(session(&key).await.status(), 200);
    let before = credits(t.store(), FIXTURE_ACCOUNT).await;
    let (status, body, headers) = parts(session(&key).await);
    assert_error(status, &body, 429, "Key session limit reached");
    assert_eq!(body["code"], "key_limit_reached");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (1..=86_400).contains(&retry_after),
        "seconds to the next UTC day: {retry_after}"
    );
    assert_eq!(credits(t.store(), FIXTURE_ACCOUNT).await, before);

    // WHEN it is rolled THEN the successor carries the same limit
    let (status, rolled, _) = parts(
        t.app
            .roll_key(roll_request(created["id"].as_str().unwrap()))
            .await,
    );
    assert_eq!(status, 201, "{rolled}");
    assert_eq!(rolled["limits"], serde_json::json!({"sessionsPerDay": 2}));
    let (_, list, _) = parts(t.app.list_keys(fixture("list-keys")).await);
    assert!(
        list["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["limits"]["sessionsPerDay"] == 2),
        "{list}"
    );
}

/// The roll-key fixture aimed at key `id`.
fn roll_request(id: &str) -> lambda_http::Request {
    let mut roll = fixture("roll-key");
    *roll.uri_mut() = format!("https://api.example.com/api/v1/keys/{id}/roll")
        .parse()
        .unwrap();
    lambda_http::RequestExt::with_path_parameters(
        roll,
        std::collections::HashMap::from([("id".to_string(), id.to_string())]),
    )
}

#[tokio::test]
async fn a_rolled_key_passes_its_expiry_to_its_successor() {
    // GIVEN a key that expires in a week
    let t = TestApp::new();
    let week = common::clock::now().replace_nanosecond(0).unwrap() + time::Duration::days(7);
    let body =
        serde_json::json!({"name": "Temporary", "expiresAt": common::clock::rfc3339(week)}).to_string();
    let (status, created, _) = parts(t.app.create_key(create_key_with(&body)).await);
    assert_eq!(status, 201, "{created}");
    // WHEN it is rolled THEN its successor expires when it would have (a roll cannot turn an
    // expiring key into one that never expires)
    let (status, rolled, _) = parts(
        t.app
            .roll_key(roll_request(created["id"].as_str().unwrap()))
            .await,
    );
    assert_eq!(status, 201, "{rolled}");
    let (_, list, _) = parts(t.app.list_keys(fixture("list-keys")).await);
    let successor = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == rolled["id"])
        .unwrap();
    assert_eq!(successor["expiresAt"], common::clock::rfc3339(week), "{list}");
}
