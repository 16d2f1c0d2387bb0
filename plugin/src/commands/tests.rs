//! Tests of comment commands: the shared suite (the parsing table, one test per
//! authorization rule the kit decides, property tests that no input panics) through
//! [`crate::AzureDevOps`], and Azure DevOps' own apply rules.

use super::*;
use provider_kit::fake::FakeHost;
use provider_kit::testing::commands::{
    CommandFixture, apply_rules, assert_allowed, assert_denied, assert_denied_with_reply, request,
    run, workspaces,
};
use provider_kit::testing::fixtures;
use provider_kit::types::{ProviderError, Repository};

use crate::AzureDevOps;

impl CommandFixture for AzureDevOps {
    fn repository() -> Repository {
        Repository {
            id: "3411ebc1-d5aa-464f-9615-0b527bc66719".into(),
            project: Some("Fabrikam Fiber".into()),
            project_id: Some("a7573007-bbb3-4341-b726-0c4148a07853".into()),
            ..fixtures::repository("", "infra", "contoso", "https://dev.azure.com/contoso/")
        }
    }
    fn thread_id() -> Option<String> {
        Some("7".into())
    }
    const CLAIM_KEY: &'static str = "command:3411ebc1-d5aa-464f-9615-0b527bc66719:42:7:1";
}

provider_kit::command_suite!(AzureDevOps);

fn connection() -> Connection {
    fixtures::connection("https://dev.azure.com/contoso/", "pat")
}

fn pull_request_json(votes: &[i64], merge_status: &str, draft: bool) -> String {
    let reviewers: Vec<String> = votes
        .iter()
        .enumerate()
        .map(|(i, vote)| format!(r#"{{"id":"r{i}","displayName":"Reviewer {i}","vote":{vote}}}"#))
        .collect();
    format!(
        r#"{{"pullRequestId":42,"status":"active","isDraft":{draft},"mergeStatus":"{merge_status}",
            "repository":{{"id":"3411ebc1-d5aa-464f-9615-0b527bc66719","project":{{"id":"a7573007-bbb3-4341-b726-0c4148a07853"}}}},
            "reviewers":[{}]}}"#,
        reviewers.join(",")
    )
}

fn evaluation_json(status: &str, blocking: bool, kind: &str, settings: &str) -> String {
    format!(
        r#"{{"evaluationId":"e","status":"{status}","configuration":{{"isBlocking":{blocking},"isEnabled":true,
            "type":{{"id":"t","displayName":"{kind}"}},"settings":{settings}}}}}"#
    )
}

#[test]
fn approval_before_apply_reads_the_reviewers_votes() {
    let cases: [(&[i64], Option<&str>); 5] = [
        (&[10], None),
        (&[0, 5], None),
        (&[], Some("no reviewer has approved it yet")),
        (&[0, -5], Some("no reviewer has approved it yet")),
        (&[10, -10], Some("`Reviewer 1` rejected it")),
    ];
    for (votes, denial) in cases {
        let host = FakeHost::default();
        host.json(200, &pull_request_json(votes, "succeeded", false));
        let connection = connection();
        let verdict = authorize(
            &host,
            &apply_rules(true, false),
            &workspaces(),
            Some(&connection),
            &request::<AzureDevOps>("/scalr apply"),
        )
        .unwrap();
        match denial {
            None => assert_allowed(&verdict, "apply", &["prod"]),
            Some(fragment) => assert_denied_with_reply(&verdict, fragment),
        }
        let requests = host.requests.borrow();
        assert_eq!(requests.len(), 1);
        assert_eq!(
            requests[0].url,
            "https://dev.azure.com/contoso/a7573007-bbb3-4341-b726-0c4148a07853/_apis/git/repositories/3411ebc1-d5aa-464f-9615-0b527bc66719/pullRequests/42?api-version=7.1"
        );
    }
}

#[test]
fn plans_skip_the_apply_rules() {
    let host = FakeHost::default();
    let verdict = authorize(
        &host,
        &apply_rules(true, true),
        &workspaces(),
        None,
        &request::<AzureDevOps>("/scalr plan"),
    )
    .unwrap();
    assert_allowed(&verdict, "plan", &["prod"]);
    assert!(host.requests.borrow().is_empty());
}

#[test]
fn apply_rules_without_a_connection_are_denied() {
    for (approval, mergeable, fragment) in [(true, false, "approved"), (false, true, "mergeable")] {
        let verdict = run::<AzureDevOps>(
            &apply_rules(approval, mergeable),
            &request::<AzureDevOps>("/scalr apply"),
        );
        assert_denied_with_reply(&verdict, "no API connection");
        assert_denied(&verdict, fragment);
    }
}

#[test]
fn mergeability_before_apply_reads_merge_status_and_policies() {
    let own_status = r#"{"statusGenre":"scalr","statusName":"apply"}"#;
    let build = r#"{"buildDefinitionId":3}"#;
    let other_status = r#"{"statusGenre":"sonar","statusName":"quality-gate"}"#;
    // (pull request, policy evaluations when they are read, denial fragment)
    type Case<'a> = (String, Option<Vec<String>>, Option<&'a str>);
    let cases: Vec<Case> = vec![
        // Mergeable: the only blocking policy pending is the integration's own status,
        // the rejected one is optional.
        (
            pull_request_json(&[], "succeeded", false),
            Some(vec![
                evaluation_json("queued", true, "Status", own_status),
                evaluation_json("rejected", false, "Build", build),
                evaluation_json("approved", true, "Minimum number of reviewers", "{}"),
                evaluation_json("notApplicable", true, "Build", build),
            ]),
            None,
        ),
        (
            pull_request_json(&[], "conflicts", false),
            None,
            Some("it has merge conflicts"),
        ),
        (
            pull_request_json(&[], "queued", false),
            None,
            Some("has not finished checking"),
        ),
        (
            pull_request_json(&[], "succeeded", true),
            None,
            Some("this one is a draft"),
        ),
        (
            pull_request_json(&[], "succeeded", false),
            Some(vec![evaluation_json("queued", true, "Build", build)]),
            Some("branch policies still block it: Build (queued)"),
        ),
        (
            pull_request_json(&[], "succeeded", false),
            Some(vec![evaluation_json(
                "rejected",
                true,
                "Status",
                other_status,
            )]),
            Some("Status `sonar/quality-gate` (rejected)"),
        ),
    ];
    for (pull_request, evaluations, denial) in cases {
        let host = FakeHost::default();
        host.json(200, &pull_request);
        if let Some(evaluations) = &evaluations {
            host.json(
                200,
                &format!(
                    r#"{{"count":{},"value":[{}]}}"#,
                    evaluations.len(),
                    evaluations.join(",")
                ),
            );
        }
        let connection = connection();
        let verdict = authorize(
            &host,
            &apply_rules(false, true),
            &workspaces(),
            Some(&connection),
            &request::<AzureDevOps>("/scalr apply"),
        )
        .unwrap();
        match denial {
            None => assert_allowed(&verdict, "apply", &["prod"]),
            Some(fragment) => assert_denied_with_reply(&verdict, fragment),
        }
        let requests = host.requests.borrow();
        assert_eq!(requests.len(), 1 + usize::from(evaluations.is_some()));
        if evaluations.is_some() {
            assert_eq!(
                requests[1].url,
                "https://dev.azure.com/contoso/a7573007-bbb3-4341-b726-0c4148a07853/_apis/policy/evaluations?artifactId=vstfs%3A%2F%2F%2FCodeReview%2FCodeReviewId%2Fa7573007-bbb3-4341-b726-0c4148a07853%2F42&api-version=7.1-preview.1"
            );
        }
    }
}

#[test]
fn the_status_genre_option_names_the_integrations_own_policy() {
    let host = FakeHost::default();
    host.json(200, &pull_request_json(&[], "succeeded", false))
        .json(
            200,
            &format!(
                r#"{{"value":[{}]}}"#,
                evaluation_json(
                    "queued",
                    true,
                    "Status",
                    r#"{"statusGenre":"acme-tf","statusName":"apply"}"#
                )
            ),
        );
    let mut connection = connection();
    connection.options = vec![
        (STATUS_GENRE_OPTION.into(), "acme-tf".into()),
        ("api-version".into(), "7.0".into()),
    ];
    let verdict = authorize(
        &host,
        &apply_rules(false, true),
        &workspaces(),
        Some(&connection),
        &request::<AzureDevOps>("/scalr apply"),
    )
    .unwrap();
    assert_allowed(&verdict, "apply", &["prod"]);
    assert!(
        host.requests.borrow()[1]
            .url
            .ends_with("api-version=7.0-preview.1")
    );
}

#[test]
fn rest_failures_are_errors_and_claim_nothing() {
    let host = FakeHost::default();
    host.json(
        403,
        r#"{"message":"TF401027: You need the Git 'PullRequestRead' permission."}"#,
    );
    let connection = connection();
    let err = authorize(
        &host,
        &apply_rules(true, false),
        &workspaces(),
        Some(&connection),
        &request::<AzureDevOps>("/scalr apply"),
    )
    .unwrap_err();
    assert!(
        matches!(err, ProviderError::Forbidden(ref m) if m.contains("TF401027")),
        "{err:?}"
    );
    assert!(host.store.borrow().is_empty());
}
