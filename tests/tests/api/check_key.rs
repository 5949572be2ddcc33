//! `GET /api/v1/keys/self` with the `events/` fixtures: a live key learns what it is, for free;
//! everything else gets the session endpoint's 401.

use tests::*;

#[tokio::test]
async fn a_live_key_learns_what_it_is_and_spends_nothing_and_writes_nothing() {
    // GIVEN KEY_OK, live with 3 credits
    let t = app_with_key().await;
    let audit_before = t
        .store()
        .audit_events(&account(FIXTURE_ACCOUNT), common::clock::now())
        .await
        .unwrap();
    // WHEN it checks itself, twice
    for _ in 0..2 {
        let (status, body, headers) = parts(t.app.check_key(fixture("check-key")).await);
        // THEN it is told what it is, in the documented shape
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            field_names(&body),
            [
                "createdAt",
                "expiresAt",
                "id",
                "limits",
                "mode",
                "name",
                "prefix",
                "success"
            ]
        );
        assert_eq!(
            (
                body["success"].as_bool(),
                body["id"].as_str(),
                body["prefix"].as_str()
            ),
            (Some(true), Some(FIXTURE_KEY_ID), Some(&KEY_OK[..12]))
        );
        assert_eq!(
            (body["expiresAt"].is_null(), body["limits"].is_null()),
            (true, true)
        );
        assert!(headers.get("www-authenticate").is_none());
    }
    // AND no credit, no audit event, no "last used"
    assert_eq!(credits(t.store(), FIXTURE_ACCOUNT).await, 3);
    let audit_after = t
        .store()
        .audit_events(&account(FIXTURE_ACCOUNT), common::clock::now())
        .await
        .unwrap();
    assert_eq!(audit_after.len(), audit_before.len());
    let listed = t.store().list_keys(&account(FIXTURE_ACCOUNT)).await.unwrap();
    assert_eq!(listed[0].last_used_at, None, "a check is not use");
}

#[tokio::test]
async fn a_key_that_expires_and_has_limits_says_so() {
    // GIVEN a key made in the console with an expiry and a daily limit
    let t = TestApp::new();
    let mut req = fixture("create-key");
    let expires_at = common::clock::rfc3339(common::clock::now() + time::Duration::days(30));
    *req.body_mut() = lambda_http::Body::Text(
        serde_json::json!({"name": "CI", "expiresAt": expires_at, "limits": {"sessionsPerDay": 50}})
            .to_string(),
    );
    let (status, created, _) = parts(t.app.create_key(req).await);
    assert_eq!(status, 201, "{created}");
    // WHEN it checks itself
    let mut check = fixture("check-key");
    let bearer = format!("Bearer {}", created["key"].as_str().unwrap());
    check
        .headers_mut()
        .insert("authorization", bearer.parse().unwrap());
    let (status, body, _) = parts(t.app.check_key(check).await);
    // THEN its expiry and limits are those it was made with
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], created["id"]);
    assert_eq!(body["name"], "CI");
    assert_eq!(body["createdAt"], created["createdAt"]);
    assert_eq!(body["expiresAt"].as_str(), Some(expires_at.as_str()));
    assert_eq!(body["limits"], serde_json::json!({"sessionsPerDay": 50}));
}

#[tokio::test]
async fn a_deleted_or_leaked_key_gets_the_session_endpoints_401_even_on_a_warm_instance() {
    // GIVEN KEY_OK, checked once (so this instance remembers which key it is)
    let t = app_with_key().await;
    assert_eq!(t.app.check_key(fixture("check-key")).await.status(), 200);
    // WHEN it is deleted THEN the next check is refused as a session would be
    assert_eq!(t.app.delete_key(fixture("delete-key")).await.status(), 200);
    let check = parts(t.app.check_key(fixture("check-key")).await);
    let session = parts(t.app.create_session(fixture("create-session")).await);
    assert_error(check.0, &check.1, 401, "Invalid API key");
    assert_eq!(
        (check.0, &check.1),
        (session.0, &session.1),
        "the same answer as a session"
    );
    assert_eq!(check.2.get("www-authenticate"), session.2.get("www-authenticate"));
    // AND a leaked key likewise
    let t = app_with_key().await;
    assert_eq!(t.app.check_key(fixture("check-key")).await.status(), 200);
    assert_eq!(
        t.app.secret_scanning(fixture("secret-scanning")).await.status(),
        200
    );
    let (status, body, _) = parts(t.app.check_key(fixture("check-key")).await);
    assert_error(status, &body, 401, "Invalid API key");
}

#[tokio::test]
async fn a_key_never_issued_is_refused_like_a_session() {
    let t = app_with_key().await;
    let check = parts(t.app.check_key(fixture("check-key-invalid-key")).await);
    let session = parts(t.app.create_session(fixture("create-session-invalid-key")).await);
    assert_error(check.0, &check.1, 401, "Invalid API key");
    assert_eq!((check.0, &check.1), (session.0, &session.1));
}
