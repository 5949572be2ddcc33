//! Time as the API shows it: RFC 3339 UTC with whole seconds, plus epoch seconds for expiry.

use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};

/// Audit events and ledger entries are kept this long (the product docs promise 90 days).
pub const RETENTION: Duration = Duration::days(90);

/// Current time truncated to whole seconds, so what we store is exactly what we show.
pub fn now() -> OffsetDateTime {
    truncate(OffsetDateTime::now_utc())
}

pub fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).expect("0 ns is always valid")
}

/// `2026-11-27T02:00:00Z`
pub fn rfc3339(t: OffsetDateTime) -> String {
    truncate(t.to_offset(time::UtcOffset::UTC))
        .format(&Rfc3339)
        .expect("a UTC time in the supported range always formats as RFC 3339")
}

/// Epoch seconds (how the stores keep expiries) as a time; `None` if out of range.
pub fn from_epoch(seconds: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(seconds).ok()
}

pub fn parse_rfc3339(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &Rfc3339)
}

/// Epoch seconds at which a record written at `at` expires (the DynamoDB `ttl` convention).
pub fn expiry(at: OffsetDateTime) -> i64 {
    (at + RETENTION).unix_timestamp()
}

/// The UTC day `at` falls on, as days since 1970-01-01: what per-key daily limits count in.
pub fn utc_day(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(SECONDS_PER_DAY)
}

/// Whole seconds from `at` to the next UTC midnight (1 to 86 400): a daily limit's `Retry-After`.
pub fn seconds_to_next_utc_day(at: OffsetDateTime) -> u64 {
    (SECONDS_PER_DAY - at.unix_timestamp().rem_euclid(SECONDS_PER_DAY)) as u64
}

const SECONDS_PER_DAY: i64 = 86_400;

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_utc_with_whole_seconds() {
        assert_eq!(
            rfc3339(datetime!(2026-11-27 02:00:00.789 UTC)),
            "2026-11-27T02:00:00Z"
        );
    }

    #[test]
    fn a_day_ends_at_utc_midnight() {
        let late = datetime!(2026-11-27 23:59:59 UTC);
        assert_eq!(seconds_to_next_utc_day(late), 1);
        assert_eq!(
            seconds_to_next_utc_day(datetime!(2026-11-28 00:00:00 UTC)),
            86_400
        );
        assert_eq!(utc_day(late) + 1, utc_day(datetime!(2026-11-28 00:00:00 UTC)));
        // Midnight in UTC, whatever offset the time is written in.
        assert_eq!(
            seconds_to_next_utc_day(datetime!(2026-11-27 22:00:00 -02:00)),
            86_400
        );
    }

    #[test]
    fn expiry_is_ninety_days_later() {
        let at = datetime!(2026-01-01 00:00:00 UTC);
        assert_eq!(expiry(at), datetime!(2026-04-01 00:00:00 UTC).unix_timestamp());
    }
}
