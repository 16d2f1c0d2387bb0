//! Typed errors of the provider: the WIT `provider-error`, and how host failures map to it.

pub use crate::bindings::vcs::provider::types::{ProviderError, RateLimit, UpstreamError};
use crate::host::{HttpError, StorageError};

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

/// A function this provider version does not implement yet.
pub fn unsupported(what: &str) -> ProviderError {
    ProviderError::Unsupported(format!(
        "{what} is not implemented by this version of the GitHub provider"
    ))
}

impl From<HttpError> for ProviderError {
    fn from(error: HttpError) -> Self {
        let text = match error {
            HttpError::Denied(m) => format!("the host refused the request: {m}"),
            HttpError::InvalidRequest(m) => format!("invalid request: {m}"),
            HttpError::Timeout(m) => format!("GitHub did not answer in time: {m}"),
            HttpError::TooLarge(m) => format!("GitHub's answer was too large: {m}"),
            HttpError::Connection(m) => format!("could not reach GitHub: {m}"),
            HttpError::NoRecording(m) => format!("no recorded answer: {m}"),
        };
        ProviderError::Transport(text)
    }
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

impl From<provider_kit::command_parser::PrefixError> for ProviderError {
    fn from(error: provider_kit::command_parser::PrefixError) -> Self {
        ProviderError::InvalidConfig(error.0)
    }
}

impl From<provider_kit::Error> for ProviderError {
    fn from(error: provider_kit::Error) -> Self {
        match error {
            provider_kit::Error::InvalidPayload(m) => ProviderError::InvalidPayload(m),
            provider_kit::Error::InvalidConfig(m) => ProviderError::InvalidConfig(m),
        }
    }
}
