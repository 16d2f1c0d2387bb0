//! The wasmtime engine, component loading and per-call instances.
//!
//! One [`Runtime`] per process owns the `Engine` (epoch interruption on, a bounded wasm
//! stack) and one `Linker` per contract version. [`Runtime::load`] checks a component
//! against the world of the version it exports, compiles it once (reusing a precompiled
//! artifact from the cache when the engine is compatible) and keeps an `InstancePre`; each
//! of [`Provider`]'s typed methods then runs in a fresh `Store` and instance with its own
//! limits, so a trap, a runaway loop or a memory bomb ends that call only.

mod call;
mod load;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde::Deserialize;
use wasmtime::{Config, Engine, InstanceAllocationStrategy};

pub use self::call::{CallContext, CallError, CallMeter, CallState};
pub use self::load::{ComponentInfo, ImportInfo, InterfaceName, LoadError, PACKAGE, check_world};
use crate::capability::http::HttpConfig;
use crate::capability::storage::StorageLimits;
use crate::info::ProviderInfo;
use crate::limits::Limits;
use crate::wit::{ContractVersion, Linkers, ProviderPre};

/// Host-wide settings: limits, egress policy, storage limits, compiled-code cache.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostConfig {
    /// Per-call resource limits.
    pub limits: Limits,
    /// Outbound HTTP policy and limits.
    pub http: HttpConfig,
    /// Storage key and value limits.
    pub storage: StorageLimits,
    /// Where precompiled components are cached; `None` compiles in memory every start.
    pub cache_dir: Option<PathBuf>,
    /// Instance allocation: on demand (the default) or from a pre-reserved pool.
    pub pooling: PoolingConfig,
}

/// `[host.pooling]`: wasmtime's pooling instance allocator. With it, instantiation
/// reuses pre-reserved memory and table slots instead of mapping fresh ones (see the
/// README's Performance section for the measured difference). Off by default: the pool
/// reserves address space up front (about 4 GiB plus guard per slot, virtual only) and
/// caps how many instances run at once, which suits a server sized for it rather than
/// every embedding.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolingConfig {
    /// Use the pooling allocator.
    pub enabled: bool,
    /// How many provider instances may be alive at once (one per call in flight); a call
    /// beyond that fails to instantiate rather than waiting.
    pub max_instances: u32,
    /// Bytes of each linear memory kept resident (zeroed in place, not unmapped) when a
    /// slot is returned: cheaper reuse for the first pages a call touches.
    pub keep_resident_bytes: usize,
    /// How many returned slots are decommitted in one batch (fewer `madvise` calls and
    /// TLB shootdowns; a slot waiting in the batch is not reused until it is flushed).
    pub decommit_batch_size: usize,
}

impl Default for PoolingConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            max_instances: 128,
            keep_resident_bytes: 0,
            decommit_batch_size: 8,
        }
    }
}

/// Core instances, memories and tables one component may hold in the pool: the Rust
/// `wasm32-wasip2` components are a main module plus small adapter shims.
const POOL_CORE_INSTANCES_PER_COMPONENT: u32 = 16;
const POOL_TABLES_PER_COMPONENT: u32 = 8;
const POOL_MEMORIES_PER_COMPONENT: u32 = 2;

/// The process-wide engine and linkers. Cheap to share behind an `Arc`.
pub struct Runtime {
    engine: Engine,
    linkers: Linkers,
    config: HostConfig,
    loaded: Mutex<HashMap<[u8; 32], Provider>>,
    ticker: Option<EpochTicker>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Build the engine and linker for `config`, and start the epoch ticker.
    pub fn new(config: HostConfig) -> anyhow::Result<Self> {
        let mut wasm = Config::new();
        wasm.wasm_component_model(true);
        wasm.epoch_interruption(true);
        wasm.max_wasm_stack(config.limits.max_wasm_stack_bytes);
        wasm.cranelift_opt_level(wasmtime::OptLevel::Speed);
        if config.pooling.enabled {
            wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_strategy(
                &config,
            )));
        }
        let engine = Engine::new(&wasm)?;
        // Interfaces outside a version's granted set are refused at load time by
        // `check_world`, before any linker sees the component.
        let linkers = Linkers::new(&engine)?;
        let ticker = EpochTicker::start(engine.clone(), config.limits.epoch_tick());
        Ok(Self {
            engine,
            linkers,
            config,
            loaded: Mutex::new(HashMap::new()),
            ticker: Some(ticker),
        })
    }

    /// The engine (one per process).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The host configuration this runtime enforces.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Load a provider component: check it against the world of its contract version,
    /// compile it (or reuse the cached artifact) and prepare its instantiation. What the
    /// host knows about it ([`ProviderInfo`]) comes from the provider manifest beside the
    /// file, when there is one. Loading the same bytes again in this process returns the
    /// prepared provider.
    pub fn load(&self, path: &Path) -> Result<Provider, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let info = ProviderInfo::for_component_file(path).map_err(|e| LoadError::Rejected {
            name: path.display().to_string(),
            reason: format!("{e:#}"),
        })?;
        Ok(self
            .load_bytes(&bytes, &path.display().to_string())?
            .with_info(info))
    }

    /// Like [`Runtime::load`], from bytes; `name` is used in messages, and the provider
    /// info is what is assumed of a provider of that name ([`ProviderInfo::assumed`]).
    pub fn load_bytes(&self, bytes: &[u8], name: &str) -> Result<Provider, LoadError> {
        let digest = load::digest(bytes);
        if let Some(provider) = self
            .loaded
            .lock()
            .ok()
            .and_then(|m| m.get(&digest).cloned())
        {
            return Ok(provider);
        }
        let component = load::compile(
            &self.engine,
            name,
            bytes,
            &digest,
            self.config.cache_dir.as_deref(),
        )?;
        let mut component_info = check_world(&self.engine, &component, name)?;
        component_info.size_bytes = bytes.len();
        let version = component_info.contract.unwrap_or(ContractVersion::LATEST);
        let pre = self.linkers.prepare(version, &component)?;
        let provider = Provider {
            inner: Arc::new(ProviderInner {
                pre,
                component: component_info,
                config: self.config.clone(),
            }),
            info: Arc::new(ProviderInfo::assumed(name)),
        };
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(digest, provider.clone());
        }
        Ok(provider)
    }

    /// Describe a component without requiring that it be accepted: what `inspect` shows.
    pub fn inspect(
        &self,
        path: &Path,
    ) -> Result<(ComponentInfo, Result<(), LoadError>), LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path.display().to_string();
        let digest = load::digest(&bytes);
        let component = load::compile(
            &self.engine,
            &name,
            &bytes,
            &digest,
            self.config.cache_dir.as_deref(),
        )?;
        let info = load::describe(&self.engine, &component, bytes.len());
        let verdict = check_world(&self.engine, &component, &name).and_then(|checked| {
            let version = checked.contract.unwrap_or(ContractVersion::LATEST);
            self.linkers.prepare(version, &component).map(drop)
        });
        Ok((info, verdict))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.stop();
        }
    }
}

/// A loaded provider: cheap to clone, shareable across threads.
///
/// Its exports are typed methods (`handle_delivery`, `publish`, …: see the `wit` module),
/// each run in a fresh instance under the host's limits.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<ProviderInner>,
    info: Arc<ProviderInfo>,
}

struct ProviderInner {
    pre: ProviderPre,
    component: ComponentInfo,
    config: HostConfig,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("info", &self.info)
            .field("component", &self.inner.component)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// What the host knows about the provider: name, limits, hosts, auth methods.
    pub fn info(&self) -> &ProviderInfo {
        &self.info
    }

    /// What the component is: package, exports, imports, size.
    pub fn component(&self) -> &ComponentInfo {
        &self.inner.component
    }

    /// The contract version the component implements.
    pub fn contract_version(&self) -> ContractVersion {
        self.inner
            .component
            .contract
            .unwrap_or(ContractVersion::LATEST)
    }

    /// The same compiled provider, described by `info`.
    #[must_use]
    pub fn with_info(&self, info: ProviderInfo) -> Self {
        Self {
            inner: self.inner.clone(),
            info: Arc::new(info),
        }
    }
}

fn pooling_strategy(config: &HostConfig) -> wasmtime::PoolingAllocationConfig {
    let pooling = &config.pooling;
    let instances = pooling.max_instances.max(1);
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(POOL_CORE_INSTANCES_PER_COMPONENT))
        .total_memories(instances.saturating_mul(POOL_MEMORIES_PER_COMPONENT))
        .total_tables(instances.saturating_mul(POOL_TABLES_PER_COMPONENT))
        .max_core_instances_per_component(POOL_CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(POOL_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(POOL_TABLES_PER_COMPONENT)
        // The limiter refuses growth past the call's limit; the slot must hold at least that.
        .max_memory_size(config.limits.max_memory_bytes)
        .table_elements(config.limits.max_table_elements)
        .linear_memory_keep_resident(pooling.keep_resident_bytes)
        .decommit_batch_size(pooling.decommit_batch_size.max(1))
        .table_keep_resident(64 << 10);
    pool
}

/// Advances the engine's epoch on a fixed tick so deadlines fire.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: std::time::Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })
            .unwrap_or_else(|e| {
                // Without a ticker deadlines never fire; a host that cannot start a thread
                // cannot serve anyway.
                tracing::error!("cannot start the epoch ticker thread: {e}");
                std::thread::spawn(|| {})
            });
        Self { stop, handle }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.handle.join();
    }
}
