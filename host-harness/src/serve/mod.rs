//! `host-harness serve`: the platform side for real. An HTTP endpoint that receives
//! Azure DevOps service hooks, a durable queue, and workers that turn events into runs,
//! PR comments and statuses.
//!
//! A delivery's path:
//!
//! 1. `POST /webhooks/azure-devops/{integration}`: the provider checks the delivery's
//!    credentials (401), the host its size (413), then the provider normalizes it with
//!    its storage writes *staged* ([`staged`]); the platform's decision ([`job`]) turns
//!    the event into jobs, and the staged writes and the queue entries are committed
//!    together, atomically, before the answer (202 queued, 200 duplicate/ignored, 400
//!    invalid). A crash before the commit loses nothing (the sender got no 2xx and
//!    retries); a crash after it loses nothing either (the entries are durable).
//! 2. A dispatcher hands queued entries to a bounded set of workers, oldest first, one
//!    job per pull request at a time ([`queue`] leases and locks, shared by every
//!    process on the same store).
//! 3. A worker runs the job in checkpointed stages: pending statuses and the
//!    [`executor::Executor`]'s run, then `comments.publish`, then final statuses;
//!    retryable failures back off, permanent ones go to the dead letters.
//!
//! `/healthz` and `/metrics` (Prometheus text) sit beside the webhook route.

pub mod executor;
pub mod job;
pub mod metrics;
pub mod queue;
pub mod staged;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use self::executor::{Executor, ExecutorError, RecordedExecutor, RunRequest};
use self::job::{Job, JobAction, RunKind, jobs_for};
use self::metrics::{CountingHttp, Metrics};
use self::queue::{Claimed, Queue, Stage, serial_of_key};
use self::staged::StagedStorage;
use crate::bindings::exports::vcs::provider::comments::{
    CommitStatus, PublishAction, PublishOptions, PullRequestStatusTarget, RenderOptions,
    StatusState, StatusTarget,
};
use crate::bindings::exports::vcs::provider::webhooks::{Delivery, Outcome};
use crate::bindings::vcs::provider::types::{
    Connection, IntegrationSettings, ProviderError, WebhookAuth,
};
use crate::config::IntegrationConfig;
use crate::contract::{RunKindJson, RunReportJson, RunStatusJson};
use crate::engine::{CallContext, CallError, HostConfig, Provider, Runtime};
use crate::http::{HttpBackend, LiveHttp};
use crate::storage::{MemoryStorage, RedbStorage, Storage};
use crate::webhook::MAX_DELIVERY_BYTES;

/// How often a commit that lost a race is retried before the delivery is answered 503.
const MAX_COMMIT_ATTEMPTS: u32 = 5;
/// Longest backoff between attempts of a job.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How often expired storage entries are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);

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
    /// The provider component; defaults to the Azure DevOps provider of this build.
    pub component: Option<PathBuf>,
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
            component: None,
        }
    }
}

/// `[storage]`: where provider state and the queue live.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "backend", rename_all = "snake_case", deny_unknown_fields)]
pub enum StorageConfig {
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

impl Default for StorageConfig {
    fn default() -> Self {
        Self::Redb {
            path: PathBuf::from("host-state.redb"),
        }
    }
}

impl StorageConfig {
    /// Open the configured backend.
    pub fn open(&self) -> anyhow::Result<Arc<dyn Storage>> {
        Ok(match self {
            Self::Memory => Arc::new(MemoryStorage::new()),
            Self::Redb { path } => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                Arc::new(RedbStorage::open(path)?)
            }
            Self::Postgres { url, url_env } => {
                let url = match (url, url_env) {
                    (_, Some(var)) => std::env::var(var).with_context(|| {
                        format!("[storage] url_env names {var}, which is not set")
                    })?,
                    (Some(url), None) => url.clone(),
                    (None, None) => bail!("[storage] backend = \"postgres\" needs url or url_env"),
                };
                Arc::new(crate::storage::PostgresStorage::connect(&url)?)
            }
        })
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
    pub storage: StorageConfig,
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
        if let StorageConfig::Redb { path } = &mut config.storage {
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
        if let Some(component) = &mut config.serve.component {
            *component = resolve(component);
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

/// Something that happened, for the demo's timeline and for tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Activity {
    /// A delivery was answered.
    Answered {
        /// Integration id.
        integration: String,
        /// HTTP status.
        status: u16,
        /// Outcome label (as in `/metrics`).
        outcome: String,
        /// The provider's delivery id.
        delivery_id: Option<String>,
        /// A reason or summary for people.
        detail: String,
        /// Jobs queued.
        queued: Vec<String>,
    },
    /// A job started (or resumed).
    JobStarted {
        /// What it is.
        job: String,
    },
    /// The executor returned a report.
    RunFinished {
        /// The job.
        job: String,
        /// Per workspace: name and summary.
        summary: String,
    },
    /// The report was published on the pull request.
    Published {
        /// The job.
        job: String,
        /// created / updated / unchanged / skipped.
        action: String,
        /// Comment ids.
        comments: Vec<String>,
    },
    /// A status was set.
    StatusSet {
        /// The job.
        job: String,
        /// Context (`genre/name`).
        context: String,
        /// State.
        state: String,
    },
    /// A reply was posted.
    Replied {
        /// The job.
        job: String,
    },
    /// Something was skipped or failed without failing the job.
    Note {
        /// The job.
        job: String,
        /// What.
        message: String,
    },
    /// The job finished.
    JobDone {
        /// The job.
        job: String,
    },
    /// The job failed and will be retried.
    JobRetrying {
        /// The job.
        job: String,
        /// Why.
        error: String,
    },
    /// The job was given up.
    JobDead {
        /// The job.
        job: String,
        /// Why.
        error: String,
    },
}

/// Receives every [`Activity`] (from several threads).
pub type Observer = Arc<dyn Fn(&Activity) + Send + Sync>;

/// One served integration, ready for calls.
struct Integration {
    config: IntegrationConfig,
    settings: IntegrationSettings,
    webhook_auth: WebhookAuth,
    connection: Option<Connection>,
    http: Arc<dyn HttpBackend>,
}

impl Integration {
    fn new(config: IntegrationConfig, metrics: &Arc<Metrics>) -> anyhow::Result<Self> {
        if config.id.starts_with('@') || config.id.is_empty() {
            bail!(
                "integration id {:?} is reserved: ids may not be empty or start with '@'",
                config.id
            );
        }
        let live: Arc<dyn HttpBackend> = Arc::new(LiveHttp::new(config.host.http.clone()));
        Ok(Self {
            settings: config.settings(),
            webhook_auth: config.webhook_auth()?,
            connection: config.connection()?,
            http: Arc::new(CountingHttp::new(live, config.id.clone(), metrics.clone())),
            config,
        })
    }

    fn context(&self, storage: Arc<dyn Storage>) -> CallContext {
        CallContext {
            integration: self.config.id.clone(),
            http: self.http.clone(),
            storage,
        }
    }
}

/// Everything [`Server::new`] needs; what a platform embedding the host supplies.
pub struct ServerOptions {
    /// The process's runtime (one engine per process).
    pub runtime: Arc<Runtime>,
    /// The provider, loaded by `runtime`.
    pub provider: Provider,
    /// The shared store.
    pub storage: Arc<dyn Storage>,
    /// Who runs plans and applies.
    pub executor: Arc<dyn Executor>,
    /// The integrations served.
    pub integrations: Vec<IntegrationConfig>,
    /// Server settings.
    pub settings: ServeSettings,
}

struct Shared {
    _runtime: Arc<Runtime>,
    provider: Provider,
    storage: Arc<dyn Storage>,
    queue: Queue,
    executor: Arc<dyn Executor>,
    metrics: Arc<Metrics>,
    integrations: RwLock<HashMap<String, Arc<Integration>>>,
    settings: ServeSettings,
    intake_permits: tokio::sync::Semaphore,
    in_flight: Mutex<HashSet<String>>,
    shutting_down: AtomicBool,
    wake: tokio::sync::Notify,
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
            .finish_non_exhaustive()
    }
}

/// What happened to one job run.
enum Step {
    Done,
    /// Someone else holds the entry now; we stop touching it.
    Lost,
    /// Shutting down between stages: put back for later.
    Stopped,
}

/// Why a job stage failed.
enum Failure {
    Retry { error: String, after: Duration },
    Permanent(String),
}

impl Server {
    /// Prepare a server (nothing listens yet).
    pub fn new(options: ServerOptions) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::default());
        let mut integrations = HashMap::new();
        for config in options.integrations {
            let id = config.id.clone();
            let integration =
                Integration::new(config, &metrics).with_context(|| format!("integration {id}"))?;
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
                _runtime: options.runtime,
                provider: options.provider,
                queue: Queue::new(
                    options.storage.clone(),
                    Duration::from_secs(settings.lease_seconds.max(1)),
                ),
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

    /// Build a server from a serve config file's contents: runtime, provider, storage,
    /// executor.
    pub fn from_config(
        config: &ServeConfig,
        integrations: Vec<IntegrationConfig>,
    ) -> anyhow::Result<Self> {
        let runtime = Arc::new(Runtime::new(config.host.clone())?);
        let component = config
            .serve
            .component
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::AZURE_DEVOPS_PROVIDER_WASM));
        let provider = runtime.load(&component)?;
        Self::new(ServerOptions {
            runtime,
            provider,
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
        let integration = Arc::new(Integration::new(config, &self.shared.metrics)?);
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
    pub fn queue(&self) -> &Queue {
        &self.shared.queue
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
    pub fn router(&self) -> Router {
        Router::new()
            .route("/webhooks/azure-devops/{integration}", post(webhook))
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics_text))
            // The webhook reads (and bounds) its body itself; see `read_body`.
            .layer(DefaultBodyLimit::disable())
            .with_state(self.shared.clone())
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
        let dispatcher = tokio::spawn(dispatch(shared.clone()));
        let purger = tokio::spawn(purge(shared.clone()));
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

    /// `http://ADDR/webhooks/azure-devops/{integration}`.
    pub fn webhook_url(&self, integration: &str) -> String {
        format!("http://{}/webhooks/azure-devops/{integration}", self.addr)
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
    fn integration(&self, id: &str) -> Option<Arc<Integration>> {
        self.integrations.read().ok()?.get(id).cloned()
    }

    fn emit(&self, activity: Activity) {
        tracing::info!(?activity, "serve");
        let observer = self.observer.read().ok().and_then(|o| o.clone());
        if let Some(observer) = observer {
            observer(&activity);
        }
    }

    fn stopping(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

/// The answer to one delivery.
struct Answer {
    status: StatusCode,
    outcome: &'static str,
    delivery_id: Option<String>,
    detail: String,
    queued: Vec<String>,
    retry_after: Option<u32>,
}

impl Answer {
    fn new(status: StatusCode, outcome: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            outcome,
            delivery_id: None,
            detail: detail.into(),
            queued: vec![],
            retry_after: None,
        }
    }
}

async fn webhook(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let answer = answer_delivery(&shared, &id, headers, body).await;
    let label = if shared.integration(&id).is_some() {
        id.as_str()
    } else {
        "(unknown)"
    };
    shared
        .metrics
        .delivery(label, answer.outcome, started.elapsed());
    shared.emit(Activity::Answered {
        integration: id.clone(),
        status: answer.status.as_u16(),
        outcome: answer.outcome.to_string(),
        delivery_id: answer.delivery_id.clone(),
        detail: answer.detail.clone(),
        queued: answer.queued.clone(),
    });
    let mut body = json!({"outcome": answer.outcome});
    if let Some(id) = &answer.delivery_id {
        body["delivery_id"] = json!(id);
    }
    if !answer.detail.is_empty() {
        body["detail"] = json!(answer.detail);
    }
    if !answer.queued.is_empty() {
        body["queued"] = json!(answer.queued);
    }
    let mut response = (answer.status, axum::Json(body)).into_response();
    if let Some(seconds) = answer.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

async fn answer_delivery(shared: &Arc<Shared>, id: &str, headers: HeaderMap, body: Body) -> Answer {
    let Some(integration) = shared.integration(id) else {
        return Answer::new(
            StatusCode::NOT_FOUND,
            "unknown_integration",
            format!("no integration called {id:?} is served here"),
        );
    };
    let (body, too_large) = match read_body(body).await {
        Ok(read) => read,
        Err(error) => {
            return Answer::new(
                StatusCode::BAD_REQUEST,
                "invalid",
                format!("cannot read the request body: {error}"),
            );
        }
    };
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    // Bounded: each delivery in flight holds a blocking thread and an instance.
    let permit =
        match tokio::time::timeout(Duration::from_secs(5), shared.intake_permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                let mut answer = Answer::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "too many deliveries in flight; retry shortly",
                );
                answer.retry_after = Some(5);
                return answer;
            }
        };
    let worker = shared.clone();
    let result = tokio::task::spawn_blocking(move || {
        intake(&worker, &integration, headers, body, too_large)
    })
    .await;
    drop(permit);
    match result {
        Ok(answer) => {
            if !answer.queued.is_empty() {
                shared.wake.notify_one();
            }
            answer
        }
        Err(join) => Answer::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "error",
            format!("the delivery's processing thread failed: {join}"),
        ),
    }
}

/// Past this much, an oversized body is no longer drained and the connection is dropped.
const MAX_DRAINED_BYTES: usize = 64 * 1024 * 1024;

/// The body, up to [`MAX_DELIVERY_BYTES`]; `true` when it was larger. An oversized body
/// is read to its end (and thrown away) so that the sender, which writes the whole body
/// before reading, gets the 413 (or 401) instead of a broken pipe.
async fn read_body(mut body: Body) -> Result<(Vec<u8>, bool), String> {
    use http_body_util::BodyExt as _;
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen <= MAX_DELIVERY_BYTES {
                kept.extend_from_slice(&data);
            } else if seen > MAX_DRAINED_BYTES {
                break;
            }
        }
    }
    if seen > MAX_DELIVERY_BYTES {
        return Ok((Vec::new(), true));
    }
    Ok((kept, false))
}

/// Verify, normalize, decide and commit one delivery. Runs on a blocking thread.
fn intake(
    shared: &Shared,
    integration: &Integration,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    too_large: bool,
) -> Answer {
    let provider = &shared.provider;
    let verified = provider.call(&integration.context(shared.storage.clone()), |p, store| {
        p.vcs_provider_auth()
            .call_verify_webhook(store, &integration.webhook_auth, &headers, &body)
    });
    match verified {
        Ok(Ok(())) => {}
        Ok(Err(ProviderError::Unauthorized(reason))) => {
            return Answer::new(StatusCode::UNAUTHORIZED, "rejected", reason);
        }
        Ok(Err(other)) => {
            let (kind, message) = crate::contract::error_parts(&other);
            return Answer::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "error",
                format!("verifying the delivery failed ({kind}): {message}"),
            );
        }
        Err(trap) => {
            shared.metrics.trap(&trap);
            return Answer::new(StatusCode::INTERNAL_SERVER_ERROR, "error", trap.to_string());
        }
    }
    if too_large {
        return Answer::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the delivery is larger than {MAX_DELIVERY_BYTES} bytes"),
        );
    }
    let delivery = Delivery { headers, body };
    for _ in 0..MAX_COMMIT_ATTEMPTS {
        let staged = Arc::new(StagedStorage::new(shared.storage.clone()));
        let context = integration.context(staged.clone());
        let handled = provider.call(&context, |p, store| {
            p.vcs_provider_webhooks().call_handle_delivery(
                store,
                &integration.settings,
                integration.connection.as_ref(),
                &delivery,
            )
        });
        let (mut answer, jobs) = match handled {
            Ok(Ok(handled)) => {
                let delivery_id = handled.delivery_id.clone();
                let mut answer = match &handled.outcome {
                    Outcome::Event(event) => {
                        let jobs = jobs_for(&integration.settings, delivery_id.as_deref(), event);
                        let detail = event_summary(event);
                        let mut answer = Answer::new(StatusCode::OK, "event", detail);
                        if !jobs.is_empty() {
                            answer.status = StatusCode::ACCEPTED;
                            answer.outcome = "queued";
                        }
                        (answer, jobs)
                    }
                    Outcome::Ignored(reason) => (
                        Answer::new(StatusCode::OK, "ignored", reason.clone()),
                        vec![],
                    ),
                    Outcome::Duplicate => (
                        Answer::new(StatusCode::OK, "duplicate", "already received"),
                        vec![],
                    ),
                };
                answer.0.delivery_id = delivery_id;
                answer
            }
            Ok(Err(ProviderError::InvalidPayload(reason))) => {
                return Answer::new(StatusCode::BAD_REQUEST, "invalid", reason);
            }
            Ok(Err(ProviderError::RateLimited(limit))) => {
                let mut answer = Answer::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "error",
                    format!("Azure DevOps is rate limiting: {}", limit.message),
                );
                answer.retry_after = Some(limit.retry_after_seconds.unwrap_or(30));
                return answer;
            }
            Ok(Err(other)) => {
                let (kind, message) = crate::contract::error_parts(&other);
                return Answer::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error",
                    format!("{kind}: {message}"),
                );
            }
            Err(trap) => {
                shared.metrics.trap(&trap);
                return Answer::new(StatusCode::INTERNAL_SERVER_ERROR, "error", trap.to_string());
            }
        };
        let committed = staged.transaction().and_then(|mut txn| {
            let keys = shared.queue.enqueue_into(&mut txn, &jobs)?;
            Ok((shared.storage.commit(&txn)?, keys))
        });
        match committed {
            Ok((true, keys)) => {
                answer.queued = keys;
                return answer;
            }
            Ok((false, _)) => {
                // Another delivery changed what this one read (a racing redelivery, or
                // another process): run it again against the new state.
                shared.metrics.storage_conflict();
            }
            Err(error) => {
                let mut answer = Answer::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "error",
                    format!("storage: {error}"),
                );
                answer.retry_after = Some(10);
                return answer;
            }
        }
    }
    let mut answer = Answer::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "error",
        "storage contention: the delivery raced others too often; retry",
    );
    answer.retry_after = Some(1);
    answer
}

fn event_summary(event: &crate::bindings::exports::vcs::provider::webhooks::Event) -> String {
    use crate::contract::{action_name, decision_name, kind_name};
    let mut text = kind_name(event.kind).to_string();
    if let Some(action) = event.action {
        text = format!("{text} {}", action_name(action));
    }
    if let Some(pr) = &event.pull_request {
        text = format!("{text} #{}", pr.number);
    }
    if let Some(command) = &event.command {
        text = format!(
            "{text}: {} {} ({})",
            command.name,
            decision_name(command.decision),
            command.reason
        );
    }
    text
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let check = shared.clone();
    let storage = tokio::task::spawn_blocking(move || check.queue.pending().map(|k| k.len())).await;
    match storage {
        Ok(Ok(depth)) => (
            StatusCode::OK,
            axum::Json(
                json!({"status": "ok", "queue_depth": depth, "shutting_down": shared.stopping()}),
            ),
        )
            .into_response(),
        Ok(Err(error)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "storage unavailable", "error": error.to_string()})),
        )
            .into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"status": "error", "error": error.to_string()})),
        )
            .into_response(),
    }
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}

/// Hand queued entries to workers, oldest first, one per pull request at a time.
async fn dispatch(shared: Arc<Shared>) {
    let workers = Arc::new(tokio::sync::Semaphore::new(shared.settings.workers.max(1)));
    let poll = Duration::from_millis(shared.settings.poll_interval_ms.max(10));
    while !shared.stopping() {
        let lister = shared.clone();
        let keys = match tokio::task::spawn_blocking(move || lister.queue.pending()).await {
            Ok(Ok(keys)) => keys,
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot list the queue");
                tokio::time::sleep(poll).await;
                continue;
            }
            Err(_) => break,
        };
        shared.metrics.set_queue_depth(keys.len());
        let mut waiting_serials: HashSet<String> = HashSet::new();
        for key in keys {
            if shared.stopping() {
                break;
            }
            let serial = serial_of_key(&key).to_owned();
            let running = shared.in_flight.lock().is_ok_and(|s| s.contains(&key));
            // A later job of a pull request waits for its earlier ones.
            if running || !waiting_serials.insert(serial) {
                continue;
            }
            let Ok(permit) = workers.clone().acquire_owned().await else {
                break;
            };
            if let Ok(mut running) = shared.in_flight.lock() {
                running.insert(key.clone());
            }
            let worker = shared.clone();
            tokio::task::spawn_blocking(move || {
                let worked = process(&worker, &key);
                if let Ok(mut running) = worker.in_flight.lock() {
                    running.remove(&key);
                }
                drop(permit);
                if worked {
                    worker.wake.notify_one();
                }
            });
        }
        tokio::select! {
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}

async fn purge(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(PURGE_INTERVAL).await;
        let storage = shared.storage.clone();
        match tokio::task::spawn_blocking(move || storage.purge_expired()).await {
            Ok(Ok(purged)) => tracing::debug!(purged, "purged expired storage entries"),
            Ok(Err(error)) => tracing::warn!(%error, "purging expired storage entries failed"),
            Err(_) => return,
        }
    }
}

/// Take and run one queued entry; `true` when it was ours to run.
fn process(shared: &Shared, key: &str) -> bool {
    let mut claimed = match shared.queue.claim(key) {
        Ok(Some(claimed)) => claimed,
        Ok(None) => return false,
        Err(error) => {
            tracing::warn!(key, %error, "cannot claim a queued job");
            return false;
        }
    };
    shared.metrics.jobs_in_flight(1);
    let job = claimed.item.job.clone();
    let label = match &job.action {
        JobAction::Run { kind, .. } => kind.as_str(),
        JobAction::Reply { .. } => "reply",
    };
    let name = job.describe();
    shared.emit(Activity::JobStarted { job: name.clone() });
    let result = match shared.integration(&job.integration) {
        None => Err(Failure::Permanent(format!(
            "integration {} is no longer served",
            job.integration
        ))),
        Some(integration) => match &job.action {
            JobAction::Reply {
                markdown,
                thread_id,
            } => reply(
                shared,
                &integration,
                &job,
                claimed.item.attempts,
                markdown,
                thread_id.clone(),
            ),
            JobAction::Run { kind, workspaces } => {
                run_job(shared, &integration, &mut claimed, *kind, workspaces)
            }
        },
    };
    let outcome = match result {
        Ok(Step::Done) => {
            let _ = shared.queue.complete(&claimed);
            shared.emit(Activity::JobDone { job: name });
            "done"
        }
        Ok(Step::Lost) => "lost",
        Ok(Step::Stopped) => {
            let _ = shared.queue.release(&claimed, Duration::ZERO, None);
            "released"
        }
        Err(Failure::Retry { error, after }) => {
            if claimed.item.attempts.saturating_add(1) >= shared.settings.max_attempts {
                let error = format!(
                    "gave up after {} attempts: {error}",
                    claimed.item.attempts + 1
                );
                let _ = shared.queue.dead_letter(&claimed, error.clone());
                shared.emit(Activity::JobDead { job: name, error });
                "dead"
            } else {
                let _ = shared.queue.release(&claimed, after, Some(error.clone()));
                shared.emit(Activity::JobRetrying { job: name, error });
                "retried"
            }
        }
        Err(Failure::Permanent(error)) => {
            let _ = shared.queue.dead_letter(&claimed, error.clone());
            shared.emit(Activity::JobDead { job: name, error });
            "dead"
        }
    };
    shared.metrics.job(label, outcome);
    shared.metrics.jobs_in_flight(-1);
    true
}

fn backoff(shared: &Shared, attempts: u32) -> Duration {
    let base = Duration::from_millis(shared.settings.retry_base_ms);
    base.saturating_mul(1u32 << attempts.min(16))
        .min(MAX_BACKOFF)
}

fn provider_failure(shared: &Shared, attempts: u32, error: &ProviderError) -> Failure {
    let (kind, message) = crate::contract::error_parts(error);
    let text = format!("{kind}: {message}");
    match error {
        ProviderError::RateLimited(limit) => Failure::Retry {
            error: text,
            after: Duration::from_secs(u64::from(limit.retry_after_seconds.unwrap_or(30)))
                .min(MAX_BACKOFF),
        },
        ProviderError::Transport(_) | ProviderError::Storage(_) | ProviderError::Conflict(_) => {
            Failure::Retry {
                error: text,
                after: backoff(shared, attempts),
            }
        }
        ProviderError::Upstream(upstream)
            if upstream.status.is_none_or(|s| s >= 500 || s == 408) =>
        {
            Failure::Retry {
                error: text,
                after: backoff(shared, attempts),
            }
        }
        _ => Failure::Permanent(text),
    }
}

fn call_failure(shared: &Shared, attempts: u32, error: &CallError) -> Failure {
    shared.metrics.trap(error);
    Failure::Retry {
        error: error.to_string(),
        after: backoff(shared, attempts),
    }
}

fn reply(
    shared: &Shared,
    integration: &Integration,
    job: &Job,
    attempts: u32,
    markdown: &str,
    thread_id: Option<String>,
) -> Result<Step, Failure> {
    let Some(connection) = &integration.connection else {
        shared.emit(Activity::Note {
            job: job.describe(),
            message: "no credential configured, so the reply was not posted".into(),
        });
        return Ok(Step::Done);
    };
    let target = job.pull_request_ref();
    let context = integration.context(shared.storage.clone());
    match shared.provider.call(&context, |p, store| {
        p.vcs_provider_comments().call_reply(
            store,
            connection,
            &target,
            thread_id.as_deref(),
            markdown,
        )
    }) {
        Ok(Ok(_)) => {
            shared.emit(Activity::Replied {
                job: job.describe(),
            });
            Ok(Step::Done)
        }
        Ok(Err(error)) => Err(provider_failure(shared, attempts, &error)),
        Err(error) => Err(call_failure(shared, attempts, &error)),
    }
}

fn run_job(
    shared: &Shared,
    integration: &Integration,
    claimed: &mut Claimed,
    kind: RunKind,
    workspaces: &[String],
) -> Result<Step, Failure> {
    let job = claimed.item.job.clone();
    let attempts = claimed.item.attempts;
    let name = job.describe();
    if claimed.item.stage == Stage::Queued {
        set_statuses(shared, integration, &job, attempts, kind, workspaces, None)?;
        let request = RunRequest {
            idempotency_key: claimed.key.clone(),
            integration: job.integration.clone(),
            kind,
            workspaces: workspaces.to_vec(),
            repository: job.repository.name.clone(),
            pull_request: job.pull_request,
            head_sha: job.head_sha.clone(),
            source_branch: job.source_branch.clone(),
            trigger: job.trigger.clone(),
        };
        let report = shared.executor.run(&request).map_err(|error| match error {
            ExecutorError::Unavailable(_) => Failure::Retry {
                error: error.to_string(),
                after: backoff(shared, attempts),
            },
            ExecutorError::Refused(_) => Failure::Permanent(error.to_string()),
        })?;
        shared.emit(Activity::RunFinished {
            job: name.clone(),
            summary: report_summary(&report),
        });
        let saved = shared.queue.checkpoint(claimed, |item| {
            item.stage = Stage::Ran;
            item.report = Some(report);
        });
        if !saved.unwrap_or(false) {
            return Ok(Step::Lost);
        }
    }
    if shared.stopping() {
        return Ok(Step::Stopped);
    }
    let Some(report) = claimed.item.report.clone() else {
        return Err(Failure::Permanent(
            "the queue entry says the run finished but holds no report".into(),
        ));
    };
    if claimed.item.stage == Stage::Ran {
        match &integration.connection {
            None => shared.emit(Activity::Note {
                job: name.clone(),
                message: "no credential configured, so the report was not posted".into(),
            }),
            Some(connection) => {
                let options = PublishOptions {
                    comments_enabled: integration.config.comments.enabled,
                    apply_summary: integration.config.comments.apply_summary,
                    new_comment_per_head: integration.config.comments.new_comment_per_head,
                    render: RenderOptions {
                        max_length: None,
                        commands: Some(integration.settings.commands.clone()),
                    },
                    options: integration.settings.options.clone(),
                };
                let target = job.pull_request_ref();
                let wit_report = report.clone().into_report();
                let context = integration.context(shared.storage.clone());
                let published = shared.provider.call(&context, |p, store| {
                    p.vcs_provider_comments().call_publish(
                        store,
                        connection,
                        &target,
                        &wit_report,
                        &options,
                    )
                });
                match published {
                    Ok(Ok(result)) => shared.emit(Activity::Published {
                        job: name.clone(),
                        action: publish_action_name(result.action).to_string(),
                        comments: result
                            .comments
                            .iter()
                            .map(|c| c.comment_id.clone())
                            .collect(),
                    }),
                    Ok(Err(error)) => return Err(provider_failure(shared, attempts, &error)),
                    Err(error) => return Err(call_failure(shared, attempts, &error)),
                }
            }
        }
        let saved = shared
            .queue
            .checkpoint(claimed, |item| item.stage = Stage::Published);
        if !saved.unwrap_or(false) {
            return Ok(Step::Lost);
        }
    }
    if shared.stopping() {
        return Ok(Step::Stopped);
    }
    set_statuses(
        shared,
        integration,
        &job,
        attempts,
        kind,
        workspaces,
        Some(&report),
    )?;
    Ok(Step::Done)
}

/// Pending statuses (no report yet) or final ones, one per workspace, on the pull
/// request's head. Permanent failures (a token without Code Status) are noted and
/// skipped: the comment still carries the result.
fn set_statuses(
    shared: &Shared,
    integration: &Integration,
    job: &Job,
    attempts: u32,
    kind: RunKind,
    workspaces: &[String],
    report: Option<&RunReportJson>,
) -> Result<(), Failure> {
    let (Some(connection), Some(head_sha)) = (&integration.connection, &job.head_sha) else {
        return Ok(());
    };
    let genre = integration
        .settings
        .commands
        .prefix
        .trim_start_matches('/')
        .to_string();
    let genre = if genre.is_empty() {
        "terraform".to_string()
    } else {
        genre
    };
    let verb = match kind {
        RunKind::Plan => "Plan",
        RunKind::Apply => "Apply",
    };
    for workspace in workspaces {
        let (state, description) = match report {
            None => (StatusState::Pending, format!("{verb} is running")),
            Some(report) => {
                let entry = report.workspaces.iter().find(|w| &w.name == workspace);
                match entry {
                    None => (
                        StatusState::Error,
                        format!("{verb} reported nothing for this workspace"),
                    ),
                    Some(w) => workspace_status(&report.kind, w),
                }
            }
        };
        let status = CommitStatus {
            state,
            context_name: format!("{}/{workspace}", kind.as_str()),
            context_genre: Some(genre.clone()),
            description,
            target_url: report.and_then(|r| r.run_url.clone()),
        };
        let target = StatusTarget::PullRequest(PullRequestStatusTarget {
            pull_request: job.pull_request_ref(),
            head_sha: head_sha.clone(),
        });
        let context = integration.context(shared.storage.clone());
        let result = shared.provider.call(&context, |p, store| {
            p.vcs_provider_comments()
                .call_set_status(store, connection, &target, &status)
        });
        let failure = match result {
            Ok(Ok(())) => {
                shared.emit(Activity::StatusSet {
                    job: job.describe(),
                    context: format!("{genre}/{}", status.context_name),
                    state: status_state_name(state).to_string(),
                });
                continue;
            }
            Ok(Err(error)) => provider_failure(shared, attempts, &error),
            Err(error) => call_failure(shared, attempts, &error),
        };
        match failure {
            Failure::Permanent(message) => shared.emit(Activity::Note {
                job: job.describe(),
                message: format!("status {} not set: {message}", status.context_name),
            }),
            retry @ Failure::Retry { .. } => return Err(retry),
        }
    }
    Ok(())
}

fn publish_action_name(action: PublishAction) -> &'static str {
    match action {
        PublishAction::Created => "created",
        PublishAction::Updated => "updated",
        PublishAction::Unchanged => "unchanged",
        PublishAction::Skipped => "skipped",
    }
}

fn status_state_name(state: StatusState) -> &'static str {
    match state {
        StatusState::Pending => "pending",
        StatusState::Succeeded => "succeeded",
        StatusState::Failed => "failed",
        StatusState::Error => "error",
        StatusState::NotApplicable => "not_applicable",
    }
}

fn workspace_status(
    kind: &RunKindJson,
    w: &crate::contract::WorkspaceReportJson,
) -> (StatusState, String) {
    match (kind, &w.status) {
        (RunKindJson::Plan, RunStatusJson::Success) => (
            StatusState::Succeeded,
            format!(
                "Plan: {} to add, {} to change, {} to destroy",
                w.add, w.change, w.destroy
            ),
        ),
        (RunKindJson::Apply, RunStatusJson::Success) => (
            StatusState::Succeeded,
            format!(
                "Applied: {} added, {} changed, {} destroyed",
                w.add, w.change, w.destroy
            ),
        ),
        (_, RunStatusJson::NoChanges) => (StatusState::Succeeded, "No changes".into()),
        (RunKindJson::Plan, RunStatusJson::Failed) => (StatusState::Failed, "Plan failed".into()),
        (RunKindJson::Apply, RunStatusJson::Failed) => (StatusState::Failed, "Apply failed".into()),
        (_, RunStatusJson::Errored) => (StatusState::Error, "The run errored".into()),
    }
}

fn report_summary(report: &RunReportJson) -> String {
    report
        .workspaces
        .iter()
        .map(|w| format!("{}: {}", w.name, workspace_status(&report.kind, w).1))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `host-harness serve`: run until SIGINT or SIGTERM.
pub fn run_from_config(path: &Path, listen: Option<&str>) -> anyhow::Result<()> {
    let (mut config, integrations) = ServeConfig::load(path)?;
    if let Some(listen) = listen {
        config.serve.listen = listen.to_string();
    }
    let addr: SocketAddr =
        config.serve.listen.parse().with_context(|| {
            format!("listen address {:?} is not HOST:PORT", config.serve.listen)
        })?;
    let server = Server::from_config(&config, integrations)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_loads_with_paths_resolved() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/serve");
        let (config, integrations) = ServeConfig::load(&dir.join("serve.toml")).unwrap();
        assert_eq!(config.serve.listen, "127.0.0.1:8080");
        assert_eq!(config.serve.workers, 4);
        assert_eq!(
            config.storage,
            StorageConfig::Redb {
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
        let postgres = StorageConfig::Postgres {
            url: None,
            url_env: None,
        };
        assert!(
            postgres
                .open()
                .unwrap_err()
                .to_string()
                .contains("needs url or url_env")
        );
        let unset = StorageConfig::Postgres {
            url: None,
            url_env: Some("HOST_HARNESS_SURELY_UNSET_VARIABLE".into()),
        };
        assert!(unset.open().unwrap_err().to_string().contains("not set"));
        let half = ServeConfig {
            executor: ExecutorConfig {
                plan_report: Some("plan.json".into()),
                ..ExecutorConfig::default()
            },
            ..ServeConfig::default()
        };
        assert!(half.executor().unwrap_err().to_string().contains("both"));
    }

    #[test]
    fn reserved_integration_ids_are_refused() {
        let config = IntegrationConfig::parse(
            "id = \"@host/queue\"\n[azure_devops]\norganization_url = \"https://dev.azure.com/x/\"\n",
        )
        .unwrap();
        let metrics = Arc::new(Metrics::default());
        let error = Integration::new(config, &metrics)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("reserved"), "{error}");
    }
}
