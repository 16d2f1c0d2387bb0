//! A local stand-in for GitHub's REST API: the resources the GitHub provider calls, with
//! GitHub's JSON shapes and error bodies, over real HTTP on loopback.
//!
//! Served below `{base}` = `http://127.0.0.1:PORT/` (the API root the provider is given,
//! as `https://api.github.com/` is for github.com):
//!
//! | resource | methods |
//! |---|---|
//! | `user` | GET: the token's identity |
//! | `repos/{owner}/{repo}/pulls/{n}` | GET |
//! | `repos/{owner}/{repo}/pulls/{n}/reviews?per_page=&page=` | GET (paged) |
//! | `repos/{owner}/{repo}/pulls/{n}/files?per_page=&page=` | GET (paged) |
//! | `repos/{owner}/{repo}/issues/{n}/comments` | GET, POST (201) |
//! | `repos/{owner}/{repo}/issues/comments/{id}` | GET, PATCH |
//! | `repos/{owner}/{repo}/statuses/{sha}` | POST (201) |
//! | `repos/{owner}/{repo}/commits/{sha}/statuses` | GET |
//!
//! Like the service: a request without an accepted token (`Authorization: Bearer T` or
//! `token T`) gets 401 `Bad credentials`; an unknown repository, pull request or comment
//! 404 `Not Found`; a comment body over 65,536 characters, a status state other than
//! `error`, `failure`, `pending` or `success`, or an unparsable body 422 `Validation
//! Failed` with GitHub's `errors` list; a body over the limit 413. Every request is in
//! the request log.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::server::{Background, read_body};

/// The token [`GitHubOptions::default`] accepts.
pub const DEFAULT_TOKEN: &str = "ghp_standin0123456789";

/// The longest comment body GitHub takes, in characters.
pub const MAX_COMMENT_CHARS: usize = 65_536;

/// How the GitHub stand-in is set up.
#[derive(Debug, Clone)]
pub struct GitHubOptions {
    /// Tokens accepted as `Authorization: Bearer T` (or `token T`).
    pub tokens: Vec<String>,
    /// The account every accepted token acts as: `GET /user`, and the author of every
    /// comment posted.
    pub identity: GitHubUser,
    /// Where to listen; a free loopback port when `None`.
    pub bind: Option<SocketAddr>,
    /// The largest request body read; larger ones are answered 413.
    pub max_body_bytes: usize,
}

impl Default for GitHubOptions {
    fn default() -> Self {
        Self {
            tokens: vec![DEFAULT_TOKEN.into()],
            identity: GitHubUser::new(41_898_282, "scalr-integration[bot]"),
            bind: None,
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

/// A GitHub account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubUser {
    /// The numeric account id.
    pub id: u64,
    /// The login.
    pub login: String,
}

impl GitHubUser {
    /// The account `login` with id `id`.
    pub fn new(id: u64, login: &str) -> Self {
        Self {
            id,
            login: login.to_owned(),
        }
    }

    fn json(&self, origin: &str) -> Value {
        json!({
            "login": self.login,
            "id": self.id,
            "type": if self.login.ends_with("[bot]") { "Bot" } else { "User" },
            "url": format!("{origin}/users/{}", self.login),
        })
    }
}

/// A pull request the stand-in knows.
#[derive(Debug, Clone, PartialEq)]
pub struct PullSeed {
    /// `owner/repo`.
    pub repository: String,
    /// Its number.
    pub number: u64,
    /// Its title.
    pub title: String,
    /// Who opened it.
    pub author: GitHubUser,
    /// Head branch and commit.
    pub head_ref: String,
    /// The head commit.
    pub head_sha: String,
    /// Base branch.
    pub base_ref: String,
    /// The base commit.
    pub base_sha: String,
}

/// An issue comment as the stand-in keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueComment {
    /// Its id.
    pub id: u64,
    /// `owner/repo`.
    pub repository: String,
    /// The issue (pull request) number.
    pub number: u64,
    /// Its body.
    pub body: String,
    /// Its author.
    pub author: GitHubUser,
    /// How often it was edited.
    pub edits: u32,
}

/// A commit status as posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    /// `owner/repo`.
    pub repository: String,
    /// The commit.
    pub sha: String,
    /// `error`, `failure`, `pending` or `success`.
    pub state: String,
    /// Its context.
    pub context: String,
    /// Its description.
    pub description: String,
}

/// One request as the stand-in saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// The status answered.
    pub status: u16,
}

/// What the stand-in holds.
#[derive(Debug, Default)]
pub struct GitHubState {
    pulls: BTreeMap<(String, u64), PullSeed>,
    comments: Vec<IssueComment>,
    statuses: Vec<CommitStatus>,
    requests: Vec<RequestRecord>,
    next_comment_id: u64,
}

struct Shared {
    options: GitHubOptions,
    origin: String,
    state: Arc<Mutex<GitHubState>>,
}

/// A running GitHub stand-in; stops when dropped.
pub struct GitHubStandIn {
    base_url: String,
    state: Arc<Mutex<GitHubState>>,
    server: Background,
}

impl std::fmt::Debug for GitHubStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubStandIn")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl GitHubStandIn {
    /// Start serving on loopback.
    pub fn start(options: GitHubOptions) -> anyhow::Result<Self> {
        let state = Arc::new(Mutex::new(GitHubState {
            next_comment_id: 1_000_001,
            ..GitHubState::default()
        }));
        let shared_state = state.clone();
        let bind = options.bind;
        let server = Background::start("github-standin", bind, 2, move |addr| {
            let shared = Arc::new(Shared {
                options,
                origin: format!("http://{addr}"),
                state: shared_state,
            });
            Router::new().fallback(handle).with_state(shared)
        })?;
        Ok(Self {
            base_url: format!("http://{}/", server.addr()),
            state,
            server,
        })
    }

    /// The API root to give the provider as the connection's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Stop serving (dropping the stand-in does too).
    pub fn stop(&self) {
        self.server.stop();
    }

    /// Make a pull request known.
    pub fn seed_pull(&self, seed: PullSeed) {
        lock(&self.state)
            .pulls
            .insert((seed.repository.clone(), seed.number), seed);
    }

    /// The comments of `repository`'s issue or pull request `number`, oldest first.
    pub fn comments(&self, repository: &str, number: u64) -> Vec<IssueComment> {
        lock(&self.state)
            .comments
            .iter()
            .filter(|c| c.repository == repository && c.number == number)
            .cloned()
            .collect()
    }

    /// The statuses posted on `sha`, oldest first.
    pub fn statuses(&self, repository: &str, sha: &str) -> Vec<CommitStatus> {
        lock(&self.state)
            .statuses
            .iter()
            .filter(|s| s.repository == repository && s.sha == sha)
            .cloned()
            .collect()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.state).requests.clone()
    }
}

fn lock(state: &Mutex<GitHubState>) -> MutexGuard<'_, GitHubState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// GitHub's answer: a status and a JSON body.
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }

    fn created(body: Value) -> Self {
        Self { status: 201, body }
    }

    /// GitHub's error body: `{"message", "documentation_url", "status"}`.
    fn error(status: u16, message: &str) -> Self {
        Self {
            status,
            body: json!({
                "message": message,
                "documentation_url": "https://docs.github.com/rest",
                "status": status.to_string(),
            }),
        }
    }

    /// 422 with one entry in GitHub's `errors` list.
    fn validation(resource: &str, field: &str, code: &str, message: Option<&str>) -> Self {
        let mut error = json!({"resource": resource, "field": field, "code": code});
        if let (Some(message), Some(map)) = (message, error.as_object_mut()) {
            map.insert("message".into(), json!(message));
        }
        Self {
            status: 422,
            body: json!({
                "message": "Validation Failed",
                "errors": [error],
                "documentation_url": "https://docs.github.com/rest",
                "status": "422",
            }),
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let answer = match read_body(body, shared.options.max_body_bytes).await {
        None => Answer::error(413, "Payload Too Large"),
        Some(bytes) => answer(
            &shared,
            &method,
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            &bytes,
        ),
    };
    lock(&shared.state).requests.push(RequestRecord {
        method,
        target,
        status: answer.status,
    });
    let mut response = Response::new(Body::from(answer.body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = "application/json; charset=utf-8".parse() {
        response.headers_mut().insert("content-type", value);
    }
    response
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))
        .unwrap_or_default();
    shared.options.tokens.iter().any(|t| t == token)
}

/// A query parameter as a number, with GitHub's paging defaults.
fn page_of(query: Option<&str>) -> (usize, usize) {
    let get = |name: &str| {
        query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let per_page = get("per_page").unwrap_or(30).clamp(1, 100);
    let page = get("page").unwrap_or(1).max(1);
    (per_page, page)
}

fn answer(
    shared: &Shared,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    if !authorized(shared, headers) {
        return Answer::error(401, "Bad credentials");
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let origin = shared.origin.as_str();
    let mut state = lock(&shared.state);
    match (method, segments.as_slice()) {
        ("GET", ["user"]) => Answer::ok(shared.options.identity.json(origin)),
        (_, ["repos", owner, repo, rest @ ..]) => {
            let repository = format!("{owner}/{repo}");
            repository_answer(shared, &mut state, method, &repository, rest, query, body)
        }
        _ => Answer::error(404, "Not Found"),
    }
}

fn repository_answer(
    shared: &Shared,
    state: &mut GitHubState,
    method: &str,
    repository: &str,
    rest: &[&str],
    query: Option<&str>,
    body: &[u8],
) -> Answer {
    let origin = shared.origin.as_str();
    let known = state.pulls.keys().any(|(r, _)| r == repository);
    if !known {
        return Answer::error(404, "Not Found");
    }
    let number = |text: &str| text.parse::<u64>().ok();
    match (method, rest) {
        ("GET", ["pulls", n]) => match number(n).and_then(|n| state.pulls.get(&(repository.to_owned(), n))) {
            Some(pull) => Answer::ok(pull_json(pull, origin)),
            None => Answer::error(404, "Not Found"),
        },
        ("GET", ["pulls", n, "reviews" | "files"]) => {
            if number(n).is_none_or(|n| !state.pulls.contains_key(&(repository.to_owned(), n))) {
                return Answer::error(404, "Not Found");
            }
            // No reviews and no files are recorded: every page is empty.
            let _ = page_of(query);
            Answer::ok(json!([]))
        }
        ("GET", ["issues", n, "comments"]) => {
            let Some(n) = number(n) else {
                return Answer::error(404, "Not Found");
            };
            let (per_page, page) = page_of(query);
            let all: Vec<Value> = state
                .comments
                .iter()
                .filter(|c| c.repository == repository && c.number == n)
                .map(|c| comment_json(c, origin))
                .collect();
            Answer::ok(Value::Array(
                all.into_iter()
                    .skip(per_page.saturating_mul(page - 1))
                    .take(per_page)
                    .collect(),
            ))
        }
        ("POST", ["issues", n, "comments"]) => {
            let Some(n) = number(n).filter(|n| state.pulls.contains_key(&(repository.to_owned(), *n)))
            else {
                return Answer::error(404, "Not Found");
            };
            let text = match comment_body(body) {
                Ok(text) => text,
                Err(refused) => return refused,
            };
            let comment = IssueComment {
                id: state.next_comment_id,
                repository: repository.to_owned(),
                number: n,
                body: text,
                author: shared.options.identity.clone(),
                edits: 0,
            };
            state.next_comment_id += 1;
            let answer = Answer::created(comment_json(&comment, origin));
            state.comments.push(comment);
            answer
        }
        ("GET" | "PATCH", ["issues", "comments", id]) => {
            let Some(comment) = number(id).and_then(|id| {
                state
                    .comments
                    .iter_mut()
                    .find(|c| c.id == id && c.repository == repository)
            }) else {
                return Answer::error(404, "Not Found");
            };
            if method == "PATCH" {
                match comment_body(body) {
                    Ok(text) => {
                        comment.body = text;
                        comment.edits += 1;
                    }
                    Err(refused) => return refused,
                }
            }
            Answer::ok(comment_json(comment, origin))
        }
        ("POST", ["statuses", sha]) => {
            let Ok(posted) = serde_json::from_slice::<Value>(body) else {
                return Answer::error(400, "Problems parsing JSON");
            };
            let text = |key: &str| posted.get(key).and_then(Value::as_str).unwrap_or_default();
            let status = text("state");
            if !["error", "failure", "pending", "success"].contains(&status) {
                return Answer::validation("Status", "state", "custom", Some("state is not included in the list"));
            }
            if text("description").chars().count() > 140 {
                return Answer::validation(
                    "Status",
                    "description",
                    "custom",
                    Some("description is too long (maximum is 140 characters)"),
                );
            }
            let record = CommitStatus {
                repository: repository.to_owned(),
                sha: (*sha).to_owned(),
                state: status.to_owned(),
                context: match text("context") {
                    "" => "default".to_owned(),
                    context => context.to_owned(),
                },
                description: text("description").to_owned(),
            };
            let answer = Answer::created(json!({
                "state": record.state,
                "context": record.context,
                "description": record.description,
                "target_url": posted.get("target_url").cloned().unwrap_or(Value::Null),
                "creator": shared.options.identity.json(origin),
            }));
            state.statuses.push(record);
            answer
        }
        ("GET", ["commits", sha, "statuses"]) => Answer::ok(Value::Array(
            state
                .statuses
                .iter()
                .rev()
                .filter(|s| s.repository == repository && s.sha == *sha)
                .map(|s| json!({"state": s.state, "context": s.context, "description": s.description}))
                .collect(),
        )),
        _ => Answer::error(404, "Not Found"),
    }
}

/// The `body` of a comment request, or GitHub's refusal.
fn comment_body(body: &[u8]) -> Result<String, Answer> {
    let posted: Value =
        serde_json::from_slice(body).map_err(|_| Answer::error(400, "Problems parsing JSON"))?;
    let Some(text) = posted.get("body").and_then(Value::as_str) else {
        return Err(Answer::validation(
            "IssueComment",
            "body",
            "missing_field",
            None,
        ));
    };
    if text.chars().count() > MAX_COMMENT_CHARS {
        return Err(Answer::validation(
            "IssueComment",
            "body",
            "custom",
            Some("body is too long (maximum is 65536 characters)"),
        ));
    }
    Ok(text.to_owned())
}

fn comment_json(comment: &IssueComment, origin: &str) -> Value {
    json!({
        "id": comment.id,
        "node_id": format!("IC_{}", comment.id),
        "url": format!("{origin}/repos/{}/issues/comments/{}", comment.repository, comment.id),
        "html_url": format!("{origin}/{}/pull/{}#issuecomment-{}", comment.repository, comment.number, comment.id),
        "issue_url": format!("{origin}/repos/{}/issues/{}", comment.repository, comment.number),
        "body": comment.body,
        "user": comment.author.json(origin),
        "author_association": "NONE",
    })
}

fn pull_json(pull: &PullSeed, origin: &str) -> Value {
    let repo = json!({
        "full_name": pull.repository,
        "name": pull.repository.split('/').nth(1).unwrap_or_default(),
        "owner": {"login": pull.repository.split('/').next().unwrap_or_default()},
    });
    json!({
        "number": pull.number,
        "title": pull.title,
        "state": "open",
        "draft": false,
        "merged": false,
        "mergeable": true,
        "mergeable_state": "clean",
        "user": pull.author.json(origin),
        "html_url": format!("{origin}/{}/pull/{}", pull.repository, pull.number),
        "head": {"ref": pull.head_ref, "sha": pull.head_sha, "repo": repo},
        "base": {"ref": pull.base_ref, "sha": pull.base_sha, "repo": repo},
    })
}
