//! One call into a provider: a fresh store and instance, limits, and the imports'
//! host side.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasmtime::Store;

use super::Provider;
use crate::capability::http::{CallHttp, HttpBackend};
use crate::capability::log::CallLog;
use crate::capability::storage::{KvStore, NamespacedStorage, StorageLimits};
use crate::capability::wasi::WasiState;
use crate::limits::{CallLimiter, Limits};
use crate::wit::Instance;

/// What a call may use: which integration it is for, and the capability backends.
#[derive(Clone)]
pub struct CallContext {
    /// The integration the call is for; its storage namespace.
    pub integration: String,
    /// Outbound HTTP (live, recording or replaying).
    pub http: Arc<dyn HttpBackend>,
    /// The shared store; the call sees only its integration's namespace.
    pub storage: Arc<dyn KvStore>,
    meter: Option<Arc<CallMeter>>,
}

impl CallContext {
    /// The capabilities of calls for `integration`.
    pub fn new(
        integration: impl Into<String>,
        http: Arc<dyn HttpBackend>,
        storage: Arc<dyn KvStore>,
    ) -> Self {
        Self {
            integration: integration.into(),
            http,
            storage,
            meter: None,
        }
    }

    /// The same context with another store (a staged view of it, say).
    #[must_use]
    pub fn with_storage(&self, storage: Arc<dyn KvStore>) -> Self {
        Self {
            storage,
            ..self.clone()
        }
    }

    /// The same context, recording each call's cost into `meter`.
    #[must_use]
    pub fn metered(mut self, meter: Arc<CallMeter>) -> Self {
        self.meter = Some(meter);
        self
    }
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("integration", &self.integration)
            .finish_non_exhaustive()
    }
}

/// What calls cost, accumulated over the calls of a [`CallContext::metered`] context:
/// for benchmarks and capacity planning.
#[derive(Debug, Default)]
pub struct CallMeter {
    calls: AtomicU64,
    instantiate_nanos: AtomicU64,
    peak_memory_bytes: AtomicUsize,
}

impl CallMeter {
    /// Calls measured.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Time spent creating instances, over all calls.
    pub fn instantiation_time(&self) -> Duration {
        Duration::from_nanos(self.instantiate_nanos.load(Ordering::Relaxed))
    }

    /// The largest linear memory any measured instance had (its initial size included):
    /// what one instance of the provider costs.
    pub fn peak_memory_bytes(&self) -> usize {
        self.peak_memory_bytes.load(Ordering::Relaxed)
    }

    fn record(&self, instantiate: Duration, peak_memory_bytes: usize) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(instantiate.as_nanos()).unwrap_or(u64::MAX);
        self.instantiate_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.peak_memory_bytes
            .fetch_max(peak_memory_bytes, Ordering::Relaxed);
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

/// The store data of one call: WASI's empty context and the capabilities' call state.
pub struct CallState {
    pub(crate) wasi: WasiState,
    limiter: MeteredLimiter,
    pub(crate) http: CallHttp,
    pub(crate) storage: NamespacedStorage,
    pub(crate) log: CallLog,
}

impl CallState {
    fn new(
        context: &CallContext,
        limits: &Limits,
        storage_limits: &StorageLimits,
    ) -> Result<Self, CallError> {
        let storage = NamespacedStorage::new(
            context.storage.clone(),
            context.integration.clone(),
            storage_limits.clone(),
        )
        .map_err(|e| CallError::Invalid(e.to_string()))?;
        Ok(Self {
            // The empty context: no arguments, environment, directories or sockets; only
            // stderr is kept, to report panics.
            wasi: WasiState::new(limits.call_timeout(), limits.max_guest_stderr_bytes),
            limiter: MeteredLimiter {
                inner: CallLimiter::new(limits),
                peak_memory_bytes: 0,
            },
            http: CallHttp::new(
                context.http.clone(),
                &context.integration,
                limits.max_http_requests_per_call,
            ),
            storage,
            log: CallLog::new(&context.integration, limits),
        })
    }

    fn guest_output(&self) -> String {
        let text = String::from_utf8_lossy(self.wasi.stderr());
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

impl Provider {
    /// Run `f` against a fresh instance of the provider, under the host's limits. The
    /// store and instance are dropped afterwards, whatever happened. The typed methods
    /// (in `wit/`) are the only callers: they pick the contract version's functions.
    pub(crate) fn call<R>(
        &self,
        context: &CallContext,
        f: impl FnOnce(&Instance, &mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let config = &self.inner.config;
        let limits = &config.limits;
        let state = CallState::new(context, limits, &config.storage)?;
        let mut store = Store::new(self.inner.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(limits.deadline_ticks());
        store.epoch_deadline_trap();

        let started = Instant::now();
        let instance = self.inner.pre.instantiate(&mut store);
        let instantiated = started.elapsed();
        let result = instance
            .map_err(|e| (true, e))
            .and_then(|instance| f(&instance, &mut store).map_err(|e| (false, e)));
        let elapsed = started.elapsed();
        if let Some(meter) = &context.meter {
            meter.record(instantiated, store.data().limiter.peak_memory_bytes);
        }
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

    /// Create an instance and drop it, calling nothing: whether the provider can be
    /// instantiated under these limits, and (with a metered context) what it costs.
    pub fn instantiate(&self, context: &CallContext) -> Result<(), CallError> {
        self.call(context, |_, _| Ok(()))
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
