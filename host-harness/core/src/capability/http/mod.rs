//! Outbound HTTP for guest components, behind an egress policy, with record and replay.
//!
//! A guest never opens sockets: it hands an [`OutboundRequest`] to an [`HttpBackend`].
//! The backends are
//!
//! - [`LiveHttp`]: the real client (ureq over rustls). It checks every URL against the
//!   [`EgressPolicy`] built from [`HttpConfig`] before connecting, never follows redirects,
//!   and caps time and size;
//! - [`Recorder`]: wraps another backend and keeps every exchange, scrubbed of secrets,
//!   as a [`Cassette`] (pretty JSON, meant to be read and edited by people);
//! - [`Replayer`]: serves the exchanges of a cassette back, so tests run without network.
//!
//! [`CallHttp`] is one call's side of the `http` import: the backend and the call's
//! request budget ([`crate::Limits::max_http_requests_per_call`]).

mod call;
mod cassette;
mod client;
mod config;
mod policy;
mod scrub;

#[cfg(test)]
mod test_server;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use self::call::CallHttp;
pub use self::cassette::{
    Body, Cassette, CassetteError, Interaction, RecordedRequest, RecordedResponse, Recorder,
    Replayer,
};
pub use self::client::{LiveHttp, USER_AGENT};
pub use self::config::HttpConfig;
pub use self::policy::EgressPolicy;
pub use self::scrub::{REDACTED, redact_headers};

/// The HTTP methods a guest may use (the `method` enum of the WIT contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

impl Method {
    /// Every method, in the contract's order.
    pub const ALL: [Method; 6] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ];

    /// The method as it goes on the wire (upper case).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = String;

    /// Case-insensitive, so hand-written cassettes may say `get`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown HTTP method {s:?} (expected GET, HEAD, POST, PUT, PATCH or DELETE)"
                )
            })
    }
}

impl serde::Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Method {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One request a guest wants sent.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    /// The method.
    pub method: Method,
    /// An absolute URL; the egress policy decides whether it may be reached.
    pub url: String,
    /// Header names and values, in order; repeated names are sent repeatedly.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// A tighter limit than the host's for the whole exchange; it can only shorten it.
    pub timeout: Option<Duration>,
}

impl OutboundRequest {
    /// A request without headers, body or own timeout.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout: None,
        }
    }
}

// Hand-written so that `{:?}` in a log line never prints credentials or bodies.
impl fmt::Debug for OutboundRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &redact_headers(&self.headers))
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The answer to an [`OutboundRequest`]; any status, 3xx and 5xx included, is an answer.
#[derive(Clone, PartialEq, Eq)]
pub struct InboundResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lower case from the live client) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The whole body, within the host's size limit.
    pub body: Vec<u8>,
}

impl InboundResponse {
    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

// Hand-written for the same reason as `OutboundRequest`'s: `Set-Cookie` must not reach logs.
impl fmt::Debug for InboundResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundResponse")
            .field("status", &self.status)
            .field("headers", &redact_headers(&self.headers))
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Why no answer was delivered. The payload is the whole human-readable sentence (it is
/// handed to the guest as it is), so `Display` prints just that.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The egress policy refused the request; the message names the host and the rule.
    #[error("{0}")]
    Denied(String),
    /// The request or its URL is malformed, or its body is over the limit.
    #[error("{0}")]
    InvalidRequest(String),
    /// No complete answer within the time limit.
    #[error("{0}")]
    Timeout(String),
    /// The answer exceeded the host's size limit.
    #[error("{0}")]
    TooLarge(String),
    /// DNS, TCP, TLS or protocol failure.
    #[error("{0}")]
    Connection(String),
    /// Replay mode: no recorded interaction matches the request.
    #[error("{0}")]
    NoRecording(String),
}

/// Something that turns a request into an answer: the live client, a recorder, a replayer.
pub trait HttpBackend: Send + Sync {
    /// Send one request and wait for its answer.
    fn send(&self, request: &OutboundRequest) -> Result<InboundResponse, HttpError>;
}

impl<T: HttpBackend + ?Sized> HttpBackend for std::sync::Arc<T> {
    fn send(&self, request: &OutboundRequest) -> Result<InboundResponse, HttpError> {
        (**self).send(request)
    }
}

impl<T: HttpBackend + ?Sized> HttpBackend for Box<T> {
    fn send(&self, request: &OutboundRequest) -> Result<InboundResponse, HttpError> {
        (**self).send(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_strings_round_trip() {
        for m in Method::ALL {
            assert_eq!(m.as_str().parse::<Method>(), Ok(m));
            assert_eq!(m.as_str().to_lowercase().parse::<Method>(), Ok(m));
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.as_str()));
            assert_eq!(serde_json::from_str::<Method>(&json).unwrap(), m);
        }
        assert!("OPTIONS".parse::<Method>().is_err());
        assert!(serde_json::from_str::<Method>("\"TRACE\"").is_err());
    }

    #[test]
    fn debug_output_hides_credentials() {
        let mut request = OutboundRequest::new(Method::Post, "https://dev.azure.com/x");
        request
            .headers
            .push(("Authorization".into(), "Basic c2VjcmV0".into()));
        request.body = Some(b"client_secret=hunter2".to_vec());
        let text = format!("{request:?}");
        assert!(!text.contains("c2VjcmV0"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let response = InboundResponse {
            status: 200,
            headers: vec![("set-cookie".into(), "session=abc".into())],
            body: b"secret body".to_vec(),
        };
        let text = format!("{response:?}");
        assert!(
            !text.contains("session=abc") && !text.contains("secret body"),
            "{text}"
        );
        assert_eq!(response.header("Set-Cookie"), Some("session=abc"));
    }
}
