//! The `comments` interface: rendering run reports, publishing them, statuses.
//!
//! - [`render`] turns a report into Markdown bodies: the shared renderer
//!   ([`provider_kit::render`], [`provider_kit::split`]) under Azure DevOps' limit;
//! - [`publish`] posts or updates those bodies as pull-request threads, remembering the
//!   thread and comment ids in storage so a retry never posts twice;
//! - [`set_status`] and [`reply`] are the other two calls on a pull request.

mod publish;
mod render;

use crate::bindings::exports::vcs::provider::comments::{
    CommentLimits, CommitStatus, LengthUnit, PostedComment, PublishOptions, PublishResult,
    RenderOptions, RunReport, StatusTarget,
};
use crate::bindings::vcs::provider::types::{Connection, PullRequestRef};
use crate::error::Result;
use crate::host::Host;

/// Azure DevOps accepts comments of at most 150,000 characters, counted in UTF-16 code units.
pub const MAX_COMMENT_UTF16: u32 = 150_000;

/// Azure DevOps' limit as the shared renderer takes it.
const COMMENT_LIMIT: provider_kit::split::CommentLimit = provider_kit::split::CommentLimit {
    max_length: MAX_COMMENT_UTF16,
    unit: provider_kit::split::LengthUnit::Utf16CodeUnits,
    platform: "Azure DevOps",
    platform_possessive: "Azure DevOps'",
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

/// Publish a report on a pull request: post it, or update the comment posted earlier for
/// the same pull request and workspaces.
pub fn publish(
    host: &impl Host,
    connection: &Connection,
    target: &PullRequestRef,
    report: &RunReport,
    options: &PublishOptions,
) -> Result<PublishResult> {
    publish::publish(host, connection, target, report, options)
}

/// Set a pull-request or commit status.
pub fn set_status(
    host: &impl Host,
    connection: &Connection,
    target: &StatusTarget,
    status: &CommitStatus,
) -> Result<()> {
    publish::set_status(host, connection, target, status)
}

/// Post a reply on a pull request: a new thread, or a reply in `thread_id`.
pub fn reply(
    host: &impl Host,
    connection: &Connection,
    target: &PullRequestRef,
    thread_id: Option<&str>,
    markdown: &str,
) -> Result<PostedComment> {
    publish::reply(host, connection, target, thread_id, markdown)
}
