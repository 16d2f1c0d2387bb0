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

pub mod changes;
mod events;
mod repo;
mod state;

#[cfg(test)]
mod tests;

use events::EventType;
use provider_kit::delivery;
use provider_kit::error::Result;
use provider_kit::error::invalid;
use provider_kit::host::Host;
use provider_kit::json::Node;
use provider_kit::types::{Connection, IntegrationSettings};
use provider_kit::webhooks::{Delivery, HandledDelivery, Outcome};

/// How long a delivery id is remembered: Azure DevOps retries for minutes, and
/// re-sends from the subscription history are manual and rare after a week.
pub use provider_kit::delivery::DEDUPE_TTL_SECONDS;

/// Why a command in a comment delivered without its pull request is not checked.
const NO_PULL_REQUEST: &str = "the delivery does not carry the pull request (comment events of resource version \
             1.0), so the command cannot be checked; subscribe with resource version 2.0 or give \
             the provider a connection to read the pull request";

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
    let body = provider_kit::views::parse_delivery_body::<crate::AzureDevOps>(&delivery.body)?;
    let envelope = Node::root(&body);
    let delivery_id = match envelope.opt_str("id")? {
        None | Some("") => None,
        Some(id) if !delivery::is_valid_id(id) => {
            return Err(invalid(format!(
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

    if let Some(id) = &delivery_id
        && !delivery::first_delivery(host, id, type_name)?
    {
        return Ok(handled(Outcome::Duplicate));
    }

    if let Some(comment) = &parsed.event.comment {
        parsed.event.command = delivery::command_verdict::<crate::AzureDevOps>(
            host,
            settings,
            connection,
            comment,
            parsed.event.pull_request.as_ref(),
            &parsed.event.repository,
            NO_PULL_REQUEST,
        );
    }

    if let Some((key, new_state)) = &parsed.pr_state
        && let Err(error) = state::save(host, key, new_state)
    {
        // Forget the delivery so Azure DevOps' retry is processed, not a duplicate.
        if let Some(id) = &delivery_id {
            let _ = host.delete(&delivery::dedupe_key(id));
        }
        return Err(error);
    }
    Ok(handled(Outcome::Event(parsed.event)))
}
