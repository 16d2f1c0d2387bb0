//! The one small Azure DevOps REST client every interface module uses.
//!
//! It speaks api-version 7.1 (overridable for Azure DevOps Server 2020/2022 through the
//! connection option `api-version`), always asks for JSON and suppresses the sign-in
//! redirect, and turns every non-success answer into a typed [`ProviderError`] whose
//! message a person can act on. Requests go through the host's `http` import, which
//! enforces the egress policy and never follows redirects.

use base64::Engine as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use provider_kit::error::{ProviderError, RateLimit, Result, UpstreamError};
use provider_kit::host::{Host, Level, Method, Response};
use provider_kit::rest::{self, MAX_MESSAGE_CHARS, clip, header, redact_query};
use provider_kit::types::{Connection, Credential};

use crate::AzureDevOps;

/// The REST API version used against Azure DevOps Services.
pub const API_VERSION: &str = "7.1";

/// How messages name the connection's base URL.
const BASE_URL: &str = "the organization URL";

/// An authenticated client for one organization or collection.
pub struct Client<'h, H: Host + ?Sized> {
    host: &'h H,
    base: Url,
    authorization: String,
    api_version: String,
}

impl<H: Host + ?Sized> std::fmt::Debug for Client<'_, H> {
    // Never print the Authorization value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("api_version", &self.api_version)
            .finish_non_exhaustive()
    }
}

impl<'h, H: Host + ?Sized> Client<'h, H> {
    /// A client for the organization or collection of `connection`.
    pub fn new(host: &'h H, connection: &Connection) -> Result<Self> {
        let base = normalize_base_url(&connection.base_url)?;
        let authorization = match &connection.credential {
            // Azure DevOps PATs go as Basic with an empty user name, whatever their length.
            Credential::PersonalAccessToken(token) => {
                if token.trim().is_empty() {
                    return Err(ProviderError::InvalidConfig(
                        "the personal access token is empty".into(),
                    ));
                }
                let encoded = base64::engine::general_purpose::STANDARD.encode(format!(":{token}"));
                format!("Basic {encoded}")
            }
            Credential::OauthAccessToken(token) => {
                if token.trim().is_empty() {
                    return Err(ProviderError::InvalidConfig(
                        "the OAuth access token is empty".into(),
                    ));
                }
                format!("Bearer {token}")
            }
        };
        let api_version = connection
            .options
            .iter()
            .find(|(name, _)| name == "api-version")
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| API_VERSION.to_string());
        Ok(Self {
            host,
            base,
            authorization,
            api_version,
        })
    }

    /// The organization or collection base URL (ends with `/`).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The api-version this client sends (7.1 unless the connection overrides it).
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// An API URL under the base: each segment is percent-encoded (project names may hold
    /// spaces), and `api-version` is added.
    pub fn api_url(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Url> {
        self.api_url_with_version(segments, query, &self.api_version)
    }

    /// [`Client::api_url`] with another api-version, for endpoints that exist only in a
    /// preview version (policy evaluations: `7.1-preview.1`).
    pub fn api_url_with_version(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        api_version: &str,
    ) -> Result<Url> {
        let mut url = self.unversioned_url(segments, query)?;
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        Ok(url)
    }

    /// Like [`Client::api_url`] without `api-version`, for the few resources that take
    /// none (`_apis/connectionData`).
    pub fn unversioned_url(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Url> {
        rest::url_under(&self.base, segments, query, BASE_URL)
    }

    /// GET a JSON document.
    pub fn get<T: DeserializeOwned>(&self, url: &Url) -> Result<T> {
        let response = self.send(Method::Get, url, None)?;
        rest::parse_json::<AzureDevOps, T>(&response, url)
    }

    /// POST a JSON body and read a JSON answer.
    pub fn post<B: Serialize, T: DeserializeOwned>(&self, url: &Url, body: &B) -> Result<T> {
        let response = self.send(Method::Post, url, Some(rest::to_json(body)?))?;
        rest::parse_json::<AzureDevOps, T>(&response, url)
    }

    /// PATCH a JSON body and read a JSON answer.
    pub fn patch<B: Serialize, T: DeserializeOwned>(&self, url: &Url, body: &B) -> Result<T> {
        let response = self.send(Method::Patch, url, Some(rest::to_json(body)?))?;
        rest::parse_json::<AzureDevOps, T>(&response, url)
    }

    /// Send a request and classify the answer: `Ok` only for a genuine JSON success.
    pub fn send(&self, method: Method, url: &Url, body: Option<Vec<u8>>) -> Result<Response> {
        let headers = vec![
            ("Accept".to_string(), "application/json".to_string()),
            // Ask for a 401 instead of a redirect to the sign-in page.
            ("X-TFS-FedAuthRedirect".to_string(), "Suppress".to_string()),
            ("Authorization".to_string(), self.authorization.clone()),
        ];
        let request = rest::json_request(method, url, headers, body);
        let response = rest::send::<AzureDevOps>(self.host, &request)?;
        if let Some(seconds) = header(&response, "retry-after") {
            // Azure DevOps sends Retry-After on successful answers when the identity
            // nears its limit; tell the host so it can slow down.
            if (200..300).contains(&response.status) {
                self.host.log(
                    Level::Warn,
                    "Azure DevOps asks to slow down",
                    &[
                        ("retry_after".into(), seconds.to_string()),
                        ("url".into(), redact_query(url)),
                    ],
                );
            }
        }
        classify(response, url)
    }
}

/// Check an organization or collection URL and normalize it: no user information (it
/// breaks authenticated calls), no query or fragment, a trailing `/`.
pub fn normalize_base_url(raw: &str) -> Result<Url> {
    rest::normalize_base_url(raw, BASE_URL, "https://dev.azure.com/contoso/")
}

/// Turn an answer into `Ok` (a JSON success) or the typed error a person can act on.
pub fn classify(response: Response, url: &Url) -> Result<Response> {
    let status = response.status;
    let where_ = redact_query(url);
    let content_type = header(&response, "content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let looks_html = content_type.contains("text/html") || starts_like_html(&response.body);

    if status == 203 || ((200..300).contains(&status) && looks_html) {
        return Err(ProviderError::Unauthorized(format!(
            "Azure DevOps answered {where_} with a sign-in page instead of data (HTTP {status}): \
             the credential is missing, wrong or expired; re-authenticate or replace the token"
        )));
    }
    if (200..300).contains(&status) {
        return Ok(response);
    }

    let detail = error_detail(&response.body, looks_html);
    let with_detail = |text: String| match &detail {
        Some(d) => format!("{text}: {d}"),
        None => text,
    };

    // Policy refusals carry their TF/VS code in the message, whatever the status.
    if let Some(d) = &detail {
        if d.contains("VS403463") {
            return Err(ProviderError::Forbidden(format!(
                "a conditional access policy of the organization refused this credential \
                 (VS403463); sign in from an allowed location or device, or ask an \
                 administrator to adjust the policy: {d}"
            )));
        }
        // TF400813 naming no user (`The user ''`) means no identity came out of the
        // credential at all: an expired or revoked token (seen on PATCH, where GET and
        // POST get a 203 sign-in page instead), not an organization policy.
        if d.contains("TF400813") && d.contains("user ''") {
            return Err(ProviderError::Unauthorized(format!(
                "Azure DevOps could not tell who this credential is at {where_} (TF400813 \
                 without a user): the token is expired or revoked; re-authenticate or replace \
                 the token: {d}"
            )));
        }
        if d.contains("TF400813") {
            return Err(ProviderError::Forbidden(format!(
                "the organization does not let this identity use the API (TF400813): check \
                 that the user has access to the organization and, for OAuth apps, that the \
                 policy \"Third-party application access via OAuth\" is on: {d}"
            )));
        }
    }

    Err(match status {
        300..=399 => ProviderError::Unauthorized(with_detail(format!(
            "Azure DevOps redirected {where_} (HTTP {status}{}) instead of answering, which \
             means it wants an interactive sign-in: the credential is missing, wrong or expired",
            header(&response, "location")
                .map(|l| format!(" to {}", l.split('?').next().unwrap_or(l)))
                .unwrap_or_default()
        ))),
        401 => ProviderError::Unauthorized(with_detail(format!(
            "Azure DevOps rejected the credential for {where_} (HTTP 401): it is wrong, \
             expired or revoked; create a new token or re-authenticate the app"
        ))),
        403 => ProviderError::Forbidden(with_detail(format!(
            "the credential may not do this at {where_} (HTTP 403): a scope or permission is \
             missing"
        ))),
        404 => ProviderError::NotFound(with_detail(format!(
            "Azure DevOps found nothing at {where_} (HTTP 404): check the organization URL, \
             project and repository, and that the credential can see them"
        ))),
        409 | 412 => ProviderError::Conflict(with_detail(format!(
            "Azure DevOps reported a conflict at {where_} (HTTP {status})"
        ))),
        429 => {
            let retry_after = rest::retry_after(&response);
            ProviderError::RateLimited(RateLimit {
                retry_after_seconds: retry_after,
                message: with_detail(format!(
                    "Azure DevOps is throttling this identity (HTTP 429){}",
                    retry_after
                        .map(|s| format!("; retry after {s} seconds"))
                        .unwrap_or_default()
                )),
            })
        }
        _ => ProviderError::Upstream(UpstreamError {
            status: Some(status),
            message: with_detail(format!("Azure DevOps answered {where_} with HTTP {status}")),
        }),
    })
}

fn starts_like_html(body: &[u8]) -> bool {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let head: Vec<u8> = body
        .iter()
        .skip(start)
        .take(15)
        .map(u8::to_ascii_lowercase)
        .collect();
    head.starts_with(b"<!doctype html") || head.starts_with(b"<html")
}

/// The message of an Azure DevOps error body (`{"message": "TF...: ..."}`), or a short
/// plain-text excerpt; nothing for HTML pages.
fn error_detail(body: &[u8], looks_html: bool) -> Option<String> {
    if body.is_empty() || looks_html {
        return None;
    }
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => value
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string)?,
        Err(_) => String::from_utf8_lossy(body).trim().to_string(),
    };
    if text.is_empty() {
        return None;
    }
    Some(clip(&text, MAX_MESSAGE_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use provider_kit::fake::FakeHost;
    use provider_kit::host::HttpError;

    fn connection(credential: Credential) -> Connection {
        Connection {
            base_url: "https://dev.azure.com/contoso".into(),
            credential,
            options: vec![],
        }
    }

    fn pat() -> Connection {
        connection(Credential::PersonalAccessToken("secret-pat-value".into()))
    }

    #[test]
    fn pat_is_basic_with_empty_user_and_oauth_is_bearer() {
        let host = FakeHost::default();
        host.json(200, "{}").json(200, "{}");
        let client = Client::new(&host, &pat()).unwrap();
        let url = client.api_url(&["_apis", "projects"], &[]).unwrap();
        let _: serde_json::Value = client.get(&url).unwrap();
        let oauth = connection(Credential::OauthAccessToken("eyJ0".into()));
        let client = Client::new(&host, &oauth).unwrap();
        let _: serde_json::Value = client.get(&url).unwrap();

        let requests = host.requests.borrow();
        let auth = |i: usize| {
            requests[i]
                .headers
                .iter()
                .find(|(n, _)| n == "Authorization")
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        // base64(":secret-pat-value")
        assert_eq!(auth(0), "Basic OnNlY3JldC1wYXQtdmFsdWU=");
        assert_eq!(auth(1), "Bearer eyJ0");
        assert!(
            requests[0]
                .headers
                .iter()
                .any(|(n, v)| n == "Accept" && v == "application/json")
        );
        assert!(
            requests[0]
                .headers
                .iter()
                .any(|(n, v)| n == "X-TFS-FedAuthRedirect" && v == "Suppress")
        );
    }

    #[test]
    fn debug_output_never_shows_the_credential() {
        let host = FakeHost::default();
        let client = Client::new(&host, &pat()).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("secret-pat-value"));
        assert!(!shown.contains("OnNlY3JldC1wYXQtdmFsdWU="));
    }

    #[test]
    fn empty_tokens_are_configuration_errors() {
        let host = FakeHost::default();
        let err = Client::new(
            &host,
            &connection(Credential::PersonalAccessToken(" ".into())),
        )
        .unwrap_err();
        assert!(matches!(err, ProviderError::InvalidConfig(m) if m.contains("empty")));
    }

    #[test]
    fn api_urls_encode_segments_and_carry_the_version() {
        let host = FakeHost::default();
        let client = Client::new(&host, &pat()).unwrap();
        let url = client
            .api_url(
                &["My Project", "_apis", "git", "repositories", "r1"],
                &[("$top", "2000")],
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://dev.azure.com/contoso/My%20Project/_apis/git/repositories/r1?%24top=2000&api-version=7.1"
        );
        let url = client
            .unversioned_url(&["_apis", "connectionData"], &[])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://dev.azure.com/contoso/_apis/connectionData"
        );
        let mut server = pat();
        server.base_url = "https://tfs.example.com:8443/tfs/DefaultCollection/".into();
        server.options = vec![("api-version".into(), "7.0".into())];
        let client = Client::new(&host, &server).unwrap();
        let url = client.api_url(&["_apis", "connectionData"], &[]).unwrap();
        assert_eq!(
            url.as_str(),
            "https://tfs.example.com:8443/tfs/DefaultCollection/_apis/connectionData?api-version=7.0"
        );
    }

    #[test]
    fn base_urls_are_normalized() {
        for (raw, want) in [
            (
                "https://dev.azure.com/contoso",
                "https://dev.azure.com/contoso/",
            ),
            (
                "https://contoso@dev.azure.com/contoso/",
                "https://dev.azure.com/contoso/",
            ),
            (
                "https://u:p@contoso.visualstudio.com/?x=1#y",
                "https://contoso.visualstudio.com/",
            ),
            (
                " https://dev.azure.com/contoso/ ",
                "https://dev.azure.com/contoso/",
            ),
        ] {
            assert_eq!(normalize_base_url(raw).unwrap().as_str(), want, "{raw}");
        }
        for bad in [
            "",
            "dev.azure.com/contoso",
            "ftp://dev.azure.com/x",
            "file:///etc/passwd",
        ] {
            assert!(
                matches!(
                    normalize_base_url(bad),
                    Err(ProviderError::InvalidConfig(_))
                ),
                "{bad}"
            );
        }
    }

    fn classify_one(status: u16, headers: &[(&str, &str)], body: &str) -> Result<Response> {
        let url = Url::parse("https://dev.azure.com/contoso/_apis/x?api-version=7.1").unwrap();
        classify(
            Response {
                status,
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                body: body.as_bytes().to_vec(),
            },
            &url,
        )
    }

    #[test]
    #[allow(clippy::type_complexity)] // a table of cases reads best inline
    fn answers_are_classified_into_typed_errors() {
        let json = [("content-type", "application/json")];
        let html = [("content-type", "text/html; charset=utf-8")];
        assert!(classify_one(200, &json, "{}").is_ok());
        assert!(classify_one(201, &json, "{}").is_ok());
        assert!(classify_one(204, &[], "").is_ok());

        let cases: Vec<(u16, &[(&str, &str)], &str, &str, &str)> = vec![
            (
                203,
                &html,
                "<html>sign in</html>",
                "unauthorized",
                "sign-in page",
            ),
            (
                200,
                &[],
                "  <!DOCTYPE html><html>",
                "unauthorized",
                "sign-in page",
            ),
            (200, &html, "<html></html>", "unauthorized", "HTTP 200"),
            (
                302,
                &[(
                    "location",
                    "https://spsprodweu5.vssps.visualstudio.com/_signin?realm=x",
                )],
                "",
                "unauthorized",
                "_signin",
            ),
            (
                401,
                &json,
                r#"{"message":"TF400813: The user 'x' is not authorized to access this resource.","typeKey":"UnauthorizedRequestException"}"#,
                "forbidden",
                "Third-party application access via OAuth",
            ),
            (
                401,
                &json,
                r#"{"message":"TF400813: The user '' is not authorized to access this resource.","typeKey":"UnauthorizedRequestException"}"#,
                "unauthorized",
                "expired or revoked",
            ),
            (401, &[], "", "unauthorized", "wrong, expired or revoked"),
            (
                403,
                &json,
                r#"{"message":"VS403463: The conditional access policy defined by your Azure Active Directory administrator has failed."}"#,
                "forbidden",
                "conditional access",
            ),
            (
                403,
                &json,
                r#"{"message":"TF401027: You need the Git 'PullRequestContribute' permission to perform this action."}"#,
                "forbidden",
                "TF401027",
            ),
            (
                404,
                &json,
                r#"{"message":"TF200016: The following project does not exist: nope."}"#,
                "not-found",
                "TF200016",
            ),
            (
                409,
                &json,
                r#"{"message":"conflict"}"#,
                "conflict",
                "conflict",
            ),
            (
                429,
                &[("Retry-After", "30")],
                "",
                "rate-limited",
                "retry after 30 seconds",
            ),
            (
                500,
                &json,
                r#"{"message":"VS402335: boom"}"#,
                "upstream",
                "VS402335",
            ),
            (
                503,
                &[],
                "Service Unavailable",
                "upstream",
                "Service Unavailable",
            ),
        ];
        for (status, headers, body, kind, fragment) in cases {
            let err = classify_one(status, headers, body).unwrap_err();
            let got_kind = match &err {
                ProviderError::Unauthorized(_) => "unauthorized",
                ProviderError::Forbidden(_) => "forbidden",
                ProviderError::NotFound(_) => "not-found",
                ProviderError::Conflict(_) => "conflict",
                ProviderError::RateLimited(_) => "rate-limited",
                ProviderError::Upstream(_) => "upstream",
                _ => "other",
            };
            let text = provider_kit::error::message(&err);
            assert_eq!(got_kind, kind, "status {status}: {text}");
            assert!(
                text.contains(fragment),
                "status {status}: {text:?} lacks {fragment:?}"
            );
            assert!(!text.contains("api-version"), "{text}");
        }
        match classify_one(429, &[("retry-after", "7")], "").unwrap_err() {
            ProviderError::RateLimited(r) => assert_eq!(r.retry_after_seconds, Some(7)),
            other => panic!("{other:?}"),
        }
        match classify_one(429, &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], "")
            .unwrap_err()
        {
            ProviderError::RateLimited(r) => assert_eq!(r.retry_after_seconds, None),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn long_error_bodies_are_clipped() {
        let body = format!(r#"{{"message":"{}"}}"#, "é".repeat(5000));
        let err = classify_one(500, &[], &body).unwrap_err();
        assert!(provider_kit::error::message(&err).chars().count() < MAX_MESSAGE_CHARS + 100);
    }

    #[test]
    fn transport_failures_and_bad_json_are_typed() {
        let host = FakeHost::default();
        host.fail(HttpError::Denied("host not allowlisted".into()))
            .json(200, "not json");
        let client = Client::new(&host, &pat()).unwrap();
        let url = client.api_url(&["_apis", "x"], &[]).unwrap();
        let err = client.get::<serde_json::Value>(&url).unwrap_err();
        assert!(matches!(err, ProviderError::Transport(m) if m.contains("not allowlisted")));
        let err = client.get::<serde_json::Value>(&url).unwrap_err();
        assert!(matches!(
            err,
            ProviderError::Upstream(UpstreamError {
                status: Some(200),
                ..
            })
        ));
    }

    #[test]
    fn retry_after_on_success_is_logged_not_failed() {
        let host = FakeHost::default();
        host.answer(
            200,
            &[("content-type", "application/json"), ("Retry-After", "12")],
            "{}",
        );
        let client = Client::new(&host, &pat()).unwrap();
        let url = client.api_url(&["_apis", "x"], &[]).unwrap();
        let _: serde_json::Value = client.get(&url).unwrap();
        let logs = host.logs.borrow();
        assert!(
            logs.iter()
                .any(|l| l.contains("slow down") && l.contains("12")),
            "{logs:?}"
        );
    }
}
