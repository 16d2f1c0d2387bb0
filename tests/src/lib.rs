//! Shared helpers of the integration tests: the paths of the guest components (the
//! providers from the guests crate, the hostile ones from `build.rs`), and one
//! process-wide runtime so the components compile once.
// Test helpers: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::{Arc, OnceLock};

use vcs_host::Limits;
use vcs_host::http::{HttpBackend, HttpConfig, LiveHttp};
use vcs_host::storage::{KvStore, MemoryStorage};
use vcs_host::{CallContext, HostConfig, Provider, Runtime};

pub mod serve_story;

/// Paths of the adversarial guest components.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// The Azure DevOps provider built by the guests crate.
pub const AZURE_DEVOPS: &str = vcs_guests::AZURE_DEVOPS_PROVIDER;

/// The GitHub provider built by the guests crate.
pub const GITHUB: &str = vcs_guests::GITHUB_PROVIDER;

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

/// The production egress policy of the Azure DevOps provider: the hosts its manifest
/// names, nothing else.
pub fn azure_devops_egress() -> HttpConfig {
    let info = vcs_host::ProviderInfo::for_component_file(std::path::Path::new(AZURE_DEVOPS))
        .expect("the Azure DevOps provider's manifest");
    HttpConfig {
        allow_hosts: info.default_allow_hosts,
        ..HttpConfig::default()
    }
}

/// A call context with in-memory storage and the Azure DevOps provider's production
/// egress policy.
pub fn context(integration: &str) -> CallContext {
    context_with(
        integration,
        Arc::new(MemoryStorage::default()),
        azure_devops_egress(),
    )
}

/// A call context over the given storage and HTTP policy.
pub fn context_with(integration: &str, storage: Arc<dyn KvStore>, http: HttpConfig) -> CallContext {
    let http: Arc<dyn HttpBackend> = Arc::new(LiveHttp::new(http));
    CallContext::new(integration, http, storage)
}

/// A delivery pipeline with its call context that answers contract lines, as the
/// `webhook` verb prints them.
pub struct LinePipeline {
    /// The pipeline.
    pub pipeline: vcs_host::DeliveryPipeline,
    /// The context of its calls.
    pub context: CallContext,
}

impl LinePipeline {
    /// The pipeline of `config` through `provider`, calling with `context`.
    pub fn new(
        provider: &Provider,
        config: &vcs_host::IntegrationConfig,
        context: CallContext,
    ) -> Self {
        Self {
            pipeline: vcs_host::DeliveryPipeline::new(provider, config).expect("pipeline"),
            context,
        }
    }

    /// One delivery, as its contract line.
    pub fn process(&self, delivery: &vcs_host::RecordedDelivery) -> serde_json::Value {
        vcs_host::json::outcome_line(&self.pipeline.process(&self.context, delivery))
    }
}
