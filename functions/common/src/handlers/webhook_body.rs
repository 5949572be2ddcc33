//! What the webhook endpoints read and show: the subscribed events, the description, and an
//! endpoint as the API lists it (never its secret).

use crate::clock;
use crate::error::ApiError;
use crate::store::webhooks::{WebhookEvent, WebhookRecord};
use serde::Serialize;
use std::collections::BTreeSet;

/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 256;

/// `events`: a non-empty array of event names, each known (repeats count once).
pub(super) fn events(value: &serde_json::Value) -> Result<BTreeSet<WebhookEvent>, ApiError> {
    let bad = || {
        ApiError::BadRequest(
            "events must be a non-empty array of: credits.low, credits.exhausted, credits.granted, \
             key.created, key.deleted, key.rolled, key.leaked, key.expiring"
                .into(),
        )
    };
    let names = value.as_array().filter(|a| !a.is_empty()).ok_or_else(bad)?;
    names
        .iter()
        .map(|n| n.as_str().and_then(WebhookEvent::parse).ok_or_else(bad))
        .collect()
}

/// `description`: absent, `null`, or text of at most 256 characters without control characters.
pub(super) fn description(value: Option<&serde_json::Value>) -> Result<Option<String>, ApiError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text))
            if text.chars().count() <= MAX_DESCRIPTION_CHARS && !text.chars().any(char::is_control) =>
        {
            Ok(Some(text.clone()))
        }
        Some(_) => Err(ApiError::BadRequest(format!(
            "description must be text of at most {MAX_DESCRIPTION_CHARS} characters, without control characters"
        ))),
    }
}

/// An endpoint as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WebhookView {
    id: String,
    url: String,
    events: Vec<&'static str>,
    /// `null` when none was given.
    description: Option<String>,
    created_at: String,
    /// When an event to it was last given up on after every retry; `null` while it delivers.
    failing_since: Option<String>,
}

impl WebhookView {
    pub(super) fn of(record: WebhookRecord) -> Self {
        WebhookView {
            id: record.id.to_string(),
            url: record.url,
            events: record.events.iter().map(|e| e.as_str()).collect(),
            description: record.description,
            created_at: clock::rfc3339(record.created_at),
            failing_since: record.failing_since.map(clock::rfc3339),
        }
    }
}
