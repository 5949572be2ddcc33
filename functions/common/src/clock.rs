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

pub fn parse_rfc3339(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &Rfc3339)
}

/// Epoch seconds at which a record written at `at` expires (the DynamoDB `ttl` convention).
pub fn expiry(at: OffsetDateTime) -> i64 {
    (at + RETENTION).unix_timestamp()
}

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
    fn expiry_is_ninety_days_later() {
        let at = datetime!(2026-01-01 00:00:00 UTC);
        assert_eq!(expiry(at), datetime!(2026-04-01 00:00:00 UTC).unix_timestamp());
    }
}
