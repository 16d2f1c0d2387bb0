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
    CommitStatus, PostedComment, PublishOptions, PublishResult, RunReport, StatusState,
    StatusTarget,
};
use provider_kit::error::{ProviderError, Result};
use provider_kit::host::{Host, Level, Method};
use provider_kit::publish::{
    CommentApi, StatusContext, check_reply, clip, commit_sha, publish_parts, skipped, skips,
};
use provider_kit::types::{Connection, PullRequestRef, Repository};

/// GitHub truncates nothing but refuses longer status descriptions: 140 characters.
const MAX_DESCRIPTION_CHARS: usize = 140;

/// One posted issue comment: its id and link, stored beside its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Part {
    comment: u64,
    url: Option<String>,
}

/// Publish `report` on the pull request `target`.
pub fn publish(
    host: &impl Host,
    connection: &Connection,
    target: &PullRequestRef,
    report: &RunReport,
    options: &PublishOptions,
) -> Result<PublishResult> {
    if skips(report, options) {
        return Ok(skipped());
    }
    let bodies = super::render(report, &options.render)?;
    let client = Client::new(host, connection)?;
    let api = IssueApi::new(&client, target)?;
    publish_parts(host, &api, target, report, options, &bodies)
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

/// A report's parts are issue comments: GitHub's conversation has no threads.
impl<H: Host + ?Sized> CommentApi for IssueApi<'_, '_, H> {
    type Part = Part;

    fn create(&self, body: &str, _first: Option<&Part>) -> Result<Part> {
        let answer = self.create_comment(body)?;
        Ok(Part {
            comment: answer.id,
            url: answer.html_url,
        })
    }

    fn update(&self, part: &mut Part, body: &str) -> Result<()> {
        let answer = self.update_comment(part.comment, body)?;
        part.url = answer.html_url.or(part.url.take());
        Ok(())
    }

    fn posted(&self, part: &Part) -> PostedComment {
        PostedComment {
            thread_id: None,
            comment_id: part.comment.to_string(),
            url: part.url.clone(),
        }
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
