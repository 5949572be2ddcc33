//! Credits: free credits, debits, grants, the ledger, races, and low-credit events.

use super::*;

pub const CASES: &[Case] = &[
    Case {
        name: "a_new_account_gets_its_free_credits_exactly_once",
        run: |store| Box::pin(a_new_account_gets_its_free_credits_exactly_once(store)),
    },
    Case {
        name: "a_session_debits_one_credit_and_records_it",
        run: |store| Box::pin(a_session_debits_one_credit_and_records_it(store)),
    },
    Case {
        name: "an_empty_account_is_refused_and_nothing_changes",
        run: |store| Box::pin(an_empty_account_is_refused_and_nothing_changes(store)),
    },
    Case {
        name: "grants_add_credits_and_create_accounts",
        run: |store| Box::pin(grants_add_credits_and_create_accounts(store)),
    },
    Case {
        name: "the_ledger_explains_the_balance",
        run: |store| Box::pin(the_ledger_explains_the_balance(store)),
    },
    Case {
        name: "money_records_outlive_the_audit_window",
        run: |store| Box::pin(money_records_outlive_the_audit_window(store)),
    },
    Case {
        name: "racing_debits_spend_each_credit_exactly_once",
        run: |store| Box::pin(racing_debits_spend_each_credit_exactly_once(store)),
    },
    Case {
        name: "racing_first_keys_grant_the_free_credits_once",
        run: |store| Box::pin(racing_first_keys_grant_the_free_credits_once(store)),
    },
    Case {
        name: "low_and_exhausted_credit_events_fire_once_per_crossing_and_a_grant_rearms_them",
        run: |store| {
            Box::pin(low_and_exhausted_credit_events_fire_once_per_crossing_and_a_grant_rearms_them(store))
        },
    },
    Case {
        name: "a_200_way_race_raises_exactly_one_low_and_one_exhausted_event",
        run: |store| {
            Box::pin(a_200_way_race_raises_exactly_one_low_and_one_exhausted_event(
                store,
            ))
        },
    },
];

/// The account's events as (kind, balance) pairs, oldest first.
async fn credit_events(store: &dyn Store, account_id: &str) -> Vec<(CreditEventKind, u64)> {
    store
        .credit_events(&account(account_id))
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event, e.credits))
        .collect()
}

pub async fn a_new_account_gets_its_free_credits_exactly_once(store: Arc<dyn Store>) {
    assert_eq!(store.balance(&account("acct_a")).await.unwrap(), None);
    for i in 0..3 {
        create(store.as_ref(), "acct_a", &format!("key {i}")).await;
    }
    let balance = store.balance(&account("acct_a")).await.unwrap().unwrap();
    assert_eq!(
        (balance.credits, balance.granted, balance.debited),
        (FREE_CREDITS, FREE_CREDITS, 0)
    );
    let ledger = store.ledger(&account("acct_a")).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        (ledger[0].kind, ledger[0].amount),
        (LedgerKind::Grant, FREE_CREDITS)
    );
}

pub async fn a_session_debits_one_credit_and_records_it(store: Arc<dyn Store>) {
    let (plaintext, id) = create(store.as_ref(), "acct_a", "k").await;
    let d = debit();
    let (session, d_at) = (d.session.clone(), d.at);
    let outcome = store.open_session(&plaintext.hash(), d).await.unwrap();
    assert_eq!(
        outcome,
        SessionOutcome::Opened {
            account: account("acct_a"),
            key: id.clone(),
            balance: FREE_CREDITS - 1
        }
    );
    // (On DynamoDB the ledger entry and the key's last use come from the stream, the last use
    // first: once the ledger shows the debit, the list shows the use.)
    let ledger = store.ledger(&account("acct_a")).await.unwrap();
    let keys = store.list_keys(&account("acct_a")).await.unwrap();
    assert_eq!(
        keys[0].last_used_at,
        Some(d_at),
        "lastUsedAt is the session's time"
    );
    let debit = ledger
        .iter()
        .find(|e| e.kind == LedgerKind::Debit)
        .expect("debit entry");
    assert_eq!((debit.amount, debit.balance_after), (1, FREE_CREDITS - 1));
    assert_eq!(debit.key_id.as_deref(), Some(id.as_str()));
    assert_eq!(debit.session_id.as_deref(), Some(session.as_str()));
    let audit = store
        .audit_events(&account("acct_a"), clock::now())
        .await
        .unwrap();
    let used = audit
        .iter()
        .find(|e| e.event == AuditAction::KeyUsed)
        .expect("key.used");
    assert_eq!(used.session_id.as_deref(), Some(session.as_str()));
    assert_eq!(used.ip_address.as_deref(), Some("198.51.100.4"));
}

pub async fn an_empty_account_is_refused_and_nothing_changes(store: Arc<dyn Store>) {
    let (plaintext, _) = create(store.as_ref(), "acct_a", "k").await;
    for _ in 0..FREE_CREDITS {
        assert!(matches!(
            store.open_session(&plaintext.hash(), debit()).await.unwrap(),
            SessionOutcome::Opened { .. }
        ));
    }
    let ledger_before = store.ledger(&account("acct_a")).await.unwrap();
    let audit_before = store
        .audit_events(&account("acct_a"), clock::now())
        .await
        .unwrap();
    assert_eq!(
        store.open_session(&plaintext.hash(), debit()).await.unwrap(),
        SessionOutcome::InsufficientCredits
    );
    let balance = store.balance(&account("acct_a")).await.unwrap().unwrap();
    assert_eq!((balance.credits, balance.debited), (0, FREE_CREDITS));
    assert_eq!(store.ledger(&account("acct_a")).await.unwrap(), ledger_before);
    assert_eq!(
        store
            .audit_events(&account("acct_a"), clock::now())
            .await
            .unwrap(),
        audit_before
    );
}

pub async fn grants_add_credits_and_create_accounts(store: Arc<dyn Store>) {
    // An unknown account is created (with its free credits) by its first grant.
    let balance = store
        .grant_credits(&account("acct_new"), 10, "welcome pack", clock::now())
        .await
        .unwrap();
    assert_eq!(balance, FREE_CREDITS + 10);
    let balance = store
        .grant_credits(&account("acct_new"), 5, "top-up", clock::now())
        .await
        .unwrap();
    assert_eq!(balance, FREE_CREDITS + 15);
    let b = store.balance(&account("acct_new")).await.unwrap().unwrap();
    assert_eq!(
        (b.credits, b.granted, b.debited),
        (FREE_CREDITS + 15, FREE_CREDITS + 15, 0)
    );
    // Creating a key later does not grant the free credits again.
    create(store.as_ref(), "acct_new", "k").await;
    assert_eq!(credits(store.as_ref(), "acct_new").await, FREE_CREDITS + 15);
    let ledger = store.ledger(&account("acct_new")).await.unwrap();
    let reasons: Vec<_> = ledger
        .iter()
        .skip(1)
        .map(|e| e.reason.clone().unwrap_or_default())
        .collect();
    assert_eq!(reasons, ["welcome pack", "top-up"]);
    assert_eq!(ledger.last().unwrap().balance_after, FREE_CREDITS + 15);
}

pub async fn the_ledger_explains_the_balance(store: Arc<dyn Store>) {
    let (plaintext, _) = create(store.as_ref(), "acct_a", "k").await;
    store
        .grant_credits(&account("acct_a"), 4, "top-up", clock::now())
        .await
        .unwrap();
    for _ in 0..5 {
        store.open_session(&plaintext.hash(), debit()).await.unwrap();
    }
    let b = store.balance(&account("acct_a")).await.unwrap().unwrap();
    let ledger = store.ledger(&account("acct_a")).await.unwrap();
    let sum = |kind| {
        ledger
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.amount)
            .sum::<u64>()
    };
    assert_eq!(
        (sum(LedgerKind::Grant), sum(LedgerKind::Debit)),
        (b.granted, b.debited)
    );
    assert_eq!(b.credits, b.granted - b.debited);
    assert_eq!(b.credits, FREE_CREDITS + 4 - 5);
    // Each entry's balance_after chains from the previous one.
    let mut running = 0i64;
    for e in &ledger {
        running += if e.kind == LedgerKind::Grant {
            e.amount as i64
        } else {
            -(e.amount as i64)
        };
        assert_eq!(e.balance_after as i64, running, "{e:?}");
    }
}

pub async fn money_records_outlive_the_audit_window(store: Arc<dyn Store>) {
    // GIVEN an account whose first grant and sessions are older than the 90-day audit window
    let now = clock::now();
    let (plaintext, key) = new_key("acct_a", "old", now - Duration::days(120));
    store.create_key(key, origin()).await.unwrap();
    store
        .grant_credits(&account("acct_a"), 7, "long ago", now - Duration::days(100))
        .await
        .unwrap();
    let resolved = store.resolve_key(&plaintext.hash()).await.unwrap().unwrap();
    for days_ago in [95, 91] {
        let outcome = store
            .debit_session(&resolved, debit_at(now - Duration::days(days_ago)), None)
            .await
            .unwrap();
        assert!(matches!(outcome, DebitOutcome::Debited { .. }), "{outcome:?}");
    }
    store
        .grant_credits(&account("acct_a"), 2, "recently", now)
        .await
        .unwrap();

    // THEN every ledger entry is still there and the ledger check passes (`vpctl credits verify`)
    let ledger = store.ledger(&account("acct_a")).await.unwrap();
    let reasons: Vec<_> = ledger.iter().filter_map(|e| e.reason.clone()).collect();
    assert_eq!(
        reasons.len(),
        3,
        "free grant, old grant, recent grant: {ledger:?}"
    );
    assert!(reasons.contains(&"long ago".to_string()) && reasons.contains(&"recently".to_string()));
    assert_eq!(ledger.iter().filter(|e| e.kind == LedgerKind::Debit).count(), 2);
    assert_ledger_ok(store.as_ref(), "acct_a").await;
    let b = store.balance(&account("acct_a")).await.unwrap().unwrap();
    assert_eq!(
        (b.credits, b.granted, b.debited),
        (FREE_CREDITS + 9 - 2, FREE_CREDITS + 9, 2)
    );
    // AND the audit trail keeps its documented 90 days only: the old events are gone
    let events = store.audit_events(&account("acct_a"), now).await.unwrap();
    assert!(events.is_empty(), "{events:?}");
}

pub async fn racing_debits_spend_each_credit_exactly_once(store: Arc<dyn Store>) {
    const CREDITS: u64 = 20;
    const RACERS: usize = 50;
    seed_key(
        store.as_ref(),
        "acct_race",
        "key_01JF0000000000000000000007",
        crate::KEY_OK,
    )
    .await;
    store
        .grant_credits(
            &account("acct_race"),
            CREDITS - FREE_CREDITS,
            "race",
            clock::now(),
        )
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .open_session(&KeyHash::of(crate::KEY_OK), debit())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut balances = Vec::new();
    let mut refused = 0;
    for racer in racers {
        match racer.await.unwrap() {
            SessionOutcome::Opened { balance, .. } => balances.push(balance),
            SessionOutcome::InsufficientCredits => refused += 1,
            SessionOutcome::InvalidKey => panic!("key vanished"),
        }
    }
    balances.sort();
    assert_eq!(
        balances,
        (0..CREDITS).collect::<Vec<_>>(),
        "each balance reported exactly once"
    );
    assert_eq!(refused, RACERS - CREDITS as usize);
    let b = store.balance(&account("acct_race")).await.unwrap().unwrap();
    assert_eq!((b.credits, b.granted, b.debited), (0, CREDITS, CREDITS));
    let ledger = store.ledger(&account("acct_race")).await.unwrap();
    assert_eq!(
        ledger.iter().filter(|e| e.kind == LedgerKind::Debit).count() as u64,
        CREDITS
    );
    assert_ledger_ok(store.as_ref(), "acct_race").await;
}

pub async fn racing_first_keys_grant_the_free_credits_once(store: Arc<dyn Store>) {
    // GIVEN ten first keys of a new account created at the same moment
    const RACERS: usize = 10;
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                let (_, key) = new_key("acct_new_race", &format!("first {i}"), clock::now());
                barrier.wait().await;
                store.create_key(key, origin()).await.unwrap()
            })
        })
        .collect();
    for racer in racers {
        assert_eq!(racer.await.unwrap(), KeyCreation::Created);
    }
    // THEN every key exists, and the free credits were granted exactly once
    assert_eq!(
        store.list_keys(&account("acct_new_race")).await.unwrap().len(),
        RACERS
    );
    let b = store.balance(&account("acct_new_race")).await.unwrap().unwrap();
    assert_eq!((b.credits, b.granted), (FREE_CREDITS, FREE_CREDITS));
    let grants = store
        .ledger(&account("acct_new_race"))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == LedgerKind::Grant)
        .count();
    assert_eq!(grants, 1);
    assert_ledger_ok(store.as_ref(), "acct_new_race").await;
}

pub async fn low_and_exhausted_credit_events_fire_once_per_crossing_and_a_grant_rearms_them(
    store: Arc<dyn Store>,
) {
    use CreditEventKind::{Exhausted, Low};
    // GIVEN an account with its 3 free credits (the default threshold is 1)
    let (plaintext, key_id) = create(store.as_ref(), "acct_events", "k").await;
    let key = resolved(store.as_ref(), &plaintext).await;
    let spend = || async { store.debit_session(&key, debit(), None).await.unwrap() };
    // WHEN the balance goes 3 → 2 THEN nothing; 2 → 1 THEN credits.low
    spend().await;
    assert_eq!(credit_events(store.as_ref(), "acct_events").await, []);
    spend().await;
    assert_eq!(credit_events(store.as_ref(), "acct_events").await, [(Low, 1)]);
    // WHEN 1 → 0 THEN credits.exhausted; a refused session raises nothing more
    spend().await;
    assert_eq!(spend().await, DebitOutcome::InsufficientCredits);
    assert_eq!(
        credit_events(store.as_ref(), "acct_events").await,
        [(Low, 1), (Exhausted, 0)]
    );
    // WHEN a grant lifts the balance above the threshold THEN both fire again on the way down
    store
        .grant_credits(&account("acct_events"), 2, "top-up", clock::now())
        .await
        .unwrap();
    spend().await;
    spend().await;
    let events = store.credit_events(&account("acct_events")).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| (e.event, e.credits)).collect();
    assert_eq!(kinds, [(Low, 1), (Exhausted, 0), (Low, 1), (Exhausted, 0)]);
    // AND each names its account, the key whose session crossed, the threshold and a unique id
    for event in &events {
        assert_eq!(event.account_id, "acct_events");
        assert_eq!(event.key_id.as_deref(), Some(key_id.as_str()));
        assert_eq!(event.threshold, 1);
    }
    let mut ids: Vec<_> = events.iter().map(|e| e.id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    assert_eq!(
        credit_events(store.as_ref(), "acct_other").await,
        [],
        "events are per account"
    );
}

pub async fn a_200_way_race_raises_exactly_one_low_and_one_exhausted_event(store: Arc<dyn Store>) {
    const RACERS: usize = 200;
    // GIVEN an account with 100 credits
    let (plaintext, _) = create(store.as_ref(), "acct_events_race", "k").await;
    store
        .grant_credits(
            &account("acct_events_race"),
            100 - FREE_CREDITS,
            "race",
            clock::now(),
        )
        .await
        .unwrap();
    let key = resolved(store.as_ref(), &plaintext).await;
    // WHEN 200 sessions race
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|_| {
            let (store, barrier, key) = (store.clone(), barrier.clone(), key.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.debit_session(&key, debit(), None).await.unwrap()
            })
        })
        .collect();
    let mut opened = 0;
    for racer in racers {
        if matches!(racer.await.unwrap(), DebitOutcome::Debited { .. }) {
            opened += 1;
        }
    }
    // THEN 100 open, and exactly one event per crossing, in order
    assert_eq!(opened, 100);
    assert_eq!(
        credit_events(store.as_ref(), "acct_events_race").await,
        [(CreditEventKind::Low, 1), (CreditEventKind::Exhausted, 0)]
    );
}
