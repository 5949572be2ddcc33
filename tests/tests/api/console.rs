//! What the console page needs from the API, at handler level on the embedded store: the
//! balance, the audit trail a page at a time, the public key set of session tokens, and the
//! page itself with its security headers.

use common::handlers::{console_page, jwks};
use tests::bad_input::Case;
use tests::*;

/// `GET path` (query included) with `Authorization: Bearer <bearer>` when given.
fn get(path: &str, bearer: Option<&str>) -> lambda_http::Request {
    Case {
        name: "console",
        method: "GET",
        path: path.to_string(),
        headers: bearer
            .map(|b| vec![("authorization", format!("Bearer {b}"))])
            .unwrap_or_default(),
        body: Vec::new(),
        status: 200,
        error: "",
        over_http: true,
    }
    .to_request()
}

fn raw(response: lambda_http::Response<lambda_http::Body>) -> (u16, String, lambda_http::http::HeaderMap) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        String::from_utf8(response.body().to_vec()).unwrap(),
        headers,
    )
}

#[tokio::test]
async fn credits_show_the_balance_and_a_new_account_its_free_credits() {
    // GIVEN a signed-in user whose account has no key yet
    let t = TestApp::new();
    let token = console_signer(&t.app.config).mint(&account("acct_new"), 600);
    // THEN the console shows the credits the account starts with
    let (status, body, headers) = parts(t.app.credits(get("/api/v1/credits", Some(&token))).await);
    assert_eq!(
        (status, body.clone()),
        (200, serde_json::json!({"success": true, "credits": 3}))
    );
    assert_eq!(headers["cache-control"], "no-store");
    // WHEN the fixture account spends one credit
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    let session = t.app.create_session(fixture("create-session")).await;
    assert_eq!(session.status(), 200);
    // THEN its balance is 2, and only its own token reads it
    let (status, body, _) = parts(t.app.credits(fixture("credits")).await);
    assert_eq!((status, body["credits"].as_u64()), (200, Some(2)), "{body}");
    let (status, body, _) = parts(t.app.credits(get("/api/v1/credits", None)).await);
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("missing_authorization"))
    );
}

#[tokio::test]
async fn the_audit_trail_pages_newest_first_with_a_cursor() {
    // GIVEN a key created through the API, used three times, and deleted
    let t = TestApp::new();
    let token = console_signer(&t.app.config).mint(&account(FIXTURE_ACCOUNT), 600);
    seed_key(t.store(), FIXTURE_ACCOUNT, FIXTURE_KEY_ID, KEY_OK).await;
    for _ in 0..3 {
        let r = t.app.create_session(fixture("create-session")).await;
        assert_eq!(r.status(), 200);
    }
    let r = t.app.delete_key(fixture("delete-key")).await;
    assert_eq!(r.status(), 200);

    // WHEN the console reads it two events at a time
    let mut seen = Vec::new();
    let mut path = "/api/v1/audit?limit=2".to_string();
    loop {
        let (status, body, _) = parts(t.app.audit(get(&path, Some(&token))).await);
        assert_eq!(status, 200, "{body}");
        let events = body["events"].as_array().unwrap();
        assert!(events.len() <= 2);
        seen.extend(
            events
                .iter()
                .map(|e| (e["event"].as_str().unwrap().to_string(), e["id"].clone())),
        );
        match body["nextCursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/audit?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    // THEN it got the deletion first, every use, the creation last, and nothing twice
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["key.deleted", "key.used", "key.used", "key.used", "key.created"]
    );
    let mut ids: Vec<_> = seen.iter().map(|(_, id)| id.to_string()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    // AND one unpaged read (the fixture: default limit) gives the same trail
    let (_, body, _) = parts(t.app.audit(fixture("audit")).await);
    assert_eq!(body["events"].as_array().unwrap().len(), 5);
    assert_eq!(body["nextCursor"], serde_json::Value::Null);
    assert_eq!(body["events"][0]["ipAddress"], "203.0.113.7");
    // AND another account sees none of it
    let stranger = console_signer(&t.app.config).mint(&account("acct_other"), 600);
    let (_, body, _) = parts(t.app.audit(get("/api/v1/audit", Some(&stranger))).await);
    assert_eq!(body["events"], serde_json::json!([]));
    // AND a bad page request is a 400 that says what is wrong
    let (status, body, _) = parts(t.app.audit(fixture("audit-bad-limit")).await);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("limit must be a whole number from 1 to 100"))
    );
}

fn public_pem(private_pem: &str) -> String {
    use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
    p256::SecretKey::from_pkcs8_pem(private_pem)
        .unwrap()
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

#[tokio::test]
async fn the_jwks_publishes_the_signing_key_and_both_keys_during_a_rotation() {
    // GIVEN a local stack: the set is the local signing key's, and verifies its tokens
    let t = TestApp::new();
    let (status, body, headers) = parts(t.app.dispatch(fixture("jwks")).await);
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "public, max-age=300");
    assert_eq!(body, t.app.create_session.signer.jwks());

    // WHEN an operator rotates: the old and the new public keys are both published
    let (old, new) = (
        common::playground::generate_pem(),
        common::playground::generate_pem(),
    );
    let bundle = format!("{}{}", public_pem(&new), public_pem(&old));
    let rotating = TestApp::with(&[("VP_PLAYGROUND_PUBLIC_KEYS", &bundle)]);
    let (_, set, _) = parts(rotating.app.jwks(fixture("jwks")).await);
    assert_eq!(set["keys"].as_array().unwrap().len(), 2);

    // THEN a token signed before the switch and one signed after both verify with the set
    for pem in [&old, &new] {
        let signer = common::playground::PlaygroundSigner::from_pem(pem, &t.app.config.playground).unwrap();
        let issued = signer
            .issue(
                &account("acct_1"),
                &common::ids::SessionId::generate(),
                common::api_key::KeyMode::Live,
                common::clock::now(),
            )
            .unwrap();
        let header = jsonwebtoken::decode_header(&issued.token).unwrap();
        let jwk = set["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"].as_str() == header.kid.as_deref())
            .expect("the token's kid is published");
        let key = jsonwebtoken::DecodingKey::from_ec_components(
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap(),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&[&t.app.config.playground.audience]);
        jsonwebtoken::decode::<serde_json::Value>(&issued.token, &key, &validation).expect("verifies");
    }
    // AND a set that is not P-256 public keys fails the cold start, naming the variable
    let broken = local_config(t.dir.path(), &[("VP_PLAYGROUND_PUBLIC_KEYS", "not a key")]);
    let err = jwks::PublishedKeys::from_config(&broken)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("VP_PLAYGROUND_PUBLIC_KEYS"), "{err}");
}

#[tokio::test]
async fn the_console_page_is_served_with_a_strict_policy_and_versioned_assets() {
    let (status, html, headers) = raw(functions::console(fixture("console")).await);
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("http"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    // No inline script or style in the page: only the two versioned files.
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "inline code in the page"
    );
    for name in console_page::asset_names() {
        assert!(html.contains(&format!("/console/{name}")), "{name}");
        let (status, body, headers) = raw(functions::console(get(&format!("/console/{name}"), None)).await);
        assert_eq!(status, 200);
        assert!(!body.is_empty());
        assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable");
        assert!(headers["content-security-policy"].to_str().is_ok());
    }
    // The docs' words are on the page.
    for words in [
        "Add Key",
        "Create Key",
        "Name",
        "Key prefix",
        "Last used",
        "Created",
        "Copy",
        "Delete",
        "Audit log",
    ] {
        assert!(html.contains(words), "{words}");
    }
    let (status, body, _) = parts(functions::console(get("/console/app.js", None)).await);
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_found")),
        "only versioned names"
    );
}
