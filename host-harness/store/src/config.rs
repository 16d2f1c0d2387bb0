//! `[storage]`: which backend holds the providers' state and the host's queue.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use crate::{MemoryStorage, StorageError, TxStore};

/// `[storage]`: where provider state and the queue live.
///
/// ```toml
/// [storage]
/// backend = "redb"            # "memory", "redb" (the default) or "postgres"
/// path = "state/host.redb"    # redb
/// # url_env = "DATABASE_URL"  # postgres: the URL, or the variable holding it (url)
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "backend", rename_all = "snake_case", deny_unknown_fields)]
pub enum StoreConfig {
    /// In process memory: lost at exit (tests, trying things out).
    Memory,
    /// One redb file: the zero-setup durable default for a single host process.
    Redb {
        /// The database file (created if missing).
        path: PathBuf,
    },
    /// PostgreSQL: for several host processes sharing state.
    Postgres {
        /// Connection URL (prefer `url_env`).
        url: Option<String>,
        /// Environment variable holding the URL.
        url_env: Option<String>,
    },
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self::Redb {
            path: PathBuf::from("host-state.redb"),
        }
    }
}

impl StoreConfig {
    /// Open the configured backend.
    pub fn open(&self) -> Result<Arc<dyn TxStore>, StorageError> {
        Ok(match self {
            Self::Memory => Arc::new(MemoryStorage::new()),
            Self::Redb { path } => Self::open_redb(path)?,
            Self::Postgres { url, url_env } => {
                let url = match (url, url_env) {
                    (_, Some(var)) => std::env::var(var).map_err(|_| {
                        StorageError::Unavailable(format!(
                            "[storage] url_env names {var}, which is not set"
                        ))
                    })?,
                    (Some(url), None) => url.clone(),
                    (None, None) => {
                        return Err(StorageError::Unavailable(
                            "[storage] backend = \"postgres\" needs url or url_env".into(),
                        ));
                    }
                };
                Self::open_postgres(&url)?
            }
        })
    }

    #[cfg(feature = "redb")]
    fn open_redb(path: &std::path::Path) -> Result<Arc<dyn TxStore>, StorageError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StorageError::Unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        Ok(Arc::new(crate::RedbStorage::open(path)?))
    }

    #[cfg(not(feature = "redb"))]
    fn open_redb(_: &std::path::Path) -> Result<Arc<dyn TxStore>, StorageError> {
        Err(StorageError::Unavailable(
            "this build has no redb backend (feature \"redb\")".into(),
        ))
    }

    #[cfg(feature = "postgres")]
    fn open_postgres(url: &str) -> Result<Arc<dyn TxStore>, StorageError> {
        Ok(Arc::new(crate::PostgresStorage::connect(url)?))
    }

    #[cfg(not(feature = "postgres"))]
    fn open_postgres(_: &str) -> Result<Arc<dyn TxStore>, StorageError> {
        Err(StorageError::Unavailable(
            "this build has no PostgreSQL backend (feature \"postgres\")".into(),
        ))
    }
}
