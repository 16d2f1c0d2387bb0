//! The `commands` interface: comment commands, parsed and authorized.
//!
//! `commands.parse` is the kit's shared grammar (see [`provider_kit::command_parser`] for
//! what a command looks like: `/scalr plan -w prod`), so both providers read a comment
//! alike: HTML character references are decoded first here too.
//!
//! Who may run what: see [`authorize`]. The comment's author (never the pull request's
//! creator) may, under the integration's switches, on workspaces with VCS-driven dry
//! runs that track the pull request's target branch, once per comment; for apply, the
//! pull request's reviews and mergeability may be required too.

mod authorize;

#[cfg(test)]
mod tests;

use provider_kit::commands::CommandRequest;
use provider_kit::error::Result;
use provider_kit::host::Host;
use provider_kit::types::{CommandSettings, Connection, Workspace};
use provider_kit::webhooks::CommandVerdict;

pub use provider_kit::reply::{APPLY_SWITCH, DRY_RUNS_SWITCH, PLAN_SWITCH};
pub use provider_kit::views::CLAIM_TTL_SECONDS;

/// Authorize a comment command: the shared rules of
/// [`provider_kit::views::authorize_command`], with GitHub's apply rules as step 8:
/// `require-approval-for-apply` (each reviewer's latest review from
/// `GET /repos/{o}/{r}/pulls/{n}/reviews`: at least one `APPROVED` and no
/// `CHANGES_REQUESTED`) and `require-mergeable-for-apply` (not a draft, `mergeable`
/// true and `mergeable_state` clean, unstable or has_hooks, from
/// `GET /repos/{o}/{r}/pulls/{n}`), checked through the REST API and denied without a
/// connection.
pub fn authorize(
    host: &impl Host,
    settings: &CommandSettings,
    workspaces: &[Workspace],
    connection: Option<&Connection>,
    request: &CommandRequest,
) -> Result<CommandVerdict> {
    provider_kit::views::authorize_command::<crate::GitHub>(
        host,
        settings,
        workspaces,
        request,
        || authorize::apply_problem(host, settings, connection, request),
    )
}
