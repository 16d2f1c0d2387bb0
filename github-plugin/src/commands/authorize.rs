//! Deciding whether a comment's command may run.
//!
//! Checks run in the order that gives the most useful reason: comments that never run
//! anything (deleted, system, the integration's own), then the parse, edits, the pull
//! request's status, the switches, the workspaces, the optional rules, and last the
//! once-only claim in storage, made only when everything else allowed the command.
//!
//! The rules, the claim in storage and the conversion of the WIT records are the shared
//! ones ([`provider_kit::views::authorize_command`]); this file supplies GitHub's own steps: the optional apply rules,
//! read through the REST API.

use serde::Deserialize;

use crate::rest;
use provider_kit::commands::CommandRequest;
use provider_kit::error::Result;
use provider_kit::host::Host;
use provider_kit::types::{CommandSettings, Connection};
use provider_kit::views::apply_rules_connection;

use provider_kit::command_parser::code;

/// The parts of `GET /repos/{o}/{r}/pulls/{n}` the optional apply checks read.
#[derive(Debug, Deserialize)]
struct PullRequestDetails {
    /// `null` while GitHub is still computing the test merge.
    mergeable: Option<bool>,
    mergeable_state: Option<String>,
    #[serde(default)]
    draft: bool,
}

/// One review of `GET /repos/{o}/{r}/pulls/{n}/reviews`.
#[derive(Debug, Deserialize)]
struct Review {
    user: Option<ReviewUser>,
    state: String,
}

#[derive(Debug, Deserialize)]
struct ReviewUser {
    id: u64,
    login: String,
}

/// Reviews are read 100 a page, at most this many pages.
const MAX_REVIEW_PAGES: u32 = 10;

/// Why the optional apply rules refuse, if they do; asks the REST API when they are on.
pub(super) fn apply_problem(
    host: &(impl Host + ?Sized),
    settings: &CommandSettings,
    connection: Option<&Connection>,
    request: &CommandRequest,
) -> Result<Option<String>> {
    let connection = match apply_rules_connection(settings, connection) {
        Ok(Some(connection)) => connection,
        Ok(None) => return Ok(None),
        Err(reason) => return Ok(Some(reason)),
    };
    let client = rest::Client::new(host, connection)?;
    let (owner, name) = crate::comments::owner_and_name(&request.pull_request_ref.repository)?;
    let number = request.pull_request_ref.number.to_string();
    if settings.require_approval_for_apply {
        let reviews = read_reviews(&client, owner, name, &number)?;
        if let Some(reason) = approval_problem(&reviews) {
            return Ok(Some(reason));
        }
    }
    if !settings.require_mergeable_for_apply {
        return Ok(None);
    }
    let url = client.repo_url(owner, name, &["pulls", &number], &[])?;
    let details: PullRequestDetails = client.get(&url)?;
    Ok(mergeability_problem(&details))
}

/// Every review of the pull request, oldest first, a page of 100 at a time.
fn read_reviews<H: Host + ?Sized>(
    client: &rest::Client<'_, H>,
    owner: &str,
    name: &str,
    number: &str,
) -> Result<Vec<Review>> {
    let mut reviews = Vec::new();
    for page in 1..=MAX_REVIEW_PAGES {
        let page_text = page.to_string();
        let url = client.repo_url(
            owner,
            name,
            &["pulls", number, "reviews"],
            &[("per_page", "100"), ("page", &page_text)],
        )?;
        let batch: Vec<Review> = client.get(&url)?;
        let full = batch.len() >= 100;
        reviews.extend(batch);
        if !full {
            break;
        }
    }
    Ok(reviews)
}

/// Why the reviews refuse an apply, if they do: each reviewer's latest approving or
/// requesting review counts (comments change nothing; a dismissal withdraws).
fn approval_problem(reviews: &[Review]) -> Option<String> {
    let mut latest: Vec<(u64, &str, &str)> = Vec::new();
    for review in reviews {
        let Some(user) = &review.user else { continue };
        let state = review.state.as_str();
        if !matches!(state, "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED") {
            continue;
        }
        match latest.iter_mut().find(|(id, _, _)| *id == user.id) {
            Some(entry) => entry.2 = state,
            None => latest.push((user.id, user.login.as_str(), state)),
        }
    }
    if let Some((_, login, _)) = latest.iter().find(|(_, _, s)| *s == "CHANGES_REQUESTED") {
        return Some(format!(
            "apply needs an approved pull request, and {} requested changes",
            code(login)
        ));
    }
    if !latest.iter().any(|(_, _, s)| *s == "APPROVED") {
        return Some(
            "apply needs an approved pull request, and no reviewer has approved it yet".into(),
        );
    }
    None
}

/// Why GitHub's mergeability refuses an apply, if it does.
fn mergeability_problem(details: &PullRequestDetails) -> Option<String> {
    if details.draft {
        return Some(
            "apply needs a mergeable pull request, and this one is a draft; mark it ready for review first"
                .into(),
        );
    }
    let state = details.mergeable_state.as_deref().unwrap_or("unknown");
    let what = match (details.mergeable, state) {
        (None, _) | (_, "unknown") => {
            "GitHub has not finished checking the merge; try again shortly"
        }
        (Some(false), _) | (_, "dirty") => "it has merge conflicts; resolve them first",
        (_, "blocked") => {
            "branch protection blocks the merge (a required review or status check is missing)"
        }
        (_, "behind") => "its branch is behind the base branch; update it first",
        (_, "draft") => "it is a draft; mark it ready for review first",
        // clean, unstable (optional checks failing), has_hooks: mergeable.
        _ => return None,
    };
    Some(format!(
        "apply needs a mergeable pull request, and {what} (mergeable state {})",
        code(state)
    ))
}
