//! The queue over a [`TxStore`]'s key-value entries, kept in the same store as the
//! providers' state so one atomic commit can carry both (see `staged`).
//!
//! Entries live under a host namespace no integration can have (integration ids may not
//! start with `@`). Keys sort by enqueue time, so listing a namespace is FIFO:
//! `{unix ms, 13 digits}.{owner}.{sequence}.{serial hash}`.
//!
//! Claiming is a compare-and-swap on the entry plus a per-pull-request lock, both with
//! a lease: a process that dies holding work loses it to whoever looks after the lease
//! runs out, and two jobs of one pull request never run at once (their comments and
//! statuses would race). Progress is checkpointed on the entry (`stage`, the run's
//! report), so a job taken over resumes where it stopped instead of running again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use vcs_host::storage::{Clock, StorageError, system_clock};
use vcs_host_store::{Condition, Transaction, TxStore, Write};

use super::{Claimed, JobQueue, Lease, QueueItem, Stage, serial_hash};
use crate::job::Job;

/// Namespace of queued entries.
pub const QUEUE_NAMESPACE: &str = "@host/queue";
/// Namespace of per-pull-request locks.
pub const LOCK_NAMESPACE: &str = "@host/locks";
/// Namespace of entries given up on, kept for people to inspect (30 days).
pub const DEAD_NAMESPACE: &str = "@host/dead";
const DEAD_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The queue of one host process over the shared store.
pub struct KvQueue {
    storage: Arc<dyn TxStore>,
    owner: String,
    lease: Duration,
    clock: Clock,
    sequence: AtomicU64,
}

impl std::fmt::Debug for KvQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvQueue")
            .field("owner", &self.owner)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl KvQueue {
    /// A queue over `storage` for this process; `lease` is how long a claim lasts
    /// without a checkpoint.
    pub fn new(storage: Arc<dyn TxStore>, lease: Duration) -> Self {
        Self::with_clock(storage, lease, system_clock())
    }

    /// The same with an injected clock (tests).
    pub fn with_clock(storage: Arc<dyn TxStore>, lease: Duration, clock: Clock) -> Self {
        let seed = format!(
            "{}-{}-{:?}",
            std::process::id(),
            clock(),
            std::time::Instant::now()
        );
        let owner: String = Sha256::digest(seed.as_bytes())
            .iter()
            .take(5)
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            storage,
            owner: format!("p{}-{owner}", std::process::id()),
            lease,
            clock,
            sequence: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        (self.clock)()
    }

    fn lease_ms(&self) -> u64 {
        u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX)
    }

    /// The conditions that prove we still hold `claimed`.
    fn held(&self, claimed: &Claimed) -> Vec<Condition> {
        vec![
            require(
                QUEUE_NAMESPACE,
                claimed.key.clone(),
                Some(claimed.stored.clone()),
            ),
            require(
                LOCK_NAMESPACE,
                claimed.item.job.serial_key(),
                Some(claimed.key.as_bytes().to_vec()),
            ),
        ]
    }

    fn lock_write(&self, claimed: &Claimed, keep: bool) -> Write {
        put(
            LOCK_NAMESPACE,
            claimed.item.job.serial_key(),
            keep.then(|| claimed.key.as_bytes().to_vec()),
            keep.then_some(self.lease),
        )
    }
}

impl JobQueue for KvQueue {
    fn owner(&self) -> &str {
        &self.owner
    }

    fn enqueue_into(
        &self,
        transaction: &mut Transaction,
        jobs: &[Job],
    ) -> Result<Vec<String>, StorageError> {
        let now = self.now();
        let mut keys = Vec::with_capacity(jobs.len());
        for job in jobs {
            let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
            let key = format!(
                "{now:013}.{}.{sequence:08}.{}",
                self.owner,
                serial_hash(&job.serial_key())
            );
            let item = QueueItem {
                job: job.clone(),
                enqueued_at_ms: now,
                attempts: 0,
                not_before_ms: 0,
                lease: None,
                stage: Stage::Queued,
                report: None,
                last_error: None,
            };
            transaction
                .conditions
                .push(require(QUEUE_NAMESPACE, key.clone(), None));
            transaction.writes.push(put(
                QUEUE_NAMESPACE,
                key.clone(),
                Some(encode(&item)?),
                None,
            ));
            keys.push(key);
        }
        Ok(keys)
    }

    fn pending(&self) -> Result<Vec<String>, StorageError> {
        self.storage.keys(QUEUE_NAMESPACE)
    }

    fn read(&self, key: &str) -> Result<Option<QueueItem>, StorageError> {
        self.storage
            .get(QUEUE_NAMESPACE, key)?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    fn claim(&self, key: &str) -> Result<Option<Claimed>, StorageError> {
        let Some(stored) = self.storage.get(QUEUE_NAMESPACE, key)? else {
            return Ok(None);
        };
        let item = match decode(&stored) {
            Ok(item) => item,
            Err(error) => {
                // An entry nobody can read would block its key forever: move it aside.
                tracing::error!(key, %error, "unreadable queue entry; moving it to the dead letters");
                let txn = Transaction {
                    conditions: vec![require(QUEUE_NAMESPACE, key, Some(stored.clone()))],
                    writes: vec![
                        put(QUEUE_NAMESPACE, key, None, None),
                        put(DEAD_NAMESPACE, key, Some(stored), Some(DEAD_TTL)),
                    ],
                };
                self.storage.commit(&txn)?;
                return Ok(None);
            }
        };
        let now = self.now();
        if item.not_before_ms > now {
            return Ok(None);
        }
        if item.lease.as_ref().is_some_and(|l| l.until_ms > now) {
            return Ok(None);
        }
        let mut held = item.clone();
        held.lease = Some(Lease {
            owner: self.owner.clone(),
            until_ms: now.saturating_add(self.lease_ms()),
        });
        let new_bytes = encode(&held)?;
        let lock_key = held.job.serial_key();
        let txn = Transaction {
            conditions: vec![
                require(QUEUE_NAMESPACE, key, Some(stored)),
                // The lock expires with the lease, so a dead holder frees it.
                require(LOCK_NAMESPACE, lock_key.clone(), None),
            ],
            writes: vec![
                put(QUEUE_NAMESPACE, key, Some(new_bytes.clone()), None),
                put(
                    LOCK_NAMESPACE,
                    lock_key,
                    Some(key.as_bytes().to_vec()),
                    Some(self.lease),
                ),
            ],
        };
        if !self.storage.commit(&txn)? {
            return Ok(None);
        }
        Ok(Some(Claimed {
            key: key.into(),
            item: held,
            stored: new_bytes,
        }))
    }

    fn checkpoint(
        &self,
        claimed: &mut Claimed,
        update: &mut dyn FnMut(&mut QueueItem),
    ) -> Result<bool, StorageError> {
        let mut item = claimed.item.clone();
        update(&mut item);
        item.lease = Some(Lease {
            owner: self.owner.clone(),
            until_ms: self.now().saturating_add(self.lease_ms()),
        });
        let bytes = encode(&item)?;
        let txn = Transaction {
            conditions: self.held(claimed),
            writes: vec![
                put(
                    QUEUE_NAMESPACE,
                    claimed.key.clone(),
                    Some(bytes.clone()),
                    None,
                ),
                self.lock_write(claimed, true),
            ],
        };
        if !self.storage.commit(&txn)? {
            return Ok(false);
        }
        claimed.item = item;
        claimed.stored = bytes;
        Ok(true)
    }

    fn complete(&self, claimed: &Claimed) -> Result<bool, StorageError> {
        let txn = Transaction {
            conditions: self.held(claimed),
            writes: vec![
                put(QUEUE_NAMESPACE, claimed.key.clone(), None, None),
                self.lock_write(claimed, false),
            ],
        };
        self.storage.commit(&txn)
    }

    fn release(
        &self,
        claimed: &Claimed,
        delay: Duration,
        error: Option<String>,
    ) -> Result<bool, StorageError> {
        let mut item = claimed.item.clone();
        item.lease = None;
        item.not_before_ms = self
            .now()
            .saturating_add(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        if let Some(error) = error {
            item.attempts = item.attempts.saturating_add(1);
            item.last_error = Some(error);
        }
        let txn = Transaction {
            conditions: self.held(claimed),
            writes: vec![
                put(
                    QUEUE_NAMESPACE,
                    claimed.key.clone(),
                    Some(encode(&item)?),
                    None,
                ),
                self.lock_write(claimed, false),
            ],
        };
        self.storage.commit(&txn)
    }

    fn dead_letter(&self, claimed: &Claimed, reason: String) -> Result<bool, StorageError> {
        let mut item = claimed.item.clone();
        item.lease = None;
        item.last_error = Some(reason);
        let txn = Transaction {
            conditions: self.held(claimed),
            writes: vec![
                put(QUEUE_NAMESPACE, claimed.key.clone(), None, None),
                put(
                    DEAD_NAMESPACE,
                    claimed.key.clone(),
                    Some(encode(&item)?),
                    Some(DEAD_TTL),
                ),
                self.lock_write(claimed, false),
            ],
        };
        self.storage.commit(&txn)
    }

    fn dead_letters(&self) -> Result<Vec<(String, QueueItem)>, StorageError> {
        let mut out = vec![];
        for key in self.storage.keys(DEAD_NAMESPACE)? {
            if let Some(bytes) = self.storage.get(DEAD_NAMESPACE, &key)?
                && let Ok(item) = decode(&bytes)
            {
                out.push((key, item));
            }
        }
        Ok(out)
    }
}

/// A write of a transaction (`None` deletes).
fn put(
    namespace: &str,
    key: impl Into<String>,
    value: Option<Vec<u8>>,
    ttl: Option<Duration>,
) -> Write {
    Write {
        namespace: namespace.into(),
        key: key.into(),
        value,
        ttl,
    }
}

/// A condition of a transaction (`None`: absent).
fn require(namespace: &str, key: impl Into<String>, expected: Option<Vec<u8>>) -> Condition {
    Condition {
        namespace: namespace.into(),
        key: key.into(),
        expected,
    }
}

fn encode(item: &QueueItem) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(item)
        .map_err(|e| StorageError::Unavailable(format!("cannot encode a queue entry: {e}")))
}

fn decode(bytes: &[u8]) -> Result<QueueItem, StorageError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StorageError::Unavailable(format!("unreadable queue entry: {e}")))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::queue::serial_of_key;
    use vcs_host::storage::MemoryStorage;

    use crate::job::{JobAction, RepositoryRecord, RunKind};

    fn job(pr: u64) -> Job {
        Job {
            integration: "contoso".into(),
            delivery_id: Some(format!("d{pr}")),
            action: JobAction::Run {
                kind: RunKind::Plan,
                workspaces: vec!["prod".into()],
            },
            repository: RepositoryRecord {
                id: "r1".into(),
                name: "repo".into(),
                project: Some("p".into()),
                project_id: None,
                organization: "contoso".into(),
                web_url: None,
                clone_url: None,
                api_url: "https://dev.azure.com/contoso/".into(),
                default_branch: None,
            },
            pull_request: pr,
            head_sha: Some("abc".into()),
            source_branch: None,
            trigger: "test".into(),
        }
    }

    fn clock() -> (Arc<AtomicU64>, Clock) {
        let now = Arc::new(AtomicU64::new(1_000_000));
        let read = now.clone();
        (now, Arc::new(move || read.load(Ordering::SeqCst)))
    }

    fn enqueue(queue: &KvQueue, storage: &Arc<dyn TxStore>, jobs: &[Job]) -> Vec<String> {
        let mut txn = Transaction::default();
        let keys = queue.enqueue_into(&mut txn, jobs).unwrap();
        assert!(storage.commit(&txn).unwrap());
        keys
    }

    #[test]
    fn claim_checkpoint_complete() {
        let storage: Arc<dyn TxStore> = Arc::new(MemoryStorage::new());
        let (_now, clock) = clock();
        let queue = KvQueue::with_clock(storage.clone(), Duration::from_secs(60), clock);
        let keys = enqueue(&queue, &storage, &[job(1), job(2)]);
        assert_eq!(queue.pending().unwrap(), keys);
        assert_eq!(serial_of_key(&keys[0]), serial_hash("contoso/r1/1"));

        let mut claimed = queue.claim(&keys[0]).unwrap().expect("free");
        assert!(queue.claim(&keys[0]).unwrap().is_none(), "already leased");
        assert!(
            queue
                .checkpoint(&mut claimed, &mut |item| item.stage = Stage::Ran)
                .unwrap()
        );
        assert_eq!(queue.read(&keys[0]).unwrap().unwrap().stage, Stage::Ran);
        assert!(queue.complete(&claimed).unwrap());
        assert_eq!(queue.pending().unwrap(), vec![keys[1].clone()]);
    }

    #[test]
    fn one_job_per_pull_request_at_a_time() {
        let storage: Arc<dyn TxStore> = Arc::new(MemoryStorage::new());
        let (_now, clock) = clock();
        let queue = KvQueue::with_clock(storage.clone(), Duration::from_secs(60), clock);
        let keys = enqueue(&queue, &storage, &[job(7), job(7)]);
        let first = queue.claim(&keys[0]).unwrap().expect("free");
        assert!(
            queue.claim(&keys[1]).unwrap().is_none(),
            "same pull request is locked"
        );
        assert!(queue.complete(&first).unwrap());
        assert!(queue.claim(&keys[1]).unwrap().is_some());
    }

    #[test]
    fn an_expired_lease_is_taken_over_and_the_old_holder_is_fenced_off() {
        let (now, clock) = clock();
        let storage_with_clock: Arc<dyn TxStore> =
            Arc::new(MemoryStorage::new().with_clock(clock.clone()));
        let a = KvQueue::with_clock(
            storage_with_clock.clone(),
            Duration::from_secs(60),
            clock.clone(),
        );
        let b = KvQueue::with_clock(storage_with_clock.clone(), Duration::from_secs(60), clock);
        let keys = enqueue(&a, &storage_with_clock, &[job(3)]);
        let mut held_by_a = a.claim(&keys[0]).unwrap().expect("free");
        assert!(b.claim(&keys[0]).unwrap().is_none());
        now.fetch_add(61_000, Ordering::SeqCst);
        let held_by_b = b.claim(&keys[0]).unwrap().expect("lease ran out");
        assert!(
            !a.checkpoint(&mut held_by_a, &mut |i| i.stage = Stage::Ran)
                .unwrap(),
            "the old holder must not write any more"
        );
        assert!(!a.complete(&held_by_a).unwrap());
        assert!(b.complete(&held_by_b).unwrap());
        assert!(a.pending().unwrap().is_empty());
    }

    #[test]
    fn release_backs_off_and_dead_letters_keep_the_reason() {
        let (now, clock) = clock();
        let storage: Arc<dyn TxStore> = Arc::new(MemoryStorage::new().with_clock(clock.clone()));
        let queue = KvQueue::with_clock(storage.clone(), Duration::from_secs(60), clock);
        let keys = enqueue(&queue, &storage, &[job(4)]);
        let claimed = queue.claim(&keys[0]).unwrap().unwrap();
        assert!(
            queue
                .release(&claimed, Duration::from_secs(5), Some("429".into()))
                .unwrap()
        );
        assert!(queue.claim(&keys[0]).unwrap().is_none(), "backing off");
        now.fetch_add(5_000, Ordering::SeqCst);
        let claimed = queue.claim(&keys[0]).unwrap().expect("backoff over");
        assert_eq!(claimed.item.attempts, 1);
        assert!(queue.dead_letter(&claimed, "gave up".into()).unwrap());
        assert!(queue.pending().unwrap().is_empty());
        let dead = queue.dead_letters().unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].1.last_error.as_deref(), Some("gave up"));
    }

    #[test]
    fn an_unreadable_entry_is_moved_aside() {
        let storage: Arc<dyn TxStore> = Arc::new(MemoryStorage::new());
        storage
            .set(QUEUE_NAMESPACE, "0.x.0.y", b"not json", None)
            .unwrap();
        let queue = KvQueue::new(storage.clone(), Duration::from_secs(60));
        assert!(queue.claim("0.x.0.y").unwrap().is_none());
        assert!(queue.pending().unwrap().is_empty());
        assert_eq!(storage.keys(DEAD_NAMESPACE).unwrap(), vec!["0.x.0.y"]);
    }
}
