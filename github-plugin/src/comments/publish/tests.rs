//! Publishing against scripted GitHub answers.

use super::*;
use provider_kit::comments::{CommitStatusTarget, PublishAction, PullRequestStatusTarget, RunKind};
use provider_kit::fake::FakeHost;
use provider_kit::publish::UNUSED_PART;
use provider_kit::split::MARKER_PREFIX;
use provider_kit::testing::fixtures;

const REPO_URL: &str = "https://api.github.com/repos/acme/infra";

fn connection() -> Connection {
    fixtures::connection("https://api.github.com/", "github_pat_x")
}

fn repository() -> Repository {
    Repository {
        web_url: Some("https://github.com/acme/infra".into()),
        clone_url: Some("https://github.com/acme/infra.git".into()),
        ..fixtures::repository("123456", "infra", "acme", "https://api.github.com/")
    }
}

fn target() -> PullRequestRef {
    PullRequestRef {
        repository: repository(),
        number: 42,
    }
}

use fixtures::{publish_options as options, run_report as report, sent};

fn ids(result: &PublishResult) -> Vec<String> {
    result
        .comments
        .iter()
        .map(|c| c.comment_id.clone())
        .collect()
}

fn comment_json(id: u64) -> String {
    format!(
        r#"{{"id":{id},"html_url":"https://github.com/acme/infra/pull/42#issuecomment-{id}","body":"..."}}"#
    )
}

fn publish_now(host: &FakeHost, report: &RunReport, options: &PublishOptions) -> PublishResult {
    publish(host, &connection(), &target(), report, options).unwrap()
}

#[test]
fn a_plan_is_posted_once_then_updated_in_place() {
    let host = FakeHost::default();
    let plan = report(RunKind::Plan, 'a', "run-1", "+ aws_s3_bucket.logs\n");

    host.json(201, &comment_json(1001));
    let first = publish_now(&host, &plan, &options());
    assert_eq!(first.action, PublishAction::Created);
    assert_eq!(ids(&first), ["1001"]);
    assert_eq!(first.comments[0].thread_id, None);
    assert_eq!(
        first.comments[0].url.as_deref(),
        Some("https://github.com/acme/infra/pull/42#issuecomment-1001")
    );
    let requests = sent(&host);
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (requests[0].0, requests[0].1.as_str()),
        (
            Method::Post,
            format!("{REPO_URL}/issues/42/comments").as_str()
        )
    );
    let body = requests[0].2["body"].as_str().unwrap();
    assert!(body.starts_with(MARKER_PREFIX), "{body}");
    assert!(body.contains("+ aws_s3_bucket.logs\n"), "{body}");

    // The same run again: nothing sent.
    let again = publish_now(&host, &plan, &options());
    assert_eq!(again.action, PublishAction::Unchanged);
    assert_eq!(ids(&again), ids(&first));
    assert!(sent(&host).is_empty());

    // A new head: the same comment is updated.
    host.json(200, &comment_json(1001));
    let newer = report(RunKind::Plan, 'b', "run-2", "+ aws_s3_bucket.audit\n");
    let second = publish_now(&host, &newer, &options());
    assert_eq!(second.action, PublishAction::Updated);
    assert_eq!(ids(&second), ids(&first));
    let requests = sent(&host);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].0, Method::Patch);
    assert_eq!(requests[0].1, format!("{REPO_URL}/issues/comments/1001"));
    assert!(
        requests[0].2["body"]
            .as_str()
            .unwrap()
            .contains("aws_s3_bucket.audit")
    );

    // Its apply, with the apply summary on: the same comment again.
    host.json(200, &comment_json(1001));
    let apply = report(RunKind::Apply, 'b', "run-2", "Apply complete!\n");
    let applied = publish_now(&host, &apply, &options());
    assert_eq!(applied.action, PublishAction::Updated);
    let requests = sent(&host);
    assert_eq!(requests[0].1, format!("{REPO_URL}/issues/comments/1001"));
    assert!(
        requests[0].2["body"]
            .as_str()
            .unwrap()
            .contains("Terraform apply")
    );
}

#[test]
fn a_deleted_comment_is_posted_afresh() {
    let host = FakeHost::default();
    host.json(201, &comment_json(1001));
    publish_now(
        &host,
        &report(RunKind::Plan, 'a', "run-1", "x\n"),
        &options(),
    );
    sent(&host);
    host.json(404, r#"{"message":"Not Found"}"#)
        .json(201, &comment_json(2002));
    let result = publish_now(
        &host,
        &report(RunKind::Plan, 'b', "run-2", "y\n"),
        &options(),
    );
    assert_eq!(result.action, PublishAction::Created);
    assert_eq!(ids(&result), ["2002"]);
    let methods: Vec<Method> = sent(&host).into_iter().map(|r| r.0).collect();
    assert_eq!(methods, [Method::Patch, Method::Post]);
    assert!(host.logs.borrow().iter().any(|l| l.contains("is gone")));
    assert_eq!(
        publish_now(
            &host,
            &report(RunKind::Plan, 'b', "run-2", "y\n"),
            &options()
        )
        .action,
        PublishAction::Unchanged
    );
}

#[test]
fn other_update_failures_are_errors_and_keep_the_state() {
    let host = FakeHost::default();
    host.json(201, &comment_json(1001));
    publish_now(
        &host,
        &report(RunKind::Plan, 'a', "run-1", "x\n"),
        &options(),
    );
    let stored = host.store.borrow().clone();
    host.json(
        403,
        r#"{"message":"Resource not accessible by personal access token"}"#,
    );
    let err = publish(
        &host,
        &connection(),
        &target(),
        &report(RunKind::Plan, 'b', "run-2", "y\n"),
        &options(),
    )
    .unwrap_err();
    assert!(matches!(err, ProviderError::Forbidden(_)), "{err:?}");
    assert_eq!(*host.store.borrow(), stored);
}

#[test]
fn switches_that_post_nothing() {
    let host = FakeHost::default();
    host.json(201, &comment_json(1001));
    let plan = report(RunKind::Plan, 'a', "run-1", "+ x\n");
    publish_now(&host, &plan, &options());
    sent(&host);
    let stored = host.store.borrow().clone();
    let no_summary = PublishOptions {
        apply_summary: false,
        ..options()
    };
    let disabled = PublishOptions {
        comments_enabled: false,
        ..options()
    };
    let apply = report(RunKind::Apply, 'a', "run-1", "done\n");
    for (name, report, options) in [
        ("apply without apply summary", &apply, &no_summary),
        ("comments disabled, plan", &plan, &disabled),
        ("comments disabled, apply", &apply, &disabled),
    ] {
        let result = publish_now(&host, report, options);
        assert_eq!(result.action, PublishAction::Skipped, "{name}");
        assert!(result.comments.is_empty(), "{name}");
        assert!(sent(&host).is_empty(), "{name}");
        assert_eq!(*host.store.borrow(), stored, "{name}");
    }
}

#[test]
fn a_new_head_gets_a_new_comment_when_asked() {
    let host = FakeHost::default();
    let per_head = PublishOptions {
        new_comment_per_head: true,
        ..options()
    };
    host.json(201, &comment_json(1001));
    publish_now(
        &host,
        &report(RunKind::Plan, 'a', "run-1", "x\n"),
        &per_head,
    );
    sent(&host);
    host.json(200, &comment_json(1001));
    let replan = publish_now(
        &host,
        &report(RunKind::Plan, 'a', "run-2", "y\n"),
        &per_head,
    );
    assert_eq!(replan.action, PublishAction::Updated);
    assert_eq!(sent(&host)[0].0, Method::Patch);
    host.json(201, &comment_json(3003));
    let newer = publish_now(
        &host,
        &report(RunKind::Plan, 'b', "run-3", "z\n"),
        &per_head,
    );
    assert_eq!(newer.action, PublishAction::Created);
    assert_eq!(ids(&newer), ["3003"]);
    assert_eq!(sent(&host)[0].1, format!("{REPO_URL}/issues/42/comments"));
}

fn three_part_plan() -> (PublishOptions, RunReport) {
    fixtures::three_part_plan(super::super::render)
}

#[test]
fn parts_no_longer_needed_are_emptied_not_deleted() {
    let host = FakeHost::default();
    let (small, plan) = three_part_plan();
    let parts = super::super::render(&plan, &small.render).unwrap();
    host.json(201, &comment_json(1))
        .json(201, &comment_json(2))
        .json(201, &comment_json(3));
    let first = publish_now(&host, &plan, &small);
    assert_eq!(first.action, PublishAction::Created);
    assert_eq!(ids(&first), ["1", "2", "3"]);
    let requests = sent(&host);
    for (request, part) in requests.iter().zip(&parts) {
        assert_eq!(request.1, format!("{REPO_URL}/issues/42/comments"));
        assert_eq!(request.2["body"], *part);
    }
    host.json(200, &comment_json(1))
        .json(200, &comment_json(2))
        .json(200, &comment_json(3));
    let short = report(RunKind::Plan, 'b', "run-2", "+ one\n");
    let shrunk = publish_now(&host, &short, &small);
    assert_eq!(shrunk.action, PublishAction::Updated);
    assert_eq!(ids(&shrunk), ["1"]);
    let requests = sent(&host);
    let urls: Vec<&str> = requests.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        urls,
        [1, 2, 3].map(|c| format!("{REPO_URL}/issues/comments/{c}"))
    );
    for request in &requests[1..] {
        let body = request.2["body"].as_str().unwrap();
        assert!(
            body.contains(UNUSED_PART) && body.starts_with(MARKER_PREFIX),
            "{body}"
        );
    }
    assert_eq!(
        publish_now(&host, &short, &small).action,
        PublishAction::Unchanged
    );
    assert!(sent(&host).is_empty());
}

#[test]
fn a_retry_after_a_failure_midway_never_posts_twice() {
    let host = FakeHost::default();
    let (small, plan) = three_part_plan();
    host.json(201, &comment_json(1))
        .fail(provider_kit::host::HttpError::Timeout("no answer".into()));
    let err = publish(&host, &connection(), &target(), &plan, &small).unwrap_err();
    assert!(matches!(err, ProviderError::Transport(_)), "{err:?}");
    assert_eq!(sent(&host).len(), 2);
    host.json(201, &comment_json(2)).json(201, &comment_json(3));
    let retried = publish_now(&host, &plan, &small);
    assert_eq!(retried.action, PublishAction::Created);
    assert_eq!(ids(&retried), ["1", "2", "3"]);
    assert_eq!(sent(&host).len(), 2, "only the missing parts are posted");
}

#[test]
fn limits_are_githubs() {
    let limits = <crate::GitHub as provider_kit::Provider>::limits(&FakeHost::default());
    assert_eq!(limits.max_length, 65_536);
    assert_eq!(
        limits.unit,
        provider_kit::comments::LengthUnit::UnicodeScalars
    );
    // Astral characters count once: 65,536 of them fit one reply.
    let host = FakeHost::default();
    host.json(201, &comment_json(9));
    assert!(reply(&host, &connection(), &target(), None, &"😀".repeat(65_536)).is_ok());
    let err = reply(&host, &connection(), &target(), None, &"😀".repeat(65_537)).unwrap_err();
    assert!(matches!(err, ProviderError::InvalidPayload(m) if m.contains("65536")));
}

fn status(state: StatusState) -> CommitStatus {
    CommitStatus {
        state,
        context_name: "plan/prod".into(),
        context_genre: None,
        description: "1 to add, 0 to change, 0 to destroy".into(),
        target_url: Some("https://scalr.example/runs/1".into()),
    }
}

#[test]
fn statuses_map_to_githubs_states() {
    let sha = "a".repeat(40);
    let commit = StatusTarget::Commit(CommitStatusTarget {
        repository: repository(),
        sha: sha.clone(),
    });
    for (state, want, note) in [
        (StatusState::Pending, "pending", false),
        (StatusState::Succeeded, "success", false),
        (StatusState::Failed, "failure", false),
        (StatusState::Error, "error", false),
        (StatusState::NotApplicable, "success", true),
    ] {
        let host = FakeHost::default();
        host.json(201, "{}");
        set_status(&host, &connection(), &commit, &status(state)).unwrap();
        let requests = sent(&host);
        assert_eq!(requests[0].0, Method::Post);
        assert_eq!(requests[0].1, format!("{REPO_URL}/statuses/{sha}"));
        let body = &requests[0].2;
        assert_eq!(body["state"], want, "{state:?}");
        assert_eq!(body["context"], "scalr/plan/prod");
        assert_eq!(body["target_url"], "https://scalr.example/runs/1");
        let description = body["description"].as_str().unwrap();
        assert_eq!(
            description.starts_with("Not applicable"),
            note,
            "{description}"
        );
    }
}

#[test]
fn pull_request_statuses_go_on_the_head_commit() {
    let host = FakeHost::default();
    host.json(201, "{}");
    let sha = "b".repeat(40);
    let target = StatusTarget::PullRequest(PullRequestStatusTarget {
        pull_request: target(),
        head_sha: sha.clone(),
    });
    let mut long = status(StatusState::Failed);
    long.context_genre = Some("acme-ci".into());
    long.description = "x".repeat(500);
    long.target_url = None;
    set_status(&host, &connection(), &target, &long).unwrap();
    let requests = sent(&host);
    assert_eq!(requests[0].1, format!("{REPO_URL}/statuses/{sha}"));
    assert_eq!(requests[0].2["context"], "acme-ci/plan/prod");
    assert_eq!(
        requests[0].2["description"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        140
    );
    assert!(requests[0].2.get("target_url").is_none());

    for (bad_sha, bad_url, name) in [
        ("main", None, ""),
        (sha.as_str(), Some("javascript:x"), "n"),
        (sha.as_str(), None, " "),
    ] {
        let mut wrong = status(StatusState::Pending);
        wrong.target_url = bad_url.map(str::to_string);
        if !name.is_empty() {
            wrong.context_name = name.trim().to_string();
        }
        let commit = StatusTarget::Commit(CommitStatusTarget {
            repository: repository(),
            sha: bad_sha.into(),
        });
        assert!(
            set_status(&host, &connection(), &commit, &wrong).is_err(),
            "{bad_sha} {bad_url:?} {name:?}"
        );
    }
    assert!(sent(&host).is_empty());
}

#[test]
fn replies_are_new_comments() {
    let host = FakeHost::default();
    host.json(201, &comment_json(77));
    let posted = reply(&host, &connection(), &target(), Some("5"), "**Help** text").unwrap();
    assert_eq!(posted.comment_id, "77");
    assert_eq!(posted.thread_id, None);
    let requests = sent(&host);
    assert_eq!(requests[0].1, format!("{REPO_URL}/issues/42/comments"));
    assert_eq!(requests[0].2["body"], "**Help** text");
    assert!(matches!(
        reply(&host, &connection(), &target(), None, "  "),
        Err(ProviderError::InvalidPayload(_))
    ));
}
