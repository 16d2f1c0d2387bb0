//! Reading untrusted JSON: the shared reader ([`provider_kit::json`]) with GitHub's body
//! limit and wording. Its errors become `invalid-payload` through
//! `From<provider_kit::Error> for ProviderError`.

use serde_json::Value;

use crate::error::{ProviderError, Result};

pub use provider_kit::json::{Node, parse_timestamp};

/// Largest body GitHub sends (it caps payloads at 25 MB); anything larger is not a
/// webhook delivery.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// GitHub's webhook bodies, for the checks of [`parse_body`].
const BODY_RULES: provider_kit::json::BodyRules = provider_kit::json::BodyRules {
    max_bytes: MAX_BODY_BYTES,
    sender: "GitHub",
    delivery: "a GitHub webhook delivery",
    payloads: "GitHub payloads",
};

/// An invalid-payload error with the given text.
pub fn invalid(text: impl Into<String>) -> ProviderError {
    ProviderError::InvalidPayload(text.into())
}

/// Check size and nesting without recursion, then parse.
pub fn parse_body(body: &[u8]) -> Result<Value> {
    Ok(provider_kit::json::parse_body(body, &BODY_RULES)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message of an `invalid-payload` error.
    fn payload_message(err: ProviderError) -> String {
        match err {
            ProviderError::InvalidPayload(message) => message,
            other => panic!("not invalid-payload: {other:?}"),
        }
    }

    #[test]
    fn bodies_are_checked_with_github_wording() {
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        let err = parse_body(deep.as_bytes()).unwrap_err();
        assert_eq!(
            payload_message(err),
            "the body is nested deeper than 64 levels; GitHub payloads never are"
        );
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        let err = parse_body(&big).unwrap_err();
        assert_eq!(
            payload_message(err),
            "the body is 26214401 bytes, more than the 26214400 bytes GitHub ever sends"
        );
        let err = parse_body(b"").unwrap_err();
        assert_eq!(
            payload_message(err),
            "the body is empty; a GitHub webhook delivery is a JSON object"
        );
        let value = parse_body(br#"{"pull_request":{"number":"7"}}"#).unwrap();
        let err: ProviderError = Node::root(&value)
            .req_obj("pull_request")
            .and_then(|pull| pull.req("number")?.u64())
            .unwrap_err()
            .into();
        assert_eq!(
            payload_message(err),
            "pull_request.number must be a number, found string"
        );
    }
}
