//! The `comments` interface: rendering run reports, publishing them, statuses.
//!
//! - [`render`] turns a report into Markdown bodies: the shared renderer
//!   ([`provider_kit::render`], [`provider_kit::split`]) under Azure DevOps' limit;
//! - [`publish`](mod@publish) posts or updates those bodies as pull-request threads, remembering the
//!   thread and comment ids in storage so a retry never posts twice;
//! - [`publish::set_status`] and [`publish::reply`] are the other two calls on a pull request.

pub mod publish;

use provider_kit::comments::{RenderOptions, RunReport};
use provider_kit::error::Result;

/// Azure DevOps accepts comments of at most 150,000 characters, counted in UTF-16 code units.
pub const MAX_COMMENT_UTF16: u32 = 150_000;

/// Render a report to comment bodies, in posting order, each within the limit.
pub fn render(report: &RunReport, options: &RenderOptions) -> Result<Vec<String>> {
    provider_kit::views::render::<crate::AzureDevOps>(report, options)
}

#[cfg(test)]
mod tests {
    provider_kit::render_suite!(
        crate::AzureDevOps,
        max_length = 150_000,
        unit = "UTF-16 code units",
        big_parts = 3
    );
}
