//! The host's own stores: what `serve` (and any platform running many deliveries) needs
//! beyond the guest's key-value capability — listing keys, purging expired entries, and
//! committing several conditions and writes as one atomic step.
//!
//! [`TxStore`] extends the core's [`KvStore`], so one backend serves both the providers'
//! state and the host's queue, and a delivery's dedupe mark lands in the same commit as
//! the work it queued. Backends:
//!
//! - [`MemoryStorage`] (the core's in-memory map): tests, trying things out;
//! - [`RedbStorage`] (feature `redb`): one file, durable, for one host process (the file
//!   is locked to the process that opened it);
//! - [`PostgresStorage`] (feature `postgres`): one table in a PostgreSQL database, for
//!   several host processes sharing state; every operation is atomic across processes.
//!   Its client blocks: call it from async code through `spawn_blocking`.
//!
//! [`StoreConfig`] is the `[storage]` section that picks one.

mod config;
#[cfg(feature = "postgres")]
mod postgres_store;
#[cfg(feature = "redb")]
mod redb_store;
#[cfg(test)]
mod tests;

pub use vcs_host::storage::{Clock, KvStore, MemoryStorage, StorageError, system_clock};

pub use self::config::StoreConfig;
#[cfg(feature = "postgres")]
pub use self::postgres_store::PostgresStorage;
/// Test helpers for a real PostgreSQL (see [`postgres_testing::test_postgres_url`]).
#[cfg(feature = "postgres")]
#[doc(hidden)]
pub use self::postgres_store::testing as postgres_testing;
#[cfg(feature = "redb")]
pub use self::redb_store::RedbStorage;

/// A store the host itself uses: the guest's key-value operations plus listing,
/// purging and atomic multi-key commits.
pub trait TxStore: KvStore {
    /// Remove expired entries; returns how many. Backends also treat expired entries as
    /// absent on read.
    fn purge_expired(&self) -> Result<u64, StorageError>;

    /// Live keys of a namespace, sorted.
    fn keys(&self, namespace: &str) -> Result<Vec<String>, StorageError>;

    /// Atomically: if every condition of `transaction` holds, apply all of its writes in
    /// order and return `true`; otherwise change nothing and return `false`.
    ///
    /// This is what lets `serve` commit a provider call's storage writes together with
    /// the queue entry they produced: either both happen or neither, so a crash between
    /// them can neither lose a delivery nor mark it seen without work queued. An empty
    /// transaction trivially commits.
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
    /// Expiry of the new value, as in [`KvStore::set`].
    pub ttl: Option<std::time::Duration>,
}

/// Conditions checked and writes applied as one atomic step by [`TxStore::commit`].
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

impl TxStore for MemoryStorage {
    fn purge_expired(&self) -> Result<u64, StorageError> {
        let purged = self.with_entries(|entries| entries.purge_expired())?;
        tracing::debug!(purged, "purged expired in-memory storage entries");
        Ok(purged)
    }

    fn keys(&self, namespace: &str) -> Result<Vec<String>, StorageError> {
        self.with_entries(|entries| entries.keys(namespace))
    }

    fn commit(&self, transaction: &Transaction) -> Result<bool, StorageError> {
        self.with_entries(|entries| {
            let holds = transaction
                .conditions
                .iter()
                .all(|c| entries.get(&c.namespace, &c.key) == c.expected.as_deref());
            if holds {
                for w in &transaction.writes {
                    entries.put(&w.namespace, &w.key, w.value.as_deref(), w.ttl);
                }
            }
            holds
        })
    }
}
