//! Identifiers: accounts (from the console token's `sub`), keys and sessions.
//!
//! Key and session ids are ULIDs behind a type prefix: sortable by creation time, unguessable
//! enough for ids (80 random bits), and recognisable in logs (`key_…`, `ses_…`).

use std::fmt;
use std::sync::Mutex;
use ulid::{Generator, Ulid};

/// A new ULID, strictly increasing within this process even inside one millisecond, so that
/// records written one after another sort in the order they were written.
pub fn new_ulid() -> Ulid {
    static GENERATOR: Mutex<Generator> = Mutex::new(Generator::new());
    let mut generator = GENERATOR.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // Overflow needs 2^80 ids in one millisecond; fall back to a fresh random one regardless.
    generator.generate().unwrap_or_else(|_| Ulid::new())
}

/// The console account a key belongs to. Checked to a conservative alphabet because it becomes
/// part of storage keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = (1..=128).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:@|+".contains(&b));
        ok.then(|| AccountId(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! prefixed_ulid {
    ($name:ident, $prefix:literal) => {
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                $name(format!("{}{}", $prefix, new_ulid()))
            }

            /// Accepts exactly what `generate` produces: the prefix and a canonical ULID.
            pub fn parse(raw: &str) -> Option<Self> {
                let ulid = raw.strip_prefix($prefix)?;
                let parsed = Ulid::from_string(ulid).ok()?;
                (parsed.to_string() == ulid).then(|| $name(raw.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_ulid!(KeyId, "key_");
prefixed_ulid!(WebhookId, "whk_");
prefixed_ulid!(SessionId, "ses_");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_round_trip_and_reject_lookalikes() {
        let id = KeyId::generate();
        assert_eq!(KeyId::parse(id.as_str()), Some(id.clone()));
        assert!(id.as_str().starts_with("key_"));
        assert_eq!(
            KeyId::parse(&id.as_str().to_lowercase()),
            None,
            "non-canonical case"
        );
        for bad in [
            "",
            "key_",
            "key_123",
            "ses_01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "../etc/passwd",
            "key_01ARZ3NDEKTSV4RRFFQ69G5FAVX",
        ] {
            assert_eq!(KeyId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn ulids_increase_within_a_millisecond() {
        let ids: Vec<_> = (0..1000).map(|_| new_ulid()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn account_ids() {
        assert!(AccountId::parse("acct_123").is_some());
        assert!(AccountId::parse("auth0|5f7c8ec7c33c6c004bbafe82").is_some());
        assert!(AccountId::parse("").is_none());
        assert!(AccountId::parse("a#b").is_none());
        assert!(AccountId::parse("a b").is_none());
        assert!(AccountId::parse(&"a".repeat(129)).is_none());
    }

    #[test]
    fn account_ids_display_as_themselves() {
        assert_eq!(AccountId::parse("acct_1").unwrap().to_string(), "acct_1");
    }
}
