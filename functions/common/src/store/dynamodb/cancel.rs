//! Why a transaction was cancelled, as a type, and the one retry loop every write uses.
//!
//! DynamoDB answers a cancelled `TransactWriteItems` with one reason per item, in request order.
//! Reading them by position with string compares is how a throttled delete once became "404 API
//! key not found": here each reason is parsed once, every lookup is total (a missing reason is
//! `Unknown`, never a panic), and callers ask questions ("did item 0's own condition fail?")
//! instead of indexing.

use super::super::StoreError;
use aws_sdk_dynamodb::types::CancellationReason;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelReason {
    /// This item was fine; another one cancelled the transaction.
    None,
    /// This item's own condition expression was false.
    ConditionalCheckFailed,
    /// Another transaction or write on the same item was in flight.
    TransactionConflict,
    /// Throttled or briefly failing: retrying later is right.
    Throttled(String),
    /// Anything else (validation, item too large, ...), with DynamoDB's code.
    Other(String),
    /// DynamoDB sent fewer reasons than items.
    Unknown,
}

impl CancelReason {
    pub fn parse(code: Option<&str>) -> Self {
        match code {
            None | Some("None") => CancelReason::None,
            Some("ConditionalCheckFailed") => CancelReason::ConditionalCheckFailed,
            Some("TransactionConflict") => CancelReason::TransactionConflict,
            Some(
                c @ ("ThrottlingError"
                | "ProvisionedThroughputExceeded"
                | "RequestLimitExceeded"
                | "InternalServerError"),
            ) => CancelReason::Throttled(c.to_string()),
            Some(other) => CancelReason::Other(other.to_string()),
        }
    }
}

/// The reasons of one cancelled transaction, item by item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation(Vec<CancelReason>);

impl Cancellation {
    pub fn from_sdk(reasons: &[CancellationReason]) -> Self {
        Cancellation(reasons.iter().map(|r| CancelReason::parse(r.code())).collect())
    }

    pub fn from_reasons(reasons: Vec<CancelReason>) -> Self {
        Cancellation(reasons)
    }

    /// The reason for item `index` (request order); `Unknown` when DynamoDB gave none.
    pub fn item(&self, index: usize) -> &CancelReason {
        self.0.get(index).unwrap_or(&CancelReason::Unknown)
    }

    /// Whether item `index` failed its own condition.
    pub fn condition_failed(&self, index: usize) -> bool {
        *self.item(index) == CancelReason::ConditionalCheckFailed
    }

    /// Whether trying again soon may succeed (a conflict or throttling, and no failed condition).
    pub fn is_transient(&self) -> bool {
        let transient =
            |r: &CancelReason| matches!(r, CancelReason::TransactionConflict | CancelReason::Throttled(_));
        self.0.iter().any(transient) && !self.0.contains(&CancelReason::ConditionalCheckFailed)
    }

    /// The store error for a cancellation the caller has no better answer for: nothing was
    /// written, so it is always safe to retry (503), whatever the reason.
    pub fn into_error(self, what: &str) -> StoreError {
        StoreError::unavailable(format!("{what} cancelled: {:?}", self.0))
    }
}

/// Attempts of our own for contention (transaction conflicts, a racing account creation). The
/// SDK retries throttling and transient network errors underneath each call.
pub const MAX_ATTEMPTS: u32 = 5;

/// The one retry loop for contention, used by every write that can meet it:
///
/// ```text
/// let mut retry = Retry::new("key deletion");
/// loop {
///     retry.next().await?; // pauses before every attempt but the first; 503 after the last
///     match attempt().await { Conflict => continue, done => return done }
/// }
/// ```
pub struct Retry {
    what: &'static str,
    attempts: u32,
}

impl Retry {
    pub fn new(what: &'static str) -> Self {
        Retry { what, attempts: 0 }
    }

    /// Call before each attempt. Waits (jittered, growing) before every attempt but the first;
    /// after [`MAX_ATTEMPTS`] it answers that `what` kept conflicting: a 503 with nothing changed.
    pub async fn next(&mut self) -> Result<(), StoreError> {
        if self.attempts >= MAX_ATTEMPTS {
            return Err(StoreError::unavailable(format!(
                "{} kept conflicting after {MAX_ATTEMPTS} attempts",
                self.what
            )));
        }
        if self.attempts > 0 {
            backoff(self.attempts).await;
        }
        self.attempts += 1;
        Ok(())
    }
}

/// Exponential backoff with full jitter: 10, 20, 40, 80 ms ceilings.
async fn backoff(attempt: u32) {
    let ceiling = 10u64 << attempt.min(4);
    let jitter = u64::from(crate::ids::new_ulid().random() as u16) % ceiling;
    tokio::time::sleep(Duration::from_millis(1 + jitter)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_read_by_item_and_missing_ones_never_panic() {
        let c = Cancellation::from_reasons(vec![CancelReason::None, CancelReason::ConditionalCheckFailed]);
        assert!(!c.condition_failed(0));
        assert!(c.condition_failed(1));
        assert_eq!(c.item(7), &CancelReason::Unknown);
        assert!(!Cancellation::from_reasons(vec![]).condition_failed(0));
    }

    #[test]
    fn codes_parse_into_kinds() {
        assert_eq!(CancelReason::parse(Some("None")), CancelReason::None);
        assert_eq!(CancelReason::parse(None), CancelReason::None);
        assert_eq!(
            CancelReason::parse(Some("ThrottlingError")),
            CancelReason::Throttled("ThrottlingError".into())
        );
        assert_eq!(
            CancelReason::parse(Some("ValidationError")),
            CancelReason::Other("ValidationError".into())
        );
    }

    #[test]
    fn only_conflicts_and_throttling_are_transient() {
        let t = |r: Vec<CancelReason>| Cancellation::from_reasons(r).is_transient();
        assert!(t(vec![CancelReason::None, CancelReason::TransactionConflict]));
        assert!(t(vec![CancelReason::Throttled("ThrottlingError".into())]));
        assert!(!t(vec![
            CancelReason::ConditionalCheckFailed,
            CancelReason::TransactionConflict
        ]));
        assert!(!t(vec![CancelReason::Other("ValidationError".into())]));
    }

    #[tokio::test]
    async fn retries_stop_at_the_limit_with_a_503() {
        let mut retry = Retry::new("test");
        for _ in 0..MAX_ATTEMPTS {
            retry.next().await.unwrap();
        }
        let err = retry.next().await.unwrap_err();
        assert!(
            err.is_transient() && err.to_string().contains("test kept conflicting"),
            "{err}"
        );
    }
}
