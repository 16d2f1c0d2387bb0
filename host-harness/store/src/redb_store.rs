//! The durable backend: one redb file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition};

use vcs_host::storage::{Clock, KvStore, StorageError, expires_at, is_expired, system_clock};

use crate::{Transaction, TxStore};

/// `(namespace, key)`: a composite redb key, so namespaces stay apart whatever bytes
/// (separators, NUL) a key contains.
type EntryKey = (&'static str, &'static str);
/// `(deadline in unix ms, value)`; a `None` deadline never expires.
type EntryValue = (Option<u64>, &'static [u8]);

/// The only table. Versioned in its name so a future layout can live beside it.
const ENTRIES: TableDefinition<EntryKey, EntryValue> = TableDefinition::new("entries_v1");

/// A [`Storage`] in a single redb database file: the durable default.
///
/// Why redb rather than SQLite: redb is pure Rust (no C toolchain to cross-compile, no
/// `unsafe` FFI surface in the host), it is ACID with copy-on-write B-trees and
/// fsync'd commits, so a process killed at any point loses no committed write and never
/// sees a torn one, and the whole store is one file. We need a key-value map with
/// atomic read-modify-write, not SQL, so SQLite's query engine would be weight without
/// use.
///
/// Every mutating call is its own write transaction, committed with redb's default
/// `Durability::Immediate` before the call returns; compare-and-swap reads, compares
/// and writes inside one transaction, and redb admits one writer at a time, so it is
/// atomic against other threads. The file is locked for exclusive use: a second
/// process (or a second handle) opening it gets [`StorageError::Unavailable`]. Several
/// host processes sharing state need a networked backend behind [`Storage`] instead.
pub struct RedbStorage {
    db: Database,
    path: PathBuf,
    clock: Clock,
}

impl std::fmt::Debug for RedbStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStorage")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Map any redb error to ours: too-large values stay `TooLarge`, everything else is a
/// backend failure reported with redb's own message.
fn backend_error(operation: &str, error: impl Into<redb::Error>) -> StorageError {
    match error.into() {
        redb::Error::ValueTooLarge(bytes) => StorageError::TooLarge(format!(
            "storage entry is {bytes} bytes; more than the database can hold"
        )),
        other => StorageError::Unavailable(format!("storage {operation} failed: {other}")),
    }
}

impl RedbStorage {
    /// Open the database at `path`, creating the file if it does not exist.
    ///
    /// The whole file's checksums are verified on open: redb may panic on a file
    /// corrupted outside of it, and a state file is small enough for the check to be
    /// cheap. A file held by another process (or another handle in this one) is
    /// `Unavailable` with a message saying so.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let db = Database::builder()
            .set_check_integrity_on_open(true)
            .create(path)
            .map_err(|error| match error {
                redb::DatabaseError::DatabaseAlreadyOpen
                | redb::DatabaseError::LockProtocolMismatch => StorageError::Unavailable(format!(
                    "storage database {} is already open in another process \
                         (or another handle in this one): {error}",
                    path.display()
                )),
                other => StorageError::Unavailable(format!(
                    "cannot open storage database {}: {other}",
                    path.display()
                )),
            })?;
        // Create the table up front so reads never meet a missing table.
        let txn = db
            .begin_write()
            .map_err(|e| backend_error("initialisation", e))?;
        txn.open_table(ENTRIES)
            .map_err(|e| backend_error("initialisation", e))?;
        txn.commit()
            .map_err(|e| backend_error("initialisation", e))?;
        tracing::debug!(path = %path.display(), "opened redb storage");
        Ok(Self {
            db,
            path: path.to_path_buf(),
            clock: system_clock(),
        })
    }

    /// The same store reading time from `clock` (unix ms), so tests can expire entries
    /// without sleeping.
    #[must_use = "with_clock returns the store; the original is consumed"]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn now(&self) -> u64 {
        (self.clock)()
    }

    /// Run `change` in one write transaction. It returns its result and whether it
    /// modified anything: a modification is committed (durably) before returning, a
    /// no-op is aborted to spare the fsync.
    fn write<T>(
        &self,
        operation: &str,
        change: impl FnOnce(
            &mut Table<'_, EntryKey, EntryValue>,
        ) -> Result<(T, bool), redb::StorageError>,
    ) -> Result<T, StorageError> {
        let txn = self
            .db
            .begin_write()
            .map_err(|e| backend_error(operation, e))?;
        let (result, modified) = {
            let mut table = txn
                .open_table(ENTRIES)
                .map_err(|e| backend_error(operation, e))?;
            change(&mut table).map_err(|e| backend_error(operation, e))?
        };
        if modified {
            txn.commit().map_err(|e| backend_error(operation, e))?;
        } else {
            txn.abort().map_err(|e| backend_error(operation, e))?;
        }
        Ok(result)
    }

    /// Store `value`, or remove the key when the TTL has already run out, so an
    /// immediately-expired write leaves nothing behind to purge.
    fn put(
        table: &mut Table<'_, EntryKey, EntryValue>,
        slot: (&str, &str),
        value: &[u8],
        ttl: Option<Duration>,
        now: u64,
    ) -> Result<(), redb::StorageError> {
        let deadline = expires_at(now, ttl);
        if is_expired(deadline, now) {
            table.remove(slot)?;
        } else {
            table.insert(slot, (deadline, value))?;
        }
        Ok(())
    }
}

impl KvStore for RedbStorage {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let now = self.now();
        let txn = self.db.begin_read().map_err(|e| backend_error("read", e))?;
        let table = txn
            .open_table(ENTRIES)
            .map_err(|e| backend_error("read", e))?;
        let found = table
            .get((namespace, key))
            .map_err(|e| backend_error("read", e))?;
        Ok(found.and_then(|guard| {
            let (deadline, value) = guard.value();
            (!is_expired(deadline, now)).then(|| value.to_vec())
        }))
    }

    fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        let now = self.now();
        self.write("write", |table| {
            Self::put(table, (namespace, key), value, ttl, now)?;
            Ok(((), true))
        })
    }

    fn delete(&self, namespace: &str, key: &str) -> Result<bool, StorageError> {
        let now = self.now();
        self.write("delete", |table| {
            let removed = table.remove((namespace, key))?;
            let existed = removed.is_some();
            let live = removed.is_some_and(|guard| !is_expired(guard.value().0, now));
            Ok((live, existed))
        })
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
        self.write("compare-and-swap", |table| {
            let matches = {
                let current = table.get((namespace, key))?;
                let live = current.as_ref().and_then(|guard| {
                    let (deadline, value) = guard.value();
                    (!is_expired(deadline, now)).then_some(value)
                });
                live == expected
            };
            if !matches {
                return Ok((false, false));
            }
            match new {
                Some(value) => Self::put(table, (namespace, key), value, ttl, now)?,
                None => {
                    table.remove((namespace, key))?;
                }
            }
            Ok((true, true))
        })
    }
}

impl TxStore for RedbStorage {
    fn purge_expired(&self) -> Result<u64, StorageError> {
        let now = self.now();
        let purged = self.write("purge", |table| {
            let mut purged = 0u64;
            table.retain(|_, (deadline, _)| {
                let expired = is_expired(deadline, now);
                purged = purged.saturating_add(u64::from(expired));
                !expired
            })?;
            Ok((purged, purged > 0))
        })?;
        tracing::debug!(purged, path = %self.path.display(), "purged expired storage entries");
        Ok(purged)
    }

    fn keys(&self, namespace: &str) -> Result<Vec<String>, StorageError> {
        let now = self.now();
        let txn = self.db.begin_read().map_err(|e| backend_error("read", e))?;
        let table = txn
            .open_table(ENTRIES)
            .map_err(|e| backend_error("read", e))?;
        // (namespace, "") is the namespace's smallest key; redb orders tuples element by
        // element and strings by bytes, so its keys follow contiguously and sorted.
        let range = table
            .range((namespace, "")..)
            .map_err(|e| backend_error("read", e))?;
        let mut keys = Vec::new();
        for item in range {
            let (key, value) = item.map_err(|e| backend_error("read", e))?;
            let (ns, k) = key.value();
            if ns != namespace {
                break;
            }
            if !is_expired(value.value().0, now) {
                keys.push(k.to_owned());
            }
        }
        Ok(keys)
    }

    fn commit(&self, transaction: &Transaction) -> Result<bool, StorageError> {
        if transaction.is_empty() {
            return Ok(true);
        }
        let now = self.now();
        // One write transaction: redb admits one writer at a time, so the conditions
        // cannot change between their check and the writes.
        self.write("transaction", |table| {
            for c in &transaction.conditions {
                let current = table.get((c.namespace.as_str(), c.key.as_str()))?;
                let live = current.as_ref().and_then(|guard| {
                    let (deadline, value) = guard.value();
                    (!is_expired(deadline, now)).then_some(value)
                });
                if live != c.expected.as_deref() {
                    return Ok((false, false));
                }
            }
            for w in &transaction.writes {
                let slot = (w.namespace.as_str(), w.key.as_str());
                match &w.value {
                    Some(value) => Self::put(table, slot, value, w.ttl, now)?,
                    None => {
                        table.remove(slot)?;
                    }
                }
            }
            Ok((true, !transaction.writes.is_empty()))
        })
    }
}
