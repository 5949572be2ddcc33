//! `DELETE /api/v1/keys/{id}`, driven by the `events/` fixtures: revoked at once, owner only.

use common::store::AuditAction;
use tests::*;

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
