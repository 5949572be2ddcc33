//! The key-reminders function's work: run on a schedule (every 15 minutes in AWS; locally by
//! `vpctl webhooks relay`), it sends the `key.expiring` reminders that are due
//! (`crate::webhooks::reminders`) onto the webhook queue. A pass that fails leaves its reminders
//! for the next one.

use crate::store::Reminders;
use serde_json::{Value, json};
use std::sync::Arc;

pub struct State {
    pub reminders: Arc<dyn Reminders>,
}

impl crate::runtime::State for State {
    fn build(startup: crate::startup::Startup) -> Result<Self, crate::startup::StartupError> {
        Ok(State {
            reminders: startup.reminders()?,
        })
    }
}

/// The scheduled event's content does not matter: the time is the clock's.
pub async fn handle(state: &State, _: Value) -> Value {
    match state.reminders.send_due_reminders(crate::clock::now()).await {
        Ok(sent) => {
            tracing::info!(sent = sent.len(), "key reminders sent");
            json!({"sent": sent.len()})
        }
        Err(e) => {
            tracing::warn!(error = %crate::error::error_chain(&e), "key reminders not sent; the next pass tries again");
            json!({"error": "the store failed; the next pass tries again"})
        }
    }
}
