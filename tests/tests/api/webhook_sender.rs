//! The webhook sender (`common::webhook_sender`) on a batch of queued jobs, on the embedded
//! store: every job of a batch is sent at once, so an endpoint that never answers holds up no
//! other account's delivery; an endpoint that fails every attempt of an event is marked failing
//! after the last one, and its next delivered event clears the mark.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use common::ids::WebhookId;
use common::sealed::EndpointBinding;
use common::startup::Startup;
use common::store::webhooks::{NewWebhook, WebhookEvent};
use common::webhook_sender::{State, handle};
use common::webhooks::deliverer::Next;
use common::webhooks::queue::Job;
use common::webhooks::retry::MAX_ATTEMPTS;
use common::webhooks::signing::SigningSecret;
use std::sync::Arc;
use std::time::Duration;
use tests::receiver::Receiver;
use tests::server::silent_server;
use tests::*;

/// The sender's state on `t`'s store, each attempt waiting at most `timeout`.
fn sender(t: &TestApp, timeout: Duration) -> State {
    let deliverer = Startup::with_store(t.app.config.clone(), t.app.store.clone())
        .deliverer()
        .unwrap();
    let requeue = common::store::sqlite::SqliteStore::open(&t.db_path(), 0).unwrap();
    State {
        deliverer: common::webhooks::deliverer::Deliverer {
            sender: deliverer.sender.with_timeout(timeout),
            ..deliverer
        },
        requeue: Arc::new(requeue),
    }
}

/// An endpoint of `account_id` at `url`, its secret sealed as create-webhook seals it.
async fn endpoint(t: &TestApp, state: &State, account_id: &str, url: &str) -> (WebhookId, SigningSecret) {
    let id = WebhookId::generate();
    let secret = SigningSecret::generate();
    let binding = EndpointBinding {
        account: account_id,
        endpoint: id.as_str(),
    };
    let hook = NewWebhook {
        id: id.clone(),
        account: account(account_id),
        url: url.to_string(),
        events: [WebhookEvent::KeyCreated].into_iter().collect(),
        description: None,
        sealed_secret: state.deliverer.seal.seal(binding, secret.expose()).unwrap(),
        created_at: common::clock::now(),
    };
    t.store().create_webhook(hook).await.unwrap();
    (id, secret)
}

fn job(account_id: &str, webhook: &WebhookId, source: &str) -> Job {
    let detail = common::webhooks::events::KeyDetail::default();
    let event = common::webhooks::events::key_event(
        source,
        common::store::AuditAction::KeyCreated,
        account_id,
        "key_1",
        detail,
        common::clock::now(),
    )
    .unwrap();
    Job {
        account: account_id.into(),
        webhook: webhook.to_string(),
        event,
    }
}

fn message(id: &str, job: &Job, receives: u32) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.into());
    message.receipt_handle = Some(id.into());
    message.body = Some(serde_json::to_string(job).unwrap());
    message.attributes = [("ApproximateReceiveCount".to_string(), receives.to_string())].into();
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_never_answers_holds_up_no_other_accounts_delivery() {
    let t = TestApp::new();
    let state = Arc::new(sender(&t, Duration::from_secs(3)));
    // GIVEN one account's endpoint that never answers, and another's that does
    let (silent, _) = endpoint(&t, &state, "acct_slow", &format!("{}/hook", silent_server())).await;
    let receiver = Receiver::without_secret(0);
    let (answering, secret) = endpoint(&t, &state, "acct_fast", &receiver.url).await;
    receiver.set_secret(secret.expose());
    // WHEN one batch holds the silent endpoint's job first, then the other's
    let mut batch = SqsEvent::default();
    batch.records = vec![
        message(
            "slow",
            &job("acct_slow", &silent, "01JF000000000000000000SLOW"),
            1,
        ),
        message(
            "fast",
            &job("acct_fast", &answering, "01JF000000000000000000FAST"),
            1,
        ),
    ];
    let sending = tokio::spawn({
        let state = state.clone();
        async move { handle(&state, batch).await }
    });
    // THEN the other account's event arrives, verified, while the silent endpoint's attempt is
    // still waiting (it is not in its delivery log yet: the jobs are not sent one after another)
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while receiver.deliveries().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the answering endpoint never got its event"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(receiver.deliveries()[0]["verified"], true);
    let slow_log = t
        .store()
        .deliveries(&account("acct_slow"), &silent, common::clock::now(), None, 10)
        .await
        .unwrap();
    assert!(
        slow_log.is_empty(),
        "the silent endpoint's attempt ended first: {slow_log:?}"
    );
    assert!(!sending.is_finished());
    // AND the silent endpoint's job alone is reported failed, its attempt kept as unanswered
    let response = sending.await.unwrap();
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["slow"]);
    let slow_log = t
        .store()
        .deliveries(&account("acct_slow"), &silent, common::clock::now(), None, 10)
        .await
        .unwrap();
    assert_eq!(slow_log[0].error.as_deref(), Some("no answer within 3000 ms"));
}

#[tokio::test]
async fn an_endpoint_failing_every_attempt_is_marked_failing_and_its_next_delivery_clears_it() {
    let t = TestApp::with(&[("VP_WEBHOOK_RETRY_UNIT_MS", "1")]);
    let state = sender(&t, Duration::from_secs(10));
    // GIVEN an endpoint that answers 500 to the first nine deliveries
    let receiver = Receiver::without_secret(MAX_ATTEMPTS);
    let (hook, secret) = endpoint(&t, &state, "acct_failing", &receiver.url).await;
    receiver.set_secret(secret.expose());
    let event = job("acct_failing", &hook, "01JF00000000000000000FAIL1");
    // WHEN the event is attempted as often as the schedule allows
    let mut outcomes = Vec::new();
    for attempt in 1..=MAX_ATTEMPTS {
        outcomes.push(state.deliverer.deliver(&event, attempt).await.unwrap());
    }
    // THEN every attempt but the last is put off by a longer wait, and the last gives up
    let waits: Vec<Duration> = outcomes[..outcomes.len() - 1]
        .iter()
        .map(|next| match next {
            Next::RetryIn(wait) => *wait,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(waits.windows(2).all(|w| w[1] > w[0]), "{waits:?}");
    assert_eq!(outcomes.last(), Some(&Next::GaveUp));
    // AND the endpoint is listed as failing since the last attempt
    let listed = t.store().list_webhooks(&account("acct_failing")).await.unwrap();
    assert!(listed[0].failing_since.is_some());
    // AND its next event, delivered, clears the mark
    let next = job("acct_failing", &hook, "01JF00000000000000000FAIL2");
    assert_eq!(state.deliverer.deliver(&next, 1).await.unwrap(), Next::Done);
    let listed = t.store().list_webhooks(&account("acct_failing")).await.unwrap();
    assert_eq!(listed[0].failing_since, None);
    // AND the receiver saw every attempt verified, ten in all
    let seen = receiver.deliveries();
    assert_eq!(seen.len(), MAX_ATTEMPTS as usize + 1);
    assert!(seen.iter().all(|d| d["verified"] == true));
}
