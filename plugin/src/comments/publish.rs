//! Publishing reports, statuses and replies on Azure DevOps pull requests.
//!
//! A report lives in one thread: its first part opens the thread, further parts are
//! replies in it. The thread and comment ids are kept in storage per pull request and
//! workspace set, so a later run (a new head commit, the apply after the plan) updates
//! the same comments. The state is saved after every comment sent and compared with what
//! a retry would send, so retried publishing never posts a duplicate.

use serde::{Deserialize, Serialize};
use url::Url;

use super::render;
use super::split::{MARKER_PREFIX, units};
use crate::bindings::exports::vcs::provider::comments::{
    CommitStatus, PostedComment, PublishAction, PublishOptions, PublishResult, RunKind, RunReport,
    StatusState, StatusTarget,
};
use crate::bindings::vcs::provider::types::{Connection, PullRequestRef, Repository};
use crate::error::{ProviderError, Result};
use crate::host::{Host, Level, Method};
use crate::rest::Client;

/// Thread status used when `thread-status` is not set: closed, so the comment does not
/// block the "comments must be resolved" branch policy.
const DEFAULT_THREAD_STATUS: u8 = 4;

/// Azure DevOps' thread statuses by name.
const THREAD_STATUSES: &[(&str, u8)] = &[
    ("active", 1),
    ("fixed", 2),
    ("wontfix", 3),
    ("closed", 4),
    ("bydesign", 5),
    ("pending", 6),
];

/// Content of a part that a shorter report no longer needs (comments are never deleted,
/// so links to them keep working).
const UNUSED_PART: &str = "_(this part is no longer used)_";

/// Status genre when the caller names none.
const DEFAULT_GENRE: &str = "scalr";

/// Longest status description sent, in characters.
const MAX_DESCRIPTION_CHARS: usize = 256;

/// Comment state is forgotten after a year without a publish.
const STATE_TTL_SECONDS: u32 = 365 * 24 * 3600;

/// What storage remembers about the comment of a pull request and workspace set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct CommentState {
    head_sha: Option<String>,
    run_id: Option<String>,
    parts: Vec<PartState>,
}

/// One posted comment and a hash of what it now says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PartState {
    thread: u64,
    comment: u64,
    content_hash: String,
}

/// Publish `report` on the pull request `target`.
pub fn publish(
    host: &impl Host,
    connection: &Connection,
    target: &PullRequestRef,
    report: &RunReport,
    options: &PublishOptions,
) -> Result<PublishResult> {
    let skipped = PublishResult {
        action: PublishAction::Skipped,
        comments: vec![],
    };
    if !options.comments_enabled {
        return Ok(skipped);
    }
    if report.kind == RunKind::Apply && !options.apply_summary {
        // The plan's comment stays as it is.
        return Ok(skipped);
    }
    let thread_status = thread_status(&options.options)?;
    let bodies = render::render(report, &options.render)?;
    let client = Client::new(host, connection)?;
    let api = PullRequestApi::new(&client, target)?;

    let mut store = StateStore::open(
        host,
        format!(
            "comment:{}:{}:{}",
            target.repository.id,
            target.number,
            render::workspace_set_hash(report)
        ),
    )?;
    let previous = store.state.clone();
    let new_head = report.kind == RunKind::Plan
        && report.head_sha.is_some()
        && previous
            .as_ref()
            .is_some_and(|p| p.head_sha != report.head_sha);
    let mut state = match previous {
        Some(state) if !(options.new_comment_per_head && new_head) => state,
        _ => CommentState::default(),
    };
    state.head_sha = report.head_sha.clone().or(state.head_sha);
    state.run_id = report.run_id.clone();

    let mut created = false;
    let mut updated = false;
    for (index, body) in bodies.iter().enumerate() {
        let hash = content_hash(body);
        match state.parts.get_mut(index) {
            Some(part) if part.content_hash == hash => {}
            Some(part) => {
                api.update_comment(part.thread, part.comment, body)?;
                part.content_hash = hash;
                updated = true;
                store.save(&state)?;
            }
            None => {
                let (thread, comment) = match state.parts.first() {
                    Some(first) => (first.thread, api.reply_in_thread(first.thread, body)?),
                    None => api.create_thread(body, thread_status)?,
                };
                state.parts.push(PartState {
                    thread,
                    comment,
                    content_hash: hash,
                });
                created = true;
                store.save(&state)?;
            }
        }
    }
    let unused = unused_part(report);
    let unused_hash = content_hash(&unused);
    for index in bodies.len()..state.parts.len() {
        let Some(part) = state.parts.get_mut(index) else {
            break;
        };
        if part.content_hash != unused_hash {
            api.update_comment(part.thread, part.comment, &unused)?;
            part.content_hash = unused_hash.clone();
            updated = true;
            store.save(&state)?;
        }
    }
    if store.state.as_ref() != Some(&state) {
        // Nothing was sent, but the run and head moved on.
        store.save(&state)?;
    }

    let action = match (created, updated) {
        (_, true) => PublishAction::Updated,
        (true, false) => PublishAction::Created,
        (false, false) => PublishAction::Unchanged,
    };
    let comments = state
        .parts
        .iter()
        .take(bodies.len())
        .map(|part| PostedComment {
            thread_id: Some(part.thread.to_string()),
            comment_id: part.comment.to_string(),
            url: api.thread_url(part.thread),
        })
        .collect();
    Ok(PublishResult { action, comments })
}

/// Set a status on a pull request (at the iteration of its head) or a commit.
pub fn set_status(
    host: &impl Host,
    connection: &Connection,
    target: &StatusTarget,
    status: &CommitStatus,
) -> Result<()> {
    let name = status.context_name.trim();
    if name.is_empty() {
        return Err(ProviderError::InvalidConfig(
            "the status has no context name; name it, for example `plan/prod`".into(),
        ));
    }
    let genre = status
        .context_genre
        .as_deref()
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .unwrap_or(DEFAULT_GENRE);
    let target_url = match &status.target_url {
        Some(raw) => Some(http_url(raw)?),
        None => None,
    };
    let mut body = StatusBody {
        state: match status.state {
            StatusState::Pending => "pending",
            StatusState::Succeeded => "succeeded",
            StatusState::Failed => "failed",
            StatusState::Error => "error",
            StatusState::NotApplicable => "notApplicable",
        },
        description: clip(status.description.trim(), MAX_DESCRIPTION_CHARS),
        context: StatusContext { name, genre },
        target_url,
        iteration_id: None,
    };
    let client = Client::new(host, connection)?;
    match target {
        StatusTarget::PullRequest(pr) => {
            let head = commit_sha(&pr.head_sha)?;
            let api = PullRequestApi::new(&client, &pr.pull_request)?;
            let iterations: IterationList = client.get(&api.url(&["iterations"])?)?;
            body.iteration_id = iterations
                .value
                .iter()
                .filter(|i| {
                    i.source_ref_commit
                        .as_ref()
                        .is_some_and(|c| c.commit_id.eq_ignore_ascii_case(head))
                })
                .map(|i| i.id)
                .max();
            if body.iteration_id.is_none() {
                host.log(
                    Level::Warn,
                    "no iteration of the pull request has the planned head commit; the status \
                     is set on the pull request without an iteration",
                    &[
                        ("pull_request".into(), pr.pull_request.number.to_string()),
                        ("head_sha".into(), head.to_string()),
                    ],
                );
            }
            post_ignoring_answer(&client, &api.url(&["statuses"])?, &body)
        }
        StatusTarget::Commit(commit) => {
            let sha = commit_sha(&commit.sha)?;
            let (project, repository) = project_and_repository(&commit.repository)?;
            let url = client.api_url(
                &[
                    project,
                    "_apis",
                    "git",
                    "repositories",
                    repository,
                    "commits",
                    sha,
                    "statuses",
                ],
                &[],
            )?;
            post_ignoring_answer(&client, &url, &body)
        }
    }
}

/// Post Markdown on a pull request: a new thread, or a reply in `thread_id`.
pub fn reply(
    host: &impl Host,
    connection: &Connection,
    target: &PullRequestRef,
    thread_id: Option<&str>,
    markdown: &str,
) -> Result<PostedComment> {
    if markdown.trim().is_empty() {
        return Err(ProviderError::InvalidPayload(
            "the reply is empty; give it some text".into(),
        ));
    }
    let length = units(markdown);
    let cap = super::MAX_COMMENT_UTF16 as usize;
    if length > cap {
        return Err(ProviderError::InvalidPayload(format!(
            "the reply is {length} UTF-16 code units long, over Azure DevOps' limit of {cap}; \
             shorten it"
        )));
    }
    let client = Client::new(host, connection)?;
    let api = PullRequestApi::new(&client, target)?;
    let (thread, comment) = match thread_id {
        Some(raw) => {
            let thread = raw.trim().parse::<u64>().map_err(|_| {
                ProviderError::InvalidPayload(format!(
                    "thread id {raw:?} is not an Azure DevOps thread id (a number)"
                ))
            })?;
            (thread, api.reply_in_thread(thread, markdown)?)
        }
        None => api.create_thread(markdown, DEFAULT_THREAD_STATUS)?,
    };
    Ok(PostedComment {
        thread_id: Some(thread.to_string()),
        comment_id: comment.to_string(),
        url: api.thread_url(thread),
    })
}

/// The `thread-status` option: a status name or number; closed when unset.
fn thread_status(options: &[(String, String)]) -> Result<u8> {
    let Some((_, raw)) = options
        .iter()
        .rev()
        .find(|(name, _)| name == "thread-status")
    else {
        return Ok(DEFAULT_THREAD_STATUS);
    };
    let wanted = raw.trim().to_ascii_lowercase();
    THREAD_STATUSES
        .iter()
        .find(|(name, number)| *name == wanted || number.to_string() == wanted)
        .map(|(_, number)| *number)
        .ok_or_else(|| {
            ProviderError::InvalidConfig(format!(
                "thread-status {raw:?} is not an Azure DevOps thread status; use one of active, \
                 fixed, wontFix, closed, byDesign, pending"
            ))
        })
}

/// What a part that is no longer needed says, marker included.
fn unused_part(report: &RunReport) -> String {
    format!(
        "{MARKER_PREFIX}{} part=unused -->\n{UNUSED_PART}\n",
        render::workspace_set_hash(report)
    )
}

fn content_hash(body: &str) -> String {
    let mut hash = render::Fnv64::new();
    hash.write(body.as_bytes());
    format!("{:016x}-{}", hash.finish(), body.len())
}

fn clip(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let kept: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// A full commit id (hex); anything else would address the wrong object or path.
fn commit_sha(raw: &str) -> Result<&str> {
    let sha = raw.trim();
    if sha.len() >= 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha)
    } else {
        Err(ProviderError::InvalidPayload(format!(
            "{raw:?} is not a full commit id (40 hexadecimal digits)"
        )))
    }
}

fn http_url(raw: &str) -> Result<String> {
    match Url::parse(raw.trim()) {
        Ok(url) if matches!(url.scheme(), "https" | "http") => Ok(url.to_string()),
        _ => Err(ProviderError::InvalidConfig(format!(
            "the status target URL {raw:?} is not an http(s) URL"
        ))),
    }
}

/// The project (id preferred: names can change) and repository id of a repository.
fn project_and_repository(repository: &Repository) -> Result<(&str, &str)> {
    let project = repository
        .project_id
        .as_deref()
        .or(repository.project.as_deref())
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            ProviderError::InvalidConfig(format!(
                "repository {:?} has no project; Azure DevOps addresses repositories within a \
                 project, so pass the project id or name",
                repository.name
            ))
        })?;
    let id = repository.id.trim();
    if id.is_empty() {
        return Err(ProviderError::InvalidConfig(format!(
            "repository {:?} has no id; pass its GUID",
            repository.name
        )));
    }
    Ok((project, id))
}

fn post_ignoring_answer<B: Serialize, H: Host + ?Sized>(
    client: &Client<'_, H>,
    url: &Url,
    body: &B,
) -> Result<()> {
    let bytes = serde_json::to_vec(body)
        .map_err(|e| ProviderError::InvalidPayload(format!("could not encode the request: {e}")))?;
    client.send(Method::Post, url, Some(bytes))?;
    Ok(())
}

/// The REST resources of one pull request.
struct PullRequestApi<'c, 'h, H: Host + ?Sized> {
    client: &'c Client<'h, H>,
    project: String,
    repository: String,
    number: String,
    web_url: Option<String>,
}

impl<'c, 'h, H: Host + ?Sized> PullRequestApi<'c, 'h, H> {
    fn new(client: &'c Client<'h, H>, target: &PullRequestRef) -> Result<Self> {
        let (project, repository) = project_and_repository(&target.repository)?;
        Ok(Self {
            client,
            project: project.to_string(),
            repository: repository.to_string(),
            number: target.number.to_string(),
            web_url: target.repository.web_url.clone(),
        })
    }

    /// `{base}{project}/_apis/git/repositories/{repo}/pullRequests/{n}/{tail...}`.
    fn url(&self, tail: &[&str]) -> Result<Url> {
        let mut segments = vec![
            self.project.as_str(),
            "_apis",
            "git",
            "repositories",
            self.repository.as_str(),
            "pullRequests",
            self.number.as_str(),
        ];
        segments.extend_from_slice(tail);
        self.client.api_url(&segments, &[])
    }

    /// Open a thread with one comment: its thread and comment ids.
    fn create_thread(&self, content: &str, status: u8) -> Result<(u64, u64)> {
        let body = serde_json::json!({
            "comments": [{"parentCommentId": 0, "content": content, "commentType": 1}],
            "status": status,
        });
        let thread: ThreadAnswer = self.client.post(&self.url(&["threads"])?, &body)?;
        // The first comment of a thread is number 1 when the answer does not say.
        let comment = thread.comments.first().map_or(1, |c| c.id);
        Ok((thread.id, comment))
    }

    /// Reply to a thread's first comment: the new comment's id.
    fn reply_in_thread(&self, thread: u64, content: &str) -> Result<u64> {
        let body = serde_json::json!({"parentCommentId": 1, "content": content, "commentType": 1});
        let thread = thread.to_string();
        let comment: CommentAnswer = self
            .client
            .post(&self.url(&["threads", &thread, "comments"])?, &body)?;
        Ok(comment.id)
    }

    fn update_comment(&self, thread: u64, comment: u64, content: &str) -> Result<()> {
        let body = serde_json::json!({ "content": content });
        let (thread, comment) = (thread.to_string(), comment.to_string());
        let _: serde_json::Value = self.client.patch(
            &self.url(&["threads", &thread, "comments", &comment])?,
            &body,
        )?;
        Ok(())
    }

    /// The browser URL of a thread, when the repository's web URL is known.
    fn thread_url(&self, thread: u64) -> Option<String> {
        let web = self.web_url.as_deref()?.trim_end_matches('/');
        Some(format!(
            "{web}/pullrequest/{}?discussionId={thread}",
            self.number
        ))
    }
}

/// Comment state in storage, written with compare-and-swap so two publishes racing on
/// the same pull request cannot both think they posted the comment.
struct StateStore<'h, H: Host + ?Sized> {
    host: &'h H,
    key: String,
    raw: Option<Vec<u8>>,
    state: Option<CommentState>,
}

impl<'h, H: Host + ?Sized> StateStore<'h, H> {
    fn open(host: &'h H, key: String) -> Result<Self> {
        let raw = host.get(&key)?;
        let state = match raw.as_deref().map(serde_json::from_slice::<CommentState>) {
            Some(Ok(state)) => Some(state),
            Some(Err(e)) => {
                host.log(
                    Level::Warn,
                    "the stored comment state is unreadable; a new comment will be posted",
                    &[("key".into(), key.clone()), ("error".into(), e.to_string())],
                );
                None
            }
            None => None,
        };
        Ok(Self {
            host,
            key,
            raw,
            state,
        })
    }

    fn save(&mut self, state: &CommentState) -> Result<()> {
        let bytes = serde_json::to_vec(state).map_err(|e| {
            ProviderError::Storage(format!("could not encode the comment state: {e}"))
        })?;
        let swapped = self.host.compare_and_swap(
            &self.key,
            self.raw.as_deref(),
            Some(&bytes),
            Some(STATE_TTL_SECONDS),
        )?;
        if !swapped {
            return Err(ProviderError::Conflict(
                "another publish for this pull request and workspaces changed the comment \
                 state at the same time; retry the publish"
                    .into(),
            ));
        }
        self.raw = Some(bytes);
        self.state = Some(state.clone());
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
struct ThreadAnswer {
    id: u64,
    #[serde(default)]
    comments: Vec<CommentAnswer>,
}

#[derive(Debug, Deserialize)]
struct CommentAnswer {
    id: u64,
}

#[derive(Debug, Deserialize)]
struct IterationList {
    #[serde(default)]
    value: Vec<Iteration>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Iteration {
    id: u64,
    source_ref_commit: Option<CommitRef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommitRef {
    commit_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody<'a> {
    state: &'static str,
    description: String,
    context: StatusContext<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iteration_id: Option<u64>,
}

#[derive(Debug, Serialize)]
struct StatusContext<'a> {
    name: &'a str,
    genre: &'a str,
}
