//! A storage overlay that holds a provider call's writes until the host commits them
//! together with its own (the queue entry), in one atomic [`TxStore::commit`].
//!
//! Why: `handle-delivery` marks the delivery's event id as seen (its dedupe). If that
//! mark reached the store and the process died before the queue entry did, the retried
//! delivery would be a "duplicate" and its work lost. Staged, the mark and the queue
//! entry land together or not at all.
//!
//! Reads go to the backend and are remembered as conditions (optimistic concurrency):
//! if another thread or process changed a key this call read, the commit fails and the
//! caller runs the call again against the new state. Expiry of staged writes is not
//! simulated within the call; calls are milliseconds long.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use vcs_host::storage::{KvStore, StorageError};
use vcs_host_store::{Condition, Transaction, TxStore, Write};

type Slot = (String, String);

#[derive(Debug, Default)]
struct Overlay {
    /// What the call saw of the backend, by key: the commit requires it unchanged.
    reads: BTreeMap<Slot, Option<Vec<u8>>>,
    /// The call's writes, last one wins; `None` deletes.
    writes: BTreeMap<Slot, (Option<Vec<u8>>, Option<Duration>)>,
}

/// A [`KvStore`] that reads through to a backend and keeps writes to itself until
/// [`StagedStorage::transaction`] hands them over.
#[derive(Debug)]
pub struct StagedStorage {
    backend: Arc<dyn TxStore>,
    overlay: Mutex<Overlay>,
}

impl StagedStorage {
    /// An empty overlay over `backend`.
    pub fn new(backend: Arc<dyn TxStore>) -> Self {
        Self {
            backend,
            overlay: Mutex::new(Overlay::default()),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Overlay>, StorageError> {
        self.overlay
            .lock()
            .map_err(|_| StorageError::Unavailable("staged storage lock is poisoned".into()))
    }

    /// The value the call sees: its own write if any, else the backend's (remembered).
    fn view(
        &self,
        overlay: &mut Overlay,
        namespace: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let slot = (namespace.to_owned(), key.to_owned());
        if let Some((value, _)) = overlay.writes.get(&slot) {
            return Ok(value.clone());
        }
        if let Some(seen) = overlay.reads.get(&slot) {
            return Ok(seen.clone());
        }
        let value = self.backend.get(namespace, key)?;
        overlay.reads.insert(slot, value.clone());
        Ok(value)
    }

    /// The call's reads as conditions and its writes, ready to be extended with the
    /// host's own and committed.
    pub fn transaction(&self) -> Result<Transaction, StorageError> {
        let overlay = self.lock()?;
        Ok(Transaction {
            conditions: overlay
                .reads
                .iter()
                .map(|((namespace, key), expected)| Condition {
                    namespace: namespace.clone(),
                    key: key.clone(),
                    expected: expected.clone(),
                })
                .collect(),
            writes: overlay
                .writes
                .iter()
                .map(|((namespace, key), (value, ttl))| Write {
                    namespace: namespace.clone(),
                    key: key.clone(),
                    value: value.clone(),
                    ttl: *ttl,
                })
                .collect(),
        })
    }
}

impl KvStore for StagedStorage {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let mut overlay = self.lock()?;
        self.view(&mut overlay, namespace, key)
    }

    fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        let mut overlay = self.lock()?;
        let stored = (ttl != Some(Duration::ZERO)).then(|| value.to_vec());
        overlay
            .writes
            .insert((namespace.to_owned(), key.to_owned()), (stored, ttl));
        Ok(())
    }

    fn delete(&self, namespace: &str, key: &str) -> Result<bool, StorageError> {
        let mut overlay = self.lock()?;
        let existed = self.view(&mut overlay, namespace, key)?.is_some();
        overlay
            .writes
            .insert((namespace.to_owned(), key.to_owned()), (None, None));
        Ok(existed)
    }

    fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StorageError> {
        let mut overlay = self.lock()?;
        let current = self.view(&mut overlay, namespace, key)?;
        if current.as_deref() != expected {
            return Ok(false);
        }
        let stored = new
            .filter(|_| ttl != Some(Duration::ZERO))
            .map(<[u8]>::to_vec);
        overlay
            .writes
            .insert((namespace.to_owned(), key.to_owned()), (stored, ttl));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vcs_host::storage::MemoryStorage;

    #[test]
    fn writes_stay_staged_until_committed_with_the_hosts_own() {
        let backend: Arc<dyn TxStore> = Arc::new(MemoryStorage::new());
        backend.set("ns", "kept", b"old", None).unwrap();
        let staged = StagedStorage::new(backend.clone());
        assert!(
            staged
                .compare_and_swap("ns", "seen/1", None, Some(b"x"), None)
                .unwrap()
        );
        // A second CAS in the same call sees the staged write.
        assert!(
            !staged
                .compare_and_swap("ns", "seen/1", None, Some(b"x"), None)
                .unwrap()
        );
        staged.set("ns", "kept", b"new", None).unwrap();
        assert!(staged.delete("ns", "kept").unwrap());
        assert_eq!(staged.get("ns", "kept").unwrap(), None);
        assert_eq!(backend.get("ns", "seen/1").unwrap(), None, "nothing leaked");

        let mut txn = staged.transaction().unwrap();
        txn.writes.push(Write {
            namespace: "@host".into(),
            key: "queue/1".into(),
            value: Some(b"job".to_vec()),
            ttl: None,
        });
        assert!(backend.commit(&txn).unwrap());
        assert_eq!(backend.get("ns", "seen/1").unwrap(), Some(b"x".to_vec()));
        assert_eq!(backend.get("ns", "kept").unwrap(), None);
        assert_eq!(
            backend.get("@host", "queue/1").unwrap(),
            Some(b"job".to_vec())
        );
    }

    #[test]
    fn a_concurrent_change_to_a_read_key_fails_the_commit() {
        let backend: Arc<dyn TxStore> = Arc::new(MemoryStorage::new());
        let first = StagedStorage::new(backend.clone());
        let second = StagedStorage::new(backend.clone());
        // Both calls see the event as new and mark it seen.
        for call in [&first, &second] {
            assert!(
                call.compare_and_swap("ns", "seen/e1", None, Some(b"1"), None)
                    .unwrap()
            );
        }
        assert!(backend.commit(&first.transaction().unwrap()).unwrap());
        assert!(
            !backend.commit(&second.transaction().unwrap()).unwrap(),
            "only one of two racing calls may commit"
        );
    }
}
