//! Table tests over recorded GitHub deliveries (`tests/fixtures/deliveries/`), and the
//! rules around them: signatures, deduplication, comment commands.
//!
//! The fixtures are signed with the test secret `conformance-secret` over the compact
//! JSON of their `body` with sorted keys (or over `body` itself when it is a string: the
//! raw bytes of a malformed delivery); see `tests/fixtures/README.md`.

use super::*;
use provider_kit::error::ProviderError;
use provider_kit::fake::FakeHost;
use provider_kit::testing::fixtures;
use provider_kit::types::WebhookAuth;
use provider_kit::webhooks::Decision;
use provider_kit::webhooks::{
    CommentState, Event, EventKind, PullRequestAction, PullRequestStatus,
};

const SECRET: &str = "conformance-secret";

fn fixture_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/deliveries")
}

/// A recorded delivery: its headers and the raw body bytes GitHub signed.
fn load(name: &str) -> Delivery {
    let path = fixture_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let headers = doc["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let body = match &doc["body"] {
        serde_json::Value::String(raw) => raw.as_bytes().to_vec(),
        value => serde_json::to_vec(value).unwrap(),
    };
    Delivery { headers, body }
}

fn all_fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    names.sort();
    names
}

fn settings() -> IntegrationSettings {
    fixtures::integration_settings(
        "integration-1",
        "https://api.github.com/",
        "149000001",
        true,
    )
}

fn connection() -> Connection {
    fixtures::connection("https://api.github.com/", "github_pat_x")
}

fn handle(host: &FakeHost, name: &str, conn: Option<&Connection>) -> Result<HandledDelivery> {
    handle_delivery(host, &settings(), conn, &load(name))
}

fn event_of(handled: HandledDelivery) -> Event {
    match handled.outcome {
        Outcome::Event(event) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// What a fixture should become.
#[derive(Debug)]
enum Want {
    /// ref, branch, tag, created, deleted, forced, number of commits
    Push(
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        bool,
        bool,
        bool,
        usize,
    ),
    /// action, status, draft, fork
    PullRequest(PullRequestAction, PullRequestStatus, bool, bool),
    /// state, body
    Comment(CommentState, &'static str),
    Ignored(&'static str),
    Invalid(&'static str),
}

#[test]
fn every_fixture_is_signed_with_the_conformance_secret() {
    let names = all_fixture_names();
    assert!(names.len() >= 15, "{names:?}");
    let expected = WebhookAuth::SharedSecret(SECRET.into());
    for name in names {
        let delivery = load(&name);
        crate::auth::verify_webhook(&expected, &delivery.headers, &delivery.body)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let mut tampered = delivery.body.clone();
        tampered.push(b' ');
        assert!(
            crate::auth::verify_webhook(&expected, &delivery.headers, &tampered).is_err(),
            "{name}"
        );
    }
}

#[test]
fn deliveries_become_the_expected_outcomes() {
    use PullRequestAction as A;
    use PullRequestStatus as S;
    let table: Vec<(&str, Want)> = vec![
        (
            "push-branch-updated",
            Want::Push(
                "refs/heads/main",
                Some("main"),
                None,
                false,
                false,
                false,
                2,
            ),
        ),
        (
            "push-branch-created",
            Want::Push(
                "refs/heads/feature/logs-bucket",
                Some("feature/logs-bucket"),
                None,
                true,
                false,
                false,
                1,
            ),
        ),
        (
            "push-tag-created",
            Want::Push(
                "refs/tags/v1.4.0",
                None,
                Some("v1.4.0"),
                true,
                false,
                false,
                0,
            ),
        ),
        (
            "push-branch-deleted",
            Want::Push(
                "refs/heads/feature/old",
                Some("feature/old"),
                None,
                false,
                true,
                false,
                0,
            ),
        ),
        (
            "push-forced",
            Want::Push(
                "refs/heads/feature/logs-bucket",
                Some("feature/logs-bucket"),
                None,
                false,
                false,
                true,
                1,
            ),
        ),
        (
            "push-enterprise-server",
            Want::Push(
                "refs/heads/main",
                Some("main"),
                None,
                false,
                false,
                false,
                1,
            ),
        ),
        (
            "pr-opened",
            Want::PullRequest(A::Opened, S::Open, false, false),
        ),
        (
            "pr-opened-draft",
            Want::PullRequest(A::Opened, S::Open, true, false),
        ),
        (
            "pr-opened-from-fork",
            Want::PullRequest(A::Opened, S::Open, false, true),
        ),
        (
            "pr-synchronize",
            Want::PullRequest(A::SourceUpdated, S::Open, false, false),
        ),
        (
            "pr-reopened",
            Want::PullRequest(A::Reopened, S::Open, false, false),
        ),
        (
            "pr-closed",
            Want::PullRequest(A::Closed, S::Closed, false, false),
        ),
        (
            "pr-merged",
            Want::PullRequest(A::Merged, S::Merged, false, false),
        ),
        (
            "pr-ready-for-review",
            Want::PullRequest(A::ReadyForReview, S::Open, false, false),
        ),
        (
            "pr-edited",
            Want::PullRequest(A::Updated, S::Open, false, false),
        ),
        (
            "pr-labeled",
            Want::PullRequest(A::Updated, S::Open, false, false),
        ),
        (
            "comment-created-command",
            Want::Comment(CommentState::Created, "/scalr plan -w prod"),
        ),
        (
            "comment-created-plain",
            Want::Comment(
                CommentState::Created,
                "LGTM, thanks! Run `/scalr plan` when ready.",
            ),
        ),
        (
            "comment-edited",
            Want::Comment(CommentState::Edited, "/scalr apply"),
        ),
        (
            "comment-deleted",
            Want::Comment(CommentState::Deleted, "/scalr plan"),
        ),
        (
            "comment-from-bot",
            Want::Comment(CommentState::Created, "/scalr plan"),
        ),
        (
            "ignored-comment-on-issue",
            Want::Ignored("not on a pull request"),
        ),
        ("ignored-ping", Want::Ignored("ping")),
        ("ignored-star", Want::Ignored("\"star\" is not handled")),
        (
            "invalid-pr-number-string",
            Want::Invalid("pull_request.number must be a number, found string"),
        ),
        (
            "invalid-missing-repository",
            Want::Invalid("repository is missing"),
        ),
        (
            "invalid-pr-state-unknown",
            Want::Invalid("pull_request.state must be \"open\" or \"closed\""),
        ),
        ("invalid-not-json", Want::Invalid("not valid JSON")),
    ];
    // Every fixture is in the table.
    let mut listed: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
    listed.sort_unstable();
    assert_eq!(listed, all_fixture_names());

    for (name, want) in table {
        let host = FakeHost::default();
        let result = handle(&host, name, None);
        let delivery_id = load(name)
            .headers
            .iter()
            .find(|(k, _)| k == "X-GitHub-Delivery")
            .map(|(_, v)| v.clone());
        match (want, result) {
            (Want::Invalid(fragment), Err(ProviderError::InvalidPayload(m))) => {
                assert!(m.contains(fragment), "{name}: {m}");
                assert!(
                    host.store.borrow().is_empty(),
                    "{name}: an invalid delivery records nothing"
                );
            }
            (Want::Ignored(fragment), Ok(handled)) => {
                assert_eq!(handled.delivery_id, delivery_id, "{name}");
                match handled.outcome {
                    Outcome::Ignored(m) => assert!(m.contains(fragment), "{name}: {m}"),
                    other => panic!("{name}: {other:?}"),
                }
                assert!(
                    host.store.borrow().is_empty(),
                    "{name}: an ignored delivery records nothing"
                );
            }
            (Want::Push(ref_name, branch, tag, created, deleted, forced, commits), Ok(handled)) => {
                assert_eq!(handled.delivery_id, delivery_id, "{name}");
                let event = event_of(handled);
                assert_eq!(event.kind, EventKind::Push, "{name}");
                let push = event.push.unwrap();
                assert_eq!(push.ref_name, ref_name, "{name}");
                assert_eq!(push.branch.as_deref(), branch, "{name}");
                assert_eq!(push.tag.as_deref(), tag, "{name}");
                assert_eq!(
                    (push.created, push.deleted, push.forced),
                    (created, deleted, Some(forced)),
                    "{name}"
                );
                assert_eq!(push.before.is_none(), created, "{name}");
                assert_eq!(push.after.is_none(), deleted, "{name}");
                assert_eq!(push.commits.len(), commits, "{name}");
                assert_eq!(
                    push.pusher.as_ref().map(|u| u.id.as_str()),
                    Some("1402233"),
                    "{name}"
                );
                assert_eq!(
                    event.user.map(|u| u.unique_name),
                    Some(Some("jamal-h".into()))
                );
                assert!(event.occurred_at.is_some(), "{name}");
            }
            (Want::PullRequest(action, status, draft, fork), Ok(handled)) => {
                let event = event_of(handled);
                assert_eq!(event.kind, EventKind::PullRequest, "{name}");
                assert_eq!(event.action, Some(action), "{name}");
                let pr = event.pull_request.unwrap();
                assert_eq!(
                    (pr.status, pr.draft, pr.fork),
                    (status, draft, fork),
                    "{name}"
                );
                assert_eq!(pr.number, 42);
                assert_eq!(pr.source_branch, "feature/logs-bucket");
                assert_eq!(pr.target_branch, "main");
                assert_eq!(
                    pr.head_sha.as_deref(),
                    Some("9c4d1e2f3a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9")
                );
                assert_eq!(pr.author.map(|u| u.id), Some("2203344".into()));
                assert_eq!(
                    pr.url.as_deref(),
                    Some("https://github.com/Acme-Corp/infra-live/pull/42")
                );
                assert_eq!(event.occurred_at, Some(1_714_645_200), "{name}");
            }
            (Want::Comment(state, body), Ok(handled)) => {
                let event = event_of(handled);
                assert_eq!(event.kind, EventKind::Comment, "{name}");
                let comment = event.comment.unwrap();
                assert_eq!(
                    (comment.state, comment.body.as_str()),
                    (state, body),
                    "{name}"
                );
                assert_eq!(comment.id, "2087654321");
                assert_eq!(comment.thread_id, None);
                assert!(!comment.system);
                // Without a connection the delivery lacks the pull request's branches.
                assert!(event.pull_request.is_none(), "{name}");
            }
            (want, got) => panic!("{name}: wanted {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn repositories_carry_owner_ids_and_api_roots() {
    let host = FakeHost::default();
    let event = event_of(handle(&host, "pr-opened", None).unwrap());
    let repo = event.repository;
    assert_eq!(repo.id, "583231001");
    assert_eq!(repo.name, "infra-live");
    assert_eq!(repo.project.as_deref(), Some("Acme-Corp"));
    assert_eq!(repo.project_id.as_deref(), Some("9919"));
    assert_eq!(repo.organization, "acme-corp");
    assert_eq!(repo.api_url, "https://api.github.com/");
    assert_eq!(
        repo.web_url.as_deref(),
        Some("https://github.com/Acme-Corp/infra-live")
    );
    assert_eq!(
        repo.clone_url.as_deref(),
        Some("https://github.com/Acme-Corp/infra-live.git")
    );
    assert_eq!(repo.default_branch.as_deref(), Some("main"));

    // Push payloads give the browser URL as `url`; the API root comes from `hooks_url`.
    let event = event_of(handle(&host, "push-branch-updated", None).unwrap());
    assert_eq!(event.repository.api_url, "https://api.github.com/");
    assert_eq!(event.occurred_at, Some(1_714_644_930));
    let event = event_of(handle(&host, "push-enterprise-server", None).unwrap());
    assert_eq!(
        event.repository.api_url,
        "https://github.example.com/api/v3/"
    );
    assert_eq!(
        event.repository.web_url.as_deref(),
        Some("https://github.example.com/Acme-Corp/infra-live")
    );
}

#[test]
fn a_delivery_is_handled_once() {
    let host = FakeHost::default();
    let first = handle(&host, "pr-opened", None).unwrap();
    assert!(matches!(first.outcome, Outcome::Event(_)));
    let id = first.delivery_id.clone().unwrap();
    assert!(host.store.borrow().contains_key(&format!("delivery:{id}")));
    assert_eq!(
        host.ttls.borrow()[&format!("delivery:{id}")],
        Some(DEDUPE_TTL_SECONDS)
    );
    let again = handle(&host, "pr-opened", None).unwrap();
    assert!(matches!(again.outcome, Outcome::Duplicate));
    assert_eq!(again.delivery_id, Some(id));
    // Another delivery of the same event kind is not a duplicate.
    assert!(matches!(
        handle(&host, "pr-reopened", None).unwrap().outcome,
        Outcome::Event(_)
    ));
}

#[test]
fn headers_decide_the_event_and_are_checked() {
    let host = FakeHost::default();
    let mut delivery = load("pr-opened");
    delivery.headers.retain(|(k, _)| k != "X-GitHub-Event");
    let err = handle_delivery(&host, &settings(), None, &delivery).unwrap_err();
    assert!(matches!(err, ProviderError::InvalidPayload(m) if m.contains("X-GitHub-Event")));

    // Header names are case-insensitive; a delivery without an id is not deduplicated.
    let mut delivery = load("pr-opened");
    delivery.headers = delivery
        .headers
        .into_iter()
        .filter(|(k, _)| k != "X-GitHub-Delivery")
        .map(|(k, v)| (k.to_lowercase(), v))
        .collect();
    let handled = handle_delivery(&host, &settings(), None, &delivery).unwrap();
    assert_eq!(handled.delivery_id, None);
    assert!(matches!(handled.outcome, Outcome::Event(_)));
    assert!(host.store.borrow().is_empty());

    let mut delivery = load("pr-opened");
    for (k, v) in delivery.headers.iter_mut() {
        if k == "X-GitHub-Delivery" {
            *v = "x".repeat(200);
        }
    }
    assert!(matches!(
        handle_delivery(&host, &settings(), None, &delivery),
        Err(ProviderError::InvalidPayload(_))
    ));
}

#[test]
fn oversized_and_deep_bodies_are_invalid() {
    let host = FakeHost::default();
    let mut delivery = load("pr-opened");
    delivery.body = format!("{{\"a\":{}1{}}}", "[".repeat(65), "]".repeat(65)).into_bytes();
    let err = handle_delivery(&host, &settings(), None, &delivery).unwrap_err();
    assert!(matches!(err, ProviderError::InvalidPayload(m) if m.contains("deeper than 64")));
    delivery.body = vec![b' '; <crate::GitHub as provider_kit::Provider>::MAX_DELIVERY_BYTES + 1];
    let err = handle_delivery(&host, &settings(), None, &delivery).unwrap_err();
    assert!(matches!(err, ProviderError::InvalidPayload(m) if m.contains("bytes")));
}

/// `GET /repos/Acme-Corp/infra-live/pulls/42`, as GitHub answers it.
fn pull_answer() -> String {
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture_dir().join("pr-opened.json")).unwrap(),
    )
    .unwrap();
    doc["body"]["pull_request"].to_string()
}

#[test]
fn comment_commands_are_judged_with_the_pull_request_read_through_the_connection() {
    let host = FakeHost::default();
    host.json(200, &pull_answer());
    let conn = connection();
    let event = event_of(handle(&host, "comment-created-command", Some(&conn)).unwrap());
    assert_eq!(
        host.requests.borrow()[0].url,
        "https://api.github.com/repos/Acme-Corp/infra-live/pulls/42"
    );
    let pr = event.pull_request.unwrap();
    assert_eq!(pr.target_branch, "main");
    let verdict = event.command.unwrap();
    assert_eq!(verdict.name, "plan");
    assert_eq!(verdict.decision, Decision::Allowed, "{}", verdict.reason);
    assert_eq!(verdict.workspaces, ["prod"]);
    // The claim and the delivery id are both recorded.
    assert_eq!(
        host.store
            .borrow()
            .keys()
            .filter(|k| k.starts_with("command:583231001:42:"))
            .count(),
        1
    );
}

#[test]
fn comment_commands_without_a_connection_are_denied_with_the_reason() {
    let host = FakeHost::default();
    let event = event_of(handle(&host, "comment-created-command", None).unwrap());
    let verdict = event.command.unwrap();
    assert_eq!(verdict.decision, Decision::Denied);
    assert!(verdict.reason.contains("connection"), "{}", verdict.reason);
}

#[test]
fn comments_that_must_not_run_are_denied_or_carry_no_command() {
    let conn = connection();
    for (name, want) in [
        ("comment-created-plain", None),
        ("comment-from-bot", Some("integration wrote this comment")),
        ("comment-edited", Some("edited")),
        ("comment-deleted", Some("deleted")),
    ] {
        let host = FakeHost::default();
        host.json(200, &pull_answer());
        let event = event_of(handle(&host, name, Some(&conn)).unwrap());
        match (want, event.command) {
            (None, None) => {}
            (Some(fragment), Some(verdict)) => {
                assert_eq!(verdict.decision, Decision::Denied, "{name}");
                assert!(
                    verdict.reason.contains(fragment),
                    "{name}: {}",
                    verdict.reason
                );
            }
            (want, got) => panic!("{name}: wanted {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn a_pull_request_read_failure_is_an_error_and_records_nothing() {
    let host = FakeHost::default();
    host.json(404, r#"{"message":"Not Found"}"#);
    let conn = connection();
    let err = handle(&host, "comment-created-command", Some(&conn)).unwrap_err();
    assert!(matches!(err, ProviderError::NotFound(_)), "{err:?}");
    assert!(
        host.store.borrow().is_empty(),
        "the redelivery must not be a duplicate"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn no_body_panics(body in proptest::collection::vec(any::<u8>(), 0..512), event in prop_oneof![Just("push"), Just("pull_request"), Just("issue_comment"), Just("ping")]) {
            let host = FakeHost::default();
            let delivery = Delivery {
                headers: vec![("X-GitHub-Event".into(), event.into()), ("X-GitHub-Delivery".into(), "d".into())],
                body,
            };
            let _ = handle_delivery(&host, &settings(), None, &delivery);
        }

        #[test]
        fn mangled_fixtures_never_panic(cut in 0usize..4000, byte in any::<u8>()) {
            let host = FakeHost::default();
            let mut delivery = load("comment-created-command");
            let at = cut.min(delivery.body.len().saturating_sub(1));
            delivery.body[at] = byte;
            let _ = handle_delivery(&host, &settings(), None, &delivery);
        }
    }
}

#[test]
fn bodies_are_checked_with_github_wording() {
    provider_kit::testing::webhooks::bodies_are_checked_with_the_providers_wording::<crate::GitHub>(
        "the body is nested deeper than 64 levels; GitHub payloads never are",
        "the body is 26214401 bytes, more than the 26214400 bytes GitHub ever sends",
        "the body is empty; a GitHub webhook delivery is a JSON object",
    );
}
