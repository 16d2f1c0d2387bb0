//! The key-value store behind the guest's `storage` import.
//!
//! One [`Storage`] backend is shared by every integration the host serves; entries are
//! keyed by `(namespace, key)`, where the namespace is the integration id chosen by the
//! host and never by the guest. A plugin call only ever sees a [`NamespacedStorage`]: one
//! namespace, with the host's [`StorageLimits`] enforced.
//!
//! Backends:
//! - [`MemoryStorage`]: a mutex-guarded map, for tests and stateless runs.
//! - [`RedbStorage`]: a single redb file on disk, the durable default for one host
//!   process (the file is locked to the process that opened it).
//! - [`PostgresStorage`]: one table in a PostgreSQL database, for several host processes
//!   (or machines) sharing state; every operation, compare-and-swap and
//!   [`Storage::commit`] included, is atomic across processes. Its client blocks: call
//!   it from async code through `spawn_blocking`.
//!
//! Expiry is stored with each value as a unix-millisecond deadline. Expired entries read
//! as absent everywhere (get, compare-and-swap, delete, keys) and are physically removed
//! by [`Storage::purge_expired`], which the host may run whenever it likes.

// Submodules are named with `self::` only: this module also builds as a crate root.
mod memory;
mod namespaced;
mod postgres_store;
mod redb_store;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use self::memory::MemoryStorage;
pub use self::namespaced::{NamespacedStorage, StorageLimits};
pub use self::postgres_store::PostgresStorage;
/// Test helpers for a real PostgreSQL (see [`postgres_testing::test_postgres_url`]).
#[doc(hidden)]
pub use self::postgres_store::testing as postgres_testing;
#[doc(hidden)]
pub use self::postgres_store::testing::test_postgres_url;
pub use self::redb_store::RedbStorage;

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

/// A backend shared by all integrations; namespaces keep tenants apart.
///
/// Every method is atomic on its own. Expired entries behave as absent in every method.
pub trait Storage: Send + Sync + std::fmt::Debug {
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

    /// Remove expired entries; returns how many. Backends also treat expired entries as absent on read.
    fn purge_expired(&self) -> Result<u64, StorageError>;

    /// Keys of a namespace (for tests and `inspect`-style tooling), sorted.
    fn keys(&self, namespace: &str) -> Result<Vec<String>, StorageError>;

    /// Atomically: if every condition of `transaction` holds, apply all of its writes in
    /// order and return `true`; otherwise change nothing and return `false`.
    ///
    /// This is what lets `serve` commit a provider call's storage writes together with
    /// the queue entry they produced (see `serve::staged`): either both happen or
    /// neither, so a crash between them can neither lose a delivery nor mark it seen
    /// without work queued. An empty transaction trivially commits.
    fn commit(&self, transaction: &Transaction) -> Result<bool, StorageError>;
}

/// A precondition of a [`Transaction`]: the live value at `(namespace, key)` equals
/// `expected` (`None`: absent or expired).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The namespace.
    pub namespace: String,
    /// The key.
    pub key: String,
    /// The value required, `None` for absent.
    pub expected: Option<Vec<u8>>,
}

/// One write of a [`Transaction`]: set the value (with `ttl`), or delete with `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// The namespace.
    pub namespace: String,
    /// The key.
    pub key: String,
    /// The new value; `None` deletes.
    pub value: Option<Vec<u8>>,
    /// Expiry of the new value, as in [`Storage::set`].
    pub ttl: Option<Duration>,
}

/// Conditions checked and writes applied as one atomic step by [`Storage::commit`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transaction {
    /// All must hold for the writes to happen.
    pub conditions: Vec<Condition>,
    /// Applied in order when the conditions hold.
    pub writes: Vec<Write>,
}

impl Transaction {
    /// Whether the transaction has nothing to check and nothing to write.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty() && self.writes.is_empty()
    }
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
fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The deadline of an entry written at `now` with `ttl`; `None` never expires.
fn expires_at(now_ms: u64, ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|ttl| now_ms.saturating_add(duration_ms(ttl)))
}

/// Whether an entry with this deadline is dead at `now`. The deadline itself counts as
/// expired, which is what makes a zero TTL expire immediately.
fn is_expired(expires_at_ms: Option<u64>, now_ms: u64) -> bool {
    expires_at_ms.is_some_and(|deadline| deadline <= now_ms)
}
