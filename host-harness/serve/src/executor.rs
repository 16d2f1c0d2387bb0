//! The platform's side of a run: `serve` asks an [`Executor`] to plan or apply and gets
//! a run report back. A platform embedding the host implements the trait over its own
//! runner; [`RecordedExecutor`] answers with recorded reports, for the demo and tests.

use sha2::{Digest, Sha256};

use vcs_host::json::{RunKindJson, RunReportJson};

use crate::job::RunKind;

/// What the executor is asked to run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    /// Stable for one queued job across retries and takeovers: an executor that has
    /// already started a run for this key must return (or wait for) that run rather
    /// than start a second one.
    pub idempotency_key: String,
    /// The integration.
    pub integration: String,
    /// Plan or apply.
    pub kind: RunKind,
    /// Workspaces to run.
    pub workspaces: Vec<String>,
    /// Repository name.
    pub repository: String,
    /// Pull request number.
    pub pull_request: u64,
    /// The commit to run, when known.
    pub head_sha: Option<String>,
    /// The source branch.
    pub source_branch: Option<String>,
    /// Why, for people.
    pub trigger: String,
}

/// Why a run request failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// Try again later (the runner is busy or unreachable).
    #[error("the executor is unavailable: {0}")]
    Unavailable(String),
    /// The request cannot succeed (unknown workspace, bad configuration).
    #[error("the executor refused the run: {0}")]
    Refused(String),
}

/// Runs plans and applies for `serve`.
pub trait Executor: Send + Sync + std::fmt::Debug {
    /// Run (or look up the run of) `request` and return its report.
    fn run(&self, request: &RunRequest) -> Result<RunReportJson, ExecutorError>;
}

/// Answers every request with a recorded report, one entry per requested workspace
/// (the recording's first workspace, renamed), for the demo and tests.
#[derive(Debug, Clone)]
pub struct RecordedExecutor {
    plan: RunReportJson,
    apply: RunReportJson,
    delay: std::time::Duration,
}

// The host's own recordings of a plan and an apply (8 to add, 1 to change), not test
// fixtures: production code never reads those.
const BUILTIN_PLAN: &str = include_str!("executor/builtin-plan.json");
const BUILTIN_APPLY: &str = include_str!("executor/builtin-apply.json");

impl RecordedExecutor {
    /// The host's built-in recorded reports.
    pub fn builtin() -> anyhow::Result<Self> {
        let parse = |text: &str| {
            serde_json::from_str::<RunReportJson>(text)
                .map_err(|e| anyhow::anyhow!("a built-in run report does not parse: {e}"))
        };
        Self::checked(parse(BUILTIN_PLAN)?, parse(BUILTIN_APPLY)?)
    }

    fn checked(plan: RunReportJson, apply: RunReportJson) -> anyhow::Result<Self> {
        if plan.kind != RunKindJson::Plan || apply.kind != RunKindJson::Apply {
            anyhow::bail!("the plan recording must be a plan and the apply recording an apply");
        }
        if plan.workspaces.is_empty() || apply.workspaces.is_empty() {
            anyhow::bail!("recorded reports need at least one workspace");
        }
        Ok(Self {
            plan,
            apply,
            delay: std::time::Duration::ZERO,
        })
    }

    /// Take `delay` per run, as a real run takes time (demo pacing, crash tests).
    #[must_use]
    pub fn with_delay(mut self, delay: std::time::Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Reports from `plan` and `apply` JSON files (the `host-harness render` format).
    pub fn from_files(plan: &std::path::Path, apply: &std::path::Path) -> anyhow::Result<Self> {
        let read = |path: &std::path::Path| -> anyhow::Result<RunReportJson> {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{} is not a run report: {e}", path.display()))
        };
        Self::checked(read(plan)?, read(apply)?)
    }
}

impl Executor for RecordedExecutor {
    fn run(&self, request: &RunRequest) -> Result<RunReportJson, ExecutorError> {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        let template = match request.kind {
            RunKind::Plan => &self.plan,
            RunKind::Apply => &self.apply,
        };
        let Some(first) = template.workspaces.first() else {
            return Err(ExecutorError::Refused(
                "the recording has no workspace".into(),
            ));
        };
        if request.workspaces.is_empty() {
            return Err(ExecutorError::Refused("no workspace requested".into()));
        }
        let digest = Sha256::digest(request.idempotency_key.as_bytes());
        let run_id: String = std::iter::once("run-".to_string())
            .chain(digest.iter().take(5).map(|b| format!("{b:02x}")))
            .collect();
        let mut report = template.clone();
        report.run_url = Some(format!("https://scalr.example/v2/runs/{run_id}/"));
        report.run_id = Some(run_id);
        report.head_sha = request.head_sha.clone().or(report.head_sha);
        report.workspaces = request
            .workspaces
            .iter()
            .map(|name| {
                let mut ws = first.clone();
                ws.name = name.clone();
                ws
            })
            .collect();
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_reports_follow_the_request() {
        let executor = RecordedExecutor::builtin().unwrap();
        let request = RunRequest {
            idempotency_key: "k1".into(),
            integration: "i".into(),
            kind: RunKind::Apply,
            workspaces: vec!["prod".into(), "dr".into()],
            repository: "r".into(),
            pull_request: 1,
            head_sha: Some("abc".into()),
            source_branch: None,
            trigger: "t".into(),
        };
        let report = executor.run(&request).unwrap();
        assert_eq!(report.kind, RunKindJson::Apply);
        assert_eq!(
            report
                .workspaces
                .iter()
                .map(|w| w.name.as_str())
                .collect::<Vec<_>>(),
            ["prod", "dr"]
        );
        assert_eq!(report.head_sha.as_deref(), Some("abc"));
        // The same key names the same run.
        assert_eq!(executor.run(&request).unwrap(), report);
        let none = RunRequest {
            workspaces: vec![],
            ..request
        };
        assert!(matches!(
            executor.run(&none),
            Err(ExecutorError::Refused(_))
        ));
    }
}
