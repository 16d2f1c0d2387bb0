//! One integration's view of the shared backend, with the host's limits enforced.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::{KvStore, StorageError};

/// Limits on what a guest may store, from the host config's `[host.storage]` section.
///
/// ```toml
/// [host.storage]
/// max_key_bytes = 512
/// max_value_bytes = 1048576
/// max_ttl_seconds = 34560000   # 400 days: pull requests and their comments can live long
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageLimits {
    /// Longest key, in UTF-8 bytes. Keys are also refused when empty.
    pub max_key_bytes: usize,
    /// Largest value, in bytes.
    pub max_value_bytes: usize,
    /// Longest TTL a guest may ask for (`max_ttl_seconds` in config); longer ones are
    /// refused, not shortened, so a guest never believes data lives longer than it will.
    #[serde(rename = "max_ttl_seconds", deserialize_with = "duration_from_seconds")]
    pub max_ttl: Duration,
}

impl Default for StorageLimits {
    fn default() -> Self {
        Self {
            max_key_bytes: 512,
            max_value_bytes: 1 << 20,
            // Longer than the provider keeps any state (a year for sticky comments), so
            // long-lived pull requests keep theirs; shorter TTLs are the provider's call.
            max_ttl: Duration::from_secs(400 * 24 * 60 * 60),
        }
    }
}

/// Config durations are whole seconds, as in the WIT's `ttl-seconds`.
fn duration_from_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_secs)
}

/// The view a single plugin call gets: one namespace, limits enforced. This is what the
/// host's WIT `storage` import is wired to.
///
/// The namespace is fixed by the host when the call starts (the integration id); the
/// guest only names keys inside it, so no key can reach another integration's data.
#[derive(Debug, Clone)]
pub struct NamespacedStorage {
    backend: Arc<dyn KvStore>,
    namespace: String,
    limits: StorageLimits,
}

impl NamespacedStorage {
    /// A view of `namespace` in `backend`. An empty namespace is refused
    /// (`Unavailable`: it is a host misconfiguration, not something the guest did), since
    /// it would make a shared bucket that every unnamed integration falls into.
    pub fn new(
        backend: Arc<dyn KvStore>,
        namespace: impl Into<String>,
        limits: StorageLimits,
    ) -> Result<Self, StorageError> {
        let namespace = namespace.into();
        if namespace.is_empty() {
            return Err(StorageError::Unavailable(
                "storage namespace (the integration id) must not be empty".into(),
            ));
        }
        Ok(Self {
            backend,
            namespace,
            limits,
        })
    }

    /// The namespace this view reads and writes.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The limits this view enforces.
    pub fn limits(&self) -> &StorageLimits {
        &self.limits
    }

    /// Read a value; `None` when absent or expired.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.check_key(key)?;
        self.backend.get(&self.namespace, key)
    }

    /// Write a value, replacing any previous one; with `ttl_seconds` it expires that many
    /// seconds from now (`Some(0)`: at once, so the write acts as a delete).
    pub fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl_seconds: Option<u32>,
    ) -> Result<(), StorageError> {
        self.check_key(key)?;
        self.check_value(value)?;
        let ttl = self.check_ttl(ttl_seconds)?;
        self.backend.set(&self.namespace, key, value, ttl)
    }

    /// Remove a value; `true` when a live one was present.
    pub fn delete(&self, key: &str) -> Result<bool, StorageError> {
        self.check_key(key)?;
        self.backend.delete(&self.namespace, key)
    }

    /// Atomically replace the value at `key` with `new` (delete when `None`) if the
    /// current value (`None`: absent or expired) equals `expected`; `true` when swapped.
    /// `ttl_seconds` applies to `new`.
    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_seconds: Option<u32>,
    ) -> Result<bool, StorageError> {
        self.check_key(key)?;
        if let Some(value) = new {
            self.check_value(value)?;
        }
        let ttl = self.check_ttl(ttl_seconds)?;
        self.backend
            .compare_and_swap(&self.namespace, key, expected, new, ttl)
    }

    /// Keys are checked on reads too: a key the guest could never have written is a bug
    /// in the guest, better reported than silently answered with "absent".
    fn check_key(&self, key: &str) -> Result<(), StorageError> {
        if key.is_empty() {
            return Err(StorageError::TooLarge(format!(
                "storage key is empty; keys must be 1 to {} bytes",
                self.limits.max_key_bytes
            )));
        }
        if key.len() > self.limits.max_key_bytes {
            return Err(StorageError::TooLarge(format!(
                "storage key is {} bytes; the limit is {}",
                key.len(),
                self.limits.max_key_bytes
            )));
        }
        Ok(())
    }

    fn check_value(&self, value: &[u8]) -> Result<(), StorageError> {
        if value.len() > self.limits.max_value_bytes {
            return Err(StorageError::TooLarge(format!(
                "storage value is {} bytes; the limit is {}",
                value.len(),
                self.limits.max_value_bytes
            )));
        }
        Ok(())
    }

    fn check_ttl(&self, ttl_seconds: Option<u32>) -> Result<Option<Duration>, StorageError> {
        let Some(seconds) = ttl_seconds else {
            return Ok(None);
        };
        let ttl = Duration::from_secs(u64::from(seconds));
        if ttl > self.limits.max_ttl {
            return Err(StorageError::TooLarge(format!(
                "storage ttl is {seconds} seconds; the limit is {}",
                self.limits.max_ttl.as_secs()
            )));
        }
        Ok(Some(ttl))
    }
}
