//! Test keys: sessions paid from the account's daily test allowance, never with a credit, and
//! kept apart wherever sessions are recorded.

use super::*;
use common::store::usage::{Granularity, UsageQuery};

pub const CASES: &[Case] = &[
    Case {
        name: "the_test_allowance_and_the_live_balance_are_each_exact_under_one_200_way_race",
        run: |store| {
            Box::pin(the_test_allowance_and_the_live_balance_are_each_exact_under_one_200_way_race(store))
        },
    },
    Case {
        name: "a_test_key_spends_no_credit_even_at_zero_and_a_live_key_never_spends_the_allowance",
        run: |store| {
            Box::pin(
                a_test_key_spends_no_credit_even_at_zero_and_a_live_key_never_spends_the_allowance(store),
            )
        },
    },
    Case {
        name: "test_sessions_are_kept_apart_in_ledger_audit_and_usage_and_raise_no_credit_event",
        run: |store| {
            Box::pin(test_sessions_are_kept_apart_in_ledger_audit_and_usage_and_raise_no_credit_event(store))
        },
    },
    Case {
        name: "an_idempotent_test_session_is_counted_once_and_a_test_keys_own_limit_holds",
        run: |store| {
            Box::pin(an_idempotent_test_session_is_counted_once_and_a_test_keys_own_limit_holds(store))
        },
    },
];

/// A key of `mode` on `account_id`, resolved.
async fn key_of(store: &dyn Store, mode: KeyMode, account_id: &str, name: &str) -> ResolvedKey {
    let (plaintext, key) = new_key_of(mode, account_id, name, clock::now());
    store.create_key(key, origin()).await.expect("create key");
    resolved(store, &plaintext).await
}

async fn balance(store: &dyn Store, account_id: &str) -> common::store::Balance {
    store.balance(&account(account_id)).await.unwrap().unwrap()
}

async fn entries(store: &dyn Store, account_id: &str, kind: LedgerKind) -> Vec<common::store::LedgerEntry> {
    let ledger = store.ledger(&account(account_id)).await.unwrap();
    ledger.into_iter().filter(|e| e.kind == kind).collect()
}

pub async fn the_test_allowance_and_the_live_balance_are_each_exact_under_one_200_way_race(
    store: Arc<dyn Store>,
) {
    const ALLOWANCE: u32 = 10;
    const CREDITS: u64 = 10;
    const RACERS: usize = 200;
    let acct = "acct_test_race";
    // GIVEN an account with a test key, a live key and 10 credits, and a test allowance of 10
    let test = key_of(store.as_ref(), KeyMode::Test, acct, "Test").await;
    let live = key_of(store.as_ref(), KeyMode::Live, acct, "Live").await;
    store
        .grant_credits(&account(acct), CREDITS - FREE_CREDITS, "race", clock::now())
        .await
        .unwrap();
    let before = balance(store.as_ref(), acct).await;
    // WHEN 100 sessions of each key race, all on the same UTC day
    let at = clock::now();
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            let (key, debit) = match i % 2 {
                0 => (test.clone(), test_debit_at(at, ALLOWANCE)),
                _ => (live.clone(), debit_at(at)),
            };
            tokio::spawn(async move {
                barrier.wait().await;
                (i % 2, store.debit_session(&key, debit, None).await.unwrap())
            })
        })
        .collect();
    let mut outcomes = std::collections::BTreeMap::<_, usize>::new();
    for racer in racers {
        let (side, outcome) = racer.await.unwrap();
        let outcome = match outcome {
            DebitOutcome::Debited { .. } => "opened",
            DebitOutcome::TestLimitReached => "test limit",
            DebitOutcome::InsufficientCredits => "no credits",
            other => panic!("unexpected outcome {other:?}"),
        };
        *outcomes
            .entry((if side == 0 { "test" } else { "live" }, outcome))
            .or_default() += 1;
    }
    // THEN exactly 10 of each open; test sessions are refused by the allowance only, live
    // ones by the balance only
    assert_eq!(
        outcomes.into_iter().collect::<Vec<_>>(),
        [
            (("live", "no credits"), 90),
            (("live", "opened"), 10),
            (("test", "opened"), ALLOWANCE as usize),
            (("test", "test limit"), 100 - ALLOWANCE as usize),
        ]
    );
    // AND exactly the live sessions' credits moved: the test sessions took none
    let after = balance(store.as_ref(), acct).await;
    assert_eq!(
        (after.credits, after.debited, after.granted),
        (0, CREDITS, before.granted)
    );
    assert_eq!(
        entries(store.as_ref(), acct, LedgerKind::Debit).await.len(),
        CREDITS as usize
    );
    let tests = entries(store.as_ref(), acct, LedgerKind::Test).await;
    assert_eq!(tests.len(), ALLOWANCE as usize);
    assert!(
        tests
            .iter()
            .all(|e| e.amount == 0 && e.key_id.as_deref() == Some(test.key.as_str()))
    );
    assert_ledger_ok(store.as_ref(), acct).await;
}

pub async fn a_test_key_spends_no_credit_even_at_zero_and_a_live_key_never_spends_the_allowance(
    store: Arc<dyn Store>,
) {
    let acct = "acct_test_apart";
    let test = key_of(store.as_ref(), KeyMode::Test, acct, "Test").await;
    let live = key_of(store.as_ref(), KeyMode::Live, acct, "Live").await;
    let day_one = clock::now();
    let open = |key: &ResolvedKey, debit: SessionDebit| {
        let (store, key) = (store.clone(), key.clone());
        async move { store.debit_session(&key, debit, None).await.unwrap() }
    };
    // GIVEN the live key has spent every credit
    for _ in 0..FREE_CREDITS {
        assert!(matches!(
            open(&live, debit_at(day_one)).await,
            DebitOutcome::Debited { .. }
        ));
    }
    assert_eq!(
        open(&live, debit_at(day_one)).await,
        DebitOutcome::InsufficientCredits
    );
    // WHEN the test key opens sessions THEN its allowance (2) is whole, and its balance stays 0
    for _ in 0..2 {
        assert_eq!(
            open(&test, test_debit_at(day_one, 2)).await,
            DebitOutcome::Debited { balance: 0 }
        );
    }
    assert_eq!(
        open(&test, test_debit_at(day_one, 2)).await,
        DebitOutcome::TestLimitReached
    );
    // AND a grant serves the live key again, while the allowance stays spent that day
    store
        .grant_credits(&account(acct), 1, "top-up", day_one)
        .await
        .unwrap();
    assert_eq!(
        open(&test, test_debit_at(day_one, 2)).await,
        DebitOutcome::TestLimitReached
    );
    assert_eq!(
        open(&live, debit_at(day_one)).await,
        DebitOutcome::Debited { balance: 0 }
    );
    // AND the next UTC day the allowance is whole again
    let day_two = day_one + Duration::days(1);
    assert_eq!(
        open(&test, test_debit_at(day_two, 2)).await,
        DebitOutcome::Debited { balance: 0 }
    );
    // AND another account's test keys have an allowance of their own
    let other = key_of(store.as_ref(), KeyMode::Test, "acct_test_other", "Test").await;
    assert!(matches!(
        open(&other, test_debit_at(day_one, 2)).await,
        DebitOutcome::Debited { .. }
    ));
    let after = balance(store.as_ref(), acct).await;
    assert_eq!((after.credits, after.debited), (0, FREE_CREDITS + 1));
    assert_ledger_ok(store.as_ref(), acct).await;
}

pub async fn test_sessions_are_kept_apart_in_ledger_audit_and_usage_and_raise_no_credit_event(
    store: Arc<dyn Store>,
) {
    let acct = "acct_test_kept";
    let test = key_of(store.as_ref(), KeyMode::Test, acct, "Test").await;
    let live = key_of(store.as_ref(), KeyMode::Live, acct, "Live").await;
    let open = |key: &ResolvedKey, debit: SessionDebit| {
        let (store, key) = (store.clone(), key.clone());
        async move { store.debit_session(&key, debit, None).await.unwrap() }
    };
    // GIVEN the balance one above the low-credit threshold (1)
    for _ in 0..FREE_CREDITS - 2 {
        open(&live, debit()).await;
    }
    // WHEN the test key opens 3 sessions, landing on the balance at the threshold's doorstep
    for _ in 0..3 {
        assert_eq!(
            open(&test, test_debit_at(clock::now(), 100)).await,
            DebitOutcome::Debited { balance: 2 }
        );
    }
    // THEN no low-credit event: only a debit raises one
    let events = store.credit_events(&account(acct)).await.unwrap();
    assert!(events.is_empty(), "{events:?}");
    // AND the next live session takes the balance to the threshold and raises credits.low
    assert_eq!(open(&live, debit()).await, DebitOutcome::Debited { balance: 1 });
    let events = store.credit_events(&account(acct)).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.event).collect();
    assert_eq!(kinds, [CreditEventKind::Low]);
    // AND the ledger keeps each test session as a `test` entry that moved nothing
    let tests = entries(store.as_ref(), acct, LedgerKind::Test).await;
    assert_eq!(tests.len(), 3);
    assert!(tests.iter().all(|e| e.amount == 0 && e.balance_after == 2));
    // AND the audit trail says which sessions were test sessions
    let used: Vec<_> = store
        .audit_events(&account(acct), clock::now())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == AuditAction::KeyUsed)
        .map(|e| (e.key_id, e.mode))
        .collect();
    let of = |key: &ResolvedKey, mode| {
        used.iter()
            .filter(|(k, m)| *k == key.key.as_str() && *m == Some(mode))
            .count()
    };
    assert_eq!(
        (of(&test, KeyMode::Test), of(&live, KeyMode::Live)),
        (3, 2),
        "{used:?}"
    );
    assert_eq!(used.len(), 5);
    // AND usage counts the test key's sessions under its own key, marked as a test key's
    let now = clock::now();
    let query = UsageQuery::covering(
        now - Duration::hours(1),
        now + Duration::hours(1),
        Granularity::Day,
    )
    .unwrap();
    let usage = store.usage(&account(acct), &query, now).await.unwrap();
    let total = |key: &ResolvedKey| usage.sessions[key.key.as_str()].values().sum::<u64>();
    assert_eq!((total(&test), total(&live)), (3, 2));
    assert_eq!(usage.test_keys.iter().collect::<Vec<_>>(), [test.key.as_str()]);
    assert_ledger_ok(store.as_ref(), acct).await;
}

pub async fn an_idempotent_test_session_is_counted_once_and_a_test_keys_own_limit_holds(
    store: Arc<dyn Store>,
) {
    let acct = "acct_test_idem";
    let test = key_of(store.as_ref(), KeyMode::Test, acct, "Test").await;
    let at = clock::now();
    // GIVEN an allowance of 2 WHEN one request is sent three times with one Idempotency-Key
    let first = store
        .debit_session(&test, test_debit_at(at, 2), idem("k1", "body", "a"))
        .await
        .unwrap();
    assert_eq!(
        first,
        DebitOutcome::Debited {
            balance: FREE_CREDITS
        }
    );
    for _ in 0..2 {
        let again = store
            .debit_session(&test, test_debit_at(at, 2), idem("k1", "body", "b"))
            .await
            .unwrap();
        assert!(
            matches!(
                again,
                DebitOutcome::Replayed {
                    balance: FREE_CREDITS,
                    ..
                }
            ),
            "{again:?}"
        );
    }
    // THEN it used one test session: one more opens, and then the allowance is spent
    let second = store
        .debit_session(&test, test_debit_at(at, 2), idem("k2", "body", "c"))
        .await
        .unwrap();
    assert_eq!(
        second,
        DebitOutcome::Debited {
            balance: FREE_CREDITS
        }
    );
    assert_eq!(
        store
            .debit_session(&test, test_debit_at(at, 2), idem("k3", "body", "d"))
            .await
            .unwrap(),
        DebitOutcome::TestLimitReached
    );
    assert_eq!(entries(store.as_ref(), acct, LedgerKind::Test).await.len(), 2);
    // AND a test key made with a daily limit of its own is held to it first
    let (plaintext, key) = new_key_of(KeyMode::Test, acct, "Limited test", clock::now());
    store
        .create_key(
            NewKey {
                sessions_per_day: Some(1),
                ..key
            },
            origin(),
        )
        .await
        .unwrap();
    let limited = resolved(store.as_ref(), &plaintext).await;
    let tomorrow = at + Duration::days(1);
    assert!(matches!(
        store
            .debit_session(&limited, test_debit_at(tomorrow, 100), None)
            .await
            .unwrap(),
        DebitOutcome::Debited { .. }
    ));
    assert_eq!(
        store
            .debit_session(&limited, test_debit_at(tomorrow, 100), None)
            .await
            .unwrap(),
        DebitOutcome::KeyLimitReached
    );
    // AND no credit moved for any of it
    let after = balance(store.as_ref(), acct).await;
    assert_eq!((after.credits, after.debited), (FREE_CREDITS, 0));
    assert_ledger_ok(store.as_ref(), acct).await;
}
