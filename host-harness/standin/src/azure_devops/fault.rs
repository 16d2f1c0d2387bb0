//! Fault injection: requests that fail on purpose, a given number of times, then heal.

use std::time::Duration;

/// How a faulted request is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// `429 Too Many Requests` with `Retry-After: {retry_after_seconds}`, the `X-RateLimit-*`
    /// headers and the `RequestBlockedException` body Azure DevOps sends when an identity
    /// exceeds its usage.
    RateLimited {
        /// The value of the `Retry-After` header, in seconds.
        retry_after_seconds: u32,
    },
    /// `203 Non-Authoritative Information` with an HTML sign-in page: what Azure DevOps
    /// answers when it does not take a credential and was not asked to suppress the
    /// redirect to its sign-in.
    SignInPage203,
    /// An error answer with this status. 4xx and 5xx carry Azure DevOps' JSON error body
    /// (a 500 says `TF400898: An Internal Error Occurred`); other statuses come with an
    /// empty body.
    ServerError(u16),
    /// Wait this long, then answer the request normally.
    Delay(Duration),
}

impl FaultKind {
    /// A short name for the request log.
    pub fn label(&self) -> &'static str {
        match self {
            FaultKind::RateLimited { .. } => "rate-limited",
            FaultKind::SignInPage203 => "sign-in-page-203",
            FaultKind::ServerError(_) => "server-error",
            FaultKind::Delay(_) => "delay",
        }
    }
}

/// A fault to inject: which requests it hits, how many times, and how they are answered.
///
/// Faults are checked in the order they were injected, before authentication and routing;
/// the first one that matches a request and has uses left takes it. A request that
/// was faulted is in the request log with the status it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The HTTP method to match (case-insensitive); `None` matches every method.
    pub method: Option<String>,
    /// A substring of the request target (path and query, as sent, percent-encoded) to
    /// match; empty matches every request.
    pub path_contains: String,
    /// How many matching requests fail; after that the fault heals. Zero never fires.
    pub times: u32,
    /// How the matching requests are answered.
    pub kind: FaultKind,
}

impl Fault {
    /// A fault on `method` (`None`: any) requests whose target contains `path_contains`,
    /// for `times` requests.
    pub fn new(method: Option<&str>, path_contains: &str, times: u32, kind: FaultKind) -> Self {
        Self {
            method: method.map(str::to_string),
            path_contains: path_contains.to_string(),
            times,
            kind,
        }
    }

    /// Whether this fault applies to a request (uses left aside).
    pub fn matches(&self, method: &str, target: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.trim().eq_ignore_ascii_case(method))
            && target.contains(&self.path_contains)
    }
}
