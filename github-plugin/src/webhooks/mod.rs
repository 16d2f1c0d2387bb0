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

#[cfg(test)]
mod tests;

use provider_kit::delivery;
use provider_kit::error::Result;
use provider_kit::error::invalid;
use provider_kit::host::Host;
use provider_kit::json::Node;
use provider_kit::types::{Connection, IntegrationSettings};
use provider_kit::webhooks::{ChangeSource, ChangedFilesPage, Delivery, HandledDelivery, Outcome};

/// How long a delivery id is remembered: GitHub redeliveries are manual (or by the
/// platform's retry job) and rare after a week.
pub use provider_kit::delivery::DEDUPE_TTL_SECONDS;

/// Why a command in an `issue_comment` delivery is not checked without a connection.
const NO_PULL_REQUEST: &str = "GitHub's issue_comment delivery does not carry the pull request's branches or \
     head, and the provider has no connection to read them; give the provider a \
     connection so comment commands can be checked";

/// The events this provider reads, for messages.
const HANDLED_EVENTS: &str = "push, pull_request and issue_comment (on pull requests)";

/// The first value of a delivery's header, by case-insensitive name.
fn header<'d>(delivery: &'d Delivery, name: &str) -> Option<&'d str> {
    provider_kit::rest::find_header(&delivery.headers, name)
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
        Some(id) if !delivery::is_valid_id(id) => {
            return Err(invalid(format!(
                "the X-GitHub-Delivery header must be the delivery's id (a GUID), found a \
                 {}-byte value",
                id.len()
            )));
        }
        Some(id) => Some(id.to_string()),
    };
    let Some(event_name) = header(delivery, "x-github-event").filter(|e| !e.is_empty()) else {
        return Err(invalid(
            "the delivery has no X-GitHub-Event header; pass the request's headers as GitHub \
             sent them",
        ));
    };
    let handled = |outcome| HandledDelivery {
        delivery_id: delivery_id.clone(),
        outcome,
    };
    let body = provider_kit::views::parse_delivery_body::<crate::GitHub>(&delivery.body)?;
    let root = Node::root(&body);

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

    if let Some(id) = &delivery_id
        && !delivery::first_delivery(host, id, event_name)?
    {
        return Ok(handled(Outcome::Duplicate));
    }

    if let Some(comment) = &event.comment {
        event.command = delivery::command_verdict::<crate::GitHub>(
            host,
            settings,
            connection,
            comment,
            event.pull_request.as_ref(),
            &event.repository,
            NO_PULL_REQUEST,
        );
    }
    Ok(handled(Outcome::Event(event)))
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
