//! Per-call resource limits: memory, time, wasm stack, and budgets for host calls.

use std::time::Duration;

use serde::Deserialize;

/// Limits applied to every call into a provider. Each call gets a fresh instance, so a
/// limit bounds one delivery or one request, never the provider's lifetime.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest linear memory one instance may grow to, in bytes.
    pub max_memory_bytes: usize,
    /// Largest table one instance may grow to, in elements.
    pub max_table_elements: usize,
    /// Wall-clock budget of one call, host calls (HTTP) included, in milliseconds.
    pub call_timeout_ms: u64,
    /// How often the engine's epoch advances, in milliseconds: the granularity of
    /// the deadline.
    pub epoch_tick_ms: u64,
    /// Largest wasm stack, in bytes; deeper recursion traps as a stack overflow.
    pub max_wasm_stack_bytes: usize,
    /// Outbound HTTP requests one call may make.
    pub max_http_requests_per_call: u32,
    /// Log lines one call may emit; the rest are counted and dropped.
    pub max_log_lines_per_call: u32,
    /// Longest log message kept, in bytes (longer ones are cut).
    pub max_log_line_bytes: usize,
    /// Guest standard error kept for error reports (panic messages), in bytes.
    pub max_guest_stderr_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_memory_bytes: 64 << 20,
            max_table_elements: 20_000,
            call_timeout_ms: 60_000,
            epoch_tick_ms: 10,
            max_wasm_stack_bytes: 512 << 10,
            max_http_requests_per_call: 100,
            max_log_lines_per_call: 500,
            max_log_line_bytes: 4 << 10,
            max_guest_stderr_bytes: 16 << 10,
        }
    }
}

impl Limits {
    /// The call budget as a duration.
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }

    /// The epoch tick as a duration (at least 1 ms).
    pub fn epoch_tick(&self) -> Duration {
        Duration::from_millis(self.epoch_tick_ms.max(1))
    }

    /// How many epoch ticks make up the call budget (at least one).
    pub fn deadline_ticks(&self) -> u64 {
        self.call_timeout_ms
            .div_ceil(self.epoch_tick_ms.max(1))
            .max(1)
    }
}

/// The store's resource limiter: caps memory and tables and remembers whether it had
/// to refuse growth, so an out-of-memory trap is reported as such.
#[derive(Debug)]
pub struct CallLimiter {
    max_memory_bytes: usize,
    max_table_elements: usize,
    /// Set when a memory growth was refused.
    pub memory_refused: bool,
}

impl CallLimiter {
    /// A limiter enforcing `limits`.
    pub fn new(limits: &Limits) -> Self {
        Self {
            max_memory_bytes: limits.max_memory_bytes,
            max_table_elements: limits.max_table_elements,
            memory_refused: false,
        }
    }
}

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Refuse (memory.grow returns -1) rather than trap here: the guest may cope, and
        // if it aborts the flag tells the host why.
        if desired > self.max_memory_bytes {
            self.memory_refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_table_elements)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_ticks_round_up() {
        let limits = Limits {
            call_timeout_ms: 25,
            epoch_tick_ms: 10,
            ..Limits::default()
        };
        assert_eq!(limits.deadline_ticks(), 3);
        let zero = Limits {
            call_timeout_ms: 0,
            epoch_tick_ms: 0,
            ..Limits::default()
        };
        assert_eq!(zero.deadline_ticks(), 1);
        assert_eq!(zero.epoch_tick(), Duration::from_millis(1));
    }

    #[test]
    fn limits_parse_from_toml_with_defaults() {
        let limits: Limits = toml::from_str("max_memory_bytes = 1048576").unwrap();
        assert_eq!(limits.max_memory_bytes, 1 << 20);
        assert_eq!(limits.call_timeout_ms, Limits::default().call_timeout_ms);
        assert!(toml::from_str::<Limits>("max_memroy = 1").is_err());
    }
}
