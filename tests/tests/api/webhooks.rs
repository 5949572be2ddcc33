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
            "failingSince",
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
        ["createdAt", "description", "events", "failingSince", "id", "url"]
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

/// An endpoint at `url` made through create-webhook; its id and signing secret.
async fn endpoint_at(t: &TestApp, url: &str) -> (String, String) {
    let (status, created, _) = parts(
        t.app
            .create_webhook(create(json!({"url": url, "events": ["credits.low"]})))
            .await,
    );
    assert_eq!(status, 201, "{created}");
    (
        created["id"].as_str().unwrap().into(),
        created["secret"].as_str().unwrap().into(),
    )
}

fn for_endpoint(name: &str, id: &str) -> lambda_http::Request {
    fixture(name).with_path_parameters(std::collections::HashMap::from([(
        "id".to_string(),
        id.to_string(),
    )]))
}

#[tokio::test]
async fn a_test_event_is_signed_sent_and_kept_in_the_endpoints_delivery_log() {
    let t = app();
    // GIVEN an endpoint at a receiver that verifies with the standardwebhooks package, and
    // answers 500 to its first three deliveries
    let receiver = receiver::Receiver::without_secret(3);
    let (id, secret) = endpoint_at(&t, &receiver.url).await;
    receiver.set_secret(&secret);
    // WHEN a test event is sent four times
    let mut answers = Vec::new();
    for _ in 0..4 {
        let (status, body, _) = parts(t.app.test_webhook(for_endpoint("test-webhook", &id)).await);
        assert_eq!(status, 200, "{body}");
        answers.push(body["delivery"].clone());
    }
    // THEN the first three are the endpoint's 500s and the fourth is delivered
    let seen: Vec<_> = answers
        .iter()
        .map(|d| {
            (
                d["status"].as_u64(),
                d["delivered"].as_bool(),
                d["eventType"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Some(500), Some(false), Some("webhook.test")),
            (Some(500), Some(false), Some("webhook.test")),
            (Some(500), Some(false), Some("webhook.test")),
            (Some(200), Some(true), Some("webhook.test")),
        ]
    );
    assert_eq!(answers[0]["error"], "answered 500");
    // AND the receiver verified every one, with the endpoint named in its data
    let received = receiver.deliveries();
    assert_eq!(received.len(), 4);
    assert!(received.iter().all(|d| d["verified"] == true
        && d["type"] == "webhook.test"
        && d["data"]["webhookId"] == id.as_str()));
    // AND the delivery log shows the four attempts, newest first, a page at a time
    let mut page = for_endpoint("webhook-deliveries", &id).with_query_string_parameters(
        std::collections::HashMap::from([("limit".to_string(), "3".to_string())]),
    );
    let (status, first, _) = parts(t.app.webhook_deliveries(page).await);
    assert_eq!(status, 200, "{first}");
    let statuses = |p: &Value| {
        p["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["status"].as_u64())
            .collect::<Vec<_>>()
    };
    assert_eq!(statuses(&first), [Some(200), Some(500), Some(500)]);
    assert_eq!(first["deliveries"][0]["id"], answers[3]["id"]);
    page = for_endpoint("webhook-deliveries", &id).with_query_string_parameters(
        std::collections::HashMap::from([
            ("limit".to_string(), "3".to_string()),
            (
                "cursor".to_string(),
                first["nextCursor"].as_str().unwrap().to_string(),
            ),
        ]),
    );
    let (_, second, _) = parts(t.app.webhook_deliveries(page).await);
    assert_eq!(statuses(&second), [Some(500)]);
    assert_eq!(second["nextCursor"], Value::Null);
}

#[tokio::test]
async fn another_accounts_endpoint_cannot_be_tested_or_read() {
    let t = app();
    let (id, _) = endpoint_at(&t, "https://hooks.example.com/mine").await;
    let stranger = console_signer(&t.app.config).mint(&account("acct_stranger"), 3600);
    for (name, req) in [
        ("test", for_endpoint("test-webhook", &id)),
        ("deliveries", for_endpoint("webhook-deliveries", &id)),
    ] {
        let mut req = req;
        req.headers_mut()
            .insert("authorization", format!("Bearer {stranger}").parse().unwrap());
        let (status, body, _) = parts(t.app.dispatch(req).await);
        assert_error(status, &body, 404, "Webhook endpoint not found");
        assert!(!body.to_string().contains("hooks.example.com"), "{name}");
    }
}
