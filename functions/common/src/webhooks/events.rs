//! What each change becomes as a webhook event: one builder per event type, used by both
//! stores (the embedded store inside the transaction that makes the change, DynamoDB in the
//! ledger function's pass over the table's stream), so an event reads the same whichever
//! store raised it. An event's id is derived from the id of what raised it (a ledger change, a
//! low-credit event, an audit event), so a redelivered stream record raises the same event
//! again under the same id and receivers can drop the duplicate.

use super::delivery::Event;
use crate::store::webhooks::WebhookEvent;
use crate::store::{AuditAction, CreditEventKind};
use serde_json::json;
use time::OffsetDateTime;

/// The `webhook-id` of the event raised by the record `source` (a ULID).
pub fn event_id(source: &str) -> String {
    format!("msg_{source}")
}

fn event(source: &str, kind: WebhookEvent, at: OffsetDateTime, data: serde_json::Value) -> Event {
    Event {
        id: event_id(source),
        kind: kind.as_str().to_string(),
        timestamp: at,
        data,
    }
}

/// A debit took the balance to the account's threshold (`credits.low`) or to 0.
pub fn credits_crossed(
    source: &str,
    kind: CreditEventKind,
    account: &str,
    credits: u64,
    threshold: u64,
    key: Option<&str>,
    at: OffsetDateTime,
) -> Event {
    let kind = match kind {
        CreditEventKind::Low => WebhookEvent::CreditsLow,
        CreditEventKind::Exhausted => WebhookEvent::CreditsExhausted,
    };
    let data = json!({"accountId": account, "credits": credits, "threshold": threshold, "keyId": key});
    event(source, kind, at, data)
}

/// Credits were granted (the free grant of a new account included).
pub fn credits_granted(
    source: &str,
    account: &str,
    amount: u64,
    credits: u64,
    reason: Option<&str>,
    at: OffsetDateTime,
) -> Event {
    let data = json!({"accountId": account, "amount": amount, "credits": credits, "reason": reason});
    event(source, WebhookEvent::CreditsGranted, at, data)
}

/// What a key's audit event says beside the key, as its webhook event carries it.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyDetail<'a> {
    /// `key.rolled`: the key the new one replaces.
    pub previous_key: Option<&'a str>,
    /// `key.leaked`: where the reporter found the key, and what kind of place that is.
    pub url: Option<&'a str>,
    pub source: Option<&'a str>,
}

/// The event a key's audit event raises, if any (`key.used` raises none: sessions are not
/// events a customer subscribes to, and they are far too many).
pub fn key_event(
    source: &str,
    action: AuditAction,
    account: &str,
    key: &str,
    detail: KeyDetail<'_>,
    at: OffsetDateTime,
) -> Option<Event> {
    let (kind, data) = match action {
        AuditAction::KeyUsed => return None,
        AuditAction::KeyCreated => (
            WebhookEvent::KeyCreated,
            json!({"accountId": account, "keyId": key}),
        ),
        AuditAction::KeyDeleted => (
            WebhookEvent::KeyDeleted,
            json!({"accountId": account, "keyId": key}),
        ),
        AuditAction::KeyRolled => (
            WebhookEvent::KeyRolled,
            json!({"accountId": account, "keyId": key, "previousKeyId": detail.previous_key}),
        ),
        AuditAction::KeyLeaked => (
            WebhookEvent::KeyLeaked,
            json!({"accountId": account, "keyId": key, "url": detail.url, "source": detail.source}),
        ),
    };
    Some(event(source, kind, at, data))
}

/// The event type a webhook event's `type` names (`None` for `webhook.test`, which no
/// endpoint subscribes to).
pub fn subscription(event: &Event) -> Option<WebhookEvent> {
    WebhookEvent::parse(&event.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_765_000_000).unwrap()
    }

    #[test]
    fn an_event_keeps_the_id_of_what_raised_it() {
        let a = credits_crossed("01J0", CreditEventKind::Low, "acct", 5, 5, Some("key"), at());
        let b = credits_crossed("01J0", CreditEventKind::Low, "acct", 5, 5, Some("key"), at());
        assert_eq!(a.id, "msg_01J0");
        assert_eq!(a, b, "a redelivered change raises the same event");
    }

    #[test]
    fn each_crossing_names_its_type_and_balance() {
        let low = credits_crossed("1", CreditEventKind::Low, "acct", 5, 5, None, at());
        assert_eq!(low.kind, "credits.low");
        assert_eq!(
            low.data,
            json!({"accountId": "acct", "credits": 5, "threshold": 5, "keyId": null})
        );
        let out = credits_crossed("2", CreditEventKind::Exhausted, "acct", 0, 5, Some("k"), at());
        assert_eq!(out.kind, "credits.exhausted");
        assert_eq!(subscription(&out), Some(WebhookEvent::CreditsExhausted));
    }

    #[test]
    fn key_events_carry_what_their_audit_event_says() {
        let detail = KeyDetail {
            previous_key: Some("old"),
            ..KeyDetail::default()
        };
        let rolled = key_event("3", AuditAction::KeyRolled, "acct", "new", detail, at()).unwrap();
        assert_eq!(rolled.kind, "key.rolled");
        assert_eq!(rolled.data["previousKeyId"], "old");
        let leak = KeyDetail {
            url: Some("https://github.com/o/r/blob/x"),
            source: Some("content"),
            ..KeyDetail::default()
        };
        let leaked = key_event("4", AuditAction::KeyLeaked, "acct", "k", leak, at()).unwrap();
        assert_eq!(leaked.data["url"], "https://github.com/o/r/blob/x");
        assert!(key_event("5", AuditAction::KeyUsed, "acct", "k", KeyDetail::default(), at()).is_none());
    }

    #[test]
    fn grants_say_how_much_and_the_balance_after() {
        let granted = credits_granted("6", "acct", 100, 105, Some("top-up"), at());
        assert_eq!(granted.kind, "credits.granted");
        assert_eq!(
            granted.data,
            json!({"accountId": "acct", "amount": 100, "credits": 105, "reason": "top-up"})
        );
    }
}
