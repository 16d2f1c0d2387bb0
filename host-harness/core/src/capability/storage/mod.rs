//! The guest's `storage` capability: the backend trait, one integration's view of it,
//! and the limits the host enforces.
//!
//! One [`KvStore`] backend is shared by every integration the host serves; entries are
//! keyed by `(namespace, key)`, where the namespace is the integration id chosen by the
//! host and never by the guest. A provider call only ever sees a [`NamespacedStorage`]:
//! one namespace, with the host's [`StorageLimits`] enforced.
//!
//! [`MemoryStorage`] (a mutex-guarded map) is the backend for tests and stateless runs;
//! durable and shared backends (redb, PostgreSQL) live in the store crate.
//!
//! Expiry is stored with each value as a unix-millisecond deadline ([`expires_at`]).
//! Expired entries read as absent everywhere and are physically removed by whoever
//! purges the backend.

mod memory;
mod namespaced;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use self::memory::{MemoryEntries, MemoryStorage};
pub use self::namespaced::{NamespacedStorage, StorageLimits};

/// Why a storage operation failed; mirrors the WIT `storage-error` variant one to one.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum StorageError {
    /// The key, value or TTL exceeds the host's limits; the message names the numbers.
    #[error("{0}")]
    TooLarge(String),
    /// The backend failed (I/O, lock held by another process, poisoned lock); the
    /// operation may be retried.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// The backend of the guest's `storage` import: a key-value store shared by all
/// integrations, where namespaces keep tenants apart.
///
/// This is the whole capability a provider gets (get, set, delete, compare-and-swap);
/// the host's own transactional needs (its queue, atomic multi-key commits) live in the
/// store crate (`vcs-host-store`), whose backends implement this trait too.
///
/// Every method is atomic on its own. Expired entries behave as absent in every method.
pub trait KvStore: Send + Sync + std::fmt::Debug {
    /// The value at `(namespace, key)`; `None` when absent or expired.
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Write a value, replacing any previous one (and its TTL). With `ttl` the entry
    /// expires that long from now; a zero TTL expires at once, so the write acts as a
    /// delete.
    fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError>;

    /// Remove a value; `true` when a live (unexpired) one was present.
    fn delete(&self, namespace: &str, key: &str) -> Result<bool, StorageError>;

    /// Atomically: if the current value (`None` when absent or expired) equals
    /// `expected`, write `new` (`None` deletes) with `ttl` and return `true`; otherwise
    /// change nothing and return `false`.
    fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StorageError>;
}

/// The time source of a backend, in unix milliseconds. Injectable so that tests (and
/// embedders with their own notion of time) can drive expiry without sleeping.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The wall clock, in unix milliseconds: the default [`Clock`] of every backend.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            // A clock before 1970 is broken; treating it as the epoch keeps us panic-free.
            .map_or(0, duration_ms)
    })
}

/// A duration in whole milliseconds, saturating rather than overflowing.
pub fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The deadline of an entry written at `now` with `ttl`; `None` never expires.
pub fn expires_at(now_ms: u64, ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|ttl| now_ms.saturating_add(duration_ms(ttl)))
}

/// Whether an entry with this deadline is dead at `now`. The deadline itself counts as
/// expired, which is what makes a zero TTL expire immediately.
pub fn is_expired(expires_at_ms: Option<u64>, now_ms: u64) -> bool {
    expires_at_ms.is_some_and(|deadline| deadline <= now_ms)
}
