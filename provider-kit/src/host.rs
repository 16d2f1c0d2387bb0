//! The seam between a provider's logic and the host's capabilities.
//!
//! Everything a provider does to the outside world goes through [`Host`]. Inside the
//! component it is [`ComponentHost`], which calls the WIT imports; native callers use
//! [`MemoryHost`] (benchmarks, fuzzing) or the scripted `fake::FakeHost` of the
//! `test-support` feature (unit tests), so the logic runs without a WebAssembly runtime.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use crate::bindings::vcs::provider::{http, log, storage};
use crate::types::ProviderError;

pub use http::{HttpError, Method, Request, Response};
pub use log::Level;
pub use storage::StorageError;

/// The capabilities the host grants a provider.
pub trait Host {
    /// Send one HTTP request through the host's egress policy.
    fn send(&self, request: &Request) -> Result<Response, HttpError>;
    /// Read a value of this integration's store.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Write a value, optionally expiring.
    fn set(&self, key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), StorageError>;
    /// Delete a value; `true` when one was present.
    fn delete(&self, key: &str) -> Result<bool, StorageError>;
    /// Atomic compare-and-swap; `true` when the swap happened.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_seconds: Option<u32>,
    ) -> Result<bool, StorageError>;
    /// Emit a structured log line (never with secrets).
    fn log(&self, level: Level, message: &str, fields: &[(String, String)]);

    /// The current time, in seconds since the Unix epoch. `wasm32-wasip2`'s std reads
    /// `wasi:clocks/wall-clock`, which the host grants with the std imports.
    fn now_unix(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            // A clock before 1970 is broken; 0 makes every pending state look expired.
            .unwrap_or(0)
    }

    /// Fill `buf` with cryptographically secure random bytes (OAuth `state`, PKCE
    /// verifier). On `wasm32-wasip2` `getrandom` calls `wasi:random/random`.
    fn random_bytes(&self, buf: &mut [u8]) -> Result<(), ProviderError> {
        getrandom::fill(buf).map_err(|error| {
            ProviderError::Unsupported(format!(
                "this host gives the provider no secure random numbers ({error}); grant \
                 wasi:random to the component"
            ))
        })
    }
}

/// The host as seen from inside the component: the WIT imports.
#[derive(Debug, Default, Clone, Copy)]
pub struct ComponentHost;

impl Host for ComponentHost {
    fn send(&self, request: &Request) -> Result<Response, HttpError> {
        http::send(request)
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        storage::get(key)
    }
    fn set(&self, key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), StorageError> {
        storage::set(key, value, ttl_seconds)
    }
    fn delete(&self, key: &str) -> Result<bool, StorageError> {
        storage::delete(key)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_seconds: Option<u32>,
    ) -> Result<bool, StorageError> {
        storage::compare_and_swap(key, expected, new, ttl_seconds)
    }
    fn log(&self, level: Level, message: &str, fields: &[(String, String)]) {
        log::emit(level, message, fields)
    }
}

/// An in-memory host for native callers that run a provider's logic without a
/// WebAssembly runtime: `host-harness bench` (the native baseline) and the bounded fuzz
/// tests. Storage is a `BTreeMap` (TTLs are accepted and not enforced), HTTP answers a
/// typed `no-recording` error, log lines are counted and dropped. Not `Sync`: one per
/// thread.
#[derive(Debug, Default)]
pub struct MemoryHost {
    store: RefCell<BTreeMap<String, Vec<u8>>>,
    logs: Cell<u64>,
}

impl MemoryHost {
    /// An empty host.
    pub fn new() -> Self {
        Self::default()
    }
    /// How many keys are stored.
    pub fn len(&self) -> usize {
        self.store.borrow().len()
    }
    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.store.borrow().is_empty()
    }
    /// A stored value.
    pub fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.store.borrow().get(key).cloned()
    }
    /// How many log lines were emitted.
    pub fn log_lines(&self) -> u64 {
        self.logs.get()
    }
    /// Forget every stored value.
    pub fn clear(&self) {
        self.store.borrow_mut().clear();
    }
}

impl Host for MemoryHost {
    fn send(&self, request: &Request) -> Result<Response, HttpError> {
        Err(HttpError::NoRecording(request.url.clone()))
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.store.borrow().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8], _ttl: Option<u32>) -> Result<(), StorageError> {
        self.store
            .borrow_mut()
            .insert(key.to_string(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<bool, StorageError> {
        Ok(self.store.borrow_mut().remove(key).is_some())
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        _ttl: Option<u32>,
    ) -> Result<bool, StorageError> {
        let mut store = self.store.borrow_mut();
        if store.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(value) => {
                store.insert(key.to_string(), value.to_vec());
            }
            None => {
                store.remove(key);
            }
        }
        Ok(true)
    }
    fn log(&self, _level: Level, _message: &str, _fields: &[(String, String)]) {
        self.logs.set(self.logs.get() + 1);
    }
}
