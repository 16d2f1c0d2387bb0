//! The live client: ureq over rustls, behind the egress policy.

use std::io;
use std::time::{Duration, Instant};

use ureq::http;

use super::config::HttpConfig;
use super::policy::EgressPolicy;
use super::scrub::{Scrubber, redact_headers};
use super::{HttpBackend, HttpError, InboundResponse, Method, OutboundRequest};

/// The `User-Agent` the host sends: names the host, says nothing about the machine.
pub const USER_AGENT: &str = "vcs-provider-host/0.1";

/// Headers the host computes itself; a guest's copy is dropped so it cannot desynchronise
/// the framing (request smuggling) or retarget the request.
const HOST_CONTROLLED_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// The real HTTP client. Checks each URL against the [`EgressPolicy`] before connecting,
/// returns redirects instead of following them (a redirect could lead off the allowlist),
/// and caps time and body sizes.
#[derive(Debug)]
pub struct LiveHttp {
    config: HttpConfig,
    policy: EgressPolicy,
    agent: ureq::Agent,
}

impl LiveHttp {
    /// Build the client and its one connection-pooling agent.
    pub fn new(config: HttpConfig) -> Self {
        let agent_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .save_redirect_history(false)
            .user_agent(USER_AGENT)
            // Proxy variables from the environment would route around the policy's view
            // of where a request goes; the host connects directly.
            .proxy(None)
            // The policy already refused anything that is not https or permitted loopback.
            .https_only(false)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_global(Some(config.request_timeout))
            .build();
        Self {
            policy: EgressPolicy::new(&config),
            agent: agent_config.new_agent(),
            config,
        }
    }

    /// The settings this client enforces.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// The egress rules this client enforces.
    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    fn exchange(
        &self,
        request: &OutboundRequest,
        shown_url: &str,
    ) -> Result<InboundResponse, HttpError> {
        let url = self.policy.check(&request.url)?;
        let what = format!("{} {shown_url}", request.method);

        let body_len = request.body.as_ref().map_or(0, Vec::len);
        if u64::try_from(body_len).unwrap_or(u64::MAX) > self.config.max_request_bytes {
            return Err(HttpError::InvalidRequest(format!(
                "invalid request: the body of {what} is {body_len} bytes, over the {}-byte limit",
                self.config.max_request_bytes
            )));
        }

        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(url.as_str());
        for (name, value) in &request.headers {
            if HOST_CONTROLLED_HEADERS
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name.trim()))
            {
                tracing::debug!(header = %name, "dropping a header the host sets itself");
                continue;
            }
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                HttpError::InvalidRequest(format!(
                    "invalid request: {name:?} is not a valid header name"
                ))
            })?;
            let value = http::HeaderValue::from_str(value).map_err(|_| {
                // The value may be a credential: name the header, never print the value.
                HttpError::InvalidRequest(format!(
                    "invalid request: the value of header {name:?} has characters a header \
                     cannot carry"
                ))
            })?;
            builder = builder.header(name, value);
        }

        let timeout = request.timeout.map_or(self.config.request_timeout, |t| {
            t.min(self.config.request_timeout)
        });
        let invalid = |e: http::Error| {
            HttpError::InvalidRequest(format!("invalid request: {what} cannot be built: {e}"))
        };
        let sent = match request.body.as_deref() {
            Some(body) if !body.is_empty() || sends_body(request.method) => {
                self.run(builder.body(body).map_err(invalid)?, timeout)
            }
            _ => self.run(builder.body(()).map_err(invalid)?, timeout),
        };
        let mut response = sent.map_err(|e| self.map_error(e, &what, timeout))?;

        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();

        let max = self.config.max_response_bytes;
        if request.method != Method::Head {
            // Refuse a declared oversize body before reading any of it.
            let declared = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if let Some(declared) = declared.filter(|d| *d > max) {
                return Err(too_large(&what, max, Some(declared)));
            }
        }
        // The limit also holds for chunked and close-delimited bodies, whatever they claim.
        let body = response
            .body_mut()
            .with_config()
            .limit(max)
            .read_to_vec()
            .map_err(|e| self.map_error(e, &what, timeout))?;

        Ok(InboundResponse {
            status,
            headers,
            body,
        })
    }

    fn run<B: ureq::AsSendBody>(
        &self,
        request: http::Request<B>,
        timeout: Duration,
    ) -> Result<http::Response<ureq::Body>, ureq::Error> {
        let request = self
            .agent
            .configure_request(request)
            .timeout_global(Some(timeout))
            .build();
        self.agent.run(request)
    }

    fn map_error(&self, error: ureq::Error, what: &str, timeout: Duration) -> HttpError {
        let timed_out = |limit: Duration, phase: &str| {
            HttpError::Timeout(format!(
                "request timed out: {what} did not complete within the {phase} limit of {} ms",
                limit.as_millis()
            ))
        };
        match error {
            ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
                timed_out(self.config.connect_timeout.min(timeout), "connect")
            }
            ureq::Error::Timeout(_) => timed_out(timeout, "total"),
            ureq::Error::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                timed_out(timeout, "total")
            }
            ureq::Error::BodyExceedsLimit(_) => {
                too_large(what, self.config.max_response_bytes, None)
            }
            ureq::Error::LargeResponseHeader(size, limit) => HttpError::TooLarge(format!(
                "response too large: the headers of the answer to {what} exceed {limit} bytes \
                 ({size} bytes)"
            )),
            ureq::Error::HostNotFound => HttpError::Connection(format!(
                "connection failed: {what}: the host name did not resolve"
            )),
            ureq::Error::BadUri(e) => {
                HttpError::InvalidRequest(format!("invalid request: {what}: {e}"))
            }
            ureq::Error::Http(e) => {
                HttpError::InvalidRequest(format!("invalid request: {what}: {e}"))
            }
            ureq::Error::Tls(e) => {
                HttpError::Connection(format!("connection failed: {what}: TLS error: {e}"))
            }
            ureq::Error::Rustls(e) => {
                HttpError::Connection(format!("connection failed: {what}: TLS error: {e}"))
            }
            other => HttpError::Connection(format!("connection failed: {what}: {other}")),
        }
    }
}

fn too_large(what: &str, max: u64, declared: Option<u64>) -> HttpError {
    let declared = declared.map_or(String::new(), |d| format!(" (it declares {d} bytes)"));
    HttpError::TooLarge(format!(
        "response too large: the body of the answer to {what} exceeds the {max}-byte limit \
         (http.max_response_bytes){declared}"
    ))
}

/// Methods whose requests carry a body even when it is empty (`Content-Length: 0`).
fn sends_body(method: Method) -> bool {
    matches!(method, Method::Post | Method::Put | Method::Patch)
}

impl HttpBackend for LiveHttp {
    fn send(&self, request: &OutboundRequest) -> Result<InboundResponse, HttpError> {
        // Query parameters such as `code=` must not reach logs or error messages.
        let shown_url = Scrubber::default().url(&request.url);
        let started = Instant::now();
        let result = self.exchange(request, &shown_url);
        let elapsed_ms = started.elapsed().as_millis();
        match &result {
            Ok(response) => tracing::debug!(
                method = %request.method,
                url = %shown_url,
                status = response.status,
                elapsed_ms,
                request_headers = ?redact_headers(&request.headers),
                response_headers = ?redact_headers(&response.headers),
                response_bytes = response.body.len(),
                "outbound HTTP exchange"
            ),
            Err(error) => tracing::debug!(
                method = %request.method,
                url = %shown_url,
                elapsed_ms,
                request_headers = ?redact_headers(&request.headers),
                %error,
                "outbound HTTP exchange failed"
            ),
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::test_server::{Reply, TestServer};
    use super::*;

    fn loopback_config() -> HttpConfig {
        HttpConfig {
            allow_hosts: vec!["127.0.0.1".into()],
            allow_loopback: true,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_response_bytes: 1024,
            max_request_bytes: 64,
        }
    }

    #[test]
    fn ok_response_round_trips_body_and_headers() {
        let server = TestServer::start(vec![Reply::Raw(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Thing: a\r\nX-Thing: b\r\n\
              Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}"
                .to_vec(),
        )]);
        let client = LiveHttp::new(loopback_config());
        let mut request = OutboundRequest::new(Method::Post, server.url("/api?x=1"));
        request.headers = vec![
            ("Accept".into(), "application/json".into()),
            ("Authorization".into(), "Bearer abc".into()),
            ("Content-Length".into(), "9999".into()),
        ];
        request.body = Some(b"{\"a\":1}".to_vec());
        let response = client.send(&request).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"{\"ok\":true}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        let things: Vec<&str> = response
            .headers
            .iter()
            .filter(|(n, _)| n == "x-thing")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(things, ["a", "b"]);

        let seen = server.finish();
        assert_eq!(seen.len(), 1);
        let r = &seen[0];
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/api?x=1");
        assert_eq!(r.body, b"{\"a\":1}");
        assert_eq!(r.header("user-agent"), Some(USER_AGENT));
        assert_eq!(r.header("authorization"), Some("Bearer abc"));
        assert_eq!(r.header("content-length"), Some("7"));
    }

    #[test]
    fn redirect_is_returned_not_followed() {
        let server = TestServer::start(vec![
            Reply::Raw(
                b"HTTP/1.1 302 Found\r\nLocation: /target\r\nContent-Length: 0\r\n\
                  Connection: close\r\n\r\n"
                    .to_vec(),
            ),
            Reply::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()),
        ]);
        let client = LiveHttp::new(loopback_config());
        let response = client
            .send(&OutboundRequest::new(Method::Get, server.url("/start")))
            .unwrap();
        assert_eq!(response.status, 302);
        assert_eq!(response.header("location"), Some("/target"));
        let seen = server.finish();
        assert_eq!(seen.len(), 1, "the redirect target must not be requested");
        assert_eq!(seen[0].target, "/start");
    }

    #[test]
    fn server_error_is_a_response() {
        let server = TestServer::start(vec![Reply::Raw(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops"
                .to_vec(),
        )]);
        let client = LiveHttp::new(loopback_config());
        let response = client
            .send(&OutboundRequest::new(Method::Get, server.url("/")))
            .unwrap();
        assert_eq!(
            (response.status, response.body.as_slice()),
            (500, &b"oops"[..])
        );
        server.finish();
    }

    #[test]
    fn oversize_responses_are_too_large() {
        let big = vec![b'x'; 4096];
        let declared = [
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                big.len()
            )
            .into_bytes(),
            big.clone(),
        ]
        .concat();
        // No length: the body runs to the end of the connection, the cap must still hold.
        let undeclared = [
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec(),
            big,
        ]
        .concat();
        let exact = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n".to_vec(),
            vec![b'y'; 1024],
        ]
        .concat();
        let server = TestServer::start(vec![
            Reply::Raw(declared),
            Reply::Raw(undeclared),
            Reply::Raw(exact),
        ]);
        let client = LiveHttp::new(loopback_config());
        for _ in 0..2 {
            let err = client
                .send(&OutboundRequest::new(Method::Get, server.url("/big")))
                .unwrap_err();
            assert!(matches!(err, HttpError::TooLarge(_)), "{err:?}");
            assert!(err.to_string().contains("1024-byte limit"), "{err}");
        }
        let ok = client
            .send(&OutboundRequest::new(Method::Get, server.url("/exact")))
            .unwrap();
        assert_eq!(ok.body.len(), 1024);
        server.finish();
    }

    #[test]
    fn silent_server_times_out() {
        let server = TestServer::start(vec![Reply::Silent(Duration::from_secs(5))]);
        let client = LiveHttp::new(HttpConfig {
            request_timeout: Duration::from_millis(300),
            ..loopback_config()
        });
        let started = Instant::now();
        let err = client
            .send(&OutboundRequest::new(Method::Get, server.url("/slow")))
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(matches!(err, HttpError::Timeout(_)), "{err:?}");
        assert!(err.to_string().contains("300 ms"), "{err}");
        assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
        drop(client);
        server.finish();
    }

    #[test]
    fn request_timeout_only_shortens() {
        let server = TestServer::start(vec![Reply::Silent(Duration::from_secs(5))]);
        let client = LiveHttp::new(loopback_config());
        let mut request = OutboundRequest::new(Method::Get, server.url("/slow"));
        request.timeout = Some(Duration::from_millis(200));
        let started = Instant::now();
        let err = client.send(&request).unwrap_err();
        assert!(matches!(err, HttpError::Timeout(_)), "{err:?}");
        assert!(err.to_string().contains("200 ms"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
        server.finish();

        // A longer per-request timeout is capped by the host's.
        let server = TestServer::start(vec![Reply::Silent(Duration::from_secs(5))]);
        let client = LiveHttp::new(HttpConfig {
            request_timeout: Duration::from_millis(250),
            ..loopback_config()
        });
        let mut request = OutboundRequest::new(Method::Get, server.url("/slow"));
        request.timeout = Some(Duration::from_secs(60));
        let err = client.send(&request).unwrap_err();
        assert!(err.to_string().contains("250 ms"), "{err}");
        server.finish();
    }

    #[test]
    fn policy_and_request_checks_happen_before_connecting() {
        let server = TestServer::start(vec![]);
        let port = server.port();
        let client = LiveHttp::new(HttpConfig {
            allow_hosts: vec!["dev.azure.com".into()],
            ..loopback_config()
        });
        let denied = [
            format!("http://dev.azure.com:{port}/"),
            format!("http://10.0.0.1:{port}/"),
            format!("https://169.254.169.254:{port}/"),
        ];
        for url in &denied {
            let err = client
                .send(&OutboundRequest::new(Method::Get, url.clone()))
                .unwrap_err();
            assert!(matches!(err, HttpError::Denied(_)), "{url}: {err:?}");
        }
        let no_loopback = LiveHttp::new(HttpConfig {
            allow_loopback: false,
            ..loopback_config()
        });
        let err = no_loopback
            .send(&OutboundRequest::new(Method::Get, server.url("/")))
            .unwrap_err();
        assert!(err.to_string().contains("allow_loopback is off"), "{err}");

        let mut big = OutboundRequest::new(Method::Post, server.url("/"));
        big.body = Some(vec![0; 65]);
        let err = client.send(&big).unwrap_err();
        assert!(
            matches!(&err, HttpError::InvalidRequest(m) if m.contains("64-byte limit")),
            "{err:?}"
        );

        let mut bad_header = OutboundRequest::new(Method::Get, server.url("/"));
        bad_header.headers = vec![("X-Token".into(), "line\r\nbreak-secret".into())];
        let err = client.send(&bad_header).unwrap_err();
        assert!(matches!(err, HttpError::InvalidRequest(_)), "{err:?}");
        assert!(!err.to_string().contains("break-secret"), "{err}");

        assert!(server.finish().is_empty(), "no connection may be made");
    }

    #[test]
    fn refused_connection_is_a_connection_error() {
        // Bind then drop, so the port is (very likely) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let client = LiveHttp::new(loopback_config());
        let err = client
            .send(&OutboundRequest::new(
                Method::Get,
                format!("http://127.0.0.1:{port}/?code=xyz"),
            ))
            .unwrap_err();
        assert!(matches!(err, HttpError::Connection(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("connection failed: GET http://127.0.0.1"),
            "{err}"
        );
        assert!(!err.to_string().contains("xyz"), "{err}");
    }

    #[test]
    fn tls_to_a_plain_server_is_a_connection_error() {
        // Exercises the rustls set-up for real: the server answers the ClientHello in
        // plain HTTP, which must fail the handshake cleanly.
        let server = TestServer::start(vec![Reply::Blurt(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
        )]);
        let client = LiveHttp::new(loopback_config());
        let url = format!("https://127.0.0.1:{}/", server.port());
        let err = client
            .send(&OutboundRequest::new(Method::Get, url))
            .unwrap_err();
        assert!(matches!(err, HttpError::Connection(_)), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("connection failed: GET https://127.0.0.1"),
            "{err}"
        );
        server.finish();
    }

    #[test]
    fn head_ignores_declared_length() {
        let server = TestServer::start(vec![Reply::Raw(
            b"HTTP/1.1 200 OK\r\nContent-Length: 999999\r\nConnection: close\r\n\r\n".to_vec(),
        )]);
        let client = LiveHttp::new(loopback_config());
        let response = client
            .send(&OutboundRequest::new(Method::Head, server.url("/")))
            .unwrap();
        assert_eq!(response.status, 200);
        assert!(response.body.is_empty());
        assert_eq!(server.finish()[0].method, "HEAD");
    }
}
