//! What every provider's REST client does alike: base URLs and API URLs, the request
//! through the host (its failures worded for the platform), headers and `Retry-After`,
//! JSON in and out, and short error texts. How a platform's answers map to
//! `provider-error` (its status codes, its error bodies) stays in the provider.

use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::Provider;
use crate::error::{ProviderError, Result, UpstreamError, transport};
use crate::host::{Host, Method, Request, Response};

/// Longest error text taken from an answer body, so a huge page never floods a message.
pub const MAX_MESSAGE_CHARS: usize = 600;

/// Check a base URL (an organization URL, an API root) and normalize it: no user
/// information (it breaks authenticated calls), no query or fragment, a trailing `/`.
/// `what` names the URL in messages ("the organization URL"), `example` shows a good one.
pub fn normalize_base_url(raw: &str, what: &str, example: &str) -> Result<Url> {
    let mut url = Url::parse(raw.trim()).map_err(|e| {
        ProviderError::InvalidConfig(format!("{what} {raw:?} is not a valid URL ({e})"))
    })?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(ProviderError::InvalidConfig(format!(
            "{what} {raw:?} must be an https:// URL such as {example}"
        )));
    }
    // Setting these cannot fail on an http(s) URL with a host; ignore the unit errors.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A URL under `base` (which ends with `/`): each segment percent-encoded (names may hold
/// spaces), then the query pairs. `what` names the base in messages.
pub fn url_under(base: &Url, segments: &[&str], query: &[(&str, &str)], what: &str) -> Result<Url> {
    let mut url = base.clone();
    {
        let mut path = url.path_segments_mut().map_err(|()| {
            ProviderError::InvalidConfig(format!("{what} {base} cannot carry a path"))
        })?;
        path.pop_if_empty();
        for segment in segments {
            path.push(segment);
        }
    }
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in query {
            pairs.append_pair(name, value);
        }
    }
    Ok(url)
}

/// A request to `url` with `headers`, and `Content-Type: application/json` when it
/// carries a body.
pub fn json_request(
    method: Method,
    url: &Url,
    mut headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
) -> Request {
    if body.is_some() {
        headers.push((
            "Content-Type".to_string(),
            "application/json; charset=utf-8".to_string(),
        ));
    }
    Request {
        method,
        url: url.to_string(),
        headers,
        body,
        timeout_ms: None,
    }
}

/// Send `request` through the host; a failure to carry it is a `transport` error naming
/// `P`'s platform ([`transport`]).
pub fn send<P: Provider + ?Sized>(
    host: &(impl Host + ?Sized),
    request: &Request,
) -> Result<Response> {
    host.send(request).map_err(transport::<P>)
}

/// A request body as JSON.
pub fn to_json<B: Serialize>(body: &B) -> Result<Vec<u8>> {
    serde_json::to_vec(body)
        .map_err(|e| ProviderError::InvalidPayload(format!("could not encode the request: {e}")))
}

/// Decode a JSON success answer; a document of another shape is `upstream`, worded for
/// `P`'s platform.
pub fn parse_json<P: Provider + ?Sized, T: DeserializeOwned>(
    response: &Response,
    url: &Url,
) -> Result<T> {
    serde_json::from_slice(&response.body).map_err(|e| {
        ProviderError::Upstream(UpstreamError {
            status: Some(response.status),
            message: format!(
                "{} answered {} with a document this provider does not understand ({e})",
                P::DISPLAY_NAME,
                redact_query(url)
            ),
        })
    })
}

/// The first value of a header, by case-insensitive name, trimmed.
pub fn header<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
    find_header(&response.headers, name)
}

/// The first value of `name` (case-insensitive) among `headers`, trimmed: for
/// deliveries' headers as for answers'.
pub fn find_header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// `Retry-After` in seconds, when the answer carries it as a number (an HTTP date is
/// not read).
pub fn retry_after(response: &Response) -> Option<u32> {
    header(response, "retry-after").and_then(|v| v.parse::<u32>().ok())
}

/// The URL without its query, for messages (queries may carry ids but never secrets;
/// this keeps messages short).
pub fn redact_query(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.to_string()
}

/// `text` cut to `max_chars` characters, with `…` where it was cut.
pub fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_string(),
    }
}
