//! Reading GitHub payloads into provider-neutral events, without side effects.

use crate::rest::Client;
use provider_kit::error::Result;
use provider_kit::host::Host;
use provider_kit::types::{Connection, Repository, User};
use provider_kit::webhooks::{
    Comment, CommentState, Event, EventKind, PullRequest, PullRequestAction, PullRequestStatus,
    PushEvent,
};

use provider_kit::error::invalid;
use provider_kit::json::{self, Node};

/// The SHA GitHub writes for "no commit" (a created or deleted ref).
const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// What an `issue_comment` delivery becomes.
pub enum CommentOutcome {
    /// A comment on a pull request.
    Event(Box<Event>),
    /// A comment on a plain issue, or an action this provider does not report.
    Ignored(String),
}

/// An empty event of `kind` about `repository`, filled in by the readers below.
fn event(kind: EventKind, repository: Repository) -> Event {
    Event {
        kind,
        repository,
        push: None,
        action: None,
        pull_request: None,
        comment: None,
        command: None,
        user: None,
        occurred_at: None,
    }
}

/// A user object (`sender`, `user`, `owner`): numeric id and login.
pub fn user(node: &Node<'_>) -> Result<User> {
    let node = node.clone().obj()?;
    let id = node.req("id")?.u64()?;
    let login = node.req_str("login")?;
    Ok(User {
        id: id.to_string(),
        unique_name: Some(login.to_string()),
        display_name: node
            .opt_str("name")?
            .filter(|n| !n.trim().is_empty())
            .map(str::to_string),
    })
}

/// The API root a repository object lives under: its `url` (or, in push payloads whose
/// `url` is the browser URL, its `hooks_url`) without `repos/{owner}/{name}`.
fn api_root(repository: &Node<'_>, full_name: &str) -> Result<String> {
    let suffix = format!("repos/{full_name}");
    let candidates = [
        repository.opt_str("url")?.map(str::to_string),
        repository
            .opt_str("hooks_url")?
            .and_then(|h| h.strip_suffix("/hooks"))
            .map(str::to_string),
    ];
    for candidate in candidates.into_iter().flatten() {
        if let Some(root) = candidate.strip_suffix(&suffix)
            && root.ends_with('/')
            && (root.starts_with("https://") || root.starts_with("http://"))
        {
            return Ok(root.to_string());
        }
    }
    Err(invalid(format!(
        "{}.url must be the repository's API URL ending in /repos/{full_name}",
        repository.path
    )))
}

/// The repository of a payload.
pub fn repository(root: &Node<'_>) -> Result<Repository> {
    let node = root.req_obj("repository")?;
    let id = node.req("id")?.u64()?;
    let name = node.req_str("name")?;
    let owner = node.req_obj("owner")?;
    // Organization-owned repositories name the owner `login`; some legacy push payloads
    // only `name`.
    let login = match owner.opt_str("login")? {
        Some(login) => login,
        None => owner.req_str("name")?,
    };
    let owner_id = owner.get("id").map(|id| id.u64()).transpose()?;
    let full_name = node
        .opt_str("full_name")?
        .map(str::to_string)
        .unwrap_or_else(|| format!("{login}/{name}"));
    let clone_url = node
        .opt_str("clone_url")?
        .map(|raw| without_userinfo(raw, &node))
        .transpose()?;
    Ok(Repository {
        id: id.to_string(),
        name: name.to_string(),
        project: Some(login.to_string()),
        project_id: owner_id.map(|id| id.to_string()),
        organization: login.to_lowercase(),
        web_url: node.opt_str("html_url")?.map(str::to_string),
        clone_url,
        api_url: api_root(&node, &full_name)?,
        default_branch: node.opt_str("default_branch")?.map(str::to_string),
    })
}

/// A clone URL without user information (it must never carry credentials).
fn without_userinfo(raw: &str, node: &Node<'_>) -> Result<String> {
    let mut url = url::Url::parse(raw)
        .map_err(|e| invalid(format!("{}.clone_url is not a URL ({e})", node.path)))?;
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok(url.to_string())
}

/// Epoch seconds of an ISO timestamp member, or of an integer one (push payloads).
fn timestamp(node: &Node<'_>, key: &str) -> Result<Option<u64>> {
    let Some(value) = node.get(key) else {
        return Ok(None);
    };
    if value.value.is_number() {
        return Ok(Some(value.u64()?));
    }
    let text = value.str()?;
    match json::parse_timestamp(text) {
        Some((seconds, _)) => Ok(u64::try_from(seconds).ok()),
        None => Err(invalid(format!(
            "{} must be an ISO 8601 timestamp, found {text:?}",
            value.path
        ))),
    }
}

fn sha(text: &str) -> Option<String> {
    (!text.is_empty() && text != ZERO_SHA).then(|| text.to_string())
}

/// A `push` delivery.
pub fn push(root: &Node<'_>) -> Result<Event> {
    let repository = repository(root)?;
    let ref_name = root.req_str("ref")?;
    let before = sha(root.req_str("before")?);
    let after = sha(root.req_str("after")?);
    let created = root.opt_bool("created")?.unwrap_or(before.is_none());
    let deleted = root.opt_bool("deleted")?.unwrap_or(after.is_none());
    let commits = match root.get("commits") {
        Some(list) => list
            .arr()?
            .iter()
            .map(|commit| commit.req_str("id").map(str::to_string))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let sender = root.get("sender").map(|s| user(&s)).transpose()?;
    let occurred_at = match root.opt_obj("head_commit")? {
        Some(head) => timestamp(&head, "timestamp")?,
        None => None,
    }
    .or(timestamp(&root.req_obj("repository")?, "pushed_at")?);
    let mut event = event(EventKind::Push, repository);
    event.push = Some(PushEvent {
        ref_name: ref_name.to_string(),
        branch: ref_name.strip_prefix("refs/heads/").map(str::to_string),
        tag: ref_name.strip_prefix("refs/tags/").map(str::to_string),
        before,
        after,
        created,
        deleted,
        forced: root.opt_bool("forced")?,
        pusher: sender.clone(),
        commits,
    });
    event.user = sender;
    event.occurred_at = occurred_at;
    Ok(event)
}

/// The pull-request object of a payload or of `GET /repos/{o}/{r}/pulls/{n}`.
pub fn pull_request_record(node: &Node<'_>) -> Result<PullRequest> {
    let head = node.req_obj("head")?;
    let base = node.req_obj("base")?;
    let merged = node.opt_bool("merged")?.unwrap_or(false) || node.get("merged_at").is_some();
    let status = match node.req_str("state")? {
        "open" => PullRequestStatus::Open,
        "closed" if merged => PullRequestStatus::Merged,
        "closed" => PullRequestStatus::Closed,
        other => {
            return Err(invalid(format!(
                "{}.state must be \"open\" or \"closed\", found {other:?}",
                node.path
            )));
        }
    };
    let repo_id = |side: &Node<'_>| -> Result<Option<u64>> {
        Ok(side
            .opt_obj("repo")?
            .map(|repo| repo.req("id")?.u64())
            .transpose()?)
    };
    // A head repository that is gone (a deleted fork) is `null`: still a fork.
    let fork = match (repo_id(&head)?, repo_id(&base)?) {
        (Some(head), Some(base)) => head != base,
        (None, _) => true,
        (Some(_), None) => false,
    };
    Ok(PullRequest {
        number: node.req("number")?.u64()?,
        title: node.opt_str("title")?.unwrap_or_default().to_string(),
        source_branch: head.req_str("ref")?.to_string(),
        target_branch: base.req_str("ref")?.to_string(),
        head_sha: head.opt_str("sha")?.and_then(sha),
        base_sha: base.opt_str("sha")?.and_then(sha),
        status,
        draft: node.opt_bool("draft")?.unwrap_or(false),
        fork,
        author: node.get("user").map(|u| user(&u)).transpose()?,
        url: node.opt_str("html_url")?.map(str::to_string),
    })
}

/// The neutral action of a `pull_request` delivery's `action`.
pub fn pull_request_action(action: &str, merged: bool) -> PullRequestAction {
    match action {
        "opened" => PullRequestAction::Opened,
        "synchronize" => PullRequestAction::SourceUpdated,
        "reopened" => PullRequestAction::Reopened,
        "closed" if merged => PullRequestAction::Merged,
        "closed" => PullRequestAction::Closed,
        "ready_for_review" => PullRequestAction::ReadyForReview,
        // edited, labeled, assigned, review_requested, converted_to_draft, ...: metadata.
        _ => PullRequestAction::Updated,
    }
}

/// A `pull_request` delivery.
pub fn pull_request(root: &Node<'_>) -> Result<Event> {
    let repository = repository(root)?;
    let action = root.req_str("action")?;
    let node = root.req_obj("pull_request")?;
    let record = pull_request_record(&node)?;
    let merged = record.status == PullRequestStatus::Merged;
    let mut event = event(EventKind::PullRequest, repository);
    event.action = Some(pull_request_action(action, merged));
    event.user = root.get("sender").map(|s| user(&s)).transpose()?;
    event.occurred_at = timestamp(&node, "updated_at")?;
    event.pull_request = Some(record);
    Ok(event)
}

/// An `issue_comment` delivery: comments on pull requests only.
pub fn issue_comment(
    host: &impl Host,
    connection: Option<&Connection>,
    root: &Node<'_>,
) -> Result<CommentOutcome> {
    let repository = repository(root)?;
    let action = root.req_str("action")?;
    let state = match action {
        "created" => CommentState::Created,
        "edited" => CommentState::Edited,
        "deleted" => CommentState::Deleted,
        other => {
            return Ok(CommentOutcome::Ignored(format!(
                "issue_comment action {other:?} is not handled; comments are read when created, \
                 edited or deleted"
            )));
        }
    };
    let issue = root.req_obj("issue")?;
    let number = issue.req("number")?.u64()?;
    if issue.opt_obj("pull_request")?.is_none() {
        return Ok(CommentOutcome::Ignored(format!(
            "the comment is on issue #{number}, not on a pull request; only pull-request \
             comments are read"
        )));
    }
    let node = root.req_obj("comment")?;
    let comment = Comment {
        id: node.req("id")?.u64()?.to_string(),
        thread_id: None,
        author: user(&node.req("user")?)?,
        // A deleted comment may come without its body.
        body: node.opt_str("body")?.unwrap_or_default().to_string(),
        state,
        system: false,
    };
    let pull_request = match connection {
        Some(connection) => Some(read_pull_request(host, connection, &repository, number)?),
        None => None,
    };
    let mut event = event(EventKind::Comment, repository);
    event.occurred_at = match timestamp(&node, "updated_at")? {
        Some(at) => Some(at),
        None => timestamp(&node, "created_at")?,
    };
    event.user = Some(comment.author.clone());
    event.comment = Some(comment);
    event.pull_request = pull_request;
    Ok(CommentOutcome::Event(Box::new(event)))
}

/// Read a pull request through the REST API (a comment's delivery lacks its branches).
fn read_pull_request(
    host: &impl Host,
    connection: &Connection,
    repository: &Repository,
    number: u64,
) -> Result<PullRequest> {
    let (owner, name) = crate::comments::owner_and_name(repository)?;
    let client = Client::new(host, connection)?;
    let url = client.repo_url(owner, name, &["pulls", &number.to_string()], &[])?;
    let value: serde_json::Value = client.get(&url)?;
    let node = Node::root(&value);
    pull_request_record(&node).map_err(|error| {
        provider_kit::error::ProviderError::Upstream(provider_kit::error::UpstreamError {
            status: Some(200),
            message: format!(
                "GitHub answered {url} with a pull request this provider does not understand: {}",
                provider_kit::error::message(&error)
            ),
        })
    })
}
