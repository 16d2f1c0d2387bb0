//! Shared test suites and fixtures for providers' unit tests (the `test-support`
//! feature): a provider runs each suite once, through its own [`Provider`]
//! implementation, with a macro that writes the `#[test]` functions:
//!
//! ```ignore
//! impl provider_kit::testing::CommandFixture for crate::Forge { /* its repository */ }
//! provider_kit::command_suite!(crate::Forge);
//! ```
//!
//! - [`commands`] and [`command_suite!`](crate::command_suite): the command grammar
//!   table, every authorization rule the kit decides, and property tests that no input
//!   panics `parse` or `authorize`;
//! - [`comments`] and [`render_suite!`](crate::render_suite): the report's records
//!   reaching the shared renderer, and the provider's own limit;
//! - [`webhooks`]: the body checks of deliveries, worded for the provider;
//! - [`fixtures`]: records most tests build (connections, settings, reports), and the
//!   requests a [`FakeHost`] saw;
//! - [`manifest_agrees_with_the_provider`]: the provider manifest the host reads says
//!   what the provider's constants say.
//!
//! Test code: it unwraps, indexes and panics, like the tests it serves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::Provider;
use crate::fake::FakeHost;

/// Check that a provider manifest (`provider.toml`, the `NAME.toml` the host reads beside
/// a 0.1.0 component) agrees with `P`'s constants: `name`, `display_name` and
/// `max_delivery_bytes`, each of which the manifest must state. The manifest is read
/// line by line (`key = value`, `#` comments), which is all these keys need.
pub fn manifest_agrees_with_the_provider<P: Provider>(manifest: &str) {
    let value = |key: &str| -> String {
        manifest
            .lines()
            .map(|line| line.split('#').next().unwrap_or_default())
            .filter_map(|line| line.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
            .unwrap_or_else(|| panic!("the manifest does not state `{key}`"))
    };
    assert_eq!(value("name"), P::NAME, "name");
    assert_eq!(value("display_name"), P::DISPLAY_NAME, "display_name");
    assert_eq!(
        value("max_delivery_bytes").parse::<usize>().ok(),
        Some(P::MAX_DELIVERY_BYTES),
        "max_delivery_bytes"
    );
}

/// Re-exported for [`command_suite!`](crate::command_suite)'s property tests.
#[doc(hidden)]
pub use proptest;

/// The command grammar and authorization rules, run through a provider's `parse` and
/// `authorize`: see [`command_suite!`](crate::command_suite).
pub mod commands {
    use super::*;
    use crate::command_parser::{self as parser, Parsed};
    use crate::commands::{CommandRequest, ParsedCommand};
    use crate::reply::APPLY_SWITCH;
    use crate::types::{
        CommandSettings, ProviderError, PullRequestRef, Repository, User, Workspace,
    };
    use crate::webhooks::{
        CommandVerdict, Comment, CommentState, Decision, PullRequest, PullRequestStatus,
    };
    use proptest::prelude::*;

    /// What the shared command tests need of a provider: where the test comment lives.
    pub trait CommandFixture: Provider {
        /// The repository of the test pull request (number 42); its id keys the claim.
        fn repository() -> Repository;
        /// The thread of the test comment (id `1`), where the platform has threads.
        fn thread_id() -> Option<String>;
        /// The storage key the test comment is claimed under once it ran.
        const CLAIM_KEY: &'static str;
    }

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
    const PARSE_CASES_JSON: &str = include_str!("../tests/fixtures/commands/parse-cases.json");

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
                    "invalid" => {
                        Want::Invalid(case["reply_contains"].as_str().unwrap().to_string())
                    }
                    other => panic!("unknown expectation {other:?} for {body:?}"),
                };
                (body, want)
            })
            .collect()
    }

    /// Shared test: parses the table of comment bodies.
    pub fn parses_the_table_of_comment_bodies<P: CommandFixture>() {
        let cases = parse_cases();
        assert!(cases.len() >= 60, "{} cases", cases.len());
        for (body, want) in &cases {
            let got = parser::parse_body(body, "/scalr").unwrap();
            let public = P::parse(&FakeHost::default(), body, "/scalr").unwrap();
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

    /// Shared test: invalid commands name the word used.
    pub fn invalid_commands_name_the_word_used<P: CommandFixture>() {
        for (body, name, input) in [
            ("/scalr paln", "paln", "paln"),
            ("/scalr Destroy now", "destroy", "Destroy"),
            ("/scalr apply --force", "apply", "--force"),
            ("/scalr plan prod", "plan", "prod"),
            ("/scalr plan\n/scalr apply", "plan", "/scalr apply"),
        ] {
            match parser::parse_body(body, "/scalr").unwrap() {
                Parsed::Invalid(problem) => {
                    assert_eq!(problem.name, name, "{body:?}");
                    assert_eq!(problem.input, input, "{body:?}");
                }
                other => panic!("{body:?}: {other:?}"),
            }
        }
    }

    /// Shared test: other prefixes are whole case insensitive words.
    pub fn other_prefixes_are_whole_case_insensitive_words<P: CommandFixture>() {
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
            let got = parser::parse_body(body, prefix).unwrap();
            assert_eq!(
                got == Parsed::Plan(vec![]),
                want_plan,
                "{prefix:?} {body:?}: {got:?}"
            );
        }
    }

    /// Shared test: unusable prefixes are configuration errors.
    pub fn unusable_prefixes_are_configuration_errors<P: CommandFixture>() {
        for prefix in ["", "   ", "\n", "/scalr run", "`x`", ">x"] {
            match P::parse(&FakeHost::default(), "/scalr plan", prefix) {
                Err(ProviderError::InvalidConfig(message)) => {
                    assert!(message.contains("prefix"), "{prefix:?}: {message}");
                }
                other => panic!("{prefix:?}: {other:?}"),
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Authorization.

    /// The integration's own identity in [`settings`].
    pub const BOT_ID: &str = "5AB3F5E1-1C2D-4E5F-8A9B-0C1D2E3F4A5B";
    /// The commenter's identity id.
    pub const AUTHOR_ID: &str = "d6245f20-2af8-44f4-9451-8107cb2767db";

    /// `/scalr`, plan and apply allowed, [`BOT_ID`] as the bot, no optional rules.
    pub fn settings() -> CommandSettings {
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

    /// A workspace with VCS-driven dry runs on or off, tracking `branch`.
    pub fn workspace(name: &str, dry_runs: bool, branch: Option<&str>) -> Workspace {
        Workspace {
            name: name.into(),
            vcs_dry_runs: dry_runs,
            directory: None,
            branch: branch.map(str::to_string),
        }
    }

    /// `prod` tracks the default branch (main), `staging` tracks develop, `legacy` has dry
    /// runs off.
    pub fn workspaces() -> Vec<Workspace> {
        vec![
            workspace("prod", true, None),
            workspace("staging", true, Some("develop")),
            workspace("legacy", false, None),
        ]
    }

    /// A user with all three names.
    pub fn user(id: &str, unique_name: &str, display_name: &str) -> User {
        User {
            id: id.into(),
            unique_name: Some(unique_name.into()),
            display_name: Some(display_name.into()),
        }
    }

    /// The commenter: Jamal Hartnett, [`AUTHOR_ID`].
    pub fn author() -> User {
        user(AUTHOR_ID, "jamal@contoso.com", "Jamal Hartnett")
    }

    /// A comment by [`AUTHOR_ID`] (Jamal) with `body`, on the open pull request 42 by Norma,
    /// targeting `main`, in `P`'s [`CommandFixture::repository`].
    pub fn request<P: CommandFixture>(body: &str) -> CommandRequest {
        CommandRequest {
            comment: Comment {
                id: "1".into(),
                thread_id: P::thread_id(),
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
                repository: P::repository(),
                number: 42,
            },
        }
    }

    /// `P`'s verdict on `request` under `settings` and [`workspaces`], without a connection.
    pub fn run<P: CommandFixture>(
        settings: &CommandSettings,
        request: &CommandRequest,
    ) -> CommandVerdict {
        P::authorize(&FakeHost::default(), settings, &workspaces(), None, request).unwrap()
    }

    /// The verdict denies, with `fragment` in its reason.
    #[track_caller]
    pub fn assert_denied(verdict: &CommandVerdict, fragment: &str) {
        assert!(verdict.decision == Decision::Denied, "{verdict:?}");
        assert!(
            verdict.reason.contains(fragment),
            "{:?} lacks {fragment:?}",
            verdict.reason
        );
    }

    /// The verdict denies, with `fragment` in its reason and in its reply, which names the
    /// prefix.
    #[track_caller]
    pub fn assert_denied_with_reply(verdict: &CommandVerdict, fragment: &str) {
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

    /// The verdict denies, with `fragment` in its reason and no reply.
    #[track_caller]
    pub fn assert_denied_silently(verdict: &CommandVerdict, fragment: &str) {
        assert_denied(verdict, fragment);
        assert_eq!(verdict.reply, None, "{verdict:?}");
    }

    /// The verdict allows command `name` on `workspaces`.
    #[track_caller]
    pub fn assert_allowed(verdict: &CommandVerdict, name: &str, workspaces: &[&str]) {
        assert!(verdict.decision == Decision::Allowed, "{verdict:?}");
        assert_eq!(verdict.name, name);
        assert_eq!(verdict.workspaces, workspaces, "{verdict:?}");
    }

    /// Shared test: switch combinations decide plan and apply.
    pub fn switch_combinations_decide_plan_and_apply<P: CommandFixture>() {
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
            let verdict = run::<P>(&settings, &request::<P>(&format!("/scalr {command}")));
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

    /// Shared test: without targets the workspaces tracking the target branch run.
    pub fn without_targets_the_workspaces_tracking_the_target_branch_run<P: CommandFixture>() {
        assert_allowed(
            &run::<P>(&settings(), &request::<P>("/scalr plan")),
            "plan",
            &["prod"],
        );
        let mut into_develop = request::<P>("/scalr plan");
        into_develop.pull_request.target_branch = "Develop".into();
        assert_allowed(&run::<P>(&settings(), &into_develop), "plan", &["staging"]);
        // Without a known default branch, a workspace without a branch is not ruled out.
        let mut unknown_default = request::<P>("/scalr plan");
        unknown_default.pull_request_ref.repository.default_branch = None;
        unknown_default.pull_request.target_branch = "release".into();
        assert_allowed(&run::<P>(&settings(), &unknown_default), "plan", &["prod"]);
    }

    /// Shared test: named workspaces must exist run dry runs and track the branch.
    pub fn named_workspaces_must_exist_run_dry_runs_and_track_the_branch<P: CommandFixture>() {
        let verdict = run::<P>(&settings(), &request::<P>("/scalr plan -w prod -w prod"));
        assert_allowed(&verdict, "plan", &["prod"]);

        let verdict = run::<P>(&settings(), &request::<P>("/scalr plan -w nope"));
        assert_denied_with_reply(&verdict, "there is no workspace `nope`");
        assert!(
            verdict
                .reason
                .contains("known workspaces: `prod`, `staging`, `legacy`")
        );
        assert_eq!(verdict.workspaces, ["nope"]);

        let verdict = run::<P>(&settings(), &request::<P>("/scalr plan -w Prod"));
        assert_denied_with_reply(&verdict, "did you mean `prod`?");

        let verdict = run::<P>(&settings(), &request::<P>("/scalr plan -w legacy"));
        assert_denied_with_reply(
            &verdict,
            "workspace `legacy` does not have “Enabled VCS-driven dry runs”",
        );

        let verdict = run::<P>(&settings(), &request::<P>("/scalr plan -w staging"));
        assert_denied_with_reply(
            &verdict,
            "tracks branch `develop`, but this pull request targets `main`",
        );

        // Every problem is listed, not only the first.
        let verdict = run::<P>(
            &settings(),
            &request::<P>("/scalr apply -w nope -w legacy -w prod"),
        );
        assert_denied(&verdict, "`nope`");
        assert_denied(&verdict, "`legacy`");
    }

    /// Shared test: no eligible workspace is a denial.
    pub fn no_eligible_workspace_is_a_denial<P: CommandFixture>() {
        let host = FakeHost::default();
        let verdict =
            P::authorize(&host, &settings(), &[], None, &request::<P>("/scalr plan")).unwrap();
        assert_denied_with_reply(&verdict, "no workspace is linked to this repository");

        let disabled = [
            workspace("prod", false, None),
            workspace("dev", true, Some("dev")),
        ];
        let verdict = P::authorize(
            &host,
            &settings(),
            &disabled,
            None,
            &request::<P>("/scalr plan"),
        )
        .unwrap();
        assert_denied_with_reply(&verdict, "no workspace runs for this pull request");
        assert_denied(&verdict, "`prod` does not have");
        assert_denied(&verdict, "`dev` tracks branch `dev`");
        assert!(
            host.store.borrow().is_empty(),
            "a denial claimed the comment"
        );
    }

    /// Shared test: the integrations own comments never run.
    pub fn the_integrations_own_comments_never_run<P: CommandFixture>() {
        for bot in [BOT_ID, &BOT_ID.to_lowercase(), &format!(" {{{BOT_ID}}} ")] {
            let mut request = request::<P>("/scalr plan");
            request.comment.author = user(&bot.to_lowercase(), "scalr@contoso.com", "Scalr");
            let settings = CommandSettings {
                bot_user_id: Some(bot.to_string()),
                ..settings()
            };
            assert_denied_silently(
                &run::<P>(&settings, &request),
                "the integration wrote this comment itself",
            );
        }
        // An unset or blank bot id matches nobody.
        let settings = CommandSettings {
            bot_user_id: Some("  ".into()),
            ..settings()
        };
        let mut blank_author = request::<P>("/scalr plan");
        blank_author.comment.author.id = String::new();
        assert_allowed(&run::<P>(&settings, &blank_author), "plan", &["prod"]);
    }

    /// Shared test: system deleted and uncommanded comments run nothing silently.
    pub fn system_deleted_and_uncommanded_comments_run_nothing_silently<P: CommandFixture>() {
        let mut system = request::<P>("/scalr plan");
        system.comment.system = true;
        assert_denied_silently(&run::<P>(&settings(), &system), "system comment");

        let mut deleted = request::<P>("/scalr plan");
        deleted.comment.state = CommentState::Deleted;
        assert_denied_silently(&run::<P>(&settings(), &deleted), "deleted");

        let verdict = run::<P>(&settings(), &request::<P>("Looks fine to me"));
        assert_denied_silently(&verdict, "no line of the comment starts with `/scalr`");
        assert_eq!(verdict.name, "");
    }

    /// Shared test: edited comments run only when configured.
    pub fn edited_comments_run_only_when_configured<P: CommandFixture>() {
        let mut edited = request::<P>("/scalr plan");
        edited.comment.state = CommentState::Edited;
        assert_denied_with_reply(&run::<P>(&settings(), &edited), "edited");
        let settings = CommandSettings {
            run_edited_comments: true,
            ..settings()
        };
        assert_allowed(&run::<P>(&settings, &edited), "plan", &["prod"]);
    }

    /// Shared test: only open pull requests run commands.
    pub fn only_open_pull_requests_run_commands<P: CommandFixture>() {
        for (status, fragment) in [
            (PullRequestStatus::Closed, "the pull request is closed"),
            (
                PullRequestStatus::Merged,
                "the pull request is already merged",
            ),
        ] {
            let mut request = request::<P>("/scalr plan");
            request.pull_request.status = status;
            assert_denied_with_reply(&run::<P>(&settings(), &request), fragment);
        }
    }

    /// Shared test: help and invalid commands follow the switches.
    pub fn help_and_invalid_commands_follow_the_switches<P: CommandFixture>() {
        let plan_only = CommandSettings {
            allow_apply: false,
            ..settings()
        };
        let verdict = run::<P>(&plan_only, &request::<P>("/scalr help"));
        assert_allowed(&verdict, "help", &[]);
        let reply = verdict.reply.unwrap_or_default();
        assert!(
            reply.contains("`/scalr plan`") && reply.contains("`-w NAME`"),
            "{reply}"
        );
        assert!(!reply.contains("`/scalr apply`"), "{reply}");
        assert!(reply.contains(APPLY_SWITCH), "{reply}");

        let verdict = run::<P>(&plan_only, &request::<P>("/scalr aply"));
        assert_denied_with_reply(&verdict, "Did you mean `apply`?");
        assert_eq!(verdict.name, "aply");
        assert!(
            !verdict
                .reply
                .unwrap_or_default()
                .contains("- `/scalr apply`")
        );

        // Help is answered on closed pull requests too: it runs nothing.
        let mut closed = request::<P>("/scalr");
        closed.pull_request.status = PullRequestStatus::Closed;
        assert_allowed(&run::<P>(&settings(), &closed), "help", &[]);
    }

    /// Shared test: replies never read as commands.
    pub fn replies_never_read_as_commands<P: CommandFixture>() {
        for (allow_plan, allow_apply) in
            [(false, false), (true, false), (false, true), (true, true)]
        {
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
                let verdict = run::<P>(&settings, &request::<P>(body));
                let reply = verdict.reply.unwrap_or_default();
                assert!(!reply.is_empty(), "{body:?} got no reply");
                assert_eq!(
                    parser::parse_body(&reply, "/scalr").unwrap(),
                    Parsed::None,
                    "{reply}"
                );
            }
        }
    }

    /// Shared test: a comment runs once even when delivered again.
    pub fn a_comment_runs_once_even_when_delivered_again<P: CommandFixture>() {
        let host = FakeHost::default();
        let first = P::authorize(
            &host,
            &settings(),
            &workspaces(),
            None,
            &request::<P>("/scalr plan"),
        )
        .unwrap();
        assert_allowed(&first, "plan", &["prod"]);
        assert!(
            host.store.borrow().contains_key(P::CLAIM_KEY),
            "{:?}",
            host.store.borrow().keys().collect::<Vec<_>>()
        );
        let again = P::authorize(
            &host,
            &settings(),
            &workspaces(),
            None,
            &request::<P>("/scalr plan"),
        )
        .unwrap();
        assert_denied_silently(&again, "this comment already ran");

        // The same comment id in another thread is another comment.
        let mut other_thread = request::<P>("/scalr plan");
        other_thread.comment.thread_id = Some("8".into());
        let verdict = P::authorize(&host, &settings(), &workspaces(), None, &other_thread).unwrap();
        assert_allowed(&verdict, "plan", &["prod"]);

        // Help is answered once too.
        let mut help = request::<P>("/scalr help");
        help.comment.id = "2".into();
        assert_allowed(
            &P::authorize(&host, &settings(), &workspaces(), None, &help).unwrap(),
            "help",
            &[],
        );
        assert_denied_silently(
            &P::authorize(&host, &settings(), &workspaces(), None, &help).unwrap(),
            "already ran",
        );
    }

    /// Shared test: the allowlist matches the comment author not the pull request author.
    pub fn the_allowlist_matches_the_comment_author_not_the_pull_request_author<
        P: CommandFixture,
    >() {
        let listed = |entries: &[&str]| CommandSettings {
            allowed_users: entries.iter().map(|e| e.to_string()).collect(),
            ..settings()
        };
        // The pull request's author (Norma) is listed, the commenter (Jamal) is not.
        let verdict = run::<P>(
            &listed(&["norma@contoso.com"]),
            &request::<P>("/scalr plan"),
        );
        assert_denied_with_reply(
            &verdict,
            "`Jamal Hartnett` is not on the integration's list",
        );

        for entry in [
            "JAMAL@contoso.com",
            &AUTHOR_ID.to_uppercase(),
            &format!("{{{AUTHOR_ID}}}"),
        ] {
            let verdict = run::<P>(
                &listed(&["someone@else", entry]),
                &request::<P>("/scalr apply"),
            );
            assert_allowed(&verdict, "apply", &["prod"]);
        }
        // A list of blanks lets nobody in rather than everybody.
        assert_denied(
            &run::<P>(&listed(&[" "]), &request::<P>("/scalr plan")),
            "not on the integration's list",
        );
    }

    /// [`settings`] with the optional apply rules switched as given.
    pub fn apply_rules(approval: bool, mergeable: bool) -> CommandSettings {
        CommandSettings {
            require_approval_for_apply: approval,
            require_mergeable_for_apply: mergeable,
            ..settings()
        }
    }

    /// Shared test: an unusable prefix in the settings is an error.
    pub fn an_unusable_prefix_in_the_settings_is_an_error<P: CommandFixture>() {
        let settings = CommandSettings {
            prefix: " ".into(),
            ..settings()
        };
        let err = P::authorize(
            &FakeHost::default(),
            &settings,
            &workspaces(),
            None,
            &request::<P>("/scalr plan"),
        )
        .unwrap_err();
        assert!(matches!(err, ProviderError::InvalidConfig(_)), "{err:?}");
    }

    /// Pieces that exercise the parser's corners when glued together.
    pub fn piece() -> impl Strategy<Value = String> {
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
}

/// The shared renderer behind a provider's `render`: see
/// [`render_suite!`](crate::render_suite).
pub mod comments {
    use super::*;
    use crate::comments::{RenderOptions, RunKind, RunReport, RunStatus, WorkspaceReport};
    use crate::types::{CommandSettings, ProviderError};
    use crate::views::workspace_set_hash;

    /// One workspace's result with `counts` = add, change, destroy, import.
    pub fn workspace(
        name: &str,
        status: RunStatus,
        counts: [u32; 4],
        output: &str,
    ) -> WorkspaceReport {
        WorkspaceReport {
            name: name.into(),
            status,
            add: counts[0],
            change: counts[1],
            destroy: counts[2],
            import: counts[3],
            output: output.into(),
        }
    }

    /// A report of run `run-1` with a run URL and no head.
    pub fn report(kind: RunKind, workspaces: Vec<WorkspaceReport>) -> RunReport {
        RunReport {
            kind,
            run_url: Some("https://scalr.example/runs/run-1".into()),
            run_id: Some("run-1".into()),
            head_sha: None,
            workspaces,
        }
    }

    /// The length of `text` as `P` counts it (measured here, not by the kit's splitter).
    pub fn length<P: Provider>(text: &str) -> usize {
        match P::COMMENT_LIMIT.unit {
            crate::comments::LengthUnit::Utf16CodeUnits => text.encode_utf16().count(),
            crate::comments::LengthUnit::UnicodeScalars => text.chars().count(),
            crate::comments::LengthUnit::Utf8Bytes => text.len(),
        }
    }

    /// Shared test: every field of the WIT records reaches the shared renderer.
    pub fn the_records_reach_the_shared_renderer<P: Provider>() {
        let report = report(
            RunKind::Apply,
            vec![
                workspace("prod", RunStatus::Success, [1, 2, 3, 4], "out-prod\n"),
                workspace("stage", RunStatus::NoChanges, [0; 4], "out-stage\n"),
                workspace("dev", RunStatus::Failed, [0; 4], "Error: boom\n"),
                workspace("qa", RunStatus::Errored, [0; 4], "pool down\n"),
            ],
        );
        let settings = CommandSettings {
            prefix: "/scalr".into(),
            allow_plan: true,
            allow_apply: false,
            bot_user_id: None,
            run_edited_comments: false,
            allowed_users: vec![],
            require_approval_for_apply: false,
            require_mergeable_for_apply: false,
        };
        let options = RenderOptions {
            max_length: None,
            commands: Some(settings),
        };
        let parts = P::render(&FakeHost::default(), &report, &options).unwrap();
        assert_eq!(parts.len(), 1);
        let body = &parts[0];
        assert!(body.starts_with(&format!(
            "<!-- scalr:run workspace-set={} part=1/1 -->\n",
            workspace_set_hash(&report)
        )));
        for expected in [
            "### ❌ Terraform apply of 4 workspaces: 4 imported, 1 added, 2 changed, 3 destroyed; 1 failed; 1 errored\n",
            "| <code>stage</code> | ✅ no changes |\n",
            "| <code>qa</code> | ⚠️ errored (the platform could not run it) |\n",
            "- <code>dev</code>: Error&#58; boom\n- <code>qa</code>: pool down\n",
            "\n[Open the run](https://scalr.example/runs/run-1)\n",
            "out-prod\n",
            "out-stage\n",
            "<sub>Comment <code>/scalr plan</code> to plan again.</sub>\n",
        ] {
            assert!(body.contains(expected), "{expected:?} missing:\n{body}");
        }
    }

    /// Shared test: `limits` answers `max_length`, `render` refuses a limit too small to
    /// hold the summary (the message counts in `unit_words` and names `P`'s limit), and a
    /// larger limit is capped to `P`'s own, which 30,000 lines of output fill `big_parts`
    /// times.
    pub fn limits_are_the_providers_own_and_errors_are_provider_errors<P: Provider>(
        max_length: u32,
        unit_words: &str,
        big_parts: usize,
    ) {
        let host = FakeHost::default();
        let options = |max_length| RenderOptions {
            max_length,
            commands: None,
        };
        let empty = report(RunKind::Plan, vec![]);
        assert!(matches!(
            P::render(&host, &empty, &options(None)),
            Err(ProviderError::InvalidPayload(_))
        ));
        let small = report(
            RunKind::Plan,
            vec![workspace("w", RunStatus::Success, [1, 0, 0, 0], "x\n")],
        );
        let Err(ProviderError::InvalidConfig(message)) =
            P::render(&host, &small, &options(Some(10)))
        else {
            panic!("a limit of 10 is refused")
        };
        assert!(
            message.contains(&format!("{unit_words} for its summary"))
                && message.ends_with(&format!("{} limit of {max_length}", P::POSSESSIVE)),
            "{message}"
        );
        // A larger limit is capped to the provider's own.
        let output = "+ resource\n".repeat(30_000);
        let big = report(
            RunKind::Plan,
            vec![workspace("w", RunStatus::Success, [1, 0, 0, 0], &output)],
        );
        let parts = P::render(&host, &big, &options(Some(u32::MAX))).unwrap();
        assert_eq!(parts.len(), big_parts);
        for part in &parts {
            assert!(length::<P>(part) <= max_length as usize);
        }
        assert_eq!(P::limits(&host).max_length, max_length);
    }
}

/// Write the shared rendering tests ([`comments`]) as `#[test]` functions of the current
/// module: `provider_kit::render_suite!(crate::Forge, max_length = 65_536, unit = "characters", big_parts = 6);`
/// (the limit, the unit as messages name it, and how many parts a 330 KB output takes).
#[macro_export]
macro_rules! render_suite {
    ($provider:ty, max_length = $max:expr, unit = $unit:expr, big_parts = $parts:expr) => {
        #[test]
        fn the_records_reach_the_shared_renderer() {
            $crate::testing::comments::the_records_reach_the_shared_renderer::<$provider>()
        }
        #[test]
        fn limits_are_the_providers_own_and_errors_are_provider_errors() {
            $crate::testing::comments::limits_are_the_providers_own_and_errors_are_provider_errors::<
                $provider,
            >($max, $unit, $parts)
        }
    };
}

/// Checks of webhook deliveries every provider makes alike.
pub mod webhooks {
    use super::*;
    use crate::json::Node;
    use crate::types::ProviderError;
    use crate::views::parse_delivery_body;

    /// The message of an `invalid-payload` error.
    pub fn payload_message(err: ProviderError) -> String {
        match err {
            ProviderError::InvalidPayload(message) => message,
            other => panic!("not invalid-payload: {other:?}"),
        }
    }

    /// Shared test: delivery bodies too deep, too large or empty are refused with `P`'s
    /// wording (`deep`, `large`, `empty`: the messages expected), and shape errors name
    /// their path.
    pub fn bodies_are_checked_with_the_providers_wording<P: Provider>(
        deep: &str,
        large: &str,
        empty: &str,
    ) {
        let nested = format!("{}{}", "[".repeat(65), "]".repeat(65));
        let err = parse_delivery_body::<P>(nested.as_bytes()).unwrap_err();
        assert_eq!(payload_message(err), deep);
        let big = vec![b' '; P::MAX_DELIVERY_BYTES + 1];
        let err = parse_delivery_body::<P>(&big).unwrap_err();
        assert_eq!(payload_message(err), large);
        let err = parse_delivery_body::<P>(b"").unwrap_err();
        assert_eq!(payload_message(err), empty);
        let value = parse_delivery_body::<P>(br#"{"resource":{"number":"7"}}"#).unwrap();
        let err: ProviderError = Node::root(&value)
            .req_obj("resource")
            .and_then(|resource| resource.req("number")?.u64())
            .unwrap_err()
            .into();
        assert_eq!(
            payload_message(err),
            "resource.number must be a number, found string"
        );
    }
}

/// Records most provider tests build, and what a [`FakeHost`] was asked.
pub mod fixtures {
    use super::*;
    use crate::comments::{
        PublishOptions, RenderOptions, RunKind, RunReport, RunStatus, WorkspaceReport,
    };
    use crate::host::Method;
    use crate::types::{
        CommandSettings, Connection, Credential, IntegrationSettings, Repository, Workspace,
    };
    use serde_json::Value;

    /// A connection to `base_url` with personal access token `token`.
    pub fn connection(base_url: &str, token: &str) -> Connection {
        Connection {
            base_url: base_url.into(),
            credential: Credential::PersonalAccessToken(token.into()),
            options: vec![],
        }
    }

    /// Repository `name` of `organization` (also its project) under `api_url`, with
    /// `main` as its default branch and no URLs or project id: set what a test needs.
    pub fn repository(id: &str, name: &str, organization: &str, api_url: &str) -> Repository {
        Repository {
            id: id.into(),
            name: name.into(),
            project: Some(organization.into()),
            project_id: None,
            organization: organization.into(),
            web_url: None,
            clone_url: None,
            api_url: api_url.into(),
            default_branch: Some("main".into()),
        }
    }

    /// The one workspace `prod`, dry runs on, tracking the default branch.
    pub fn prod_workspace() -> Vec<Workspace> {
        vec![Workspace {
            name: "prod".into(),
            vcs_dry_runs: true,
            directory: None,
            branch: None,
        }]
    }

    /// Integration `id` at `base_url`: `/scalr` commands (plan allowed, apply as given,
    /// `bot` as the integration's identity, no optional rules) on [`prod_workspace`].
    pub fn integration_settings(
        id: &str,
        base_url: &str,
        bot: &str,
        allow_apply: bool,
    ) -> IntegrationSettings {
        IntegrationSettings {
            id: id.into(),
            base_url: base_url.into(),
            commands: CommandSettings {
                prefix: "/scalr".into(),
                allow_plan: true,
                allow_apply,
                bot_user_id: Some(bot.into()),
                run_edited_comments: false,
                allowed_users: vec![],
                require_approval_for_apply: false,
                require_mergeable_for_apply: false,
            },
            workspaces: prod_workspace(),
            options: vec![],
        }
    }

    /// A report of run `run` on head `head` repeated 40 times: workspace `prod`,
    /// succeeded with one resource to add and `output`.
    pub fn run_report(kind: RunKind, head: char, run: &str, output: &str) -> RunReport {
        RunReport {
            kind,
            run_url: Some(format!("https://scalr.example/runs/{run}")),
            run_id: Some(run.into()),
            head_sha: Some(head.to_string().repeat(40)),
            workspaces: vec![WorkspaceReport {
                name: "prod".into(),
                status: RunStatus::Success,
                add: 1,
                change: 0,
                destroy: 0,
                import: 0,
                output: output.into(),
            }],
        }
    }

    /// Comments on, apply summaries on, one comment across heads, default rendering.
    pub fn publish_options() -> PublishOptions {
        PublishOptions {
            comments_enabled: true,
            apply_summary: true,
            new_comment_per_head: false,
            render: RenderOptions {
                max_length: None,
                commands: None,
            },
            options: vec![],
        }
    }

    /// Publish options with a 1,000-unit limit, and a plan that `render` (the
    /// provider's `comments.render`) splits into exactly three parts: for the tests of
    /// parts a later, shorter report no longer needs.
    pub fn three_part_plan(
        render: impl Fn(&RunReport, &RenderOptions) -> crate::error::Result<Vec<String>>,
    ) -> (PublishOptions, RunReport) {
        let small = PublishOptions {
            render: RenderOptions {
                max_length: Some(1000),
                commands: None,
            },
            ..publish_options()
        };
        for lines in 20..200 {
            let long: String = (0..lines)
                .map(|i| format!("  + resource number {i:>4}\n"))
                .collect();
            let plan = run_report(RunKind::Plan, 'a', "run-1", &long);
            if render(&plan, &small.render).unwrap().len() == 3 {
                return (small, plan);
            }
        }
        panic!("no output length gives three parts")
    }

    /// Method, URL and JSON body (`null` without one) of every request sent so far, then
    /// forget them.
    pub fn sent(host: &FakeHost) -> Vec<(Method, String, Value)> {
        host.requests
            .borrow_mut()
            .drain(..)
            .map(|r| {
                let body = r
                    .body
                    .as_deref()
                    .map(|b| serde_json::from_slice(b).unwrap())
                    .unwrap_or(Value::Null);
                (r.method, r.url, body)
            })
            .collect()
    }
}

/// Write the shared command tests ([`commands`]) as `#[test]` functions of the current
/// module, for a provider that implements [`commands::CommandFixture`]:
/// `provider_kit::command_suite!(crate::Forge);`. The enclosing crate needs `proptest`
/// among its dev-dependencies.
#[macro_export]
macro_rules! command_suite {
    ($provider:ty) => {
        #[test]
        fn parses_the_table_of_comment_bodies() {
            $crate::testing::commands::parses_the_table_of_comment_bodies::<$provider>()
        }
        #[test]
        fn invalid_commands_name_the_word_used() {
            $crate::testing::commands::invalid_commands_name_the_word_used::<$provider>()
        }
        #[test]
        fn other_prefixes_are_whole_case_insensitive_words() {
            $crate::testing::commands::other_prefixes_are_whole_case_insensitive_words::<$provider>()
        }
        #[test]
        fn unusable_prefixes_are_configuration_errors() {
            $crate::testing::commands::unusable_prefixes_are_configuration_errors::<$provider>()
        }
        #[test]
        fn switch_combinations_decide_plan_and_apply() {
            $crate::testing::commands::switch_combinations_decide_plan_and_apply::<$provider>()
        }
        #[test]
        fn without_targets_the_workspaces_tracking_the_target_branch_run() {
            $crate::testing::commands::without_targets_the_workspaces_tracking_the_target_branch_run::<$provider>()
        }
        #[test]
        fn named_workspaces_must_exist_run_dry_runs_and_track_the_branch() {
            $crate::testing::commands::named_workspaces_must_exist_run_dry_runs_and_track_the_branch::<$provider>()
        }
        #[test]
        fn no_eligible_workspace_is_a_denial() {
            $crate::testing::commands::no_eligible_workspace_is_a_denial::<$provider>()
        }
        #[test]
        fn the_integrations_own_comments_never_run() {
            $crate::testing::commands::the_integrations_own_comments_never_run::<$provider>()
        }
        #[test]
        fn system_deleted_and_uncommanded_comments_run_nothing_silently() {
            $crate::testing::commands::system_deleted_and_uncommanded_comments_run_nothing_silently::<$provider>()
        }
        #[test]
        fn edited_comments_run_only_when_configured() {
            $crate::testing::commands::edited_comments_run_only_when_configured::<$provider>()
        }
        #[test]
        fn only_open_pull_requests_run_commands() {
            $crate::testing::commands::only_open_pull_requests_run_commands::<$provider>()
        }
        #[test]
        fn help_and_invalid_commands_follow_the_switches() {
            $crate::testing::commands::help_and_invalid_commands_follow_the_switches::<$provider>()
        }
        #[test]
        fn replies_never_read_as_commands() {
            $crate::testing::commands::replies_never_read_as_commands::<$provider>()
        }
        #[test]
        fn a_comment_runs_once_even_when_delivered_again() {
            $crate::testing::commands::a_comment_runs_once_even_when_delivered_again::<$provider>()
        }
        #[test]
        fn the_allowlist_matches_the_comment_author_not_the_pull_request_author() {
            $crate::testing::commands::the_allowlist_matches_the_comment_author_not_the_pull_request_author::<$provider>()
        }
        #[test]
        fn an_unusable_prefix_in_the_settings_is_an_error() {
            $crate::testing::commands::an_unusable_prefix_in_the_settings_is_an_error::<$provider>()
        }

        $crate::testing::proptest::proptest! {
            #[test]
            fn parse_never_panics(body in $crate::testing::proptest::prelude::any::<String>(), prefix in $crate::testing::proptest::prelude::any::<String>()) {
                let host = $crate::fake::FakeHost::default();
                let _ = <$provider as $crate::Provider>::parse(&host, &body, &prefix);
            }

            #[test]
            fn parse_never_panics_on_command_like_text(pieces in $crate::testing::proptest::collection::vec($crate::testing::commands::piece(), 0..24)) {
                let body = pieces.concat();
                let host = $crate::fake::FakeHost::default();
                let parsed = <$provider as $crate::Provider>::parse(&host, &body, "/scalr");
                $crate::testing::proptest::prop_assert!(parsed.is_ok());
                if let Ok($crate::commands::ParsedCommand::Invalid(invalid)) = parsed {
                    $crate::testing::proptest::prop_assert!(!invalid.reply.is_empty());
                }
            }

            #[test]
            fn authorize_never_panics(pieces in $crate::testing::proptest::collection::vec($crate::testing::commands::piece(), 0..16), prefix in $crate::testing::commands::piece()) {
                let settings = $crate::types::CommandSettings { prefix, ..$crate::testing::commands::settings() };
                let _ = <$provider as $crate::Provider>::authorize(
                    &$crate::fake::FakeHost::default(),
                    &settings,
                    &$crate::testing::commands::workspaces(),
                    None,
                    &$crate::testing::commands::request::<$provider>(&pieces.concat()),
                );
            }
        }
    };
}
