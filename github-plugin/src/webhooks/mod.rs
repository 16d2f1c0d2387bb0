//! The `webhooks` interface: GitHub deliveries to normalized events, changed files.
//!
//! The `X-GitHub-Event` header decides what a delivery is, and `X-GitHub-Delivery` is its
//! id. A delivery goes through three steps: the body is checked (size, nesting, JSON,
//! shape) and the event read without side effects; the delivery id is recorded with an
//! insert-if-absent, which makes a redelivery a `duplicate`; then a comment's command is
//! judged. Invalid and ignored deliveries record nothing, so a broken delivery never
//! blocks a later good one with the same id.
//!
//! Handled: `push`, `pull_request` and `issue_comment` on pull requests; `ping` (sent
//! when a webhook is created) and every other event are `ignored`.
//!
//! Unlike Azure DevOps, GitHub names the pull-request action in the payload, so no
//! per-pull-request state is kept. An `issue_comment` carries the pull request as an
//! issue, without its branches or head: with a connection the pull request is read
//! (`GET /repos/{o}/{r}/pulls/{n}`), else the event carries none and a command in it is
//! denied with the reason.

mod changes;
mod events;
mod json;

#[cfg(test)]
mod tests;

use crate::bindings::exports::vcs::provider::commands::{CommandRequest, ParsedCommand};
use crate::bindings::exports::vcs::provider::webhooks::{
    ChangeSource, ChangedFilesPage, CommandVerdict, Comment, Decision, Delivery, HandledDelivery,
    Outcome, PullRequest,
};
use crate::bindings::vcs::provider::types::{
    Connection, IntegrationSettings, ProviderError, PullRequestRef, Repository,
};
use crate::error::{Result, message};
use crate::host::{Host, Level};

/// How long a delivery id is remembered: GitHub redeliveries are manual (or by the
/// platform's retry job) and rare after a week.
pub const DEDUPE_TTL_SECONDS: u32 = 7 * 24 * 60 * 60;

/// Longest delivery id accepted: ids are GUIDs, and they become storage keys.
const MAX_ID_BYTES: usize = 128;

/// The events this provider reads, for messages.
const HANDLED_EVENTS: &str = "push, pull_request and issue_comment (on pull requests)";

/// The first value of a header, by case-insensitive name.
fn header<'d>(delivery: &'d Delivery, name: &str) -> Option<&'d str> {
    delivery
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Turn one webhook delivery into an event.
pub fn handle_delivery(
    host: &impl Host,
    settings: &IntegrationSettings,
    connection: Option<&Connection>,
    delivery: &Delivery,
) -> Result<HandledDelivery> {
    let delivery_id = match header(delivery, "x-github-delivery") {
        None | Some("") => None,
        Some(id) if id.len() > MAX_ID_BYTES || id.chars().any(char::is_control) => {
            return Err(json::invalid(format!(
                "the X-GitHub-Delivery header must be the delivery's id (a GUID), found a \
                 {}-byte value",
                id.len()
            )));
        }
        Some(id) => Some(id.to_string()),
    };
    let Some(event_name) = header(delivery, "x-github-event").filter(|e| !e.is_empty()) else {
        return Err(json::invalid(
            "the delivery has no X-GitHub-Event header; pass the request's headers as GitHub \
             sent them",
        ));
    };
    let handled = |outcome| HandledDelivery {
        delivery_id: delivery_id.clone(),
        outcome,
    };
    let body = json::parse_body(&delivery.body)?;
    let root = json::Node::root(&body);

    let parsed = match event_name {
        "ping" => {
            let hook = root
                .opt_obj("hook")?
                .and_then(|h| h.get("id"))
                .map(|id| id.value.to_string())
                .unwrap_or_default();
            return Ok(handled(Outcome::Ignored(format!(
                "ping: GitHub's test delivery for a new webhook {hook}; the webhook reaches the \
                 platform, and nothing is acted on"
            ))));
        }
        "push" => events::push(&root)?,
        "pull_request" => events::pull_request(&root)?,
        "issue_comment" => match events::issue_comment(host, connection, &root)? {
            events::CommentOutcome::Event(event) => *event,
            events::CommentOutcome::Ignored(why) => return Ok(handled(Outcome::Ignored(why))),
        },
        other => {
            return Ok(handled(Outcome::Ignored(format!(
                "event {other:?} is not handled; this provider reads {HANDLED_EVENTS}"
            ))));
        }
    };
    let mut event = parsed;

    if let Some(id) = &delivery_id {
        let first = host.compare_and_swap(
            &format!("delivery:{id}"),
            None,
            Some(event_name.as_bytes()),
            Some(DEDUPE_TTL_SECONDS),
        )?;
        if !first {
            return Ok(handled(Outcome::Duplicate));
        }
    }

    if let Some(comment) = &event.comment {
        event.command = command_verdict(
            comment,
            event.pull_request.as_ref(),
            &event.repository,
            |body| crate::commands::parse(body, &settings.commands.prefix),
            |request| {
                crate::commands::authorize(
                    host,
                    &settings.commands,
                    &settings.workspaces,
                    connection,
                    request,
                )
            },
            host,
        );
    }
    Ok(handled(Outcome::Event(event)))
}

/// The name and workspaces a parsed command names, for verdicts made here.
fn describe(command: &ParsedCommand) -> (String, Vec<String>) {
    match command {
        ParsedCommand::None => (String::new(), Vec::new()),
        ParsedCommand::Plan(workspaces) => ("plan".into(), workspaces.clone()),
        ParsedCommand::Apply(workspaces) => ("apply".into(), workspaces.clone()),
        ParsedCommand::Help => ("help".into(), Vec::new()),
        ParsedCommand::Invalid(invalid) => (invalid.input.clone(), Vec::new()),
    }
}

/// The verdict on a comment's command: `None` when the comment addresses no command;
/// otherwise `authorize`'s verdict, or a denial saying why it could not be asked.
/// Ported from the Azure DevOps provider's wiring.
fn command_verdict(
    comment: &Comment,
    pull_request: Option<&PullRequest>,
    repository: &Repository,
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
        return Some(denied(
            "GitHub's issue_comment delivery does not carry the pull request's branches or \
             head, and the provider has no connection to read them; give the provider a \
             connection so comment commands can be checked"
                .into(),
        ));
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

/// List the changed files of a pull request or a commit range.
pub fn changed_files(
    host: &impl Host,
    connection: &Connection,
    source: &ChangeSource,
    cursor: Option<&str>,
) -> Result<ChangedFilesPage> {
    changes::changed_files(host, connection, source, cursor)
}
