//! Hosts for native tests (the `test-support` feature): [`FakeHost`], scripted, and
//! [`MemoryHost`] (re-exported from [`crate::host`], where native callers outside tests
//! find it too).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};

pub use crate::host::MemoryHost;
use crate::host::{Host, HttpError, Level, Request, Response, StorageError};
use crate::types::ProviderError;

/// A scripted host for native tests: canned HTTP answers in order, an in-memory store,
/// and a record of every request and log line. Time and randomness are deterministic:
/// `clock` is what [`Host::now_unix`] answers (advance it to expire things), and random
/// bytes come from a counter, so two runs of a test see the same values.
#[derive(Default)]
pub struct FakeHost {
    /// The answers [`Host::send`] gives, in order; past the last, `no-recording`.
    pub answers: RefCell<VecDeque<Result<Response, HttpError>>>,
    /// Every request sent, in order.
    pub requests: RefCell<Vec<Request>>,
    /// The key-value store.
    pub store: RefCell<BTreeMap<String, Vec<u8>>>,
    /// The TTL each stored key was last written with (the fake never expires keys).
    pub ttls: RefCell<BTreeMap<String, Option<u32>>>,
    /// Every log line, as `"{level:?} {message} {fields:?}"`.
    pub logs: RefCell<Vec<String>>,
    /// Seconds since the Unix epoch.
    pub clock: Cell<u64>,
    /// How many random bytes were handed out so far.
    pub random_counter: Cell<u64>,
}

impl FakeHost {
    /// Queue an answer with a status, headers and body.
    pub fn answer(&self, status: u16, headers: &[(&str, &str)], body: &str) -> &Self {
        self.answers.borrow_mut().push_back(Ok(Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }));
        self
    }
    /// Queue a JSON answer.
    pub fn json(&self, status: u16, body: &str) -> &Self {
        self.answer(
            status,
            &[("content-type", "application/json; charset=utf-8")],
            body,
        )
    }
    /// Queue a transport failure.
    pub fn fail(&self, error: HttpError) -> &Self {
        self.answers.borrow_mut().push_back(Err(error));
        self
    }
    /// Move the clock forward.
    pub fn advance(&self, seconds: u64) {
        self.clock.set(self.clock.get() + seconds);
    }
}

impl Host for FakeHost {
    fn send(&self, request: &Request) -> Result<Response, HttpError> {
        self.requests.borrow_mut().push(request.clone());
        self.answers
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| Err(HttpError::NoRecording(request.url.clone())))
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.store.borrow().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8], ttl: Option<u32>) -> Result<(), StorageError> {
        self.store
            .borrow_mut()
            .insert(key.to_string(), value.to_vec());
        self.ttls.borrow_mut().insert(key.to_string(), ttl);
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
        ttl: Option<u32>,
    ) -> Result<bool, StorageError> {
        let mut store = self.store.borrow_mut();
        if store.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(value) => {
                store.insert(key.to_string(), value.to_vec());
                self.ttls.borrow_mut().insert(key.to_string(), ttl);
            }
            None => {
                store.remove(key);
            }
        }
        Ok(true)
    }
    fn log(&self, level: Level, message: &str, fields: &[(String, String)]) {
        self.logs
            .borrow_mut()
            .push(format!("{level:?} {message} {fields:?}"));
    }
    fn now_unix(&self) -> u64 {
        self.clock.get()
    }
    fn random_bytes(&self, buf: &mut [u8]) -> Result<(), ProviderError> {
        // A counter through a multiplicative hash: deterministic, yet successive
        // bytes differ, so two states or verifiers never collide in a test.
        for byte in buf.iter_mut() {
            let n = self.random_counter.get() + 1;
            self.random_counter.set(n);
            *byte = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8;
        }
        Ok(())
    }
}
