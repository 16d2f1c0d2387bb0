//! The `comments` interface: rendering run reports, publishing them, statuses.

use crate::bindings::exports::vcs::provider::comments::{
    CommentLimits, CommitStatus, LengthUnit, PostedComment, PublishOptions, PublishResult,
    RenderOptions, RunReport, StatusTarget,
};
use crate::bindings::vcs::provider::types::{Connection, PullRequestRef};
use crate::error::{Result, unsupported};
use crate::host::Host;

/// Azure DevOps accepts comments of at most 150,000 characters, counted in UTF-16 code units.
pub const MAX_COMMENT_UTF16: u32 = 150_000;

/// The provider's comment limits.
pub fn limits() -> CommentLimits {
    CommentLimits {
        max_length: MAX_COMMENT_UTF16,
        unit: LengthUnit::Utf16CodeUnits,
    }
}

/// Render a report to comment bodies.
pub fn render(_report: &RunReport, _options: &RenderOptions) -> Result<Vec<String>> {
    Err(unsupported("rendering run reports"))
}

/// Publish a report on a pull request.
pub fn publish(
    _host: &impl Host,
    _connection: &Connection,
    _target: &PullRequestRef,
    _report: &RunReport,
    _options: &PublishOptions,
) -> Result<PublishResult> {
    Err(unsupported("publishing run reports"))
}

/// Set a pull-request or commit status.
pub fn set_status(
    _host: &impl Host,
    _connection: &Connection,
    _target: &StatusTarget,
    _status: &CommitStatus,
) -> Result<()> {
    Err(unsupported("setting statuses"))
}

/// Post a reply on a pull request.
pub fn reply(
    _host: &impl Host,
    _connection: &Connection,
    _target: &PullRequestRef,
    _thread_id: Option<&str>,
    _markdown: &str,
) -> Result<PostedComment> {
    Err(unsupported("posting replies"))
}
