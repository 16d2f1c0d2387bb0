//! What `serve` does about an event: the platform-side decision (which runs to request,
//! which replies to post), as jobs that sit in the durable queue.
//!
//! Jobs are plain serde records rather than the WIT types so that a queue entry written
//! by one host version can be read by the next and by another process.

use serde::{Deserialize, Serialize};

use vcs_host::types::{Decision, Event, EventKind, PullRequestAction, PullRequestStatus};
use vcs_host::types::{IntegrationSettings, PullRequestRef, Repository};

/// Plan or apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// A dry run.
    Plan,
    /// Plan and apply.
    Apply,
}

impl RunKind {
    /// `plan` or `apply`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Apply => "apply",
        }
    }
}

/// What a job does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobAction {
    /// Ask the executor for a run, publish its report on the pull request and set statuses.
    Run {
        /// Plan or apply.
        kind: RunKind,
        /// The workspaces to run.
        workspaces: Vec<String>,
    },
    /// Answer a comment (a denied command's explanation, or help).
    Reply {
        /// The reply, markdown.
        markdown: String,
        /// The thread of the comment being answered.
        thread_id: Option<String>,
    },
}

/// The repository fields a job needs, mirroring the WIT `repository` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepositoryRecord {
    /// Provider id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Project (Azure DevOps).
    pub project: Option<String>,
    /// Project id.
    pub project_id: Option<String>,
    /// Organization or collection.
    pub organization: String,
    /// Web URL.
    pub web_url: Option<String>,
    /// Clone URL.
    pub clone_url: Option<String>,
    /// REST base the provider derived from the delivery.
    pub api_url: String,
    /// Default branch.
    pub default_branch: Option<String>,
}

impl From<&Repository> for RepositoryRecord {
    fn from(r: &Repository) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            project: r.project.clone(),
            project_id: r.project_id.clone(),
            organization: r.organization.clone(),
            web_url: r.web_url.clone(),
            clone_url: r.clone_url.clone(),
            api_url: r.api_url.clone(),
            default_branch: r.default_branch.clone(),
        }
    }
}

impl From<&RepositoryRecord> for Repository {
    fn from(r: &RepositoryRecord) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            project: r.project.clone(),
            project_id: r.project_id.clone(),
            organization: r.organization.clone(),
            web_url: r.web_url.clone(),
            clone_url: r.clone_url.clone(),
            api_url: r.api_url.clone(),
            default_branch: r.default_branch.clone(),
        }
    }
}

/// One unit of queued work for one pull request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The integration it belongs to.
    pub integration: String,
    /// The delivery that caused it (the provider's dedupe id).
    pub delivery_id: Option<String>,
    /// What to do.
    pub action: JobAction,
    /// The repository.
    pub repository: RepositoryRecord,
    /// The pull request number.
    pub pull_request: u64,
    /// The head commit the work is for, when the event names one.
    pub head_sha: Option<String>,
    /// The source branch.
    pub source_branch: Option<String>,
    /// Why, for people: "pull request opened by Jane Doe", "`/scalr plan` by Raj Patel".
    pub trigger: String,
}

impl Job {
    /// The WIT reference of the job's pull request.
    pub fn pull_request_ref(&self) -> PullRequestRef {
        PullRequestRef {
            repository: Repository::from(&self.repository),
            number: self.pull_request,
        }
    }

    /// Jobs of one pull request run one at a time, in order: this is their shared key.
    pub fn serial_key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.integration, self.repository.id, self.pull_request
        )
    }

    /// A short description for logs and the demo's timeline.
    pub fn describe(&self) -> String {
        match &self.action {
            JobAction::Run { kind, workspaces } => format!(
                "{} {} on PR #{} ({})",
                kind.as_str(),
                workspaces.join(", "),
                self.pull_request,
                self.trigger
            ),
            JobAction::Reply { .. } => {
                format!("reply on PR #{} ({})", self.pull_request, self.trigger)
            }
        }
    }
}

/// The platform's decision for a normalized event: which runs to request and which
/// replies to post. Pushes, merges and closes request nothing here (a platform would
/// run applies on merge to the default branch from its own VCS-driven settings).
pub fn jobs_for(
    settings: &IntegrationSettings,
    delivery_id: Option<&str>,
    event: &Event,
) -> Vec<Job> {
    let Some(pr) = &event.pull_request else {
        return vec![];
    };
    let user = event
        .user
        .as_ref()
        .and_then(|u| u.display_name.clone().or_else(|| u.unique_name.clone()))
        .unwrap_or_else(|| "someone".into());
    let job = |action: JobAction, trigger: String| Job {
        integration: settings.id.clone(),
        delivery_id: delivery_id.map(str::to_owned),
        action,
        repository: RepositoryRecord::from(&event.repository),
        pull_request: pr.number,
        head_sha: pr.head_sha.clone(),
        source_branch: Some(pr.source_branch.clone()),
        trigger,
    };
    match event.kind {
        EventKind::PullRequest => {
            let (Some(action), PullRequestStatus::Open) = (event.action, pr.status) else {
                return vec![];
            };
            let why = match action {
                PullRequestAction::Opened => format!("pull request opened by {user}"),
                PullRequestAction::SourceUpdated => "new commits pushed".to_string(),
                PullRequestAction::Reopened => format!("pull request reopened by {user}"),
                PullRequestAction::ReadyForReview => {
                    format!("pull request published by {user}")
                }
                _ => return vec![],
            };
            // VCS-driven dry runs: every workspace with them enabled whose branch (if
            // any) is the pull request's target.
            let target = pr.target_branch.trim_start_matches("refs/heads/");
            let workspaces: Vec<String> = settings
                .workspaces
                .iter()
                .filter(|w| w.vcs_dry_runs)
                .filter(|w| {
                    w.branch
                        .as_deref()
                        .is_none_or(|b| b.trim_start_matches("refs/heads/") == target)
                })
                .map(|w| w.name.clone())
                .collect();
            if workspaces.is_empty() {
                return vec![];
            }
            vec![job(
                JobAction::Run {
                    kind: RunKind::Plan,
                    workspaces,
                },
                why,
            )]
        }
        EventKind::Comment => {
            let Some(verdict) = &event.command else {
                return vec![];
            };
            let thread_id = event.comment.as_ref().and_then(|c| c.thread_id.clone());
            let trigger = format!("`{} {}` by {user}", settings.commands.prefix, verdict.name);
            let mut jobs = vec![];
            if let Some(markdown) = &verdict.reply {
                jobs.push(job(
                    JobAction::Reply {
                        markdown: markdown.clone(),
                        thread_id,
                    },
                    trigger.clone(),
                ));
            }
            let kind = match verdict.name.as_str() {
                "plan" => Some(RunKind::Plan),
                "apply" => Some(RunKind::Apply),
                _ => None,
            };
            if let (Decision::Allowed, Some(kind)) = (verdict.decision, kind)
                && !verdict.workspaces.is_empty()
            {
                jobs.push(job(
                    JobAction::Run {
                        kind,
                        workspaces: verdict.workspaces.clone(),
                    },
                    trigger,
                ));
            }
            jobs
        }
        EventKind::Push => vec![],
    }
}
