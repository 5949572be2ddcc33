//! A delivery attempt as the API shows it (the test event's answer, the delivery log).

use crate::clock;
use crate::store::webhooks::DeliveryAttempt;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeliveryView {
    id: String,
    event_id: String,
    event_type: String,
    attempt: u32,
    /// The endpoint's status code; `null` when it did not answer.
    status: Option<u16>,
    latency_ms: u64,
    /// Why the attempt failed; `null` when it was delivered.
    error: Option<String>,
    delivered: bool,
    at: String,
}

impl DeliveryView {
    pub(super) fn of(attempt: DeliveryAttempt) -> Self {
        DeliveryView {
            delivered: attempt.error.is_none(),
            id: attempt.id,
            event_id: attempt.event_id,
            event_type: attempt.event_type,
            attempt: attempt.attempt,
            status: attempt.status,
            latency_ms: attempt.latency_ms,
            error: attempt.error,
            at: clock::rfc3339(attempt.at),
        }
    }
}
