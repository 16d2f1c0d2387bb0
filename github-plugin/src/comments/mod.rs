//! The `comments` interface: rendering run reports, publishing them, statuses.
//!
//! - [`render`] turns a report into Markdown bodies: the shared renderer
//!   ([`provider_kit::render`], [`provider_kit::split`]) under GitHub's limit;
//! - [`publish`](mod@publish) posts or updates those bodies as issue comments on the pull request,
//!   remembering the comment ids in storage so a retry never posts twice;
//! - [`set_status`] sets a commit status; [`reply`] posts a plain comment.

pub mod publish;

pub use publish::{owner_and_name, publish, reply, set_status};

use provider_kit::comments::{RenderOptions, RunReport};
use provider_kit::error::Result;

/// GitHub accepts comment bodies of at most 65,536 characters (Unicode scalar values).
pub const MAX_COMMENT_CHARS: u32 = 65_536;

/// Render a report to comment bodies, in posting order, each within the limit.
pub fn render(report: &RunReport, options: &RenderOptions) -> Result<Vec<String>> {
    provider_kit::views::render::<crate::GitHub>(report, options)
}

#[cfg(test)]
mod tests {
    provider_kit::render_suite!(
        crate::GitHub,
        max_length = 65_536,
        unit = "characters",
        big_parts = 6
    );
}
