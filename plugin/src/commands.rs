//! The `commands` interface: comment commands, parsed and authorized.

use crate::bindings::exports::vcs::provider::commands::{CommandRequest, ParsedCommand};
use crate::bindings::exports::vcs::provider::webhooks::CommandVerdict;
use crate::bindings::vcs::provider::types::{CommandSettings, Connection, Workspace};
use crate::error::{Result, unsupported};
use crate::host::Host;

/// Parse a comment body into a command.
pub fn parse(_body: &str, _prefix: &str) -> Result<ParsedCommand> {
    Err(unsupported("parsing comment commands"))
}

/// Authorize a comment command.
pub fn authorize(
    _host: &impl Host,
    _settings: &CommandSettings,
    _workspaces: &[Workspace],
    _connection: Option<&Connection>,
    _request: &CommandRequest,
) -> Result<CommandVerdict> {
    Err(unsupported("authorizing comment commands"))
}
