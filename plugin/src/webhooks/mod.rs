//! The `webhooks` interface: service-hook deliveries to normalized events, changed files.
//!
//! A delivery goes through four steps: the body is checked (size, nesting, JSON, shape);
//! the event is read without side effects (stored pull-request state is only read);
//! the envelope `id` is recorded with an insert-if-absent, which makes a second
//! delivery of the same event a `duplicate`; then the comment command is judged and the
//! pull-request state is written. Invalid and ignored deliveries record nothing, so a
//! broken delivery never blocks a later good one with the same id.
//!
//! Choices worth knowing:
//! - A push that moved several refs is reported by its first ref update (one event per
//!   delivery); the count is logged.
//! - Pull-request state (head, status, draft) is written by pull-request events only.
//!   A comment delivered between a push and that push's `git.pullrequest.updated` would
//!   otherwise record the new head, and the update would look like a vote.
//! - Comment events of resource version 1.0 carry the comment alone: the repository is
//!   known by its GUID (standing in for the name) and the pull request is read through
//!   the connection when one is given, else left out.

mod changes;
mod events;
mod json;
mod repo;
mod state;

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
use events::EventType;
use json::Node;

/// How long a delivery id is remembered: Azure DevOps retries for minutes, and
/// re-sends from the subscription history are manual and rare after a week.
pub const DEDUPE_TTL_SECONDS: u32 = 7 * 24 * 60 * 60;

/// Longest envelope id accepted: ids are GUIDs, and they become storage keys.
const MAX_ID_BYTES: usize = 128;

/// The names of the event types this provider reads, for messages.
const HANDLED_TYPES: &str = "git.push, git.pullrequest.created, git.pullrequest.updated, \
     git.pullrequest.merged and ms.vss-code.git-pullrequest-comment-event";

/// Turn one service-hook delivery into an event.
pub fn handle_delivery(
    host: &impl Host,
    settings: &IntegrationSettings,
    connection: Option<&Connection>,
    delivery: &Delivery,
) -> Result<HandledDelivery> {
    let body = json::parse_body(&delivery.body)?;
    let envelope = Node::root(&body);
    let delivery_id = match envelope.opt_str("id")? {
        None | Some("") => None,
        Some(id) if id.len() > MAX_ID_BYTES || id.chars().any(char::is_control) => {
            return Err(json::invalid(format!(
                "id must be the event's id (a GUID), found a {}-byte string",
                id.len()
            )));
        }
        Some(id) => Some(id.to_string()),
    };
    let handled = |outcome| HandledDelivery {
        delivery_id: delivery_id.clone(),
        outcome,
    };

    let type_name = envelope.req_str("eventType")?;
    let Some(event_type) = EventType::from_name(type_name) else {
        return Ok(handled(Outcome::Ignored(format!(
            "event type {type_name:?} is not handled; this provider reads {HANDLED_TYPES}"
        ))));
    };
    let version = envelope.opt_str("resourceVersion")?;
    if !event_type.supports(version) {
        return Ok(handled(Outcome::Ignored(format!(
            "resource version {:?} of {type_name} is not supported; edit the service-hook \
             subscription to send resource version {}",
            version.unwrap_or_default(),
            if event_type == EventType::Comment {
                "2.0"
            } else {
                "1.0"
            }
        ))));
    }
    let resource = envelope.req_obj("resource")?;
    if events::is_test_payload(resource.value) {
        return Ok(handled(Outcome::Ignored(format!(
            "this is the canned {type_name} payload of the subscription's \"Test\" button \
             (Fabrikam sample data): the connection works, and nothing is acted on"
        ))));
    }

    let base = repo::container_base(&envelope)?;
    let mut parsed = match event_type {
        EventType::Push => events::push(host, &envelope, &resource, base.as_ref())?,
        EventType::PullRequest(pr_event) => {
            events::pull_request_event(host, pr_event, &envelope, &resource, base.as_ref())?
        }
        EventType::Comment => {
            events::comment_event(host, connection, &envelope, &resource, base.as_ref())?
        }
    };

    let dedupe_key = delivery_id.as_ref().map(|id| format!("delivery:{id}"));
    if let Some(key) = &dedupe_key {
        let first = host.compare_and_swap(
            key,
            None,
            Some(type_name.as_bytes()),
            Some(DEDUPE_TTL_SECONDS),
        )?;
        if !first {
            return Ok(handled(Outcome::Duplicate));
        }
    }

    if let Some(comment) = &parsed.event.comment {
        parsed.event.command = command_verdict(
            comment,
            parsed.event.pull_request.as_ref(),
            &parsed.event.repository,
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

    if let Some((key, new_state)) = &parsed.pr_state
        && let Err(error) = state::save(host, key, new_state)
    {
        // Forget the delivery so Azure DevOps' retry is processed, not a duplicate.
        if let Some(dedupe) = &dedupe_key {
            let _ = host.delete(dedupe);
        }
        return Err(error);
    }
    Ok(handled(Outcome::Event(parsed.event)))
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

/// The verdict on a comment's command: `None` when the comment addresses no command (or
/// this build cannot parse commands); otherwise `authorize`'s verdict, or a denial
/// saying why it could not be asked. `parse` and `authorize` are passed in so the
/// wiring is tested independently of the commands module.
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
            "the delivery does not carry the pull request (comment events of resource version \
             1.0), so the command cannot be checked; subscribe with resource version 2.0 or give \
             the provider a connection to read the pull request"
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
