//! The four handlers, driven by the `events/` fixtures exactly as API Gateway delivers them.
//! Every success response is checked field by field; every row of the contract's error table
//! (and our other 4xx answers) is checked for status, exact message, and that nothing changed.

use common::api_key::is_well_formed;
use common::playground::SessionClaims;
use common::store::{AuditAction, LedgerKind};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tests::*;

const MISSING_AUTH: &str = "Missing or invalid Authorization header";

fn field_names(v: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort();
    names
}

fn assert_error(status: u16, body: &Value, want_status: u16, want_error: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"], want_error, "{body}");
    assert!(body["code"].is_string(), "{body}");
}

/// A fixture app with `KEY_OK` seeded on the fixture account (3 free credits).
async fn app_with_key() -> TestApp {
    let t = TestApp::new();
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    t
}

// ---------------------------------------------------------------- POST /api/v1/keys

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
        ["createdAt", "id", "key", "name", "prefix", "success"]
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
            r#"Request body must be a JSON object {"name": "<1-64 characters>", "expiresAt": "<optional RFC 3339 time>", "limits": {"sessionsPerDay": <optional 1-1000000>}}"#,
        ),
        (
            "create-key-no-body",
            400,
            r#"Request body must be a JSON object {"name": "<1-64 characters>", "expiresAt": "<optional RFC 3339 time>", "limits": {"sessionsPerDay": <optional 1-1000000>}}"#,
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

// ---------------------------------------------------------------- GET /api/v1/keys

#[tokio::test]
async fn list_keys_shows_live_keys_newest_first_with_last_use() {
    // GIVEN two keys, the older one used once, and a third key deleted
    let t = app_with_key().await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (_, newer, _) = parts(t.app.create_key(fixture("create-key")).await);
    let (_, gone, _) = parts(t.app.create_key(fixture("create-key")).await);
    let gone_id = common::ids::KeyId::parse(gone["id"].as_str().unwrap()).unwrap();
    assert!(
        t.store()
            .delete_key(
                &account(FIXTURE_ACCOUNT),
                &gone_id,
                common::clock::now(),
                Default::default()
            )
            .await
            .unwrap()
    );
    assert_eq!(
        t.app.create_session(fixture("create-session")).await.status(),
        200
    );
    // AND another account's key
    seed_key(
        t.store(),
        "acct_other",
        "key_01JF0000000000000000000009",
        KEY_EMPTY,
    )
    .await;

    // WHEN the fixture account lists its keys
    let (status, body, _) = parts(t.app.list_keys(fixture("list-keys")).await);

    // THEN only its two live keys, newest first, with exactly the documented fields
    assert_eq!(status, 200, "{body}");
    assert_eq!(field_names(&body), ["keys", "success"]);
    assert_eq!(body["success"], true);
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{body}");
    for key in keys {
        assert_eq!(
            field_names(key),
            [
                "createdAt",
                "expiresAt",
                "id",
                "lastUsedAt",
                "leakedAt",
                "limits",
                "name",
                "prefix"
            ]
        );
        assert_eq!(key["expiresAt"], Value::Null, "neither key expires");
        assert_eq!(key["limits"], Value::Null, "neither key has limits");
        assert_eq!(key["leakedAt"], Value::Null, "nor was found leaked");
    }
    assert_eq!(keys[0]["id"], newer["id"]);
    assert_eq!(keys[0]["prefix"], newer["prefix"]);
    assert_eq!(keys[0]["lastUsedAt"], Value::Null, "never used");
    assert_eq!(keys[1]["id"], FIXTURE_KEY_ID);
    assert_eq!(keys[1]["prefix"], &KEY_OK[..12]);
    assert!(common::clock::parse_rfc3339(keys[1]["lastUsedAt"].as_str().expect("set after use")).is_ok());
    assert!(
        !body.to_string().contains(&KEY_OK[12..]),
        "no key material beyond the prefix"
    );
}

#[tokio::test]
async fn list_keys_requires_a_console_token() {
    let t = app_with_key().await;
    let (status, body, _) = parts(t.app.list_keys(fixture("list-keys-missing-auth")).await);
    assert_error(status, &body, 401, MISSING_AUTH);
}

// ---------------------------------------------------------------- DELETE /api/v1/keys/{id}

#[tokio::test]
async fn deleting_a_key_revokes_it_at_once_and_for_good() {
    // GIVEN a key with credits left
    let t = app_with_key().await;
    assert_eq!(
        t.app.create_session(fixture("create-session")).await.status(),
        200
    );
    // WHEN its owner deletes it
    let (status, body, _) = parts(t.app.delete_key(fixture("delete-key")).await);
    // THEN 200 {"success": true}
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({"success": true}));
    // AND the very next session request with it fails, taking nothing
    let (status, body, _) = parts(t.app.create_session(fixture("create-session")).await);
    assert_error(status, &body, 401, "Invalid API key");
    let account = account(FIXTURE_ACCOUNT);
    assert_eq!(t.store().balance(&account).await.unwrap().unwrap().credits, 2);
    // AND it is gone from the list, cannot be deleted again, and the deletion is audited
    assert!(t.store().list_keys(&account).await.unwrap().is_empty());
    let (status, body, _) = parts(t.app.delete_key(fixture("delete-key")).await);
    assert_error(status, &body, 404, "API key not found");
    let audit = t
        .store()
        .audit_events(&account, common::clock::now())
        .await
        .unwrap();
    let deleted: Vec<_> = audit
        .iter()
        .filter(|e| e.event == AuditAction::KeyDeleted)
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].key_id, FIXTURE_KEY_ID);
    assert_eq!(deleted[0].ip_address.as_deref(), Some("203.0.113.7"));
    assert_eq!(deleted[0].user_agent.as_deref(), Some("visionpipe-fixture/1.0"));
}

#[tokio::test]
async fn another_accounts_key_is_not_found_and_stays_alive() {
    // GIVEN the fixture key id belongs to someone else
    let t = TestApp::new();
    seed_key(t.store(), "acct_victim", FIXTURE_KEY_ID, KEY_OK).await;
    // WHEN the fixture account tries to delete it
    let (status, body, _) = parts(t.app.delete_key(fixture("delete-key")).await);
    // THEN the same 404 as for a key that does not exist, and the key still works
    assert_error(status, &body, 404, "API key not found");
    assert_eq!(
        t.store().list_keys(&account("acct_victim")).await.unwrap().len(),
        1
    );
    assert_eq!(
        t.app.create_session(fixture("create-session")).await.status(),
        200
    );
}

#[tokio::test]
async fn delete_key_errors() {
    for (name, want_status, want_error) in [
        ("delete-key-not-found", 404, "API key not found"),
        ("delete-key-not-an-id", 404, "API key not found"),
        ("delete-key-missing-auth", 401, MISSING_AUTH),
    ] {
        let t = app_with_key().await;
        let (status, body, _) = parts(t.app.delete_key(fixture(name)).await);
        assert_error(status, &body, want_status, want_error);
        assert_eq!(
            t.store()
                .list_keys(&account(FIXTURE_ACCOUNT))
                .await
                .unwrap()
                .len(),
            1,
            "{name} deleted a key"
        );
    }
}

// ---------------------------------------------------------------- POST /api/v1/sessions

fn verify_with_jwks(t: &TestApp, token: &str) -> SessionClaims {
    let jwks = t.app.create_session.signer.jwks();
    let jwk = &jwks["keys"][0];
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(
        header.kid.as_deref(),
        jwk["kid"].as_str(),
        "kid names the JWKS key"
    );
    let key =
        DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[&t.app.config.playground.issuer]);
    validation.set_audience(&[&t.app.config.playground.audience]);
    jsonwebtoken::decode::<SessionClaims>(token, &key, &validation)
        .expect("token verifies with the JWKS")
        .claims
}

#[tokio::test]
async fn a_session_costs_one_credit_and_returns_a_signed_playground_token() {
    // GIVEN a key whose account has 3 credits
    let t = app_with_key().await;
    // WHEN the customer's server opens a session
    let (status, body, headers) = parts(t.app.create_session(fixture("create-session")).await);
    // THEN 200 with exactly the documented fields
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        field_names(&body),
        ["credits", "expiresIn", "playgroundUrl", "success", "token"]
    );
    assert_eq!(body["success"], true);
    assert_eq!(body["credits"], 2, "balance after this deduction");
    assert_eq!(body["expiresIn"], 86400);
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("eyJ"));
    assert_eq!(
        body["playgroundUrl"],
        format!("https://visionpipe3d.quochuy.dev/playground?token={token}")
    );
    assert_eq!(headers["cache-control"], "no-store");
    // AND the token is an ES256 JWT with the contract's claims, verifiable from the JWKS alone
    let claims = verify_with_jwks(&t, token);
    assert_eq!(claims.sub, FIXTURE_ACCOUNT);
    assert_eq!(claims.exp - claims.iat, 86400);
    assert!(claims.sid.starts_with("ses_"));
    assert!(!claims.jti.is_empty());
    assert!((claims.iat - time::OffsetDateTime::now_utc().unix_timestamp()).abs() < 5);
    // AND the debit is in the ledger naming the key and session, and the use is audited
    let account = account(FIXTURE_ACCOUNT);
    let ledger = t.store().ledger(&account).await.unwrap();
    let debit = ledger
        .iter()
        .find(|e| e.kind == LedgerKind::Debit)
        .expect("debit entry");
    assert_eq!((debit.amount, debit.balance_after), (1, 2));
    assert_eq!(debit.key_id.as_deref(), Some(FIXTURE_KEY_ID));
    assert_eq!(debit.session_id.as_deref(), Some(claims.sid.as_str()));
    let audit = t
        .store()
        .audit_events(&account, common::clock::now())
        .await
        .unwrap();
    let used = audit
        .iter()
        .find(|e| e.event == AuditAction::KeyUsed)
        .expect("key.used event");
    assert_eq!(used.ip_address.as_deref(), Some("203.0.113.7"));
    assert!(
        t.store().list_keys(&account).await.unwrap()[0]
            .last_used_at
            .is_some()
    );
}

#[tokio::test]
async fn an_empty_json_object_body_is_accepted() {
    let t = app_with_key().await;
    let (status, body, _) = parts(t.app.create_session(fixture("create-session-empty-object")).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["credits"], 2);
}

#[tokio::test]
async fn token_lifetime_and_playground_url_are_configurable() {
    let t = TestApp::with(&[
        ("VP_SESSION_TOKEN_TTL_SECONDS", "3600"),
        ("VP_PLAYGROUND_BASE_URL", "https://play.example.test/"),
    ]);
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    let (_, body, _) = parts(t.app.create_session(fixture("create-session")).await);
    assert_eq!(body["expiresIn"], 3600);
    let token = body["token"].as_str().unwrap();
    assert_eq!(
        body["playgroundUrl"],
        format!("https://play.example.test/playground?token={token}")
    );
    let claims = verify_with_jwks(&t, token);
    assert_eq!(claims.exp - claims.iat, 3600);
}

#[tokio::test]
async fn every_documented_session_error_and_nothing_is_debited() {
    let cases = [
        ("create-session-missing-auth", 401, MISSING_AUTH),
        ("create-session-not-bearer", 401, MISSING_AUTH),
        ("create-session-invalid-format", 401, "Invalid API key format"),
        ("create-session-invalid-key", 401, "Invalid API key"),
        ("create-session-bad-checksum", 401, "Invalid API key"),
        ("create-session-insufficient-credits", 402, "Insufficient credits"),
        (
            "create-session-unexpected-body",
            400,
            "Request body must be empty or an empty JSON object {}",
        ),
        ("create-session-wrong-method", 405, "Method not allowed"),
    ];
    for (name, want_status, want_error) in cases {
        // GIVEN one key with credits and one whose account is empty
        let t = app_with_key().await;
        seed_key(
            t.store(),
            "acct_empty",
            "key_01JF0000000000000000000002",
            KEY_EMPTY,
        )
        .await;
        drain(t.store(), KEY_EMPTY).await;
        let before = t.store().ledger(&account(FIXTURE_ACCOUNT)).await.unwrap().len();
        // WHEN the request is bad in this way
        let (status, body, headers) = parts(t.app.create_session(fixture(name)).await);
        // THEN the documented error, and no credit moved anywhere
        assert_error(status, &body, want_status, want_error);
        if want_status == 405 {
            assert_eq!(headers["allow"], "POST");
        }
        assert_eq!(credits(t.store(), FIXTURE_ACCOUNT).await, 3, "{name}");
        assert_eq!(credits(t.store(), "acct_empty").await, 0, "{name}");
        assert_eq!(
            t.store().ledger(&account(FIXTURE_ACCOUNT)).await.unwrap().len(),
            before,
            "{name}"
        );
        assert!(
            t.store().list_keys(&account(FIXTURE_ACCOUNT)).await.unwrap()[0]
                .last_used_at
                .is_none(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn sessions_run_the_balance_down_to_zero_then_402() {
    let t = app_with_key().await;
    for expected in [2, 1, 0] {
        let (status, body, _) = parts(t.app.create_session(fixture("create-session")).await);
        assert_eq!((status, body["credits"].as_u64()), (200, Some(expected)));
    }
    let (status, body, _) = parts(t.app.create_session(fixture("create-session")).await);
    assert_error(status, &body, 402, "Insufficient credits");
    let balance = t
        .store()
        .balance(&account(FIXTURE_ACCOUNT))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((balance.credits, balance.granted, balance.debited), (0, 3, 3));
}

// ---------------------------------------------------------------- secrets at rest

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
async fn the_bearer_scheme_is_matched_case_insensitively() {
    // RFC 7235: `bearer`, `BEARER` and `Bearer` are the same scheme, for keys and console tokens.
    let t = app_with_key().await;
    for scheme in ["bearer", "BEARER"] {
        let mut req = fixture("create-session");
        req.headers_mut()
            .insert("authorization", format!("{scheme} {KEY_OK}").parse().unwrap());
        assert_eq!(t.app.create_session(req).await.status(), 200, "{scheme}");
        let mut req = fixture("list-keys");
        let console = req.headers()["authorization"]
            .to_str()
            .unwrap()
            .replacen("Bearer", scheme, 1);
        req.headers_mut()
            .insert("authorization", console.parse().unwrap());
        assert_eq!(t.app.list_keys(req).await.status(), 200, "{scheme}");
    }
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

// ---------------------------------------------------------------- key expiry

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
    let expired = common::api_key::PlaintextKey::generate();
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

// ---------------------------------------------------------------- per-key daily limits

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
    let mut roll = fixture("roll-key");
    let id = created["id"].as_str().unwrap();
    *roll.uri_mut() = format!("https://api.example.com/api/v1/keys/{id}/roll")
        .parse()
        .unwrap();
    roll = lambda_http::RequestExt::with_path_parameters(
        roll,
        std::collections::HashMap::from([("id".to_string(), id.to_string())]),
    );
    let (status, rolled, _) = parts(t.app.roll_key(roll).await);
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
