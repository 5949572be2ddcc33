//! Usage per key: sessions per key and bucket, credits granted per bucket, exact once counted.

use super::*;
use common::store::usage::{Granularity, UsageQuery};

pub const CASES: &[Case] = &[
    Case {
        name: "usage_counts_each_keys_sessions_exactly_after_a_race",
        run: |store| Box::pin(usage_counts_each_keys_sessions_exactly_after_a_race(store)),
    },
    Case {
        name: "usage_outside_the_range_is_not_counted",
        run: |store| Box::pin(usage_outside_the_range_is_not_counted(store)),
    },
];

fn today(granularity: Granularity) -> UsageQuery {
    let now = clock::now();
    UsageQuery::covering(now - Duration::hours(1), now + Duration::hours(1), granularity).unwrap()
}

pub async fn usage_counts_each_keys_sessions_exactly_after_a_race(store: Arc<dyn Store>) {
    // GIVEN an account with two keys and 57 more credits granted
    let (busy, busy_id) = create(store.as_ref(), "acct_usage", "Busy").await;
    let (quiet, quiet_id) = create(store.as_ref(), "acct_usage", "Quiet").await;
    store
        .grant_credits(&account("acct_usage"), 57, "usage", clock::now())
        .await
        .unwrap();
    // WHEN 40 sessions of one key and 20 of the other race for the 60 credits
    let barrier = Arc::new(tokio::sync::Barrier::new(60));
    let racers: Vec<_> = (0..60)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            let hash = if i < 40 { busy.hash() } else { quiet.hash() };
            tokio::spawn(async move {
                barrier.wait().await;
                store.open_session(&hash, debit()).await.unwrap()
            })
        })
        .collect();
    for racer in racers {
        assert!(matches!(racer.await.unwrap(), SessionOutcome::Opened { .. }));
    }
    // AND the quiet key is deleted afterwards (its sessions still count)
    assert!(
        store
            .delete_key(&account("acct_usage"), &quiet_id, clock::now(), origin())
            .await
            .unwrap()
    );
    // THEN by the hour and by the day, each key's sessions are counted exactly, and the grants
    for granularity in [Granularity::Hour, Granularity::Day] {
        let usage = store
            .usage(&account("acct_usage"), &today(granularity), clock::now())
            .await
            .unwrap();
        let sessions = |id: &KeyId| {
            usage
                .sessions
                .get(id.as_str())
                .map_or(0, |c| c.values().sum::<u64>())
        };
        assert_eq!(
            (sessions(&busy_id), sessions(&quiet_id)),
            (40, 20),
            "{granularity:?}: {usage:?}"
        );
        assert_eq!(usage.granted, FREE_CREDITS + 57, "{granularity:?}");
    }
    // AND the counts agree with the ledger, entry by entry
    let ledger = store.ledger(&account("acct_usage")).await.unwrap();
    let debits = |id: &KeyId| {
        ledger
            .iter()
            .filter(|e| e.kind == LedgerKind::Debit && e.key_id.as_deref() == Some(id.as_str()))
            .count()
    };
    assert_eq!((debits(&busy_id), debits(&quiet_id)), (40, 20));
    assert_ledger_ok(store.as_ref(), "acct_usage").await;
}

pub async fn usage_outside_the_range_is_not_counted(store: Arc<dyn Store>) {
    // GIVEN an account with sessions today
    let (plaintext, _) = create(store.as_ref(), "acct_usage_range", "Key").await;
    for _ in 0..2 {
        store.open_session(&plaintext.hash(), debit()).await.unwrap();
    }
    // WHEN yesterday and tomorrow are asked for THEN nothing is counted in them
    let now = clock::now();
    for (from, to) in [
        (now - Duration::days(2), now - Duration::days(1)),
        (now + Duration::days(1), now + Duration::days(2)),
    ] {
        let query = UsageQuery::covering(from, to, Granularity::Hour).unwrap();
        let usage = store
            .usage(&account("acct_usage_range"), &query, now)
            .await
            .unwrap();
        assert!(usage.sessions.is_empty() && usage.granted == 0, "{usage:?}");
    }
    // AND today holds both sessions, in the hour they were opened
    let usage = store
        .usage(
            &account("acct_usage_range"),
            &today(Granularity::Hour),
            clock::now(),
        )
        .await
        .unwrap();
    let counts: Vec<u64> = usage
        .sessions
        .values()
        .flat_map(|c| c.values().copied())
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), 2, "{usage:?}");
    assert!(usage.granted >= FREE_CREDITS);
}
