//! The in-memory backend: for tests and runs that need no state across restarts.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::{Clock, KvStore, StorageError, expires_at, is_expired, system_clock};

/// A stored value and its deadline (unix ms; `None` never expires).
#[derive(Debug, Clone)]
struct Entry {
    value: Vec<u8>,
    expires_at_ms: Option<u64>,
}

/// Entries keyed by `(namespace, key)`: a tuple, not a joined string, so no choice of
/// separator lets one namespace reach into another.
type Map = BTreeMap<(String, String), Entry>;

/// A [`KvStore`] held in process memory behind one mutex; lost when the process ends.
///
/// One lock around the whole map makes every operation, compare-and-swap included,
/// trivially atomic; contention is irrelevant at the scale of tests and single runs.
/// [`MemoryStorage::with_entries`] holds that lock across several steps, which is how
/// the store crate builds its multi-key transactions on this same map.
pub struct MemoryStorage {
    entries: Mutex<Map>,
    clock: Clock,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self {
            entries: Mutex::new(Map::new()),
            clock: system_clock(),
        }
    }
}

impl std::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.entries.lock().map(|map| map.len()).ok();
        f.debug_struct("MemoryStorage")
            .field("entries", &entries)
            .finish_non_exhaustive()
    }
}

impl MemoryStorage {
    /// An empty store on the wall clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same store reading time from `clock` (unix ms), so tests can expire entries
    /// without sleeping.
    #[must_use = "with_clock returns the store; the original is consumed"]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn now(&self) -> u64 {
        (self.clock)()
    }

    /// The map, or `Unavailable` if a thread panicked while holding it: the map may be
    /// half-updated, so refusing is safer than carrying on.
    fn lock(&self) -> Result<MutexGuard<'_, Map>, StorageError> {
        self.entries.lock().map_err(|_| {
            StorageError::Unavailable(
                "in-memory storage lock is poisoned (a thread panicked while writing)".into(),
            )
        })
    }

    fn composite(namespace: &str, key: &str) -> (String, String) {
        (namespace.to_owned(), key.to_owned())
    }

    /// Store `value` under `slot`, or remove the slot when the TTL has already run out,
    /// so an immediately-expired write leaves nothing behind to purge.
    fn put(map: &mut Map, slot: (String, String), value: &[u8], ttl: Option<Duration>, now: u64) {
        let deadline = expires_at(now, ttl);
        if is_expired(deadline, now) {
            map.remove(&slot);
        } else {
            map.insert(
                slot,
                Entry {
                    value: value.to_vec(),
                    expires_at_ms: deadline,
                },
            );
        }
    }
}

impl KvStore for MemoryStorage {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let now = self.now();
        let map = self.lock()?;
        Ok(map
            .get(&Self::composite(namespace, key))
            .filter(|entry| !is_expired(entry.expires_at_ms, now))
            .map(|entry| entry.value.clone()))
    }

    fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        let now = self.now();
        let mut map = self.lock()?;
        Self::put(&mut map, Self::composite(namespace, key), value, ttl, now);
        Ok(())
    }

    fn delete(&self, namespace: &str, key: &str) -> Result<bool, StorageError> {
        let now = self.now();
        let mut map = self.lock()?;
        Ok(map
            .remove(&Self::composite(namespace, key))
            .is_some_and(|entry| !is_expired(entry.expires_at_ms, now)))
    }

    fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StorageError> {
        let now = self.now();
        let slot = Self::composite(namespace, key);
        let mut map = self.lock()?;
        let current = map
            .get(&slot)
            .filter(|entry| !is_expired(entry.expires_at_ms, now))
            .map(|entry| entry.value.as_slice());
        if current != expected {
            return Ok(false);
        }
        match new {
            Some(value) => Self::put(&mut map, slot, value, ttl, now),
            None => {
                map.remove(&slot);
            }
        }
        Ok(true)
    }
}

impl MemoryStorage {
    /// Run `f` with the map locked, as one atomic step: what a backend needs for
    /// operations over several keys (transactions, listing, purging).
    pub fn with_entries<R>(
        &self,
        f: impl FnOnce(&mut MemoryEntries<'_>) -> R,
    ) -> Result<R, StorageError> {
        let now = self.now();
        let mut map = self.lock()?;
        Ok(f(&mut MemoryEntries { map: &mut map, now }))
    }
}

/// The locked map of a [`MemoryStorage`], seen at one instant: expired entries read as
/// absent, exactly as through [`KvStore`].
pub struct MemoryEntries<'a> {
    map: &'a mut Map,
    now: u64,
}

impl MemoryEntries<'_> {
    /// The live value at `(namespace, key)`.
    pub fn get(&self, namespace: &str, key: &str) -> Option<&[u8]> {
        self.map
            .get(&MemoryStorage::composite(namespace, key))
            .filter(|entry| !is_expired(entry.expires_at_ms, self.now))
            .map(|entry| entry.value.as_slice())
    }

    /// Write (`Some`) or delete (`None`) the value at `(namespace, key)`.
    pub fn put(&mut self, namespace: &str, key: &str, value: Option<&[u8]>, ttl: Option<Duration>) {
        let slot = MemoryStorage::composite(namespace, key);
        match value {
            Some(value) => MemoryStorage::put(self.map, slot, value, ttl, self.now),
            None => {
                self.map.remove(&slot);
            }
        }
    }

    /// Live keys of a namespace, sorted.
    pub fn keys(&self, namespace: &str) -> Vec<String> {
        // ("ns", "") is the smallest composite key of the namespace; the map is sorted,
        // so its keys follow contiguously and already in order.
        self.map
            .range((namespace.to_owned(), String::new())..)
            .take_while(|((ns, _), _)| ns == namespace)
            .filter(|(_, entry)| !is_expired(entry.expires_at_ms, self.now))
            .map(|((_, key), _)| key.clone())
            .collect()
    }

    /// Remove expired entries; how many were removed.
    pub fn purge_expired(&mut self) -> u64 {
        let before = self.map.len();
        let now = self.now;
        self.map
            .retain(|_, entry| !is_expired(entry.expires_at_ms, now));
        u64::try_from(before.saturating_sub(self.map.len())).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn poisoned_lock_is_unavailable_not_a_panic() {
        let storage = Arc::new(MemoryStorage::default());
        let holder = Arc::clone(&storage);
        let outcome = std::thread::spawn(move || {
            let _guard = holder.entries.lock();
            panic!("poison the storage lock on purpose");
        })
        .join();
        assert!(outcome.is_err(), "the helper thread should have panicked");

        let unavailable = |r: Result<(), StorageError>| {
            assert!(
                matches!(&r, Err(StorageError::Unavailable(m)) if m.contains("poisoned")),
                "{r:?}"
            );
        };
        unavailable(storage.get("ns", "k").map(drop));
        unavailable(storage.set("ns", "k", b"v", None));
        unavailable(storage.delete("ns", "k").map(drop));
        unavailable(
            storage
                .compare_and_swap("ns", "k", None, Some(b"v"), None)
                .map(drop),
        );
        unavailable(storage.with_entries(|e| e.purge_expired()).map(drop));
        // Debug must not panic either.
        assert!(format!("{storage:?}").contains("MemoryStorage"));
    }

    #[test]
    fn wall_clock_expiry_without_injection() {
        let storage = MemoryStorage::new();
        storage
            .set("ns", "short", b"v", Some(Duration::from_millis(50)))
            .unwrap();
        storage
            .set("ns", "long", b"v", Some(Duration::from_secs(3600)))
            .unwrap();
        assert_eq!(storage.get("ns", "short").unwrap(), Some(b"v".to_vec()));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(storage.get("ns", "short").unwrap(), None);
        assert_eq!(storage.get("ns", "long").unwrap(), Some(b"v".to_vec()));
        assert_eq!(storage.with_entries(|e| e.purge_expired()).unwrap(), 1);
    }
}
