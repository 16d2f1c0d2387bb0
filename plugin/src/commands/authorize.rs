//! Deciding whether a comment's command may run.
//!
//! Checks run in the order that gives the most useful reason: comments that never run
//! anything (deleted, system, the integration's own), then the parse, edits, the pull
//! request's status, the switches, the workspaces, the optional rules, and last the
//! once-only claim in storage, made only when everything else allowed the command.

use serde::Deserialize;

use crate::bindings::exports::vcs::provider::commands::CommandRequest;
use crate::bindings::exports::vcs::provider::webhooks::{
    CommandVerdict, CommentState, Decision, PullRequestStatus,
};
use crate::bindings::vcs::provider::types::{CommandSettings, Connection, User, Workspace};
use crate::error::{ProviderError, Result};
use crate::host::Host;
use crate::rest;

use super::parser::{self, Parsed, code};
use provider_kit::reply::{self, APPLY_SWITCH, DRY_RUNS_SWITCH, PLAN_SWITCH, Switches};

/// How long a comment is remembered as run: longer than Azure DevOps retries a delivery.
pub const CLAIM_TTL_SECONDS: u32 = 30 * 24 * 60 * 60;

/// The connection option naming the status genre the integration posts under; its own
/// status policy is not a reason to refuse an apply (it waits on that very apply).
pub const STATUS_GENRE_OPTION: &str = "status-genre";

/// The status genre when the connection does not name one.
pub const DEFAULT_STATUS_GENRE: &str = "scalr";

/// Most workspace names a reply lists.
const MAX_LISTED_WORKSPACES: usize = 20;

/// See [`crate::commands::authorize`].
pub fn authorize(
    host: &(impl Host + ?Sized),
    settings: &CommandSettings,
    workspaces: &[Workspace],
    connection: Option<&Connection>,
    request: &CommandRequest,
) -> Result<CommandVerdict> {
    let prefix = parser::checked_prefix(&settings.prefix)?;
    let parsed = parser::parse_body(&request.comment.body, prefix)?;
    let verdicts = Verdicts {
        prefix,
        switches: Switches::new(settings.allow_plan, settings.allow_apply),
        name: parsed.name().to_string(),
        targets: parsed.targets().to_vec(),
    };
    let comment = &request.comment;

    if comment.state == CommentState::Deleted {
        return Ok(verdicts.silent("the comment was deleted; deleted comments run nothing"));
    }
    if comment.system {
        return Ok(verdicts.silent(
            "Azure DevOps wrote this comment (a system comment), not a person; system comments run nothing",
        ));
    }
    if is_own_comment(settings, &comment.author) {
        return Ok(verdicts.silent(
            "the integration wrote this comment itself; its own comments never run commands",
        ));
    }
    if parsed == Parsed::None {
        return Ok(verdicts.silent(&format!(
            "no line of the comment starts with {}, so it holds no command",
            code(prefix)
        )));
    }
    if comment.state == CommentState::Edited && !settings.run_edited_comments {
        return Ok(verdicts.denied(
            "the comment was edited, and edited comments run nothing here; post the command as a new comment",
        ));
    }

    let is_apply = match &parsed {
        Parsed::None => return Ok(verdicts.silent("the comment holds no command")),
        Parsed::Invalid(problem) => {
            return Ok(CommandVerdict {
                name: verdicts.name.clone(),
                workspaces: Vec::new(),
                decision: Decision::Denied,
                reason: problem.message.clone(),
                reply: Some(reply::problem(prefix, &problem.message, verdicts.switches)),
            });
        }
        Parsed::Help => {
            if !claim(host, request, "help")? {
                return Ok(verdicts.already_ran());
            }
            return Ok(CommandVerdict {
                name: "help".into(),
                workspaces: Vec::new(),
                decision: Decision::Allowed,
                reason: "the comment asks for help".into(),
                reply: Some(reply::help(prefix, verdicts.switches)),
            });
        }
        Parsed::Plan(_) => false,
        Parsed::Apply(_) => true,
    };

    match request.pull_request.status {
        PullRequestStatus::Open => {}
        PullRequestStatus::Merged => {
            return Ok(verdicts.denied(
                "the pull request is already merged; commands run only on open pull requests",
            ));
        }
        PullRequestStatus::Closed => {
            return Ok(verdicts
                .denied("the pull request is closed; commands run only on open pull requests"));
        }
    }

    if let Some(reason) = switch_problem(verdicts.switches, is_apply) {
        return Ok(verdicts.denied(&reason));
    }

    let targeted = match resolve_workspaces(workspaces, &verdicts.targets, request) {
        Ok(names) => names,
        Err(reason) => return Ok(verdicts.denied(&reason)),
    };

    if !is_allowed_user(settings, &comment.author) {
        return Ok(verdicts.denied(&format!(
            "{} is not on the integration's list of users who may run commands",
            code(&person(&comment.author))
        )));
    }

    if is_apply && let Some(reason) = apply_problem(host, settings, connection, request)? {
        return Ok(verdicts.denied(&reason));
    }

    if !claim(host, request, &verdicts.name)? {
        return Ok(verdicts.already_ran());
    }
    let shown: Vec<String> = targeted.iter().map(|name| code(name)).collect();
    Ok(CommandVerdict {
        name: verdicts.name.clone(),
        reason: format!(
            "{} may {} {}",
            code(&person(&comment.author)),
            verdicts.name,
            shown.join(", ")
        ),
        workspaces: targeted,
        decision: Decision::Allowed,
        reply: None,
    })
}

/// What every verdict of one comment shares.
struct Verdicts<'a> {
    prefix: &'a str,
    switches: Switches,
    name: String,
    targets: Vec<String>,
}

impl Verdicts<'_> {
    /// Denied without a reply: nobody asked the integration anything it should answer.
    fn silent(&self, reason: &str) -> CommandVerdict {
        CommandVerdict {
            name: self.name.clone(),
            workspaces: self.targets.clone(),
            decision: Decision::Denied,
            reason: reason.to_string(),
            reply: None,
        }
    }

    /// Denied, with a reply telling the author why and what is allowed.
    fn denied(&self, reason: &str) -> CommandVerdict {
        CommandVerdict {
            reply: Some(reply::denial(
                self.prefix,
                &self.name,
                reason,
                self.switches,
            )),
            ..self.silent(reason)
        }
    }

    /// Denied because an earlier delivery of the same comment ran it: the first one
    /// already answered, so no reply.
    fn already_ran(&self) -> CommandVerdict {
        self.silent(
            "this comment already ran its command; a comment runs once, even when Azure DevOps delivers it again",
        )
    }
}

/// Why the switches refuse the command, if they do.
fn switch_problem(switches: Switches, is_apply: bool) -> Option<String> {
    if is_apply && !switches.apply {
        return Some(format!(
            "“{APPLY_SWITCH}” is turned off for this integration, so comments cannot apply"
        ));
    }
    if !switches.plan {
        return Some(format!(
            "neither “{PLAN_SWITCH}” nor “{APPLY_SWITCH}” is turned on for this integration"
        ));
    }
    None
}

/// A comparable form of an identity id: trimmed, without braces, lower-case.
fn normalized_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_lowercase()
}

/// Whether the integration's own identity wrote the comment.
fn is_own_comment(settings: &CommandSettings, author: &User) -> bool {
    let Some(bot) = settings.bot_user_id.as_deref().map(normalized_id) else {
        return false;
    };
    !bot.is_empty() && bot == normalized_id(&author.id)
}

/// Whether the allowlist, if any, names the author by id or unique name.
fn is_allowed_user(settings: &CommandSettings, author: &User) -> bool {
    if settings.allowed_users.is_empty() {
        return true;
    }
    let id = normalized_id(&author.id);
    let unique_name = author
        .unique_name
        .as_deref()
        .map(|name| name.trim().to_lowercase());
    settings.allowed_users.iter().any(|entry| {
        let entry = normalized_id(entry);
        !entry.is_empty() && (entry == id || Some(&entry) == unique_name.as_ref())
    })
}

/// How a person is named in messages.
fn person(user: &User) -> String {
    [user.display_name.as_deref(), user.unique_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|name| !name.is_empty())
        .unwrap_or(&user.id)
        .to_string()
}

/// Remember that the comment ran; `false` when it already had.
fn claim(host: &(impl Host + ?Sized), request: &CommandRequest, name: &str) -> Result<bool> {
    let key = format!(
        "command:{}:{}:{}:{}",
        normalized_id(&request.pull_request_ref.repository.id),
        request.pull_request_ref.number,
        request.comment.thread_id.as_deref().unwrap_or("-"),
        request.comment.id
    );
    Ok(host.compare_and_swap(&key, None, Some(name.as_bytes()), Some(CLAIM_TTL_SECONDS))?)
}

/// Branch names compare without `refs/heads/` and case-insensitively, as Azure DevOps
/// treats them.
fn same_branch(a: &str, b: &str) -> bool {
    let plain = |name: &str| name.trim().trim_start_matches("refs/heads/").to_lowercase();
    plain(a) == plain(b)
}

/// Why a workspace does not run for this pull request, if it does not.
fn ineligibility(workspace: &Workspace, request: &CommandRequest) -> Option<String> {
    if !workspace.vcs_dry_runs {
        return Some(format!(
            "workspace {} does not have “{DRY_RUNS_SWITCH}” turned on",
            code(&workspace.name)
        ));
    }
    let target = &request.pull_request.target_branch;
    let tracked = workspace
        .branch
        .as_deref()
        .filter(|branch| !branch.trim().is_empty())
        .or(request
            .pull_request_ref
            .repository
            .default_branch
            .as_deref());
    match tracked {
        // Nothing says which branch the workspace follows: do not guess it away.
        None => None,
        Some(branch) if same_branch(branch, target) => None,
        Some(branch) => Some(format!(
            "workspace {} tracks branch {}, but this pull request targets {}",
            code(&workspace.name),
            code(branch),
            code(target)
        )),
    }
}

/// The workspaces the command runs on, or why there are none.
fn resolve_workspaces(
    workspaces: &[Workspace],
    targets: &[String],
    request: &CommandRequest,
) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let mut chosen: Vec<String> = Vec::new();
    if targets.is_empty() {
        for workspace in workspaces {
            match ineligibility(workspace, request) {
                None => push_unique(&mut chosen, &workspace.name),
                Some(problem) => problems.push(problem),
            }
        }
        if chosen.is_empty() {
            if workspaces.is_empty() {
                return Err("no workspace is linked to this repository".into());
            }
            return Err(format!(
                "no workspace runs for this pull request: {}",
                problems.join("; ")
            ));
        }
        return Ok(chosen);
    }
    for target in targets {
        let named: Vec<&Workspace> = workspaces.iter().filter(|w| &w.name == target).collect();
        if named.is_empty() {
            problems.push(unknown_workspace(workspaces, target));
            continue;
        }
        // Names may repeat (one per environment): one eligible entry is enough.
        let reasons: Vec<String> = named
            .iter()
            .filter_map(|workspace| ineligibility(workspace, request))
            .collect();
        if reasons.len() < named.len() {
            push_unique(&mut chosen, target);
        } else {
            problems.extend(reasons.into_iter().next());
        }
    }
    if problems.is_empty() {
        Ok(chosen)
    } else {
        Err(problems.join("; "))
    }
}

/// Why a named workspace is unknown, with the known names.
fn unknown_workspace(workspaces: &[Workspace], target: &str) -> String {
    let mut known: Vec<String> = Vec::new();
    for workspace in workspaces {
        push_unique(&mut known, &workspace.name);
    }
    if known.is_empty() {
        return format!(
            "there is no workspace {} (no workspace is linked to this repository)",
            code(target)
        );
    }
    let hint = known
        .iter()
        .find(|name| name.to_lowercase() == target.to_lowercase())
        .map(|name| format!(" (names are case-sensitive: did you mean {}?)", code(name)))
        .unwrap_or_default();
    let mut listed: Vec<String> = known
        .iter()
        .take(MAX_LISTED_WORKSPACES)
        .map(|name| code(name))
        .collect();
    if known.len() > MAX_LISTED_WORKSPACES {
        listed.push(format!("and {} more", known.len() - MAX_LISTED_WORKSPACES));
    }
    format!(
        "there is no workspace {} linked to this repository{hint}; known workspaces: {}",
        code(target),
        listed.join(", ")
    )
}

fn push_unique(names: &mut Vec<String>, name: &str) {
    if !names.iter().any(|known| known == name) {
        names.push(name.to_string());
    }
}

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
fn apply_problem(
    host: &(impl Host + ?Sized),
    settings: &CommandSettings,
    connection: Option<&Connection>,
    request: &CommandRequest,
) -> Result<Option<String>> {
    if !settings.require_approval_for_apply && !settings.require_mergeable_for_apply {
        return Ok(None);
    }
    let Some(connection) = connection else {
        let rule = if settings.require_approval_for_apply {
            "approved"
        } else {
            "mergeable"
        };
        return Ok(Some(format!(
            "apply needs the pull request to be {rule}, and the integration has no API connection to check that; ask an administrator to connect the integration"
        )));
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
            ProviderError::Upstream(crate::error::UpstreamError {
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
