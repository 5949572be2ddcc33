//! One delivery attempt (`common::webhooks::delivery`), received by a receiver built on the
//! `standardwebhooks` package from PyPI: every delivery verifies there; a failing endpoint's
//! answer is kept with its status; a non-public address, named or reached by a redirect, is
//! never connected to.

use common::webhooks::delivery::{Event, Sender};
use common::webhooks::guard::FixedResolver;
use common::webhooks::guard::{Policy, SystemResolver};
use common::webhooks::signing::SigningSecret;
use serde_json::json;
use std::sync::Arc;
use tests::receiver::Receiver;

fn event(id: &str) -> Event {
    Event {
        id: id.to_string(),
        kind: "credits.low".into(),
        timestamp: common::clock::now(),
        data: json!({"accountId": "acct_1", "credits": 1, "threshold": 1}),
    }
}

const LOCAL: Policy = Policy { allow_local: true };

#[tokio::test]
async fn a_delivery_verifies_with_the_standard_webhooks_library_and_a_changed_secret_does_not() {
    let secret = SigningSecret::generate();
    let receiver = Receiver::start(secret.expose(), 0);
    let sender = Sender::new(Arc::new(SystemResolver), LOCAL);
    // WHEN an event is delivered THEN the receiver verifies it and answers 200
    let attempt = sender.send(&receiver.url, &secret, &event("msg_01")).await;
    assert!(attempt.delivered(), "{attempt:?}");
    assert_eq!(attempt.status, Some(200));
    // AND a delivery signed with another secret does not verify there
    let other = SigningSecret::generate();
    let refused = sender.send(&receiver.url, &other, &event("msg_02")).await;
    assert_eq!(
        (refused.status, refused.delivered()),
        (Some(400), false),
        "{refused:?}"
    );
    let seen = receiver.deliveries();
    assert_eq!(
        seen.iter()
            .map(|d| (d["id"].as_str(), d["verified"].as_bool()))
            .collect::<Vec<_>>(),
        [(Some("msg_01"), Some(true)), (Some("msg_02"), Some(false))]
    );
    assert_eq!(seen[0]["type"], "credits.low");
    assert_eq!(seen[0]["data"]["credits"], 1);
}

#[tokio::test]
async fn a_failing_endpoints_answers_are_kept_and_the_same_event_keeps_its_id() {
    // GIVEN an endpoint that answers 500 three times, then 200
    let secret = SigningSecret::generate();
    let receiver = Receiver::start(secret.expose(), 3);
    let sender = Sender::new(Arc::new(SystemResolver), LOCAL);
    // WHEN the same event is sent until it is delivered
    let mut attempts = Vec::new();
    loop {
        let attempt = sender.send(&receiver.url, &secret, &event("msg_retry")).await;
        let delivered = attempt.delivered();
        attempts.push(attempt);
        if delivered || attempts.len() > 5 {
            break;
        }
    }
    // THEN four attempts, the first three failed with the endpoint's 500, and every one of them
    // reached the receiver verified, under the one event id
    let statuses: Vec<_> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(500), Some(200)]);
    assert_eq!(attempts[0].error.as_deref(), Some("answered 500"));
    let seen = receiver.deliveries();
    assert_eq!(seen.len(), 4);
    assert!(
        seen.iter()
            .all(|d| d["id"] == "msg_retry" && d["verified"] == true)
    );
}

#[tokio::test]
async fn a_non_public_address_is_refused_before_any_connection_and_a_redirect_is_not_followed() {
    let secret = SigningSecret::generate();
    // In AWS: loopback (the receiver itself), a literal private or metadata address, and a
    // name that resolves to 10.0.0.1 are each refused before a connection is made.
    let receiver = Receiver::start(secret.expose(), 0);
    let resolver = Arc::new(FixedResolver::new(&[("internal.example.com", "10.0.0.1")]));
    let aws = Sender::new(resolver, Policy { allow_local: false });
    let https_receiver = receiver.url.replace("http://", "https://");
    for url in [
        https_receiver.as_str(),
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/hook",
        "https://internal.example.com/hook",
    ] {
        let attempt = aws.send(url, &secret, &event("msg_ssrf")).await;
        let error = attempt.error.clone().unwrap_or_default();
        assert!(
            attempt.status.is_none() && error.starts_with("refused before connecting"),
            "{url}: {attempt:?}"
        );
    }
    assert!(receiver.deliveries().is_empty(), "nothing reached the receiver");
    // A redirect to a private address is answered as a failure and not followed: a stand-in
    // endpoint on loopback answers 302 to 10.0.0.1, and the attempt ends there.
    let redirecting = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let location = format!(
        "http://127.0.0.1:{}/hook",
        redirecting.server_addr().to_ip().unwrap().port()
    );
    let answered = std::thread::spawn(move || {
        let request = redirecting.recv().unwrap();
        let header = tiny_http::Header::from_bytes("Location", "http://10.0.0.1/hook").unwrap();
        request
            .respond(tiny_http::Response::empty(302).with_header(header))
            .unwrap();
        // Nothing else comes: the 302 is not followed (to this or any address).
        redirecting
            .recv_timeout(std::time::Duration::from_millis(300))
            .unwrap()
            .is_none()
    });
    let local = Sender::new(Arc::new(SystemResolver), LOCAL);
    let attempt = local.send(&location, &secret, &event("msg_redirect")).await;
    assert_eq!(attempt.status, Some(302));
    assert_eq!(
        attempt.error.as_deref(),
        Some("answered with a redirect, which is not followed")
    );
    assert!(answered.join().unwrap(), "one request only");
}
