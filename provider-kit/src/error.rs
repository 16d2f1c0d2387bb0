//! The WIT `provider-error`, and how host and kit failures map to it.
//!
//! Storage failures, the kit's own [`Error`](crate::Error) and an unusable command
//! prefix convert with `?` (their wording names no platform). HTTP failures name the
//! platform ("GitHub did not answer in time"), so they go through [`transport`] with the
//! provider's names; [`Provider`] answers [`unsupported`] for what it does not implement.

use crate::Provider;
use crate::command_parser::PrefixError;
use crate::host::{HttpError, StorageError};

pub use crate::types::{ProviderError, RateLimit, UpstreamError};

/// Shorthand for results of provider operations.
pub type Result<T, E = ProviderError> = std::result::Result<T, E>;

/// The message of any provider error, for logs and tests.
pub fn message(error: &ProviderError) -> &str {
    match error {
        ProviderError::Unauthorized(m)
        | ProviderError::Forbidden(m)
        | ProviderError::NotFound(m)
        | ProviderError::InvalidPayload(m)
        | ProviderError::InvalidConfig(m)
        | ProviderError::Conflict(m)
        | ProviderError::Transport(m)
        | ProviderError::Storage(m)
        | ProviderError::Unsupported(m) => m,
        ProviderError::RateLimited(r) => &r.message,
        ProviderError::Upstream(u) => &u.message,
    }
}

/// The case of an error as its WIT name (`not-found`, `rate-limited`, ...), for logs
/// and tests.
pub fn kind(error: &ProviderError) -> &'static str {
    match error {
        ProviderError::Unauthorized(_) => "unauthorized",
        ProviderError::Forbidden(_) => "forbidden",
        ProviderError::NotFound(_) => "not-found",
        ProviderError::RateLimited(_) => "rate-limited",
        ProviderError::InvalidPayload(_) => "invalid-payload",
        ProviderError::InvalidConfig(_) => "invalid-config",
        ProviderError::Conflict(_) => "conflict",
        ProviderError::Upstream(_) => "upstream",
        ProviderError::Transport(_) => "transport",
        ProviderError::Storage(_) => "storage",
        ProviderError::Unsupported(_) => "unsupported",
    }
}

/// An `invalid-payload` error with the given text.
pub fn invalid(text: impl Into<String>) -> ProviderError {
    ProviderError::InvalidPayload(text.into())
}

/// A function this provider version does not implement: `what` is not implemented by
/// this version of the `P::DISPLAY_NAME` provider.
pub fn unsupported<P: Provider + ?Sized>(what: &str) -> ProviderError {
    ProviderError::Unsupported(format!(
        "{what} is not implemented by this version of the {} provider",
        P::DISPLAY_NAME
    ))
}

/// A failure of the host's `http` import as a `transport` error naming the platform
/// (`P::DISPLAY_NAME`, `P::POSSESSIVE`).
pub fn transport<P: Provider + ?Sized>(error: HttpError) -> ProviderError {
    let (name, possessive) = (P::DISPLAY_NAME, P::POSSESSIVE);
    let text = match error {
        HttpError::Denied(m) => format!("the host refused the request: {m}"),
        HttpError::InvalidRequest(m) => format!("invalid request: {m}"),
        HttpError::Timeout(m) => format!("{name} did not answer in time: {m}"),
        HttpError::TooLarge(m) => format!("{possessive} answer was too large: {m}"),
        HttpError::Connection(m) => format!("could not reach {name}: {m}"),
        HttpError::NoRecording(m) => format!("no recorded answer: {m}"),
    };
    ProviderError::Transport(text)
}

impl From<StorageError> for ProviderError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::TooLarge(m) => ProviderError::Storage(format!("storage limit: {m}")),
            StorageError::Unavailable(m) => {
                ProviderError::Storage(format!("storage unavailable: {m}"))
            }
        }
    }
}

impl From<PrefixError> for ProviderError {
    fn from(error: PrefixError) -> Self {
        ProviderError::InvalidConfig(error.0)
    }
}

impl From<crate::Error> for ProviderError {
    fn from(error: crate::Error) -> Self {
        match error {
            crate::Error::InvalidPayload(m) => ProviderError::InvalidPayload(m),
            crate::Error::InvalidConfig(m) => ProviderError::InvalidConfig(m),
        }
    }
}
