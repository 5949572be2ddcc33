//! `GET /api/v1/keys`, driven by the `events/` fixtures.

use serde_json::Value;
use tests::*;

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
                "mode",
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
