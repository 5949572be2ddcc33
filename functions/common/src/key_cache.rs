//! What an instance remembers between requests: which account and key an API key's hash
//! resolved to. The mapping never changes (a key is never moved or re-issued), so remembering
//! it is always right; whether the key is still *live* is never remembered — the debit's own
//! conditional write decides that, so a key deleted through another instance is refused by
//! the next session here without any extra read. Only keys that resolved are kept: an unknown
//! hash is asked about every time.

use crate::api_key::KeyHash;
use crate::store::{ResolvedKey, Store, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;

/// At most this many keys are remembered (about 150 bytes each); when full the memory is
/// simply cleared and refills with the keys in use.
const CAPACITY: usize = 4096;

#[derive(Default)]
pub struct KeyCache(Mutex<HashMap<KeyHash, ResolvedKey>>);

impl KeyCache {
    fn get(&self, hash: &KeyHash) -> Option<ResolvedKey> {
        self.lock().get(hash).cloned()
    }

    /// The key `hash` resolves to: remembered, or read from `store` (and then remembered).
    /// `None` for a hash no live key has.
    pub async fn resolve(
        &self,
        store: &dyn Store,
        hash: &KeyHash,
    ) -> Result<Option<ResolvedKey>, StoreError> {
        if let Some(key) = self.get(hash) {
            return Ok(Some(key));
        }
        let resolved = store.resolve_key(hash).await?;
        if let Some(key) = &resolved {
            self.remember(hash.clone(), key.clone());
        }
        Ok(resolved)
    }

    fn remember(&self, hash: KeyHash, key: ResolvedKey) {
        let mut map = self.lock();
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(hash, key);
    }

    /// Drops a key found deleted: it can never be live again, so there is nothing to keep.
    pub fn forget(&self, hash: &KeyHash) {
        self.lock().remove(hash);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<KeyHash, ResolvedKey>> {
        // The map holds no invariant a panicking holder could break.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, KeyId};

    fn key() -> ResolvedKey {
        ResolvedKey {
            account: AccountId::parse("acct").unwrap(),
            key: KeyId::generate(),
            slot: 1,
            sessions_per_day: None,
            expires_at: None,
        }
    }

    #[test]
    fn remembers_forgets_and_stays_bounded() {
        let cache = KeyCache::default();
        let hash = KeyHash::of("vp_live_a");
        assert_eq!(cache.get(&hash), None);
        let resolved = key();
        cache.remember(hash.clone(), resolved.clone());
        assert_eq!(cache.get(&hash), Some(resolved));
        cache.forget(&hash);
        assert_eq!(cache.get(&hash), None);
        for i in 0..CAPACITY + 10 {
            cache.remember(KeyHash::of(&format!("vp_live_{i}")), key());
        }
        assert!(cache.0.lock().unwrap().len() <= CAPACITY);
    }
}
