//! Tests of comment commands: a parsing table, one test per authorization rule, and
//! property tests that no input panics.

use super::parser::{Parsed, parse_body};
use super::*;
use crate::bindings::exports::vcs::provider::webhooks::{
    Comment, CommentState, Decision, PullRequest, PullRequestStatus,
};
use crate::bindings::vcs::provider::types::{
    Credential, ProviderError, PullRequestRef, Repository, User,
};
use crate::host::fake::FakeHost;

/// What a comment body should parse to.
#[derive(Debug)]
enum Want {
    None,
    Plan(Vec<String>),
    Apply(Vec<String>),
    Help,
    /// Invalid, with a fragment of the reply.
    Invalid(String),
}

/// The parsing table, shared with the component test in `tests/tests/commands.rs`.
const PARSE_CASES_JSON: &str = include_str!("../../../tests/fixtures/commands/parse-cases.json");

fn parse_cases() -> Vec<(String, Want)> {
    let doc: serde_json::Value = serde_json::from_str(PARSE_CASES_JSON).unwrap();
    assert_eq!(doc["prefix"], "/scalr");
    let names = |case: &serde_json::Value| -> Vec<String> {
        case["workspaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    };
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let body = case["body"].as_str().unwrap().to_string();
            let want = match case["want"].as_str().unwrap() {
                "none" => Want::None,
                "help" => Want::Help,
                "plan" => Want::Plan(names(case)),
                "apply" => Want::Apply(names(case)),
                "invalid" => Want::Invalid(case["reply_contains"].as_str().unwrap().to_string()),
                other => panic!("unknown expectation {other:?} for {body:?}"),
            };
            (body, want)
        })
        .collect()
}

#[test]
fn parses_the_table_of_comment_bodies() {
    let cases = parse_cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    for (body, want) in &cases {
        let got = parse_body(body, "/scalr").unwrap();
        let public = parse(body, "/scalr").unwrap();
        match (want, &got, &public) {
            (Want::None, Parsed::None, ParsedCommand::None) => {}
            (Want::Help, Parsed::Help, ParsedCommand::Help) => {}
            (Want::Plan(names), Parsed::Plan(got), ParsedCommand::Plan(public)) => {
                assert_eq!(got, names, "{body:?}");
                assert_eq!(public, got, "{body:?}");
            }
            (Want::Apply(names), Parsed::Apply(got), ParsedCommand::Apply(public)) => {
                assert_eq!(got, names, "{body:?}");
                assert_eq!(public, got, "{body:?}");
            }
            (
                Want::Invalid(fragment),
                Parsed::Invalid(problem),
                ParsedCommand::Invalid(invalid),
            ) => {
                assert!(
                    invalid.reply.contains(fragment.as_str()),
                    "{body:?}: {:?}",
                    invalid.reply
                );
                assert!(!problem.input.is_empty(), "{body:?}: no input named");
                // Every invalid reply teaches the usage.
                assert!(
                    invalid.reply.contains("`/scalr plan`"),
                    "{body:?}: {:?}",
                    invalid.reply
                );
                assert!(
                    invalid.reply.contains("`-w NAME`"),
                    "{body:?}: {:?}",
                    invalid.reply
                );
            }
            _ => panic!("{body:?}: wanted {want:?}, got {got:?} / {public:?}"),
        }
    }
}

#[test]
fn invalid_commands_name_the_word_used() {
    for (body, name, input) in [
        ("/scalr paln", "paln", "paln"),
        ("/scalr Destroy now", "destroy", "Destroy"),
        ("/scalr apply --force", "apply", "--force"),
        ("/scalr plan prod", "plan", "prod"),
        ("/scalr plan\n/scalr apply", "plan", "/scalr apply"),
    ] {
        match parse_body(body, "/scalr").unwrap() {
            Parsed::Invalid(problem) => {
                assert_eq!(problem.name, name, "{body:?}");
                assert_eq!(problem.input, input, "{body:?}");
            }
            other => panic!("{body:?}: {other:?}"),
        }
    }
}

#[test]
fn other_prefixes_are_whole_case_insensitive_words() {
    for (prefix, body, want_plan) in [
        ("atlantis", "atlantis plan", true),
        ("atlantis", "Atlantis plan", true),
        ("atlantis", "atlantisplan", false),
        ("@bot", "@bot plan", true),
        ("@bot", "@bot2 plan", false),
        ("/Scalr", "/scalr plan", true),
        (" /scalr ", "/scalr plan", true),
        ("/déploie", "/DÉPLOIE plan", true),
        ("/scalr", "/scalr\u{3000}plan", true),
    ] {
        let got = parse_body(body, prefix).unwrap();
        assert_eq!(
            got == Parsed::Plan(vec![]),
            want_plan,
            "{prefix:?} {body:?}: {got:?}"
        );
    }
}

#[test]
fn unusable_prefixes_are_configuration_errors() {
    for prefix in ["", "   ", "\n", "/scalr run", "`x`", ">x"] {
        match parse("/scalr plan", prefix) {
            Err(ProviderError::InvalidConfig(message)) => {
                assert!(message.contains("prefix"), "{prefix:?}: {message}");
            }
            other => panic!("{prefix:?}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Authorization.

const BOT_ID: &str = "5AB3F5E1-1C2D-4E5F-8A9B-0C1D2E3F4A5B";
const AUTHOR_ID: &str = "d6245f20-2af8-44f4-9451-8107cb2767db";

fn settings() -> CommandSettings {
    CommandSettings {
        prefix: "/scalr".into(),
        allow_plan: true,
        allow_apply: true,
        bot_user_id: Some(BOT_ID.into()),
        run_edited_comments: false,
        allowed_users: vec![],
        require_approval_for_apply: false,
        require_mergeable_for_apply: false,
    }
}

fn workspace(name: &str, dry_runs: bool, branch: Option<&str>) -> Workspace {
    Workspace {
        name: name.into(),
        vcs_dry_runs: dry_runs,
        directory: None,
        branch: branch.map(str::to_string),
    }
}

/// `prod` tracks the default branch (main), `staging` tracks develop, `legacy` has dry
/// runs off.
fn workspaces() -> Vec<Workspace> {
    vec![
        workspace("prod", true, None),
        workspace("staging", true, Some("develop")),
        workspace("legacy", false, None),
    ]
}

fn user(id: &str, unique_name: &str, display_name: &str) -> User {
    User {
        id: id.into(),
        unique_name: Some(unique_name.into()),
        display_name: Some(display_name.into()),
    }
}

fn author() -> User {
    user(AUTHOR_ID, "jamal@contoso.com", "Jamal Hartnett")
}

fn request(body: &str) -> CommandRequest {
    let repository = Repository {
        id: "123456".into(),
        name: "infra".into(),
        project: Some("acme".into()),
        project_id: None,
        organization: "acme".into(),
        web_url: None,
        clone_url: None,
        api_url: "https://api.github.com/".into(),
        default_branch: Some("main".into()),
    };
    CommandRequest {
        comment: Comment {
            id: "1".into(),
            thread_id: None,
            author: author(),
            body: body.into(),
            state: CommentState::Created,
            system: false,
        },
        pull_request: PullRequest {
            number: 42,
            title: "Add a bucket".into(),
            source_branch: "feature/bucket".into(),
            target_branch: "main".into(),
            head_sha: Some("a".repeat(40)),
            base_sha: None,
            status: PullRequestStatus::Open,
            draft: false,
            fork: false,
            author: Some(user(
                "c0ffee00-0000-0000-0000-000000000001",
                "norma@contoso.com",
                "Norma Fisher",
            )),
            url: None,
        },
        pull_request_ref: PullRequestRef {
            repository,
            number: 42,
        },
    }
}

fn connection() -> Connection {
    Connection {
        base_url: "https://api.github.com/".into(),
        credential: Credential::PersonalAccessToken("github_pat_x".into()),
        options: vec![],
    }
}

fn run(settings: &CommandSettings, request: &CommandRequest) -> CommandVerdict {
    authorize(&FakeHost::default(), settings, &workspaces(), None, request).unwrap()
}

#[track_caller]
fn assert_denied(verdict: &CommandVerdict, fragment: &str) {
    assert!(verdict.decision == Decision::Denied, "{verdict:?}");
    assert!(
        verdict.reason.contains(fragment),
        "{:?} lacks {fragment:?}",
        verdict.reason
    );
}

#[track_caller]
fn assert_denied_with_reply(verdict: &CommandVerdict, fragment: &str) {
    assert_denied(verdict, fragment);
    let reply = verdict.reply.as_deref().unwrap_or_default();
    assert!(
        reply.contains(fragment),
        "reply {reply:?} lacks {fragment:?}"
    );
    assert!(
        reply.contains("/scalr"),
        "reply {reply:?} does not name the prefix"
    );
}

#[track_caller]
fn assert_denied_silently(verdict: &CommandVerdict, fragment: &str) {
    assert_denied(verdict, fragment);
    assert_eq!(verdict.reply, None, "{verdict:?}");
}

#[track_caller]
fn assert_allowed(verdict: &CommandVerdict, name: &str, workspaces: &[&str]) {
    assert!(verdict.decision == Decision::Allowed, "{verdict:?}");
    assert_eq!(verdict.name, name);
    assert_eq!(verdict.workspaces, workspaces, "{verdict:?}");
}

#[test]
fn switch_combinations_decide_plan_and_apply() {
    // (allow plan, allow apply, command, allowed?, reason fragment when denied)
    let cases = [
        (
            false,
            false,
            "plan",
            false,
            "neither “Allow triggering plan-only runs",
        ),
        (false, false, "apply", false, APPLY_SWITCH),
        (true, false, "plan", true, ""),
        (true, false, "apply", false, APPLY_SWITCH),
        (false, true, "plan", true, ""),
        (false, true, "apply", true, ""),
        (true, true, "plan", true, ""),
        (true, true, "apply", true, ""),
    ];
    for (allow_plan, allow_apply, command, allowed, fragment) in cases {
        let settings = CommandSettings {
            allow_plan,
            allow_apply,
            ..settings()
        };
        let verdict = run(&settings, &request(&format!("/scalr {command}")));
        if allowed {
            assert_allowed(&verdict, command, &["prod"]);
            assert!(verdict.reason.contains("Jamal Hartnett"), "{verdict:?}");
        } else {
            assert_denied_with_reply(&verdict, fragment);
            let reply = verdict.reply.unwrap_or_default();
            assert!(
                !reply.contains("- `/scalr apply`"),
                "apply is off, yet listed: {reply}"
            );
        }
    }
}

#[test]
fn without_targets_the_workspaces_tracking_the_target_branch_run() {
    assert_allowed(
        &run(&settings(), &request("/scalr plan")),
        "plan",
        &["prod"],
    );
    let mut into_develop = request("/scalr plan");
    into_develop.pull_request.target_branch = "Develop".into();
    assert_allowed(&run(&settings(), &into_develop), "plan", &["staging"]);
    // Without a known default branch, a workspace without a branch is not ruled out.
    let mut unknown_default = request("/scalr plan");
    unknown_default.pull_request_ref.repository.default_branch = None;
    unknown_default.pull_request.target_branch = "release".into();
    assert_allowed(&run(&settings(), &unknown_default), "plan", &["prod"]);
}

#[test]
fn named_workspaces_must_exist_run_dry_runs_and_track_the_branch() {
    let verdict = run(&settings(), &request("/scalr plan -w prod -w prod"));
    assert_allowed(&verdict, "plan", &["prod"]);

    let verdict = run(&settings(), &request("/scalr plan -w nope"));
    assert_denied_with_reply(&verdict, "there is no workspace `nope`");
    assert!(
        verdict
            .reason
            .contains("known workspaces: `prod`, `staging`, `legacy`")
    );
    assert_eq!(verdict.workspaces, ["nope"]);

    let verdict = run(&settings(), &request("/scalr plan -w Prod"));
    assert_denied_with_reply(&verdict, "did you mean `prod`?");

    let verdict = run(&settings(), &request("/scalr plan -w legacy"));
    assert_denied_with_reply(
        &verdict,
        "workspace `legacy` does not have “Enabled VCS-driven dry runs”",
    );

    let verdict = run(&settings(), &request("/scalr plan -w staging"));
    assert_denied_with_reply(
        &verdict,
        "tracks branch `develop`, but this pull request targets `main`",
    );

    // Every problem is listed, not only the first.
    let verdict = run(
        &settings(),
        &request("/scalr apply -w nope -w legacy -w prod"),
    );
    assert_denied(&verdict, "`nope`");
    assert_denied(&verdict, "`legacy`");
}

#[test]
fn no_eligible_workspace_is_a_denial() {
    let host = FakeHost::default();
    let verdict = authorize(&host, &settings(), &[], None, &request("/scalr plan")).unwrap();
    assert_denied_with_reply(&verdict, "no workspace is linked to this repository");

    let disabled = [
        workspace("prod", false, None),
        workspace("dev", true, Some("dev")),
    ];
    let verdict = authorize(&host, &settings(), &disabled, None, &request("/scalr plan")).unwrap();
    assert_denied_with_reply(&verdict, "no workspace runs for this pull request");
    assert_denied(&verdict, "`prod` does not have");
    assert_denied(&verdict, "`dev` tracks branch `dev`");
    assert!(
        host.store.borrow().is_empty(),
        "a denial claimed the comment"
    );
}

#[test]
fn the_integrations_own_comments_never_run() {
    for bot in [BOT_ID, &BOT_ID.to_lowercase(), &format!(" {{{BOT_ID}}} ")] {
        let mut request = request("/scalr plan");
        request.comment.author = user(&bot.to_lowercase(), "scalr@contoso.com", "Scalr");
        let settings = CommandSettings {
            bot_user_id: Some(bot.to_string()),
            ..settings()
        };
        assert_denied_silently(
            &run(&settings, &request),
            "the integration wrote this comment itself",
        );
    }
    // An unset or blank bot id matches nobody.
    let settings = CommandSettings {
        bot_user_id: Some("  ".into()),
        ..settings()
    };
    let mut blank_author = request("/scalr plan");
    blank_author.comment.author.id = String::new();
    assert_allowed(&run(&settings, &blank_author), "plan", &["prod"]);
}

#[test]
fn system_deleted_and_uncommanded_comments_run_nothing_silently() {
    let mut system = request("/scalr plan");
    system.comment.system = true;
    assert_denied_silently(&run(&settings(), &system), "system comment");

    let mut deleted = request("/scalr plan");
    deleted.comment.state = CommentState::Deleted;
    assert_denied_silently(&run(&settings(), &deleted), "deleted");

    let verdict = run(&settings(), &request("Looks fine to me"));
    assert_denied_silently(&verdict, "no line of the comment starts with `/scalr`");
    assert_eq!(verdict.name, "");
}

#[test]
fn edited_comments_run_only_when_configured() {
    let mut edited = request("/scalr plan");
    edited.comment.state = CommentState::Edited;
    assert_denied_with_reply(&run(&settings(), &edited), "edited");
    let settings = CommandSettings {
        run_edited_comments: true,
        ..settings()
    };
    assert_allowed(&run(&settings, &edited), "plan", &["prod"]);
}

#[test]
fn only_open_pull_requests_run_commands() {
    for (status, fragment) in [
        (PullRequestStatus::Closed, "the pull request is closed"),
        (
            PullRequestStatus::Merged,
            "the pull request is already merged",
        ),
    ] {
        let mut request = request("/scalr plan");
        request.pull_request.status = status;
        assert_denied_with_reply(&run(&settings(), &request), fragment);
    }
}

#[test]
fn help_and_invalid_commands_follow_the_switches() {
    let plan_only = CommandSettings {
        allow_apply: false,
        ..settings()
    };
    let verdict = run(&plan_only, &request("/scalr help"));
    assert_allowed(&verdict, "help", &[]);
    let reply = verdict.reply.unwrap_or_default();
    assert!(
        reply.contains("`/scalr plan`") && reply.contains("`-w NAME`"),
        "{reply}"
    );
    assert!(!reply.contains("`/scalr apply`"), "{reply}");
    assert!(reply.contains(APPLY_SWITCH), "{reply}");

    let verdict = run(&plan_only, &request("/scalr aply"));
    assert_denied_with_reply(&verdict, "Did you mean `apply`?");
    assert_eq!(verdict.name, "aply");
    assert!(
        !verdict
            .reply
            .unwrap_or_default()
            .contains("- `/scalr apply`")
    );

    // Help is answered on closed pull requests too: it runs nothing.
    let mut closed = request("/scalr");
    closed.pull_request.status = PullRequestStatus::Closed;
    assert_allowed(&run(&settings(), &closed), "help", &[]);
}

#[test]
fn replies_never_read_as_commands() {
    for (allow_plan, allow_apply) in [(false, false), (true, false), (false, true), (true, true)] {
        let settings = CommandSettings {
            allow_plan,
            allow_apply,
            ..settings()
        };
        for body in [
            "/scalr help",
            "/scalr paln",
            "/scalr /scalr plan",
            "/scalr plan /scalr",
            "/scalr plan -w /scalr -x",
            "/scalr plan -w \"/scalr",
            "/scalr apply -w /scalr",
            "/scalr apply -w nope",
            "/scalr plan\n/scalr plan",
        ] {
            let verdict = run(&settings, &request(body));
            let reply = verdict.reply.unwrap_or_default();
            assert!(!reply.is_empty(), "{body:?} got no reply");
            assert_eq!(
                parse_body(&reply, "/scalr").unwrap(),
                Parsed::None,
                "{reply}"
            );
        }
    }
}

#[test]
fn a_comment_runs_once_even_when_delivered_again() {
    let host = FakeHost::default();
    let first = authorize(
        &host,
        &settings(),
        &workspaces(),
        None,
        &request("/scalr plan"),
    )
    .unwrap();
    assert_allowed(&first, "plan", &["prod"]);
    assert!(
        host.store.borrow().contains_key("command:123456:42:-:1"),
        "{:?}",
        host.store.borrow().keys().collect::<Vec<_>>()
    );
    let again = authorize(
        &host,
        &settings(),
        &workspaces(),
        None,
        &request("/scalr plan"),
    )
    .unwrap();
    assert_denied_silently(&again, "this comment already ran");

    // The same comment id in another thread is another comment.
    let mut other_thread = request("/scalr plan");
    other_thread.comment.thread_id = Some("8".into());
    let verdict = authorize(&host, &settings(), &workspaces(), None, &other_thread).unwrap();
    assert_allowed(&verdict, "plan", &["prod"]);

    // Help is answered once too.
    let mut help = request("/scalr help");
    help.comment.id = "2".into();
    assert_allowed(
        &authorize(&host, &settings(), &workspaces(), None, &help).unwrap(),
        "help",
        &[],
    );
    assert_denied_silently(
        &authorize(&host, &settings(), &workspaces(), None, &help).unwrap(),
        "already ran",
    );
}

#[test]
fn the_allowlist_matches_the_comment_author_not_the_pull_request_author() {
    let listed = |entries: &[&str]| CommandSettings {
        allowed_users: entries.iter().map(|e| e.to_string()).collect(),
        ..settings()
    };
    // The pull request's author (Norma) is listed, the commenter (Jamal) is not.
    let verdict = run(&listed(&["norma@contoso.com"]), &request("/scalr plan"));
    assert_denied_with_reply(
        &verdict,
        "`Jamal Hartnett` is not on the integration's list",
    );

    for entry in [
        "JAMAL@contoso.com",
        &AUTHOR_ID.to_uppercase(),
        &format!("{{{AUTHOR_ID}}}"),
    ] {
        let verdict = run(&listed(&["someone@else", entry]), &request("/scalr apply"));
        assert_allowed(&verdict, "apply", &["prod"]);
    }
    // A list of blanks lets nobody in rather than everybody.
    assert_denied(
        &run(&listed(&[" "]), &request("/scalr plan")),
        "not on the integration's list",
    );
}

fn apply_rules(approval: bool, mergeable: bool) -> CommandSettings {
    CommandSettings {
        require_approval_for_apply: approval,
        require_mergeable_for_apply: mergeable,
        ..settings()
    }
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
            &request("/scalr apply"),
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
        &request("/scalr apply"),
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
        &request("/scalr plan"),
    )
    .unwrap();
    assert_allowed(&verdict, "plan", &["prod"]);
    assert!(host.requests.borrow().is_empty());
}

#[test]
fn apply_rules_without_a_connection_are_denied() {
    let verdict = run(&apply_rules(false, true), &request("/scalr apply"));
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
            &request("/scalr apply"),
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
        &request("/scalr apply"),
    )
    .unwrap_err();
    assert!(
        matches!(err, ProviderError::Forbidden(ref m) if m.contains("Resource not accessible")),
        "{err:?}"
    );
    assert!(host.store.borrow().is_empty());
}

#[test]
fn an_unusable_prefix_in_the_settings_is_an_error() {
    let settings = CommandSettings {
        prefix: " ".into(),
        ..settings()
    };
    let err = authorize(
        &FakeHost::default(),
        &settings,
        &workspaces(),
        None,
        &request("/scalr plan"),
    )
    .unwrap_err();
    assert!(matches!(err, ProviderError::InvalidConfig(_)), "{err:?}");
}

// ---------------------------------------------------------------------------------------
// No input panics.

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Pieces that exercise the parser's corners when glued together.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("/scalr".to_string()),
            Just("plan".to_string()),
            Just("apply".to_string()),
            Just("-w".to_string()),
            Just("--workspace=".to_string()),
            Just("\"".to_string()),
            Just("'".to_string()),
            Just("\u{201C}".to_string()),
            Just("`".to_string()),
            Just("```".to_string()),
            Just("~~~".to_string()),
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            Just(" ".to_string()),
            Just(">".to_string()),
            Just("&".to_string()),
            Just("&#".to_string()),
            Just("&#x1F600;".to_string()),
            Just("&#1114112;".to_string()),
            Just("İ".to_string()),
            any::<String>(),
        ]
    }

    proptest! {
        #[test]
        fn parse_never_panics(body in any::<String>(), prefix in any::<String>()) {
            let _ = parse(&body, &prefix);
        }

        #[test]
        fn parse_never_panics_on_command_like_text(pieces in proptest::collection::vec(piece(), 0..24)) {
            let body = pieces.concat();
            let parsed = parse(&body, "/scalr");
            prop_assert!(parsed.is_ok());
            if let Ok(ParsedCommand::Invalid(invalid)) = parsed {
                prop_assert!(!invalid.reply.is_empty());
            }
        }

        #[test]
        fn authorize_never_panics(pieces in proptest::collection::vec(piece(), 0..16), prefix in piece()) {
            let settings = CommandSettings { prefix, ..settings() };
            let _ = authorize(&FakeHost::default(), &settings, &workspaces(), None, &request(&pieces.concat()));
        }
    }
}
