//! One call into a provider: a fresh store and instance, limits, and the imports'
//! host side.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::Provider;
use crate::bindings::VcsProvider;
use crate::bindings::vcs::provider::{
    http as wit_http, log as wit_log, storage as wit_storage, types as wit_types,
};
use crate::http::{HttpBackend, HttpError, Method, OutboundRequest};
use crate::limits::{CallLimiter, Limits};
use crate::storage::{NamespacedStorage, Storage, StorageError};

/// What a call may use: which integration it is for, and the capability backends.
#[derive(Clone)]
pub struct CallContext {
    /// The integration the call is for; its storage namespace.
    pub integration: String,
    /// Outbound HTTP (live, recording or replaying).
    pub http: Arc<dyn HttpBackend>,
    /// The shared store; the call sees only its integration's namespace.
    pub storage: Arc<dyn Storage>,
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("integration", &self.integration)
            .finish_non_exhaustive()
    }
}

/// Why a call did not return. The instance is dropped in every case.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The call ran past its wall-clock budget.
    #[error("the provider ran longer than its {budget_ms} ms budget and was stopped")]
    Deadline {
        /// The budget.
        budget_ms: u64,
    },
    /// The guest needed more memory than allowed.
    #[error(
        "the provider tried to grow its memory beyond {limit_bytes} bytes and was stopped{guest_output}"
    )]
    MemoryLimit {
        /// The limit.
        limit_bytes: usize,
        /// What the guest printed to stderr, if anything.
        guest_output: String,
    },
    /// The guest recursed past its stack bound.
    #[error("the provider overflowed its {limit_bytes}-byte wasm stack and was stopped")]
    StackOverflow {
        /// The bound.
        limit_bytes: usize,
    },
    /// Any other trap, such as a panic.
    #[error("the provider trapped: {message}{guest_output}")]
    Trap {
        /// wasmtime's description.
        message: String,
        /// What the guest printed to stderr (panic messages), if anything.
        guest_output: String,
    },
    /// The instance could not be created.
    #[error("cannot instantiate the provider: {0}")]
    Instantiate(String),
    /// The namespace or another call argument was unusable.
    #[error("invalid call: {0}")]
    Invalid(String),
}

/// The store data of one call.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MeteredLimiter,
    stderr: MemoryOutputPipe,
    http: Arc<dyn HttpBackend>,
    storage: NamespacedStorage,
    integration: String,
    limits: Limits,
    http_requests: u32,
    log_lines: u32,
}

impl CallState {
    fn new(
        context: &CallContext,
        limits: &Limits,
        storage_limits: &crate::storage::StorageLimits,
    ) -> Result<Self, CallError> {
        let stderr = MemoryOutputPipe::new(limits.max_guest_stderr_bytes);
        // The empty context: no arguments, no environment, no preopened directories,
        // no sockets, no name lookups. Only stderr is kept, to report panics.
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let storage = NamespacedStorage::new(
            context.storage.clone(),
            context.integration.clone(),
            storage_limits.clone(),
        )
        .map_err(|e| CallError::Invalid(e.to_string()))?;
        Ok(Self {
            wasi,
            table: ResourceTable::new(),
            limiter: MeteredLimiter {
                inner: CallLimiter::new(limits),
                peak_memory_bytes: 0,
            },
            stderr,
            http: context.http.clone(),
            storage,
            integration: context.integration.clone(),
            limits: limits.clone(),
            http_requests: 0,
            log_lines: 0,
        })
    }

    /// The largest linear memory the instance has had so far, in bytes (its initial
    /// size included): what one instance of the provider costs.
    pub fn peak_memory_bytes(&self) -> usize {
        self.limiter.peak_memory_bytes
    }

    fn guest_output(&self) -> String {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        if text.is_empty() {
            String::new()
        } else {
            format!(" (guest stderr: {text})")
        }
    }
}

/// The call's limiter, which also remembers the peak memory granted.
struct MeteredLimiter {
    inner: CallLimiter,
    peak_memory_bytes: usize,
}

impl wasmtime::ResourceLimiter for MeteredLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let granted = self.inner.memory_growing(current, desired, maximum)?;
        if granted {
            self.peak_memory_bytes = self.peak_memory_bytes.max(desired);
        }
        Ok(granted)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl Provider {
    /// Run `f` against a fresh instance of the provider, under the host's limits. The
    /// store and instance are dropped afterwards, whatever happened.
    pub fn call<R>(
        &self,
        context: &CallContext,
        f: impl FnOnce(&VcsProvider, &mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let config = &self.inner.config;
        let limits = &config.limits;
        let state = CallState::new(context, limits, &config.storage)?;
        let mut store = Store::new(self.inner.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(limits.deadline_ticks());
        store.epoch_deadline_trap();

        let started = Instant::now();
        let result = self
            .inner
            .pre
            .instantiate(&mut store)
            .map_err(|e| (true, e))
            .and_then(|instance| f(&instance, &mut store).map_err(|e| (false, e)));
        let elapsed = started.elapsed();
        match result {
            Ok(value) => {
                tracing::debug!(integration = %context.integration, ?elapsed, "provider call finished");
                Ok(value)
            }
            Err((instantiating, error)) => {
                let error = classify(&error, store.data(), limits, instantiating);
                tracing::warn!(integration = %context.integration, ?elapsed, "provider call failed: {error}");
                Err(error)
            }
        }
    }
}

fn classify(
    error: &wasmtime::Error,
    state: &CallState,
    limits: &Limits,
    instantiating: bool,
) -> CallError {
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => CallError::Deadline {
            budget_ms: limits.call_timeout_ms,
        },
        Some(wasmtime::Trap::StackOverflow) => CallError::StackOverflow {
            limit_bytes: limits.max_wasm_stack_bytes,
        },
        _ if state.limiter.inner.memory_refused => CallError::MemoryLimit {
            limit_bytes: limits.max_memory_bytes,
            guest_output: state.guest_output(),
        },
        Some(trap) => CallError::Trap {
            message: trap.to_string(),
            guest_output: state.guest_output(),
        },
        None if instantiating => CallError::Instantiate(format!("{error:#}")),
        None => CallError::Trap {
            message: format!("{error:#}"),
            guest_output: state.guest_output(),
        },
    }
}

impl wit_types::Host for CallState {}

impl wit_http::Host for CallState {
    fn send(
        &mut self,
        request: wit_http::Request,
    ) -> Result<wit_http::Response, wit_http::HttpError> {
        self.http_requests += 1;
        if self.http_requests > self.limits.max_http_requests_per_call {
            return Err(wit_http::HttpError::Denied(format!(
                "more than {} HTTP requests in one call",
                self.limits.max_http_requests_per_call
            )));
        }
        let outbound = OutboundRequest {
            method: match request.method {
                wit_http::Method::Get => Method::Get,
                wit_http::Method::Head => Method::Head,
                wit_http::Method::Post => Method::Post,
                wit_http::Method::Put => Method::Put,
                wit_http::Method::Patch => Method::Patch,
                wit_http::Method::Delete => Method::Delete,
            },
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout: request
                .timeout_ms
                .map(|ms| std::time::Duration::from_millis(u64::from(ms))),
        };
        match self.http.send(&outbound) {
            Ok(response) => Ok(wit_http::Response {
                status: response.status,
                headers: response.headers,
                body: response.body,
            }),
            Err(error) => {
                tracing::debug!(integration = %self.integration, url = %outbound.url, "outbound request failed: {error}");
                Err(match error {
                    HttpError::Denied(m) => wit_http::HttpError::Denied(m),
                    HttpError::InvalidRequest(m) => wit_http::HttpError::InvalidRequest(m),
                    HttpError::Timeout(m) => wit_http::HttpError::Timeout(m),
                    HttpError::TooLarge(m) => wit_http::HttpError::TooLarge(m),
                    HttpError::Connection(m) => wit_http::HttpError::Connection(m),
                    HttpError::NoRecording(m) => wit_http::HttpError::NoRecording(m),
                })
            }
        }
    }
}

fn storage_error(error: StorageError) -> wit_storage::StorageError {
    match error {
        StorageError::TooLarge(m) => wit_storage::StorageError::TooLarge(m),
        StorageError::Unavailable(m) => wit_storage::StorageError::Unavailable(m),
    }
}

impl wit_storage::Host for CallState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, wit_storage::StorageError> {
        self.storage.get(&key).map_err(storage_error)
    }

    fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u32>,
    ) -> Result<(), wit_storage::StorageError> {
        self.storage
            .set(&key, &value, ttl_seconds)
            .map_err(storage_error)
    }

    fn delete(&mut self, key: String) -> Result<bool, wit_storage::StorageError> {
        self.storage.delete(&key).map_err(storage_error)
    }

    fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        ttl_seconds: Option<u32>,
    ) -> Result<bool, wit_storage::StorageError> {
        self.storage
            .compare_and_swap(&key, expected.as_deref(), new.as_deref(), ttl_seconds)
            .map_err(storage_error)
    }
}

impl wit_log::Host for CallState {
    fn emit(&mut self, level: wit_log::Level, message: String, fields: Vec<(String, String)>) {
        self.log_lines += 1;
        if self.log_lines > self.limits.max_log_lines_per_call {
            if self.log_lines == self.limits.max_log_lines_per_call + 1 {
                tracing::warn!(integration = %self.integration, "provider log budget exhausted; further lines dropped");
            }
            return;
        }
        let message = clip(&message, self.limits.max_log_line_bytes);
        let fields: String = fields
            .iter()
            .map(|(k, v)| {
                // Providers must not log secrets; the host does not rely on it.
                if looks_secret(k) {
                    format!(" {k}=[redacted]")
                } else {
                    format!(" {k}={}", clip(v, 256))
                }
            })
            .collect();
        let integration = self.integration.as_str();
        match level {
            wit_log::Level::Trace => {
                tracing::trace!(target: "provider", integration, "{message}{fields}")
            }
            wit_log::Level::Debug => {
                tracing::debug!(target: "provider", integration, "{message}{fields}")
            }
            wit_log::Level::Info => {
                tracing::info!(target: "provider", integration, "{message}{fields}")
            }
            wit_log::Level::Warn => {
                tracing::warn!(target: "provider", integration, "{message}{fields}")
            }
            wit_log::Level::Error => {
                tracing::error!(target: "provider", integration, "{message}{fields}")
            }
        }
    }
}

/// Field names whose values the host never writes to its logs.
fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "authorization",
        "cookie",
        "credential",
        "code_verifier",
    ]
    .iter()
    .any(|word| name.contains(word))
}

fn clip(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut cut = max_bytes;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_log_fields_are_recognized() {
        for name in [
            "access_token",
            "Authorization",
            "client_secret",
            "PASSWORD",
            "code_verifier",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["url", "retry_after", "key", "delivery_id"] {
            assert!(!looks_secret(name), "{name}");
        }
    }

    #[test]
    fn clipping_respects_char_boundaries() {
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("héllo", 3), "hé");
        assert_eq!(clip("abc", 10), "abc");
    }
}
