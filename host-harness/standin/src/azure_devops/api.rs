//! Routing, authentication and the REST resources, as plain functions of a request and
//! the state (the server in `mod.rs` only moves bytes and applies faults).

use axum::http::HeaderMap;
use base64::Engine as _;
use serde_json::{Value, json};

use super::state::{
    CommitStatusRecord, ProjectRecord, PullRequestStatusRecord, RepositoryRecord, StandInState,
    new_thread, push_comment,
};
use super::wire::{self, Answer, ApiError, NEWEST_API_VERSION};

/// Azure DevOps' limit on a comment's content, in UTF-16 code units.
pub(super) const MAX_COMMENT_UNITS: usize = 150_000;

/// Azure DevOps' limit on the comments of one thread.
pub(super) const MAX_COMMENTS_PER_THREAD: usize = 500;

/// Default and largest page of the paged lists (iteration changes, commit diffs).
const DEFAULT_TOP: usize = 100;
const MAX_TOP: usize = 2000;

/// What the handlers need to know about the server.
#[derive(Debug, Clone)]
pub(super) struct ApiConfig {
    pub(super) organization: String,
    pub(super) personal_access_tokens: Vec<String>,
    pub(super) bearer_tokens: Vec<String>,
}

/// One request, its body already read.
#[derive(Debug)]
pub(super) struct Incoming<'a> {
    pub(super) method: &'a str,
    pub(super) path: &'a str,
    pub(super) query: Option<&'a str>,
    pub(super) headers: &'a HeaderMap,
    pub(super) body: &'a [u8],
}

impl Incoming<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default()
    }

    fn query_value(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    fn is_write(&self) -> bool {
        matches!(self.method, "POST" | "PATCH" | "PUT")
    }
}

/// The resources the stand-in serves, below `{org}/[{project}/]_apis/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    /// `_apis/connectionData`
    ConnectionData,
    /// `_apis/git/repositories`
    Repositories,
    /// `_apis/git/repositories/{repo}`
    Repository { repo: String },
    /// `_apis/git/repositories/{repo}/commits/{sha}/statuses`
    CommitStatuses { repo: String, sha: String },
    /// `_apis/git/repositories/{repo}/diffs/commits`
    CommitDiffs { repo: String },
    /// `_apis/git/repositories/{repo}/pullRequests/{n}`
    PullRequest { repo: String, number: u64 },
    /// `.../pullRequests/{n}/threads`
    Threads { repo: String, number: u64 },
    /// `.../pullRequests/{n}/threads/{t}`
    Thread {
        repo: String,
        number: u64,
        thread: u64,
    },
    /// `.../pullRequests/{n}/threads/{t}/comments`
    Comments {
        repo: String,
        number: u64,
        thread: u64,
    },
    /// `.../pullRequests/{n}/threads/{t}/comments/{c}`
    Comment {
        repo: String,
        number: u64,
        thread: u64,
        comment: u64,
    },
    /// `.../pullRequests/{n}/statuses`
    PullRequestStatuses { repo: String, number: u64 },
    /// `.../pullRequests/{n}/iterations`
    Iterations { repo: String, number: u64 },
    /// `.../pullRequests/{n}/iterations/{i}`
    Iteration {
        repo: String,
        number: u64,
        iteration: u64,
    },
    /// `.../pullRequests/{n}/iterations/{i}/changes`
    IterationChanges {
        repo: String,
        number: u64,
        iteration: u64,
    },
    /// `{project}/_apis/policy/evaluations`
    PolicyEvaluations,
}

/// A request's place: the project segment (decoded) if there was one, and the route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Located {
    pub(super) project: Option<String>,
    pub(super) route: Route,
}

/// Where a request goes, from its decoded path segments after the organization.
/// `Ok(None)`: no such resource; `Err`: a malformed number.
pub(super) fn locate(segments: &[String]) -> Result<Option<Located>, ApiError> {
    let is = |s: &String, name: &str| s.eq_ignore_ascii_case(name);
    let (project, api) = match segments {
        [first, rest @ ..] if is(first, "_apis") => (None, rest),
        [project, apis, rest @ ..] if is(apis, "_apis") => (Some(project.clone()), rest),
        _ => return Ok(None),
    };
    let route = match api {
        [c] if is(c, "connectionData") && project.is_none() => Route::ConnectionData,
        [p, e] if is(p, "policy") && is(e, "evaluations") && project.is_some() => {
            Route::PolicyEvaluations
        }
        [g, r] if is(g, "git") && is(r, "repositories") => Route::Repositories,
        [g, r, repo, rest @ ..] if is(g, "git") && is(r, "repositories") => {
            let repo = repo.clone();
            match rest {
                [] => Route::Repository { repo },
                [c, sha, s] if is(c, "commits") && is(s, "statuses") => Route::CommitStatuses {
                    repo,
                    sha: sha.clone(),
                },
                [d, c] if is(d, "diffs") && is(c, "commits") => Route::CommitDiffs { repo },
                [p, n, tail @ ..] if is(p, "pullRequests") => {
                    let number = number_of(n, "pullRequestId")?;
                    match tail {
                        [] => Route::PullRequest { repo, number },
                        [t] if is(t, "threads") => Route::Threads { repo, number },
                        [t, id] if is(t, "threads") => Route::Thread {
                            repo,
                            number,
                            thread: number_of(id, "threadId")?,
                        },
                        [t, id, c] if is(t, "threads") && is(c, "comments") => Route::Comments {
                            repo,
                            number,
                            thread: number_of(id, "threadId")?,
                        },
                        [t, id, c, cid] if is(t, "threads") && is(c, "comments") => {
                            Route::Comment {
                                repo,
                                number,
                                thread: number_of(id, "threadId")?,
                                comment: number_of(cid, "commentId")?,
                            }
                        }
                        [s] if is(s, "statuses") => Route::PullRequestStatuses { repo, number },
                        [i] if is(i, "iterations") => Route::Iterations { repo, number },
                        [i, id] if is(i, "iterations") => Route::Iteration {
                            repo,
                            number,
                            iteration: number_of(id, "iterationId")?,
                        },
                        [i, id, c] if is(i, "iterations") && is(c, "changes") => {
                            Route::IterationChanges {
                                repo,
                                number,
                                iteration: number_of(id, "iterationId")?,
                            }
                        }
                        _ => return Ok(None),
                    }
                }
                _ => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(Located { project, route }))
}

fn number_of(text: &str, what: &str) -> Result<u64, ApiError> {
    text.parse::<u64>().map_err(|_| {
        ApiError::invalid_argument(format!(
            "The value '{text}' is not valid for {what}: it must be a positive number."
        ))
    })
}

/// Whether the request carries an accepted credential: `Basic base64(user:PAT)` (Azure
/// DevOps ignores the user name) or `Bearer <token>`.
pub(super) fn authenticated(config: &ApiConfig, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, credential)) = value.trim().split_once(' ') else {
        return false;
    };
    let credential = credential.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credential) else {
            return false;
        };
        let Ok(text) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((_user, pat)) = text.split_once(':') else {
            return false;
        };
        !pat.is_empty() && config.personal_access_tokens.iter().any(|t| t == pat)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        !credential.is_empty() && config.bearer_tokens.iter().any(|t| t == credential)
    } else {
        false
    }
}

/// Answer a request that no fault took.
pub(super) fn answer(config: &ApiConfig, state: &mut StandInState, request: &Incoming) -> Answer {
    let mut raw_segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    if raw_segments.last() == Some(&"") {
        raw_segments.pop();
    }
    let Some(segments) = raw_segments
        .iter()
        .map(|s| wire::decode_segment(s))
        .collect::<Option<Vec<String>>>()
    else {
        return ApiError::invalid_argument("The request path is not valid UTF-8.".into()).answer();
    };
    // Another organization: Azure DevOps answers an empty 404.
    match segments.first() {
        Some(org) if org.eq_ignore_ascii_case(&config.organization) => {}
        _ => return Answer::empty(404),
    }
    if !authenticated(config, request.headers) {
        let suppressed = request
            .header("x-tfs-fedauthredirect")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("suppress"));
        return if suppressed {
            wire::unauthorized(&state.base_url())
        } else {
            wire::sign_in_page()
        };
    }
    match route(state, request, &segments[1..]) {
        Ok(answer) => answer,
        Err(error) => error.answer(),
    }
}

fn route(
    state: &mut StandInState,
    request: &Incoming,
    segments: &[String],
) -> Result<Answer, ApiError> {
    let Some(located) = locate(segments)? else {
        return Err(ApiError::no_route(request.method, request.path));
    };
    check_api_version(request, &located.route)?;
    let project = match &located.project {
        Some(name) => Some(
            state
                .find_project(name)
                .cloned()
                .ok_or_else(|| ApiError::project_not_found(name))?,
        ),
        None => None,
    };
    let project = project.as_ref();
    let method = request.method;
    let not_allowed = || Err(ApiError::method_not_allowed(method));
    match (&located.route, method) {
        (Route::ConnectionData, "GET") => Ok(Answer::json(200, &wire::connection_data(state))),
        (Route::Repositories, "GET") => list_repositories(state, project),
        (Route::Repository { repo }, "GET") => {
            let repository = repository(state, project, repo)?;
            Ok(Answer::json(200, &wire::repository(state, &repository)))
        }
        (Route::CommitStatuses { repo, sha }, "GET") => {
            let repository = repository(state, project, repo)?;
            let values = state
                .commit_statuses(&repository.id, sha)
                .iter()
                .map(wire::commit_status)
                .collect();
            Ok(Answer::list(values))
        }
        (Route::CommitStatuses { repo, sha }, "POST") => {
            let repository = repository(state, project, repo)?;
            create_commit_status(state, request, &repository, sha)
        }
        (Route::CommitDiffs { repo }, "GET") => {
            let repository = repository(state, project, repo)?;
            commit_diffs(state, request, &repository)
        }
        (Route::PullRequest { repo, number }, "GET") => {
            let repository = repository(state, project, repo)?;
            let pr = pull_request(state, &repository, *number)?;
            Ok(Answer::json(
                200,
                &wire::pull_request(state, &repository, pr),
            ))
        }
        (Route::Threads { repo, number }, "GET") => {
            let repository = repository(state, project, repo)?;
            let pr = pull_request(state, &repository, *number)?;
            let (repo_url, pr_url) = urls(state, &repository, *number);
            let values = pr
                .threads
                .iter()
                .map(|t| wire::thread(&repo_url, &pr_url, t))
                .collect();
            Ok(Answer::list(values))
        }
        (Route::Threads { repo, number }, "POST") => {
            let repository = repository(state, project, repo)?;
            create_thread(state, request, &repository, *number)
        }
        (
            Route::Thread {
                repo,
                number,
                thread,
            },
            "GET",
        ) => {
            let repository = repository(state, project, repo)?;
            let pr = pull_request(state, &repository, *number)?;
            let found = pr
                .thread(*thread)
                .ok_or_else(|| ApiError::thread_not_found(*thread))?;
            let (repo_url, pr_url) = urls(state, &repository, *number);
            Ok(Answer::json(200, &wire::thread(&repo_url, &pr_url, found)))
        }
        (
            Route::Thread {
                repo,
                number,
                thread,
            },
            "PATCH",
        ) => {
            let repository = repository(state, project, repo)?;
            update_thread(state, request, &repository, *number, *thread)
        }
        (
            Route::Comments {
                repo,
                number,
                thread,
            },
            "GET",
        ) => {
            let repository = repository(state, project, repo)?;
            let pr = pull_request(state, &repository, *number)?;
            let found = pr
                .thread(*thread)
                .ok_or_else(|| ApiError::thread_not_found(*thread))?;
            let (repo_url, pr_url) = urls(state, &repository, *number);
            let thread_url = format!("{pr_url}/threads/{thread}");
            let values = found
                .comments
                .iter()
                .map(|c| wire::comment(&thread_url, &repo_url, &pr_url, c))
                .collect();
            Ok(Answer::list(values))
        }
        (
            Route::Comments {
                repo,
                number,
                thread,
            },
            "POST",
        ) => {
            let repository = repository(state, project, repo)?;
            create_comment(state, request, &repository, *number, *thread)
        }
        (
            Route::Comment {
                repo,
                number,
                thread,
                comment,
            },
            "GET",
        ) => {
            let repository = repository(state, project, repo)?;
            let pr = pull_request(state, &repository, *number)?;
            let found = pr
                .thread(*thread)
                .ok_or_else(|| ApiError::thread_not_found(*thread))?
                .comment(*comment)
                .ok_or_else(|| ApiError::comment_not_found(*thread, *comment))?;
            let (repo_url, pr_url) = urls(state, &repository, *number);
            let thread_url = format!("{pr_url}/threads/{thread}");
            Ok(Answer::json(
                200,
                &wire::comment(&thread_url, &repo_url, &pr_url, found),
            ))
        }
        (
            Route::Comment {
                repo,
                number,
                thread,
                comment,
            },
            "PATCH",
        ) => {
            let repository = repository(state, project, repo)?;
            update_comment(state, request, &repository, *number, *thread, *comment)
        }
        (Route::PullRequestStatuses { repo, number }, "GET") => {
            let repository = repository(state, project, repo)?;
            let pr = pull_request(state, &repository, *number)?;
            Ok(Answer::list(
                pr.statuses.iter().map(wire::pull_request_status).collect(),
            ))
        }
        (Route::PullRequestStatuses { repo, number }, "POST") => {
            let repository = repository(state, project, repo)?;
            create_pull_request_status(state, request, &repository, *number)
        }
        (Route::Iterations { repo, number }, "GET") => {
            let repository = repository(state, project, repo)?;
            let pr = pull_request(state, &repository, *number)?;
            Ok(Answer::list(
                pr.iterations
                    .iter()
                    .map(|i| wire::iteration(pr, i))
                    .collect(),
            ))
        }
        (
            Route::Iteration {
                repo,
                number,
                iteration,
            },
            "GET",
        ) => {
            let repository = repository(state, project, repo)?;
            let pr = pull_request(state, &repository, *number)?;
            let found = pr
                .iterations
                .iter()
                .find(|i| i.id == *iteration)
                .ok_or_else(|| ApiError::iteration_not_found(*iteration))?;
            Ok(Answer::json(200, &wire::iteration(pr, found)))
        }
        (
            Route::IterationChanges {
                repo,
                number,
                iteration,
            },
            "GET",
        ) => {
            let repository = repository(state, project, repo)?;
            iteration_changes(state, request, &repository, *number, *iteration)
        }
        (Route::PolicyEvaluations, "GET") => policy_evaluations(state, request, project),
        _ => not_allowed(),
    }
}

/// The api-version rules: writes must name one; versions must be well formed and not
/// newer than the service; `connectionData` and policy evaluations exist only as previews.
fn check_api_version(request: &Incoming, route: &Route) -> Result<(), ApiError> {
    let from_accept = request.header("accept").and_then(|accept| {
        accept
            .split(';')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("api-version="))
            .map(str::to_string)
    });
    let Some(version) = request.query_value("api-version").or(from_accept) else {
        if request.is_write() {
            return Err(ApiError::version_not_specified(request.method));
        }
        return Ok(());
    };
    let version = version.trim();
    let (number, preview) = match version.split_once('-') {
        Some((number, suffix)) => {
            let valid_suffix = suffix == "preview"
                || suffix
                    .strip_prefix("preview.")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !valid_suffix {
                return Err(ApiError::invalid_version(version));
            }
            (number, true)
        }
        None => (version, false),
    };
    let parsed = number
        .split_once('.')
        .and_then(|(major, minor)| Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?)));
    let Some(parsed) = parsed else {
        return Err(ApiError::invalid_version(version));
    };
    if parsed > NEWEST_API_VERSION {
        return Err(ApiError::version_out_of_range(version));
    }
    let preview_only = matches!(route, Route::ConnectionData | Route::PolicyEvaluations);
    if preview_only && !preview {
        return Err(ApiError::invalid_preview_version(number));
    }
    Ok(())
}

/// The JSON object of a write request's body; Azure DevOps' deserializer turns a missing
/// or malformed body into null, which the controller reports as a null argument.
fn json_body(request: &Incoming, parameter: &str) -> Result<Value, ApiError> {
    let content_type = request.header("content-type").unwrap_or("").trim();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !request.body.is_empty()
        && media != "application/json"
        && media != "application/json-patch+json"
    {
        return Err(ApiError::unsupported_content_type(content_type));
    }
    match serde_json::from_slice::<Value>(request.body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(ApiError::null_argument(parameter)),
    }
}

fn list_repositories(
    state: &StandInState,
    project: Option<&ProjectRecord>,
) -> Result<Answer, ApiError> {
    // `$top` is not a parameter of this resource (the provider's read probe sends one):
    // like the service, the stand-in ignores it and lists every repository.
    let values = state
        .repositories()
        .iter()
        .filter(|r| project.is_none_or(|p| r.project_id == p.id))
        .map(|r| wire::repository(state, r))
        .collect();
    Ok(Answer::list(values))
}

fn repository(
    state: &StandInState,
    project: Option<&ProjectRecord>,
    key: &str,
) -> Result<RepositoryRecord, ApiError> {
    state
        .find_repository(project, key)
        .cloned()
        .ok_or_else(|| ApiError::repository_not_found(key))
}

fn pull_request<'s>(
    state: &'s StandInState,
    repository: &RepositoryRecord,
    number: u64,
) -> Result<&'s super::state::PullRequestRecord, ApiError> {
    state
        .pull_request(&repository.id, number)
        .ok_or_else(ApiError::pull_request_not_found)
}

fn urls(state: &StandInState, repository: &RepositoryRecord, number: u64) -> (String, String) {
    let repo_url = wire::repository_url(state, repository);
    let pr_url = format!("{repo_url}/pullRequests/{number}");
    (repo_url, pr_url)
}

/// `$top` / `$skip` from the query.
fn paging(request: &Incoming, name: &str, default: usize, max: usize) -> Result<usize, ApiError> {
    match request.query_value(name) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<usize>()
            .map(|n| n.min(max))
            .map_err(|_| {
                ApiError::invalid_argument(format!(
                    "The value '{text}' is not valid for {name}: it must be a number."
                ))
            }),
    }
}

/// An enumeration given as its number or its name (case-insensitive): the canonical name.
fn enumeration(
    value: Option<&Value>,
    names: &[&'static str],
    default: &'static str,
    field: &str,
) -> Result<&'static str, ApiError> {
    let refused = || {
        ApiError::invalid_argument(format!(
            "The value {} is not valid for {field}; use one of {}.",
            value.map(Value::to_string).unwrap_or_default(),
            names.join(", ")
        ))
    };
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| names.get(n).copied())
            .ok_or_else(refused),
        Some(Value::String(s)) => names
            .iter()
            .find(|name| name.eq_ignore_ascii_case(s.trim()))
            .copied()
            .ok_or_else(refused),
        Some(_) => Err(refused()),
    }
}

const THREAD_STATUSES: [&str; 7] = [
    "unknown", "active", "fixed", "wontFix", "closed", "byDesign", "pending",
];
const COMMENT_TYPES: [&str; 4] = ["unknown", "text", "codeChange", "system"];
const STATUS_STATES: [&str; 6] = [
    "notSet",
    "pending",
    "succeeded",
    "failed",
    "error",
    "notApplicable",
];

/// A comment's content, checked against the service's limit.
fn content(value: Option<&Value>) -> Result<String, ApiError> {
    let text = value
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_argument("The comment has no content.".into()))?;
    let units = text.encode_utf16().count();
    if units > MAX_COMMENT_UNITS {
        return Err(ApiError::invalid_argument(format!(
            "The comment is {units} characters long; comments may have at most \
             {MAX_COMMENT_UNITS} characters."
        )));
    }
    Ok(text.to_string())
}

fn parent_id(value: Option<&Value>) -> Result<u64, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v.as_u64().ok_or_else(|| {
            ApiError::invalid_argument(format!("The value {v} is not valid for parentCommentId."))
        }),
    }
}

fn create_thread(
    state: &mut StandInState,
    request: &Incoming,
    repository: &RepositoryRecord,
    number: u64,
) -> Result<Answer, ApiError> {
    pull_request(state, repository, number)?;
    let body = json_body(request, "commentThread")?;
    let comments = body
        .get("comments")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_argument("A comment thread needs at least one comment.".into())
        })?;
    if comments.len() > MAX_COMMENTS_PER_THREAD {
        return Err(too_many_comments());
    }
    let mut parts = Vec::new();
    for (index, comment) in comments.iter().enumerate() {
        let parent = parent_id(comment.get("parentCommentId"))?;
        if parent > u64::try_from(index).unwrap_or(u64::MAX) {
            return Err(ApiError::invalid_argument(format!(
                "The parent comment {parent} does not exist in the thread."
            )));
        }
        let text = content(comment.get("content"))?;
        let kind = enumeration(
            comment.get("commentType"),
            &COMMENT_TYPES,
            "text",
            "commentType",
        )?;
        parts.push((parent, text, kind));
    }
    let status = enumeration(body.get("status"), &THREAD_STATUSES, "active", "status")?;
    let author = state.identity().clone();
    let id = state.next_thread_id();
    let thread = new_thread(id, status, parts, &author);
    let (repo_url, pr_url) = urls(state, repository, number);
    let value = wire::thread(&repo_url, &pr_url, &thread);
    if let Some(pr) = state.pull_request_mut(&repository.id, number) {
        pr.threads.push(thread);
    }
    Ok(Answer::json(200, &value))
}

fn too_many_comments() -> ApiError {
    ApiError::invalid_argument(format!(
        "A comment thread may have at most {MAX_COMMENTS_PER_THREAD} comments."
    ))
}

fn update_thread(
    state: &mut StandInState,
    request: &Incoming,
    repository: &RepositoryRecord,
    number: u64,
    thread_id: u64,
) -> Result<Answer, ApiError> {
    pull_request(state, repository, number)?
        .thread(thread_id)
        .ok_or_else(|| ApiError::thread_not_found(thread_id))?;
    let body = json_body(request, "commentThread")?;
    let status = match body.get("status") {
        Some(value) => Some(enumeration(
            Some(value),
            &THREAD_STATUSES,
            "active",
            "status",
        )?),
        None => None,
    };
    let (repo_url, pr_url) = urls(state, repository, number);
    let pr = state
        .pull_request_mut(&repository.id, number)
        .ok_or_else(ApiError::pull_request_not_found)?;
    let thread = pr
        .threads
        .iter_mut()
        .find(|t| t.id == thread_id)
        .ok_or_else(|| ApiError::thread_not_found(thread_id))?;
    if let Some(status) = status {
        thread.status = status.to_string();
        thread.last_updated = std::time::SystemTime::now();
    }
    Ok(Answer::json(200, &wire::thread(&repo_url, &pr_url, thread)))
}

fn create_comment(
    state: &mut StandInState,
    request: &Incoming,
    repository: &RepositoryRecord,
    number: u64,
    thread_id: u64,
) -> Result<Answer, ApiError> {
    let existing = pull_request(state, repository, number)?
        .thread(thread_id)
        .ok_or_else(|| ApiError::thread_not_found(thread_id))?;
    let body = json_body(request, "comment")?;
    let parent = parent_id(body.get("parentCommentId"))?;
    if parent != 0 && existing.comment(parent).is_none() {
        return Err(ApiError::invalid_argument(format!(
            "The parent comment {parent} does not exist in thread {thread_id}."
        )));
    }
    if existing.comments.len() >= MAX_COMMENTS_PER_THREAD {
        return Err(too_many_comments());
    }
    let text = content(body.get("content"))?;
    let kind = enumeration(
        body.get("commentType"),
        &COMMENT_TYPES,
        "text",
        "commentType",
    )?;
    let author = state.identity().clone();
    let (repo_url, pr_url) = urls(state, repository, number);
    let pr = state
        .pull_request_mut(&repository.id, number)
        .ok_or_else(ApiError::pull_request_not_found)?;
    let thread = pr
        .threads
        .iter_mut()
        .find(|t| t.id == thread_id)
        .ok_or_else(|| ApiError::thread_not_found(thread_id))?;
    let id = push_comment(thread, parent, text, kind, &author);
    let thread_url = format!("{pr_url}/threads/{thread_id}");
    let value = thread
        .comment(id)
        .map(|c| wire::comment(&thread_url, &repo_url, &pr_url, c))
        .unwrap_or(Value::Null);
    Ok(Answer::json(200, &value))
}

fn update_comment(
    state: &mut StandInState,
    request: &Incoming,
    repository: &RepositoryRecord,
    number: u64,
    thread_id: u64,
    comment_id: u64,
) -> Result<Answer, ApiError> {
    let existing = pull_request(state, repository, number)?
        .thread(thread_id)
        .ok_or_else(|| ApiError::thread_not_found(thread_id))?
        .comment(comment_id)
        .ok_or_else(|| ApiError::comment_not_found(thread_id, comment_id))?;
    if existing.author.id != state.identity().id {
        return Err(ApiError::forbidden(format!(
            "Only the author of comment {comment_id} can edit it."
        )));
    }
    let body = json_body(request, "comment")?;
    let text = content(body.get("content"))?;
    let (repo_url, pr_url) = urls(state, repository, number);
    let pr = state
        .pull_request_mut(&repository.id, number)
        .ok_or_else(ApiError::pull_request_not_found)?;
    let thread = pr
        .threads
        .iter_mut()
        .find(|t| t.id == thread_id)
        .ok_or_else(|| ApiError::thread_not_found(thread_id))?;
    let now = std::time::SystemTime::now();
    thread.last_updated = now;
    let comment = thread
        .comments
        .iter_mut()
        .find(|c| c.id == comment_id)
        .ok_or_else(|| ApiError::comment_not_found(thread_id, comment_id))?;
    comment.content = text;
    comment.last_updated = now;
    comment.last_content_updated = now;
    comment.edits += 1;
    let thread_url = format!("{pr_url}/threads/{thread_id}");
    let value = wire::comment(&thread_url, &repo_url, &pr_url, comment);
    state.note_comment_edit();
    Ok(Answer::json(200, &value))
}

/// The fields common to pull-request and commit statuses.
struct StatusFields {
    state: &'static str,
    description: Option<String>,
    name: String,
    genre: Option<String>,
    target_url: Option<String>,
}

fn status_fields(body: &Value) -> Result<StatusFields, ApiError> {
    let context = body.get("context");
    let text = |value: Option<&Value>, field: &str| -> Result<Option<String>, ApiError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ApiError::invalid_argument(format!(
                "The value {other} is not valid for {field}: it must be a string."
            ))),
        }
    };
    let name = text(context.and_then(|c| c.get("name")), "context.name")?
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| {
            ApiError::invalid_argument("The status needs a context name (context.name).".into())
        })?;
    let genre = text(context.and_then(|c| c.get("genre")), "context.genre")?;
    let target_url = text(body.get("targetUrl"), "targetUrl")?;
    if let Some(raw) = &target_url {
        match url::Url::parse(raw) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
            _ => {
                return Err(ApiError::invalid_argument(format!(
                    "The target URL {raw:?} is not an absolute http(s) URL."
                )));
            }
        }
    }
    Ok(StatusFields {
        state: enumeration(body.get("state"), &STATUS_STATES, "notSet", "state")?,
        description: text(body.get("description"), "description")?,
        name,
        genre,
        target_url,
    })
}

fn create_pull_request_status(
    state: &mut StandInState,
    request: &Incoming,
    repository: &RepositoryRecord,
    number: u64,
) -> Result<Answer, ApiError> {
    let pr = pull_request(state, repository, number)?;
    let body = json_body(request, "status")?;
    let fields = status_fields(&body)?;
    let iteration_id = match body.get("iterationId") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let id = value.as_u64().filter(|id| *id >= 1).ok_or_else(|| {
                ApiError::invalid_argument(format!(
                    "The value {value} is not valid for iterationId: the minimum is 1."
                ))
            })?;
            if !pr.iterations.iter().any(|i| i.id == id) {
                return Err(ApiError::iteration_not_found(id));
            }
            Some(id)
        }
    };
    let created_by = state.identity().clone();
    let pr = state
        .pull_request_mut(&repository.id, number)
        .ok_or_else(ApiError::pull_request_not_found)?;
    let record = PullRequestStatusRecord {
        id: pr.statuses.iter().map(|s| s.id).max().unwrap_or(0) + 1,
        state: fields.state.to_string(),
        description: fields.description,
        context_name: fields.name,
        context_genre: fields.genre,
        target_url: fields.target_url,
        iteration_id,
        created_by,
        created: std::time::SystemTime::now(),
    };
    let value = wire::pull_request_status(&record);
    pr.statuses.push(record);
    Ok(Answer::json(200, &value))
}

fn create_commit_status(
    state: &mut StandInState,
    request: &Incoming,
    repository: &RepositoryRecord,
    sha: &str,
) -> Result<Answer, ApiError> {
    if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid_argument(format!(
            "The commit id {sha:?} is not a full commit id (40 hexadecimal digits)."
        )));
    }
    let body = json_body(request, "gitCommitStatusToCreate")?;
    let fields = status_fields(&body)?;
    let record = CommitStatusRecord {
        id: state.next_commit_status_id(),
        state: fields.state.to_string(),
        description: fields.description,
        context_name: fields.name,
        context_genre: fields.genre,
        target_url: fields.target_url,
        created_by: state.identity().clone(),
        created: std::time::SystemTime::now(),
    };
    let value = wire::commit_status(&record);
    state.commit_statuses_mut(&repository.id, sha).push(record);
    Ok(Answer::json(201, &value))
}

fn iteration_changes(
    state: &StandInState,
    request: &Incoming,
    repository: &RepositoryRecord,
    number: u64,
    iteration_id: u64,
) -> Result<Answer, ApiError> {
    let pr = pull_request(state, repository, number)?;
    let iteration = pr
        .iterations
        .iter()
        .find(|i| i.id == iteration_id)
        .ok_or_else(|| ApiError::iteration_not_found(iteration_id))?;
    let top = paging(request, "$top", DEFAULT_TOP, MAX_TOP)?;
    let skip = paging(request, "$skip", 0, usize::MAX)?;
    let entries: Vec<Value> = iteration
        .files
        .iter()
        .enumerate()
        .skip(skip)
        .take(top)
        .map(|(index, change)| wire::iteration_change(index, change, &iteration.source_commit))
        .collect();
    let end = skip.saturating_add(entries.len());
    let more = end < iteration.files.len();
    Ok(Answer::json(
        200,
        &json!({
            "changeEntries": entries,
            "nextSkip": if more { end } else { 0 },
            "nextTop": if more { top } else { 0 },
        }),
    ))
}

fn commit_diffs(
    state: &StandInState,
    request: &Incoming,
    repository: &RepositoryRecord,
) -> Result<Answer, ApiError> {
    let version = |name: &str, kind: &str| -> Result<String, ApiError> {
        if let Some(kind_value) = request.query_value(kind)
            && !kind_value.trim().eq_ignore_ascii_case("commit")
        {
            return Err(ApiError::invalid_argument(format!(
                "{kind}={kind_value}: the stand-in resolves commit versions only."
            )));
        }
        request
            .query_value(name)
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::invalid_argument(format!("{name} is required.")))
    };
    let base = version("baseVersion", "baseVersionType")?;
    let target = version("targetVersion", "targetVersionType")?;
    for sha in [&base, &target] {
        if !state.knows_commit(&repository.id, sha) {
            return Err(ApiError::commit_not_found(sha, &repository.name));
        }
    }
    let files = state
        .iteration_with_head(&repository.id, &target)
        .map(|i| i.files.clone())
        .unwrap_or_default();
    let all = wire::diff_changes(state, repository, &files, &target);
    let top = paging(request, "$top", DEFAULT_TOP, MAX_TOP)?;
    let skip = paging(request, "$skip", 0, usize::MAX)?;
    let page: Vec<Value> = all.iter().skip(skip).take(top).cloned().collect();
    let mut counts = serde_json::Map::new();
    for change in &files {
        let key = match change.kind.wire() {
            "add" => "Add",
            "delete" => "Delete",
            "rename" => "Rename",
            _ => "Edit",
        };
        let entry = counts.entry(key).or_insert(json!(0));
        *entry = json!(entry.as_u64().unwrap_or(0) + 1);
    }
    Ok(Answer::json(
        200,
        &json!({
            "allChangesIncluded": true,
            "changeCounts": counts,
            "changes": page,
            "commonCommit": base,
            "baseCommit": base,
            "targetCommit": target,
            "aheadCount": 1,
            "behindCount": 0,
        }),
    ))
}

fn policy_evaluations(
    state: &StandInState,
    request: &Incoming,
    project: Option<&ProjectRecord>,
) -> Result<Answer, ApiError> {
    let Some(project) = project else {
        return Err(ApiError::no_route(request.method, request.path));
    };
    let artifact = request
        .query_value("artifactId")
        .ok_or_else(|| ApiError::null_argument("artifactId"))?;
    let rest = artifact
        .strip_prefix("vstfs:///CodeReview/CodeReviewId/")
        .ok_or_else(|| {
            ApiError::invalid_argument(format!(
                "The artifact id {artifact:?} is not a code review artifact \
                 (vstfs:///CodeReview/CodeReviewId/{{projectId}}/{{pullRequestId}})."
            ))
        })?;
    let (project_id, number) = rest.split_once('/').unwrap_or((rest, ""));
    if !project_id.eq_ignore_ascii_case(&project.id) {
        return Err(ApiError::invalid_argument(format!(
            "The artifact id {artifact:?} names project {project_id}, not {} ({}); artifact \
             ids carry the project id.",
            project.name, project.id
        )));
    }
    let number = number_of(number, "the artifact's pull request id")?;
    let values = state
        .pull_requests()
        .filter(|pr| pr.number == number)
        .filter(|pr| {
            state
                .find_repository(Some(project), &pr.repository_id)
                .is_some()
        })
        .flat_map(|pr| pr.policy_evaluations.iter().cloned())
        .collect();
    Ok(Answer::list(values))
}
