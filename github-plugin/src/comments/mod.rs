//! The `comments` interface: rendering run reports, publishing them, statuses.
//!
//! - [`render`] turns a report into Markdown bodies: the shared renderer
//!   ([`provider_kit::render`], [`provider_kit::split`]) under GitHub's limit;
//! - [`publish`] posts or updates those bodies as issue comments on the pull request,
//!   remembering the comment ids in storage so a retry never posts twice;
//! - [`set_status`] sets a commit status; [`reply`] posts a plain comment.

mod publish;
mod render;

pub use publish::owner_and_name;

use crate::bindings::exports::vcs::provider::comments::{
    CommentLimits, CommitStatus, LengthUnit, PostedComment, PublishOptions, PublishResult,
    RenderOptions, RunReport, StatusTarget,
};
use crate::bindings::vcs::provider::types::{Connection, PullRequestRef};
use crate::error::Result;
use crate::host::Host;

/// GitHub accepts comment bodies of at most 65,536 characters (Unicode scalar values).
pub const MAX_COMMENT_CHARS: u32 = 65_536;

/// GitHub's limit as the shared renderer takes it.
const COMMENT_LIMIT: provider_kit::split::CommentLimit = provider_kit::split::CommentLimit {
    max_length: MAX_COMMENT_CHARS,
    unit: provider_kit::split::LengthUnit::UnicodeScalars,
    platform: "GitHub",
    platform_possessive: "GitHub's",
};

/// The provider's comment limits.
pub fn limits() -> CommentLimits {
    CommentLimits {
        max_length: COMMENT_LIMIT.max_length,
        unit: match COMMENT_LIMIT.unit {
            provider_kit::split::LengthUnit::Utf16CodeUnits => LengthUnit::Utf16CodeUnits,
            provider_kit::split::LengthUnit::UnicodeScalars => LengthUnit::UnicodeScalars,
        },
    }
}

/// Render a report to comment bodies, in posting order, each within the limit.
pub fn render(report: &RunReport, options: &RenderOptions) -> Result<Vec<String>> {
    render::render(report, options)
}

/// Publish a report on a pull request: post it, or update the comments posted earlier
/// for the same pull request and workspaces.
pub fn publish(
    host: &impl Host,
    connection: &Connection,
    target: &PullRequestRef,
    report: &RunReport,
    options: &PublishOptions,
) -> Result<PublishResult> {
    publish::publish(host, connection, target, report, options)
}

/// Set a commit status (on the pull request's head commit, or a bare commit).
pub fn set_status(
    host: &impl Host,
    connection: &Connection,
    target: &StatusTarget,
    status: &CommitStatus,
) -> Result<()> {
    publish::set_status(host, connection, target, status)
}

/// Post a reply on a pull request. GitHub's pull-request conversation has no threads, so
/// `thread_id` is not used: the reply is a new comment.
pub fn reply(
    host: &impl Host,
    connection: &Connection,
    target: &PullRequestRef,
    thread_id: Option<&str>,
    markdown: &str,
) -> Result<PostedComment> {
    publish::reply(host, connection, target, thread_id, markdown)
}
