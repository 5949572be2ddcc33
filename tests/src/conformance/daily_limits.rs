//! Per-key daily session limits.

use super::*;

pub const CASES: &[Case] = &[
    Case {
        name: "a_daily_limit_holds_exactly_under_a_200_way_race",
        run: |store| Box::pin(a_daily_limit_holds_exactly_under_a_200_way_race(store)),
    },
    Case {
        name: "a_daily_limit_counts_afresh_each_utc_day_and_only_its_own_key",
        run: |store| {
            Box::pin(a_daily_limit_counts_afresh_each_utc_day_and_only_its_own_key(
                store,
            ))
        },
    },
    Case {
        name: "a_daily_limit_refuses_new_sessions_but_still_replays_and_no_credits_comes_first",
        run: |store| {
            Box::pin(a_daily_limit_refuses_new_sessions_but_still_replays_and_no_credits_comes_first(store))
        },
    },
];

/// A key made with `sessions_per_day: limit` on `account_id`, with `extra` credits granted.
async fn limited_key(
    store: &dyn Store,
    account_id: &str,
    limit: u32,
    extra: u64,
) -> (PlaintextKey, ResolvedKey) {
    let (plaintext, key) = new_key(account_id, "Limited", clock::now());
    let key = NewKey {
        sessions_per_day: Some(limit),
        ..key
    };
    store.create_key(key, origin()).await.expect("create key");
    if extra > 0 {
        store
            .grant_credits(&account(account_id), extra, "ample", clock::now())
            .await
            .unwrap();
    }
    let resolved = resolved(store, &plaintext).await;
    assert_eq!(
        resolved.sessions_per_day,
        Some(limit),
        "resolving a key tells its limit"
    );
    (plaintext, resolved)
}

pub async fn a_daily_limit_holds_exactly_under_a_200_way_race(store: Arc<dyn Store>) {
    const LIMIT: u32 = 10;
    const RACERS: usize = 200;
    // GIVEN a key limited to 10 sessions a day, on an account with ample credits
    let (_, key) = limited_key(store.as_ref(), "acct_daily_race", LIMIT, 1_000).await;
    let before = store.balance(&account("acct_daily_race")).await.unwrap().unwrap();
    // WHEN 200 sessions race, all on the same UTC day
    let at = clock::now();
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|_| {
            let (store, barrier, key) = (store.clone(), barrier.clone(), key.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.debit_session(&key, debit_at(at), None).await.unwrap()
            })
        })
        .collect();
    let (mut opened, mut limited) = (0, 0);
    for racer in racers {
        match racer.await.unwrap() {
            DebitOutcome::Debited { .. } => opened += 1,
            DebitOutcome::KeyLimitReached => limited += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    // THEN exactly 10 open, the other 190 are refused, and exactly 10 credits moved
    assert_eq!((opened, limited), (LIMIT as usize, RACERS - LIMIT as usize));
    let after = store.balance(&account("acct_daily_race")).await.unwrap().unwrap();
    assert_eq!(before.credits - after.credits, u64::from(LIMIT));
    assert_eq!(after.debited, u64::from(LIMIT));
    assert_eq!(debits(store.as_ref(), "acct_daily_race").await, LIMIT as usize);
    assert_ledger_ok(store.as_ref(), "acct_daily_race").await;
}

pub async fn a_daily_limit_counts_afresh_each_utc_day_and_only_its_own_key(store: Arc<dyn Store>) {
    // GIVEN a key limited to 2 sessions a day and an unlimited key on the same account
    let (_, limited) = limited_key(store.as_ref(), "acct_daily", 2, 20).await;
    let (plain, _) = create(store.as_ref(), "acct_daily", "Unlimited").await;
    let unlimited = resolved(store.as_ref(), &plain).await;
    assert_eq!(unlimited.sessions_per_day, None);
    let listed = store.list_keys(&account("acct_daily")).await.unwrap();
    let limits: Vec<_> = listed
        .iter()
        .map(|k| (k.name.as_str(), k.sessions_per_day))
        .collect();
    assert_eq!(
        limits,
        vec![("Unlimited", None), ("Limited", Some(2))],
        "the list shows each key's limit"
    );

    let day_one = clock::now();
    let day_two = day_one + Duration::days(1);
    let outcome = |key: &ResolvedKey, at| {
        let (store, key) = (store.clone(), key.clone());
        async move { store.debit_session(&key, debit_at(at), None).await.unwrap() }
    };
    // WHEN the limited key opens 2 sessions THEN its third that day is refused, nothing taken
    assert!(matches!(
        outcome(&limited, day_one).await,
        DebitOutcome::Debited { .. }
    ));
    assert!(matches!(
        outcome(&limited, day_one).await,
        DebitOutcome::Debited { .. }
    ));
    let before = credits(store.as_ref(), "acct_daily").await;
    assert_eq!(outcome(&limited, day_one).await, DebitOutcome::KeyLimitReached);
    assert_eq!(credits(store.as_ref(), "acct_daily").await, before);
    // AND the account's other key is not held back by it
    assert!(matches!(
        outcome(&unlimited, day_one).await,
        DebitOutcome::Debited { .. }
    ));
    // AND the next UTC day the limited key has its 2 sessions again, and no more
    assert!(matches!(
        outcome(&limited, day_two).await,
        DebitOutcome::Debited { .. }
    ));
    assert!(matches!(
        outcome(&limited, day_two).await,
        DebitOutcome::Debited { .. }
    ));
    assert_eq!(outcome(&limited, day_two).await, DebitOutcome::KeyLimitReached);
    assert_eq!(debits(store.as_ref(), "acct_daily").await, 5);
    assert_ledger_ok(store.as_ref(), "acct_daily").await;
}

pub async fn a_daily_limit_refuses_new_sessions_but_still_replays_and_no_credits_comes_first(
    store: Arc<dyn Store>,
) {
    // GIVEN a key limited to 1 session a day that opened it with an Idempotency-Key
    let (_, key) = limited_key(store.as_ref(), "acct_daily_idem", 1, 0).await;
    let at = clock::now();
    let first = store
        .debit_session(&key, debit_at(at), idem("daily-1", "{}", "first"))
        .await
        .unwrap();
    assert!(matches!(first, DebitOutcome::Debited { .. }), "{first:?}");
    // WHEN the same request is retried THEN it is replayed, not refused by the limit
    let retry = store
        .debit_session(&key, debit_at(at), idem("daily-1", "{}", "retry"))
        .await
        .unwrap();
    assert!(matches!(retry, DebitOutcome::Replayed { .. }), "{retry:?}");
    // WHEN a new idempotent session is asked for THEN the limit refuses it, and its
    // idempotency key stays unused (the same request succeeds the next day)
    let refused = store
        .debit_session(&key, debit_at(at), idem("daily-2", "{}", "second"))
        .await
        .unwrap();
    assert_eq!(refused, DebitOutcome::KeyLimitReached);
    let next_day = store
        .debit_session(
            &key,
            debit_at(at + Duration::days(1)),
            idem("daily-2", "{}", "second"),
        )
        .await
        .unwrap();
    assert!(matches!(next_day, DebitOutcome::Debited { .. }), "{next_day:?}");
    // GIVEN the account has no credits left (3 free − 2) and the key is at its limit
    let last = store
        .debit_session(&key, debit_at(at + Duration::days(2)), None)
        .await
        .unwrap();
    assert!(matches!(last, DebitOutcome::Debited { balance: 0 }), "{last:?}");
    // THEN the answer is "no credits" (waiting for the next day would not help), nothing taken
    let broke = store
        .debit_session(&key, debit_at(at + Duration::days(2)), None)
        .await
        .unwrap();
    assert_eq!(broke, DebitOutcome::InsufficientCredits);
    assert_eq!(debits(store.as_ref(), "acct_daily_idem").await, 3);
    assert_ledger_ok(store.as_ref(), "acct_daily_idem").await;
}
