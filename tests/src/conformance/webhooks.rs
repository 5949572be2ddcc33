//! Webhook endpoints and the account's own low-credit threshold.

use super::*;
use crate::drain;
use common::ids::{KeyId, WebhookId};
use common::store::Reminders;
use common::store::webhooks::{DeliveryAttempt, MAX_WEBHOOKS, NewWebhook, WebhookCreation, WebhookEvent};

pub const CASES: &[Case] = &[
    Case {
        name: "an_account_holds_at_most_five_endpoints_however_many_creations_race",
        run: |store| Box::pin(an_account_holds_at_most_five_endpoints_however_many_creations_race(store)),
    },
    Case {
        name: "endpoints_are_listed_oldest_first_without_secrets_and_deleted_per_account",
        run: |store| {
            Box::pin(endpoints_are_listed_oldest_first_without_secrets_and_deleted_per_account(store))
        },
    },
    Case {
        name: "an_endpoints_delivery_log_pages_newest_first_and_its_secret_is_its_accounts_alone",
        run: |store| {
            Box::pin(an_endpoints_delivery_log_pages_newest_first_and_its_secret_is_its_accounts_alone(store))
        },
    },
    Case {
        name: "an_accounts_own_threshold_decides_when_credits_low_is_raised",
        run: |store| {
            Box::pin(an_accounts_own_threshold_decides_when_credits_low_is_raised(
                store,
            ))
        },
    },
];

pub fn new_webhook(account_id: &str, url: &str) -> NewWebhook {
    NewWebhook {
        id: WebhookId::generate(),
        account: account(account_id),
        url: url.to_string(),
        events: [WebhookEvent::CreditsLow, WebhookEvent::KeyLeaked]
            .into_iter()
            .collect(),
        description: Some("alerts".into()),
        sealed_secret: "sealed-secret".into(),
        created_at: clock::now(),
    }
}

pub async fn an_account_holds_at_most_five_endpoints_however_many_creations_race(store: Arc<dyn Store>) {
    const RACERS: usize = 12;
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let hook = new_webhook("acct_hooks_race", &format!("https://hooks.example.com/{i}"));
                store.create_webhook(hook).await.unwrap()
            })
        })
        .collect();
    let mut created = 0;
    for racer in racers {
        if racer.await.unwrap() == WebhookCreation::Created {
            created += 1;
        }
    }
    assert_eq!(created, MAX_WEBHOOKS);
    let listed = store.list_webhooks(&account("acct_hooks_race")).await.unwrap();
    assert_eq!(listed.len(), MAX_WEBHOOKS);
    // A deletion makes room for exactly one more.
    assert!(
        store
            .delete_webhook(&account("acct_hooks_race"), &listed[0].id)
            .await
            .unwrap()
    );
    let again = |n: usize| {
        store.create_webhook(new_webhook(
            "acct_hooks_race",
            &format!("https://again.example.com/{n}"),
        ))
    };
    assert_eq!(again(1).await.unwrap(), WebhookCreation::Created);
    assert_eq!(again(2).await.unwrap(), WebhookCreation::TooMany);
}

pub async fn endpoints_are_listed_oldest_first_without_secrets_and_deleted_per_account(
    store: Arc<dyn Store>,
) {
    let first = new_webhook("acct_hooks", "https://one.example.com/hook");
    let mut second = new_webhook("acct_hooks", "https://two.example.com/hook");
    second.events = [WebhookEvent::KeyExpiring].into_iter().collect();
    second.description = None;
    for hook in [&first, &second] {
        assert_eq!(
            store.create_webhook(hook.clone()).await.unwrap(),
            WebhookCreation::Created
        );
    }
    let listed = store.list_webhooks(&account("acct_hooks")).await.unwrap();
    let seen: Vec<_> = listed
        .iter()
        .map(|h| {
            (
                h.id.clone(),
                h.url.as_str(),
                h.events.clone(),
                h.description.clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                first.id.clone(),
                "https://one.example.com/hook",
                first.events.clone(),
                Some("alerts".to_string())
            ),
            (
                second.id.clone(),
                "https://two.example.com/hook",
                second.events.clone(),
                None
            ),
        ]
    );
    assert_eq!(
        clock::rfc3339(listed[0].created_at),
        clock::rfc3339(first.created_at)
    );
    // Another account sees none of them and cannot delete them.
    assert!(
        store
            .list_webhooks(&account("acct_other"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store
            .delete_webhook(&account("acct_other"), &first.id)
            .await
            .unwrap()
    );
    // Its owner can, once.
    assert!(
        store
            .delete_webhook(&account("acct_hooks"), &first.id)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_webhook(&account("acct_hooks"), &first.id)
            .await
            .unwrap()
    );
    let left = store.list_webhooks(&account("acct_hooks")).await.unwrap();
    assert_eq!(left.iter().map(|h| &h.id).collect::<Vec<_>>(), [&second.id]);
}

pub async fn an_accounts_own_threshold_decides_when_credits_low_is_raised(store: Arc<dyn Store>) {
    // GIVEN two accounts with 6 credits each, one with its own threshold of 3
    let mut keys = Vec::new();
    for acct in ["acct_own_threshold", "acct_default_threshold"] {
        let (plaintext, _) = create(store.as_ref(), acct, "Main").await;
        store
            .grant_credits(&account(acct), 6 - FREE_CREDITS, "top-up", clock::now())
            .await
            .unwrap();
        keys.push(plaintext);
    }
    store
        .set_low_credit_threshold(&account("acct_own_threshold"), 3, clock::now())
        .await
        .unwrap();
    // WHEN each spends all its credits
    for plaintext in &keys {
        drain(store.as_ref(), plaintext.expose()).await;
    }
    // THEN credits.low comes at its own threshold for the one, at the deployment's for the other
    let events = |acct: &'static str| {
        let store = store.clone();
        async move {
            store
                .credit_events(&account(acct))
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.event, e.credits, e.threshold))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        events("acct_own_threshold").await,
        [(CreditEventKind::Low, 3, 3), (CreditEventKind::Exhausted, 0, 3)]
    );
    assert_eq!(
        events("acct_default_threshold").await,
        [(CreditEventKind::Low, 1, 1), (CreditEventKind::Exhausted, 0, 1)]
    );
    // AND an account that does not exist yet is created by setting it, with its free credits
    store
        .set_low_credit_threshold(&account("acct_threshold_first"), 2, clock::now())
        .await
        .unwrap();
    let balance = store
        .balance(&account("acct_threshold_first"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(balance.credits, FREE_CREDITS);
}

pub async fn an_endpoints_delivery_log_pages_newest_first_and_its_secret_is_its_accounts_alone(
    store: Arc<dyn Store>,
) {
    let (a, b) = (
        new_webhook("acct_log", "https://a.example.com/"),
        new_webhook("acct_log", "https://b.example.com/"),
    );
    for hook in [&a, &b] {
        store.create_webhook(hook.clone()).await.unwrap();
    }
    // The sealed secret, for a delivery: its own account's endpoint only.
    let (record, sealed) = store
        .webhook_secret(&account("acct_log"), &a.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((record.id, sealed.as_str()), (a.id.clone(), "sealed-secret"));
    assert!(
        store
            .webhook_secret(&account("acct_other"), &a.id)
            .await
            .unwrap()
            .is_none()
    );
    // Four attempts at A (500 three times, then 200) and one at B.
    let now = clock::now();
    let attempt = |hook: &NewWebhook, n: u32, status: u16| DeliveryAttempt {
        id: common::ids::new_ulid().to_string(),
        webhook: hook.id.clone(),
        event_id: "msg_1".into(),
        event_type: "credits.low".into(),
        attempt: n,
        status: Some(status),
        latency_ms: 12,
        error: (status != 200).then(|| format!("answered {status}")),
        at: now,
    };
    let mut written = Vec::new();
    for (n, status) in [(1, 500), (2, 500), (3, 500), (4, 200)] {
        let one = attempt(&a, n, status);
        store.record_delivery(&account("acct_log"), &one).await.unwrap();
        written.push(one);
    }
    store
        .record_delivery(&account("acct_log"), &attempt(&b, 1, 200))
        .await
        .unwrap();
    // THEN A's log pages newest first, and holds only A's attempts
    let log = |before: Option<String>| {
        let (store, id) = (store.clone(), a.id.clone());
        async move {
            store
                .deliveries(&account("acct_log"), &id, clock::now(), before.as_deref(), 3)
                .await
                .unwrap()
        }
    };
    let first = log(None).await;
    assert_eq!(first.iter().map(|d| d.attempt).collect::<Vec<_>>(), [4, 3, 2]);
    assert_eq!(first[0], written[3]);
    let second = log(Some(first[2].id.clone())).await;
    assert_eq!(second, [written[0].clone()]);
    // AND another account reads nothing of it, and an attempt past its keeping is not shown
    assert!(
        store
            .deliveries(&account("acct_other"), &a.id, clock::now(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let later = now + Duration::days(31);
    assert!(
        store
            .deliveries(&account("acct_log"), &a.id, later, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The `(keyId, daysLeft)` of the reminders a pass at `at` sends.
async fn reminders_at(store: &dyn Reminders, at: OffsetDateTime) -> Vec<(String, u64)> {
    let mut sent: Vec<(String, u64)> = store
        .send_due_reminders(at)
        .await
        .unwrap()
        .into_iter()
        .inspect(|event| assert_eq!(event.kind, "key.expiring"))
        .map(|event| {
            (
                event.data["keyId"].as_str().unwrap().to_string(),
                event.data["daysLeft"].as_u64().unwrap(),
            )
        })
        .collect();
    sent.sort();
    sent
}

/// `key.expiring` (run by each store's runner: the reminders are their own trait,
/// `common::store::Reminders`, which the suite's cases are not given). `reminders` is `store`.
pub async fn a_key_that_expires_is_reminded_seven_days_and_one_day_before_while_it_lives_with_that_expiry(
    store: Arc<dyn Store>,
    reminders: Arc<dyn Reminders>,
) {
    let now = clock::now();
    let day = Duration::days(1);
    let expires = now + Duration::days(10);
    let make = |name: &str, expires_at: Option<OffsetDateTime>| {
        let (_, mut key) = new_key("acct_reminded", name, now);
        key.expires_at = expires_at;
        key
    };
    // GIVEN keys made now: one expiring in 10 days, one deleted before its reminders, one
    // expiring in 3 days (its 7-day reminder was never ahead), one rolled away (its successor
    // inherits the expiry), and one that never expires
    let (kept, deleted, soon, rolled, forever) = (
        make("Kept", Some(expires)),
        make("Deleted", Some(expires)),
        make("Soon", Some(now + Duration::days(3))),
        make("Rolled", Some(expires)),
        make("Forever", None),
    );
    let ids: Vec<String> = [&kept, &deleted, &soon, &rolled]
        .iter()
        .map(|k| k.id.to_string())
        .collect();
    for key in [kept, deleted, soon, rolled, forever] {
        assert_eq!(
            store.create_key(key, origin()).await.unwrap(),
            KeyCreation::Created
        );
    }
    let (kept, deleted, soon, rolled) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    let (_, mut successor) = new_key("acct_reminded", "Rolled", now);
    successor.expires_at = Some(expires);
    let successor_id = successor.id.to_string();
    store
        .roll_key(
            &KeyId::parse(rolled).unwrap(),
            successor,
            now + Duration::hours(1),
            origin(),
        )
        .await
        .unwrap();
    store
        .delete_key(
            &account("acct_reminded"),
            &KeyId::parse(deleted).unwrap(),
            now,
            origin(),
        )
        .await
        .unwrap();

    // THEN nothing is due yet
    assert_eq!(
        reminders_at(reminders.as_ref(), now + Duration::hours(1)).await,
        []
    );
    // AND a day before the soon one's expiry, its 1-day reminder alone
    assert_eq!(
        reminders_at(reminders.as_ref(), now + 2 * day + Duration::minutes(1)).await,
        [(soon.clone(), 1)]
    );
    // AND 7 days before the others' expiry, the kept key's and the successor's 7-day reminders
    // (the deleted key's and the rolled-away key's are dropped), once: a second pass sends none
    let seven = now + 3 * day + Duration::minutes(1);
    let mut want = vec![(kept.clone(), 7), (successor_id.clone(), 7)];
    want.sort();
    assert_eq!(reminders_at(reminders.as_ref(), seven).await, want);
    assert_eq!(reminders_at(reminders.as_ref(), seven).await, []);
    // AND a day before, the 1-day ones
    let mut want = vec![(kept.clone(), 1), (successor_id.clone(), 1)];
    want.sort();
    assert_eq!(
        reminders_at(reminders.as_ref(), now + 9 * day + Duration::minutes(1)).await,
        want
    );
    // AND past the expiry nothing more
    assert_eq!(reminders_at(reminders.as_ref(), now + 11 * day).await, []);
}
