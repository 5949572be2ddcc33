//! When a failed delivery is tried again: exponentially later, for at least 24 hours, then
//! never. The waits are multiples of one unit (`VP_WEBHOOK_RETRY_UNIT_MS`, 30 s by default),
//! so tests can run the whole schedule in seconds with its shape unchanged.

use std::time::Duration;

/// The wait after each failed attempt, in units: 30 s, 2 min, 10 min, 30 min, 2 h, 5 h, 10 h
/// and 12 h at the default unit (38 h in all). 12 h is also the longest an SQS message can be
/// kept out of sight, which is how the wait is taken in AWS.
const WAITS: [u32; 8] = [1, 4, 20, 60, 240, 600, 1200, 1440];

/// Attempts per event and endpoint: the first, and one after each wait.
pub const MAX_ATTEMPTS: u32 = WAITS.len() as u32 + 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub unit: Duration,
}

impl Schedule {
    /// How long to wait after attempt `attempt` (1 for the first) failed; `None` once it was
    /// the last: the event is given up on.
    pub fn wait_after(&self, attempt: u32) -> Option<Duration> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        WAITS.get(index).map(|units| self.unit * *units)
    }

    /// From the first attempt to the last, if every wait is taken in full.
    pub fn span(&self) -> Duration {
        self.unit * WAITS.iter().sum::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWS: Schedule = Schedule {
        unit: Duration::from_secs(30),
    };

    #[test]
    fn retries_back_off_exponentially_for_over_a_day_then_stop() {
        assert_eq!(AWS.wait_after(1), Some(Duration::from_secs(30)));
        let waits: Vec<Duration> = (1..MAX_ATTEMPTS).map(|n| AWS.wait_after(n).unwrap()).collect();
        assert!(
            waits.windows(2).all(|w| w[1] > w[0]),
            "each wait is longer: {waits:?}"
        );
        assert!(AWS.span() >= Duration::from_secs(24 * 3600), "{:?}", AWS.span());
        assert_eq!(AWS.wait_after(MAX_ATTEMPTS), None, "the last attempt is the last");
        assert_eq!(AWS.wait_after(0), None);
    }

    #[test]
    fn no_wait_is_longer_than_sqs_can_hide_a_message() {
        let longest = (1..MAX_ATTEMPTS).filter_map(|n| AWS.wait_after(n)).max().unwrap();
        assert!(longest <= Duration::from_secs(12 * 3600));
    }
}
