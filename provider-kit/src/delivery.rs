//! Pieces of `webhooks.handle-delivery` every provider runs alike: the delivery id
//! recorded once ([`first_delivery`]), and the verdict on a comment's command
//! ([`command_verdict`]), asked of the provider's own `parse` and `authorize`.

use crate::Provider;
use crate::commands::{CommandRequest, ParsedCommand};
use crate::error::{ProviderError, Result, message};
use crate::host::{Host, Level};
use crate::types::{Connection, IntegrationSettings, PullRequestRef, Repository};
use crate::webhooks::{CommandVerdict, Comment, Decision, PullRequest};

/// How long a delivery id is remembered: platforms retry for minutes, and re-sends
/// by hand are rare after a week.
pub const DEDUPE_TTL_SECONDS: u32 = 7 * 24 * 60 * 60;

/// Longest delivery id accepted: ids are GUIDs, and they become storage keys.
pub const MAX_ID_BYTES: usize = 128;

/// The storage key recording delivery `id`.
pub fn dedupe_key(id: &str) -> String {
    format!("delivery:{id}")
}

/// Whether `id` is usable as a delivery id: at most [`MAX_ID_BYTES`], no control
/// characters.
pub fn is_valid_id(id: &str) -> bool {
    id.len() <= MAX_ID_BYTES && !id.chars().any(char::is_control)
}

/// Record delivery `id` (insert-if-absent under [`dedupe_key`], `value` stored,
/// [`DEDUPE_TTL_SECONDS`]): `true` the first time, `false` for a redelivery.
pub fn first_delivery(host: &(impl Host + ?Sized), id: &str, value: &str) -> Result<bool> {
    Ok(host.compare_and_swap(
        &dedupe_key(id),
        None,
        Some(value.as_bytes()),
        Some(DEDUPE_TTL_SECONDS),
    )?)
}

/// The name and workspaces a parsed command names, for verdicts made here.
pub fn describe(command: &ParsedCommand) -> (String, Vec<String>) {
    match command {
        ParsedCommand::None => (String::new(), Vec::new()),
        ParsedCommand::Plan(workspaces) => ("plan".into(), workspaces.clone()),
        ParsedCommand::Apply(workspaces) => ("apply".into(), workspaces.clone()),
        ParsedCommand::Help => ("help".into(), Vec::new()),
        ParsedCommand::Invalid(invalid) => (invalid.input.clone(), Vec::new()),
    }
}

/// The verdict on a delivered comment's command, with `P`'s [`Provider::parse`] and
/// [`Provider::authorize`] under the integration's settings: see [`verdict_with`].
pub fn command_verdict<P: Provider + ?Sized>(
    host: &impl Host,
    settings: &IntegrationSettings,
    connection: Option<&Connection>,
    comment: &Comment,
    pull_request: Option<&PullRequest>,
    repository: &Repository,
    no_pull_request: &str,
) -> Option<CommandVerdict> {
    verdict_with(
        comment,
        pull_request,
        repository,
        no_pull_request,
        |body| P::parse(host, body, &settings.commands.prefix),
        |request| {
            P::authorize(
                host,
                &settings.commands,
                &settings.workspaces,
                connection,
                request,
            )
        },
        host,
    )
}

/// The verdict on a comment's command: `None` when the comment addresses no command
/// (or `parse` answers `unsupported`); otherwise `authorize`'s verdict, or a denial
/// saying why it could not be asked: the delivery carried no pull request
/// (`no_pull_request`, the platform's reason), or `authorize` failed (its message). A
/// prefix `parse` refuses is logged, not denied. `parse` and `authorize` are passed in
/// so the wiring is tested independently of the provider's commands.
pub fn verdict_with(
    comment: &Comment,
    pull_request: Option<&PullRequest>,
    repository: &Repository,
    no_pull_request: &str,
    parse: impl FnOnce(&str) -> Result<ParsedCommand>,
    authorize: impl FnOnce(&CommandRequest) -> Result<CommandVerdict>,
    host: &impl Host,
) -> Option<CommandVerdict> {
    let parsed = match parse(&comment.body) {
        Ok(ParsedCommand::None) | Err(ProviderError::Unsupported(_)) => return None,
        Err(error) => {
            host.log(
                Level::Warn,
                "could not parse the comment for a command; check the command prefix setting",
                &[("error".into(), message(&error).to_string())],
            );
            return None;
        }
        Ok(parsed) => parsed,
    };
    let (name, workspaces) = describe(&parsed);
    let denied = |reason: String| CommandVerdict {
        name: name.clone(),
        workspaces: workspaces.clone(),
        decision: Decision::Denied,
        reason,
        reply: None,
    };
    let Some(pull_request) = pull_request else {
        return Some(denied(no_pull_request.to_string()));
    };
    let request = CommandRequest {
        comment: comment.clone(),
        pull_request: pull_request.clone(),
        pull_request_ref: PullRequestRef {
            repository: repository.clone(),
            number: pull_request.number,
        },
    };
    Some(match authorize(&request) {
        Ok(verdict) => verdict,
        Err(error) => denied(message(&error).to_string()),
    })
}
