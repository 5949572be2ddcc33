//! Webhook endpoints and the account's settings through the endpoints: an endpoint is created
//! with its signing secret shown once and kept only sealed, listed without it, capped at 5,
//! deleted per account; a URL that is or resolves to a non-public address is refused; an
//! account's own low-credit threshold decides its credits.low.

use common::store::CreditEventKind;
use common::webhooks::guard::FixedResolver;
use lambda_http::{Body, RequestExt};
use serde_json::{Value, json};
use std::sync::Arc;
use tests::*;

/// A fixture app whose create-webhook resolves names from a fixed table.
fn app() -> TestApp {
    let mut t = TestApp::new();
    t.app.create_webhook.resolver = Arc::new(FixedResolver::new(&[
        ("hooks.example.com", "93.184.215.14"),
        ("internal.example.com", "10.0.0.1"),
        ("sneaky.example.com", "169.254.169.254"),
    ]));
    t
}

fn with_body(mut req: lambda_http::Request, body: Value) -> lambda_http::Request {
    *req.body_mut() = Body::from(body.to_string());
    req
}

fn create(body: Value) -> lambda_http::Request {
    with_body(fixture("create-webhook"), body)
}

#[tokio::test]
async fn an_endpoint_is_created_with_its_secret_shown_once_and_listed_without_it() {
    let t = app();
    // WHEN an endpoint is added
    let (status, created, headers) = parts(t.app.create_webhook(fixture("create-webhook")).await);
    // THEN 201 with the endpoint and its signing secret, which is in this answer only
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        field_names(&created),
        [
            "createdAt",
            "description",
            "events",
            "id",
            "secret",
            "success",
            "url"
        ]
    );
    let secret = created["secret"].as_str().unwrap();
    assert!(
        common::webhooks::signing::SigningSecret::parse(secret).is_some(),
        "{secret}"
    );
    assert_eq!(headers["cache-control"], "no-store");
    // AND the list shows it, without the secret
    let (status, list, _) = parts(t.app.list_webhooks(fixture("list-webhooks")).await);
    assert_eq!(status, 200, "{list}");
    let listed = &list["webhooks"][0];
    assert_eq!(
        field_names(listed),
        ["createdAt", "description", "events", "id", "url"]
    );
    for field in ["id", "url", "events", "description", "createdAt"] {
        assert_eq!(listed[field], created[field], "{field}");
    }
    assert!(!list.to_string().contains(secret));
    // AND the store holds it only sealed: not in the database file or its log
    for file in ["visionpipe.db", "visionpipe.db-wal"] {
        let bytes = std::fs::read(t.dir.path().join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{file} holds the secret"
        );
        let key = &secret["whsec_".len()..];
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "{file} holds the key"
        );
    }
    // WHEN it is deleted THEN it is gone, and a second deletion is a 404
    let id = created["id"].as_str().unwrap();
    let delete = || {
        fixture("delete-webhook").with_path_parameters(std::collections::HashMap::from([(
            "id".to_string(),
            id.to_string(),
        )]))
    };
    let (status, body, _) = parts(t.app.delete_webhook(delete()).await);
    assert_eq!((status, body), (200, json!({"success": true})));
    let (status, body, _) = parts(t.app.delete_webhook(delete()).await);
    assert_error(status, &body, 404, "Webhook endpoint not found");
    let (_, list, _) = parts(t.app.list_webhooks(fixture("list-webhooks")).await);
    assert_eq!(list["webhooks"], json!([]));
}

#[tokio::test]
async fn a_url_that_is_or_resolves_to_a_non_public_address_is_refused_and_nothing_is_kept() {
    let t = app();
    for url in [
        "https://internal.example.com/hook",
        "https://sneaky.example.com/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/hook",
    ] {
        let (status, body, _) = parts(
            t.app
                .create_webhook(create(json!({"url": url, "events": ["credits.low"]})))
                .await,
        );
        assert_error(
            status,
            &body,
            400,
            "url's host is a private, loopback, link-local or otherwise non-public address",
        );
        assert!(!body.to_string().contains("example.com"), "the URL is not echoed");
    }
    let (_, list, _) = parts(t.app.list_webhooks(fixture("list-webhooks")).await);
    assert_eq!(list["webhooks"], json!([]));
}

#[tokio::test]
async fn an_account_has_at_most_five_endpoints() {
    let t = app();
    for i in 0..5 {
        let body = json!({"url": format!("https://hooks.example.com/{i}"), "events": ["key.leaked"]});
        assert_eq!(t.app.create_webhook(create(body)).await.status(), 201);
    }
    let (status, body, _) = parts(
        t.app
            .create_webhook(create(
                json!({"url": "https://hooks.example.com/6", "events": ["key.leaked"]}),
            ))
            .await,
    );
    assert_error(
        status,
        &body,
        409,
        "Webhook endpoint limit reached: an account can have at most 5; delete one first",
    );
}

#[tokio::test]
async fn an_accounts_own_threshold_decides_its_credits_low() {
    // GIVEN the fixture key with its 3 free credits, and the account's threshold set to 2
    let t = app_with_key().await;
    let (status, body, _) = parts(t.app.update_account(fixture("update-account")).await);
    assert_eq!(
        (status, body),
        (200, json!({"success": true, "lowCreditThreshold": 2}))
    );
    // WHEN one session takes the balance to 2
    assert_eq!(
        t.app.create_session(fixture("create-session")).await.status(),
        200
    );
    // THEN credits.low is raised at 2, not at the deployment's 1
    let events = t.store().credit_events(&account(FIXTURE_ACCOUNT)).await.unwrap();
    let seen: Vec<_> = events.iter().map(|e| (e.event, e.credits, e.threshold)).collect();
    assert_eq!(seen, [(CreditEventKind::Low, 2, 2)]);
}
