//! Workers: one queued job at a time per pull request, in checkpointed stages — pending
//! statuses and the executor's run, the comment, the final statuses — with retries that
//! back off and permanent failures that go to the dead letters.

use std::time::Duration;

use vcs_host::CallError;
use vcs_host::json::{RunKindJson, RunReportJson, RunStatusJson, WorkspaceReportJson, error_parts};
use vcs_host::types::{
    CommitStatus, ProviderError, PublishAction, PublishOptions, PullRequestStatusTarget,
    RenderOptions, StatusState, StatusTarget,
};

use crate::activity::Activity;
use crate::executor::{ExecutorError, RunRequest};
use crate::job::{Job, JobAction, RunKind};
use crate::queue::{Claimed, Stage};
use crate::server::{Integration, Shared};

/// Longest backoff between attempts of a job.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What happened to one job run.
enum Step {
    Done,
    /// Someone else holds the entry now; we stop touching it.
    Lost,
    /// Shutting down between stages: put back for later.
    Stopped,
}

/// Why a job stage failed.
enum Failure {
    Retry { error: String, after: Duration },
    Permanent(String),
}

/// Take and run one queued entry; `true` when it was ours to run.
pub(crate) fn process(shared: &Shared, key: &str) -> bool {
    let mut claimed = match shared.queue.claim(key) {
        Ok(Some(claimed)) => claimed,
        Ok(None) => return false,
        Err(error) => {
            tracing::warn!(key, %error, "cannot claim a queued job");
            return false;
        }
    };
    shared.metrics.jobs_in_flight(1);
    let job = claimed.item.job.clone();
    let label = match &job.action {
        JobAction::Run { kind, .. } => kind.as_str(),
        JobAction::Reply { .. } => "reply",
    };
    let name = job.describe();
    shared.emit(Activity::JobStarted { job: name.clone() });
    let result = match shared.integration(&job.integration) {
        None => Err(Failure::Permanent(format!(
            "integration {} is no longer served",
            job.integration
        ))),
        Some(integration) => match &job.action {
            JobAction::Reply {
                markdown,
                thread_id,
            } => reply(
                shared,
                &integration,
                &job,
                claimed.item.attempts,
                markdown,
                thread_id.clone(),
            ),
            JobAction::Run { kind, workspaces } => {
                run_job(shared, &integration, &mut claimed, *kind, workspaces)
            }
        },
    };
    let outcome = match result {
        Ok(Step::Done) => {
            let _ = shared.queue.complete(&claimed);
            shared.emit(Activity::JobDone { job: name });
            "done"
        }
        Ok(Step::Lost) => "lost",
        Ok(Step::Stopped) => {
            let _ = shared.queue.release(&claimed, Duration::ZERO, None);
            "released"
        }
        Err(Failure::Retry { error, after }) => {
            if claimed.item.attempts.saturating_add(1) >= shared.settings.max_attempts {
                let error = format!(
                    "gave up after {} attempts: {error}",
                    claimed.item.attempts + 1
                );
                let _ = shared.queue.dead_letter(&claimed, error.clone());
                shared.emit(Activity::JobDead { job: name, error });
                "dead"
            } else {
                let _ = shared.queue.release(&claimed, after, Some(error.clone()));
                shared.emit(Activity::JobRetrying { job: name, error });
                "retried"
            }
        }
        Err(Failure::Permanent(error)) => {
            let _ = shared.queue.dead_letter(&claimed, error.clone());
            shared.emit(Activity::JobDead { job: name, error });
            "dead"
        }
    };
    shared.metrics.job(label, outcome);
    shared.metrics.jobs_in_flight(-1);
    true
}

fn backoff(shared: &Shared, attempts: u32) -> Duration {
    let base = Duration::from_millis(shared.settings.retry_base_ms);
    base.saturating_mul(1u32 << attempts.min(16))
        .min(MAX_BACKOFF)
}

fn provider_failure(shared: &Shared, attempts: u32, error: &ProviderError) -> Failure {
    let (kind, message) = error_parts(error);
    let text = format!("{kind}: {message}");
    match error {
        ProviderError::RateLimited(limit) => Failure::Retry {
            error: text,
            after: Duration::from_secs(u64::from(limit.retry_after_seconds.unwrap_or(30)))
                .min(MAX_BACKOFF),
        },
        ProviderError::Transport(_) | ProviderError::Storage(_) | ProviderError::Conflict(_) => {
            Failure::Retry {
                error: text,
                after: backoff(shared, attempts),
            }
        }
        ProviderError::Upstream(upstream)
            if upstream.status.is_none_or(|s| s >= 500 || s == 408) =>
        {
            Failure::Retry {
                error: text,
                after: backoff(shared, attempts),
            }
        }
        _ => Failure::Permanent(text),
    }
}

fn call_failure(shared: &Shared, attempts: u32, error: &CallError) -> Failure {
    shared.metrics.trap(error);
    Failure::Retry {
        error: error.to_string(),
        after: backoff(shared, attempts),
    }
}

fn reply(
    shared: &Shared,
    integration: &Integration,
    job: &Job,
    attempts: u32,
    markdown: &str,
    thread_id: Option<String>,
) -> Result<Step, Failure> {
    let Some(connection) = integration.pipeline.connection() else {
        shared.emit(Activity::Note {
            job: job.describe(),
            message: "no credential configured, so the reply was not posted".into(),
        });
        return Ok(Step::Done);
    };
    let target = job.pull_request_ref();
    let context = integration.context(shared.storage.clone());
    match integration.provider.reply(
        &context,
        connection,
        &target,
        thread_id.as_deref(),
        markdown,
    ) {
        Ok(Ok(_)) => {
            shared.emit(Activity::Replied {
                job: job.describe(),
            });
            Ok(Step::Done)
        }
        Ok(Err(error)) => Err(provider_failure(shared, attempts, &error)),
        Err(error) => Err(call_failure(shared, attempts, &error)),
    }
}

fn run_job(
    shared: &Shared,
    integration: &Integration,
    claimed: &mut Claimed,
    kind: RunKind,
    workspaces: &[String],
) -> Result<Step, Failure> {
    let job = claimed.item.job.clone();
    let attempts = claimed.item.attempts;
    let name = job.describe();
    if claimed.item.stage == Stage::Queued {
        set_statuses(shared, integration, &job, attempts, kind, workspaces, None)?;
        let request = RunRequest {
            idempotency_key: claimed.key.clone(),
            integration: job.integration.clone(),
            kind,
            workspaces: workspaces.to_vec(),
            repository: job.repository.name.clone(),
            pull_request: job.pull_request,
            head_sha: job.head_sha.clone(),
            source_branch: job.source_branch.clone(),
            trigger: job.trigger.clone(),
        };
        let report = shared.executor.run(&request).map_err(|error| match error {
            ExecutorError::Unavailable(_) => Failure::Retry {
                error: error.to_string(),
                after: backoff(shared, attempts),
            },
            ExecutorError::Refused(_) => Failure::Permanent(error.to_string()),
        })?;
        shared.emit(Activity::RunFinished {
            job: name.clone(),
            summary: report_summary(&report),
        });
        let saved = shared.queue.checkpoint(claimed, &mut |item| {
            item.stage = Stage::Ran;
            item.report = Some(report.clone());
        });
        if !saved.unwrap_or(false) {
            return Ok(Step::Lost);
        }
    }
    if shared.stopping() {
        return Ok(Step::Stopped);
    }
    let Some(report) = claimed.item.report.clone() else {
        return Err(Failure::Permanent(
            "the queue entry says the run finished but holds no report".into(),
        ));
    };
    if claimed.item.stage == Stage::Ran {
        match integration.pipeline.connection() {
            None => shared.emit(Activity::Note {
                job: name.clone(),
                message: "no credential configured, so the report was not posted".into(),
            }),
            Some(connection) => {
                let options = PublishOptions {
                    comments_enabled: integration.config.comments.enabled,
                    apply_summary: integration.config.comments.apply_summary,
                    new_comment_per_head: integration.config.comments.new_comment_per_head,
                    render: RenderOptions {
                        max_length: None,
                        commands: Some(integration.pipeline.settings().commands.clone()),
                    },
                    options: integration.pipeline.settings().options.clone(),
                };
                let target = job.pull_request_ref();
                let wit_report = report.clone().into_report();
                let context = integration.context(shared.storage.clone());
                let published = integration.provider.publish(
                    &context,
                    connection,
                    &target,
                    &wit_report,
                    &options,
                );
                match published {
                    Ok(Ok(result)) => shared.emit(Activity::Published {
                        job: name.clone(),
                        action: publish_action_name(result.action).to_string(),
                        comments: result
                            .comments
                            .iter()
                            .map(|c| c.comment_id.clone())
                            .collect(),
                    }),
                    Ok(Err(error)) => return Err(provider_failure(shared, attempts, &error)),
                    Err(error) => return Err(call_failure(shared, attempts, &error)),
                }
            }
        }
        let saved = shared
            .queue
            .checkpoint(claimed, &mut |item| item.stage = Stage::Published);
        if !saved.unwrap_or(false) {
            return Ok(Step::Lost);
        }
    }
    if shared.stopping() {
        return Ok(Step::Stopped);
    }
    set_statuses(
        shared,
        integration,
        &job,
        attempts,
        kind,
        workspaces,
        Some(&report),
    )?;
    Ok(Step::Done)
}

/// Pending statuses (no report yet) or final ones, one per workspace, on the pull
/// request's head. Permanent failures (a token without Code Status) are noted and
/// skipped: the comment still carries the result.
fn set_statuses(
    shared: &Shared,
    integration: &Integration,
    job: &Job,
    attempts: u32,
    kind: RunKind,
    workspaces: &[String],
    report: Option<&RunReportJson>,
) -> Result<(), Failure> {
    let (Some(connection), Some(head_sha)) = (integration.pipeline.connection(), &job.head_sha)
    else {
        return Ok(());
    };
    let genre = integration
        .pipeline
        .settings()
        .commands
        .prefix
        .trim_start_matches('/')
        .to_string();
    let genre = if genre.is_empty() {
        "terraform".to_string()
    } else {
        genre
    };
    let verb = match kind {
        RunKind::Plan => "Plan",
        RunKind::Apply => "Apply",
    };
    for workspace in workspaces {
        let (state, description) = match report {
            None => (StatusState::Pending, format!("{verb} is running")),
            Some(report) => {
                let entry = report.workspaces.iter().find(|w| &w.name == workspace);
                match entry {
                    None => (
                        StatusState::Error,
                        format!("{verb} reported nothing for this workspace"),
                    ),
                    Some(w) => workspace_status(&report.kind, w),
                }
            }
        };
        let status = CommitStatus {
            state,
            context_name: format!("{}/{workspace}", kind.as_str()),
            context_genre: Some(genre.clone()),
            description,
            target_url: report.and_then(|r| r.run_url.clone()),
        };
        let target = StatusTarget::PullRequest(PullRequestStatusTarget {
            pull_request: job.pull_request_ref(),
            head_sha: head_sha.clone(),
        });
        let context = integration.context(shared.storage.clone());
        let result = integration
            .provider
            .set_status(&context, connection, &target, &status);
        let failure = match result {
            Ok(Ok(())) => {
                shared.emit(Activity::StatusSet {
                    job: job.describe(),
                    context: format!("{genre}/{}", status.context_name),
                    state: status_state_name(state).to_string(),
                });
                continue;
            }
            Ok(Err(error)) => provider_failure(shared, attempts, &error),
            Err(error) => call_failure(shared, attempts, &error),
        };
        match failure {
            Failure::Permanent(message) => shared.emit(Activity::Note {
                job: job.describe(),
                message: format!("status {} not set: {message}", status.context_name),
            }),
            retry @ Failure::Retry { .. } => return Err(retry),
        }
    }
    Ok(())
}

fn publish_action_name(action: PublishAction) -> &'static str {
    match action {
        PublishAction::Created => "created",
        PublishAction::Updated => "updated",
        PublishAction::Unchanged => "unchanged",
        PublishAction::Skipped => "skipped",
    }
}

fn status_state_name(state: StatusState) -> &'static str {
    match state {
        StatusState::Pending => "pending",
        StatusState::Succeeded => "succeeded",
        StatusState::Failed => "failed",
        StatusState::Error => "error",
        StatusState::NotApplicable => "not_applicable",
    }
}

fn workspace_status(kind: &RunKindJson, w: &WorkspaceReportJson) -> (StatusState, String) {
    match (kind, &w.status) {
        (RunKindJson::Plan, RunStatusJson::Success) => (
            StatusState::Succeeded,
            format!(
                "Plan: {} to add, {} to change, {} to destroy",
                w.add, w.change, w.destroy
            ),
        ),
        (RunKindJson::Apply, RunStatusJson::Success) => (
            StatusState::Succeeded,
            format!(
                "Applied: {} added, {} changed, {} destroyed",
                w.add, w.change, w.destroy
            ),
        ),
        (_, RunStatusJson::NoChanges) => (StatusState::Succeeded, "No changes".into()),
        (RunKindJson::Plan, RunStatusJson::Failed) => (StatusState::Failed, "Plan failed".into()),
        (RunKindJson::Apply, RunStatusJson::Failed) => (StatusState::Failed, "Apply failed".into()),
        (_, RunStatusJson::Errored) => (StatusState::Error, "The run errored".into()),
    }
}

fn report_summary(report: &RunReportJson) -> String {
    report
        .workspaces
        .iter()
        .map(|w| format!("{}: {}", w.name, workspace_status(&report.kind, w).1))
        .collect::<Vec<_>>()
        .join("; ")
}
