//! Tests of comment commands: the shared suite (the parsing table, one test per
//! authorization rule the kit decides, property tests that no input panics) through
//! [`crate::GitHub`], and GitHub' own apply rules.

use super::*;
use provider_kit::fake::FakeHost;
use provider_kit::testing::commands::{
    CommandFixture, apply_rules, assert_allowed, assert_denied_with_reply, request, run, workspaces,
};
use provider_kit::testing::fixtures;
use provider_kit::types::{ProviderError, Repository};

use crate::GitHub;

impl CommandFixture for GitHub {
    fn repository() -> Repository {
        fixtures::repository("123456", "infra", "acme", "https://api.github.com/")
    }
    fn thread_id() -> Option<String> {
        None
    }
    const CLAIM_KEY: &'static str = "command:123456:42:-:1";
}

provider_kit::command_suite!(GitHub);

fn connection() -> Connection {
    fixtures::connection("https://api.github.com/", "github_pat_x")
}

const PULL_URL: &str = "https://api.github.com/repos/acme/infra/pulls/42";

fn review(user_id: u64, login: &str, state: &str) -> String {
    format!(
        r#"{{"id":{user_id}0,"user":{{"login":"{login}","id":{user_id}}},"state":"{state}","body":""}}"#
    )
}

fn pull_json(mergeable: Option<bool>, state: &str, draft: bool) -> String {
    let mergeable = mergeable.map_or("null".to_string(), |m| m.to_string());
    format!(
        r#"{{"number":42,"mergeable":{mergeable},"mergeable_state":"{state}","draft":{draft}}}"#
    )
}

#[test]
fn approval_before_apply_reads_each_reviewers_latest_review() {
    let cases: Vec<(&str, Vec<String>, Option<&str>)> = vec![
        ("one approval", vec![review(1, "ana", "APPROVED")], None),
        (
            "approval after comments",
            vec![
                review(1, "ana", "COMMENTED"),
                review(1, "ana", "APPROVED"),
                review(2, "bo", "COMMENTED"),
            ],
            None,
        ),
        ("no reviews", vec![], Some("no reviewer has approved")),
        (
            "comments only",
            vec![review(2, "bo", "COMMENTED")],
            Some("no reviewer has approved"),
        ),
        (
            "changes requested by another",
            vec![
                review(1, "ana", "APPROVED"),
                review(2, "bo", "CHANGES_REQUESTED"),
            ],
            Some("requested changes"),
        ),
        (
            "changes requested, then approved by the same reviewer",
            vec![
                review(2, "bo", "CHANGES_REQUESTED"),
                review(2, "bo", "APPROVED"),
            ],
            None,
        ),
        (
            "approval dismissed",
            vec![review(1, "ana", "APPROVED"), review(1, "ana", "DISMISSED")],
            Some("no reviewer has approved"),
        ),
    ];
    for (name, reviews, denial) in cases {
        let host = FakeHost::default();
        host.json(200, &format!("[{}]", reviews.join(",")));
        let connection = connection();
        let verdict = authorize(
            &host,
            &apply_rules(true, false),
            &workspaces(),
            Some(&connection),
            &request::<GitHub>("/scalr apply"),
        )
        .unwrap();
        match denial {
            None => assert_allowed(&verdict, "apply", &["prod"]),
            Some(fragment) => assert_denied_with_reply(&verdict, fragment),
        }
        assert_eq!(
            host.requests.borrow()[0].url,
            format!("{PULL_URL}/reviews?per_page=100&page=1"),
            "{name}"
        );
    }
}

#[test]
fn reviews_are_read_page_by_page() {
    let host = FakeHost::default();
    let page: Vec<String> = (0..100)
        .map(|i| review(100 + i, "someone", "COMMENTED"))
        .collect();
    host.json(200, &format!("[{}]", page.join(",")))
        .json(200, &format!("[{}]", review(1, "ana", "APPROVED")));
    let connection = connection();
    let verdict = authorize(
        &host,
        &apply_rules(true, false),
        &workspaces(),
        Some(&connection),
        &request::<GitHub>("/scalr apply"),
    )
    .unwrap();
    assert_allowed(&verdict, "apply", &["prod"]);
    assert_eq!(host.requests.borrow().len(), 2);
    assert!(host.requests.borrow()[1].url.ends_with("page=2"));
}

#[test]
fn plans_skip_the_apply_rules() {
    let host = FakeHost::default();
    let connection = connection();
    let verdict = authorize(
        &host,
        &apply_rules(true, true),
        &workspaces(),
        Some(&connection),
        &request::<GitHub>("/scalr plan"),
    )
    .unwrap();
    assert_allowed(&verdict, "plan", &["prod"]);
    assert!(host.requests.borrow().is_empty());
}

#[test]
fn apply_rules_without_a_connection_are_denied() {
    let verdict = run::<GitHub>(
        &apply_rules(false, true),
        &request::<GitHub>("/scalr apply"),
    );
    assert_denied_with_reply(&verdict, "no API connection");
}

#[test]
fn mergeability_before_apply_reads_mergeable_state_and_draft() {
    let cases = [
        (Some(true), "clean", false, None),
        (Some(true), "unstable", false, None),
        (Some(true), "has_hooks", false, None),
        (None, "unknown", false, Some("not finished checking")),
        (Some(false), "dirty", false, Some("merge conflicts")),
        (Some(true), "blocked", false, Some("branch protection")),
        (Some(true), "behind", false, Some("behind the base branch")),
        (Some(true), "draft", true, Some("is a draft")),
    ];
    for (mergeable, state, draft, denial) in cases {
        let host = FakeHost::default();
        host.json(200, &pull_json(mergeable, state, draft));
        let connection = connection();
        let verdict = authorize(
            &host,
            &apply_rules(false, true),
            &workspaces(),
            Some(&connection),
            &request::<GitHub>("/scalr apply"),
        )
        .unwrap();
        match denial {
            None => assert_allowed(&verdict, "apply", &["prod"]),
            Some(fragment) => assert_denied_with_reply(&verdict, fragment),
        }
        assert_eq!(host.requests.borrow()[0].url, PULL_URL, "{state}");
    }
}

#[test]
fn rest_failures_are_errors_and_claim_nothing() {
    let host = FakeHost::default();
    host.json(
        403,
        r#"{"message":"Resource not accessible by personal access token"}"#,
    );
    let connection = connection();
    let err = authorize(
        &host,
        &apply_rules(true, false),
        &workspaces(),
        Some(&connection),
        &request::<GitHub>("/scalr apply"),
    )
    .unwrap_err();
    assert!(
        matches!(err, ProviderError::Forbidden(ref m) if m.contains("Resource not accessible")),
        "{err:?}"
    );
    assert!(host.store.borrow().is_empty());
}
