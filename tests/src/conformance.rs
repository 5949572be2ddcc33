//! The behaviour every [`Store`] must have, written once and run against each implementation
//! (`tests/store_embedded.rs`, `tests/store_dynamodb.rs`). A behaviour only one store has is a
//! bug in the other.
//!
//! Every store under test is built with [`FREE_CREDITS`] free credits per new account.

use crate::{OpenSession, SessionOutcome, account, credits, seed_key};
use common::api_key::{KeyHash, PlaintextKey};
use common::clock;
use common::ids::{KeyId, SessionId};
use common::store::{
    AuditAction, CreditEventKind, DebitOutcome, IdempotencyConflict, IdempotentSession, KeyCreation, KeyRoll,
    Leak, LeakRevocation, LedgerKind, MAX_LIVE_KEYS, NewKey, Origin, ResolvedKey, SessionDebit, SessionGrant,
    Store,
};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

pub const FREE_CREDITS: u64 = 3;

/// A store plus whatever must live as long as it (a temp dir, a table).
pub struct StoreUnderTest {
    pub store: Arc<dyn Store>,
    pub guard: Box<dyn std::any::Any + Send + Sync>,
}

/// Generates one `#[tokio::test]` per conformance case for the store `$factory` builds.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:path) => {
        $crate::conformance_tests!(@cases $factory;
            created_keys_are_listed_newest_first,
            keys_are_listed_only_to_their_account,
            a_new_account_gets_its_free_credits_exactly_once,
            a_session_debits_one_credit_and_records_it,
            unknown_keys_are_invalid,
            an_empty_account_is_refused_and_nothing_changes,
            deletion_is_soft_final_and_owner_only,
            a_deleted_key_fails_on_the_very_next_request,
            grants_add_credits_and_create_accounts,
            the_ledger_explains_the_balance,
            audit_events_carry_origin_and_expire_after_90_days,
            the_audit_trail_pages_newest_first_without_gaps_or_repeats,
            a_key_past_its_expiry_is_refused_by_the_debit_itself,
            a_rolled_key_works_through_its_grace_and_its_successor_from_the_start,
            money_records_outlive_the_audit_window,
            a_key_deleted_between_lookup_and_debit_is_refused,
            an_account_holds_at_most_its_cap_of_live_keys,
            racing_first_keys_grant_the_free_credits_once,
            racing_debits_spend_each_credit_exactly_once,
            an_idempotent_retry_pays_once_and_gets_the_first_answer,
            an_idempotency_key_is_bound_to_its_api_key_and_request,
            idempotency_keys_are_scoped_to_their_account,
            idempotency_records_answer_for_24_hours_only,
            a_hundred_concurrent_retries_of_one_idempotency_key_debit_once,
            a_daily_limit_holds_exactly_under_a_200_way_race,
            a_daily_limit_counts_afresh_each_utc_day_and_only_its_own_key,
            a_daily_limit_refuses_new_sessions_but_still_replays_and_no_credits_comes_first,
            low_and_exhausted_credit_events_fire_once_per_crossing_and_a_grant_rearms_them,
            a_200_way_race_raises_exactly_one_low_and_one_exhausted_event,
            a_leaked_key_is_refused_at_once_listed_as_leaked_and_audited_until_deleted,
            leak_reports_of_unknown_or_already_revoked_keys_change_nothing
        );
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let under_test = $factory().await;
                $crate::conformance::$case(under_test.store.clone()).await;
            }
        )*
    };
}

fn new_key(account_id: &str, name: &str, at: OffsetDateTime) -> (PlaintextKey, NewKey) {
    let plaintext = PlaintextKey::generate();
    let key = NewKey {
        id: KeyId::generate(),
        account: account(account_id),
        name: common::key_name::KeyName::parse(name).expect("valid name"),
        prefix: plaintext.display_prefix(),
        hash: plaintext.hash(),
        created_at: at,
        expires_at: None,
        sessions_per_day: None,
    };
    (plaintext, key)
}

fn origin() -> Origin {
    Origin {
        ip: Some("198.51.100.4".into()),
        user_agent: Some("conformance/1.0".into()),
    }
}

fn debit_at(at: OffsetDateTime) -> SessionDebit {
    SessionDebit {
        session: SessionId::generate(),
        at,
        origin: origin(),
    }
}

fn debit() -> SessionDebit {
    debit_at(clock::now())
}

async fn create(store: &dyn Store, account_id: &str, name: &str) -> (PlaintextKey, KeyId) {
    let (plaintext, key) = new_key(account_id, name, clock::now());
    let id = key.id.clone();
    store.create_key(key, origin()).await.expect("create key");
    (plaintext, id)
}

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
    let session = d.session.clone();
    let outcome = store.open_session(&plaintext.hash(), d).await.unwrap();
    assert_eq!(
        outcome,
        SessionOutcome::Opened {
            account: account("acct_a"),
            key: id.clone(),
            balance: FREE_CREDITS - 1
        }
    );
    let keys = store.list_keys(&account("acct_a")).await.unwrap();
    assert!(keys[0].last_used_at.is_some(), "lastUsedAt is set");
    let ledger = store.ledger(&account("acct_a")).await.unwrap();
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

pub async fn unknown_keys_are_invalid(store: Arc<dyn Store>) {
    create(store.as_ref(), "acct_a", "k").await;
    let unknown = PlaintextKey::generate();
    assert_eq!(
        store.open_session(&unknown.hash(), debit()).await.unwrap(),
        SessionOutcome::InvalidKey
    );
    assert_eq!(credits(store.as_ref(), "acct_a").await, FREE_CREDITS);
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

/// The ledger invariant (`vpctl credits verify`): balance = grants − debits, explained entry by entry.
pub async fn assert_ledger_ok(store: &dyn Store, account_id: &str) {
    let check = common::store::verify_ledger(store, &account(account_id))
        .await
        .unwrap()
        .expect("account exists");
    assert!(check.ok, "ledger check failed: {check:?}");
}

fn grant(tag: &str) -> SessionGrant {
    SessionGrant {
        session_id: format!("ses_{tag}"),
        sealed_token: format!("sealed-{tag}"),
        expires_in: 86400,
    }
}

fn idem(key: &str, request: &str, tag: &str) -> Option<IdempotentSession> {
    Some(IdempotentSession {
        key_hash: format!("hash-of-{key}"),
        request_hash: format!("body-{request}"),
        grant: grant(tag),
    })
}

async fn resolved(store: &dyn Store, plaintext: &PlaintextKey) -> ResolvedKey {
    store
        .resolve_key(&plaintext.hash())
        .await
        .unwrap()
        .expect("live key")
}

async fn debits(store: &dyn Store, account_id: &str) -> usize {
    store
        .ledger(&account(account_id))
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == LedgerKind::Debit)
        .count()
}

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
    let revoked = store
        .revoke_leaked(&plaintext.hash(), leak(), at, origin())
        .await
        .unwrap();
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
    let first = store
        .revoke_leaked(&reported.hash(), leak(), clock::now(), origin())
        .await
        .unwrap();
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
        (&PlaintextKey::generate(), LeakRevocation::Unknown),
    ] {
        assert_eq!(
            store
                .revoke_leaked(&plaintext.hash(), leak(), clock::now(), origin())
                .await
                .unwrap(),
            want
        );
    }
    // THEN nothing was written
    let audit_after = store
        .audit_events(&account("acct_leak2"), clock::now())
        .await
        .unwrap()
        .len();
    assert_eq!(audit_after, audit_before);
}
