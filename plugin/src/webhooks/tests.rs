//! Tests of the whole `webhooks` interface against the delivery corpus in
//! `tests/fixtures/deliveries/`, plus sequences, deduplication, changed files and
//! robustness against mangled input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::changes::changed_files;
use super::*;
use provider_kit::commands::InvalidCommand;
use provider_kit::commands::{CommandRequest, ParsedCommand};
use provider_kit::error::{ProviderError, message};
use provider_kit::fake::FakeHost;
use provider_kit::testing::fixtures;
use provider_kit::types::User;
use provider_kit::types::{PullRequestRef, Repository};
use provider_kit::webhooks::ChangeSource;
use provider_kit::webhooks::{
    ChangeKind, ChangedFile, CommentState, CommitRange, Event, EventKind, PullRequestAction,
    PullRequestStatus,
};
use provider_kit::webhooks::{CommandVerdict, Comment, Decision, PullRequest};

const REPO: &str = "0d6e5f4a-3b2c-4d1e-8f9a-7b6c5d4e3f21";
const PROJECT: &str = "f3d6c2a1-5b7e-4c8d-9a0f-1e2d3c4b5a69";
const RAJ: &str = "a1b2c3d4-0000-4a5b-8c7d-112233445566";
const JANE: &str = "54d125f7-69f7-4191-904f-c5b96b6261c8";
const HEAD_1: &str = "0e3abf27faeea45c2bfbb2da116495c2120ed86a";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/deliveries")
}

/// A fixture as a delivery: a recorded `{"headers", "body"}` or a raw body.
fn delivery_from_bytes(bytes: Vec<u8>) -> Delivery {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&bytes)
        && map.len() == 2
        && let (Some(Value::Object(headers)), Some(body)) = (map.get("headers"), map.get("body"))
    {
        return Delivery {
            headers: headers
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect(),
            body: match body {
                Value::String(text) => text.clone().into_bytes(),
                other => serde_json::to_vec(other).unwrap(),
            },
        };
    }
    Delivery {
        headers: vec![(
            "Content-Type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: bytes,
    }
}

fn load(name: &str) -> Delivery {
    let path = fixture_dir().join(name);
    delivery_from_bytes(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn load_json(name: &str) -> Value {
    serde_json::from_slice(&load(name).body).unwrap()
}

fn delivery_of(value: &Value) -> Delivery {
    Delivery {
        headers: vec![],
        body: serde_json::to_vec(value).unwrap(),
    }
}

fn settings() -> IntegrationSettings {
    fixtures::integration_settings(
        "integration-1",
        "https://dev.azure.com/contoso/",
        "9c8b7a65-4321-4fed-ba98-76543210fedc",
        false,
    )
}

fn connection() -> Connection {
    fixtures::connection("https://dev.azure.com/contoso/", "pat")
}

/// A Debug name without its type prefix (`PullRequestAction::Opened` -> `Opened`).
fn name(value: impl std::fmt::Debug) -> String {
    let text = format!("{value:?}");
    text.rsplit("::").next().unwrap_or_default().to_string()
}

fn opt(value: Option<&str>) -> String {
    value.unwrap_or("-").to_string()
}

fn user_id(user: Option<&User>) -> String {
    opt(user.map(|u| u.id.as_str()))
}

/// The outcome and event flattened to `field -> value` (`-` for none), so a table can
/// name the fields it cares about.
fn summary(result: &Result<HandledDelivery>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        out.insert(k.to_string(), v);
    };
    let handled = match result {
        Err(error) => {
            put("outcome", "invalid".into());
            let kind = format!("{error:?}");
            put(
                "error",
                kind.trim_start_matches("ProviderError::")
                    .split('(')
                    .next()
                    .unwrap_or_default()
                    .into(),
            );
            put("reason", message(error).into());
            return out;
        }
        Ok(handled) => handled,
    };
    put("delivery_id", opt(handled.delivery_id.as_deref()));
    let event = match &handled.outcome {
        Outcome::Ignored(reason) => {
            put("outcome", "ignored".into());
            put("reason", reason.clone());
            return out;
        }
        Outcome::Duplicate => {
            put("outcome", "duplicate".into());
            return out;
        }
        Outcome::Event(event) => event,
    };
    put("outcome", "event".into());
    put("kind", name(event.kind));
    put("action", opt(event.action.map(name).as_deref()));
    put("user", user_id(event.user.as_ref()));
    put(
        "occurred_at",
        opt(event.occurred_at.map(|t| t.to_string()).as_deref()),
    );
    let r = &event.repository;
    put("repo.id", r.id.clone());
    put("repo.name", r.name.clone());
    put("repo.project", opt(r.project.as_deref()));
    put("repo.project_id", opt(r.project_id.as_deref()));
    put("repo.org", r.organization.clone());
    put("repo.web_url", opt(r.web_url.as_deref()));
    put("repo.clone_url", opt(r.clone_url.as_deref()));
    put("repo.api_url", r.api_url.clone());
    put("repo.default_branch", opt(r.default_branch.as_deref()));
    if let Some(p) = &event.push {
        put("push.ref", p.ref_name.clone());
        put("push.branch", opt(p.branch.as_deref()));
        put("push.tag", opt(p.tag.as_deref()));
        put("push.before", opt(p.before.as_deref()));
        put("push.after", opt(p.after.as_deref()));
        put("push.created", p.created.to_string());
        put("push.deleted", p.deleted.to_string());
        put(
            "push.forced",
            opt(p.forced.map(|f| f.to_string()).as_deref()),
        );
        put("push.pusher", user_id(p.pusher.as_ref()));
        put("push.commits", p.commits.len().to_string());
    }
    match &event.pull_request {
        Some(pr) => {
            put("pr.number", pr.number.to_string());
            put("pr.title", pr.title.clone());
            put("pr.source", pr.source_branch.clone());
            put("pr.target", pr.target_branch.clone());
            put("pr.head", opt(pr.head_sha.as_deref()));
            put("pr.base", opt(pr.base_sha.as_deref()));
            put("pr.status", name(pr.status));
            put("pr.draft", pr.draft.to_string());
            put("pr.fork", pr.fork.to_string());
            put("pr.author", user_id(pr.author.as_ref()));
            put("pr.url", opt(pr.url.as_deref()));
        }
        None => put("pr", "-".into()),
    }
    if let Some(c) = &event.comment {
        put("comment.id", c.id.clone());
        put("comment.thread", opt(c.thread_id.as_deref()));
        put("comment.author", c.author.id.clone());
        put("comment.body", c.body.clone());
        put("comment.state", name(c.state));
        put("comment.system", c.system.to_string());
    }
    put(
        "command",
        opt(event
            .command
            .as_ref()
            .map(|c| format!("{} {}", c.name, name(c.decision)))
            .as_deref()),
    );
    out
}

fn run(host: &FakeHost, delivery: &Delivery) -> BTreeMap<String, String> {
    summary(&handle_delivery(host, &settings(), None, delivery))
}

/// One corpus file: stored state to start from (key, JSON), and the fields expected.
/// A key ending in `~` means "contains" instead of "equals".
struct Case {
    file: &'static str,
    seed: &'static [(&'static str, &'static str)],
    expect: &'static [(&'static str, &'static str)],
}

const PR42: &str = "pr:0d6e5f4a-3b2c-4d1e-8f9a-7b6c5d4e3f21:42";
const PR43: &str = "pr:0d6e5f4a-3b2c-4d1e-8f9a-7b6c5d4e3f21:43";
const OPEN_HEAD_1: &str =
    r#"{"head":"0e3abf27faeea45c2bfbb2da116495c2120ed86a","status":"open","draft":false}"#;

#[rustfmt::skip]
const CASES: &[Case] = &[
    // ------------------------------------------------------------------ pushes
    Case { file: "push-branch-updated.json", seed: &[], expect: &[("outcome", "event"), ("kind", "Push"),
        ("delivery_id", "5a1e0001-0001-4001-a001-000000001eef"), ("push.ref", "refs/heads/main"),
        ("push.branch", "main"), ("push.tag", "-"), ("push.before", "e5c5b06e4648b7decdf61d453124a93bfad7f7fa"),
        ("push.after", "dfbccd9f778eb9450a1a3c5a97817b26bd031096"), ("push.created", "false"),
        ("push.deleted", "false"), ("push.forced", "-"), ("push.pusher", JANE), ("user", JANE),
        ("push.commits", "2"), ("repo.id", REPO), ("repo.name", "terraform-live"),
        ("repo.project", "Infrastructure"), ("repo.project_id", PROJECT), ("repo.org", "contoso"),
        ("repo.api_url", "https://dev.azure.com/contoso/"),
        ("repo.clone_url", "https://dev.azure.com/contoso/Infrastructure/_git/terraform-live"),
        ("repo.web_url", "https://dev.azure.com/contoso/Infrastructure/_git/terraform-live"),
        ("repo.default_branch", "main"), ("occurred_at", "1795165964"), ("pr", "-"), ("command", "-"),
    ]},
    Case { file: "push-branch-created.json", seed: &[], expect: &[("push.branch", "feature/vpc-peering"),
        ("push.before", "-"), ("push.after", HEAD_1), ("push.created", "true"), ("push.deleted", "false"),
        ("push.forced", "false"), ("push.commits", "1"),
    ]},
    Case { file: "push-branch-deleted.json", seed: &[], expect: &[("push.branch", "feature/old-dns"),
        ("push.before", "be1379c51519e0e3ccb2c1bfe6abb3887c0e00d5"), ("push.after", "-"), ("push.created", "false"),
        ("push.deleted", "true"), ("push.commits", "0"),
    ]},
    Case { file: "push-tag-created.json", seed: &[], expect: &[("push.ref", "refs/tags/v1.4.0"),
        ("push.branch", "-"), ("push.tag", "v1.4.0"), ("push.created", "true"),
        ("push.after", "bf64491cea97a63f524f1efbc3c3521ca8e0b61d"),
    ]},
    Case { file: "push-tag-deleted.json", seed: &[], expect: &[("push.tag", "v1.3.9-rc1"), ("push.deleted", "true"),
        ("push.after", "-"), ("push.commits", "0"),
    ]},
    Case { file: "push-null-messages.json", seed: &[], expect: &[("outcome", "event"), ("push.branch", "main"),
        ("push.commits", "1"),
    ]},
    Case { file: "push-userinfo-in-remote-url.json", seed: &[], expect: &[
        ("repo.clone_url", "https://dev.azure.com/contoso/Infrastructure/_git/terraform-live"),
    ]},
    Case { file: "push-legacy-visualstudio-no-containers.json", seed: &[], expect: &[("repo.org", "contoso"),
        ("repo.api_url", "https://contoso.visualstudio.com/"),
        ("repo.clone_url", "https://contoso.visualstudio.com/Infrastructure/_git/terraform-live"),
    ]},
    Case { file: "push-onprem-tfs.json", seed: &[], expect: &[("repo.org", "defaultcollection"),
        ("repo.api_url", "https://tfs.corp.example.com:8443/tfs/DefaultCollection/"),
        ("repo.clone_url", "https://tfs.corp.example.com:8443/tfs/DefaultCollection/Infrastructure/_git/terraform-live"),
    ]},
    Case { file: "push-onprem-no-tfs-no-containers.json", seed: &[], expect: &[("repo.org", "platform"),
        ("repo.api_url", "https://ado.corp.example.com/Platform/"),
    ]},
    Case { file: "push-project-with-spaces.json", seed: &[], expect: &[("repo.project", "Cloud Platform"),
        ("repo.name", "network stack"),
        ("repo.clone_url", "https://dev.azure.com/contoso/Cloud%20Platform/_git/network%20stack"),
        ("repo.api_url", "https://dev.azure.com/contoso/"),
    ]},
    Case { file: "push-unicode-branch.json", seed: &[], expect: &[("push.branch", "feature/überprüfung-日本"),
        ("push.created", "true"), ("push.after", "6041847f4d6a1d1e46c7a8be4b8b51cd61da799d"),
    ]},
    Case { file: "push-multiple-refs.json", seed: &[], expect: &[("push.ref", "refs/heads/release/2026.11"),
        ("push.after", "6051acd2998c61b900af37fca3bf4a3bc9c3ed4a"),
    ]},
    Case { file: "push-no-containers-dev-azure.json", seed: &[], expect: &[
        ("repo.api_url", "https://dev.azure.com/contoso/"), ("repo.org", "contoso"),
    ]},
    Case { file: "push-recorded-delivery.json", seed: &[], expect: &[("outcome", "event"), ("kind", "Push")] },
    Case { file: "push-recorded-body-as-string.json", seed: &[], expect: &[("push.branch", "develop"),
        ("repo.org", "defaultcollection"),
    ]},
    // ------------------------------------------------------------------ pull requests
    Case { file: "pr-created.json", seed: &[], expect: &[("outcome", "event"), ("kind", "PullRequest"),
        ("action", "Opened"), ("user", JANE), ("pr.number", "42"),
        ("pr.title", "Add VPC peering between hub and spoke"), ("pr.source", "feature/vpc-peering"),
        ("pr.target", "main"), ("pr.head", HEAD_1), ("pr.base", "b0bd943fdeff95eb270517001b478d76c2ffd8f4"),
        ("pr.status", "Open"), ("pr.draft", "false"), ("pr.fork", "false"), ("pr.author", JANE),
        ("pr.url", "https://dev.azure.com/contoso/Infrastructure/_git/terraform-live/pullrequest/42"),
        ("repo.id", REPO), ("repo.org", "contoso"),
    ]},
    Case { file: "pr-created-draft.json", seed: &[], expect: &[("action", "Opened"), ("pr.draft", "true"),
        ("pr.number", "43"),
    ]},
    Case { file: "pr-created-from-fork.json", seed: &[], expect: &[("action", "Opened"), ("pr.fork", "true")] },
    Case { file: "pr-updated-source-branch.json", seed: &[(PR42, OPEN_HEAD_1)], expect: &[
        ("action", "SourceUpdated"), ("pr.head", "2f36b5091671a29e8f73e18a3723e66714617f9e"), ("user", "-"),
    ]},
    Case { file: "pr-updated-votes-only.json", seed: &[(PR42, OPEN_HEAD_1)], expect: &[("action", "Updated")] },
    Case { file: "pr-updated-reviewer-added.json", seed: &[(PR42, OPEN_HEAD_1)], expect: &[("action", "Updated")] },
    Case { file: "pr-updated-draft-published.json",
        seed: &[(PR43, r#"{"head":"0e3abf27faeea45c2bfbb2da116495c2120ed86a","status":"open","draft":true}"#)],
        expect: &[("action", "ReadyForReview"), ("pr.draft", "false")] },
    Case { file: "pr-updated-abandoned.json", seed: &[(PR42, OPEN_HEAD_1)], expect: &[("action", "Closed"),
        ("pr.status", "Closed"), ("user", RAJ),
    ]},
    Case { file: "pr-updated-reactivated.json",
        seed: &[(PR42, r#"{"head":"0e3abf27faeea45c2bfbb2da116495c2120ed86a","status":"closed","draft":false}"#)],
        expect: &[("action", "Reopened"), ("pr.status", "Open")] },
    Case { file: "pr-updated-completed.json", seed: &[(PR42, OPEN_HEAD_1)], expect: &[("action", "Merged"),
        ("pr.status", "Merged"), ("user", RAJ),
    ]},
    Case { file: "pr-merged-conflicts-active.json", seed: &[(PR42, OPEN_HEAD_1)], expect: &[
        ("action", "MergeAttempted"), ("pr.status", "Open"),
    ]},
    // The test merge after a push can arrive before the push's `updated`: it reports the new head.
    Case { file: "pr-merged-new-head-first.json", seed: &[(PR42, OPEN_HEAD_1)], expect: &[("action", "SourceUpdated"),
        ("pr.head", "2f36b5091671a29e8f73e18a3723e66714617f9e")] },
    Case { file: "pr-merged-completed.json", seed: &[], expect: &[("action", "Merged"), ("pr.status", "Merged")] },
    // No stored state: the safe answer is "the source may have changed".
    Case { file: "pr-updated-null-messages.json", seed: &[], expect: &[("action", "SourceUpdated")] },
    // The German "updated the source branch" text must not sway the decision: same head.
    Case { file: "pr-updated-localized-message.json", seed: &[(PR42, OPEN_HEAD_1)], expect: &[("action", "Updated"),
    ]},
    Case { file: "pr-legacy-visualstudio.json", seed: &[], expect: &[("repo.org", "contoso"),
        ("repo.api_url", "https://contoso.visualstudio.com/"),
        ("pr.url", "https://contoso.visualstudio.com/Infrastructure/_git/terraform-live/pullrequest/7"),
    ]},
    Case { file: "pr-onprem-tfs.json", seed: &[], expect: &[("repo.org", "defaultcollection"),
        ("repo.api_url", "https://tfs.corp.example.com:8443/tfs/DefaultCollection/"),
    ]},
    Case { file: "pr-project-with-spaces.json", seed: &[], expect: &[("repo.project", "Cloud Platform"),
        ("pr.url", "https://dev.azure.com/contoso/Cloud%20Platform/_git/network%20stack/pullrequest/9"),
    ]},
    Case { file: "pr-unicode-branch.json", seed: &[], expect: &[("pr.source", "feature/überprüfung-日本"),
        ("pr.title", "Überprüfung der Zonen 🌐"),
    ]},
    // ------------------------------------------------------------------ comments
    Case { file: "comment-v2-created-command.json", seed: &[], expect: &[("outcome", "event"), ("kind", "Comment"),
        ("action", "-"), ("comment.id", "1"), ("comment.thread", "117"), ("comment.author", RAJ), ("user", RAJ),
        ("pr.author", JANE), ("comment.body", "/scalr plan"), ("comment.state", "Created"),
        ("comment.system", "false"), ("pr.number", "42"), ("repo.id", REPO),
        // commands::parse is not implemented in this build: no verdict.
        ("command", "plan Allowed"),
    ]},
    Case { file: "comment-v2-created-plain.json", seed: &[], expect: &[("comment.thread", "118"),
        ("comment.state", "Created"),
    ]},
    Case { file: "comment-v2-edited.json", seed: &[], expect: &[("comment.state", "Edited"),
        ("comment.body", "/scalr apply -w prod"),
    ]},
    Case { file: "comment-v2-reaction-not-edit.json", seed: &[], expect: &[("comment.state", "Created")] },
    Case { file: "comment-v2-deleted.json", seed: &[], expect: &[("comment.state", "Deleted")] },
    Case { file: "comment-v2-system.json", seed: &[], expect: &[("comment.system", "true"),
        ("comment.state", "Created"),
    ]},
    Case { file: "comment-v2-code-change.json", seed: &[], expect: &[("comment.system", "true")] },
    Case { file: "comment-v2-null-content.json", seed: &[], expect: &[("comment.body", ""), ("outcome", "event")] },
    Case { file: "comment-v2-reply-in-thread.json", seed: &[], expect: &[("comment.id", "3"),
        ("comment.thread", "117"),
    ]},
    Case { file: "comment-v2-from-bot.json", seed: &[], expect: &[
        ("comment.author", "9c8b7a65-4321-4fed-ba98-76543210fedc"),
    ]},
    Case { file: "comment-v2-draft-pr.json", seed: &[], expect: &[("pr.number", "43"), ("pr.draft", "true")] },
    Case { file: "comment-v2-project-with-spaces.json", seed: &[], expect: &[("repo.project", "Cloud Platform"),
        ("comment.thread", "7"), ("pr.number", "9"),
    ]},
    Case { file: "comment-v2-mentions-sample-repo.json", seed: &[], expect: &[("outcome", "event"),
        ("comment.body~", "fabrikam.visualstudio.com")] },
    Case { file: "comment-v1-created.json", seed: &[], expect: &[("kind", "Comment"), ("comment.id", "1"),
        ("comment.thread", "130"), ("comment.author", RAJ), ("pr", "-"), ("repo.id", REPO),
        ("repo.project_id", PROJECT), ("repo.org", "contoso"), ("repo.api_url", "https://dev.azure.com/contoso/"),
    ]},
    Case { file: "comment-v1-edited.json", seed: &[], expect: &[("comment.id", "2"), ("comment.state", "Edited")] },
    Case { file: "comment-v1-deleted.json", seed: &[], expect: &[("comment.state", "Deleted")] },
    Case { file: "comment-v1-onprem.json", seed: &[], expect: &[("repo.org", "defaultcollection"),
        ("repo.api_url", "https://tfs.corp.example.com:8443/tfs/DefaultCollection/"), ("comment.thread", "5"),
    ]},
    // ------------------------------------------------------------------ ignored
    Case { file: "ignored-test-payload-push.json", seed: &[], expect: &[("outcome", "ignored"),
        ("reason~", "\"Test\" button"),
    ]},
    Case { file: "ignored-test-payload-pr-created.json", seed: &[], expect: &[("outcome", "ignored"),
        ("reason~", "Fabrikam"),
    ]},
    Case { file: "ignored-test-payload-comment-v2.json", seed: &[], expect: &[("outcome", "ignored"),
        ("reason~", "Fabrikam"),
    ]},
    Case { file: "ignored-unknown-event-type.json", seed: &[], expect: &[("outcome", "ignored"),
        ("reason~", "\"workitem.updated\" is not handled"),
    ]},
    Case { file: "ignored-build-complete.json", seed: &[], expect: &[("outcome", "ignored"),
        ("reason~", "build.complete"),
    ]},
    Case { file: "ignored-unsupported-resource-version.json", seed: &[], expect: &[("outcome", "ignored"),
        ("reason~", "resource version \"3.0-preview.1\" of git.push"),
    ]},
    // ------------------------------------------------------------------ invalid
    Case { file: "invalid-not-json.txt", seed: &[], expect: &[("error", "InvalidPayload"),
        ("reason~", "not valid JSON"),
    ]},
    Case { file: "invalid-empty-body.txt", seed: &[], expect: &[("error", "InvalidPayload"), ("reason~", "empty")] },
    Case { file: "invalid-truncated.json", seed: &[], expect: &[("error", "InvalidPayload"),
        ("reason~", "not valid JSON"),
    ]},
    Case { file: "invalid-too-deep.json", seed: &[], expect: &[("error", "InvalidPayload"),
        ("reason~", "deeper than 64"),
    ]},
    Case { file: "invalid-json-array.json", seed: &[], expect: &[
        ("reason", "the body must be a JSON object, found array"),
    ]},
    Case { file: "invalid-missing-resource.json", seed: &[], expect: &[("reason", "resource is missing")] },
    Case { file: "invalid-missing-event-type.json", seed: &[], expect: &[("reason", "eventType is missing")] },
    Case { file: "invalid-pr-id-string.json", seed: &[], expect: &[
        ("reason", "resource.pullRequestId must be a number, found string"),
    ]},
    Case { file: "invalid-pr-draft-string.json", seed: &[], expect: &[
        ("reason", "resource.isDraft must be a boolean, found string"),
    ]},
    Case { file: "invalid-pr-status-unknown.json", seed: &[], expect: &[
        ("reason~", "resource.status must be active, completed or abandoned, found \"merged\""),
    ]},
    Case { file: "invalid-push-ref-updates-not-array.json", seed: &[], expect: &[
        ("reason", "resource.refUpdates must be an array, found object"),
    ]},
    Case { file: "invalid-pusher-id-number.json", seed: &[], expect: &[
        ("reason", "resource.pushedBy.id must be a string, found number"),
    ]},
    Case { file: "invalid-remote-url-not-a-url.json", seed: &[], expect: &[
        ("reason~", "resource.repository.remoteUrl is not a valid URL"),
    ]},
    Case { file: "invalid-comment-author-missing.json", seed: &[], expect: &[
        ("reason", "resource.comment.author is missing"),
    ]},
    Case { file: "invalid-recorded-body-not-json.json", seed: &[], expect: &[("error", "InvalidPayload"),
        ("reason~", "not valid JSON"),
    ]},
];

#[test]
fn every_fixture_gives_its_expected_outcome() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut in_table: Vec<String> = CASES.iter().map(|c| c.file.to_string()).collect();
    in_table.sort();
    assert_eq!(
        on_disk, in_table,
        "the table and tests/fixtures/deliveries/ must list the same files"
    );
    assert!(CASES.len() >= 40);

    let mut failures = Vec::new();
    for case in CASES {
        let host = FakeHost::default();
        for (key, value) in case.seed {
            host.store
                .borrow_mut()
                .insert(key.to_string(), value.as_bytes().to_vec());
        }
        let got = run(&host, &load(case.file));
        for (field, want) in case.expect {
            let (field, contains) = match field.strip_suffix('~') {
                Some(field) => (field, true),
                None => (*field, false),
            };
            let actual = got.get(field).map(String::as_str).unwrap_or("<absent>");
            let ok = if contains {
                actual.contains(want)
            } else {
                actual == *want
            };
            if !ok {
                failures.push(format!(
                    "{}: {field} = {actual:?}, want {want:?}",
                    case.file
                ));
            }
        }
        assert!(
            host.requests.borrow().is_empty(),
            "{}: no connection, no HTTP",
            case.file
        );
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// A variant of a fixture with a new envelope id, event type and resource changes.
fn variant(base: &Value, id: &str, event_type: &str, change: impl FnOnce(&mut Value)) -> Delivery {
    let mut value = base.clone();
    value["id"] = json!(id);
    value["eventType"] = json!(event_type);
    change(&mut value["resource"]);
    delivery_of(&value)
}

#[test]
fn a_pull_request_lifecycle_is_told_apart_by_stored_state() {
    let host = FakeHost::default();
    let draft = load_json("pr-created-draft.json");
    let head_2 = "2f36b5091671a29e8f73e18a3723e66714617f9e";
    let steps: Vec<(Delivery, &str, &str)> = vec![
        (
            variant(&draft, "e1", "git.pullrequest.created", |_| {}),
            "Opened",
            "created as a draft",
        ),
        (
            variant(&draft, "e2", "git.pullrequest.updated", |r| {
                r["reviewers"][0]["vote"] = json!(10)
            }),
            "Updated",
            "a vote, same head",
        ),
        (
            variant(&draft, "e3", "git.pullrequest.updated", |r| {
                r["lastMergeSourceCommit"]["commitId"] = json!(head_2)
            }),
            "SourceUpdated",
            "a new head",
        ),
        (
            variant(&draft, "e4", "git.pullrequest.updated", |r| {
                r["lastMergeSourceCommit"]["commitId"] = json!(head_2);
                r["isDraft"] = json!(false);
            }),
            "ReadyForReview",
            "published",
        ),
        (
            variant(&draft, "e5", "git.pullrequest.merged", |r| {
                r["lastMergeSourceCommit"]["commitId"] = json!(head_2);
                r["isDraft"] = json!(false);
                r["mergeStatus"] = json!("conflicts");
            }),
            "MergeAttempted",
            "a test merge of the active PR",
        ),
        (
            variant(&draft, "e6", "git.pullrequest.updated", |r| {
                r["lastMergeSourceCommit"]["commitId"] = json!(head_2);
                r["isDraft"] = json!(false);
                r["status"] = json!("completed");
            }),
            "Merged",
            "completed",
        ),
        (
            variant(&draft, "e7", "git.pullrequest.merged", |r| {
                r["lastMergeSourceCommit"]["commitId"] = json!(head_2);
                r["isDraft"] = json!(false);
                r["status"] = json!("completed");
            }),
            "Updated",
            "the second completion notice is not a second merge",
        ),
    ];
    for (delivery, want, step) in steps {
        let got = run(&host, &delivery);
        assert_eq!(
            got.get("action").map(String::as_str),
            Some(want),
            "{step}: {got:?}"
        );
    }
    let stored = host.store.borrow().get(PR43).cloned().unwrap();
    let stored: Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(
        stored,
        json!({"head": head_2, "status": "merged", "draft": false})
    );
}

#[test]
fn abandoned_then_reactivated_is_reopened() {
    let host = FakeHost::default();
    let pr = load_json("pr-created.json");
    let steps = [
        (
            variant(&pr, "a1", "git.pullrequest.created", |_| {}),
            "Opened",
        ),
        (
            variant(&pr, "a2", "git.pullrequest.updated", |r| {
                r["status"] = json!("abandoned")
            }),
            "Closed",
        ),
        (
            variant(&pr, "a3", "git.pullrequest.updated", |_| {}),
            "Reopened",
        ),
    ];
    for (delivery, want) in steps {
        assert_eq!(
            run(&host, &delivery).get("action").map(String::as_str),
            Some(want)
        );
    }
}

#[test]
fn the_same_event_id_twice_is_a_duplicate_and_changes_nothing() {
    let host = FakeHost::default();
    let first = run(&host, &load("pr-created.json"));
    assert_eq!(first["outcome"], "event");
    let id = first["delivery_id"].clone();
    let key = format!("delivery:{id}");
    assert!(host.store.borrow().contains_key(&key));

    // The same id again, even with a different body, is not processed again.
    let mut again = load_json("pr-created.json");
    again["eventType"] = json!("git.pullrequest.updated");
    again["resource"]["lastMergeSourceCommit"]["commitId"] =
        json!("ffffffffffffffffffffffffffffffffffffffff");
    let second = run(&host, &delivery_of(&again));
    assert_eq!(second["outcome"], "duplicate");
    assert_eq!(second["delivery_id"], id);
    let stored: Value = serde_json::from_slice(&host.store.borrow()[PR42]).unwrap();
    assert_eq!(
        stored["head"], HEAD_1,
        "a duplicate must not move the stored head"
    );
}

#[test]
fn an_invalid_delivery_does_not_block_a_good_one_with_the_same_id() {
    let host = FakeHost::default();
    let good = load_json("push-branch-updated.json");
    let mut broken = good.clone();
    broken["resource"]["refUpdates"] = json!("refs/heads/main");
    let got = run(&host, &delivery_of(&broken));
    assert_eq!(got["error"], "InvalidPayload", "{got:?}");
    assert!(
        host.store.borrow().is_empty(),
        "nothing recorded for an invalid delivery"
    );
    assert_eq!(run(&host, &delivery_of(&good))["outcome"], "event");
    assert_eq!(run(&host, &delivery_of(&good))["outcome"], "duplicate");
}

#[test]
fn absurd_event_ids_are_refused_and_empty_ones_skip_dedupe() {
    let mut value = load_json("push-branch-updated.json");
    value["id"] = json!("x".repeat(10_000));
    let got = run(&FakeHost::default(), &delivery_of(&value));
    assert_eq!(
        got["reason"],
        "id must be the event's id (a GUID), found a 10000-byte string"
    );

    let host = FakeHost::default();
    value["id"] = json!("");
    for _ in 0..2 {
        let got = run(&host, &delivery_of(&value));
        assert_eq!(
            (got["outcome"].as_str(), got["delivery_id"].as_str()),
            ("event", "-")
        );
    }
}

#[test]
fn ignored_deliveries_record_nothing() {
    let host = FakeHost::default();
    for file in [
        "ignored-test-payload-push.json",
        "ignored-unknown-event-type.json",
    ] {
        assert_eq!(run(&host, &load(file))["outcome"], "ignored");
    }
    assert!(host.store.borrow().is_empty());
}

#[test]
fn bodies_over_two_megabytes_are_refused() {
    let mut value = load_json("push-branch-updated.json");
    value["resource"]["padding"] =
        json!("x".repeat(<crate::AzureDevOps as provider_kit::Provider>::MAX_DELIVERY_BYTES));
    let got = run(&FakeHost::default(), &delivery_of(&value));
    assert_eq!(got["error"], "InvalidPayload");
    assert!(
        got["reason"].contains("more than the 2097152 bytes"),
        "{got:?}"
    );
}

#[test]
fn a_version_one_comment_reads_its_pull_request_through_the_connection() {
    let host = FakeHost::default();
    let pr = load_json("pr-created.json")["resource"].clone();
    host.json(200, &pr.to_string());
    let result = handle_delivery(
        &host,
        &settings(),
        Some(&connection()),
        &load("comment-v1-created.json"),
    );
    let got = summary(&result);
    assert_eq!(got["pr.number"], "42");
    assert_eq!(got["pr.author"], JANE);
    assert_eq!(got["comment.author"], RAJ);
    assert_eq!(got["repo.name"], "terraform-live");
    let requests = host.requests.borrow();
    assert_eq!(
        requests[0].url,
        format!(
            "https://dev.azure.com/contoso/{PROJECT}/_apis/git/repositories/{REPO}/pullRequests/42?api-version=7.1"
        )
    );

    // When the pull request cannot be read, the comment still comes through.
    let host = FakeHost::default();
    host.json(
        404,
        r#"{"message":"TF401180: The requested pull request was not found."}"#,
    );
    let got = summary(&handle_delivery(
        &host,
        &settings(),
        Some(&connection()),
        &load("comment-v1-created.json"),
    ));
    assert_eq!(got["outcome"], "event");
    assert_eq!(got["pr"], "-");
    assert!(host.logs.borrow().iter().any(|l| l.contains("TF401180")));
}

fn sample_comment() -> (Comment, PullRequest, Repository) {
    let value = load_json("comment-v2-created-command.json");
    let Ok(HandledDelivery {
        outcome: Outcome::Event(event),
        ..
    }) = handle_delivery(
        &FakeHost::default(),
        &settings(),
        None,
        &delivery_of(&value),
    )
    else {
        panic!("the command fixture must parse");
    };
    (
        event.comment.unwrap(),
        event.pull_request.unwrap(),
        event.repository,
    )
}

#[test]
fn command_verdicts_come_from_parse_and_authorize() {
    let (comment, pr, repository) = sample_comment();
    let host = FakeHost::default();
    let allowed = CommandVerdict {
        name: "plan".into(),
        workspaces: vec!["prod".into()],
        decision: Decision::Allowed,
        reason: "plan-only runs from comments are allowed".into(),
        reply: None,
    };
    type Parse = fn(&str) -> Result<ParsedCommand>;
    /// name, parse's answer, authorize's answer (none: must not be called), whether the
    /// event has its pull request, and the verdict expected (command, decision, reason).
    type Row = (
        &'static str,
        Parse,
        Option<Result<CommandVerdict>>,
        bool,
        Option<(&'static str, Decision, &'static str)>,
    );
    let cases: Vec<Row> = vec![
        (
            "not a command",
            |_| Ok(ParsedCommand::None),
            None,
            true,
            None,
        ),
        (
            "commands not built",
            |_| {
                Err(provider_kit::error::unsupported::<crate::AzureDevOps>(
                    "parsing",
                ))
            },
            None,
            true,
            None,
        ),
        (
            "bad prefix setting",
            |_| Err(ProviderError::InvalidConfig("empty prefix".into())),
            None,
            true,
            None,
        ),
        (
            "allowed",
            |_| Ok(ParsedCommand::Plan(vec!["prod".into()])),
            Some(Ok(allowed.clone())),
            true,
            Some(("plan", Decision::Allowed, "allowed")),
        ),
        (
            "authorize failed",
            |_| Ok(ParsedCommand::Apply(vec![])),
            Some(Err(ProviderError::Upstream(
                provider_kit::error::UpstreamError {
                    status: Some(500),
                    message: "policy evaluation failed".into(),
                },
            ))),
            true,
            Some(("apply", Decision::Denied, "policy evaluation failed")),
        ),
        (
            "no pull request",
            |_| Ok(ParsedCommand::Help),
            None,
            false,
            Some(("help", Decision::Denied, "resource version 2.0")),
        ),
        (
            "invalid command",
            |_| {
                Ok(ParsedCommand::Invalid(InvalidCommand {
                    input: "destroy".into(),
                    reply: "no".into(),
                }))
            },
            Some(Err(provider_kit::error::unsupported::<crate::AzureDevOps>(
                "authorizing",
            ))),
            true,
            Some(("destroy", Decision::Denied, "not implemented")),
        ),
    ];
    for (name, parse, answer, with_pr, want) in cases {
        let mut seen: Option<CommandRequest> = None;
        let verdict = provider_kit::delivery::verdict_with(
            &comment,
            with_pr.then_some(&pr),
            &repository,
            NO_PULL_REQUEST,
            parse,
            |request| {
                seen = Some(request.clone());
                answer.clone().expect("authorize must not be called here")
            },
            &host,
        );
        match (verdict, want) {
            (None, None) => assert!(seen.is_none(), "{name}"),
            (Some(v), Some((command, decision, reason))) => {
                assert_eq!(v.name, command, "{name}");
                assert_eq!(v.decision, decision, "{name}");
                assert!(v.reason.contains(reason), "{name}: {}", v.reason);
                if let Some(request) = seen {
                    // Authorized as the commenter, never the PR's creator.
                    assert_eq!(request.comment.author.id, RAJ, "{name}");
                    assert_eq!(
                        request.pull_request.author.as_ref().unwrap().id,
                        JANE,
                        "{name}"
                    );
                    assert_eq!(request.pull_request_ref.number, 42, "{name}");
                    assert_eq!(request.pull_request_ref.repository.id, REPO, "{name}");
                }
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
    assert!(
        host.logs
            .borrow()
            .iter()
            .any(|l| l.contains("empty prefix"))
    );
}

// ---------------------------------------------------------------------- changed files

fn repository() -> Repository {
    Repository {
        id: REPO.into(),
        name: "terraform-live".into(),
        project: Some("Infrastructure".into()),
        project_id: Some(PROJECT.into()),
        organization: "contoso".into(),
        web_url: None,
        clone_url: None,
        api_url: "https://dev.azure.com/contoso/".into(),
        default_branch: Some("main".into()),
    }
}

fn pr_source() -> ChangeSource {
    ChangeSource::PullRequest(PullRequestRef {
        repository: repository(),
        number: 42,
    })
}

fn iteration_entry(path: &str, change: &str) -> Value {
    json!({"changeTrackingId": 1, "changeId": 1, "item": {"objectId": "ab", "path": path}, "changeType": change})
}

#[test]
fn pull_request_changes_page_through_the_latest_iteration() {
    let host = FakeHost::default();
    host.json(200, r#"{"value":[{"id":1},{"id":3},{"id":2}],"count":3}"#);
    let page = |from: usize, count: usize, next: u64| {
        let mut entries: Vec<Value> = (from..from + count)
            .map(|i| iteration_entry(&format!("/modules/m{i}/main.tf"), "edit"))
            .collect();
        if from == 0 {
            entries[0] = json!({"changeTrackingId": 9, "changeId": 9,
                "item": {"path": "/envs/prod/main.tf"}, "changeType": "rename, edit",
                "sourceServerItem": "/envs/production/main.tf"});
            entries[1] = json!({"changeTrackingId": 8, "changeId": 8,
                "item": {"path": "/envs/new", "isFolder": true}, "changeType": "add"});
            entries[2] = iteration_entry("/README.md", "delete");
            entries[3] = iteration_entry("/envs/new/main.tf", "add");
        }
        json!({"changeEntries": entries, "nextSkip": next, "nextTop": if next > 0 { 2000 } else { 0 }}).to_string()
    };
    host.json(200, &page(0, 2000, 2000));
    host.json(200, &page(2000, 2000, 4000));
    host.json(200, &page(4000, 150, 0));

    let mut cursor: Option<String> = None;
    let mut files: Vec<ChangedFile> = Vec::new();
    let mut pages = 0;
    loop {
        let got = changed_files(&host, &connection(), &pr_source(), cursor.as_deref()).unwrap();
        files.extend(got.files);
        pages += 1;
        cursor = got.next_cursor;
        if cursor.is_none() {
            break;
        }
        assert!(pages < 10, "paging must end");
    }
    assert_eq!(pages, 3);
    assert_eq!(files.len(), 4150 - 1, "the folder is dropped");
    assert_eq!(
        (
            files[0].path.as_str(),
            files[0].previous_path.as_deref(),
            files[0].change
        ),
        (
            "envs/prod/main.tf",
            Some("envs/production/main.tf"),
            ChangeKind::Renamed
        )
    );
    assert_eq!(files[1].path, "README.md");
    assert_eq!(files[1].change, ChangeKind::Deleted);
    assert_eq!(files[2].change, ChangeKind::Added);
    assert_eq!(files[3].change, ChangeKind::Modified);
    assert!(files.iter().all(|f| !f.path.starts_with('/')));

    let urls: Vec<String> = host
        .requests
        .borrow()
        .iter()
        .map(|r| r.url.clone())
        .collect();
    let prefix = format!(
        "https://dev.azure.com/contoso/{PROJECT}/_apis/git/repositories/{REPO}/pullRequests/42"
    );
    assert_eq!(urls[0], format!("{prefix}/iterations?api-version=7.1"));
    for (url, skip) in urls[1..].iter().zip([0, 2000, 4000]) {
        assert_eq!(
            url,
            &format!("{prefix}/iterations/3/changes?%24top=2000&%24skip={skip}&api-version=7.1")
        );
    }
}

#[test]
fn commit_diffs_keep_blobs_and_page_by_skip() {
    let host = FakeHost::default();
    let mut first: Vec<Value> = (0..1998)
        .map(|i| json!({"item": {"gitObjectType": "blob", "path": format!("/stacks/s{i}.tf")}, "changeType": "edit"}))
        .collect();
    first.push(json!({"item": {"gitObjectType": "tree", "path": "/stacks", "isFolder": true}, "changeType": "edit"}));
    first.push(
        json!({"item": {"gitObjectType": "blob", "path": "/b.tf"}, "changeType": "rename",
        "originalPath": "/a.tf"}),
    );
    host.json(
        200,
        &json!({"allChangesIncluded": true, "changes": first}).to_string(),
    );
    host.json(
        200,
        &json!({"changes": [
            {"item": {"gitObjectType": "blob", "path": "/new.tf"}, "changeType": "add"},
            {"item": {"gitObjectType": "tree", "path": "/modules"}, "changeType": "add"},
        ]})
        .to_string(),
    );

    let range = ChangeSource::Commits(CommitRange {
        repository: repository(),
        base_sha: "b0bd943fdeff95eb270517001b478d76c2ffd8f4".into(),
        head_sha: HEAD_1.into(),
    });
    let one = changed_files(&host, &connection(), &range, None).unwrap();
    assert_eq!(one.files.len(), 1999);
    assert_eq!(one.next_cursor.as_deref(), Some("commits:2000"));
    let renamed = one.files.last().unwrap();
    assert_eq!(
        (renamed.path.as_str(), renamed.previous_path.as_deref()),
        ("b.tf", Some("a.tf"))
    );
    let two = changed_files(&host, &connection(), &range, one.next_cursor.as_deref()).unwrap();
    assert_eq!(two.files.len(), 1);
    assert_eq!(
        (
            two.files[0].path.as_str(),
            two.files[0].previous_path.as_deref(),
            two.files[0].change
        ),
        ("new.tf", None, ChangeKind::Added)
    );
    assert_eq!(two.next_cursor, None);

    let urls: Vec<String> = host
        .requests
        .borrow()
        .iter()
        .map(|r| r.url.clone())
        .collect();
    assert_eq!(
        urls[1],
        format!(
            "https://dev.azure.com/contoso/{PROJECT}/_apis/git/repositories/{REPO}/diffs/commits?baseVersionType=commit\
             &baseVersion=b0bd943fdeff95eb270517001b478d76c2ffd8f4&targetVersionType=commit&targetVersion={HEAD_1}\
             &%24top=2000&%24skip=2000&api-version=7.1"
        )
    );

    // Branch names are refused before any request.
    let branch = ChangeSource::Commits(CommitRange {
        repository: repository(),
        base_sha: "main".into(),
        head_sha: HEAD_1.into(),
    });
    let err = changed_files(&host, &connection(), &branch, None).unwrap_err();
    assert!(message(&err).contains("never branch names"));
    assert_eq!(host.requests.borrow().len(), 2);
}

#[test]
fn changed_files_errors_are_typed() {
    let host = FakeHost::default();
    host.json(200, r#"{"value":[{"id":"one"}]}"#);
    let err = changed_files(&host, &connection(), &pr_source(), None).unwrap_err();
    assert!(matches!(&err, ProviderError::Upstream(_)), "{err:?}");
    assert!(
        message(&err).contains("iterations.value[0].id must be a number"),
        "{err:?}"
    );

    host.json(
        404,
        r#"{"message":"TF401180: The requested pull request was not found."}"#,
    );
    let err = changed_files(&host, &connection(), &pr_source(), None).unwrap_err();
    assert!(matches!(err, ProviderError::NotFound(_)));

    let err = changed_files(&host, &connection(), &pr_source(), Some("commits:0")).unwrap_err();
    assert!(message(&err).contains("start again without a cursor"));

    host.json(200, r#"{"value":[],"count":0}"#);
    let empty = changed_files(&host, &connection(), &pr_source(), None).unwrap();
    assert!(empty.files.is_empty() && empty.next_cursor.is_none());
}

// ---------------------------------------------------------------------- robustness

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Replace the `target`-th value of a document (in walk order) with `replacement`.
fn replace_nth(value: &mut Value, target: &mut usize, replacement: &Value) -> bool {
    if *target == 0 {
        *value = replacement.clone();
        return true;
    }
    *target -= 1;
    match value {
        Value::Array(items) => items
            .iter_mut()
            .any(|v| replace_nth(v, target, replacement)),
        Value::Object(map) => map
            .values_mut()
            .any(|v| replace_nth(v, target, replacement)),
        _ => false,
    }
}

#[test]
fn mangled_deliveries_never_panic() {
    let bodies: Vec<Vec<u8>> = CASES.iter().map(|c| load(c.file).body).collect();
    let replacements = [
        json!(null),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(u64::MAX),
        json!(""),
        json!("x"),
        json!(true),
        json!([]),
        json!({}),
        json!("0000000000000000000000000000000000000000"),
        json!("https://user:pw@"),
        json!([[[[[[]]]]]]),
        json!({"href": "https://dev.azure.com/o/p/_apis/git/repositories/r/pullRequests/1/threads/x"}),
    ];
    let mut rng = Rng(0x5eed_cafe_f00d_beef);
    let mut outcomes = BTreeMap::<String, usize>::new();
    let connection = connection();
    for round in 0..3000 {
        let body = &bodies[rng.below(bodies.len())];
        let mangled: Vec<u8> = match round % 4 {
            // Truncated anywhere.
            0 => body[..rng.below(body.len() + 1)].to_vec(),
            // A few bytes overwritten.
            1 => {
                let mut bytes = body.clone();
                for _ in 0..1 + rng.below(4) {
                    if !bytes.is_empty() {
                        let at = rng.below(bytes.len());
                        let noise = b"{}[]\",:0\\ \xff";
                        bytes[at] = noise[rng.below(noise.len())];
                    }
                }
                bytes
            }
            // One value replaced by another type.
            2 => match serde_json::from_slice::<Value>(body) {
                Ok(mut value) => {
                    let mut target = rng.below(400);
                    replace_nth(
                        &mut value,
                        &mut target,
                        &replacements[rng.below(replacements.len())],
                    );
                    serde_json::to_vec(&value).unwrap()
                }
                Err(_) => body.clone(),
            },
            // Wrapped in deep nesting.
            _ => {
                let depth = 30 + rng.below(80);
                let mut bytes = b"[".repeat(depth);
                bytes.extend_from_slice(body);
                bytes.extend(b"]".repeat(depth));
                bytes
            }
        };
        let host = FakeHost::default();
        // Some rounds get a connection whose answers are garbage too.
        let conn = (round % 3 == 0).then_some(&connection);
        host.json(200, "{\"pullRequestId\": \"7\"}");
        let result = handle_delivery(
            &host,
            &settings(),
            conn,
            &Delivery {
                headers: vec![],
                body: mangled,
            },
        );
        let label = match &result {
            Ok(HandledDelivery {
                outcome: Outcome::Event(_),
                ..
            }) => "event",
            Ok(HandledDelivery {
                outcome: Outcome::Ignored(_),
                ..
            }) => "ignored",
            Ok(HandledDelivery {
                outcome: Outcome::Duplicate,
                ..
            }) => "duplicate",
            Err(ProviderError::InvalidPayload(reason)) => {
                assert!(!reason.is_empty());
                "invalid"
            }
            Err(other) => {
                panic!("round {round}: only invalid-payload errors are expected, got {other:?}")
            }
        };
        *outcomes.entry(label.to_string()).or_default() += 1;
    }
    // The mutations must exercise both sides, or the test proves nothing.
    assert!(
        outcomes.get("event").copied().unwrap_or(0) > 100,
        "{outcomes:?}"
    );
    assert!(
        outcomes.get("invalid").copied().unwrap_or(0) > 100,
        "{outcomes:?}"
    );
}

#[test]
fn events_keep_their_kinds_consistent() {
    // Each kind sets exactly the parts the contract says it sets.
    for case in CASES {
        let Ok(HandledDelivery {
            outcome: Outcome::Event(event),
            ..
        }) = handle_delivery(&FakeHost::default(), &settings(), None, &load(case.file))
        else {
            continue;
        };
        let Event {
            kind,
            push,
            action,
            pull_request,
            comment,
            ..
        } = &event;
        match kind {
            EventKind::Push => assert!(
                push.is_some() && action.is_none() && pull_request.is_none() && comment.is_none(),
                "{}",
                case.file
            ),
            EventKind::PullRequest => assert!(
                push.is_none() && action.is_some() && pull_request.is_some() && comment.is_none(),
                "{}",
                case.file
            ),
            EventKind::Comment => assert!(
                push.is_none() && action.is_none() && comment.is_some(),
                "{}",
                case.file
            ),
        }
        assert!(event.repository.api_url.ends_with('/'), "{}", case.file);
        assert!(
            event
                .repository
                .clone_url
                .as_deref()
                .is_none_or(|u| !u.contains('@')),
            "{}",
            case.file
        );
        assert_eq!(
            event.repository.organization,
            event.repository.organization.to_lowercase()
        );
        if let Some(pr) = pull_request {
            assert!(!pr.source_branch.starts_with("refs/"), "{}", case.file);
            let _: PullRequestStatus = pr.status;
        }
        if let Some(c) = comment {
            let _: CommentState = c.state;
        }
        let _: Option<PullRequestAction> = *action;
    }
}

#[test]
fn bodies_are_checked_with_azure_devops_wording() {
    provider_kit::testing::webhooks::bodies_are_checked_with_the_providers_wording::<
        crate::AzureDevOps,
    >(
        "the body is nested deeper than 64 levels; service-hook payloads never are",
        "the body is 2097153 bytes, more than the 2097152 bytes Azure DevOps ever sends",
        "the body is empty; a service-hook delivery is a JSON object",
    );
}
