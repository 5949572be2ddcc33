//! The audit trail: origin, expiry, paging.

use super::*;

pub const CASES: &[Case] = &[
    Case {
        name: "audit_events_carry_origin_and_expire_after_90_days",
        run: |store| Box::pin(audit_events_carry_origin_and_expire_after_90_days(store)),
    },
    Case {
        name: "the_audit_trail_pages_newest_first_without_gaps_or_repeats",
        run: |store| Box::pin(the_audit_trail_pages_newest_first_without_gaps_or_repeats(store)),
    },
];

pub async fn audit_events_carry_origin_and_expire_after_90_days(store: Arc<dyn Store>) {
    let now = clock::now();
    // A key created 91 days ago: its creation event has expired. One created 89 days ago: kept.
    let (_, old) = new_key("acct_a", "old", now - Duration::days(91));
    let (_, recent) = new_key("acct_a", "recent", now - Duration::days(89));
    let recent_id = recent.id.clone();
    store.create_key(old, origin()).await.unwrap();
    store.create_key(recent, origin()).await.unwrap();
    let events = store.audit_events(&account("acct_a"), now).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(
        (e.event, e.key_id.as_str(), e.account_id.as_str()),
        (AuditAction::KeyCreated, recent_id.as_str(), "acct_a")
    );
    assert_eq!(e.ip_address.as_deref(), Some("198.51.100.4"));
    assert_eq!(e.user_agent.as_deref(), Some("conformance/1.0"));
    assert_eq!(e.expires_at, (e.at + Duration::days(90)).unix_timestamp());
    // Other accounts' events are never included.
    create(store.as_ref(), "acct_b", "theirs").await;
    assert_eq!(
        store.audit_events(&account("acct_a"), now).await.unwrap().len(),
        1
    );
}

pub async fn the_audit_trail_pages_newest_first_without_gaps_or_repeats(store: Arc<dyn Store>) {
    // GIVEN an account with a created key, three sessions and a second key deleted (6 events),
    // and another account's event beside them
    let (plaintext, _) = create(store.as_ref(), "acct_a", "used").await;
    for _ in 0..3 {
        let outcome = store.open_session(&plaintext.hash(), debit()).await.unwrap();
        assert!(matches!(outcome, SessionOutcome::Opened { .. }), "{outcome:?}");
    }
    let (_, doomed) = create(store.as_ref(), "acct_a", "doomed").await;
    assert!(
        store
            .delete_key(&account("acct_a"), &doomed, clock::now(), origin())
            .await
            .unwrap()
    );
    create(store.as_ref(), "acct_b", "theirs").await;
    let now = clock::now();
    let mut all = store.audit_events(&account("acct_a"), now).await.unwrap();
    assert_eq!(all.len(), 6, "{all:?}");
    all.reverse();

    // WHEN the console reads it two at a time, each page after the last event of the previous
    let mut paged = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = store
            .audit_page(&account("acct_a"), now, before.as_deref(), 2)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        before = Some(last.id.clone());
        paged.extend(page);
    }

    // THEN it sees every event once, newest first — exactly the trail, reversed
    assert_eq!(paged, all);
    assert_eq!(paged[0].event, AuditAction::KeyDeleted);
    assert_eq!(paged[5].event, AuditAction::KeyCreated);
    // AND a page never reaches past the audit window, nor into another account
    let later = store
        .audit_page(&account("acct_a"), now + Duration::days(91), None, 10)
        .await
        .unwrap();
    assert!(later.is_empty(), "{later:?}");
    let theirs = store.audit_page(&account("acct_b"), now, None, 10).await.unwrap();
    assert_eq!(theirs.len(), 1);
}
