//! Publishing reports, statuses and replies on GitHub pull requests.
//!
//! A report is one or more issue comments on the pull request (GitHub's conversation
//! tab: `POST /repos/{o}/{r}/issues/{n}/comments`, updated with
//! `PATCH /repos/{o}/{r}/issues/comments/{id}`). The comment ids are kept in storage per
//! pull request and workspace set, so a later run (a new head commit, the apply after
//! the plan) updates the same comments. The state is saved after every comment sent and
//! compared with what a retry would send, so retried publishing never posts a duplicate.
//! The switches mean what they mean for the Azure DevOps provider.

use serde::{Deserialize, Serialize};

use crate::rest::Client;
use provider_kit::comments::{
    CommitStatus, PostedComment, PublishAction, PublishOptions, PublishResult, RunKind, RunReport,
    StatusState, StatusTarget,
};
use provider_kit::error::{ProviderError, Result};
use provider_kit::host::{Host, Level, Method};
use provider_kit::publish::{
    CasStore, StatusContext, check_reply, clip, commit_sha, content_hash, state_key, unused_part,
};
use provider_kit::types::{Connection, PullRequestRef, Repository};

/// GitHub truncates nothing but refuses longer status descriptions: 140 characters.
const MAX_DESCRIPTION_CHARS: usize = 140;

/// What storage remembers about the comments of a pull request and workspace set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct CommentState {
    head_sha: Option<String>,
    run_id: Option<String>,
    parts: Vec<PartState>,
}

/// One posted comment and a hash of what it now says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PartState {
    comment: u64,
    url: Option<String>,
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
    let bodies = super::render(report, &options.render)?;
    let client = Client::new(host, connection)?;
    let api = IssueApi::new(&client, target)?;

    let mut store = CasStore::<_, CommentState>::open(host, state_key(target, report))?;
    let previous = store.state().cloned();
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
                match api.update_comment(part.comment, body) {
                    Err(ProviderError::NotFound(why)) => {
                        // Someone deleted the comment: post the report afresh.
                        host.log(
                            Level::Warn,
                            "the report's earlier comment is gone; posting a new one",
                            &[("error".into(), why)],
                        );
                        state.parts.clear();
                        store.save(&state)?;
                        return publish(host, connection, target, report, options);
                    }
                    Err(other) => return Err(other),
                    Ok(answer) => {
                        part.url = answer.html_url.or(part.url.take());
                    }
                }
                part.content_hash = hash;
                updated = true;
                store.save(&state)?;
            }
            None => {
                let answer = api.create_comment(body)?;
                state.parts.push(PartState {
                    comment: answer.id,
                    url: answer.html_url,
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
            match api.update_comment(part.comment, &unused) {
                // Already deleted by someone: nothing left to empty.
                Err(ProviderError::NotFound(_)) | Ok(_) => {}
                Err(other) => return Err(other),
            }
            part.content_hash = unused_hash.clone();
            updated = true;
            store.save(&state)?;
        }
    }
    if store.state() != Some(&state) {
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
            thread_id: None,
            comment_id: part.comment.to_string(),
            url: part.url.clone(),
        })
        .collect();
    Ok(PublishResult { action, comments })
}

/// GitHub's commit-status state for a status, and a note for the description when the
/// state had to be approximated.
fn github_state(state: StatusState) -> (&'static str, Option<&'static str>) {
    match state {
        StatusState::Pending => ("pending", None),
        StatusState::Succeeded => ("success", None),
        StatusState::Failed => ("failure", None),
        StatusState::Error => ("error", None),
        // GitHub has no neutral commit-status state; success does not block merging.
        StatusState::NotApplicable => ("success", Some("Not applicable")),
    }
}

/// Set a commit status on the pull request's head commit or on a bare commit.
pub fn set_status(
    host: &impl Host,
    connection: &Connection,
    target: &StatusTarget,
    status: &CommitStatus,
) -> Result<()> {
    let StatusContext {
        name,
        genre,
        target_url,
    } = StatusContext::of(status)?;
    let (state, note) = github_state(status.state);
    let description = status.description.trim();
    let description = match (note, description.is_empty()) {
        (Some(note), true) => note.to_string(),
        (Some(note), false) => format!("{note}: {description}"),
        (None, _) => description.to_string(),
    };
    let body = StatusBody {
        state,
        description: clip(&description, MAX_DESCRIPTION_CHARS),
        context: format!("{genre}/{name}"),
        target_url,
    };
    let (repository, sha) = match target {
        StatusTarget::PullRequest(pr) => (&pr.pull_request.repository, &pr.head_sha),
        StatusTarget::Commit(commit) => (&commit.repository, &commit.sha),
    };
    let sha = commit_sha(sha)?;
    let (owner, name) = owner_and_name(repository)?;
    let client = Client::new(host, connection)?;
    let url = client.repo_url(owner, name, &["statuses", sha], &[])?;
    let bytes = serde_json::to_vec(&body)
        .map_err(|e| ProviderError::InvalidPayload(format!("could not encode the request: {e}")))?;
    client.send(Method::Post, &url, Some(bytes))?;
    Ok(())
}

/// Post Markdown on a pull request as a new comment.
pub fn reply(
    host: &impl Host,
    connection: &Connection,
    target: &PullRequestRef,
    thread_id: Option<&str>,
    markdown: &str,
) -> Result<PostedComment> {
    check_reply::<crate::GitHub>(markdown)?;
    if let Some(thread) = thread_id {
        host.log(
            Level::Debug,
            "GitHub pull-request conversations have no threads; replying with a new comment",
            &[("thread_id".into(), thread.to_string())],
        );
    }
    let client = Client::new(host, connection)?;
    let api = IssueApi::new(&client, target)?;
    let answer = api.create_comment(markdown)?;
    Ok(PostedComment {
        thread_id: None,
        comment_id: answer.id.to_string(),
        url: answer.html_url,
    })
}

/// The owner login and name GitHub addresses a repository by: `project` carries the
/// owner (the organization, lower-cased, when it does not).
pub fn owner_and_name(repository: &Repository) -> Result<(&str, &str)> {
    let owner = [
        repository.project.as_deref(),
        Some(repository.organization.as_str()),
    ]
    .into_iter()
    .flatten()
    .map(str::trim)
    .find(|o| !o.is_empty())
    .ok_or_else(|| {
        ProviderError::InvalidConfig(format!(
            "repository {:?} has no owner; pass the owner login as its project",
            repository.name
        ))
    })?;
    let name = repository.name.trim();
    if name.is_empty() {
        return Err(ProviderError::InvalidConfig(
            "the repository has no name; GitHub addresses repositories as owner/name".into(),
        ));
    }
    Ok((owner, name))
}

/// The issue-comment resources of one pull request.
struct IssueApi<'c, 'h, H: Host + ?Sized> {
    client: &'c Client<'h, H>,
    owner: String,
    name: String,
    number: String,
}

impl<'c, 'h, H: Host + ?Sized> IssueApi<'c, 'h, H> {
    fn new(client: &'c Client<'h, H>, target: &PullRequestRef) -> Result<Self> {
        let (owner, name) = owner_and_name(&target.repository)?;
        Ok(Self {
            client,
            owner: owner.to_string(),
            name: name.to_string(),
            number: target.number.to_string(),
        })
    }

    fn create_comment(&self, body: &str) -> Result<CommentAnswer> {
        let url = self.client.repo_url(
            &self.owner,
            &self.name,
            &["issues", &self.number, "comments"],
            &[],
        )?;
        self.client.post(&url, &serde_json::json!({ "body": body }))
    }

    fn update_comment(&self, comment: u64, body: &str) -> Result<CommentAnswer> {
        let id = comment.to_string();
        let url =
            self.client
                .repo_url(&self.owner, &self.name, &["issues", "comments", &id], &[])?;
        self.client
            .patch(&url, &serde_json::json!({ "body": body }))
    }
}

#[derive(Debug, Deserialize)]
struct CommentAnswer {
    id: u64,
    html_url: Option<String>,
}

#[derive(Debug, Serialize)]
struct StatusBody {
    state: &'static str,
    description: String,
    context: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_url: Option<String>,
}

#[cfg(test)]
mod tests;
