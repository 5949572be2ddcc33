//! Leaked keys reported by secret scanning.

use super::*;

pub const CASES: &[Case] = &[
    Case {
        name: "a_leaked_key_is_refused_at_once_listed_as_leaked_and_audited_until_deleted",
        run: |store| {
            Box::pin(a_leaked_key_is_refused_at_once_listed_as_leaked_and_audited_until_deleted(store))
        },
    },
    Case {
        name: "one_report_of_many_keys_answers_each_in_order_and_revokes_a_repeated_key_once",
        run: |store| {
            Box::pin(one_report_of_many_keys_answers_each_in_order_and_revokes_a_repeated_key_once(store))
        },
    },
    Case {
        name: "leak_reports_of_unknown_or_already_revoked_keys_change_nothing",
        run: |store| {
            Box::pin(leak_reports_of_unknown_or_already_revoked_keys_change_nothing(
                store,
            ))
        },
    },
];

/// Reports one key, as a report of one match.
async fn report(store: &dyn Store, plaintext: &PlaintextKey, at: OffsetDateTime) -> LeakRevocation {
    let reports = [ReportedLeak {
        hash: plaintext.hash(),
        leak: leak(),
    }];
    let mut outcomes = store.revoke_leaked(&reports, at, origin()).await.unwrap();
    assert_eq!(outcomes.len(), 1, "one outcome per report");
    outcomes.remove(0)
}

fn leak() -> Leak {
    Leak {
        url: Some("https://github.com/octo/app/blob/4f2c/.env".into()),
        source: Some("content".into()),
    }
}

pub async fn a_leaked_key_is_refused_at_once_listed_as_leaked_and_audited_until_deleted(
    store: Arc<dyn Store>,
) {
    // GIVEN a live key that an instance has resolved and remembered
    let (plaintext, key_id) = create(store.as_ref(), "acct_leak", "CI").await;
    let remembered = resolved(store.as_ref(), &plaintext).await;
    assert!(matches!(
        store.debit_session(&remembered, debit(), None).await.unwrap(),
        DebitOutcome::Debited { .. }
    ));
    let before = credits(store.as_ref(), "acct_leak").await;
    // WHEN secret scanning reports it
    let at = clock::now();
    let revoked = report(store.as_ref(), &plaintext, at).await;
    assert_eq!(
        revoked,
        LeakRevocation::Revoked {
            account: account("acct_leak"),
            key: key_id.clone()
        }
    );
    // THEN the remembered key is refused by the debit itself, and it no longer resolves
    assert_eq!(
        store.debit_session(&remembered, debit(), None).await.unwrap(),
        DebitOutcome::InvalidKey
    );
    assert_eq!(store.resolve_key(&plaintext.hash()).await.unwrap(), None);
    assert_eq!(
        credits(store.as_ref(), "acct_leak").await,
        before,
        "nothing taken"
    );
    // AND it cannot be rolled, but is listed as leaked so its owner sees why it stopped
    let successor = new_key("acct_leak", "CI", clock::now()).1;
    assert_eq!(
        store
            .roll_key(&key_id, successor, clock::now(), origin())
            .await
            .unwrap(),
        KeyRoll::NotFound
    );
    let listed = store.list_keys(&account("acct_leak")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].leaked_at, Some(at));
    // AND the audit trail says where it was found
    let events = store
        .audit_events(&account("acct_leak"), clock::now())
        .await
        .unwrap();
    let leaked = events
        .iter()
        .find(|e| e.event == AuditAction::KeyLeaked)
        .expect("key.leaked");
    assert_eq!(leaked.key_id, key_id.as_str());
    assert_eq!(
        leaked.url.as_deref(),
        Some("https://github.com/octo/app/blob/4f2c/.env")
    );
    assert_eq!(leaked.source.as_deref(), Some("content"));
    assert_eq!(
        leaked.ip_address.as_deref(),
        Some("198.51.100.4"),
        "who reported it"
    );
    // WHEN its owner deletes it THEN it leaves the list
    assert!(
        store
            .delete_key(&account("acct_leak"), &key_id, clock::now(), origin())
            .await
            .unwrap()
    );
    assert!(store.list_keys(&account("acct_leak")).await.unwrap().is_empty());
}

pub async fn leak_reports_of_unknown_or_already_revoked_keys_change_nothing(store: Arc<dyn Store>) {
    // GIVEN a key that was deleted, and one already reported
    let (deleted, deleted_id) = create(store.as_ref(), "acct_leak2", "Old").await;
    assert!(
        store
            .delete_key(&account("acct_leak2"), &deleted_id, clock::now(), origin())
            .await
            .unwrap()
    );
    let (reported, _) = create(store.as_ref(), "acct_leak2", "Reported").await;
    let first = report(store.as_ref(), &reported, clock::now()).await;
    assert!(matches!(first, LeakRevocation::Revoked { .. }));
    let audit_before = store
        .audit_events(&account("acct_leak2"), clock::now())
        .await
        .unwrap()
        .len();
    // WHEN they are reported (again), and a key that was never issued is too
    for (plaintext, want) in [
        (&deleted, LeakRevocation::AlreadyRevoked),
        (&reported, LeakRevocation::AlreadyRevoked),
        (&PlaintextKey::generate(KeyMode::Live), LeakRevocation::Unknown),
    ] {
        assert_eq!(report(store.as_ref(), plaintext, clock::now()).await, want);
    }
    // THEN nothing was written
    let audit_after = store
        .audit_events(&account("acct_leak2"), clock::now())
        .await
        .unwrap()
        .len();
    assert_eq!(audit_after, audit_before);
}

pub async fn one_report_of_many_keys_answers_each_in_order_and_revokes_a_repeated_key_once(
    store: Arc<dyn Store>,
) {
    // GIVEN live keys in two accounts, one deleted key, and a key never issued
    let (a, a_id) = create(store.as_ref(), "acct_leak3", "A").await;
    let (b, b_id) = create(store.as_ref(), "acct_leak4", "B").await;
    let (deleted, deleted_id) = create(store.as_ref(), "acct_leak3", "Old").await;
    assert!(
        store
            .delete_key(&account("acct_leak3"), &deleted_id, clock::now(), origin())
            .await
            .unwrap()
    );
    let never = PlaintextKey::generate(KeyMode::Live);
    // WHEN one report names them all, `a` twice
    let reports: Vec<ReportedLeak> = [&a, &never, &deleted, &b, &a]
        .iter()
        .map(|k| ReportedLeak {
            hash: k.hash(),
            leak: leak(),
        })
        .collect();
    let outcomes = store
        .revoke_leaked(&reports, clock::now(), origin())
        .await
        .unwrap();
    // THEN each report has its outcome, in the report's order; `a` is revoked by its first
    let revoked = |acct: &str, key: &KeyId| LeakRevocation::Revoked {
        account: account(acct),
        key: key.clone(),
    };
    assert_eq!(
        outcomes,
        [
            revoked("acct_leak3", &a_id),
            LeakRevocation::Unknown,
            LeakRevocation::AlreadyRevoked,
            revoked("acct_leak4", &b_id),
            LeakRevocation::AlreadyRevoked,
        ]
    );
    // AND each live key has exactly one key.leaked event, and no longer resolves
    for (acct, plaintext, key) in [("acct_leak3", &a, &a_id), ("acct_leak4", &b, &b_id)] {
        let leaked = store
            .audit_events(&account(acct), clock::now())
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event == AuditAction::KeyLeaked)
            .map(|e| e.key_id)
            .collect::<Vec<_>>();
        assert_eq!(leaked, [key.to_string()], "{acct}");
        assert_eq!(store.resolve_key(&plaintext.hash()).await.unwrap(), None);
    }
    // AND an empty report asks nothing
    assert!(
        store
            .revoke_leaked(&[], clock::now(), origin())
            .await
            .unwrap()
            .is_empty()
    );
}
