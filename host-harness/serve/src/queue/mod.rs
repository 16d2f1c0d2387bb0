//! The durable work queue behind [`JobQueue`]: jobs accepted with a delivery, claimed
//! by one worker at a time under a lease, checkpointed stage by stage, retried with a
//! backoff, and given up into the dead letters.
//!
//! [`KvQueue`] keeps the queue in the same [`vcs_host_store::TxStore`] as the providers'
//! state; a backend with a queue of its own plugs in behind the same trait.

mod kv;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vcs_host::json::RunReportJson;
use vcs_host::storage::StorageError;
use vcs_host_store::Transaction;

pub use self::kv::{DEAD_NAMESPACE, KvQueue, LOCK_NAMESPACE, QUEUE_NAMESPACE};
use crate::job::Job;

/// How far a job got; a resumed job continues from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Nothing done yet.
    Queued,
    /// The executor returned its report (stored on the entry); not yet published.
    Ran,
    /// The report is on the pull request; final statuses remain.
    Published,
}

/// Who holds an entry, until when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    /// The holding process (`Queue::owner`).
    pub owner: String,
    /// Unix ms after which anyone may take the entry.
    pub until_ms: u64,
}

/// One queued job and its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    /// The work.
    pub job: Job,
    /// When it was accepted (unix ms).
    pub enqueued_at_ms: u64,
    /// Attempts so far that ended in a retryable failure.
    pub attempts: u32,
    /// Not to be taken before this time (unix ms): backoff after a failure.
    pub not_before_ms: u64,
    /// The current holder, if any.
    pub lease: Option<Lease>,
    /// Progress.
    pub stage: Stage,
    /// The executor's report once it ran.
    pub report: Option<RunReportJson>,
    /// The last failure, for people.
    pub last_error: Option<String>,
}

/// An entry this process holds: its key and the exact bytes stored, which every later
/// write of ours must still find (otherwise someone took it over).
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The entry's key.
    pub key: String,
    /// The entry as we hold it.
    pub item: QueueItem,
    pub(crate) stored: Vec<u8>,
}

/// The operations `serve` needs of a queue shared by every process on the same store.
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    /// This process's owner id, as written in leases.
    fn owner(&self) -> &str;

    /// Add what enqueues `jobs` to `transaction` (committed with the delivery's own
    /// writes); returns the new entries' keys.
    fn enqueue_into(
        &self,
        transaction: &mut Transaction,
        jobs: &[Job],
    ) -> Result<Vec<String>, StorageError>;

    /// Keys of every queued entry, oldest first.
    fn pending(&self) -> Result<Vec<String>, StorageError>;

    /// Read one entry.
    fn read(&self, key: &str) -> Result<Option<QueueItem>, StorageError>;

    /// Take an entry if it is free: not leased by anyone (or the lease ran out), past
    /// its backoff, and its pull request's lock free. `None` when it is not ours to take.
    fn claim(&self, key: &str) -> Result<Option<Claimed>, StorageError>;

    /// Record progress and renew the lease. `false`: the entry is no longer ours (our
    /// lease ran out and another process took it); stop working on it.
    fn checkpoint(
        &self,
        claimed: &mut Claimed,
        update: &mut dyn FnMut(&mut QueueItem),
    ) -> Result<bool, StorageError>;

    /// The job is done: remove the entry and free its pull request.
    fn complete(&self, claimed: &Claimed) -> Result<bool, StorageError>;

    /// Put the entry back for later (after `delay`), keeping its progress; `error`
    /// counts as a failed attempt when given. Used for retries and at shutdown.
    fn release(
        &self,
        claimed: &Claimed,
        delay: Duration,
        error: Option<String>,
    ) -> Result<bool, StorageError>;

    /// Give up on the entry: move it to the dead letters with the reason.
    fn dead_letter(&self, claimed: &Claimed, reason: String) -> Result<bool, StorageError>;

    /// Entries given up on, oldest first.
    fn dead_letters(&self) -> Result<Vec<(String, QueueItem)>, StorageError>;
}

/// The 16-hex-digit hash of a job's serial key, carried in its queue key so the
/// dispatcher can keep a pull request's jobs in order without reading every entry.
pub fn serial_hash(serial_key: &str) -> String {
    let digest = Sha256::digest(serial_key.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The serial hash part of a queue key.
pub fn serial_of_key(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}
