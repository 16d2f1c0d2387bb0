//! What the provider remembers of each pull request, to tell `git.pullrequest.updated`
//! deliveries apart: Azure DevOps sends the same event for a push to the source branch,
//! a vote, a reviewer change and a status change, and says not which.

use serde::{Deserialize, Serialize};

use provider_kit::error::Result;
use provider_kit::host::{Host, Level};
use provider_kit::webhooks::{PullRequest, PullRequestAction, PullRequestStatus};

/// Pull-request state expires after half a year without events: a PR that quiet is
/// treated as unknown (its next update counts as `source-updated`, the safe side).
pub const STATE_TTL_SECONDS: u32 = 180 * 24 * 60 * 60;

/// The stored state of one pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrState {
    /// Head commit of the source branch.
    pub head: Option<String>,
    /// `open`, `merged` or `closed`.
    pub status: String,
    /// Whether the PR was a draft.
    pub draft: bool,
}

impl PrState {
    /// The state a pull request is in now.
    pub fn of(pr: &PullRequest) -> Self {
        Self {
            head: pr.head_sha.clone(),
            status: status_name(pr.status).to_string(),
            draft: pr.draft,
        }
    }
}

/// The storage key of a pull request: keyed on the repository GUID (names change).
pub fn key(repository_id: &str, number: u64) -> String {
    format!("pr:{}:{number}", repository_id.to_ascii_lowercase())
}

fn status_name(status: PullRequestStatus) -> &'static str {
    match status {
        PullRequestStatus::Open => "open",
        PullRequestStatus::Merged => "merged",
        PullRequestStatus::Closed => "closed",
    }
}

/// The stored state, or `None` when absent or unreadable (treated as unknown).
pub fn load(host: &impl Host, key: &str) -> Result<Option<PrState>> {
    let Some(bytes) = host.get(key)? else {
        return Ok(None);
    };
    match serde_json::from_slice(&bytes) {
        Ok(state) => Ok(Some(state)),
        Err(e) => {
            host.log(
                Level::Warn,
                "stored pull-request state is unreadable; treating it as unknown",
                &[("key".into(), key.into()), ("error".into(), e.to_string())],
            );
            Ok(None)
        }
    }
}

/// Remember a pull request's state.
pub fn save(host: &impl Host, key: &str, state: &PrState) -> Result<()> {
    let bytes = serde_json::to_vec(state).unwrap_or_default();
    host.set(key, &bytes, Some(STATE_TTL_SECONDS))?;
    Ok(())
}

/// Which pull-request event type a delivery was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrEventType {
    /// `git.pullrequest.created`
    Created,
    /// `git.pullrequest.updated`
    Updated,
    /// `git.pullrequest.merged` ("merge attempted": also fires for test merges)
    MergeAttempted,
}

/// Decide what happened from the event type, the PR as delivered and the stored state.
///
/// The first delivery that shows a new head (or a PR never seen) reports
/// `source-updated`, whichever event type it is, so a push is planned exactly once
/// whether its `updated` or its test-merge event arrives first.
///
/// Order matters when several things changed at once: a status change wins, then a new
/// head (so a plan always runs for new commits, even when a draft is published in the
/// same update), then publishing a draft, then metadata. A terminal status already
/// stored (a second "completed" notification) is reported as `updated`, so `merged`
/// and `closed` are announced once.
pub fn decide(event: PrEventType, pr: &PullRequest, stored: Option<&PrState>) -> PullRequestAction {
    let now = status_name(pr.status);
    match (event, pr.status) {
        (PrEventType::Created, _) => PullRequestAction::Opened,
        (_, PullRequestStatus::Merged | PullRequestStatus::Closed)
            if stored.is_some_and(|s| s.status == now) =>
        {
            PullRequestAction::Updated
        }
        (_, PullRequestStatus::Merged) => PullRequestAction::Merged,
        (_, PullRequestStatus::Closed) => PullRequestAction::Closed,
        // A test merge also follows every push to the source branch, and may arrive
        // before that push's `updated` event: the first event to show a head reports it.
        (PrEventType::MergeAttempted, PullRequestStatus::Open) => match stored {
            Some(s) if s.head == pr.head_sha => PullRequestAction::MergeAttempted,
            _ => PullRequestAction::SourceUpdated,
        },
        (PrEventType::Updated, PullRequestStatus::Open) => match stored {
            None => PullRequestAction::SourceUpdated,
            Some(s) if s.status != "open" => PullRequestAction::Reopened,
            Some(s) if s.head != pr.head_sha => PullRequestAction::SourceUpdated,
            Some(s) if s.draft && !pr.draft => PullRequestAction::ReadyForReview,
            Some(_) => PullRequestAction::Updated,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PullRequestAction as A;
    use PullRequestStatus as S;

    fn pr(status: S, head: &str, draft: bool) -> PullRequest {
        PullRequest {
            number: 1,
            title: "t".into(),
            source_branch: "feature".into(),
            target_branch: "main".into(),
            head_sha: Some(head.into()),
            base_sha: None,
            status,
            draft,
            fork: false,
            author: None,
            url: None,
        }
    }

    fn stored(status: &str, head: &str, draft: bool) -> Option<PrState> {
        Some(PrState {
            head: Some(head.into()),
            status: status.into(),
            draft,
        })
    }

    #[test]
    #[rustfmt::skip]
    fn actions_follow_event_type_status_and_stored_state() {
        use PrEventType::*;
        let cases: Vec<(&str, PrEventType, PullRequest, Option<PrState>, A)> = vec![
            ("created", Created, pr(S::Open, "a", false), None, A::Opened),
            ("created again", Created, pr(S::Open, "a", false), stored("open", "a", false), A::Opened),
            ("unknown state", Updated, pr(S::Open, "a", false), None, A::SourceUpdated),
            ("same head", Updated, pr(S::Open, "a", false), stored("open", "a", false), A::Updated),
            ("new head", Updated, pr(S::Open, "b", false), stored("open", "a", false), A::SourceUpdated),
            ("published", Updated, pr(S::Open, "a", false), stored("open", "a", true), A::ReadyForReview),
            ("published with new head", Updated, pr(S::Open, "b", false), stored("open", "a", true), A::SourceUpdated),
            ("back to draft", Updated, pr(S::Open, "a", true), stored("open", "a", false), A::Updated),
            ("reopened", Updated, pr(S::Open, "a", false), stored("closed", "a", false), A::Reopened),
            ("completed", Updated, pr(S::Merged, "a", false), stored("open", "a", false), A::Merged),
            ("completed twice", Updated, pr(S::Merged, "a", false), stored("merged", "a", false), A::Updated),
            ("abandoned", Updated, pr(S::Closed, "a", false), stored("open", "a", false), A::Closed),
            ("abandoned, unknown", Updated, pr(S::Closed, "a", false), None, A::Closed),
            ("test merge", MergeAttempted, pr(S::Open, "a", false), stored("open", "a", false), A::MergeAttempted),
            ("test merge, unknown", MergeAttempted, pr(S::Open, "a", false), None, A::SourceUpdated),
            ("test merge, new head", MergeAttempted, pr(S::Open, "b", false), stored("open", "a", false), A::SourceUpdated),
            ("merge completed", MergeAttempted, pr(S::Merged, "a", false), stored("open", "a", false), A::Merged),
        ];
        for (name, event, pr, stored, want) in cases {
            assert_eq!(decide(event, &pr, stored.as_ref()), want, "{name}");
        }
    }
}
