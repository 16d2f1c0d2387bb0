//! The `commands` interface: comment commands, parsed and authorized.
//!
//! # What a command looks like
//!
//! ```text
//! /scalr plan
//! /scalr apply -w prod --workspace "shared network" --workspace=dns
//! /scalr help
//! ```
//!
//! - The prefix comes from the settings (`/scalr` by default on the platform); an empty
//!   prefix, or one with spaces or backticks, is an `invalid-config` error.
//! - A command line *starts* with the prefix as a whole word, after optional whitespace
//!   and backticks (`` `/scalr plan` `` works). `run /scalr plan later` is a mention, not
//!   a command, and so is `/scalrplan`. The prefix and the command word are
//!   case-insensitive (`/SCALR PLAN` plans); workspace names keep their case.
//! - The command may stand on any line, but a comment holds one command: two command
//!   lines are refused with a reply.
//! - Lines inside fenced code blocks and quoted lines (`> /scalr plan`) are never
//!   commands: people quote help text and earlier comments.
//! - Azure DevOps' HTML escaping (`&quot;`, `&#39;`, `&nbsp;`, ...) is undone first.
//! - `-w NAME`, `--workspace NAME`, `--workspace=NAME` (also `-w=NAME`) pick workspaces;
//!   several are allowed and deduplicated in order; quote names with spaces (`"`, `'` or
//!   typographic quotes). Without one, the command targets every eligible workspace.
//! - The bare prefix, `help`, `-h`, `--help` and `?` ask for help; so does `-h` after a
//!   command.
//! - Unknown commands, options and stray words are `invalid`, with a Markdown reply that
//!   lists what is allowed and suggests the nearest command or option ("did you mean").
//!
//! # Who may run what
//!
//! See [`authorize`]: the comment's author (never the pull request's creator), under
//! the integration's switches, on workspaces with VCS-driven dry runs that track the
//! pull request's target branch, once per comment.
//!
//! The grammar, the replies and these rules are written once for both providers
//! ([`provider_kit::command_parser`], [`provider_kit::reply`],
//! [`provider_kit::authorize`]); this module converts the WIT records at the edge and
//! adds the platform's own apply checks.

mod authorize;
mod parser;

#[cfg(test)]
mod tests;

use crate::bindings::exports::vcs::provider::commands::{
    CommandRequest, InvalidCommand, ParsedCommand,
};
use crate::bindings::exports::vcs::provider::webhooks::CommandVerdict;
use crate::bindings::vcs::provider::types::{CommandSettings, Connection, Workspace};
use crate::error::Result;
use crate::host::Host;
use provider_kit::reply;

pub use authorize::{CLAIM_TTL_SECONDS, DEFAULT_STATUS_GENRE, STATUS_GENRE_OPTION};
pub use provider_kit::reply::{APPLY_SWITCH, DRY_RUNS_SWITCH, PLAN_SWITCH};

/// Parse a comment body into a command (see the module docs for the rules).
///
/// Errors only with `invalid-config` when the prefix is unusable. The reply of an
/// `invalid` command lists every command, since the switches are not known here;
/// [`authorize`] answers with the commands the switches allow.
pub fn parse(body: &str, prefix: &str) -> Result<ParsedCommand> {
    let parsed = parser::parse_body(body, prefix)?;
    let prefix = parser::checked_prefix(prefix)?;
    Ok(match parsed {
        parser::Parsed::None => ParsedCommand::None,
        parser::Parsed::Plan(names) => ParsedCommand::Plan(names),
        parser::Parsed::Apply(names) => ParsedCommand::Apply(names),
        parser::Parsed::Help => ParsedCommand::Help,
        parser::Parsed::Invalid(problem) => ParsedCommand::Invalid(InvalidCommand {
            reply: reply::problem(prefix, &problem.message, reply::Switches::ALL),
            input: problem.input,
        }),
    })
}

/// Authorize a comment command; every denial carries a reason a person understands.
///
/// In order, so the most useful reason wins:
/// 1. deleted comments, system comments and the integration's own comments
///    (`bot-user-id`, compared case-insensitively) run nothing, silently;
///    so do comments without a command;
/// 2. edited comments run nothing unless `run-edited-comments`;
/// 3. a command that does not parse is denied with the parse reply; `help` is allowed
///    and answered with the help for the current switches;
/// 4. only open pull requests run commands;
/// 5. plan needs “Allow triggering plan-only runs from the PR comments” or the apply
///    switch; apply needs “Allow triggering plan & apply runs from the PR comments”;
/// 6. named workspaces must exist, have “Enabled VCS-driven dry runs” and track the
///    pull request's target branch (a workspace without a branch tracks the default
///    branch; when that is unknown too, it is eligible); without names, all such
///    workspaces are targeted, and none is a denial;
/// 7. `allowed-users`, when set, must name the author by id or unique name;
/// 8. for apply, `require-approval-for-apply` (a vote of 5 or 10 and no -10) and
///    `require-mergeable-for-apply` (not a draft, merge status `succeeded`, no blocking
///    policy pending or rejected other than the integration's own status policy, found
///    by the connection option `status-genre`) are checked through the REST API, and
///    denied without a connection; REST failures are errors, so the host may retry;
/// 9. last, the comment is claimed in storage (`command:{repo}:{pr}:{thread}:{comment}`,
///    30 days): a comment that already ran, however often it is delivered, is denied
///    silently.
///
/// Denials a person should hear about carry a Markdown reply; silent ones do not.
pub fn authorize(
    host: &impl Host,
    settings: &CommandSettings,
    workspaces: &[Workspace],
    connection: Option<&Connection>,
    request: &CommandRequest,
) -> Result<CommandVerdict> {
    authorize::authorize(host, settings, workspaces, connection, request)
}
