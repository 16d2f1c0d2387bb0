//! The `auth` interface: webhook signatures, token validation, and the OAuth calls this
//! version does not implement.
//!
//! - [`verify_webhook`]: GitHub signs every delivery with the webhook's secret:
//!   `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`. The signature is
//!   recomputed and compared in constant time.
//! - [`validate`]: `GET /user` says who the token acts as. Classic personal access
//!   tokens and OAuth tokens list their scopes in `x-oauth-scopes`, which decides each
//!   capability; fine-grained and installation tokens do not say what they may do, so
//!   their capabilities are reported `unknown` with what to grant.
//! - The OAuth flow functions answer `unsupported`: GitHub Apps and OAuth apps are not
//!   implemented in this version; connect with a token.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::rest::Client;
use provider_kit::auth::{Capability, CapabilityCheck, CheckOutcome, ValidationReport};
use provider_kit::error::{ProviderError, Result};
use provider_kit::host::{Host, Level, Method};
use provider_kit::rest;
use provider_kit::types::{Connection, User, WebhookAuth};

/// The header GitHub carries the HMAC-SHA256 signature in.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// What the OAuth functions answer.
const NO_OAUTH: &str = "GitHub Apps and OAuth apps are not implemented in this version of the \
     GitHub provider; connect with a fine-grained personal access token or an installation \
     token instead";

/// What the OAuth functions answer: not implemented, see the module docs.
pub fn no_oauth() -> ProviderError {
    ProviderError::Unsupported(NO_OAUTH.into())
}

/// Verify a delivery's `X-Hub-Signature-256` against the shared secret.
pub fn verify_webhook(
    expected: &WebhookAuth,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<()> {
    let secret = match expected {
        WebhookAuth::None => return Ok(()),
        WebhookAuth::Basic(_) => {
            return Err(ProviderError::InvalidConfig(
                "GitHub signs deliveries; configure a shared secret (the webhook's secret) \
                 instead of Basic credentials"
                    .into(),
            ));
        }
        WebhookAuth::SharedSecret(secret) => secret,
    };
    if secret.is_empty() {
        return Err(ProviderError::InvalidConfig(
            "the shared secret is empty; set the same secret on the GitHub webhook and here".into(),
        ));
    }
    let presented = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(SIGNATURE_HEADER))
        .map(|(_, value)| value.trim());
    let Some(presented) = presented else {
        let only_sha1 = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("x-hub-signature"));
        return Err(ProviderError::Unauthorized(if only_sha1 {
            "the delivery carries only the SHA-1 X-Hub-Signature; this provider accepts \
             X-Hub-Signature-256, which GitHub sends whenever the webhook has a secret"
                .into()
        } else {
            "the delivery carries no X-Hub-Signature-256 header; set this integration's secret \
             on the GitHub webhook"
                .into()
        }));
    };
    let Some(hex) = presented
        .split_once('=')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("sha256"))
        .map(|(_, hex)| hex)
    else {
        return Err(ProviderError::Unauthorized(
            "the delivery's X-Hub-Signature-256 is not of the form sha256=<hex>".into(),
        ));
    };
    let Some(signature) = decode_hex(hex) else {
        return Err(ProviderError::Unauthorized(
            "the delivery's X-Hub-Signature-256 is not hexadecimal".into(),
        ));
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| {
        ProviderError::InvalidConfig("the shared secret cannot key HMAC-SHA256".into())
    })?;
    mac.update(body);
    // `verify_slice` compares in constant time (and rejects other lengths).
    mac.verify_slice(&signature).map_err(|_| {
        // Never echo the signature or the secret.
        ProviderError::Unauthorized(
            "the delivery's signature does not match: it was signed with another secret, or \
             the body was changed on the way"
                .into(),
        )
    })
}

/// The signature GitHub would send for `body` under `secret`: `sha256=<hex>`.
pub fn sign(secret: &str, body: &[u8]) -> Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| {
        ProviderError::InvalidConfig("the shared secret cannot key HMAC-SHA256".into())
    })?;
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    Ok(format!(
        "sha256={}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |b: u8| (b as char).to_digit(16);
            let (high, low) = (digit(*pair.first()?)?, digit(*pair.get(1)?)?);
            u8::try_from(high * 16 + low).ok()
        })
        .collect()
}

/// The parts of `GET /user` read.
#[derive(Debug, Deserialize)]
struct UserAnswer {
    id: u64,
    login: String,
    name: Option<String>,
}

/// Check the token of `connection`: its identity, then each required capability.
pub fn validate(
    host: &impl Host,
    connection: &Connection,
    required: &[Capability],
) -> Result<ValidationReport> {
    let client = Client::new(host, connection)?;
    let url = client.api_url(&["user"], &[])?;
    let response = client
        .send(Method::Get, &url, None)
        .map_err(|error| match error {
            ProviderError::Forbidden(why) => ProviderError::Forbidden(format!(
                "{why}. Installation tokens of GitHub Apps cannot read /user, so this version \
             validates personal access tokens only"
            )),
            other => other,
        })?;
    let answer: UserAnswer = rest::parse_json::<crate::GitHub, _>(&response, &url)?;
    let identity = User {
        id: answer.id.to_string(),
        unique_name: Some(answer.login),
        display_name: answer.name.filter(|n| !n.trim().is_empty()),
    };
    let scopes: Option<Vec<String>> = rest::header(&response, "x-oauth-scopes").map(|raw| {
        raw.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let mut wanted: Vec<Capability> = Vec::new();
    for capability in required {
        if !wanted.contains(capability) {
            wanted.push(*capability);
        }
    }
    let checks: Vec<CapabilityCheck> = wanted
        .iter()
        .map(|capability| check(*capability, scopes.as_deref()))
        .collect();
    let ok = checks
        .iter()
        .all(|c| matches!(c.outcome, CheckOutcome::Granted));
    let summary = summarize(client.base_url().as_str(), &identity, &checks, ok);
    host.log(
        if ok { Level::Info } else { Level::Warn },
        "credential validated",
        &[
            ("identity".into(), identity.id.clone()),
            ("ok".into(), ok.to_string()),
        ],
    );
    Ok(ValidationReport {
        identity,
        checks,
        ok,
        summary,
    })
}

fn label(capability: Capability) -> &'static str {
    match capability {
        Capability::ReadCode => "read code and pull requests",
        Capability::WriteStatuses => "post commit statuses",
        Capability::ReadComments => "read pull-request comments",
        Capability::WriteComments => "write pull-request comments",
    }
}

/// What a fine-grained token needs for a capability.
fn fine_grained_permission(capability: Capability) -> &'static str {
    match capability {
        Capability::ReadCode => "Contents: Read and Pull requests: Read",
        Capability::WriteStatuses => "Commit statuses: Read and write",
        Capability::ReadComments => "Issues: Read or Pull requests: Read",
        Capability::WriteComments => "Issues: Read and write or Pull requests: Read and write",
    }
}

/// One capability, from the classic scopes when GitHub listed them.
fn check(capability: Capability, scopes: Option<&[String]>) -> CapabilityCheck {
    let Some(scopes) = scopes else {
        return CapabilityCheck {
            capability,
            outcome: CheckOutcome::Unknown,
            message: format!(
                "the token does not list its scopes (a fine-grained or installation token); \
                 GitHub checks its permissions per repository on each call, so make sure it \
                 has {} on the integration's repositories",
                fine_grained_permission(capability)
            ),
        };
    };
    let has = |scope: &str| scopes.iter().any(|s| s == scope);
    let (granted, needed) = match capability {
        Capability::WriteStatuses => (has("repo") || has("repo:status"), "repo or repo:status"),
        _ => (
            has("repo") || has("public_repo"),
            "repo (or public_repo for public repositories only)",
        ),
    };
    let public_only = granted && !has("repo") && capability != Capability::WriteStatuses;
    CapabilityCheck {
        capability,
        outcome: if granted {
            CheckOutcome::Granted
        } else {
            CheckOutcome::Missing
        },
        message: if public_only {
            "granted by the scope public_repo, for public repositories only; add the scope repo \
             for private ones"
                .into()
        } else if granted {
            format!("granted by the token's scopes ({})", scopes.join(", "))
        } else {
            format!(
                "the token's scopes ({}) lack {needed}; edit the token to add it",
                if scopes.is_empty() {
                    "none".to_string()
                } else {
                    scopes.join(", ")
                }
            )
        },
    }
}

/// One paragraph for a person.
fn summarize(base: &str, identity: &User, checks: &[CapabilityCheck], ok: bool) -> String {
    let who = match (&identity.display_name, &identity.unique_name) {
        (Some(name), Some(login)) => format!("{name} (@{login})"),
        (None, Some(login)) => format!("@{login}"),
        (Some(name), None) => name.clone(),
        (None, None) => format!("user {}", identity.id),
    };
    provider_kit::views::summarize_checks(
        format!("The token works at {base} and acts as {who}."),
        checks,
        ok,
        label,
        |what, why| format!(" Whether it can {what} is unknown: {why}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use provider_kit::error::message;
    use provider_kit::fake::FakeHost;
    use provider_kit::types::{BasicCredentials, Credential};

    const SECRET: &str = "conformance-secret";

    fn headers(signature: &str) -> Vec<(String, String)> {
        vec![("X-Hub-Signature-256".into(), signature.into())]
    }

    #[test]
    fn signatures_match_githubs_documented_example() {
        // The example of GitHub's "Validating webhook deliveries" page.
        assert_eq!(
            sign("It's a Secret to Everybody", b"Hello, World!").unwrap(),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    #[allow(clippy::type_complexity)] // a table of cases reads best inline
    fn signatures_are_verified() {
        let body = br#"{"zen":"Keep it logically awesome."}"#;
        let expected = WebhookAuth::SharedSecret(SECRET.into());
        let good = sign(SECRET, body).unwrap();
        assert!(verify_webhook(&expected, &headers(&good), body).is_ok());
        assert!(
            verify_webhook(
                &expected,
                &headers(&good.to_uppercase().replacen("SHA256", "sha256", 1)),
                body
            )
            .is_ok()
        );

        let other = sign("another-secret", body).unwrap();
        let cases: Vec<(Vec<(String, String)>, &[u8], &str)> = vec![
            (headers(&other), body, "does not match"),
            (headers(&good), b"{\"zen\":\"tampered\"}", "does not match"),
            (headers(&good[..good.len() - 2]), body, "does not match"),
            (headers("sha1=abcdef"), body, "sha256=<hex>"),
            (headers("sha256=zz"), body, "not hexadecimal"),
            (headers("sha256=abc"), body, "not hexadecimal"),
            (vec![], body, "no X-Hub-Signature-256"),
            (
                vec![("X-Hub-Signature".into(), "sha1=00".into())],
                body,
                "only the SHA-1",
            ),
        ];
        for (headers, body, fragment) in cases {
            let err = verify_webhook(&expected, &headers, body).unwrap_err();
            let text = message(&err);
            assert!(matches!(err, ProviderError::Unauthorized(_)), "{text}");
            assert!(text.contains(fragment), "{text:?} lacks {fragment:?}");
            assert!(!text.contains(SECRET), "{text}");
        }
    }

    #[test]
    fn no_verification_basic_and_empty_secrets() {
        assert!(verify_webhook(&WebhookAuth::None, &[], b"x").is_ok());
        let basic = WebhookAuth::Basic(BasicCredentials {
            username: "u".into(),
            password: "p".into(),
        });
        let err = verify_webhook(&basic, &[], b"x").unwrap_err();
        assert!(
            matches!(&err, ProviderError::InvalidConfig(m) if m.contains("GitHub signs deliveries; configure a shared secret"))
        );
        let err = verify_webhook(&WebhookAuth::SharedSecret(String::new()), &[], b"x").unwrap_err();
        assert!(matches!(err, ProviderError::InvalidConfig(_)));
    }

    fn connection() -> Connection {
        Connection {
            base_url: "https://api.github.com/".into(),
            credential: Credential::PersonalAccessToken("ghp_secret".into()),
            options: vec![],
        }
    }

    const ALL: [Capability; 4] = [
        Capability::ReadCode,
        Capability::WriteStatuses,
        Capability::ReadComments,
        Capability::WriteComments,
    ];

    const USER: &str = r#"{"login":"octo-bot","id":583231,"name":"Octo Bot"}"#;

    #[test]
    fn classic_scopes_decide_each_capability() {
        let host = FakeHost::default();
        host.answer(200, &[("x-oauth-scopes", "repo, workflow")], USER);
        let report = validate(&host, &connection(), &ALL).unwrap();
        assert_eq!(report.identity.id, "583231");
        assert_eq!(report.identity.unique_name.as_deref(), Some("octo-bot"));
        assert!(report.ok, "{}", report.summary);
        assert!(report.summary.contains("Octo Bot (@octo-bot)"));
        assert_eq!(host.requests.borrow()[0].url, "https://api.github.com/user");

        let host = FakeHost::default();
        host.answer(200, &[("x-oauth-scopes", "public_repo")], USER);
        let report = validate(&host, &connection(), &ALL).unwrap();
        assert!(!report.ok);
        let outcome = |c: Capability| {
            report
                .checks
                .iter()
                .find(|check| check.capability == c)
                .map(|check| (check.outcome, check.message.clone()))
                .unwrap()
        };
        assert_eq!(outcome(Capability::ReadCode).0, CheckOutcome::Granted);
        assert!(
            outcome(Capability::ReadCode)
                .1
                .contains("public repositories only")
        );
        assert_eq!(outcome(Capability::WriteStatuses).0, CheckOutcome::Missing);
        assert!(outcome(Capability::WriteStatuses).1.contains("repo:status"));
        assert!(report.summary.contains("validate again"));

        let host = FakeHost::default();
        host.answer(200, &[("x-oauth-scopes", "")], USER);
        let report = validate(&host, &connection(), &[Capability::ReadCode]).unwrap();
        assert_eq!(report.checks[0].outcome, CheckOutcome::Missing);
        assert!(report.checks[0].message.contains("(none)"));
    }

    #[test]
    fn fine_grained_tokens_report_unknown_with_what_to_grant() {
        let host = FakeHost::default();
        host.json(200, USER);
        let report = validate(
            &host,
            &connection(),
            &[Capability::WriteStatuses, Capability::WriteStatuses],
        )
        .unwrap();
        assert_eq!(report.checks.len(), 1);
        assert_eq!(report.checks[0].outcome, CheckOutcome::Unknown);
        assert!(
            report.checks[0]
                .message
                .contains("Commit statuses: Read and write")
        );
        assert!(!report.ok);
        let host = FakeHost::default();
        host.json(200, USER);
        let report = validate(&host, &connection(), &[]).unwrap();
        assert!(report.ok && report.summary.contains("only the identity"));
    }

    #[test]
    fn unusable_tokens_are_errors() {
        let host = FakeHost::default();
        host.json(401, r#"{"message":"Bad credentials"}"#);
        assert!(matches!(
            validate(&host, &connection(), &ALL),
            Err(ProviderError::Unauthorized(m)) if m.contains("Bad credentials")
        ));
        let host = FakeHost::default();
        host.json(
            403,
            r#"{"message":"Resource not accessible by integration"}"#,
        );
        assert!(matches!(
            validate(&host, &connection(), &ALL),
            Err(ProviderError::Forbidden(m)) if m.contains("Installation tokens")
        ));
    }

    #[test]
    fn oauth_flows_are_unsupported_with_a_reason() {
        use crate::GitHub;
        use provider_kit::Provider;
        let host = FakeHost::default();
        let app = provider_kit::auth::OauthApp {
            client_id: "c".into(),
            client_secret: "s".into(),
            redirect_uri: "https://example.com/cb".into(),
            tenant: None,
            scopes: vec![],
            options: vec![],
        };
        for result in [
            GitHub::authorization_url(&host, &app).map(|_| ()),
            GitHub::exchange_code(&host, &app, "code", "state").map(|_| ()),
            GitHub::refresh_token(&host, &app, "r").map(|_| ()),
        ] {
            assert!(
                matches!(result, Err(ProviderError::Unsupported(m)) if m.contains("not implemented"))
            );
        }
        assert!(host.requests.borrow().is_empty());
    }
}
