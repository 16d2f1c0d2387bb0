//! The `auth` interface: OAuth app flow, credential validation, webhook verification.
//!
//! - [`oauth`]: the Microsoft Entra ID authorization-code flow with PKCE (authorization
//!   URL, code exchange, refresh), talking to the identity platform directly.
//! - [`validate`](mod@validate): who a credential acts as, and which capabilities it has.
//! - [`verify_webhook`]: the Basic credentials of service-hook deliveries.

use base64::Engine as _;

use provider_kit::auth::{AuthorizationRequest, Capability, OauthApp, TokenSet, ValidationReport};
use provider_kit::error::{ProviderError, Result};
use provider_kit::host::Host;
use provider_kit::types::{Connection, WebhookAuth};

pub mod oauth;
pub mod validate;

/// Build the authorization URL of the Entra ID code flow (fresh `state`, PKCE S256).
pub fn authorization_url(host: &impl Host, app: &OauthApp) -> Result<AuthorizationRequest> {
    oauth::authorization_url(host, app)
}

/// Exchange an authorization code for tokens, consuming the `state` it was issued with.
pub fn exchange_code(
    host: &impl Host,
    app: &OauthApp,
    code: &str,
    state: &str,
) -> Result<TokenSet> {
    oauth::exchange_code(host, app, code, state)
}

/// Redeem a refresh token; the answer carries the rotated refresh token.
pub fn refresh_token(host: &impl Host, app: &OauthApp, refresh_token: &str) -> Result<TokenSet> {
    oauth::refresh_token(host, app, refresh_token)
}

/// Validate a credential against the organization: identity and capability probes.
pub fn validate(
    host: &impl Host,
    connection: &Connection,
    required: &[Capability],
) -> Result<ValidationReport> {
    validate::validate(host, connection, required)
}

/// Verify a service-hook delivery. Azure DevOps has no signatures: the only receiver
/// authentication is the Basic credentials set on the subscription.
pub fn verify_webhook(expected: &WebhookAuth, headers: &[(String, String)]) -> Result<()> {
    match expected {
        WebhookAuth::None => Ok(()),
        WebhookAuth::SharedSecret(_) => Err(ProviderError::InvalidConfig(
            "Azure DevOps service hooks cannot sign deliveries; configure a user name and \
             password (Basic) on the subscription instead of a shared secret"
                .into(),
        )),
        WebhookAuth::Basic(credentials) => {
            let presented = headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                .map(|(_, value)| value.trim());
            let Some(presented) = presented else {
                return Err(ProviderError::Unauthorized(
                    "the delivery carries no Authorization header; set the user name and \
                     password of this integration on the service-hook subscription"
                        .into(),
                ));
            };
            let Some(encoded) = presented
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
                .map(|(_, rest)| rest.trim())
            else {
                return Err(ProviderError::Unauthorized(
                    "the delivery's Authorization header is not Basic credentials".into(),
                ));
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| {
                    ProviderError::Unauthorized(
                        "the delivery's Basic credentials are not valid base64".into(),
                    )
                })?;
            let expected_pair =
                format!("{}:{}", credentials.username, credentials.password).into_bytes();
            if constant_time_eq(&decoded, &expected_pair) {
                Ok(())
            } else {
                // Never echo what was presented: it may be somebody's real password.
                Err(ProviderError::Unauthorized(
                    "the delivery's Basic credentials do not match this integration's".into(),
                ))
            }
        }
    }
}

/// Compare two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use provider_kit::types::BasicCredentials;

    fn basic(user: &str, password: &str) -> WebhookAuth {
        WebhookAuth::Basic(BasicCredentials {
            username: user.into(),
            password: password.into(),
        })
    }

    fn header(value: &str) -> Vec<(String, String)> {
        vec![("authorization".into(), value.into())]
    }

    #[test]
    fn basic_credentials_are_checked() {
        let expected = basic("hook", "s3cret:with-colon");
        let good = base64::engine::general_purpose::STANDARD.encode("hook:s3cret:with-colon");
        assert!(verify_webhook(&expected, &header(&format!("Basic {good}"))).is_ok());
        assert!(verify_webhook(&expected, &header(&format!("basic  {good} "))).is_ok());

        let wrong = base64::engine::general_purpose::STANDARD.encode("hook:nope");
        for (value, fragment) in [
            (format!("Basic {wrong}"), "do not match"),
            ("Bearer abc".to_string(), "not Basic"),
            ("Basic !!!".to_string(), "base64"),
        ] {
            let err = verify_webhook(&expected, &header(&value)).unwrap_err();
            let text = provider_kit::error::message(&err);
            assert!(text.contains(fragment), "{text}");
            assert!(!text.contains("nope") && !text.contains("s3cret"), "{text}");
        }
        let err = verify_webhook(&expected, &[]).unwrap_err();
        assert!(matches!(err, ProviderError::Unauthorized(m) if m.contains("no Authorization")));
        assert!(verify_webhook(&WebhookAuth::None, &[]).is_ok());
        assert!(matches!(
            verify_webhook(&WebhookAuth::SharedSecret("k".into()), &[]),
            Err(ProviderError::InvalidConfig(_))
        ));
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
