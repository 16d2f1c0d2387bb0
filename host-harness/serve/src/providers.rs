//! Which provider serves an integration: the integration names one (`[vcs] provider`, a
//! component of that name in the components folder, or `[vcs] component`, a file), or
//! gets the server's default. Each provider is loaded once and shared.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use vcs_host::{IntegrationConfig, Provider, Runtime};

/// The providers a server may serve, by name.
pub struct ProviderSet {
    runtime: Arc<Runtime>,
    by_name: Mutex<BTreeMap<String, Provider>>,
    components_dir: Option<PathBuf>,
    default: Option<String>,
}

impl std::fmt::Debug for ProviderSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSet")
            .field("loaded", &self.names())
            .field("components_dir", &self.components_dir)
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl ProviderSet {
    /// No providers yet, loaded by `runtime` when named.
    pub fn new(runtime: Arc<Runtime>) -> Self {
        Self {
            runtime,
            by_name: Mutex::new(BTreeMap::new()),
            components_dir: None,
            default: None,
        }
    }

    /// Serve `provider` under its name ([`vcs_host::ProviderInfo::name`]).
    #[must_use]
    pub fn with_provider(self, provider: Provider) -> Self {
        if let Ok(mut by_name) = self.by_name.lock() {
            by_name.insert(provider.info().name.clone(), provider);
        }
        self
    }

    /// Load providers named by integrations from `dir` (`NAME.wasm` with its manifest
    /// `NAME.toml`).
    #[must_use]
    pub fn with_components_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.components_dir = Some(dir.into());
        self
    }

    /// The provider of integrations that name none.
    #[must_use]
    pub fn with_default(mut self, name: impl Into<String>) -> Self {
        self.default = Some(name.into());
        self
    }

    /// The runtime the providers run in.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Names of the providers loaded so far.
    pub fn names(&self) -> Vec<String> {
        self.by_name
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The provider of `config`'s integration, loading it on first use.
    pub fn resolve(&self, config: &IntegrationConfig) -> anyhow::Result<Provider> {
        if let Some(path) = &config.vcs.component {
            return self
                .runtime
                .load(path)
                .with_context(|| format!("integration {}: [vcs] component", config.id));
        }
        let mut by_name = self
            .by_name
            .lock()
            .map_err(|_| anyhow::anyhow!("the provider table's lock is poisoned"))?;
        let name = match (&config.vcs.provider, &self.default) {
            (Some(name), _) | (None, Some(name)) => name.clone(),
            (None, None) if by_name.len() == 1 => {
                by_name.keys().next().cloned().unwrap_or_default()
            }
            (None, None) => bail!(
                "integration {} names no provider: set [vcs] provider (one of: {})",
                config.id,
                self.known(&by_name).join(", ")
            ),
        };
        if let Some(provider) = by_name.get(&name) {
            return Ok(provider.clone());
        }
        let Some(dir) = &self.components_dir else {
            bail!(
                "integration {} names the provider {name:?}, which this server does not have \
                 (it has: {})",
                config.id,
                self.known(&by_name).join(", ")
            );
        };
        let path = dir.join(format!("{name}.wasm"));
        if !path.is_file() {
            bail!(
                "integration {} names the provider {name:?}, but {} has no {name}.wasm \
                 (it has: {})",
                config.id,
                dir.display(),
                self.known(&by_name).join(", ")
            );
        }
        let provider = self
            .runtime
            .load(&path)
            .with_context(|| format!("integration {}: provider {name:?}", config.id))?;
        by_name.insert(name, provider.clone());
        Ok(provider)
    }

    /// Loaded providers and those of the components folder, for messages.
    fn known(&self, by_name: &BTreeMap<String, Provider>) -> Vec<String> {
        let mut names: Vec<String> = by_name.keys().cloned().collect();
        if let Some(entries) = self
            .components_dir
            .as_ref()
            .and_then(|d| std::fs::read_dir(d).ok())
        {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "wasm")
                    && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
                    && !names.iter().any(|n| n == stem)
                {
                    names.push(stem.to_owned());
                }
            }
        }
        if names.is_empty() {
            names.push("none".into());
        }
        names
    }
}
