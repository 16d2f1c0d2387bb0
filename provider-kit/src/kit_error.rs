//! The one error type of the shared logic (besides the parser's [`PrefixError`]).
//!
//! [`PrefixError`]: crate::command_parser::PrefixError

/// Why shared logic refused its input. Each provider maps the variants to the
/// `provider-error` cases of the same names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input (a webhook body, a run report) is malformed or cannot be handled.
    InvalidPayload(String),
    /// A setting (such as a comment length limit) makes the request impossible.
    InvalidConfig(String),
}

impl Error {
    /// The message, for logs and tests.
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidPayload(message) | Error::InvalidConfig(message) => message,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of the shared logic.
pub type Result<T, E = Error> = std::result::Result<T, E>;
