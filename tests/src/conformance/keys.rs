//! Keys: listing, deletion, expiry, rolls and the live-key cap.

use super::*;

pub const CASES: &[Case] = &[
    Case {
        name: "a_validity_check_sees_a_key_live_until_it_is_deleted_leaked_or_expired_and_writes_nothing",
        run: |store| {
            Box::pin(
                a_validity_check_sees_a_key_live_until_it_is_deleted_leaked_or_expired_and_writes_nothing(
                    store,
                ),
            )
        },
    },
    Case {
        name: "created_keys_are_listed_newest_first",
        run: |store| Box::pin(created_keys_are_listed_newest_first(store)),
    },
    Case {
        name: "keys_are_listed_only_to_their_account",
        run: |store| Box::pin(keys_are_listed_only_to_their_account(store)),
    },
    Case {
        name: "unknown_keys_are_invalid",
        run: |store| Box::pin(unknown_keys_are_invalid(store)),
    },
    Case {
        name: "deletion_is_soft_final_and_owner_only",
        run: |store| Box::pin(deletion_is_soft_final_and_owner_only(store)),
    },
    Case {
        name: "a_deleted_key_fails_on_the_very_next_request",
        run: |store| Box::pin(a_deleted_key_fails_on_the_very_next_request(store)),
    },
    Case {
        name: "a_key_past_its_expiry_is_refused_by_the_debit_itself",
        run: |store| Box::pin(a_key_past_its_expiry_is_refused_by_the_debit_itself(store)),
    },
    Case {
        name: "a_rolled_key_works_through_its_grace_and_its_successor_from_the_start",
        run: |store| Box::pin(a_rolled_key_works_through_its_grace_and_its_successor_from_the_start(store)),
    },
    Case {
        name: "a_key_deleted_between_lookup_and_debit_is_refused",
        run: |store| Box::pin(a_key_deleted_between_lookup_and_debit_is_refused(store)),
    },
    Case {
        name: "an_account_holds_at_most_its_cap_of_live_keys",
        run: |store| Box::pin(an_account_holds_at_most_its_cap_of_live_keys(store)),
    },
    Case {
        name: "a_roll_carries_the_expiry_it_is_given_and_todays_session_count",
        run: |store| {
            Box::pin(a_roll_carries_the_expiry_it_is_given_and_todays_session_count(
                store,
            ))
        },
    },
    Case {
        name: "of_ten_creations_and_then_ten_rolls_racing_for_the_last_place_one_wins",
        run: |store| Box::pin(racing_for_the_last_place(store, || {})),
    },
];

pub async fn created_keys_are_listed_newest_first(store: Arc<dyn Store>) {
    let (first, first_id) = create(store.as_ref(), "acct_a", "first").await;
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let (_, second_id) = create(store.as_ref(), "acct_a", "second").await;
    let keys = store.list_keys(&account("acct_a")).await.unwrap();
    let ids: Vec<_> = keys.iter().map(|k| k.id.clone()).collect();
    assert_eq!(ids, [second_id, first_id]);
    assert_eq!(keys[1].name.as_str(), "first");
    assert_eq!(keys[1].prefix, first.display_prefix());
    assert_eq!(keys[1].last_used_at, None);
}

pub async fn keys_are_listed_only_to_their_account(store: Arc<dyn Store>) {
    create(store.as_ref(), "acct_a", "mine").await;
    create(store.as_ref(), "acct_b", "theirs").await;
    let mine = store.list_keys(&account("acct_a")).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].name.as_str(), "mine");
    assert!(store.list_keys(&account("acct_nobody")).await.unwrap().is_empty());
}

pub async fn unknown_keys_are_invalid(store: Arc<dyn Store>) {
    create(store.as_ref(), "acct_a", "k").await;
    let unknown = PlaintextKey::generate(KeyMode::Live);
    assert_eq!(
        store.open_session(&unknown.hash(), debit()).await.unwrap(),
        SessionOutcome::InvalidKey
    );
    assert_eq!(credits(store.as_ref(), "acct_a").await, FREE_CREDITS);
}

pub async fn deletion_is_soft_final_and_owner_only(store: Arc<dyn Store>) {
    let (_, id) = create(store.as_ref(), "acct_a", "k").await;
    // Someone else's delete finds nothing and changes nothing.
    assert!(
        !store
            .delete_key(&account("acct_b"), &id, clock::now(), origin())
            .await
            .unwrap()
    );
    assert_eq!(store.list_keys(&account("acct_a")).await.unwrap().len(), 1);
    // The owner's delete works once.
    assert!(
        store
            .delete_key(&account("acct_a"), &id, clock::now(), origin())
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_key(&account("acct_a"), &id, clock::now(), origin())
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_key(&account("acct_a"), &KeyId::generate(), clock::now(), origin())
            .await
            .unwrap()
    );
    assert!(store.list_keys(&account("acct_a")).await.unwrap().is_empty());
    let audit = store
        .audit_events(&account("acct_a"), clock::now())
        .await
        .unwrap();
    let deletions: Vec<_> = audit
        .iter()
        .filter(|e| e.event == AuditAction::KeyDeleted)
        .collect();
    assert_eq!(deletions.len(), 1);
    assert_eq!(deletions[0].key_id, id.as_str());
    assert_eq!(deletions[0].user_agent.as_deref(), Some("conformance/1.0"));
}

pub async fn a_deleted_key_fails_on_the_very_next_request(store: Arc<dyn Store>) {
    let (plaintext, id) = create(store.as_ref(), "acct_a", "k").await;
    assert!(matches!(
        store.open_session(&plaintext.hash(), debit()).await.unwrap(),
        SessionOutcome::Opened { .. }
    ));
    assert!(
        store
            .delete_key(&account("acct_a"), &id, clock::now(), origin())
            .await
            .unwrap()
    );
    // No propagation window: the first request after the delete returned is refused.
    assert_eq!(
        store.open_session(&plaintext.hash(), debit()).await.unwrap(),
        SessionOutcome::InvalidKey
    );
    assert_eq!(credits(store.as_ref(), "acct_a").await, FREE_CREDITS - 1);
}

pub async fn a_key_past_its_expiry_is_refused_by_the_debit_itself(store: Arc<dyn Store>) {
    // GIVEN a key that expires in a minute, and one that never does, on one account
    let now = clock::now();
    let (expiring, mut key) = new_key("acct_a", "expiring", now);
    key.expires_at = Some(now + Duration::seconds(60));
    let expiring_id = key.id.clone();
    store.create_key(key, origin()).await.unwrap();
    let (forever, _) = create(store.as_ref(), "acct_a", "forever").await;
    // THEN the list shows each key's expiry
    let listed = store.list_keys(&account("acct_a")).await.unwrap();
    let expiry = |id: &KeyId| listed.iter().find(|k| &k.id == id).unwrap().expires_at;
    assert_eq!(expiry(&expiring_id), Some(now + Duration::seconds(60)));
    assert_eq!(listed.iter().filter(|k| k.expires_at.is_none()).count(), 1);
    // AND before its expiry the key spends; from that second on, the debit's own write refuses
    // it, even for an instance that resolved it while it was valid
    let resolved = store
        .resolve_key(&expiring.hash())
        .await
        .unwrap()
        .expect("resolves");
    let before = store
        .debit_session(&resolved, debit_at(now + Duration::seconds(59)), None)
        .await
        .unwrap();
    assert!(
        matches!(before, DebitOutcome::Debited { balance } if balance == FREE_CREDITS - 1),
        "{before:?}"
    );
    for at in [60, 61, 3600] {
        let after = store
            .debit_session(&resolved, debit_at(now + Duration::seconds(at)), None)
            .await
            .unwrap();
        assert_eq!(after, DebitOutcome::InvalidKey, "{at} s after creation");
    }
    assert_eq!(
        credits(store.as_ref(), "acct_a").await,
        FREE_CREDITS - 1,
        "nothing taken"
    );
    // AND the account's other key is untouched by it
    let outcome = store
        .open_session(&forever.hash(), debit_at(now + Duration::seconds(3600)))
        .await
        .unwrap();
    assert!(matches!(outcome, SessionOutcome::Opened { .. }), "{outcome:?}");
}

pub async fn a_rolled_key_works_through_its_grace_and_its_successor_from_the_start(store: Arc<dyn Store>) {
    // GIVEN a live key
    let now = clock::now();
    let (old_plain, old_id) = create(store.as_ref(), "acct_a", "Production").await;
    let old = store.resolve_key(&old_plain.hash()).await.unwrap().unwrap();
    // WHEN it is rolled with an hour's grace
    let (new_plain, mut successor) = new_key("acct_a", "Production", now);
    successor.created_at = now;
    let new_id = successor.id.clone();
    let rolled = store
        .roll_key(&old_id, successor, now + Duration::hours(1), origin())
        .await
        .unwrap();
    assert_eq!(
        rolled,
        KeyRoll::Rolled {
            previous_expires_at: now + Duration::hours(1)
        }
    );
    // THEN both keys are listed, the old one with its expiry, the new one with none
    let listed = store.list_keys(&account("acct_a")).await.unwrap();
    let find = |id: &KeyId| listed.iter().find(|k| &k.id == id).cloned().expect("listed");
    assert_eq!(find(&old_id).expires_at, Some(now + Duration::hours(1)));
    assert_eq!(find(&new_id).expires_at, None);
    assert_eq!(find(&new_id).name.as_str(), "Production");
    // AND the old key spends until its grace ends, and not a second after
    let within = store
        .debit_session(&old, debit_at(now + Duration::minutes(59)), None)
        .await
        .unwrap();
    assert!(matches!(within, DebitOutcome::Debited { .. }), "{within:?}");
    let after = store
        .debit_session(&old, debit_at(now + Duration::hours(1)), None)
        .await
        .unwrap();
    assert_eq!(after, DebitOutcome::InvalidKey);
    // AND the successor spends from the start
    let outcome = store
        .open_session(&new_plain.hash(), debit_at(now + Duration::hours(2)))
        .await
        .unwrap();
    assert!(
        matches!(outcome, SessionOutcome::Opened { ref key, .. } if *key == new_id),
        "{outcome:?}"
    );
    // AND key.rolled links both ids
    let audit = store
        .audit_events(&account("acct_a"), clock::now())
        .await
        .unwrap();
    let roll = audit
        .iter()
        .find(|e| e.event == AuditAction::KeyRolled)
        .expect("key.rolled");
    assert_eq!(
        (roll.key_id.as_str(), roll.previous_key_id.as_deref()),
        (new_id.as_str(), Some(old_id.as_str()))
    );
    // AND a second roll of the old key (already due to expire) keeps the earlier expiry; a
    // deleted or unknown key cannot be rolled, and nothing is written for it
    let (_, again) = new_key("acct_a", "Production", now);
    let again = store
        .roll_key(&old_id, again, now + Duration::days(7), origin())
        .await
        .unwrap();
    assert_eq!(
        again,
        KeyRoll::Rolled {
            previous_expires_at: now + Duration::hours(1)
        }
    );
    assert!(
        store
            .delete_key(&account("acct_a"), &new_id, now, origin())
            .await
            .unwrap()
    );
    let (_, ghost) = new_key("acct_a", "Ghost", now);
    assert_eq!(
        store.roll_key(&new_id, ghost, now, origin()).await.unwrap(),
        KeyRoll::NotFound
    );
    let (_, theirs) = new_key("acct_b", "Theirs", now);
    assert_eq!(
        store.roll_key(&old_id, theirs, now, origin()).await.unwrap(),
        KeyRoll::NotFound,
        "another account's key"
    );
    assert_eq!(
        store.list_keys(&account("acct_a")).await.unwrap().len(),
        2,
        "old + the second successor"
    );
}

pub async fn a_key_deleted_between_lookup_and_debit_is_refused(store: Arc<dyn Store>) {
    // GIVEN a session that resolved its key just before the key was deleted
    let (plaintext, key_id) = create(store.as_ref(), "acct_a", "raced").await;
    let resolved = store.resolve_key(&plaintext.hash()).await.unwrap().expect("live");
    assert!(
        store
            .delete_key(&account("acct_a"), &key_id, clock::now(), origin())
            .await
            .unwrap()
    );
    let ledger_before = store.ledger(&account("acct_a")).await.unwrap();
    // WHEN it debits, with or without an Idempotency-Key
    let plain = store.debit_session(&resolved, debit(), None).await.unwrap();
    let idem = store
        .debit_session(&resolved, debit(), idem("raced", "body", "raced"))
        .await
        .unwrap();
    // THEN both are refused as an invalid key, and nothing was taken
    assert_eq!(
        (plain, idem),
        (DebitOutcome::InvalidKey, DebitOutcome::InvalidKey)
    );
    assert_eq!(store.ledger(&account("acct_a")).await.unwrap(), ledger_before);
    assert_eq!(credits(store.as_ref(), "acct_a").await, FREE_CREDITS);
}

pub async fn an_account_holds_at_most_its_cap_of_live_keys(store: Arc<dyn Store>) {
    // GIVEN an account with the most live keys it may have
    let mut ids = Vec::new();
    for i in 0..MAX_LIVE_KEYS {
        ids.push(create(store.as_ref(), "acct_full", &format!("key {i}")).await.1);
    }
    // WHEN one more is created THEN it is refused and nothing is written
    let (_, extra) = new_key("acct_full", "one too many", clock::now());
    assert_eq!(
        store.create_key(extra, origin()).await.unwrap(),
        KeyCreation::TooManyKeys
    );
    assert_eq!(
        store.list_keys(&account("acct_full")).await.unwrap().len(),
        MAX_LIVE_KEYS
    );
    // AND after a deletion there is room again
    assert!(
        store
            .delete_key(&account("acct_full"), &ids[0], clock::now(), origin())
            .await
            .unwrap()
    );
    let (_, again) = new_key("acct_full", "room again", clock::now());
    assert_eq!(
        store.create_key(again, origin()).await.unwrap(),
        KeyCreation::Created
    );
    assert_eq!(
        store.list_keys(&account("acct_full")).await.unwrap().len(),
        MAX_LIVE_KEYS
    );
}

/// What races for an account's last free place.
#[derive(Clone, Copy, Debug)]
enum LastPlace {
    /// Ten new keys are created at once.
    Creations,
    /// Ten different keys are rolled at once (a successor needs a place; its predecessor keeps
    /// its own until it expires or is deleted).
    Rolls,
}

/// An account with one place left under the cap, and ten writes racing for it, twice: ten key
/// creations, then (a key deleted to free a place again) ten rolls. Each time exactly one gets
/// the place, the other nine are told the account is full, and the account holds the cap. `arm`
/// runs just before each race (the DynamoDB test arms a gate there that holds every write until
/// every racer has taken its slot, so that only the write's own condition can refuse).
pub async fn racing_for_the_last_place(store: Arc<dyn Store>, arm: impl Fn()) {
    // GIVEN an account one key short of the cap
    let mut ids = Vec::new();
    for i in 0..MAX_LIVE_KEYS - 1 {
        ids.push(create(store.as_ref(), "acct_full", &format!("key {i}")).await.1);
    }
    for race in [LastPlace::Creations, LastPlace::Rolls] {
        if let LastPlace::Rolls = race {
            // A place freed again, by a key that is not among the racers.
            let freed = ids.pop().unwrap();
            assert!(
                store
                    .delete_key(&account("acct_full"), &freed, clock::now(), origin())
                    .await
                    .unwrap()
            );
        }
        arm();
        // WHEN ten writes race for the last place
        let racers: Vec<_> = ids[..10]
            .iter()
            .enumerate()
            .map(|(i, old)| {
                let (store, old) = (store.clone(), old.clone());
                tokio::spawn(async move {
                    let (_, key) = new_key("acct_full", &format!("racer {i}"), clock::now());
                    match race {
                        LastPlace::Creations => {
                            store.create_key(key, origin()).await.unwrap() == KeyCreation::Created
                        }
                        LastPlace::Rolls => {
                            let grace = clock::now() + Duration::hours(1);
                            match store.roll_key(&old, key, grace, origin()).await.unwrap() {
                                KeyRoll::Rolled { .. } => true,
                                KeyRoll::TooManyKeys => false,
                                other => panic!("racer {i}: {other:?}"),
                            }
                        }
                    }
                })
            })
            .collect();
        let mut won = 0;
        for racer in racers {
            won += usize::from(racer.await.unwrap());
        }
        // THEN exactly one won, and the account holds exactly the cap
        assert_eq!(won, 1, "{race:?}: winners of the last place");
        assert_eq!(
            store.list_keys(&account("acct_full")).await.unwrap().len(),
            MAX_LIVE_KEYS,
            "{race:?}"
        );
    }
}

pub async fn a_roll_carries_the_expiry_it_is_given_and_todays_session_count(store: Arc<dyn Store>) {
    // GIVEN a key limited to 2 sessions a day that expires in 2 days, with both of today's used
    let expires = clock::now().replace_nanosecond(0).unwrap() + Duration::days(2);
    let (plaintext, mut key) = new_key("acct_a", "metered", clock::now());
    key.expires_at = Some(expires);
    key.sessions_per_day = Some(2);
    let old = key.id.clone();
    store.create_key(key, origin()).await.unwrap();
    let resolved_old = resolved(store.as_ref(), &plaintext).await;
    for _ in 0..2 {
        assert!(matches!(
            store.debit_session(&resolved_old, debit(), None).await.unwrap(),
            DebitOutcome::Debited { .. }
        ));
    }
    // WHEN it is rolled, its successor given the same expiry and limit (as roll-key does)
    let (successor_plaintext, mut successor) = new_key("acct_a", "metered", clock::now());
    successor.expires_at = Some(expires);
    successor.sessions_per_day = Some(2);
    let successor_id = successor.id.clone();
    let rolled = store
        .roll_key(&old, successor, clock::now() + Duration::hours(1), origin())
        .await
        .unwrap();
    assert!(matches!(rolled, KeyRoll::Rolled { .. }), "{rolled:?}");
    // THEN the successor expires when the old key would have
    let listed = store.list_keys(&account("acct_a")).await.unwrap();
    let listed_successor = listed.iter().find(|k| k.id == successor_id).expect("listed");
    assert_eq!(listed_successor.expires_at, Some(expires));
    // AND today's two sessions count against it: its first session today is over the limit
    let resolved_new = resolved(store.as_ref(), &successor_plaintext).await;
    assert_eq!(
        store.debit_session(&resolved_new, debit(), None).await.unwrap(),
        DebitOutcome::KeyLimitReached
    );
    // AND past that expiry the debit itself refuses it
    assert_eq!(
        store
            .debit_session(&resolved_new, debit_at(expires + Duration::seconds(1)), None)
            .await
            .unwrap(),
        DebitOutcome::InvalidKey
    );
}

pub async fn a_validity_check_sees_a_key_live_until_it_is_deleted_leaked_or_expired_and_writes_nothing(
    store: Arc<dyn Store>,
) {
    let store = store.as_ref();
    let now = clock::now();
    // GIVEN a key that expires in 30 days with a daily limit, and one without either
    let (limited_plain, mut limited) = new_key("acct_check", "CI", now);
    limited.expires_at = Some(now + Duration::days(30));
    limited.sessions_per_day = Some(50);
    store.create_key(limited.clone(), origin()).await.unwrap();
    let (plain, id) = create(store, "acct_check", "Production").await;
    let (limited_key, key) = (
        resolved(store, &limited_plain).await,
        resolved(store, &plain).await,
    );
    let written = || async {
        (
            store
                .audit_events(&account("acct_check"), clock::now())
                .await
                .unwrap()
                .len(),
            store.ledger(&account("acct_check")).await.unwrap().len(),
            credits(store, "acct_check").await,
        )
    };
    let before = written().await;
    // THEN each is live, as created
    assert_eq!(
        store.live_key(&limited_key, now).await.unwrap(),
        Some(LiveKey {
            id: limited.id.clone(),
            name: limited.name.clone(),
            prefix: limited.prefix.clone(),
            created_at: limited.created_at,
            expires_at: limited.expires_at,
            sessions_per_day: Some(50),
        })
    );
    assert_eq!(
        store.live_key(&key, now).await.unwrap().map(|k| k.id),
        Some(id.clone())
    );
    // AND checking wrote nothing: no event, no ledger entry, no credit, no last use
    assert_eq!(written().await, before);
    let listed = store.list_keys(&account("acct_check")).await.unwrap();
    assert!(
        listed.iter().all(|k| k.last_used_at.is_none()),
        "a check is not use"
    );
    // AND a key is live up to its expiry and not from that second on, as a session sees it
    let expiry = now + Duration::days(30);
    assert!(
        store
            .live_key(&limited_key, expiry - Duration::seconds(1))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.live_key(&limited_key, expiry).await.unwrap(), None);
    // AND a key resolved for one account is nothing to another
    let elsewhere = ResolvedKey {
        account: account("acct_other"),
        ..key.clone()
    };
    assert_eq!(store.live_key(&elsewhere, now).await.unwrap(), None);
    // WHEN the second key is rolled with an hour's grace THEN it is live through the grace only
    let (_, successor) = new_key("acct_check", "Production", now);
    store
        .roll_key(&id, successor, now + Duration::hours(1), origin())
        .await
        .unwrap();
    assert!(
        store
            .live_key(&key, now + Duration::minutes(59))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.live_key(&key, now + Duration::hours(1)).await.unwrap(),
        None
    );
    // WHEN the first is reported leaked THEN it is not live
    let reported = [ReportedLeak {
        hash: limited_plain.hash(),
        leak: Leak::default(),
    }];
    store
        .revoke_leaked(&reported, clock::now(), origin())
        .await
        .unwrap();
    assert_eq!(store.live_key(&limited_key, clock::now()).await.unwrap(), None);
    // WHEN a key is deleted THEN it is not live
    let (gone_plain, gone_id) = create(store, "acct_check", "Gone").await;
    let gone = resolved(store, &gone_plain).await;
    assert!(
        store
            .delete_key(&account("acct_check"), &gone_id, clock::now(), origin())
            .await
            .unwrap()
    );
    assert_eq!(store.live_key(&gone, clock::now()).await.unwrap(), None);
}
