//! Credential validation: who a credential acts as, and a probe per capability.
//!
//! The identity comes from `GET {base}_apis/connectionData` (it takes no `api-version`;
//! given one, it must be a preview version). It needs no particular scope, so a failure
//! there means the credential cannot be used at all and comes back as an error.
//!
//! The write probes must not write anything. They aim at a repository that cannot
//! exist (the all-zero GUID): Azure DevOps checks a token's scopes for the route before
//! the controller looks the repository up, so an answer "repository not found" (404)
//! proves the scope was granted, while 401/403 means it is missing. What the probes
//! cannot see is a permission set on a particular repository; the messages say so.

use serde::Deserialize;

use crate::rest::Client;
use provider_kit::auth::{Capability, CapabilityCheck, CheckOutcome, ValidationReport};
use provider_kit::error::{ProviderError, Result};
use provider_kit::host::{Host, Level, Method};
use provider_kit::types::{Connection, User};

/// A repository id no repository has: probes aimed at it write nothing.
const NO_REPOSITORY: &str = "00000000-0000-0000-0000-000000000000";

/// A commit id no commit has.
const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

/// A pull-request id for probes on [`NO_REPOSITORY`].
const NO_PULL_REQUEST: &str = "1";

/// The missing-scope message for pull-request comments (reading or writing).
pub const MISSING_THREADS: &str = "the token cannot write pull-request threads: add the scope \
     Pull Request Threads (Read & Write), or re-authenticate the app after enabling PR comments";

/// Check the credential of `connection`: its identity, then one probe per required
/// capability (duplicates probed once).
pub fn validate(
    host: &impl Host,
    connection: &Connection,
    required: &[Capability],
) -> Result<ValidationReport> {
    let client = Client::new(host, connection)?;
    let identity = identity(&client)?;

    let mut wanted: Vec<Capability> = Vec::new();
    for capability in required {
        if !wanted.contains(capability) {
            wanted.push(*capability);
        }
    }
    let checks = wanted
        .iter()
        .map(|capability| probe(&client, *capability))
        .collect::<Result<Vec<_>>>()?;
    let ok = checks
        .iter()
        .all(|check| matches!(check.outcome, CheckOutcome::Granted));
    let summary = summarize(client.base_url().as_str(), &identity, &checks, ok);
    host.log(
        if ok { Level::Info } else { Level::Warn },
        "credential validated",
        &[
            ("identity".into(), identity.id.clone()),
            ("ok".into(), ok.to_string()),
            (
                "not_granted".into(),
                checks
                    .iter()
                    .filter(|c| !matches!(c.outcome, CheckOutcome::Granted))
                    .map(|c| label(c.capability))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ],
    );
    Ok(ValidationReport {
        identity,
        checks,
        ok,
        summary,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionData {
    authenticated_user: Option<Identity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    id: Option<String>,
    descriptor: Option<String>,
    provider_display_name: Option<String>,
    properties: Option<serde_json::Value>,
}

/// Who the credential acts as, from `_apis/connectionData`.
fn identity<H: Host + ?Sized>(client: &Client<'_, H>) -> Result<User> {
    let url = client.unversioned_url(&["_apis", "connectionData"], &[])?;
    let data: ConnectionData = client.get(&url).map_err(|error| match error {
        // The host's transport messages need not name the URL; a person needs it.
        ProviderError::Transport(m) => ProviderError::Transport(format!(
            "could not reach the organization at {}: {m}; check the organization URL and the \
             host's egress allowlist",
            client.base_url()
        )),
        other => other,
    })?;
    let anonymous = || {
        ProviderError::Unauthorized(format!(
            "Azure DevOps took the credential for anonymous access at {}: it is wrong, expired \
             or revoked; create a new token or re-authenticate the app",
            client.base_url()
        ))
    };
    let user = data.authenticated_user.ok_or_else(anonymous)?;
    let id = user
        .id
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
        .ok_or_else(anonymous)?;
    // Organizations with public projects answer a bad credential with 200 and the
    // public-access identity (all-`a` GUID, descriptor `System:PublicAccess;...`).
    let public_access = user
        .descriptor
        .as_deref()
        .is_some_and(|d| d.starts_with("System:PublicAccess"));
    let placeholder_id = id.chars().all(|c| matches!(c, '0' | 'a' | 'A' | '-'));
    if public_access || placeholder_id {
        return Err(anonymous());
    }
    let unique_name = user
        .properties
        .as_ref()
        .and_then(|p| p.get("Account"))
        .and_then(|a| a.get("$value"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .filter(|s| !s.is_empty());
    Ok(User {
        id,
        unique_name,
        display_name: user.provider_display_name.filter(|s| !s.is_empty()),
    })
}

/// What one probe request showed.
enum Observed {
    Granted,
    Missing,
    Unknown(String),
}

/// Probe one capability.
fn probe<H: Host + ?Sized>(
    client: &Client<'_, H>,
    capability: Capability,
) -> Result<CapabilityCheck> {
    let repository = ["_apis", "git", "repositories", NO_REPOSITORY];
    let threads = [
        "_apis",
        "git",
        "repositories",
        NO_REPOSITORY,
        "pullRequests",
        NO_PULL_REQUEST,
        "threads",
    ];
    let (observed, granted, missing) = match capability {
        Capability::ReadCode => {
            let url = client.api_url(&["_apis", "git", "repositories"], &[("$top", "1")])?;
            (
                observe(client, Method::Get, &url, None, false)?,
                "listed the organization's repositories (scope Code (Read))".to_string(),
                "the token cannot read repositories: add the scope Code (Read), or \
                 re-authenticate the app"
                    .to_string(),
            )
        }
        Capability::WriteStatuses => {
            let segments = [&repository[..], &["commits", NO_COMMIT, "statuses"]].concat();
            let url = client.api_url(&segments, &[])?;
            let body = serde_json::json!({
                "state": "notApplicable",
                "description": "credential check; the repository does not exist",
                "context": {"name": "credential-check", "genre": "vcs-provider"},
            });
            (
                observe(client, Method::Post, &url, Some(body), true)?,
                "a status posted to a repository that does not exist got past the scope check \
                 (scope Code (Status)); each repository's permissions still apply"
                    .to_string(),
                "the token cannot post commit or pull-request statuses: add the scope Code \
                 (Status), or re-authenticate the app"
                    .to_string(),
            )
        }
        Capability::ReadComments => {
            let url = client.api_url(&threads, &[])?;
            (
                observe(client, Method::Get, &url, None, true)?,
                "reading threads of a pull request that does not exist got past the scope check"
                    .to_string(),
                "the token cannot read pull-request threads: add the scope Pull Request Threads \
                 (Read & Write), or re-authenticate the app after enabling PR comments"
                    .to_string(),
            )
        }
        Capability::WriteComments => {
            let url = client.api_url(&threads, &[])?;
            let body = serde_json::json!({
                "comments": [{"parentCommentId": 0, "content": "credential check", "commentType": 1}],
                "status": 4,
            });
            (
                observe(client, Method::Post, &url, Some(body), true)?,
                "a thread posted to a pull request that does not exist got past the scope check \
                 (scope Pull Request Threads (Read & Write)); each repository's permissions \
                 still apply"
                    .to_string(),
                MISSING_THREADS.to_string(),
            )
        }
    };
    let (outcome, message) = match observed {
        Observed::Granted => (CheckOutcome::Granted, granted),
        Observed::Missing => (CheckOutcome::Missing, missing),
        Observed::Unknown(why) => (CheckOutcome::Unknown, why),
    };
    Ok(CapabilityCheck {
        capability,
        outcome,
        message,
    })
}

/// Send one probe. `absent_target`: the probe aims at an object that does not exist,
/// so "not found" means the request passed the scope check.
fn observe<H: Host + ?Sized>(
    client: &Client<'_, H>,
    method: Method,
    url: &url::Url,
    body: Option<serde_json::Value>,
    absent_target: bool,
) -> Result<Observed> {
    let body = body.map(|b| b.to_string().into_bytes());
    match client.send(method, url, body) {
        Ok(_) => Ok(Observed::Granted),
        Err(ProviderError::NotFound(_)) if absent_target => Ok(Observed::Granted),
        Err(ProviderError::Unauthorized(m) | ProviderError::Forbidden(m)) => {
            // Policy refusals concern the credential as a whole, not one scope.
            if m.contains("TF400813") || m.contains("VS403463") {
                Err(ProviderError::Forbidden(m))
            } else {
                // The identity call just worked with this credential, so a refusal here
                // is about this route's scope.
                Ok(Observed::Missing)
            }
        }
        Err(error @ (ProviderError::RateLimited(_) | ProviderError::Transport(_))) => Err(error),
        Err(other) => Ok(Observed::Unknown(format!(
            "the probe could not tell: {}",
            provider_kit::error::message(&other)
        ))),
    }
}

/// A capability in words.
fn label(capability: Capability) -> &'static str {
    match capability {
        Capability::ReadCode => "read code",
        Capability::WriteStatuses => "post statuses",
        Capability::ReadComments => "read pull-request comments",
        Capability::WriteComments => "write pull-request comments",
    }
}

/// One paragraph for a person.
fn summarize(base: &str, identity: &User, checks: &[CapabilityCheck], ok: bool) -> String {
    let who = match (&identity.display_name, &identity.unique_name) {
        (Some(name), Some(unique)) => format!("{name} ({unique})"),
        (Some(name), None) => name.clone(),
        (None, Some(unique)) => unique.clone(),
        (None, None) => format!("identity {}", identity.id),
    };
    provider_kit::views::summarize_checks(
        format!("The credential works at {base} and acts as {who}."),
        checks,
        ok,
        label,
        |what, why| format!(" Whether it can {what} is unknown ({why})."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use provider_kit::error::message;
    use provider_kit::fake::FakeHost;
    use provider_kit::host::HttpError;
    use provider_kit::types::Credential;

    const PAT: &str = "PAT-SECRET-52chars-or-84chars-never-guessed-by-length";
    const OAUTH_TOKEN: &str = "ACCESS-eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9";
    const BOT_ID: &str = "6f3c1a52-1d4e-4c3b-9a0e-2b7e8d9c0f11";
    const ALL: [Capability; 4] = [
        Capability::ReadCode,
        Capability::WriteStatuses,
        Capability::ReadComments,
        Capability::WriteComments,
    ];

    fn connection(credential: Credential) -> Connection {
        Connection {
            base_url: "https://dev.azure.com/contoso".into(),
            credential,
            options: vec![],
        }
    }

    fn pat() -> Connection {
        connection(Credential::PersonalAccessToken(PAT.into()))
    }

    /// `_apis/connectionData` as Azure DevOps Services answers it (trimmed).
    fn connection_data(id: &str, descriptor: &str, name: &str) -> String {
        serde_json::json!({
            "authenticatedUser": {
                "id": id,
                "descriptor": descriptor,
                "subjectDescriptor": "aad.NmYzYzFhNTItMWQ0ZS03YzNiLTlhMGUtMmI3ZThkOWMwZjEx",
                "providerDisplayName": name,
                "isActive": true,
                "properties": {"Account": {"$type": "System.String", "$value": "bot@contoso.com"}},
                "resourceVersion": 2,
                "metaTypeId": 0
            },
            "instanceId": "3a6b1f2c-0000-4000-8000-1234567890ab",
            "deploymentType": "hosted",
            "locationServiceData": {"serviceOwner": "00025394-6065-48ca-87d9-7f5672854ef7"}
        })
        .to_string()
    }

    fn bot() -> String {
        connection_data(
            BOT_ID,
            "Microsoft.IdentityModel.Claims.ClaimsIdentity;72f988bf-86f1-41af-91ab-2d7cd011db47\\bot@contoso.com",
            "Terraform Bot",
        )
    }

    const REPOSITORIES: &str =
        r#"{"count":1,"value":[{"id":"4bc14d40-c903-45e2-872e-0462c7748079","name":"infra"}]}"#;
    const NO_SUCH_REPOSITORY: &str = r#"{"$id":"1","innerException":null,"message":"TF401019: The Git repository with name or identifier 00000000-0000-0000-0000-000000000000 does not exist or you do not have permissions for the operation you are attempting.","typeName":"Microsoft.TeamFoundation.Git.Server.GitRepositoryNotFoundException, Microsoft.TeamFoundation.SourceControl.WebServer","typeKey":"GitRepositoryNotFoundException","errorCode":0,"eventId":3000}"#;

    fn granted_everything(host: &FakeHost) {
        host.json(200, &bot())
            .json(200, REPOSITORIES)
            .json(404, NO_SUCH_REPOSITORY)
            .json(404, NO_SUCH_REPOSITORY)
            .json(404, NO_SUCH_REPOSITORY);
    }

    fn outcome(report: &ValidationReport, capability: Capability) -> CheckOutcome {
        report
            .checks
            .iter()
            .find(|c| c.capability == capability)
            .map(|c| c.outcome)
            .unwrap()
    }

    #[test]
    fn a_credential_with_every_scope_is_reported_ok() {
        let host = FakeHost::default();
        granted_everything(&host);
        let mut required = ALL.to_vec();
        required.push(Capability::ReadCode); // probed once
        let report = validate(&host, &pat(), &required).unwrap();

        assert_eq!(report.identity.id, BOT_ID);
        assert_eq!(
            report.identity.unique_name.as_deref(),
            Some("bot@contoso.com")
        );
        assert_eq!(
            report.identity.display_name.as_deref(),
            Some("Terraform Bot")
        );
        assert_eq!(
            report
                .checks
                .iter()
                .map(|c| c.capability)
                .collect::<Vec<_>>(),
            ALL.to_vec()
        );
        for capability in ALL {
            assert_eq!(
                outcome(&report, capability),
                CheckOutcome::Granted,
                "{capability:?}"
            );
        }
        assert!(report.ok);
        assert!(
            report.summary.contains("Terraform Bot (bot@contoso.com)"),
            "{}",
            report.summary
        );
        assert!(
            report.summary.contains("https://dev.azure.com/contoso/"),
            "{}",
            report.summary
        );
        assert!(
            report.summary.contains("Everything required is granted"),
            "{}",
            report.summary
        );

        let requests = host.requests.borrow();
        let shown: Vec<(Method, &str)> = requests
            .iter()
            .map(|r| (r.method, r.url.as_str()))
            .collect();
        let zero = "https://dev.azure.com/contoso/_apis/git/repositories/00000000-0000-0000-0000-000000000000";
        assert_eq!(
            shown,
            vec![
                (
                    Method::Get,
                    "https://dev.azure.com/contoso/_apis/connectionData"
                ),
                (
                    Method::Get,
                    "https://dev.azure.com/contoso/_apis/git/repositories?%24top=1&api-version=7.1"
                ),
                (
                    Method::Post,
                    &*format!(
                        "{zero}/commits/0000000000000000000000000000000000000000/statuses?api-version=7.1"
                    )
                ),
                (
                    Method::Get,
                    &*format!("{zero}/pullRequests/1/threads?api-version=7.1")
                ),
                (
                    Method::Post,
                    &*format!("{zero}/pullRequests/1/threads?api-version=7.1")
                ),
            ]
        );
        // The probes are well-formed requests (JSON bodies), aimed only at the zero GUID.
        for request in requests.iter().filter(|r| r.method == Method::Post) {
            let body: serde_json::Value =
                serde_json::from_slice(request.body.as_deref().unwrap()).unwrap();
            assert!(body.is_object());
        }
    }

    #[test]
    fn missing_scopes_come_back_in_the_report() {
        // (what the probes answer after the identity, expected outcomes, summary fragment)
        type Script = fn(&FakeHost);
        let cases: Vec<(&str, Script, [CheckOutcome; 4], &str)> = vec![
            (
                "no threads scope (401)",
                |h| {
                    h.json(200, REPOSITORIES)
                        .json(404, NO_SUCH_REPOSITORY)
                        .json(404, NO_SUCH_REPOSITORY)
                        .answer(401, &[], "");
                },
                [
                    CheckOutcome::Granted,
                    CheckOutcome::Granted,
                    CheckOutcome::Granted,
                    CheckOutcome::Missing,
                ],
                MISSING_THREADS,
            ),
            (
                "no status or threads scope (403 with a message)",
                |h| {
                    h.json(200, REPOSITORIES)
                        .json(403, r#"{"message":"TF401027: You need the Git 'GenericContribute' permission to perform this action."}"#)
                        .answer(401, &[], "")
                        .answer(401, &[], "");
                },
                [
                    CheckOutcome::Granted,
                    CheckOutcome::Missing,
                    CheckOutcome::Missing,
                    CheckOutcome::Missing,
                ],
                "add the scope Code (Status)",
            ),
            (
                "no code scope",
                |h| {
                    h.answer(401, &[], "")
                        .json(404, NO_SUCH_REPOSITORY)
                        .json(404, NO_SUCH_REPOSITORY)
                        .json(404, NO_SUCH_REPOSITORY);
                },
                [
                    CheckOutcome::Missing,
                    CheckOutcome::Granted,
                    CheckOutcome::Granted,
                    CheckOutcome::Granted,
                ],
                "add the scope Code (Read)",
            ),
            (
                "a probe that cannot tell",
                |h| {
                    h.json(200, REPOSITORIES)
                        .json(500, r#"{"message":"VS402335: something broke"}"#)
                        .json(404, NO_SUCH_REPOSITORY)
                        .json(404, NO_SUCH_REPOSITORY);
                },
                [
                    CheckOutcome::Granted,
                    CheckOutcome::Unknown,
                    CheckOutcome::Granted,
                    CheckOutcome::Granted,
                ],
                "is unknown",
            ),
        ];
        for (name, script, outcomes, fragment) in cases {
            let host = FakeHost::default();
            host.json(200, &bot());
            script(&host);
            let report = validate(&host, &pat(), &ALL).unwrap();
            for (capability, want) in ALL.into_iter().zip(outcomes) {
                assert_eq!(outcome(&report, capability), want, "{name}: {capability:?}");
            }
            assert!(!report.ok, "{name}");
            assert!(
                report.summary.contains(fragment),
                "{name}: {}",
                report.summary
            );
            assert!(report.summary.contains("validate again"), "{name}");
        }
        // The comment message is the one people are told to act on.
        let host = FakeHost::default();
        host.json(200, &bot()).answer(401, &[], "");
        let report = validate(&host, &pat(), &[Capability::WriteComments]).unwrap();
        assert_eq!(report.checks[0].message, MISSING_THREADS);
        assert!(
            host.logs
                .borrow()
                .iter()
                .any(|l| l.contains("Warn") && l.contains("write pull-request comments"))
        );
    }

    #[test]
    fn unusable_credentials_are_errors() {
        type Script = fn(&FakeHost);
        let cases: Vec<(&str, Script, &str, &str)> = vec![
            (
                "401",
                |h| {
                    h.answer(401, &[], "");
                },
                "unauthorized",
                "wrong, expired or revoked",
            ),
            (
                "203 sign-in page",
                |h| {
                    h.answer(
                        203,
                        &[("content-type", "text/html; charset=utf-8")],
                        "<!DOCTYPE html><html><title>Sign in</title></html>",
                    );
                },
                "unauthorized",
                "sign-in page",
            ),
            (
                "public-access identity",
                |h| {
                    h.json(
                        200,
                        &connection_data(
                            "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa",
                            "System:PublicAccess;aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa",
                            "Anonymous",
                        ),
                    );
                },
                "unauthorized",
                "anonymous",
            ),
            (
                "no user",
                |h| {
                    h.json(200, r#"{"instanceId":"x"}"#);
                },
                "unauthorized",
                "anonymous",
            ),
            (
                "OAuth policy off (TF400813)",
                |h| {
                    h.json(401, r#"{"$id":"1","message":"TF400813: The user '6f3c1a52-1d4e-4c3b-9a0e-2b7e8d9c0f11' is not authorized to access this resource.","typeKey":"UnauthorizedRequestException"}"#);
                },
                "forbidden",
                "TF400813",
            ),
            (
                "conditional access (VS403463)",
                |h| {
                    h.json(403, r#"{"message":"VS403463: The conditional access policy defined by your Azure Active Directory administrator has failed.","typeKey":"ConditionalAccessPolicyFailedException"}"#);
                },
                "forbidden",
                "VS403463",
            ),
            (
                "organization not found",
                |h| {
                    h.answer(404, &[], "");
                },
                "not-found",
                "https://dev.azure.com/contoso/_apis/connectionData",
            ),
            (
                "throttled",
                |h| {
                    h.answer(429, &[("Retry-After", "30")], "");
                },
                "rate-limited",
                "retry after 30 seconds",
            ),
            (
                "unreachable",
                |h| {
                    h.fail(HttpError::Connection("dns error".into()));
                },
                "transport",
                "could not reach the organization at https://dev.azure.com/contoso/",
            ),
            (
                "policy refusal on a probe",
                |h| {
                    h.json(200, &bot()).json(403, r#"{"message":"VS403463: The conditional access policy defined by your Azure Active Directory administrator has failed."}"#);
                },
                "forbidden",
                "VS403463",
            ),
            (
                "throttled on a probe",
                |h| {
                    h.json(200, &bot()).answer(429, &[("Retry-After", "5")], "");
                },
                "rate-limited",
                "retry after 5 seconds",
            ),
        ];
        for (name, script, want_kind, fragment) in cases {
            let host = FakeHost::default();
            script(&host);
            let err = validate(&host, &pat(), &ALL).unwrap_err();
            let got_kind = match &err {
                ProviderError::Unauthorized(_) => "unauthorized",
                ProviderError::Forbidden(_) => "forbidden",
                ProviderError::NotFound(_) => "not-found",
                ProviderError::RateLimited(_) => "rate-limited",
                ProviderError::Transport(_) => "transport",
                _ => "other",
            };
            assert_eq!(got_kind, want_kind, "{name}: {err:?}");
            assert!(
                message(&err).contains(fragment),
                "{name}: {}",
                message(&err)
            );
        }
        let host = FakeHost::default();
        host.answer(429, &[("Retry-After", "30")], "");
        match validate(&host, &pat(), &[]).unwrap_err() {
            ProviderError::RateLimited(r) => assert_eq!(r.retry_after_seconds, Some(30)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_required_capabilities_only_the_identity_is_checked() {
        let host = FakeHost::default();
        host.json(200, &bot());
        let report = validate(&host, &pat(), &[]).unwrap();
        assert!(report.ok);
        assert!(report.checks.is_empty());
        assert!(
            report.summary.contains("only the identity"),
            "{}",
            report.summary
        );
        assert_eq!(host.requests.borrow().len(), 1);
    }

    #[test]
    fn oauth_tokens_are_sent_as_bearer_and_pats_as_basic() {
        for (credential, want) in [
            (
                Credential::PersonalAccessToken(PAT.into()),
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!(":{PAT}"))
                ),
            ),
            (
                Credential::OauthAccessToken(OAUTH_TOKEN.into()),
                format!("Bearer {OAUTH_TOKEN}"),
            ),
        ] {
            let host = FakeHost::default();
            host.json(200, &bot());
            validate(&host, &connection(credential), &[]).unwrap();
            let requests = host.requests.borrow();
            assert!(
                requests[0]
                    .headers
                    .contains(&("Authorization".into(), want))
            );
        }
    }

    #[test]
    fn secrets_never_leak_from_validation() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!(":{PAT}"));
        let mut outputs = Vec::new();
        let scripts: Vec<fn(&FakeHost)> = vec![
            granted_everything,
            |h| {
                h.answer(401, &[], "");
            },
            |h| {
                h.answer(203, &[("content-type", "text/html")], "<html></html>");
            },
            |h| {
                h.json(401, r#"{"message":"TF400813: The user 'x' is not authorized to access this resource."}"#);
            },
            |h| {
                h.json(403, r#"{"message":"VS403463: The conditional access policy defined by your Azure Active Directory administrator has failed."}"#);
            },
            |h| {
                h.answer(404, &[], "");
            },
            |h| {
                h.answer(429, &[("Retry-After", "30")], "");
            },
            |h| {
                h.fail(HttpError::Timeout("30 s".into()));
            },
            |h| {
                h.json(200, &bot())
                    .answer(401, &[], "")
                    .answer(403, &[], "")
                    .json(500, "{}")
                    .answer(401, &[], "");
            },
        ];
        for credential in [
            Credential::PersonalAccessToken(PAT.into()),
            Credential::OauthAccessToken(OAUTH_TOKEN.into()),
        ] {
            for script in &scripts {
                let host = FakeHost::default();
                script(&host);
                match validate(&host, &connection(credential.clone()), &ALL) {
                    Ok(report) => {
                        outputs.push(report.summary.clone());
                        outputs.extend(report.checks.iter().map(|c| c.message.clone()));
                        outputs.push(format!("{:?}", report.identity));
                    }
                    Err(err) => {
                        outputs.push(message(&err).to_string());
                        outputs.push(format!("{err:?}"));
                    }
                }
                outputs.extend(host.logs.borrow().iter().cloned());
                outputs.extend(
                    host.store
                        .borrow()
                        .values()
                        .map(|v| String::from_utf8_lossy(v).into_owned()),
                );
                outputs.extend(host.requests.borrow().iter().map(|r| r.url.clone()));
            }
        }
        assert!(outputs.len() > 30, "{}", outputs.len());
        for output in &outputs {
            for secret in [PAT, OAUTH_TOKEN, encoded.as_str()] {
                assert!(
                    !output.contains(secret),
                    "{secret:?} leaked into {output:?}"
                );
            }
        }
    }
}
