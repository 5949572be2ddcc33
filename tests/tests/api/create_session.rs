//! `POST /api/v1/sessions`, driven by the `events/` fixtures: one credit, a signed token, every
//! documented error with nothing debited.

use common::store::{AuditAction, LedgerKind};
use tests::*;

use tests::session_claims as verify_with_jwks;

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
        [
            "credits",
            "expiresIn",
            "mode",
            "playgroundUrl",
            "success",
            "token"
        ]
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
