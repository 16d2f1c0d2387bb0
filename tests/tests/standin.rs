//! The Azure DevOps component against the local stand-in (`standin::azure_devops`), over
//! real loopback HTTP through the host's live client: publishing, statuses, replies,
//! credential validation, changed files, and the provider's answers to injected faults.

// A failing test is the point: tests may unwrap, expect, panic and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::Duration;

use provider_tests::{AZURE_DEVOPS, context_with, load};
use standin::azure_devops::{
    DEFAULT_PAT, Fault, FaultKind, FileChange, PullRequestSeed, StandIn, StandInIdentity,
    StandInOptions,
};
use vcs_host::CallContext;
use vcs_host::http::HttpConfig;
use vcs_host::json::RunReportJson;
use vcs_host::storage::MemoryStorage;
use vcs_host::types::{Capability, CheckOutcome, ValidationReport};
use vcs_host::types::{ChangeKind, ChangeSource, ChangedFilesPage, CommitRange};
use vcs_host::types::{
    CommitStatus, CommitStatusTarget, PostedComment, PublishAction, PublishOptions, PublishResult,
    PullRequestStatusTarget, RenderOptions, RunReport, StatusState, StatusTarget,
};
use vcs_host::types::{Connection, Credential, ProviderError, PullRequestRef, Repository};

const INTEGRATION: &str = "integration-standin";
const REPO: &str = "0f6e2c4a-8d3b-4e21-b6a9-5c7d1e2f3a4b";
const PROJECT_ID: &str = "7c5a1b7e-1f0c-4b7a-9a51-2a0f7b3c9d11";
/// The head of `PullRequestSeed::default()`, also the plan report's `head_sha`.
const HEAD: &str = "3f1c2a9e8b7d6c5f4e3a2b1c0d9e8f7a6b5c4d3e";
const BASE: &str = "1111111111111111111111111111111111111111";
/// The opening of every report part's hidden marker.
const MARKER_PREFIX: &str = "<!-- scalr:run workspace-set=";

/// A stand-in with pull request 42 seeded, and a call context whose HTTP really goes to
/// it (loopback allowed, as only test configuration does).
fn stand_in() -> (StandIn, CallContext) {
    let stand_in = StandIn::start(StandInOptions::default()).expect("the stand-in starts");
    stand_in
        .seed_pull_request(PullRequestSeed::default())
        .expect("seed");
    let ctx = context_with(
        INTEGRATION,
        Arc::new(MemoryStorage::default()),
        HttpConfig {
            allow_loopback: true,
            request_timeout: Duration::from_secs(10),
            ..HttpConfig::default()
        },
    );
    (stand_in, ctx)
}

fn connection(stand_in: &StandIn) -> Connection {
    connection_with(stand_in, DEFAULT_PAT)
}

fn connection_with(stand_in: &StandIn, pat: &str) -> Connection {
    Connection {
        base_url: stand_in.base_url().to_string(),
        credential: Credential::PersonalAccessToken(pat.into()),
        options: vec![],
    }
}

fn repository(stand_in: &StandIn) -> Repository {
    Repository {
        id: REPO.into(),
        name: "infra".into(),
        project: Some("Infra Team".into()),
        project_id: Some(PROJECT_ID.into()),
        organization: "contoso".into(),
        web_url: Some(format!("{}Infra%20Team/_git/infra", stand_in.base_url())),
        clone_url: None,
        api_url: stand_in.base_url().to_string(),
        default_branch: Some("main".into()),
    }
}

fn pull_request(stand_in: &StandIn) -> PullRequestRef {
    PullRequestRef {
        repository: repository(stand_in),
        number: 42,
    }
}

fn report(name: &str) -> RunReport {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/reports")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let json: RunReportJson =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not a run report: {e}"));
    json.into_report()
}

fn publish_options(apply_summary: bool, max_length: Option<u32>) -> PublishOptions {
    PublishOptions {
        comments_enabled: true,
        apply_summary,
        new_comment_per_head: false,
        render: RenderOptions {
            max_length,
            commands: None,
        },
        options: vec![],
    }
}

fn publish(
    stand_in: &StandIn,
    ctx: &CallContext,
    report: &RunReport,
    options: &PublishOptions,
) -> Result<PublishResult, ProviderError> {
    let (conn, target) = (connection(stand_in), pull_request(stand_in));
    load(AZURE_DEVOPS)
        .publish(ctx, &conn, &target, report, options)
        .expect("the publish call returns")
}

fn set_status(
    stand_in: &StandIn,
    ctx: &CallContext,
    target: &StatusTarget,
    status: &CommitStatus,
) -> Result<(), ProviderError> {
    let conn = connection(stand_in);
    load(AZURE_DEVOPS)
        .set_status(ctx, &conn, target, status)
        .expect("the set-status call returns")
}

fn reply(
    stand_in: &StandIn,
    ctx: &CallContext,
    thread: Option<&str>,
    markdown: &str,
) -> Result<PostedComment, ProviderError> {
    let (conn, target) = (connection(stand_in), pull_request(stand_in));
    load(AZURE_DEVOPS)
        .reply(ctx, &conn, &target, thread, markdown)
        .expect("the reply call returns")
}

fn validate(
    ctx: &CallContext,
    conn: &Connection,
    required: &[Capability],
) -> Result<ValidationReport, ProviderError> {
    load(AZURE_DEVOPS)
        .validate(ctx, conn, required)
        .expect("the validate call returns")
}

fn changed_files(
    stand_in: &StandIn,
    ctx: &CallContext,
    source: &ChangeSource,
    cursor: Option<&str>,
) -> Result<ChangedFilesPage, ProviderError> {
    let conn = connection(stand_in);
    load(AZURE_DEVOPS)
        .changed_files(ctx, &conn, source, cursor)
        .expect("the changed-files call returns")
}

fn plan_status() -> CommitStatus {
    CommitStatus {
        state: StatusState::Succeeded,
        context_name: "plan/prod".into(),
        context_genre: None,
        description: "Plan: 8 to add, 1 to change, 0 to destroy".into(),
        target_url: Some("https://scalr.example/v2/e/env-1/runs/run-v0o2f3/".into()),
    }
}

fn ids(result: &PublishResult) -> Vec<(String, String)> {
    result
        .comments
        .iter()
        .map(|c| {
            (
                c.thread_id.clone().unwrap_or_default(),
                c.comment_id.clone(),
            )
        })
        .collect()
}

/// `METHOD path` of the requests the stand-in got since `from`, query left out.
fn requests_since(stand_in: &StandIn, from: usize) -> Vec<String> {
    stand_in
        .requests()
        .iter()
        .skip(from)
        .map(|r| {
            let path = r.target.split('?').next().unwrap_or_default();
            let short = path
                .split_once("/pullRequests/42")
                .map_or(path.to_string(), |(_, tail)| format!("{{pr}}{tail}"));
            format!("{} {short}", r.method)
        })
        .collect()
}

#[test]
fn a_plan_opens_one_thread_and_its_apply_updates_the_same_comment() {
    let (stand_in, ctx) = stand_in();
    let options = publish_options(true, None);
    let plan = report("plan-success.json");

    let first = publish(&stand_in, &ctx, &plan, &options).expect("the plan is published");
    assert_eq!(first.action, PublishAction::Created);
    assert_eq!(first.comments.len(), 1, "one part at the default length");
    let threads = stand_in.threads(REPO, 42);
    assert_eq!(threads.len(), 1);
    let thread = &threads[0];
    assert_eq!(ids(&first), [(thread.id.to_string(), "1".to_string())]);
    assert_eq!(thread.status, "closed", "the default thread status");
    assert_eq!(thread.comments.len(), 1);
    let comment = &thread.comments[0];
    assert_eq!(comment.parent_comment_id, 0);
    assert_eq!(comment.comment_type, "text");
    assert_eq!(comment.author, StandInIdentity::bot());
    assert!(
        comment.content.starts_with(MARKER_PREFIX),
        "{}",
        comment.content
    );
    assert!(
        comment
            .content
            .contains("Terraform plan of <code>prod</code>: 8 to add"),
        "{}",
        comment.content
    );
    assert_eq!(
        first.comments[0].url.as_deref(),
        Some(
            format!(
                "{}Infra%20Team/_git/infra/pullrequest/42?discussionId={}",
                stand_in.base_url(),
                thread.id
            )
            .as_str()
        )
    );

    // The same report again: nothing is sent.
    let sent = stand_in.requests().len();
    let again = publish(&stand_in, &ctx, &plan, &options).expect("the retry");
    assert_eq!(again.action, PublishAction::Unchanged);
    assert_eq!(stand_in.requests().len(), sent);

    // The apply, apply summary on: the same comment is edited, no thread is added.
    let applied = publish(&stand_in, &ctx, &report("apply-success.json"), &options)
        .expect("the apply is published");
    assert_eq!(applied.action, PublishAction::Updated);
    assert_eq!(ids(&applied), ids(&first));
    assert_eq!(
        requests_since(&stand_in, sent),
        [format!("PATCH {{pr}}/threads/{}/comments/1", thread.id)]
    );
    let threads = stand_in.threads(REPO, 42);
    assert_eq!(threads.len(), 1);
    let comment = &threads[0].comments[0];
    assert_eq!(threads[0].comments.len(), 1);
    assert_eq!(comment.edits, 1);
    assert!(
        comment
            .content
            .contains("Terraform apply of <code>prod</code>: 8 added"),
        "{}",
        comment.content
    );
    let counts = stand_in.counts();
    assert_eq!(
        (counts.threads, counts.comments, counts.comment_edits),
        (1, 1, 1)
    );
}

#[test]
fn a_long_report_continues_in_replies_and_the_apply_updates_every_part() {
    let (stand_in, ctx) = stand_in();
    let options = publish_options(true, Some(2400));
    let first = publish(&stand_in, &ctx, &report("plan-success.json"), &options)
        .expect("the plan is published");
    assert_eq!(first.comments.len(), 2);
    let thread = &stand_in.threads(REPO, 42)[0];
    let parents: Vec<(u64, u64)> = thread
        .comments
        .iter()
        .map(|c| (c.id, c.parent_comment_id))
        .collect();
    assert_eq!(parents, [(1, 0), (2, 1)]);
    assert!(thread.comments[1].content.contains("part=2/2"));

    // With the apply summary off, the apply leaves the plan's comments alone.
    let skipped = publish(
        &stand_in,
        &ctx,
        &report("apply-success.json"),
        &publish_options(false, Some(2400)),
    )
    .expect("the apply is answered");
    assert_eq!(skipped.action, PublishAction::Skipped);
    assert_eq!(stand_in.counts().comment_edits, 0);

    let applied = publish(&stand_in, &ctx, &report("apply-success.json"), &options)
        .expect("the apply is published");
    assert_eq!(applied.action, PublishAction::Updated);
    assert_eq!(ids(&applied), ids(&first));
    let threads = stand_in.threads(REPO, 42);
    assert_eq!(threads.len(), 1);
    assert!(threads[0].comments.iter().all(|c| c.edits == 1));
}

#[test]
fn a_deleted_comment_is_posted_afresh() {
    let (stand_in, ctx) = stand_in();
    let options = publish_options(true, None);
    let first = publish(&stand_in, &ctx, &report("plan-success.json"), &options).expect("plan");
    let old: u64 = first.comments[0]
        .thread_id
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(stand_in.state().delete_thread(REPO, 42, old));
    let applied = publish(&stand_in, &ctx, &report("apply-success.json"), &options).expect("apply");
    assert_eq!(applied.action, PublishAction::Created);
    let threads = stand_in.threads(REPO, 42);
    assert_eq!(threads.len(), 1);
    assert_ne!(threads[0].id, old);
    assert!(threads[0].comments[0].content.contains("Terraform apply"));
}

#[test]
fn statuses_land_on_the_pull_request_iteration_and_on_the_commit() {
    let (stand_in, ctx) = stand_in();
    let on_pr = |head: &str| {
        StatusTarget::PullRequest(PullRequestStatusTarget {
            pull_request: pull_request(&stand_in),
            head_sha: head.into(),
        })
    };
    set_status(&stand_in, &ctx, &on_pr(HEAD), &plan_status()).expect("the PR status");

    // A push: the next status names the new iteration.
    let newer = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
    let iteration = stand_in
        .set_head(REPO, 42, newer, vec![FileChange::edit("main.tf")])
        .expect("push");
    let pending = CommitStatus {
        state: StatusState::Pending,
        description: "Planning…".into(),
        ..plan_status()
    };
    set_status(&stand_in, &ctx, &on_pr(&newer.to_uppercase()), &pending).expect("again");

    let statuses = stand_in.pull_request_statuses(REPO, 42);
    let seen: Vec<(&str, &str, Option<&str>, Option<u64>)> = statuses
        .iter()
        .map(|s| {
            (
                s.state.as_str(),
                s.context_name.as_str(),
                s.context_genre.as_deref(),
                s.iteration_id,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("succeeded", "plan/prod", Some("scalr"), Some(1)),
            ("pending", "plan/prod", Some("scalr"), Some(iteration)),
        ]
    );
    assert_eq!(
        statuses[0].target_url.as_deref(),
        Some("https://scalr.example/v2/e/env-1/runs/run-v0o2f3/")
    );
    let pr = stand_in.pull_request(REPO, 42).expect("pr");
    assert_eq!(pr.latest_statuses().len(), 1);
    assert_eq!(pr.latest_statuses()[0].state, "pending");

    let on_commit = StatusTarget::Commit(CommitStatusTarget {
        repository: repository(&stand_in),
        sha: HEAD.into(),
    });
    let failed = CommitStatus {
        state: StatusState::Failed,
        context_name: "apply/prod".into(),
        context_genre: Some("acme".into()),
        description: "Apply failed: Error: creating S3 bucket".into(),
        target_url: None,
    };
    set_status(&stand_in, &ctx, &on_commit, &failed).expect("the commit status");
    let statuses = stand_in.commit_statuses(REPO, HEAD);
    assert_eq!(statuses.len(), 1);
    assert_eq!(
        (
            statuses[0].state.as_str(),
            statuses[0].context_name.as_str(),
            statuses[0].context_genre.as_deref(),
            statuses[0].description.as_deref(),
            statuses[0].target_url.as_deref(),
        ),
        (
            "failed",
            "apply/prod",
            Some("acme"),
            Some("Apply failed: Error: creating S3 bucket"),
            None
        )
    );
}

#[test]
fn a_reply_opens_a_thread_or_answers_in_one() {
    let (stand_in, ctx) = stand_in();
    let (theirs, _) = stand_in
        .state()
        .add_thread(REPO, 42, StandInIdentity::alice(), "/scalr apply")
        .expect("a person's comment");
    let answer = reply(
        &stand_in,
        &ctx,
        Some(&theirs.to_string()),
        "Denied: no approval.",
    )
    .expect("the reply");
    assert_eq!(answer.thread_id, Some(theirs.to_string()));
    assert_eq!(answer.comment_id, "2");
    let opened = reply(&stand_in, &ctx, None, "Commands: `/scalr plan`").expect("a new thread");
    let threads = stand_in.threads(REPO, 42);
    assert_eq!(threads.len(), 2);
    let answered = &threads[0];
    assert_eq!(answered.comments.len(), 2);
    assert_eq!(answered.comments[1].parent_comment_id, 1);
    assert_eq!(answered.comments[1].content, "Denied: no approval.");
    assert_eq!(answered.comments[1].author, StandInIdentity::bot());
    assert_eq!(answered.comments[0].author, StandInIdentity::alice());
    assert_eq!(opened.thread_id, Some(threads[1].id.to_string()));
    assert_eq!(threads[1].comments[0].content, "Commands: `/scalr plan`");
    // A thread that does not exist: not found.
    let missing = reply(&stand_in, &ctx, Some("999"), "x").unwrap_err();
    assert!(matches!(missing, ProviderError::NotFound(_)), "{missing:?}");
}

#[test]
fn validation_reports_the_identity_and_every_capability() {
    let (stand_in, ctx) = stand_in();
    let all = [
        Capability::ReadCode,
        Capability::WriteStatuses,
        Capability::ReadComments,
        Capability::WriteComments,
    ];
    let report = validate(&ctx, &connection(&stand_in), &all).expect("validated");
    assert!(report.ok, "{}", report.summary);
    let bot = StandInIdentity::bot();
    assert_eq!(report.identity.id, bot.id);
    assert_eq!(report.identity.display_name.as_deref(), Some("Scalr Bot"));
    assert_eq!(
        report.identity.unique_name.as_deref(),
        Some("scalr-bot@contoso.com")
    );
    assert_eq!(report.checks.len(), 4);
    assert!(
        report
            .checks
            .iter()
            .all(|c| c.outcome == CheckOutcome::Granted)
    );
    // The write probes wrote nothing.
    let counts = stand_in.counts();
    assert_eq!((counts.threads, counts.commit_statuses), (0, 0));

    let wrong = validate(&ctx, &connection_with(&stand_in, "revoked-pat"), &all).unwrap_err();
    assert!(
        matches!(&wrong, ProviderError::Unauthorized(m) if m.contains("HTTP 401") && m.contains("VS30063")),
        "{wrong:?}"
    );
}

#[test]
fn changed_files_come_from_the_latest_iteration_or_the_commit_diff() {
    let (stand_in, ctx) = stand_in();
    let newer = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
    stand_in
        .set_head(
            REPO,
            42,
            newer,
            vec![
                FileChange::edit("main.tf"),
                FileChange::add("modules/net/vpc.tf"),
                FileChange::rename("old/name.tf", "new/name.tf"),
                FileChange::delete("legacy.tf"),
            ],
        )
        .expect("push");
    let expected = [
        ("main.tf", None, ChangeKind::Modified),
        ("modules/net/vpc.tf", None, ChangeKind::Added),
        ("new/name.tf", Some("old/name.tf"), ChangeKind::Renamed),
        ("legacy.tf", None, ChangeKind::Deleted),
    ];
    let summary = |page: &ChangedFilesPage| -> Vec<(String, Option<String>, ChangeKind)> {
        page.files
            .iter()
            .map(|f| (f.path.clone(), f.previous_path.clone(), f.change))
            .collect()
    };
    let want: Vec<(String, Option<String>, ChangeKind)> = expected
        .iter()
        .map(|(p, o, k)| (p.to_string(), o.map(str::to_string), *k))
        .collect();

    let source = ChangeSource::PullRequest(pull_request(&stand_in));
    let page = changed_files(&stand_in, &ctx, &source, None).expect("the PR's files");
    assert_eq!(page.next_cursor, None);
    assert_eq!(summary(&page), want);

    let range = ChangeSource::Commits(CommitRange {
        repository: repository(&stand_in),
        base_sha: BASE.into(),
        head_sha: newer.into(),
    });
    let page = changed_files(&stand_in, &ctx, &range, None).expect("the diff's files");
    assert_eq!(page.next_cursor, None);
    assert_eq!(summary(&page), want, "folders are left out");
}

#[test]
fn a_429_is_rate_limited_with_its_retry_after_until_the_fault_heals() {
    let (stand_in, ctx) = stand_in();
    stand_in.inject(Fault::new(
        Some("POST"),
        "/threads",
        1,
        FaultKind::RateLimited {
            retry_after_seconds: 17,
        },
    ));
    let options = publish_options(true, None);
    let plan = report("plan-success.json");
    match publish(&stand_in, &ctx, &plan, &options).unwrap_err() {
        ProviderError::RateLimited(limit) => {
            assert_eq!(limit.retry_after_seconds, Some(17));
            assert!(
                limit.message.contains("retry after 17 seconds"),
                "{}",
                limit.message
            );
        }
        other => panic!("expected rate-limited, got {other:?}"),
    }
    assert!(stand_in.threads(REPO, 42).is_empty());
    let healed = publish(&stand_in, &ctx, &plan, &options).expect("healed");
    assert_eq!(healed.action, PublishAction::Created);
    assert_eq!(stand_in.threads(REPO, 42).len(), 1);
    let log = stand_in.requests();
    assert_eq!(
        log.iter().map(|r| (r.status, r.fault)).collect::<Vec<_>>(),
        [(429, Some("rate-limited")), (200, None)]
    );
}

#[test]
fn a_203_sign_in_page_is_unauthorized_until_the_fault_heals() {
    let (stand_in, ctx) = stand_in();
    stand_in.inject(Fault::new(
        Some("GET"),
        "/_apis/connectionData",
        1,
        FaultKind::SignInPage203,
    ));
    let conn = connection(&stand_in);
    let err = validate(&ctx, &conn, &[Capability::ReadCode]).unwrap_err();
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.contains("sign-in page") && m.contains("HTTP 203")),
        "{err:?}"
    );
    let report = validate(&ctx, &conn, &[Capability::ReadCode]).expect("healed");
    assert!(report.ok, "{}", report.summary);
}

#[test]
fn a_500_is_an_upstream_error_with_its_status_until_the_fault_heals() {
    let (stand_in, ctx) = stand_in();
    stand_in.inject(Fault::new(
        Some("POST"),
        &format!("/commits/{HEAD}/statuses"),
        1,
        FaultKind::ServerError(500),
    ));
    let target = StatusTarget::Commit(CommitStatusTarget {
        repository: repository(&stand_in),
        sha: HEAD.into(),
    });
    match set_status(&stand_in, &ctx, &target, &plan_status()).unwrap_err() {
        ProviderError::Upstream(upstream) => {
            assert_eq!(upstream.status, Some(500));
            assert!(
                upstream.message.contains("TF400898"),
                "{}",
                upstream.message
            );
        }
        other => panic!("expected upstream, got {other:?}"),
    }
    assert!(stand_in.commit_statuses(REPO, HEAD).is_empty());
    set_status(&stand_in, &ctx, &target, &plan_status()).expect("healed");
    assert_eq!(stand_in.commit_statuses(REPO, HEAD).len(), 1);
    assert_eq!(stand_in.counts().faulted, 1);
}
