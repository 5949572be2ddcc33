//! `Idempotency-Key` on `POST /api/v1/sessions`, through the handler with the fixtures.

use common::store::LedgerKind;
use tests::*;

async fn debits(t: &TestApp) -> usize {
    let ledger = t.store().ledger(&account(FIXTURE_ACCOUNT)).await.unwrap();
    ledger.iter().filter(|e| e.kind == LedgerKind::Debit).count()
}

#[tokio::test]
async fn a_retry_gets_the_first_response_byte_for_byte_and_pays_nothing() {
    let t = TestApp::new();
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    // WHEN the same request is sent twice with one Idempotency-Key
    let first = t.app.create_session(fixture("create-session-idempotent")).await;
    let retry = t.app.create_session(fixture("create-session-idempotent")).await;
    // THEN the bodies are identical, the retry says it is a replay, and one credit was spent
    assert_eq!(first.status(), 200);
    assert_eq!(retry.status(), 200);
    assert_eq!(first.body().as_ref(), retry.body().as_ref(), "byte for byte");
    assert!(first.headers().get("idempotent-replayed").is_none());
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(debits(&t).await, 1);
    assert_eq!(credits(t.store(), FIXTURE_ACCOUNT).await, 2);
    // AND without the header the next request is a new, paid session
    let (status, body, _) = parts(t.app.create_session(fixture("create-session")).await);
    assert_eq!((status, body["credits"].as_u64()), (200, Some(1)));
}

#[tokio::test]
async fn reusing_a_key_for_another_request_or_api_key_is_422() {
    let t = TestApp::new();
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    seed_key(
        t.store(),
        FIXTURE_ACCOUNT,
        "key_01JF0000000000000000000003",
        KEY_EMPTY,
    )
    .await;
    assert_eq!(
        t.app
            .create_session(fixture("create-session-idempotent"))
            .await
            .status(),
        200
    );

    let (status, body, _) = parts(
        t.app
            .create_session(fixture("create-session-idempotent-other-body"))
            .await,
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (
            422,
            Some("Idempotency-Key was already used with a different request")
        )
    );

    let mut other_key = fixture("create-session-idempotent");
    other_key
        .headers_mut()
        .insert("authorization", format!("Bearer {KEY_EMPTY}").parse().unwrap());
    let (status, body, _) = parts(t.app.create_session(other_key).await);
    assert_eq!(
        (status, body["error"].as_str()),
        (
            422,
            Some("Idempotency-Key was already used with a different API key")
        )
    );
    assert_eq!(body["code"], "idempotency_key_reused");
    assert_eq!(debits(&t).await, 1, "422s take nothing");
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_400_before_anything_happens() {
    let t = TestApp::new();
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    let (status, body, _) = parts(
        t.app
            .create_session(fixture("create-session-bad-idempotency-key"))
            .await,
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("Idempotency-Key must be 1-255 printable characters"))
    );
    assert_eq!(debits(&t).await, 0);
}

#[tokio::test]
async fn unmatched_requests_get_json_404_and_405() {
    let (status, body, _) = parts(functions::fallback(fixture("unmatched-path")).await);
    assert_eq!(
        (status, body["error"].as_str(), body["code"].as_str()),
        (404, Some("Not found"), Some("not_found"))
    );
    let (status, body, headers) = parts(functions::fallback(fixture("unmatched-method")).await);
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("Method not allowed"))
    );
    assert_eq!(headers["allow"], "POST, GET");
}

#[tokio::test]
async fn the_record_holds_no_live_token_and_the_replay_keeps_the_recorded_balance() {
    // GIVEN an idempotent session, another session, and the retry
    let t = TestApp::new();
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    let token = replay_after_another_session(&t.app).await;
    // THEN nothing on disk (the database, and its WAL and index when present) holds the token a
    // copy could be used with
    let db = t.db_path();
    let bytes = std::fs::read(&db).unwrap_or_else(|e| panic!("{}: {e}", db.display()));
    assert_holds_no_token(&bytes, &token, "the database file");
    for suffix in ["-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        match std::fs::read(&path) {
            Ok(bytes) => assert_holds_no_token(&bytes, &token, &path),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{path}: {e}"),
        }
    }
}

/// `sealed` with one base64url character in its middle changed.
fn altered(sealed: &str) -> String {
    let mut chars: Vec<char> = sealed.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn a_tampered_or_moved_record_yields_no_token_and_takes_nothing() {
    // GIVEN an idempotent session, whose record holds the token sealed
    let t = TestApp::new();
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    let first = t.app.create_session(fixture("create-session-idempotent")).await;
    assert_eq!(first.status(), 200);
    let db = rusqlite::Connection::open(t.db_path()).unwrap();
    let (sealed, session): (String, String) = db
        .query_row("SELECT sealed_token, session_id FROM idempotency", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let retry = || t.app.create_session(fixture("create-session-idempotent"));
    for (what, record) in [
        // WHEN someone who can write the table alters the sealed token
        ("altered", (altered(&sealed), session.clone())),
        // OR moves it to a record of another session
        (
            "moved",
            (sealed.clone(), "ses_01JF0000000000000000000000".to_string()),
        ),
    ] {
        db.execute(
            "UPDATE idempotency SET sealed_token = ?1, session_id = ?2",
            rusqlite::params![record.0, record.1],
        )
        .unwrap();
        // THEN the retry is a 500 that carries no token, and takes nothing
        let (status, body, _) = parts(retry().await);
        assert_eq!(
            (status, body["code"].as_str()),
            (500, Some("internal_error")),
            "{what}: {body}"
        );
        assert!(
            body.get("token").is_none() && body.get("playgroundUrl").is_none(),
            "{what}"
        );
        assert_eq!(debits(&t).await, 1, "{what}");
    }
    // AND the record put back answers the first response again, byte for byte
    db.execute(
        "UPDATE idempotency SET sealed_token = ?1, session_id = ?2",
        rusqlite::params![sealed, session],
    )
    .unwrap();
    let replay = retry().await;
    assert_eq!(replay.body().as_ref(), first.body().as_ref());
}
