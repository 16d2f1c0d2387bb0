//! The JSON view of the contract's records, the stable contract of the CLI's output
//! (documented in the README): delivery outcome lines, normalized events in snake_case,
//! and run reports. The JSON is built by hand from the WIT records so it stays stable
//! whatever the bindings generator does.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::delivery::DeliveryOutcome;
use crate::wit::latest::comments::{RunKind, RunReport, RunStatus, WorkspaceReport};
use crate::wit::latest::types::{ProviderError, Repository, User};
use crate::wit::latest::webhooks::{
    CommandVerdict, Comment, CommentState, Decision, Event, EventKind, Outcome, PullRequest,
    PullRequestAction, PullRequestStatus, PushEvent,
};

/// The one line of `host-harness webhook` output for a delivery's outcome.
pub fn outcome_line(outcome: &DeliveryOutcome) -> Value {
    match outcome {
        DeliveryOutcome::Rejected(reason) => rejected_line(reason),
        DeliveryOutcome::TooLarge {
            size,
            limit,
            provider,
        } => invalid_line(&DeliveryOutcome::too_large_reason(*size, *limit, provider)),
        DeliveryOutcome::Unverified(error) => {
            let (kind, message) = error_parts(error);
            error_line(&format!(
                "verifying the delivery failed ({kind}): {message}"
            ))
        }
        DeliveryOutcome::Invalid(reason) => invalid_line(reason),
        DeliveryOutcome::Handled(handled) => {
            let id = handled.delivery_id.as_deref();
            match &handled.outcome {
                Outcome::Event(event) => event_line(id, event),
                Outcome::Ignored(reason) => ignored_line(id, reason),
                Outcome::Duplicate => duplicate_line(id),
            }
        }
        DeliveryOutcome::Failed(error) => {
            let (kind, message) = error_parts(error);
            error_line(&format!("{kind}: {message}"))
        }
        DeliveryOutcome::Trapped(trap) => error_line(&trap.to_string()),
    }
}

/// One line of `host-harness webhook` output.
pub fn event_line(delivery_id: Option<&str>, event: &Event) -> Value {
    json!({"outcome": "event", "delivery_id": delivery_id, "event": event_json(event)})
}

/// `{"outcome":"ignored",...}`
pub fn ignored_line(delivery_id: Option<&str>, reason: &str) -> Value {
    json!({"outcome": "ignored", "delivery_id": delivery_id, "reason": reason})
}

/// `{"outcome":"duplicate",...}`
pub fn duplicate_line(delivery_id: Option<&str>) -> Value {
    json!({"outcome": "duplicate", "delivery_id": delivery_id})
}

/// `{"outcome":"rejected",...}`: credentials missing or wrong.
pub fn rejected_line(reason: &str) -> Value {
    json!({"outcome": "rejected", "reason": reason})
}

/// `{"outcome":"invalid",...}`: not JSON, wrong shape, too large, too deep.
pub fn invalid_line(reason: &str) -> Value {
    json!({"outcome": "invalid", "reason": reason})
}

/// `{"outcome":"error",...}`: the provider failed (trap, upstream error); the delivery
/// was not processed and may be retried.
pub fn error_line(reason: &str) -> Value {
    json!({"outcome": "error", "reason": reason})
}

/// A provider error's kind and message.
pub fn error_parts(error: &ProviderError) -> (&'static str, String) {
    match error {
        ProviderError::Unauthorized(m) => ("unauthorized", m.clone()),
        ProviderError::Forbidden(m) => ("forbidden", m.clone()),
        ProviderError::NotFound(m) => ("not-found", m.clone()),
        ProviderError::RateLimited(r) => ("rate-limited", r.message.clone()),
        ProviderError::InvalidPayload(m) => ("invalid-payload", m.clone()),
        ProviderError::InvalidConfig(m) => ("invalid-config", m.clone()),
        ProviderError::Conflict(m) => ("conflict", m.clone()),
        ProviderError::Upstream(u) => ("upstream", u.message.clone()),
        ProviderError::Transport(m) => ("transport", m.clone()),
        ProviderError::Storage(m) => ("storage", m.clone()),
        ProviderError::Unsupported(m) => ("unsupported", m.clone()),
    }
}

/// The normalized event in the contract's snake_case JSON.
pub fn event_json(event: &Event) -> Value {
    json!({
        "kind": kind_name(event.kind),
        "repository": repository_json(&event.repository),
        "push": event.push.as_ref().map(push_json),
        "action": event.action.map(action_name),
        "pull_request": event.pull_request.as_ref().map(pull_request_json),
        "comment": event.comment.as_ref().map(comment_json),
        "command": event.command.as_ref().map(command_json),
        "user": event.user.as_ref().map(user_json),
        "occurred_at": event.occurred_at,
    })
}

fn repository_json(r: &Repository) -> Value {
    json!({
        "id": r.id, "name": r.name, "project": r.project, "project_id": r.project_id,
        "organization": r.organization, "web_url": r.web_url, "clone_url": r.clone_url,
        "api_url": r.api_url, "default_branch": r.default_branch,
    })
}

fn user_json(u: &User) -> Value {
    json!({"id": u.id, "unique_name": u.unique_name, "display_name": u.display_name})
}

fn push_json(p: &PushEvent) -> Value {
    json!({
        "ref": p.ref_name, "branch": p.branch, "tag": p.tag, "before": p.before,
        "after": p.after, "created": p.created, "deleted": p.deleted, "forced": p.forced,
        "pusher": p.pusher.as_ref().map(user_json), "commits": p.commits,
    })
}

/// The contract's name of an event kind.
pub fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Push => "push",
        EventKind::PullRequest => "pull_request",
        EventKind::Comment => "comment",
    }
}

/// The contract's name of a command decision.
pub fn decision_name(decision: Decision) -> &'static str {
    match decision {
        Decision::Allowed => "allowed",
        Decision::Denied => "denied",
    }
}

/// The contract's name of a pull-request action.
pub fn action_name(action: PullRequestAction) -> &'static str {
    match action {
        PullRequestAction::Opened => "opened",
        PullRequestAction::SourceUpdated => "source_updated",
        PullRequestAction::Updated => "updated",
        PullRequestAction::ReadyForReview => "ready_for_review",
        PullRequestAction::Merged => "merged",
        PullRequestAction::Closed => "closed",
        PullRequestAction::Reopened => "reopened",
        PullRequestAction::MergeAttempted => "merge_attempted",
    }
}

fn pull_request_json(pr: &PullRequest) -> Value {
    json!({
        "number": pr.number, "title": pr.title, "source_branch": pr.source_branch,
        "target_branch": pr.target_branch, "head_sha": pr.head_sha, "base_sha": pr.base_sha,
        "status": match pr.status {
            PullRequestStatus::Open => "open",
            PullRequestStatus::Merged => "merged",
            PullRequestStatus::Closed => "closed",
        },
        "draft": pr.draft, "fork": pr.fork, "author": pr.author.as_ref().map(user_json),
        "url": pr.url,
    })
}

fn comment_json(c: &Comment) -> Value {
    json!({
        "id": c.id, "thread_id": c.thread_id, "author": user_json(&c.author), "body": c.body,
        "state": match c.state {
            CommentState::Created => "created",
            CommentState::Edited => "edited",
            CommentState::Deleted => "deleted",
        },
        "system": c.system,
    })
}

fn command_json(c: &CommandVerdict) -> Value {
    json!({
        "name": c.name,
        // `workspace` is the single target when there is exactly one; `workspaces` lists all.
        "workspace": if c.workspaces.len() == 1 { c.workspaces.first().cloned() } else { None },
        "workspaces": c.workspaces,
        "decision": decision_name(c.decision),
        "reason": c.reason,
        "reply": c.reply,
    })
}

/// A run report as `host-harness render` reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunReportJson {
    /// Plan or apply.
    pub kind: RunKindJson,
    /// Link to the run on the platform.
    #[serde(default)]
    pub run_url: Option<String>,
    /// The platform's run id.
    #[serde(default)]
    pub run_id: Option<String>,
    /// The commit the run used.
    #[serde(default)]
    pub head_sha: Option<String>,
    /// One entry per workspace.
    pub workspaces: Vec<WorkspaceReportJson>,
}

/// `plan` or `apply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKindJson {
    /// A dry run.
    Plan,
    /// An apply.
    Apply,
}

/// How a workspace's run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatusJson {
    /// Succeeded with changes.
    Success,
    /// Succeeded, nothing to change.
    NoChanges,
    /// Terraform failed.
    Failed,
    /// The run could not run.
    Errored,
}

/// One workspace of a [`RunReportJson`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceReportJson {
    /// Workspace name.
    pub name: String,
    /// How the run ended.
    pub status: RunStatusJson,
    /// Resources to add (added).
    #[serde(default)]
    pub add: u32,
    /// Resources to change (changed).
    #[serde(default)]
    pub change: u32,
    /// Resources to destroy (destroyed).
    #[serde(default)]
    pub destroy: u32,
    /// Resources to import (imported).
    #[serde(default)]
    pub import: u32,
    /// Terraform's output.
    #[serde(default)]
    pub output: String,
}

impl RunReportJson {
    /// The contract record.
    pub fn into_report(self) -> RunReport {
        RunReport {
            kind: match self.kind {
                RunKindJson::Plan => RunKind::Plan,
                RunKindJson::Apply => RunKind::Apply,
            },
            run_url: self.run_url,
            run_id: self.run_id,
            head_sha: self.head_sha,
            workspaces: self
                .workspaces
                .into_iter()
                .map(|w| WorkspaceReport {
                    name: w.name,
                    status: match w.status {
                        RunStatusJson::Success => RunStatus::Success,
                        RunStatusJson::NoChanges => RunStatus::NoChanges,
                        RunStatusJson::Failed => RunStatus::Failed,
                        RunStatusJson::Errored => RunStatus::Errored,
                    },
                    add: w.add,
                    change: w.change,
                    destroy: w.destroy,
                    import: w.import,
                    output: w.output,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_reports_parse_from_the_documented_json() {
        let report: RunReportJson = serde_json::from_str(
            r#"{"kind":"plan","run_url":"https://scalr.example/runs/1","workspaces":[
                {"name":"prod","status":"no_changes","output":"No changes."},
                {"name":"dev","status":"success","add":2,"change":1,"destroy":0,"import":1,"output":"+ x"}]}"#,
        )
        .unwrap();
        let report = report.into_report();
        assert!(matches!(report.kind, RunKind::Plan));
        assert_eq!(report.workspaces.len(), 2);
        assert_eq!(report.workspaces[1].import, 1);
        assert!(
            serde_json::from_str::<RunReportJson>(r#"{"kind":"destroy","workspaces":[]}"#).is_err()
        );
    }

    #[test]
    fn outcome_lines_keep_the_documented_key_order() {
        let line = ignored_line(Some("abc"), "test payload").to_string();
        assert_eq!(
            line,
            r#"{"outcome":"ignored","delivery_id":"abc","reason":"test payload"}"#
        );
        assert_eq!(
            duplicate_line(None).to_string(),
            r#"{"outcome":"duplicate","delivery_id":null}"#
        );
    }
}
