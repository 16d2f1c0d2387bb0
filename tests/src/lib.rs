//! Shared helpers of the integration tests: the paths of the guest components that
//! `build.rs` builds, and one process-wide runtime so the components compile once.

use std::sync::{Arc, OnceLock};

use host_harness::http::{HttpBackend, HttpConfig, LiveHttp};
use host_harness::limits::Limits;
use host_harness::storage::{MemoryStorage, Storage};
use host_harness::{CallContext, HostConfig, Provider, Runtime};

/// Paths of the adversarial guest components.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// The Azure DevOps provider built by host-harness' build script.
pub const AZURE_DEVOPS: &str = host_harness::AZURE_DEVOPS_PROVIDER_WASM;

/// Limits tight enough that misbehaving guests are stopped quickly in tests.
pub fn test_limits() -> Limits {
    Limits {
        call_timeout_ms: 1_500,
        max_memory_bytes: 32 << 20,
        ..Limits::default()
    }
}

/// One runtime per test binary, with test limits and the compiled-code cache under
/// `target/`, so each component is compiled once per machine.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let cache =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/component-cache");
        Runtime::new(HostConfig {
            limits: test_limits(),
            cache_dir: Some(cache),
            ..HostConfig::default()
        })
        .expect("runtime")
    })
}

/// Load a component with the shared runtime.
pub fn load(path: &str) -> Provider {
    runtime()
        .load(std::path::Path::new(path))
        .unwrap_or_else(|e| panic!("load {path}: {e}"))
}

/// A call context with in-memory storage and the default (production) egress policy.
pub fn context(integration: &str) -> CallContext {
    context_with(
        integration,
        Arc::new(MemoryStorage::default()),
        HttpConfig::default(),
    )
}

/// A call context over the given storage and HTTP policy.
pub fn context_with(integration: &str, storage: Arc<dyn Storage>, http: HttpConfig) -> CallContext {
    let http: Arc<dyn HttpBackend> = Arc::new(LiveHttp::new(http));
    CallContext {
        integration: integration.to_string(),
        http,
        storage,
    }
}
