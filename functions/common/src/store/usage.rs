//! Usage per key: sessions per key and credits granted, counted per hour or day (UTC).
//!
//! Buckets are whole hours or days: a query's `from` is rounded down and its `to` up to the
//! granularity. The embedded store counts from its ledger at once; the DynamoDB store keeps
//! counters that the ledger function writes from the table's stream, so its counts are exact up
//! to [`Usage::caught_up_to`], seconds behind the sessions.

use crate::api_key::KeyMode;
use std::collections::{BTreeMap, BTreeSet};
use time::{Duration, OffsetDateTime, Time};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hour" => Some(Granularity::Hour),
            "day" => Some(Granularity::Day),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }

    pub fn step(self) -> Duration {
        match self {
            Granularity::Hour => Duration::HOUR,
            Granularity::Day => Duration::DAY,
        }
    }

    /// The most buckets one query may ask for: 7 days of hours, 90 days of days.
    pub fn max_buckets(self) -> i64 {
        match self {
            Granularity::Hour => 7 * 24,
            Granularity::Day => 90,
        }
    }

    /// The start of the bucket `t` falls in (UTC).
    pub fn floor(self, t: OffsetDateTime) -> OffsetDateTime {
        let t = t.to_offset(time::UtcOffset::UTC);
        let time = match self {
            Granularity::Hour => Time::from_hms(t.hour(), 0, 0).unwrap_or(Time::MIDNIGHT),
            Granularity::Day => Time::MIDNIGHT,
        };
        t.replace_time(time)
    }

    /// The first bucket start at or after `t`.
    pub fn ceil(self, t: OffsetDateTime) -> OffsetDateTime {
        let floor = self.floor(t);
        if floor == t { floor } else { floor + self.step() }
    }
}

/// What a usage query asks: whole buckets from `from` (a bucket start) up to `to` (exclusive,
/// a bucket start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageQuery {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub granularity: Granularity,
}

impl UsageQuery {
    /// The query covering `from`..`to` in whole buckets, if it is not empty.
    pub fn covering(from: OffsetDateTime, to: OffsetDateTime, granularity: Granularity) -> Option<Self> {
        let (from, to) = (granularity.floor(from), granularity.ceil(to));
        (to > from).then_some(UsageQuery {
            from,
            to,
            granularity,
        })
    }

    /// How many buckets it covers.
    pub fn buckets(&self) -> i64 {
        (self.to - self.from).whole_seconds() / self.granularity.step().whole_seconds()
    }

    /// Each bucket's start, in order.
    pub fn starts(&self) -> impl Iterator<Item = OffsetDateTime> + '_ {
        (0..self.buckets()).map(|i| self.from + self.granularity.step() * i as i32)
    }

    pub fn contains(&self, t: OffsetDateTime) -> bool {
        self.from <= t && t < self.to
    }
}

/// The counts a store answers a [`UsageQuery`] with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// Key id → bucket start → sessions, for keys with any in the range (deleted keys too).
    pub sessions: BTreeMap<String, BTreeMap<OffsetDateTime, u64>>,
    /// Those of [`Usage::sessions`] that are test keys (their sessions spent no credit).
    pub test_keys: BTreeSet<String>,
    /// Credits granted to the account in the range.
    pub granted: u64,
    /// Every balance change before this time is counted: the query's own time when none is
    /// left to count, else a second before the last one counted (times are to the second), so
    /// always before the query's time while any is left.
    pub caught_up_to: OffsetDateTime,
}

impl Usage {
    pub fn empty(caught_up_to: OffsetDateTime) -> Self {
        Usage {
            sessions: BTreeMap::new(),
            test_keys: BTreeSet::new(),
            granted: 0,
            caught_up_to,
        }
    }

    /// Counts `n` sessions of `key` (a key of `mode`) at `at`, in its bucket, if `query`
    /// covers it.
    pub fn add_sessions(&mut self, query: &UsageQuery, key: &str, mode: KeyMode, at: OffsetDateTime, n: u64) {
        if n > 0 && query.contains(at) {
            if mode == KeyMode::Test {
                self.test_keys.insert(key.to_string());
            }
            *self
                .sessions
                .entry(key.to_string())
                .or_default()
                .entry(query.granularity.floor(at))
                .or_default() += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_query_covers_whole_buckets() {
        let q = UsageQuery::covering(
            datetime!(2026-12-06 10:30 UTC),
            datetime!(2026-12-06 12:00 UTC),
            Granularity::Hour,
        )
        .unwrap();
        assert_eq!(
            (q.from, q.to, q.buckets()),
            (
                datetime!(2026-12-06 10:00 UTC),
                datetime!(2026-12-06 12:00 UTC),
                2
            )
        );
        let d = UsageQuery::covering(
            datetime!(2026-12-01 23:59 UTC),
            datetime!(2026-12-03 00:01 UTC),
            Granularity::Day,
        )
        .unwrap();
        assert_eq!(d.buckets(), 3);
        assert_eq!(
            d.starts().collect::<Vec<_>>(),
            [
                datetime!(2026-12-01 0:00 UTC),
                datetime!(2026-12-02 0:00 UTC),
                datetime!(2026-12-03 0:00 UTC)
            ]
        );
        let at = datetime!(2026-12-06 10:00 UTC);
        assert_eq!(UsageQuery::covering(at, at, Granularity::Hour), None, "empty");
    }

    #[test]
    fn sessions_outside_the_query_are_not_counted() {
        let q = UsageQuery::covering(
            datetime!(2026-12-06 0:00 UTC),
            datetime!(2026-12-07 0:00 UTC),
            Granularity::Day,
        )
        .unwrap();
        let mut usage = Usage::empty(q.to);
        usage.add_sessions(&q, "k", KeyMode::Live, datetime!(2026-12-06 23:59:59 UTC), 2);
        usage.add_sessions(&q, "k", KeyMode::Live, datetime!(2026-12-07 0:00 UTC), 5);
        usage.add_sessions(&q, "k", KeyMode::Live, datetime!(2026-12-05 23:59:59 UTC), 7);
        assert_eq!(usage.sessions["k"][&datetime!(2026-12-06 0:00 UTC)], 2);
        assert_eq!(usage.sessions["k"].len(), 1);
    }
}
