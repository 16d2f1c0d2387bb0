//! `serve`'s config file: `[serve]`, `[storage]`, `[executor]`, `[host]` and the
//! `[[integration]]` files it serves.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use vcs_host::{HostConfig, IntegrationConfig};
use vcs_host_store::StoreConfig;

use crate::executor::{Executor, RecordedExecutor};

/// `[serve]`: the server's own settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeSettings {
    /// Address to listen on.
    pub listen: String,
    /// Jobs run at once by this process.
    pub workers: usize,
    /// Deliveries processed at once (each holds a blocking thread and an instance).
    pub max_in_flight: usize,
    /// How long a claimed job stays ours without a checkpoint; after it, another
    /// process (or this one restarted) takes the job over.
    pub lease_seconds: u64,
    /// At shutdown, how long running jobs may take before they are left to their leases.
    pub shutdown_grace_seconds: u64,
    /// How often the queue is looked at when nothing woke the dispatcher (work queued
    /// by other processes, backoffs running out).
    pub poll_interval_ms: u64,
    /// First retry delay of a failed job; doubles per attempt, up to 5 minutes.
    pub retry_base_ms: u64,
    /// Attempts before a job is given up and moved to the dead letters.
    pub max_attempts: u32,
    /// Where integrations' `[vcs] provider = "NAME"` is found: `NAME.wasm` (with its
    /// manifest `NAME.toml`) in this folder.
    pub components_dir: Option<PathBuf>,
    /// The provider of integrations that name none.
    pub default_provider: Option<String>,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            workers: 4,
            max_in_flight: 64,
            lease_seconds: 60,
            shutdown_grace_seconds: 20,
            poll_interval_ms: 250,
            retry_base_ms: 2_000,
            max_attempts: 8,
            components_dir: None,
            default_provider: None,
        }
    }
}

/// `[executor]`: what answers run requests. Only recorded reports ship with the host;
/// a platform embedding the library passes its own [`Executor`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorConfig {
    /// A recorded plan report (JSON as `host-harness render` reads); built-in if unset.
    pub plan_report: Option<PathBuf>,
    /// A recorded apply report; built-in if unset.
    pub apply_report: Option<PathBuf>,
    /// How long each recorded run takes, in milliseconds (0: at once).
    pub delay_ms: u64,
}

/// One `[[integration]]` entry: an integration config file (see README).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationEntry {
    /// The integration's TOML file, relative to the serve config.
    pub file: PathBuf,
}

/// `serve`'s config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Server settings.
    #[serde(default)]
    pub serve: ServeSettings,
    /// Storage backend.
    #[serde(default)]
    pub storage: StoreConfig,
    /// Executor.
    #[serde(default)]
    pub executor: ExecutorConfig,
    /// Host limits for every call (the integrations' own `[host.http]` egress applies
    /// to their calls).
    #[serde(default)]
    pub host: HostConfig,
    /// The integrations served.
    #[serde(default, rename = "integration")]
    pub integrations: Vec<IntegrationEntry>,
}

impl ServeConfig {
    /// Read a serve config; relative paths in it are resolved against its directory.
    pub fn load(path: &Path) -> anyhow::Result<(Self, Vec<IntegrationConfig>)> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut config: Self =
            toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        if let StoreConfig::Redb { path } = &mut config.storage {
            *path = resolve(path);
        }
        for report in [
            &mut config.executor.plan_report,
            &mut config.executor.apply_report,
        ]
        .into_iter()
        .flatten()
        {
            *report = resolve(report);
        }
        if let Some(dir) = &mut config.serve.components_dir {
            *dir = resolve(dir);
        }
        if config.integrations.is_empty() {
            bail!("{} lists no [[integration]]", path.display());
        }
        let integrations = config
            .integrations
            .iter()
            .map(|entry| IntegrationConfig::load(&resolve(&entry.file)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok((config, integrations))
    }

    /// The executor the config asks for.
    pub fn executor(&self) -> anyhow::Result<Arc<dyn Executor>> {
        let recorded = match (&self.executor.plan_report, &self.executor.apply_report) {
            (None, None) => RecordedExecutor::builtin()?,
            (Some(plan), Some(apply)) => RecordedExecutor::from_files(plan, apply)?,
            _ => bail!("[executor] needs both plan_report and apply_report, or neither"),
        };
        Ok(Arc::new(
            recorded.with_delay(Duration::from_millis(self.executor.delay_ms)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_loads_with_paths_resolved() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/serve");
        let (config, integrations) = ServeConfig::load(&dir.join("serve.toml")).unwrap();
        assert_eq!(config.serve.listen, "127.0.0.1:8080");
        assert_eq!(config.serve.workers, 4);
        assert_eq!(
            config.storage,
            StoreConfig::Redb {
                path: dir.join("state/host.redb")
            }
        );
        assert_eq!(integrations.len(), 1);
        assert_eq!(integrations[0].id, "contoso-terraform");
        assert!(config.executor().is_ok());
    }

    #[test]
    fn bad_serve_configs_are_refused_with_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| {
            let path = dir.path().join("serve.toml");
            std::fs::write(&path, text).unwrap();
            ServeConfig::load(&path)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        assert!(write("[serve]\nworkers = 2\n").contains("lists no [[integration]]"));
        assert!(write("[serve]\nworkerz = 2\n").contains("is not valid"));
        assert!(write("[[integration]]\nfile = \"missing.toml\"\n").contains("missing.toml"));
        let postgres = StoreConfig::Postgres {
            url: None,
            url_env: None,
        };
        assert!(
            postgres
                .open()
                .err()
                .unwrap()
                .to_string()
                .contains("needs url or url_env")
        );
        let unset = StoreConfig::Postgres {
            url: None,
            url_env: Some("HOST_HARNESS_SURELY_UNSET_VARIABLE".into()),
        };
        assert!(unset.open().err().unwrap().to_string().contains("not set"));
        let half = ServeConfig {
            executor: ExecutorConfig {
                plan_report: Some("plan.json".into()),
                ..ExecutorConfig::default()
            },
            ..ServeConfig::default()
        };
        assert!(half.executor().err().unwrap().to_string().contains("both"));
    }
}
