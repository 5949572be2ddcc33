//! Idempotency-Key: one payment per key, the first answer for 24 hours.

use super::*;

pub const CASES: &[Case] = &[
    Case {
        name: "an_idempotent_retry_pays_once_and_gets_the_first_answer",
        run: |store| Box::pin(an_idempotent_retry_pays_once_and_gets_the_first_answer(store)),
    },
    Case {
        name: "an_idempotency_key_is_bound_to_its_api_key_and_request",
        run: |store| Box::pin(an_idempotency_key_is_bound_to_its_api_key_and_request(store)),
    },
    Case {
        name: "idempotency_keys_are_scoped_to_their_account",
        run: |store| Box::pin(idempotency_keys_are_scoped_to_their_account(store)),
    },
    Case {
        name: "idempotency_records_answer_for_24_hours_only",
        run: |store| Box::pin(idempotency_records_answer_for_24_hours_only(store)),
    },
    Case {
        name: "a_record_answers_no_longer_than_its_token_lives_and_then_starts_a_new_session",
        run: |store| {
            Box::pin(a_record_answers_no_longer_than_its_token_lives_and_then_starts_a_new_session(store))
        },
    },
    Case {
        name: "a_hundred_concurrent_retries_of_one_idempotency_key_debit_once",
        run: |store| {
            Box::pin(a_hundred_concurrent_retries_of_one_idempotency_key_debit_once(
                store,
            ))
        },
    },
];

pub async fn an_idempotent_retry_pays_once_and_gets_the_first_answer(store: Arc<dyn Store>) {
    let (plaintext, _) = create(store.as_ref(), "acct_a", "k").await;
    let key = resolved(store.as_ref(), &plaintext).await;
    let first = store
        .debit_session(&key, debit(), idem("retry-1", "{}", "first"))
        .await
        .unwrap();
    assert_eq!(
        first,
        DebitOutcome::Debited {
            balance: FREE_CREDITS - 1
        }
    );
    // The retry carries a freshly signed grant; the first one is what comes back.
    let retry = store
        .debit_session(&key, debit(), idem("retry-1", "{}", "second"))
        .await
        .unwrap();
    assert_eq!(
        retry,
        DebitOutcome::Replayed {
            balance: FREE_CREDITS - 1,
            grant: grant("first")
        }
    );
    assert_eq!(credits(store.as_ref(), "acct_a").await, FREE_CREDITS - 1);
    assert_eq!(debits(store.as_ref(), "acct_a").await, 1);
    // A different idempotency key is a different session.
    let other = store
        .debit_session(&key, debit(), idem("retry-2", "{}", "third"))
        .await
        .unwrap();
    assert_eq!(
        other,
        DebitOutcome::Debited {
            balance: FREE_CREDITS - 2
        }
    );
}

pub async fn an_idempotency_key_is_bound_to_its_api_key_and_request(store: Arc<dyn Store>) {
    let (first_key, _) = create(store.as_ref(), "acct_a", "one").await;
    let (second_key, _) = create(store.as_ref(), "acct_a", "two").await;
    let first = resolved(store.as_ref(), &first_key).await;
    let second = resolved(store.as_ref(), &second_key).await;
    store
        .debit_session(&first, debit(), idem("k", "{}", "a"))
        .await
        .unwrap();
    let other_key = store
        .debit_session(&second, debit(), idem("k", "{}", "b"))
        .await
        .unwrap();
    assert_eq!(
        other_key,
        DebitOutcome::Conflict(IdempotencyConflict::DifferentApiKey)
    );
    let other_request = store
        .debit_session(&first, debit(), idem("k", "something else", "c"))
        .await
        .unwrap();
    assert_eq!(
        other_request,
        DebitOutcome::Conflict(IdempotencyConflict::DifferentRequest)
    );
    assert_eq!(
        debits(store.as_ref(), "acct_a").await,
        1,
        "conflicts take nothing"
    );
}

pub async fn idempotency_keys_are_scoped_to_their_account(store: Arc<dyn Store>) {
    let (a, _) = create(store.as_ref(), "acct_a", "a").await;
    let (b, _) = create(store.as_ref(), "acct_b", "b").await;
    let a = resolved(store.as_ref(), &a).await;
    let b = resolved(store.as_ref(), &b).await;
    assert!(matches!(
        store
            .debit_session(&a, debit(), idem("shared", "{}", "a"))
            .await
            .unwrap(),
        DebitOutcome::Debited { .. }
    ));
    assert!(matches!(
        store
            .debit_session(&b, debit(), idem("shared", "{}", "b"))
            .await
            .unwrap(),
        DebitOutcome::Debited { .. }
    ));
}

pub async fn idempotency_records_answer_for_24_hours_only(store: Arc<dyn Store>) {
    let (plaintext, _) = create(store.as_ref(), "acct_a", "k").await;
    let key = resolved(store.as_ref(), &plaintext).await;
    let yesterday = clock::now() - Duration::hours(25);
    store
        .debit_session(&key, debit_at(yesterday), idem("old", "{}", "old"))
        .await
        .unwrap();
    // 25 hours later the key is free again: this is a new session, paid for.
    let again = store
        .debit_session(&key, debit(), idem("old", "{}", "new"))
        .await
        .unwrap();
    assert_eq!(
        again,
        DebitOutcome::Debited {
            balance: FREE_CREDITS - 2
        }
    );
    let retry = store
        .debit_session(&key, debit(), idem("old", "{}", "newer"))
        .await
        .unwrap();
    assert_eq!(
        retry,
        DebitOutcome::Replayed {
            balance: FREE_CREDITS - 2,
            grant: grant("new")
        }
    );
}

pub async fn a_hundred_concurrent_retries_of_one_idempotency_key_debit_once(store: Arc<dyn Store>) {
    const RETRIES: usize = 100;
    let (plaintext, _) = create(store.as_ref(), "acct_a", "k").await;
    let key = resolved(store.as_ref(), &plaintext).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(RETRIES));
    let retries: Vec<_> = (0..RETRIES)
        .map(|i| {
            let (store, barrier, key) = (store.clone(), barrier.clone(), key.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .debit_session(&key, debit(), idem("same", "{}", &i.to_string()))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for retry in retries {
        outcomes.push(retry.await.unwrap());
    }
    let winners: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o, DebitOutcome::Debited { .. }))
        .collect();
    assert_eq!(winners.len(), 1, "exactly one debit");
    let winning_grant = outcomes
        .iter()
        .find_map(|o| match o {
            DebitOutcome::Replayed { grant, .. } => Some(grant.clone()),
            _ => None,
        })
        .expect("the others replay");
    for o in &outcomes {
        match o {
            DebitOutcome::Debited { balance } => assert_eq!(*balance, FREE_CREDITS - 1),
            DebitOutcome::Replayed { balance, grant } => {
                assert_eq!((*balance, grant), (FREE_CREDITS - 1, &winning_grant))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(credits(store.as_ref(), "acct_a").await, FREE_CREDITS - 1);
    assert_eq!(debits(store.as_ref(), "acct_a").await, 1);
    assert_ledger_ok(store.as_ref(), "acct_a").await;
}

pub async fn a_record_answers_no_longer_than_its_token_lives_and_then_starts_a_new_session(
    store: Arc<dyn Store>,
) {
    // GIVEN an idempotent session opened 10 minutes ago whose token lived 10 minutes
    let (plaintext, _) = create(store.as_ref(), "acct_a", "k").await;
    let key = resolved(store.as_ref(), &plaintext).await;
    let short_lived = |tag: &str| {
        Some(IdempotentSession {
            key_hash: "hash-of-short".into(),
            request_hash: "body-{}".into(),
            grant: SessionGrant {
                expires_in: 600,
                ..grant(tag)
            },
        })
    };
    let opened = clock::now() - Duration::seconds(600);
    let first = store
        .debit_session(&key, debit_at(opened), short_lived("first"))
        .await
        .unwrap();
    assert_eq!(
        first,
        DebitOutcome::Debited {
            balance: FREE_CREDITS - 1
        }
    );
    // WHEN it is retried in the token's last second THEN the first answer comes back
    let last_second = opened + Duration::seconds(599);
    let retry = store
        .debit_session(&key, debit_at(last_second), short_lived("retry"))
        .await
        .unwrap();
    assert_eq!(
        retry,
        DebitOutcome::Replayed {
            balance: FREE_CREDITS - 1,
            grant: SessionGrant {
                expires_in: 600,
                ..grant("first")
            }
        }
    );
    // WHEN it is retried the second the token expires (the record's expiry, exactly) THEN it is
    // a first request again: a new session with a live token, never an expired one or an error
    let expired = opened + Duration::seconds(600);
    let later = store
        .debit_session(&key, debit_at(expired), short_lived("later"))
        .await
        .unwrap();
    assert_eq!(
        later,
        DebitOutcome::Debited {
            balance: FREE_CREDITS - 2
        }
    );
}
