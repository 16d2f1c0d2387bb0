//! A local stand-in for Azure DevOps: a real HTTP server on loopback that implements the
//! REST resources the Azure DevOps provider calls, keeps what was posted in memory, and
//! fails on request (fault injection).
//!
//! It exists for integration tests, `host-harness demo` and the `serve` load tests: the
//! provider component talks to it over real HTTP through the host's live HTTP client, and
//! tests read back the threads, comments and statuses it received. It is **never used
//! in production**: the host's egress policy only lets a guest reach loopback with
//! `allow_loopback = true`, which only test configuration sets.
//!
//! What it serves, below `{base}` = `http://127.0.0.1:PORT/{organization}/` (the project
//! segment is a project id or name; `[{project}/]` means it may be left out):
//!
//! | resource | methods |
//! |---|---|
//! | `_apis/connectionData` (no api-version, or a preview one) | GET |
//! | `[{project}/]_apis/git/repositories` (`$top` is no parameter of it: ignored) | GET |
//! | `[{project}/]_apis/git/repositories/{repo}` | GET |
//! | `…/repositories/{repo}/commits/{sha}/statuses` | GET, POST (201) |
//! | `…/repositories/{repo}/diffs/commits?baseVersion=&targetVersion=&$top=&$skip=` | GET |
//! | `…/repositories/{repo}/pullRequests/{n}` | GET |
//! | `…/pullRequests/{n}/threads` | GET, POST |
//! | `…/pullRequests/{n}/threads/{t}` | GET, PATCH (status) |
//! | `…/pullRequests/{n}/threads/{t}/comments` | GET, POST |
//! | `…/pullRequests/{n}/threads/{t}/comments/{c}` | GET, PATCH (content, author only) |
//! | `…/pullRequests/{n}/statuses` | GET, POST |
//! | `…/pullRequests/{n}/iterations[/{i}]` | GET |
//! | `…/pullRequests/{n}/iterations/{i}/changes?$top=&$skip=` (paged by `nextSkip`) | GET |
//! | `{project}/_apis/policy/evaluations?artifactId=` (preview api-version) | GET |
//!
//! Like the service, it checks before routing: the organization (another one gets an
//! empty 404), then the credential (`Basic base64(user:PAT)` or `Bearer token`; without
//! an accepted one, 401 with the challenge headers when the request sent
//! `X-TFS-FedAuthRedirect: Suppress`, else 203 with an HTML sign-in page), then the
//! api-version (writes must name one; `connectionData` and policy evaluations want a
//! preview). Unknown projects, repositories, pull requests, threads and comments get 404
//! with Azure DevOps' JSON error body (`TF200016`, `TF401019`, `TF401180`, ...);
//! malformed or missing JSON bodies get 400 (`ArgumentNullException`), bodies over the
//! limit 413. Codes the service's documentation does not show (thread and comment not
//! found, validation messages) are the stand-in's own wording in the same shape.
//!
//! Faults ([`Fault`]) are applied before all of that, and every request, faulted or not,
//! is in the request log ([`StandIn::requests`]).

mod api;
mod fault;
mod state;
mod wire;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use anyhow::{Context as _, bail};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

pub use self::fault::{Fault, FaultKind};
pub use self::state::{
    CommentRecord, CommitStatusRecord, Counts, FileChange, FileChangeKind, IterationRecord,
    ProjectRecord, PullRequestRecord, PullRequestSeed, PullRequestStatusRecord, RepositoryRecord,
    RepositorySeed, RequestRecord, ReviewerRecord, StandInIdentity, StandInState, ThreadRecord,
};

use self::api::{ApiConfig, Incoming};
use self::wire::{Answer, ApiError};
use crate::server::{Background, read_body};

/// The personal access token [`StandInOptions::default`] accepts.
pub const DEFAULT_PAT: &str = "standin-pat-0123456789";

/// How a stand-in is set up.
#[derive(Debug, Clone)]
pub struct StandInOptions {
    /// The organization name: the first path segment of every URL (`contoso`).
    pub organization: String,
    /// Personal access tokens accepted as `Authorization: Basic base64(":" + PAT)`.
    pub personal_access_tokens: Vec<String>,
    /// Tokens accepted as `Authorization: Bearer <token>` (OAuth / Entra access tokens).
    pub bearer_tokens: Vec<String>,
    /// The identity every accepted credential acts as: returned by `connectionData`, and
    /// the author of every thread, comment and status posted.
    pub identity: StandInIdentity,
    /// Where to listen; `127.0.0.1:0` (a free port) when `None`.
    pub bind: Option<SocketAddr>,
    /// The largest request body read; larger ones are answered 413.
    pub max_body_bytes: usize,
    /// How many requests the log keeps (the oldest are dropped first); totals in
    /// [`Counts`] cover all of them.
    pub max_logged_requests: usize,
    /// Worker threads of the stand-in's own tokio runtime.
    pub worker_threads: usize,
}

impl Default for StandInOptions {
    fn default() -> Self {
        Self {
            organization: "contoso".into(),
            personal_access_tokens: vec![DEFAULT_PAT.into()],
            bearer_tokens: Vec::new(),
            identity: StandInIdentity::bot(),
            bind: None,
            max_body_bytes: 4 * 1024 * 1024,
            max_logged_requests: 10_000,
            worker_threads: 2,
        }
    }
}

/// A running stand-in. It serves on its own thread and tokio runtime, so it works from
/// synchronous tests and from inside other runtimes alike; it stops on [`StandIn::stop`]
/// or when dropped.
pub struct StandIn {
    addr: SocketAddr,
    base_url: String,
    state: Arc<Mutex<StandInState>>,
    server: Background,
}

impl std::fmt::Debug for StandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandIn")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// What every request handler shares.
struct Shared {
    config: ApiConfig,
    max_body_bytes: usize,
    state: Arc<Mutex<StandInState>>,
}

impl StandIn {
    /// Bind (`127.0.0.1:0` unless [`StandInOptions::bind`] says otherwise) and start
    /// serving. Errors when the address cannot be bound, the options are unusable, or
    /// the runtime cannot start.
    pub fn start(options: StandInOptions) -> anyhow::Result<StandIn> {
        let organization = options.organization.trim().to_string();
        if organization.is_empty() || organization.contains(['/', '?', '#', ' ']) {
            bail!("the organization name {organization:?} cannot be a URL path segment");
        }
        let state_slot: Arc<Mutex<Option<Arc<Mutex<StandInState>>>>> = Arc::default();
        let slot = state_slot.clone();
        let identity = options.identity.clone();
        let config = ApiConfig {
            organization: organization.clone(),
            personal_access_tokens: options.personal_access_tokens.clone(),
            bearer_tokens: options.bearer_tokens.clone(),
        };
        let max_body_bytes = options.max_body_bytes;
        let max_logged = options.max_logged_requests;
        let org = organization.clone();
        let server = Background::start(
            "standin",
            options.bind,
            options.worker_threads,
            move |addr| {
                let state = Arc::new(Mutex::new(StandInState::new(
                    identity,
                    format!("http://{addr}"),
                    org,
                    max_logged,
                )));
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(state.clone());
                let shared = Arc::new(Shared {
                    config,
                    max_body_bytes,
                    state,
                });
                Router::new().fallback(handle).with_state(shared)
            },
        )?;
        let state = state_slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .context("the stand-in's state was not made")?;
        let base_url = format!("http://{}/{organization}/", server.addr());
        tracing::debug!(%base_url, "Azure DevOps stand-in started");
        Ok(StandIn {
            addr: server.addr(),
            base_url,
            state,
            server,
        })
    }

    /// The organization URL to give the provider as the connection's base URL, e.g.
    /// `http://127.0.0.1:PORT/contoso/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address the stand-in listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop serving and wait for the server thread (in-flight requests get a short
    /// grace period). Calling it again does nothing; dropping the stand-in calls it.
    pub fn stop(&self) {
        self.server.stop();
    }

    /// The state, locked. Do not hold the guard while a request to the stand-in is in
    /// flight from the same thread: the server needs the lock to answer it.
    pub fn state(&self) -> MutexGuard<'_, StandInState> {
        lock(&self.state)
    }

    /// A handle on the state that outlives this borrow (for a demo that hands it to
    /// another thread).
    pub fn state_handle(&self) -> Arc<Mutex<StandInState>> {
        self.state.clone()
    }

    /// [`StandInState::seed_repository`].
    pub fn seed_repository(&self, seed: RepositorySeed) -> anyhow::Result<()> {
        self.state().seed_repository(seed)
    }

    /// [`StandInState::seed_pull_request`].
    pub fn seed_pull_request(&self, seed: PullRequestSeed) -> anyhow::Result<()> {
        self.state().seed_pull_request(seed)
    }

    /// [`StandInState::set_head`]: a push to the pull request; answers the new
    /// iteration's id.
    pub fn set_head(
        &self,
        repository_id: &str,
        number: u64,
        head_sha: &str,
        files: Vec<FileChange>,
    ) -> anyhow::Result<u64> {
        self.state()
            .set_head(repository_id, number, head_sha, files)
    }

    /// [`StandInState::inject`]: arm a fault.
    pub fn inject(&self, fault: Fault) {
        self.state().inject(fault);
    }

    /// A copy of a pull request and everything posted on it.
    pub fn pull_request(&self, repository_id: &str, number: u64) -> Option<PullRequestRecord> {
        self.state().pull_request(repository_id, number).cloned()
    }

    /// A copy of the threads of a pull request, with their comments.
    pub fn threads(&self, repository_id: &str, number: u64) -> Vec<ThreadRecord> {
        self.state().threads(repository_id, number).to_vec()
    }

    /// A copy of the statuses posted on a pull request, oldest first.
    pub fn pull_request_statuses(
        &self,
        repository_id: &str,
        number: u64,
    ) -> Vec<PullRequestStatusRecord> {
        self.state()
            .pull_request_statuses(repository_id, number)
            .to_vec()
    }

    /// A copy of the statuses posted on a commit, oldest first.
    pub fn commit_statuses(&self, repository_id: &str, sha: &str) -> Vec<CommitStatusRecord> {
        self.state().commit_statuses(repository_id, sha).to_vec()
    }

    /// A copy of the request log, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state().requests().cloned().collect()
    }

    /// Totals: requests, faults, threads, comments, statuses.
    pub fn counts(&self) -> Counts {
        self.state().counts()
    }
}

fn lock(state: &Mutex<StandInState>) -> MutexGuard<'_, StandInState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every request: faults first, then the body (within the limit), then the API.
async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let arrived = SystemTime::now();
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_string();
    let target = parts.uri.path_and_query().map_or_else(
        || parts.uri.path().to_string(),
        |pq| pq.as_str().to_string(),
    );

    let fault = lock(&shared.state).take_fault(&method, &target);
    let mut answer = match &fault {
        Some(FaultKind::RateLimited {
            retry_after_seconds,
        }) => Some(wire::rate_limited(*retry_after_seconds)),
        Some(FaultKind::SignInPage203) => Some(wire::sign_in_page()),
        Some(FaultKind::ServerError(status)) if (400..600).contains(status) => {
            Some(ApiError::injected(*status).answer())
        }
        Some(FaultKind::ServerError(status)) => Some(Answer::empty(*status)),
        Some(FaultKind::Delay(pause)) => {
            tokio::time::sleep(*pause).await;
            None
        }
        None => None,
    };
    if answer.is_none() {
        answer = Some(api_answer(&shared, &method, &parts, body).await);
    }
    let answer = answer.unwrap_or_else(|| Answer::empty(500));
    let status = answer.status;
    lock(&shared.state).log(RequestRecord {
        method,
        target,
        status,
        at: arrived,
        elapsed: started.elapsed(),
        fault: fault.as_ref().map(FaultKind::label),
    });
    into_response(answer)
}

async fn api_answer(
    shared: &Shared,
    method: &str,
    parts: &axum::http::request::Parts,
    body: Body,
) -> Answer {
    let limit = shared.max_body_bytes;
    let Some(bytes) = read_body(body, limit).await else {
        return ApiError::too_large(limit).answer();
    };
    let incoming = Incoming {
        method,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &bytes,
    };
    let mut state = lock(&shared.state);
    api::answer(&shared.config, &mut state, &incoming)
}

fn into_response(answer: Answer) -> Response {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        if name == "content-length" {
            continue; // hyper computes it from the body
        }
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(name, value);
        }
    }
    response
}
