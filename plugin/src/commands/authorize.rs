//! Deciding whether a comment's command may run.
//!
//! Checks run in the order that gives the most useful reason: comments that never run
//! anything (deleted, system, the integration's own), then the parse, edits, the pull
//! request's status, the switches, the workspaces, the optional rules, and last the
//! once-only claim in storage, made only when everything else allowed the command.
//!
//! The rules, the claim in storage and the conversion of the WIT records are the shared
//! ones ([`provider_kit::views::authorize_command`]); this file supplies Azure DevOps' own steps: the optional apply rules,
//! read through the REST API.

use serde::Deserialize;

use crate::rest;
use provider_kit::commands::CommandRequest;
use provider_kit::error::{ProviderError, Result};
use provider_kit::host::Host;
use provider_kit::types::{CommandSettings, Connection};
use provider_kit::views::apply_rules_connection;

use provider_kit::command_parser::code;

/// The connection option naming the status genre the integration posts under; its own
/// status policy is not a reason to refuse an apply (it waits on that very apply).
pub const STATUS_GENRE_OPTION: &str = "status-genre";

/// The status genre when the connection does not name one.
pub const DEFAULT_STATUS_GENRE: &str = "scalr";

/// The parts of a pull request the optional apply checks read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullRequestDetails {
    #[serde(default)]
    reviewers: Vec<Reviewer>,
    merge_status: Option<String>,
    #[serde(default)]
    is_draft: bool,
    repository: Option<RepositoryRef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reviewer {
    #[serde(default)]
    vote: i64,
    display_name: Option<String>,
    unique_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RepositoryRef {
    project: Option<ProjectRef>,
}

#[derive(Debug, Deserialize)]
struct ProjectRef {
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Evaluations {
    #[serde(default)]
    value: Vec<Evaluation>,
}

#[derive(Debug, Deserialize)]
struct Evaluation {
    status: Option<String>,
    configuration: Option<PolicyConfiguration>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyConfiguration {
    is_blocking: Option<bool>,
    is_enabled: Option<bool>,
    #[serde(rename = "type")]
    kind: Option<PolicyType>,
    #[serde(default)]
    settings: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyType {
    display_name: Option<String>,
}

/// Votes: 10 approved, 5 approved with suggestions, -10 rejected.
const APPROVING_VOTE: i64 = 5;
const REJECTING_VOTE: i64 = -10;

/// Why the optional apply rules refuse, if they do; asks the REST API when they are on.
pub(super) fn apply_problem(
    host: &(impl Host + ?Sized),
    settings: &CommandSettings,
    connection: Option<&Connection>,
    request: &CommandRequest,
) -> Result<Option<String>> {
    let connection = match apply_rules_connection(settings, connection) {
        Ok(Some(connection)) => connection,
        Ok(None) => return Ok(None),
        Err(reason) => return Ok(Some(reason)),
    };
    let client = rest::Client::new(host, connection)?;
    let repository = &request.pull_request_ref.repository;
    let project = [
        repository.project_id.as_deref(),
        repository.project.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find(|p| !p.trim().is_empty())
    .ok_or_else(|| {
        ProviderError::InvalidPayload(format!(
            "repository {} carries no project, so its pull request cannot be read",
            repository.name
        ))
    })?;
    let number = request.pull_request_ref.number.to_string();
    let url = client.api_url(
        &[
            project,
            "_apis",
            "git",
            "repositories",
            &repository.id,
            "pullRequests",
            &number,
        ],
        &[],
    )?;
    let details: PullRequestDetails = client.get(&url)?;

    if settings.require_approval_for_apply
        && let Some(reason) = approval_problem(&details)
    {
        return Ok(Some(reason));
    }
    if !settings.require_mergeable_for_apply {
        return Ok(None);
    }
    if details.is_draft {
        return Ok(Some(
            "apply needs a mergeable pull request, and this one is a draft; publish it first"
                .into(),
        ));
    }
    let merge_status = details.merge_status.as_deref().unwrap_or("notSet");
    if merge_status != "succeeded" {
        let what = match merge_status {
            "conflicts" => "it has merge conflicts; resolve them first",
            "queued" | "notSet" => {
                "Azure DevOps has not finished checking the merge; try again shortly"
            }
            "rejectedByPolicy" => "a branch policy rejects the merge",
            _ => "Azure DevOps could not merge it",
        };
        return Ok(Some(format!(
            "apply needs a mergeable pull request, and {what} (merge status {})",
            code(merge_status)
        )));
    }

    let project_id = repository
        .project_id
        .clone()
        .filter(|id| !id.trim().is_empty())
        .or_else(|| details.repository.and_then(|r| r.project).and_then(|p| p.id))
        .ok_or_else(|| {
            ProviderError::Upstream(provider_kit::error::UpstreamError {
                status: None,
                message: "Azure DevOps did not say the pull request's project id, needed to read its policy evaluations".into(),
            })
        })?;
    let artifact = format!(
        "vstfs:///CodeReview/CodeReviewId/{project_id}/{}",
        request.pull_request_ref.number
    );
    let version = if client.api_version().contains("-preview") {
        client.api_version().to_string()
    } else {
        format!("{}-preview.1", client.api_version())
    };
    let url = client.api_url_with_version(
        &[project, "_apis", "policy", "evaluations"],
        &[("artifactId", &artifact)],
        &version,
    )?;
    let evaluations: Evaluations = client.get(&url)?;
    let own_genre = connection
        .options
        .iter()
        .find(|(name, _)| name == STATUS_GENRE_OPTION)
        .map(|(_, value)| value.as_str())
        .unwrap_or(DEFAULT_STATUS_GENRE);
    let blocking: Vec<String> = evaluations
        .value
        .iter()
        .filter_map(|evaluation| blocking_policy(evaluation, own_genre))
        .collect();
    if blocking.is_empty() {
        Ok(None)
    } else {
        Ok(Some(format!(
            "apply needs a mergeable pull request, and branch policies still block it: {}",
            blocking.join(", ")
        )))
    }
}

/// Why the reviewers' votes refuse an apply, if they do.
fn approval_problem(details: &PullRequestDetails) -> Option<String> {
    if let Some(rejecter) = details.reviewers.iter().find(|r| r.vote <= REJECTING_VOTE) {
        let who = [
            rejecter.display_name.as_deref(),
            rejecter.unique_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or("a reviewer");
        return Some(format!(
            "apply needs an approved pull request, and {} rejected it",
            code(who)
        ));
    }
    if !details.reviewers.iter().any(|r| r.vote >= APPROVING_VOTE) {
        return Some(
            "apply needs an approved pull request, and no reviewer has approved it yet".into(),
        );
    }
    None
}

/// A description of a policy evaluation that blocks the merge, unless it is the
/// integration's own status policy.
fn blocking_policy(evaluation: &Evaluation, own_genre: &str) -> Option<String> {
    let status = evaluation.status.as_deref().unwrap_or("queued");
    if matches!(status, "approved" | "notApplicable") {
        return None;
    }
    let configuration = evaluation.configuration.as_ref()?;
    if !configuration.is_blocking.unwrap_or(true) || !configuration.is_enabled.unwrap_or(true) {
        return None;
    }
    let setting = |name: &str| configuration.settings.get(name).and_then(|v| v.as_str());
    let genre = setting("statusGenre");
    if genre.is_some_and(|genre| genre.eq_ignore_ascii_case(own_genre)) {
        return None;
    }
    let kind = configuration
        .kind
        .as_ref()
        .and_then(|kind| kind.display_name.as_deref())
        .unwrap_or("a policy");
    let status_name = match (genre, setting("statusName")) {
        (Some(genre), Some(name)) if !genre.is_empty() => {
            format!(" {}", code(&format!("{genre}/{name}")))
        }
        (_, Some(name)) => format!(" {}", code(name)),
        _ => String::new(),
    };
    Some(format!("{kind}{status_name} ({status})"))
}
