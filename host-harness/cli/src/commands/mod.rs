//! The verbs, one module each, over what they share: loading the integration's config,
//! the provider and a call context (a [`Session`]).

pub mod auth;
pub mod bench;
pub mod demo;
pub mod inspect;
pub mod render;
pub mod replay;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use vcs_host::http::{HttpBackend, LiveHttp, Recorder, Replayer};
use vcs_host::storage::{KvStore, MemoryStorage};
use vcs_host::{CallContext, HostConfig, IntegrationConfig, Provider, Runtime};
use vcs_host_store::RedbStorage;

use crate::Common;

/// The provider of a verb run without `--component` or a config naming one.
pub const DEFAULT_PROVIDER: &str = "azure-devops";

/// Precompiled components are cached per user, like wasmtime's own cache.
pub fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|dir| dir.join("vcs-provider-host"))
}

/// The component a verb loads: `--component`, else the config's `[vcs] component`, else
/// its `[vcs] provider` among this workspace's providers, else the default provider.
pub fn component_path(given: Option<&Path>, config: &IntegrationConfig) -> PathBuf {
    if let Some(path) = given.or(config.vcs.component.as_deref()) {
        return path.to_path_buf();
    }
    let name = config.vcs.provider.as_deref().unwrap_or(DEFAULT_PROVIDER);
    Path::new(vcs_guests::COMPONENTS_DIR).join(format!("{name}.wasm"))
}

/// Without a config file, a minimal integration: unauthenticated deliveries, no token.
const DEFAULT_CONFIG: &str = "[vcs]\nbase_url = \"https://vcs.example/\"\n";

/// The integration's config (`--config`), or the minimal one; its warnings on stderr.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<IntegrationConfig> {
    let config = match path {
        Some(path) => IntegrationConfig::load(path)?,
        None => IntegrationConfig::parse(DEFAULT_CONFIG)?,
    };
    for warning in &config.warnings {
        eprintln!("host-harness: warning: {warning}");
    }
    Ok(config)
}

/// The host settings of the integration, with the per-user compiled-code cache.
pub fn host_config(config: &IntegrationConfig) -> HostConfig {
    let mut host = config.host.clone();
    if host.cache_dir.is_none() {
        host.cache_dir = default_cache_dir();
    }
    host
}

/// A loaded provider and the call context for one integration.
pub struct Session {
    _runtime: Runtime,
    /// The provider.
    pub provider: Provider,
    /// The context of every call.
    pub context: CallContext,
    recorder: Option<(Arc<Recorder>, PathBuf)>,
}

impl Session {
    /// Load the provider of `config` (or `common.component`) with the store and HTTP
    /// `common` asks for.
    pub fn open(common: &Common, config: &IntegrationConfig) -> anyhow::Result<Self> {
        let runtime = Runtime::new(host_config(config))?;
        let provider = runtime.load(&component_path(common.component.as_deref(), config))?;
        let storage: Arc<dyn KvStore> = match &common.state {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create state directory {}", dir.display()))?;
                Arc::new(RedbStorage::open(&dir.join("state.redb"))?)
            }
            None => Arc::new(MemoryStorage::default()),
        };
        let secrets = config.secrets();
        let mut recorder = None;
        let http: Arc<dyn HttpBackend> = if let Some(cassette) = &common.cassette {
            Arc::new(Replayer::from_file(cassette, secrets)?)
        } else {
            let egress = config.egress(&config.provider_info(provider.info()));
            let live: Arc<dyn HttpBackend> = Arc::new(LiveHttp::new(egress));
            match &common.record {
                Some(path) => {
                    let rec = Arc::new(Recorder::new(live, secrets));
                    recorder = Some((rec.clone(), path.clone()));
                    rec
                }
                None => live,
            }
        };
        Ok(Self {
            _runtime: runtime,
            provider,
            context: CallContext::new(config.id.clone(), http, storage),
            recorder,
        })
    }

    /// Save the recording, when one was asked for.
    pub fn finish(&self) -> anyhow::Result<()> {
        if let Some((recorder, path)) = &self.recorder {
            recorder
                .save(path)
                .with_context(|| format!("cannot write cassette {}", path.display()))?;
        }
        Ok(())
    }
}
