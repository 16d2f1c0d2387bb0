//! The one small GitHub REST client every interface module uses.
//!
//! It sends the token as `Authorization: Bearer` (fine-grained and classic personal
//! access tokens, installation tokens and OAuth tokens all go that way), asks for
//! `application/vnd.github+json` at API version `2022-11-28`, names itself in
//! `User-Agent` (GitHub refuses requests without one), and turns every non-success
//! answer into a typed [`ProviderError`] whose message a person can act on.
//!
//! The connection's `base-url` is the API root: `https://api.github.com/` for github.com,
//! `https://HOST/api/v3/` for GitHub Enterprise Server.

use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use provider_kit::error::{ProviderError, RateLimit, Result, UpstreamError};
use provider_kit::host::{Host, Method, Response};
use provider_kit::rest::{self, MAX_MESSAGE_CHARS, clip, header, redact_query};
use provider_kit::types::{Connection, Credential};

use crate::GitHub;

/// The REST API version sent in `X-GitHub-Api-Version`.
pub const API_VERSION: &str = "2022-11-28";

/// The media type GitHub recommends for its REST API.
pub const ACCEPT: &str = "application/vnd.github+json";

/// What the provider calls itself in `User-Agent`.
pub const USER_AGENT: &str = concat!("vcs-provider-github/", env!("CARGO_PKG_VERSION"));

/// How messages name the connection's base URL.
const BASE_URL: &str = "the API URL";

/// An authenticated client for one GitHub API root.
pub struct Client<'h, H: Host + ?Sized> {
    host: &'h H,
    base: Url,
    authorization: String,
}

impl<H: Host + ?Sized> std::fmt::Debug for Client<'_, H> {
    // Never print the Authorization value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl<'h, H: Host + ?Sized> Client<'h, H> {
    /// A client for the API root of `connection`.
    pub fn new(host: &'h H, connection: &Connection) -> Result<Self> {
        let base = normalize_base_url(&connection.base_url)?;
        let (token, what) = match &connection.credential {
            Credential::PersonalAccessToken(token) => (token, "personal access token"),
            Credential::OauthAccessToken(token) => (token, "OAuth access token"),
        };
        let token = token.trim();
        if token.is_empty() {
            return Err(ProviderError::InvalidConfig(format!("the {what} is empty")));
        }
        if token.chars().any(|c| c.is_control() || c == ' ') {
            return Err(ProviderError::InvalidConfig(format!(
                "the {what} contains spaces or control characters; paste the token alone"
            )));
        }
        Ok(Self {
            host,
            base,
            authorization: format!("Bearer {token}"),
        })
    }

    /// The API root (ends with `/`).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// An API URL under the root: each segment is percent-encoded, the query appended.
    pub fn api_url(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Url> {
        rest::url_under(&self.base, segments, query, BASE_URL)
    }

    /// `repos/{owner}/{name}/{tail...}`.
    pub fn repo_url(
        &self,
        owner: &str,
        name: &str,
        tail: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Url> {
        let mut segments = vec!["repos", owner, name];
        segments.extend_from_slice(tail);
        self.api_url(&segments, query)
    }

    /// GET a JSON document.
    pub fn get<T: DeserializeOwned>(&self, url: &Url) -> Result<T> {
        let response = self.send(Method::Get, url, None)?;
        rest::parse_json::<GitHub, T>(&response, url)
    }

    /// POST a JSON body and read a JSON answer.
    pub fn post<B: Serialize, T: DeserializeOwned>(&self, url: &Url, body: &B) -> Result<T> {
        let response = self.send(Method::Post, url, Some(rest::to_json(body)?))?;
        rest::parse_json::<GitHub, T>(&response, url)
    }

    /// PATCH a JSON body and read a JSON answer.
    pub fn patch<B: Serialize, T: DeserializeOwned>(&self, url: &Url, body: &B) -> Result<T> {
        let response = self.send(Method::Patch, url, Some(rest::to_json(body)?))?;
        rest::parse_json::<GitHub, T>(&response, url)
    }

    /// Send a request and classify the answer: `Ok` only for a 2xx.
    pub fn send(&self, method: Method, url: &Url, body: Option<Vec<u8>>) -> Result<Response> {
        let headers = vec![
            ("Accept".to_string(), ACCEPT.to_string()),
            ("X-GitHub-Api-Version".to_string(), API_VERSION.to_string()),
            ("User-Agent".to_string(), USER_AGENT.to_string()),
            ("Authorization".to_string(), self.authorization.clone()),
        ];
        let request = rest::json_request(method, url, headers, body);
        let response = rest::send::<GitHub>(self.host, &request)?;
        classify(response, url, self.host.now_unix())
    }
}

/// Check an API root URL and normalize it: no user information, query or fragment, a
/// trailing `/`.
pub fn normalize_base_url(raw: &str) -> Result<Url> {
    rest::normalize_base_url(
        raw,
        BASE_URL,
        "https://api.github.com/ or https://github.example.com/api/v3/",
    )
}

/// Turn an answer into `Ok` (a 2xx) or the typed error a person can act on; `now` (epoch
/// seconds) turns `x-ratelimit-reset` into a delay.
pub fn classify(response: Response, url: &Url, now: u64) -> Result<Response> {
    let status = response.status;
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let where_ = redact_query(url);
    let detail = error_detail(&response.body);
    let with_detail = |text: String| match &detail {
        Some(d) => format!("{text}: {d}"),
        None => text,
    };
    let retry_after = rest::retry_after(&response);
    let exhausted = header(&response, "x-ratelimit-remaining") == Some("0");
    // GitHub signals both primary (remaining 0) and secondary (retry-after) limits with
    // 403 or 429; a plain 403 is a permission problem.
    if status == 429 || (status == 403 && (exhausted || retry_after.is_some())) {
        return Err(ProviderError::RateLimited(RateLimit {
            retry_after_seconds: retry_after
                .or_else(|| exhausted.then(|| reset_delay(&response, now)).flatten()),
            message: with_detail(format!(
                "GitHub is rate-limiting this credential at {where_} (HTTP {status}){}",
                retry_after
                    .map(|s| format!("; retry after {s} seconds"))
                    .unwrap_or_default()
            )),
        }));
    }
    Err(match status {
        300..=399 => ProviderError::Upstream(UpstreamError {
            status: Some(status),
            message: with_detail(format!(
                "GitHub redirected {where_} (HTTP {status}) instead of answering; the \
                 repository may have been renamed or moved"
            )),
        }),
        401 => ProviderError::Unauthorized(with_detail(format!(
            "GitHub rejected the token for {where_} (HTTP 401): it is wrong, expired or \
             revoked; create a new token"
        ))),
        403 => ProviderError::Forbidden(with_detail(format!(
            "the token may not do this at {where_} (HTTP 403): a permission or scope is \
             missing, or an organization policy blocks the token"
        ))),
        404 => ProviderError::NotFound(with_detail(format!(
            "GitHub found nothing at {where_} (HTTP 404): check the owner, repository and \
             number, and that the token can see the repository (private repositories answer \
             404 to tokens without access)"
        ))),
        409 => ProviderError::Conflict(with_detail(format!(
            "GitHub reported a conflict at {where_} (HTTP 409)"
        ))),
        422 => ProviderError::InvalidPayload(with_detail(format!(
            "GitHub refused the request to {where_} as invalid (HTTP 422)"
        ))),
        _ => ProviderError::Upstream(UpstreamError {
            status: Some(status),
            message: with_detail(format!("GitHub answered {where_} with HTTP {status}")),
        }),
    })
}

/// Seconds until `x-ratelimit-reset` (epoch seconds) when the primary limit is used up.
fn reset_delay(response: &Response, now: u64) -> Option<u32> {
    let reset: u64 = header(response, "x-ratelimit-reset")?.parse().ok()?;
    u32::try_from(reset.saturating_sub(now)).ok()
}

/// GitHub's error message (`{"message": ..., "errors": [...]}`), or a plain-text excerpt.
fn error_detail(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => {
            let mut text = value
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or_default()
                .to_string();
            if let Some(errors) = value.get("errors").and_then(|e| e.as_array()) {
                let details: Vec<String> = errors
                    .iter()
                    .filter_map(|e| {
                        e.get("message")
                            .and_then(|m| m.as_str())
                            .map(str::to_string)
                            .or_else(|| e.get("code").and_then(|c| c.as_str()).map(str::to_string))
                    })
                    .collect();
                if !details.is_empty() {
                    text.push_str(&format!(" ({})", details.join("; ")));
                }
            }
            text
        }
        Err(_) => {
            let raw = String::from_utf8_lossy(body);
            if raw.trim_start().starts_with('<') {
                return None;
            }
            raw.trim().to_string()
        }
    };
    if text.trim().is_empty() {
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
            base_url: "https://api.github.com".into(),
            credential,
            options: vec![],
        }
    }

    fn pat() -> Connection {
        connection(Credential::PersonalAccessToken("github_pat_secret".into()))
    }

    #[test]
    fn requests_carry_bearer_accept_version_and_user_agent() {
        let host = FakeHost::default();
        host.json(200, "{}");
        let client = Client::new(&host, &pat()).unwrap();
        let url = client.api_url(&["user"], &[]).unwrap();
        assert_eq!(url.as_str(), "https://api.github.com/user");
        let _: serde_json::Value = client.get(&url).unwrap();
        let requests = host.requests.borrow();
        let has = |name: &str, value: &str| {
            requests[0]
                .headers
                .iter()
                .any(|(n, v)| n == name && v == value)
        };
        assert!(has("Authorization", "Bearer github_pat_secret"));
        assert!(has("Accept", "application/vnd.github+json"));
        assert!(has("X-GitHub-Api-Version", "2022-11-28"));
        assert!(
            requests[0]
                .headers
                .iter()
                .any(|(n, v)| n == "User-Agent" && !v.is_empty())
        );
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let host = FakeHost::default();
        let client = Client::new(&host, &pat()).unwrap();
        assert!(!format!("{client:?}").contains("github_pat_secret"));
    }

    #[test]
    fn empty_or_spaced_tokens_are_configuration_errors() {
        let host = FakeHost::default();
        for token in [" ", "two words", "a\nb"] {
            let err = Client::new(
                &host,
                &connection(Credential::OauthAccessToken(token.into())),
            )
            .unwrap_err();
            assert!(matches!(err, ProviderError::InvalidConfig(_)), "{token:?}");
        }
    }

    #[test]
    fn repo_urls_encode_segments_under_enterprise_roots() {
        let host = FakeHost::default();
        let mut ghes = pat();
        ghes.base_url = "https://u:p@github.example.com/api/v3?x=1".into();
        let client = Client::new(&host, &ghes).unwrap();
        let url = client
            .repo_url(
                "acme",
                "infra live",
                &["pulls", "7", "files"],
                &[("page", "2")],
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://github.example.com/api/v3/repos/acme/infra%20live/pulls/7/files?page=2"
        );
        for bad in ["", "api.github.com", "ftp://api.github.com/"] {
            assert!(matches!(
                normalize_base_url(bad),
                Err(ProviderError::InvalidConfig(_))
            ));
        }
    }

    fn classify_one(status: u16, headers: &[(&str, &str)], body: &str) -> Result<Response> {
        let url = Url::parse("https://api.github.com/repos/a/b?page=1").unwrap();
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
            40,
        )
    }

    fn kind(err: &ProviderError) -> &'static str {
        match err {
            ProviderError::Unauthorized(_) => "unauthorized",
            ProviderError::Forbidden(_) => "forbidden",
            ProviderError::NotFound(_) => "not-found",
            ProviderError::Conflict(_) => "conflict",
            ProviderError::RateLimited(_) => "rate-limited",
            ProviderError::InvalidPayload(_) => "invalid",
            ProviderError::Upstream(_) => "upstream",
            _ => "other",
        }
    }

    #[test]
    #[allow(clippy::type_complexity)] // a table of cases reads best inline
    fn answers_are_classified_into_typed_errors() {
        assert!(classify_one(200, &[], "{}").is_ok());
        assert!(classify_one(201, &[], "{}").is_ok());
        assert!(classify_one(204, &[], "").is_ok());
        let cases: Vec<(u16, &[(&str, &str)], &str, &str, &str)> = vec![
            (
                401,
                &[],
                r#"{"message":"Bad credentials"}"#,
                "unauthorized",
                "Bad credentials",
            ),
            (
                403,
                &[],
                r#"{"message":"Resource not accessible by personal access token"}"#,
                "forbidden",
                "Resource not accessible",
            ),
            (
                403,
                &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "100")],
                r#"{"message":"API rate limit exceeded"}"#,
                "rate-limited",
                "rate limit exceeded",
            ),
            (
                403,
                &[("Retry-After", "60")],
                r#"{"message":"You have exceeded a secondary rate limit"}"#,
                "rate-limited",
                "retry after 60 seconds",
            ),
            (429, &[], "", "rate-limited", "HTTP 429"),
            (
                404,
                &[],
                r#"{"message":"Not Found"}"#,
                "not-found",
                "Not Found",
            ),
            (
                422,
                &[],
                r#"{"message":"Validation Failed","errors":[{"resource":"Status","code":"custom","message":"state is not included in the list"}]}"#,
                "invalid",
                "state is not included",
            ),
            (409, &[], "", "conflict", "HTTP 409"),
            (502, &[], "<html>bad gateway</html>", "upstream", "HTTP 502"),
            (
                301,
                &[("location", "https://api.github.com/repositories/1")],
                "",
                "upstream",
                "renamed",
            ),
        ];
        for (status, headers, body, want, fragment) in cases {
            let err = classify_one(status, headers, body).unwrap_err();
            let text = provider_kit::error::message(&err);
            assert_eq!(kind(&err), want, "status {status}: {text}");
            assert!(
                text.contains(fragment),
                "status {status}: {text:?} lacks {fragment:?}"
            );
            assert!(!text.contains("page=1"), "{text}");
        }
        match classify_one(
            403,
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "100")],
            "",
        )
        .unwrap_err()
        {
            ProviderError::RateLimited(r) => assert_eq!(r.retry_after_seconds, Some(60)),
            other => panic!("{other:?}"),
        }
        match classify_one(429, &[("retry-after", "7")], "").unwrap_err() {
            ProviderError::RateLimited(r) => assert_eq!(r.retry_after_seconds, Some(7)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn transport_failures_and_bad_json_are_typed() {
        let host = FakeHost::default();
        host.fail(HttpError::Timeout("30 s".into()))
            .json(200, "not json");
        let client = Client::new(&host, &pat()).unwrap();
        let url = client.api_url(&["user"], &[]).unwrap();
        let err = client.get::<serde_json::Value>(&url).unwrap_err();
        assert!(matches!(err, ProviderError::Transport(m) if m.contains("GitHub did not answer")));
        let err = client.get::<serde_json::Value>(&url).unwrap_err();
        assert!(matches!(
            err,
            ProviderError::Upstream(UpstreamError {
                status: Some(200),
                ..
            })
        ));
    }
}
