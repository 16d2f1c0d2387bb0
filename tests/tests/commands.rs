//! Comment commands through the Azure DevOps component: the shared parsing table, and
//! one test per authorization rule.

// A failing test is the point: tests may unwrap, expect, panic and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};

use provider_tests::{AZURE_DEVOPS, load};
use vcs_host::http::{HttpBackend, HttpError, InboundResponse, OutboundRequest};
use vcs_host::storage::MemoryStorage;
use vcs_host::types::{CommandRequest, ParsedCommand};
use vcs_host::types::{
    CommandSettings, Connection, Credential, PullRequestRef, Repository, User, Workspace,
};
use vcs_host::types::{
    CommandVerdict, Comment, CommentState, Decision, PullRequest, PullRequestStatus,
};
use vcs_host::{CallContext, Provider};
use vcs_host_store::TxStore;

const BOT: &str = "9c8b7a65-4321-4fed-ba98-76543210fedc";
const REVIEWER: &str = "a1b2c3d4-0000-4a5b-8c7d-112233445566";
const PR_AUTHOR: &str = "54d125f7-69f7-4191-904f-c5b96b6261c8";

fn provider() -> Provider {
    load(AZURE_DEVOPS)
}

#[test]
fn the_parsing_table_holds_through_the_component() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../provider-kit/tests/fixtures/commands/parse-cases.json"
    ))
    .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let prefix = doc["prefix"].as_str().unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let provider = provider();
    let ctx = provider_tests::context("commands");
    for case in cases {
        let body = case["body"].as_str().unwrap();
        let parsed = provider.parse_command(&ctx, body, prefix).unwrap().unwrap();
        let names = || -> Vec<String> {
            case["workspaces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect()
        };
        match (case["want"].as_str().unwrap(), &parsed) {
            ("none", ParsedCommand::None) | ("help", ParsedCommand::Help) => {}
            ("plan", ParsedCommand::Plan(got)) | ("apply", ParsedCommand::Apply(got)) => {
                assert_eq!(got, &names(), "{body:?}");
            }
            ("invalid", ParsedCommand::Invalid(invalid)) => {
                let fragment = case["reply_contains"].as_str().unwrap();
                assert!(
                    invalid.reply.contains(fragment),
                    "{body:?}: {:?}",
                    invalid.reply
                );
            }
            (want, got) => panic!("{body:?}: wanted {want}, got {got:?}"),
        }
    }
    // An unusable prefix is a configuration error, not a trap.
    let err = provider
        .parse_command(&ctx, "/scalr plan", "  ")
        .unwrap()
        .unwrap_err();
    assert!(format!("{err:?}").contains("InvalidConfig"), "{err:?}");
}

fn user(id: &str, name: &str) -> User {
    User {
        id: id.into(),
        unique_name: Some(format!("{name}@contoso.com")),
        display_name: Some(name.into()),
    }
}

fn settings(allow_plan: bool, allow_apply: bool) -> CommandSettings {
    CommandSettings {
        prefix: "/scalr".into(),
        allow_plan,
        allow_apply,
        bot_user_id: Some(BOT.to_uppercase()),
        run_edited_comments: false,
        allowed_users: vec![],
        require_approval_for_apply: false,
        require_mergeable_for_apply: false,
    }
}

fn workspaces() -> Vec<Workspace> {
    let ws = |name: &str, dry: bool, branch: Option<&str>| Workspace {
        name: name.into(),
        vcs_dry_runs: dry,
        directory: None,
        branch: branch.map(Into::into),
    };
    vec![
        ws("prod", true, None),
        ws("staging", false, None),
        ws("release", true, Some("release/1.x")),
    ]
}

fn request(body: &str) -> CommandRequest {
    CommandRequest {
        comment: Comment {
            id: "1".into(),
            thread_id: Some("117".into()),
            author: user(REVIEWER, "Raj"),
            body: body.into(),
            state: CommentState::Created,
            system: false,
        },
        pull_request: PullRequest {
            number: 42,
            title: "Add VPC peering".into(),
            source_branch: "feature/vpc".into(),
            target_branch: "main".into(),
            head_sha: Some("0e3abf27faeea45c2bfbb2da116495c2120ed86a".into()),
            base_sha: None,
            status: PullRequestStatus::Open,
            draft: false,
            fork: false,
            author: Some(user(PR_AUTHOR, "Jane")),
            url: None,
        },
        pull_request_ref: PullRequestRef {
            repository: Repository {
                id: "0d6e5f4a-3b2c-4d1e-8f9a-7b6c5d4e3f21".into(),
                name: "terraform-live".into(),
                project: Some("Infrastructure".into()),
                project_id: Some("f3d6c2a1-5b7e-4c8d-9a0f-1e2d3c4b5a69".into()),
                organization: "contoso".into(),
                web_url: None,
                clone_url: None,
                api_url: "https://dev.azure.com/contoso/".into(),
                default_branch: Some("main".into()),
            },
            number: 42,
        },
    }
}

/// Authorize through the component with its own store (or a shared one).
fn authorize_with(
    ctx: &CallContext,
    settings: &CommandSettings,
    connection: Option<&Connection>,
    request: &CommandRequest,
) -> CommandVerdict {
    provider()
        .authorize_command(ctx, settings, &workspaces(), connection, request)
        .unwrap()
        .unwrap()
}

fn authorize(settings: &CommandSettings, request: &CommandRequest) -> CommandVerdict {
    authorize_with(
        &provider_tests::context("commands"),
        settings,
        None,
        request,
    )
}

fn allowed(v: &CommandVerdict, name: &str, workspaces: &[&str]) {
    assert!(matches!(v.decision, Decision::Allowed), "{v:?}");
    assert_eq!(v.name, name);
    assert_eq!(
        v.workspaces,
        workspaces.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
        "{v:?}"
    );
}

fn denied(v: &CommandVerdict, fragment: &str) {
    assert!(matches!(v.decision, Decision::Denied), "{v:?}");
    assert!(
        v.reason.contains(fragment),
        "{:?} lacks {fragment:?}",
        v.reason
    );
}

#[test]
fn plan_needs_either_switch_and_apply_needs_plan_and_apply() {
    let none = settings(false, false);
    denied(
        &authorize(&none, &request("/scalr plan")),
        "Allow triggering plan-only runs",
    );
    let plan_only = settings(true, false);
    allowed(
        &authorize(&plan_only, &request("/scalr plan")),
        "plan",
        &["prod"],
    );
    denied(
        &authorize(&plan_only, &request("/scalr apply")),
        "Allow triggering plan & apply runs from the PR comments",
    );
    let apply = settings(false, true);
    allowed(
        &authorize(&apply, &request("/scalr plan")),
        "plan",
        &["prod"],
    );
    allowed(
        &authorize(&apply, &request("/scalr apply")),
        "apply",
        &["prod"],
    );
}

#[test]
fn targets_must_exist_and_have_vcs_driven_dry_runs() {
    let s = settings(true, true);
    denied(&authorize(&s, &request("/scalr plan -w nope")), "nope");
    denied(
        &authorize(&s, &request("/scalr plan -w staging")),
        "Enabled VCS-driven dry runs",
    );
    // `release` tracks another branch than the pull request's target.
    denied(
        &authorize(&s, &request("/scalr plan -w release")),
        "release",
    );
    allowed(
        &authorize(&s, &request("/scalr apply -w prod")),
        "apply",
        &["prod"],
    );
}

#[test]
fn the_comment_author_is_judged_never_the_pull_request_author() {
    let mut s = settings(true, true);
    s.allowed_users = vec!["jane@contoso.com".into()];
    // Jane wrote the PR, Raj wrote the comment: Raj is not on the list.
    denied(
        &authorize(&s, &request("/scalr plan")),
        "is not on the integration's list of users who may run commands",
    );
    s.allowed_users = vec!["RAJ@contoso.com".into()];
    allowed(&authorize(&s, &request("/scalr plan")), "plan", &["prod"]);
}

#[test]
fn the_integrations_own_system_and_deleted_comments_run_nothing() {
    let s = settings(true, true);
    let mut own = request("/scalr apply");
    own.comment.author = user(BOT, "Scalr");
    denied(&authorize(&s, &own), "its own comments never run");
    let mut system = request("/scalr apply");
    system.comment.system = true;
    assert!(matches!(authorize(&s, &system).decision, Decision::Denied));
    let mut deleted = request("/scalr apply");
    deleted.comment.state = CommentState::Deleted;
    assert!(matches!(authorize(&s, &deleted).decision, Decision::Denied));
}

#[test]
fn edited_comments_run_only_when_configured() {
    let mut s = settings(true, true);
    let mut edited = request("/scalr plan");
    edited.comment.state = CommentState::Edited;
    denied(&authorize(&s, &edited), "edited");
    s.run_edited_comments = true;
    allowed(&authorize(&s, &edited), "plan", &["prod"]);
}

#[test]
fn closed_completed_or_abandoned_pull_requests_run_nothing() {
    let s = settings(true, true);
    for status in [PullRequestStatus::Closed, PullRequestStatus::Merged] {
        let mut r = request("/scalr plan");
        r.pull_request.status = status;
        assert!(
            matches!(authorize(&s, &r).decision, Decision::Denied),
            "{status:?}"
        );
    }
}

#[test]
fn a_comment_runs_once_even_when_delivered_again() {
    let storage: Arc<dyn TxStore> = Arc::new(MemoryStorage::default());
    let ctx = provider_tests::context_with("once", storage, Default::default());
    let s = settings(true, true);
    let r = request("/scalr apply");
    allowed(&authorize_with(&ctx, &s, None, &r), "apply", &["prod"]);
    denied(&authorize_with(&ctx, &s, None, &r), "already");
    // Another comment in the same thread is a new command.
    let mut next = request("/scalr apply");
    next.comment.id = "2".into();
    allowed(&authorize_with(&ctx, &s, None, &next), "apply", &["prod"]);
}

/// Answers the two REST reads the apply rules make, and records what was asked.
struct ScriptedAzureDevOps {
    pull_request: String,
    evaluations: String,
    asked: Mutex<Vec<String>>,
}

impl HttpBackend for ScriptedAzureDevOps {
    fn send(&self, request: &OutboundRequest) -> Result<InboundResponse, HttpError> {
        self.asked.lock().unwrap().push(request.url.clone());
        let body = if request.url.contains("/_apis/policy/evaluations") {
            &self.evaluations
        } else if request.url.contains("/pullRequests/42") {
            &self.pull_request
        } else {
            return Err(HttpError::NoRecording(request.url.clone()));
        };
        Ok(InboundResponse {
            status: 200,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.clone().into_bytes(),
        })
    }
}

fn scripted(
    votes: &[i64],
    merge_status: &str,
    blocking_status: &str,
) -> (CallContext, Arc<ScriptedAzureDevOps>) {
    let reviewers: Vec<String> = votes
        .iter()
        .enumerate()
        .map(|(i, v)| format!(r#"{{"id":"r{i}","displayName":"Reviewer {i}","vote":{v}}}"#))
        .collect();
    let backend = Arc::new(ScriptedAzureDevOps {
        pull_request: format!(
            r#"{{"pullRequestId":42,"status":"active","isDraft":false,"mergeStatus":"{merge_status}","reviewers":[{}]}}"#,
            reviewers.join(",")
        ),
        evaluations: format!(
            r#"{{"count":1,"value":[{{"evaluationId":"e1","status":"{blocking_status}","configuration":{{"isBlocking":true,"isEnabled":true,"type":{{"id":"fa4e907d-c16b-4a4c-9dfa-4906e5d171dd","displayName":"Minimum number of reviewers"}},"settings":{{}}}}}}]}}"#
        ),
        asked: Mutex::new(vec![]),
    });
    let ctx = CallContext::new(
        "apply-rules",
        backend.clone(),
        Arc::new(MemoryStorage::default()),
    );
    (ctx, backend)
}

fn connection() -> Connection {
    Connection {
        base_url: "https://dev.azure.com/contoso/".into(),
        credential: Credential::PersonalAccessToken("not-a-real-pat".into()),
        options: vec![],
    }
}

#[test]
fn apply_can_require_an_approving_reviewer() {
    let mut s = settings(true, true);
    s.require_approval_for_apply = true;
    let (ctx, backend) = scripted(&[10], "succeeded", "approved");
    allowed(
        &authorize_with(&ctx, &s, Some(&connection()), &request("/scalr apply")),
        "apply",
        &["prod"],
    );
    assert!(backend.asked.lock().unwrap()[0].contains("/pullRequests/42"));
    let (ctx, _) = scripted(&[0, -5], "succeeded", "approved");
    denied(
        &authorize_with(&ctx, &s, Some(&connection()), &request("/scalr apply")),
        "approved",
    );
    let (ctx, _) = scripted(&[10, -10], "succeeded", "approved");
    denied(
        &authorize_with(&ctx, &s, Some(&connection()), &request("/scalr apply")),
        "rejected",
    );
    // Plans are not subject to the apply rules.
    let (ctx, backend) = scripted(&[], "conflicts", "rejected");
    allowed(
        &authorize_with(&ctx, &s, Some(&connection()), &request("/scalr plan")),
        "plan",
        &["prod"],
    );
    assert!(backend.asked.lock().unwrap().is_empty());
}

#[test]
fn apply_can_require_a_mergeable_pull_request() {
    let mut s = settings(true, true);
    s.require_mergeable_for_apply = true;
    let (ctx, backend) = scripted(&[], "succeeded", "approved");
    allowed(
        &authorize_with(&ctx, &s, Some(&connection()), &request("/scalr apply")),
        "apply",
        &["prod"],
    );
    assert!(
        backend
            .asked
            .lock()
            .unwrap()
            .iter()
            .any(|u| u.contains("vstfs:///CodeReview/CodeReviewId/")
                || u.contains("vstfs%3A%2F%2F%2FCodeReview%2FCodeReviewId%2F"))
    );
    let (ctx, _) = scripted(&[], "conflicts", "approved");
    denied(
        &authorize_with(&ctx, &s, Some(&connection()), &request("/scalr apply")),
        "conflict",
    );
    let (ctx, _) = scripted(&[], "succeeded", "rejected");
    denied(
        &authorize_with(&ctx, &s, Some(&connection()), &request("/scalr apply")),
        "Minimum number of reviewers",
    );
    // Without a connection the rule cannot be checked, and says so.
    denied(&authorize(&s, &request("/scalr apply")), "connection");
}
