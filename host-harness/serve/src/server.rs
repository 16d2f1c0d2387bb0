//! The server itself: its integrations and providers, its shared state, starting and
//! stopping.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use vcs_host::http::{HttpBackend, LiveHttp};
use vcs_host::storage::KvStore;
use vcs_host::{CallContext, DeliveryPipeline, IntegrationConfig, Provider, ProviderInfo, Runtime};
use vcs_host_store::TxStore;

use crate::activity::{Activity, Observer};
use crate::config::{ServeConfig, ServeSettings};
use crate::executor::Executor;
use crate::metrics::{CountingHttp, Metrics};
use crate::providers::ProviderSet;
use crate::queue::{JobQueue, KvQueue};

/// One served integration, ready for calls.
pub(crate) struct Integration {
    pub(crate) config: IntegrationConfig,
    /// Its provider, and what the host knows of it (with the integration's overrides).
    pub(crate) provider: Provider,
    pub(crate) info: ProviderInfo,
    /// The delivery pipeline: verify, size, normalize.
    pub(crate) pipeline: DeliveryPipeline,
    http: Arc<dyn HttpBackend>,
}

impl Integration {
    fn new(
        config: IntegrationConfig,
        providers: &ProviderSet,
        metrics: &Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        if config.id.starts_with('@') || config.id.is_empty() {
            bail!(
                "integration id {:?} is reserved: ids may not be empty or start with '@'",
                config.id
            );
        }
        for warning in &config.warnings {
            tracing::warn!(integration = %config.id, "{warning}");
        }
        let provider = providers.resolve(&config)?;
        let info = config.provider_info(provider.info());
        let live: Arc<dyn HttpBackend> = Arc::new(LiveHttp::new(config.egress(&info)));
        Ok(Self {
            pipeline: DeliveryPipeline::new(&provider, &config)?,
            http: Arc::new(CountingHttp::new(live, config.id.clone(), metrics.clone())),
            provider,
            info,
            config,
        })
    }

    /// The capabilities of this integration's calls, over `storage`.
    pub(crate) fn context(&self, storage: Arc<dyn KvStore>) -> CallContext {
        CallContext::new(self.config.id.clone(), self.http.clone(), storage)
    }
}

/// Everything [`Server::new`] needs; what a platform embedding the host supplies.
pub struct ServerOptions {
    /// The providers (and the runtime they run in: one engine per process).
    pub providers: ProviderSet,
    /// The shared store.
    pub storage: Arc<dyn TxStore>,
    /// Who runs plans and applies.
    pub executor: Arc<dyn Executor>,
    /// The integrations served.
    pub integrations: Vec<IntegrationConfig>,
    /// Server settings.
    pub settings: ServeSettings,
}

pub(crate) struct Shared {
    pub(crate) providers: ProviderSet,
    pub(crate) storage: Arc<dyn TxStore>,
    pub(crate) queue: Arc<dyn JobQueue>,
    pub(crate) executor: Arc<dyn Executor>,
    pub(crate) metrics: Arc<Metrics>,
    integrations: RwLock<HashMap<String, Arc<Integration>>>,
    pub(crate) settings: ServeSettings,
    pub(crate) intake_permits: tokio::sync::Semaphore,
    pub(crate) in_flight: Mutex<HashSet<String>>,
    shutting_down: AtomicBool,
    pub(crate) wake: tokio::sync::Notify,
    observer: RwLock<Option<Observer>>,
}

/// The server: cheap to clone; every clone is the same server.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("queue", &self.shared.queue)
            .field("providers", &self.shared.providers)
            .finish_non_exhaustive()
    }
}
impl Server {
    /// Prepare a server (nothing listens yet).
    pub fn new(options: ServerOptions) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::default());
        let mut integrations = HashMap::new();
        for config in options.integrations {
            let id = config.id.clone();
            let integration = Integration::new(config, &options.providers, &metrics)
                .with_context(|| format!("integration {id}"))?;
            if integrations
                .insert(id.clone(), Arc::new(integration))
                .is_some()
            {
                bail!("two integrations are called {id}");
            }
        }
        let settings = options.settings;
        Ok(Self {
            shared: Arc::new(Shared {
                providers: options.providers,
                queue: Arc::new(KvQueue::new(
                    options.storage.clone(),
                    Duration::from_secs(settings.lease_seconds.max(1)),
                )),
                storage: options.storage,
                executor: options.executor,
                metrics,
                integrations: RwLock::new(integrations),
                intake_permits: tokio::sync::Semaphore::new(settings.max_in_flight.max(1)),
                settings,
                in_flight: Mutex::new(HashSet::new()),
                shutting_down: AtomicBool::new(false),
                wake: tokio::sync::Notify::new(),
                observer: RwLock::new(None),
            }),
        })
    }

    /// Build a server from a serve config file's contents: runtime, providers, storage,
    /// executor.
    pub fn from_config(
        config: &ServeConfig,
        integrations: Vec<IntegrationConfig>,
    ) -> anyhow::Result<Self> {
        let runtime = Arc::new(Runtime::new(config.host.clone())?);
        let mut providers = ProviderSet::new(runtime);
        if let Some(dir) = &config.serve.components_dir {
            providers = providers.with_components_dir(dir);
        }
        if let Some(name) = &config.serve.default_provider {
            providers = providers.with_default(name);
        }
        Self::new(ServerOptions {
            providers,
            storage: config.storage.open()?,
            executor: config.executor()?,
            integrations,
            settings: config.serve.clone(),
        })
    }

    /// Receive every [`Activity`] from now on.
    pub fn observe(&self, observer: Observer) {
        if let Ok(mut slot) = self.shared.observer.write() {
            *slot = Some(observer);
        }
    }

    /// Add or replace an integration while serving (an administrator flipping a
    /// switch); deliveries already queued run under the new settings.
    pub fn set_integration(&self, config: IntegrationConfig) -> anyhow::Result<()> {
        let id = config.id.clone();
        let integration = Arc::new(Integration::new(
            config,
            &self.shared.providers,
            &self.shared.metrics,
        )?);
        self.shared
            .integrations
            .write()
            .map_err(|_| anyhow::anyhow!("integration table lock poisoned"))?
            .insert(id, integration);
        Ok(())
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// The queue (for inspection).
    pub fn queue(&self) -> &dyn JobQueue {
        self.shared.queue.as_ref()
    }

    /// Nothing queued and nothing running here. Blocking (reads storage).
    pub fn is_idle(&self) -> anyhow::Result<bool> {
        let running = self.shared.in_flight.lock().map_or(1, |s| s.len());
        Ok(running == 0 && self.shared.queue.pending()?.is_empty())
    }

    /// Block until [`Server::is_idle`] or `timeout`; `false` on timeout.
    pub fn wait_idle(&self, timeout: Duration) -> anyhow::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.is_idle()? {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            self.shared.wake.notify_one();
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The HTTP routes.
    pub fn router(&self) -> axum::Router {
        crate::routes::router(self.shared.clone())
    }

    /// Serve on `listener` until `shutdown` completes, then shut down gracefully: stop
    /// accepting, answer requests in flight, let running jobs finish their current
    /// stage (they re-queue the rest) within the grace period.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = self.router();
        let shared = self.shared;
        let dispatcher = tokio::spawn(crate::dispatch::dispatch(shared.clone()));
        let purger = tokio::spawn(crate::dispatch::purge(shared.clone()));
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("the HTTP server failed")?;
        shared.shutting_down.store(true, Ordering::SeqCst);
        shared.wake.notify_waiters();
        purger.abort();
        let _ = purger.await;
        let _ = dispatcher.await;
        let grace = Duration::from_secs(shared.settings.shutdown_grace_seconds);
        let deadline = Instant::now() + grace;
        loop {
            let running = shared.in_flight.lock().map_or(0, |s| s.len());
            if running == 0 {
                break;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    running,
                    "jobs still running after the shutdown grace period; their leases \
                     expire and the next process to look resumes them"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Storage backends may block when dropped (the PostgreSQL client does), which
        // must not happen on an async worker: let the last reference go on a blocking one.
        let _ = tokio::task::spawn_blocking(move || drop(shared)).await;
        Ok(())
    }

    /// Start serving on `addr` on a thread of its own (with its own tokio runtime);
    /// what the demo and tests use.
    pub fn start(self, addr: SocketAddr) -> anyhow::Result<RunningServer> {
        let std_listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("cannot listen on {addr}"))?;
        std_listener.set_nonblocking(true)?;
        let local = std_listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = self.clone();
        let thread = std::thread::Builder::new().name("serve".into()).spawn(
            move || -> anyhow::Result<()> {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .worker_threads(2)
                    .build()?;
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(std_listener)?;
                    server
                        .serve(listener, async {
                            let _ = stop_rx.await;
                        })
                        .await
                })
            },
        )?;
        Ok(RunningServer {
            addr: local,
            server: self,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

/// A server started with [`Server::start`]; stops (gracefully) on [`RunningServer::stop`]
/// or drop.
pub struct RunningServer {
    addr: SocketAddr,
    server: Server,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl RunningServer {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/webhooks/{integration}`: where the integration's deliveries go.
    pub fn webhook_url(&self, integration: &str) -> String {
        format!("http://{}/webhooks/{integration}", self.addr)
    }

    /// The server.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Shut down gracefully and wait.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => bail!("the server thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

impl Shared {
    pub(crate) fn integration(&self, id: &str) -> Option<Arc<Integration>> {
        self.integrations.read().ok()?.get(id).cloned()
    }

    pub(crate) fn emit(&self, activity: Activity) {
        tracing::info!(?activity, "serve");
        let observer = self.observer.read().ok().and_then(|o| o.clone());
        if let Some(observer) = observer {
            observer(&activity);
        }
    }

    pub(crate) fn stopping(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

/// Serve a loaded config (see [`ServeConfig::load`]) until SIGINT or SIGTERM: what
/// `host-harness serve` runs. The line `listening on http://ADDR` on stderr says it is up.
pub fn run_from_config(
    config: &ServeConfig,
    integrations: Vec<IntegrationConfig>,
) -> anyhow::Result<()> {
    let addr: SocketAddr =
        config.serve.listen.parse().with_context(|| {
            format!("listen address {:?} is not HOST:PORT", config.serve.listen)
        })?;
    let server = Server::from_config(config, integrations)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        // Scripts and tests wait for this line.
        eprintln!("host-harness serve: listening on http://{local}");
        server.serve(listener, shutdown_signal()).await?;
        eprintln!("host-harness serve: stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    eprintln!("host-harness serve: shutting down");
}
