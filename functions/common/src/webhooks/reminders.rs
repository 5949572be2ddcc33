//! `key.expiring`: an account hears 7 days and 1 day before one of its keys expires. Each
//! reminder is kept when the key is made (or rolled, for the successor's inherited expiry) —
//! only those still ahead then: a key made to expire in 3 days gets the 1-day reminder alone —
//! and sent by a scheduled pass once due, if the key is still live with that same expiry (a
//! key deleted, leaked, or rolled onto a shorter expiry gets none). The reminder's event id is
//! the key's and the lead's, so a pass that runs twice sends one event id.

use super::delivery::Event;
use super::events::event_id;
use crate::store::webhooks::WebhookEvent;
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// How long before an expiry each reminder is due, in days.
pub const LEADS: [u8; 2] = [7, 1];

/// How far back a pass looks for reminders it has not sent (a pass that did not run for up to
/// this long loses nothing); reminders are kept this long after they are due.
pub const LOOKBACK: Duration = Duration::hours(72);

/// The reminders a key expiring at `expires_at` gets when its expiry is set at `now`: each
/// lead's due time, for the leads still ahead.
pub fn due_times(expires_at: OffsetDateTime, now: OffsetDateTime) -> Vec<(u8, OffsetDateTime)> {
    LEADS
        .iter()
        .map(|&days| (days, expires_at - Duration::days(days.into())))
        .filter(|(_, due)| *due > now)
        .collect()
}

/// The event a due reminder sends.
pub fn key_expiring(account: &str, key: &str, expires_at: OffsetDateTime, days: u8) -> Event {
    Event {
        id: event_id(&format!("{key}_expiring_{days}d")),
        kind: WebhookEvent::KeyExpiring.as_str().to_string(),
        timestamp: expires_at - Duration::days(days.into()),
        data: json!({
            "accountId": account,
            "keyId": key,
            "expiresAt": crate::clock::rfc3339(expires_at),
            "daysLeft": days,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> OffsetDateTime {
        crate::clock::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn a_key_gets_the_reminders_still_ahead_when_its_expiry_is_set() {
        let now = t("2026-12-01T00:00:00Z");
        let far = t("2026-12-31T12:00:00Z");
        assert_eq!(
            due_times(far, now),
            [(7, t("2026-12-24T12:00:00Z")), (1, t("2026-12-30T12:00:00Z"))]
        );
        // three days out: the 7-day reminder would already be past
        assert_eq!(
            due_times(t("2026-12-04T00:00:00Z"), now),
            [(1, t("2026-12-03T00:00:00Z"))]
        );
        // an hour out (a rolled key's grace): none
        assert!(due_times(t("2026-12-01T01:00:00Z"), now).is_empty());
    }

    #[test]
    fn a_reminder_names_the_key_its_expiry_and_the_days_left_under_a_stable_id() {
        let expires = t("2026-12-31T12:00:00Z");
        let event = key_expiring("acct_1", "key_1", expires, 7);
        assert_eq!(event.id, "msg_key_1_expiring_7d");
        assert_eq!(event.kind, "key.expiring");
        assert_eq!(event.timestamp, t("2026-12-24T12:00:00Z"));
        assert_eq!(
            event.data,
            json!({"accountId": "acct_1", "keyId": "key_1", "expiresAt": "2026-12-31T12:00:00Z", "daysLeft": 7})
        );
        assert_ne!(event.id, key_expiring("acct_1", "key_1", expires, 1).id);
    }
}
