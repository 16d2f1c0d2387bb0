//! The event types of Azure DevOps service hooks, read into the provider-neutral event.

use serde_json::Value;
use url::Url;

use super::repo;
use super::state::{self, PrEventType, PrState};
use crate::rest;
use provider_kit::error::invalid;
use provider_kit::error::{Result, message};
use provider_kit::host::{Host, Level};
use provider_kit::json::{Node, parse_timestamp};
use provider_kit::types::{Connection, Repository, User};
use provider_kit::webhooks::{
    Comment, CommentState, Event, EventKind, PullRequest, PullRequestAction, PullRequestStatus,
    PushEvent,
};

/// A ref id of forty zeros: the ref did not exist before, or does not after.
const ZERO_ID: &str = "0000000000000000000000000000000000000000";

/// An event read from a delivery, with the pull-request state to store once the
/// delivery is known not to be a duplicate.
pub struct Parsed {
    /// The normalized event.
    pub event: Event,
    /// Storage key and new state of the pull request, for pull-request events.
    pub pr_state: Option<(String, PrState)>,
}

/// `eventType`s this provider reads, and the resource versions it understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `git.push`
    Push,
    /// `git.pullrequest.created|updated|merged`
    PullRequest(PrEventType),
    /// `ms.vss-code.git-pullrequest-comment-event`
    Comment,
}

impl EventType {
    /// The event type of an `eventType` value, if handled.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "git.push" => Self::Push,
            "git.pullrequest.created" => Self::PullRequest(PrEventType::Created),
            "git.pullrequest.updated" => Self::PullRequest(PrEventType::Updated),
            "git.pullrequest.merged" => Self::PullRequest(PrEventType::MergeAttempted),
            "ms.vss-code.git-pullrequest-comment-event" => Self::Comment,
            _ => return None,
        })
    }

    /// Whether a `resourceVersion` is one this provider reads. An absent version is
    /// read as the oldest (old subscriptions and doc samples omit it); previews of a
    /// supported version are accepted.
    pub fn supports(self, version: Option<&str>) -> bool {
        let Some(version) = version else {
            return true;
        };
        let major = version.split(['-', '.']).next().unwrap_or_default();
        let minor_ok = version
            .split('-')
            .next()
            .and_then(|v| v.split_once('.'))
            .is_none_or(|(_, minor)| minor == "0");
        minor_ok
            && match self {
                Self::Push | Self::PullRequest(_) => major == "1",
                Self::Comment => major == "1" || major == "2",
            }
    }
}

/// The repository and project GUIDs of the UI "Test" button's canned Fabrikam payloads.
const TEST_PAYLOAD_IDS: [&str; 2] = [
    "4bc14d40-c903-45e2-872e-0462c7748079",
    "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c",
];
/// Hosts of the canned sample URLs.
const TEST_PAYLOAD_HOSTS: [&str; 2] = [
    "fabrikam.visualstudio.com/defaultcollection",
    "fabrikam-fiber-inc.visualstudio.com",
];

/// Where the canned payloads name their repository: ids, REST URLs and links. Free
/// text (titles, comment bodies) is not looked at, so a comment that mentions the sample
/// is not mistaken for it.
const TEST_PAYLOAD_FIELDS: [&str; 13] = [
    "/repository/id",
    "/repository/url",
    "/repository/remoteUrl",
    "/pullRequest/repository/id",
    "/pullRequest/repository/url",
    "/comment/_links/self/href",
    "/comment/_links/threads/href",
    "/comment/_links/repository/href",
    "/_links/self/href",
    "/_links/threads/href",
    "/_links/repository/href",
    "/url",
    "/pullRequestUrl",
];

/// Whether the resource is the canned "Test" data of the subscription dialog.
pub fn is_test_payload(resource: &Value) -> bool {
    TEST_PAYLOAD_FIELDS
        .iter()
        .filter_map(|pointer| resource.pointer(pointer).and_then(Value::as_str))
        .any(|text| {
            let lower = text.to_ascii_lowercase();
            TEST_PAYLOAD_IDS
                .iter()
                .chain(TEST_PAYLOAD_HOSTS.iter())
                .any(|marker| lower.contains(marker))
        })
}

/// A user record (`pushedBy`, `createdBy`, `author`, ...).
pub fn user(node: &Node<'_>) -> Result<User> {
    Ok(User {
        id: node.req_str("id")?.to_ascii_lowercase(),
        unique_name: node.opt_str("uniqueName")?.map(str::to_string),
        display_name: node.opt_str("displayName")?.map(str::to_string),
    })
}

fn optional_user(node: &Node<'_>, key: &str) -> Result<Option<User>> {
    node.opt_obj(key)?.map(|n| user(&n)).transpose()
}

/// When the envelope says the event happened.
pub fn occurred_at(envelope: &Node<'_>) -> Result<Option<u64>> {
    Ok(envelope
        .opt_str("createdDate")?
        .and_then(parse_timestamp)
        .and_then(|(seconds, _)| u64::try_from(seconds).ok()))
}

fn object_id(raw: &str) -> Option<String> {
    let id = raw.trim().to_ascii_lowercase();
    (!id.is_empty() && id != ZERO_ID).then_some(id)
}

/// A `git.push` delivery. One event per delivery: a push that moved several refs is
/// reported by its first ref update (Azure DevOps lists them in push order; pushes of
/// several refs at once are rare and the first is the one the user named first).
pub fn push(
    host: &impl Host,
    envelope: &Node<'_>,
    resource: &Node<'_>,
    base: Option<&Url>,
) -> Result<Parsed> {
    let repository = repo::repository(&resource.req_obj("repository")?, base)?;
    let updates = resource.req("refUpdates")?.arr()?;
    let first = updates
        .first()
        .ok_or_else(|| invalid("resource.refUpdates is empty: the push updated no ref"))?
        .clone()
        .obj()?;
    if updates.len() > 1 {
        host.log(
            Level::Info,
            "push updated several refs; reporting the first",
            &[
                ("refs".into(), updates.len().to_string()),
                ("reported".into(), first.req_str("name")?.to_string()),
            ],
        );
    }
    let ref_name = first.req_str("name")?.to_string();
    let before = object_id(first.req_str("oldObjectId")?);
    let after = object_id(first.req_str("newObjectId")?);
    let commits = match resource.get("commits") {
        Some(list) => list
            .arr()?
            .iter()
            .map(|c| Ok(c.clone().obj()?.req_str("commitId")?.to_ascii_lowercase()))
            .collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    let pusher = optional_user(resource, "pushedBy")?;
    let created = before.is_none();
    let deleted = after.is_none();
    let push = PushEvent {
        branch: ref_name.strip_prefix("refs/heads/").map(str::to_string),
        tag: ref_name.strip_prefix("refs/tags/").map(str::to_string),
        ref_name,
        before,
        after,
        created,
        deleted,
        // Service hooks do not say whether history was rewritten; only a new or deleted
        // ref is known not to be a forced update.
        forced: (created || deleted).then_some(false),
        pusher: pusher.clone(),
        commits,
    };
    Ok(Parsed {
        event: Event {
            kind: EventKind::Push,
            repository,
            push: Some(push),
            action: None,
            pull_request: None,
            comment: None,
            command: None,
            user: pusher,
            occurred_at: occurred_at(envelope)?,
        },
        pr_state: None,
    })
}

fn commit_id(node: &Node<'_>, key: &str) -> Result<Option<String>> {
    Ok(match node.opt_obj(key)? {
        Some(commit) => commit.opt_str("commitId")?.and_then(object_id),
        None => None,
    })
}

/// A `GitPullRequest` record: its repository, the pull request, and who closed it.
pub fn pull_request(
    node: &Node<'_>,
    base: Option<&Url>,
) -> Result<(Repository, PullRequest, Option<User>)> {
    let repository = repo::repository(&node.req_obj("repository")?, base)?;
    let number = node.req("pullRequestId")?.u64()?;
    let status = match node.opt_str("status")? {
        Some("active") | Some("notSet") | None => PullRequestStatus::Open,
        Some("completed") => PullRequestStatus::Merged,
        Some("abandoned") => PullRequestStatus::Closed,
        Some(other) => {
            return Err(invalid(format!(
                "{}.status must be active, completed or abandoned, found {other:?}",
                node.path
            )));
        }
    };
    let url = repository
        .web_url
        .as_ref()
        .map(|web| format!("{}/pullrequest/{number}", web.trim_end_matches('/')));
    let pr = PullRequest {
        number,
        title: node.opt_str("title")?.unwrap_or_default().to_string(),
        source_branch: repo::branch_name(node.req_str("sourceRefName")?).to_string(),
        target_branch: repo::branch_name(node.req_str("targetRefName")?).to_string(),
        head_sha: commit_id(node, "lastMergeSourceCommit")?,
        base_sha: commit_id(node, "lastMergeTargetCommit")?,
        status,
        draft: node.opt_bool("isDraft")?.unwrap_or(false),
        fork: node.opt_obj("forkSource")?.is_some(),
        author: optional_user(node, "createdBy")?,
        url,
    };
    let closed_by = optional_user(node, "closedBy")?;
    Ok((repository, pr, closed_by))
}

/// A `git.pullrequest.*` delivery.
pub fn pull_request_event(
    host: &impl Host,
    event_type: PrEventType,
    envelope: &Node<'_>,
    resource: &Node<'_>,
    base: Option<&Url>,
) -> Result<Parsed> {
    let (repository, pr, closed_by) = pull_request(resource, base)?;
    let key = state::key(&repository.id, pr.number);
    let stored = state::load(host, &key)?;
    let action = state::decide(event_type, &pr, stored.as_ref());
    // Deliveries name no actor for updates: only the creator and the closer are known.
    let actor = match action {
        PullRequestAction::Opened => pr.author.clone(),
        PullRequestAction::Merged | PullRequestAction::Closed => closed_by,
        _ => None,
    };
    let new_state = PrState::of(&pr);
    Ok(Parsed {
        event: Event {
            kind: EventKind::PullRequest,
            repository,
            push: None,
            action: Some(action),
            pull_request: Some(pr),
            comment: None,
            command: None,
            user: actor,
            occurred_at: occurred_at(envelope)?,
        },
        pr_state: Some((key, new_state)),
    })
}

/// Where a comment sits, read from its REST links
/// (`.../pullRequests/{pr}/threads/{thread}[/comments/{id}]`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CommentLinks {
    /// The pull request number.
    pub pull_request: Option<u64>,
    /// The thread id.
    pub thread: Option<String>,
    /// The repository link, when the comment has one.
    pub repository: Option<Url>,
}

/// Read `_links.threads`, `_links.self` and `_links.repository` of a comment.
pub fn comment_links(comment: &Node<'_>) -> Result<CommentLinks> {
    let mut found = CommentLinks::default();
    let Some(links) = comment.opt_obj("_links")? else {
        return Ok(found);
    };
    let href = |name: &str| -> Result<Option<Url>> {
        let Some(link) = links.opt_obj(name)? else {
            return Ok(None);
        };
        let Some(raw) = link.opt_str("href")? else {
            return Ok(None);
        };
        repo::parse_url(raw, &format!("{}.href", link.path)).map(Some)
    };
    for name in ["threads", "self"] {
        let Some(url) = href(name)? else { continue };
        let segments: Vec<&str> = url
            .path_segments()
            .map(Iterator::collect)
            .unwrap_or_default();
        let after = |word: &str| {
            segments
                .iter()
                .position(|s| s.eq_ignore_ascii_case(word))
                .and_then(|i| segments.get(i + 1))
                .copied()
        };
        if found.pull_request.is_none() {
            found.pull_request = after("pullRequests").and_then(|n| n.parse().ok());
        }
        if found.thread.is_none() {
            found.thread = after("threads")
                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_string);
        }
    }
    found.repository = href("repository")?;
    Ok(found)
}

/// Whether a comment changed after it was published: by the content-update date when
/// present (reactions move `lastUpdatedDate` too), else by the last-update date.
fn is_edited(comment: &Node<'_>) -> Result<bool> {
    let published = comment.opt_str("publishedDate")?;
    let updated = match comment.opt_str("lastContentUpdatedDate")? {
        Some(date) => Some(date),
        None => comment.opt_str("lastUpdatedDate")?,
    };
    Ok(match (published, updated) {
        (Some(published), Some(updated)) => {
            match (parse_timestamp(published), parse_timestamp(updated)) {
                (Some(p), Some(u)) => u > p,
                _ => published.trim() != updated.trim(),
            }
        }
        _ => false,
    })
}

/// A comment record. `commentType` is `text` for people; `system` and `codeChange`
/// are written by Azure DevOps itself.
pub fn comment(node: &Node<'_>, links: &CommentLinks) -> Result<Comment> {
    let id = node.req("id")?.u64()?;
    let system = match node.get("commentType") {
        None => false,
        Some(kind) => match &kind.value {
            Value::String(text) => !text.eq_ignore_ascii_case("text"),
            // The numeric form of CommentType: 1 is text.
            Value::Number(n) => n.as_u64() != Some(1),
            _ => {
                return Err(invalid(format!(
                    "{} must be a string, found {}",
                    kind.path,
                    provider_kit::json::kind(kind.value)
                )));
            }
        },
    };
    let state = if node.opt_bool("isDeleted")?.unwrap_or(false) {
        CommentState::Deleted
    } else if is_edited(node)? {
        CommentState::Edited
    } else {
        CommentState::Created
    };
    Ok(Comment {
        id: id.to_string(),
        thread_id: links.thread.clone(),
        author: user(&node.req_obj("author")?)?,
        body: node.opt_str("content")?.unwrap_or_default().to_string(),
        state,
        system,
    })
}

/// A `ms.vss-code.git-pullrequest-comment-event` delivery: `{comment, pullRequest}`
/// (resource version 2.0) or the comment alone (1.0). For 1.0 the pull request is read
/// through `connection` when one is given; without it the event has no pull request and
/// a repository known only by its GUID.
pub fn comment_event(
    host: &impl Host,
    connection: Option<&Connection>,
    envelope: &Node<'_>,
    resource: &Node<'_>,
    base: Option<&Url>,
) -> Result<Parsed> {
    let (comment_node, pr_node) = match resource.opt_obj("comment")? {
        Some(comment) => (comment, resource.opt_obj("pullRequest")?),
        None => (resource.clone(), None),
    };
    let links = comment_links(&comment_node)?;
    let comment = comment(&comment_node, &links)?;
    let (repository, pr) = match pr_node {
        Some(pr_node) => {
            let (repository, pr, _) = pull_request(&pr_node, base)?;
            (repository, Some(pr))
        }
        None => {
            let number = links.pull_request.ok_or_else(|| {
                invalid(format!(
                    "{}._links.threads.href does not name the pull request \
                     (.../pullRequests/{{id}}/threads/{{thread}}), and the delivery carries no \
                     pullRequest: subscribe with resource version 2.0",
                    comment_node.path
                ))
            })?;
            let project_id = repo::container_project_id(envelope)?;
            let link_repo = links
                .repository
                .as_ref()
                .and_then(|link| repo::repository_from_link(link, base, project_id.as_deref()))
                .ok_or_else(|| {
                    invalid(format!(
                        "{}._links.repository.href is missing or not a repository URL: cannot tell \
                         which repository the comment is on",
                        comment_node.path
                    ))
                })?;
            match connection.map(|c| fetch_pull_request(host, c, &link_repo, number, base)) {
                Some(Ok((repository, pr))) => (repository, Some(pr)),
                Some(Err(error)) => {
                    host.log(
                        Level::Warn,
                        "could not read the pull request of a comment; reporting the comment without it",
                        &[
                            ("pull_request".into(), number.to_string()),
                            ("error".into(), message(&error).to_string()),
                        ],
                    );
                    (link_repo, None)
                }
                None => (link_repo, None),
            }
        }
    };
    let author = comment.author.clone();
    Ok(Parsed {
        event: Event {
            kind: EventKind::Comment,
            repository,
            push: None,
            action: None,
            pull_request: pr,
            comment: Some(comment),
            command: None,
            user: Some(author),
            occurred_at: occurred_at(envelope)?,
        },
        // Comment events leave the PR state alone on purpose: a comment delivered between
        // a push and its `git.pullrequest.updated` would record the new head, and that
        // update would then look like a mere metadata change and never plan.
        pr_state: None,
    })
}

/// `GET .../pullRequests/{id}` for a comment event that lacks its pull request.
fn fetch_pull_request(
    host: &impl Host,
    connection: &Connection,
    repository: &Repository,
    number: u64,
    base: Option<&Url>,
) -> Result<(Repository, PullRequest)> {
    let client = rest::Client::new(host, connection)?;
    let number_text = number.to_string();
    let mut segments: Vec<&str> = Vec::new();
    if let Some(project) = repository
        .project_id
        .as_deref()
        .or(repository.project.as_deref())
    {
        segments.push(project);
    }
    segments.extend([
        "_apis",
        "git",
        "repositories",
        &repository.id,
        "pullRequests",
        &number_text,
    ]);
    let url = client.api_url(&segments, &[])?;
    let answer: Value = client.get(&url)?;
    let node = Node {
        value: &answer,
        path: "pullRequest".into(),
    }
    .obj()?;
    let (repository, pr, _) = pull_request(&node, base.or(Some(client.base_url())))?;
    Ok((repository, pr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_versions_are_checked_per_event_type() {
        let pr = EventType::PullRequest(PrEventType::Updated);
        let cases = [
            (EventType::Push, Some("1.0"), true),
            (EventType::Push, None, true),
            (EventType::Push, Some("1.0-preview.1"), true),
            (EventType::Push, Some("2.0"), false),
            (EventType::Push, Some("1.1"), false),
            (pr, Some("1.0"), true),
            (pr, Some("3.0"), false),
            (EventType::Comment, Some("1.0"), true),
            (EventType::Comment, Some("2.0"), true),
            (EventType::Comment, Some("2.0-preview.1"), true),
            (EventType::Comment, Some("3.0"), false),
            (EventType::Comment, Some(""), false),
        ];
        for (event, version, want) in cases {
            assert_eq!(event.supports(version), want, "{event:?} {version:?}");
        }
    }

    #[test]
    fn comment_links_give_pull_request_and_thread() {
        let value: Value = serde_json::json!({"_links": {
            "self": {"href": "https://dev.azure.com/o/p/_apis/git/repositories/r/pullRequests/9/threads/44/comments/2"},
            "repository": {"href": "https://dev.azure.com/o/p/_apis/git/repositories/r"},
        }});
        let links = comment_links(&Node::root(&value)).unwrap();
        assert_eq!(links.pull_request, Some(9));
        assert_eq!(links.thread.as_deref(), Some("44"));
        assert!(links.repository.is_some());
        let value: Value = serde_json::json!({"_links": {"threads": {"href": 5}}});
        let err = comment_links(&Node::root(&value)).unwrap_err();
        assert_eq!(
            message(&err),
            "_links.threads.href must be a string, found number"
        );
    }
}
