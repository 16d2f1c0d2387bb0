//! The `commands` interface: comment commands, parsed and authorized.
//!
//! `commands.parse` is the kit's shared grammar (see [`provider_kit::command_parser`] for
//! what a command looks like: `/scalr plan -w prod`); Azure DevOps' HTML escaping
//! (`&quot;`, `&#39;`, `&nbsp;`, ...) is undone first.
//!
//! Who may run what: see [`authorize`]. The comment's author (never the pull request's
//! creator) may, under the integration's switches, on workspaces with VCS-driven dry
//! runs that track the pull request's target branch, once per comment; for apply, the
//! pull request's reviewer votes, merge status and branch policies may be required too.

mod authorize;

#[cfg(test)]
mod tests;

use provider_kit::commands::CommandRequest;
use provider_kit::error::Result;
use provider_kit::host::Host;
use provider_kit::types::{CommandSettings, Connection, Workspace};
use provider_kit::webhooks::CommandVerdict;

pub use authorize::{DEFAULT_STATUS_GENRE, STATUS_GENRE_OPTION};
pub use provider_kit::reply::{APPLY_SWITCH, DRY_RUNS_SWITCH, PLAN_SWITCH};
pub use provider_kit::views::CLAIM_TTL_SECONDS;

/// Authorize a comment command: the shared rules of
/// [`provider_kit::views::authorize_command`], with Azure DevOps' apply rules as step 8:
/// `require-approval-for-apply` (a vote of 5 or 10 and no -10) and
/// `require-mergeable-for-apply` (not a draft, merge status `succeeded`, no blocking
/// policy pending or rejected other than the integration's own status policy, found by
/// the connection option `status-genre`), checked through the REST API and denied
/// without a connection.
pub fn authorize(
    host: &impl Host,
    settings: &CommandSettings,
    workspaces: &[Workspace],
    connection: Option<&Connection>,
    request: &CommandRequest,
) -> Result<CommandVerdict> {
    provider_kit::views::authorize_command::<crate::AzureDevOps>(
        host,
        settings,
        workspaces,
        request,
        || authorize::apply_problem(host, settings, connection, request),
    )
}
