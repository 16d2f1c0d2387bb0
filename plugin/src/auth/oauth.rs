//! The Microsoft Entra ID authorization-code flow with PKCE (the seed's "custom Azure
//! application").
//!
//! [`authorization_url`] draws a random `state` and PKCE verifier, keeps them in storage
//! under `oauth-state:{state}` for ten minutes, and builds the `/authorize` URL.
//! [`exchange_code`] consumes that state exactly once (compare-and-swap, so two
//! concurrent callbacks cannot both win) and redeems the code at `/token`;
//! [`refresh_token`] redeems a refresh token. Both talk to the identity platform
//! directly through [`Host::send`]: it is not an Azure DevOps REST API, so the REST
//! client's headers, `api-version` and error classification do not apply.
//!
//! The client secret, codes and tokens never reach storage, logs or error messages; the
//! PKCE verifier does reach storage, bounded by the state's TTL (it is worthless without
//! the code and the client secret).

use std::fmt::Write as _;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use url::Url;

use provider_kit::auth::{AuthorizationRequest, OauthApp, TokenSet};
use provider_kit::error::{ProviderError, RateLimit, Result, UpstreamError};
use provider_kit::host::{Host, HttpError, Level, Method, Request, Response};

/// The Entra ID authority used unless the app's option `authority` names another one
/// (sovereign clouds, e.g. `https://login.microsoftonline.us`).
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// The `app.options` key that overrides [`DEFAULT_AUTHORITY`].
pub const AUTHORITY_OPTION: &str = "authority";

/// The scopes asked for when the app names none: the Azure DevOps resource (its
/// well-known application id) with the app's configured permissions, and
/// `offline_access` for a refresh token.
pub const AZURE_DEVOPS_SCOPE: &str = "499b84ac-1321-427f-aa17-267ca6975798/.default offline_access";

/// How long a sign-in may take between [`authorization_url`] and [`exchange_code`].
pub const STATE_TTL_SECONDS: u32 = 600;

/// Prefix of the storage key of a pending sign-in.
pub const STATE_KEY_PREFIX: &str = "oauth-state:";

/// What a person sees when the callback's state is unknown, expired or reused.
pub const START_AGAIN: &str = "the sign-in link expired or was already used: start again";

/// Random bytes behind `state` and the PKCE verifier: 256 bits each, which encode to
/// 43 base64url characters (the verifier must be 43–128 unreserved characters).
const RANDOM_BYTES: usize = 32;

/// Longest excerpt of an Entra ID `error_description` put into a message.
const MAX_DESCRIPTION_CHARS: usize = 300;

/// What is kept in storage between the authorization URL and the callback.
#[derive(Debug, Serialize, Deserialize)]
struct PendingSignIn {
    verifier: String,
    redirect_uri: String,
    client_id: String,
    expires_at: u64,
}

/// The checked pieces of an app registration.
struct Registration<'a> {
    tenant: &'a str,
    client_id: &'a str,
    redirect_uri: &'a str,
    authority: String,
    scope: String,
}

impl Registration<'_> {
    fn authorize_endpoint(&self) -> String {
        format!("{}/{}/oauth2/v2.0/authorize", self.authority, self.tenant)
    }
    fn token_endpoint(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.authority, self.tenant)
    }
}

/// Build the authorization URL with a fresh `state` and PKCE S256 challenge, and keep
/// the pending sign-in in storage for [`STATE_TTL_SECONDS`].
pub fn authorization_url(host: &impl Host, app: &OauthApp) -> Result<AuthorizationRequest> {
    let registration = check_registration(app)?;
    let state = random_token(host)?;
    let verifier = random_token(host)?;
    let expires_at = host.now_unix().saturating_add(u64::from(STATE_TTL_SECONDS));
    let pending = PendingSignIn {
        verifier: verifier.clone(),
        redirect_uri: registration.redirect_uri.to_string(),
        client_id: registration.client_id.to_string(),
        expires_at,
    };
    let value = serde_json::to_vec(&pending).map_err(|e| {
        ProviderError::Storage(format!("could not encode the pending sign-in ({e})"))
    })?;
    // Insert-if-absent: a state is never handed out twice, even by a broken random source.
    let inserted = host.compare_and_swap(
        &state_key(&state),
        None,
        Some(&value),
        Some(STATE_TTL_SECONDS),
    )?;
    if !inserted {
        return Err(ProviderError::Conflict(
            "a pending sign-in already uses the state this provider drew, so the host's random \
             source repeats itself; fix the host's wasi:random before starting a sign-in"
                .into(),
        ));
    }
    let challenge = pkce_challenge(&verifier);
    let query = encode_pairs(&[
        ("client_id", registration.client_id),
        ("response_type", "code"),
        ("redirect_uri", registration.redirect_uri),
        ("response_mode", "query"),
        ("scope", &registration.scope),
        ("state", &state),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    host.log(
        Level::Info,
        "OAuth sign-in started",
        &[
            ("tenant".into(), registration.tenant.to_string()),
            ("expires_at".into(), expires_at.to_string()),
        ],
    );
    Ok(AuthorizationRequest {
        url: format!("{}?{query}", registration.authorize_endpoint()),
        state,
        expires_at,
    })
}

/// Redeem the code of a callback. The `state` is consumed first, whatever follows, so a
/// state works at most once.
pub fn exchange_code(
    host: &impl Host,
    app: &OauthApp,
    code: &str,
    state: &str,
) -> Result<TokenSet> {
    let registration = check_registration(app)?;
    let client_secret = check_client_secret(app)?;
    let code = code.trim();
    if code.is_empty() {
        return Err(ProviderError::InvalidPayload(
            "the callback carried no authorization code: start the sign-in again".into(),
        ));
    }
    let pending = consume_state(host, state.trim())?;
    if host.now_unix() >= pending.expires_at {
        return Err(ProviderError::Unauthorized(START_AGAIN.into()));
    }
    if pending.client_id != registration.client_id
        || pending.redirect_uri != registration.redirect_uri
    {
        return Err(ProviderError::Unauthorized(format!(
            "the sign-in was started for another app registration or callback URL than this \
             one ({START_AGAIN})"
        )));
    }
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", registration.client_id),
        ("client_secret", client_secret),
        ("code", code),
        ("redirect_uri", registration.redirect_uri),
        ("code_verifier", pending.verifier.as_str()),
        ("scope", registration.scope.as_str()),
    ];
    let secrets = [client_secret, code, pending.verifier.as_str()];
    request_tokens(host, &registration, &form, &secrets)
}

/// Redeem a refresh token. Entra ID rotates refresh tokens: the answer's one replaces
/// the old; when an answer carries none, the old one is kept (with a warning).
pub fn refresh_token(host: &impl Host, app: &OauthApp, refresh_token: &str) -> Result<TokenSet> {
    let registration = check_registration(app)?;
    let client_secret = check_client_secret(app)?;
    let refresh_token = refresh_token.trim();
    if refresh_token.is_empty() {
        return Err(ProviderError::Unauthorized(
            "there is no refresh token to redeem: re-authenticate the app".into(),
        ));
    }
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", registration.client_id),
        ("client_secret", client_secret),
        ("refresh_token", refresh_token),
        ("scope", registration.scope.as_str()),
    ];
    let secrets = [client_secret, refresh_token];
    let mut tokens = request_tokens(host, &registration, &form, &secrets)?;
    if tokens.refresh_token.is_none() {
        host.log(
            Level::Warn,
            "Microsoft Entra ID returned no new refresh token; keeping the previous one",
            &[("tenant".into(), registration.tenant.to_string())],
        );
        tokens.refresh_token = Some(refresh_token.to_string());
    }
    Ok(tokens)
}

/// Check the parts of the app registration every step needs.
fn check_registration(app: &OauthApp) -> Result<Registration<'_>> {
    let tenant = app
        .tenant
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ProviderError::InvalidConfig(
                "the OAuth app has no tenant: set the Directory (tenant) ID or a verified \
                 domain of the Microsoft Entra ID app registration"
                    .into(),
            )
        })?;
    // "consumers" and its GUID are the personal-account (MSA) tenant.
    if tenant.eq_ignore_ascii_case("consumers")
        || tenant.eq_ignore_ascii_case("9188040d-6c67-4c5b-b112-36a304b66dad")
    {
        return Err(ProviderError::InvalidConfig(
            "personal Microsoft accounts (tenant \"consumers\") are not supported by Azure \
             DevOps: use the Directory (tenant) ID of the organization's Microsoft Entra ID"
                .into(),
        ));
    }
    // A tenant is a GUID or a domain; anything else would change the endpoint's path.
    if !tenant
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(ProviderError::InvalidConfig(format!(
            "the tenant {tenant:?} is not a tenant id or domain: use the Directory (tenant) ID \
             of the app registration"
        )));
    }
    let client_id = app.client_id.trim();
    if client_id.is_empty() {
        return Err(ProviderError::InvalidConfig(
            "the OAuth app has no client id: set the Application (client) ID of the app \
             registration"
                .into(),
        ));
    }
    let redirect_uri = app.redirect_uri.trim();
    check_redirect_uri(redirect_uri)?;
    let scopes: Vec<&str> = app
        .scopes
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let scope = if scopes.is_empty() {
        AZURE_DEVOPS_SCOPE.to_string()
    } else {
        scopes.join(" ")
    };
    Ok(Registration {
        tenant,
        client_id,
        redirect_uri,
        authority: authority(app)?,
        scope,
    })
}

fn check_client_secret(app: &OauthApp) -> Result<&str> {
    let secret = app.client_secret.trim();
    if secret.is_empty() {
        return Err(ProviderError::InvalidConfig(
            "the OAuth app has no client secret: create one under \"Certificates & secrets\" \
             of the app registration and give the integration its Value"
                .into(),
        ));
    }
    Ok(secret)
}

/// The redirect URI is sent exactly as configured (Entra ID compares it byte for byte);
/// it only has to be an absolute https URL, or http on the loopback host as Entra ID
/// allows for development.
fn check_redirect_uri(redirect_uri: &str) -> Result<()> {
    let invalid = |why: &str| {
        ProviderError::InvalidConfig(format!(
            "the redirect URI {redirect_uri:?} {why}: use the platform's callback URL, \
             registered exactly under Authentication > Redirect URIs of the app registration"
        ))
    };
    if redirect_uri.is_empty() {
        return Err(invalid("is empty"));
    }
    let url = Url::parse(redirect_uri).map_err(|_| invalid("is not an absolute URL"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(invalid("must be https (http only for localhost)")),
    }
}

/// The authority host, from the option `authority` or [`DEFAULT_AUTHORITY`], without a
/// trailing `/`.
fn authority(app: &OauthApp) -> Result<String> {
    let Some(raw) = app
        .options
        .iter()
        .find(|(name, _)| name == AUTHORITY_OPTION)
        .map(|(_, value)| value.trim())
    else {
        return Ok(DEFAULT_AUTHORITY.to_string());
    };
    let invalid = || {
        ProviderError::InvalidConfig(format!(
            "the option {AUTHORITY_OPTION} = {raw:?} is not an https authority such as \
             {DEFAULT_AUTHORITY} or https://login.microsoftonline.us"
        ))
    };
    let url = Url::parse(raw).map_err(|_| invalid())?;
    if url.scheme() != "https"
        || url.host_str().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(invalid());
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn state_key(state: &str) -> String {
    format!("{STATE_KEY_PREFIX}{state}")
}

/// A state this provider could have issued: base64url, of a sane length. Anything else
/// is refused before it becomes part of a storage key.
fn looks_like_state(state: &str) -> bool {
    (16..=128).contains(&state.len())
        && state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Take the pending sign-in of `state` out of storage, atomically.
fn consume_state(host: &impl Host, state: &str) -> Result<PendingSignIn> {
    if !looks_like_state(state) {
        return Err(ProviderError::Unauthorized(START_AGAIN.into()));
    }
    let key = state_key(state);
    let Some(stored) = host.get(&key)? else {
        return Err(ProviderError::Unauthorized(START_AGAIN.into()));
    };
    // Only the caller whose swap succeeds may go on: two concurrent callbacks with the
    // same state both read the value, but only one deletes it.
    if !host.compare_and_swap(&key, Some(&stored), None, None)? {
        return Err(ProviderError::Conflict(format!(
            "{START_AGAIN} (another callback used this sign-in at the same moment)"
        )));
    }
    serde_json::from_slice(&stored).map_err(|_| ProviderError::Unauthorized(START_AGAIN.into()))
}

/// 256 random bits as base64url without padding (43 unreserved characters).
fn random_token(host: &impl Host) -> Result<String> {
    let mut bytes = [0u8; RANDOM_BYTES];
    host.random_bytes(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The PKCE S256 challenge: base64url(sha256(verifier)) without padding (RFC 7636).
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Percent-encode everything but RFC 3986's unreserved characters. The result is valid
/// both in a URL query and in an `application/x-www-form-urlencoded` body, and a space
/// becomes `%20`, which no decoder mistakes.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `name=value` pairs joined by `&`, both sides percent-encoded.
fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// POST a grant to the token endpoint and turn the answer into a [`TokenSet`] or a
/// typed error whose message never carries one of `secrets`.
fn request_tokens(
    host: &impl Host,
    registration: &Registration<'_>,
    form: &[(&str, &str)],
    secrets: &[&str],
) -> Result<TokenSet> {
    let endpoint = registration.token_endpoint();
    let request = Request {
        method: Method::Post,
        url: endpoint.clone(),
        headers: vec![
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("Accept".into(), "application/json".into()),
        ],
        body: Some(encode_pairs(form).into_bytes()),
        timeout_ms: None,
    };
    let response = host
        .send(&request)
        .map_err(|error| transport_error(error, &endpoint, secrets))?;
    if (200..300).contains(&response.status) && response.status != 203 {
        read_tokens(&response, host.now_unix())
    } else {
        Err(token_error(&response, registration, secrets))
    }
}

fn transport_error(error: HttpError, endpoint: &str, secrets: &[&str]) -> ProviderError {
    let detail = match error {
        HttpError::Denied(m) => format!(
            "the host refused the request ({m}); allow the authority's host in the provider's \
             egress allowlist"
        ),
        HttpError::InvalidRequest(m) => format!("the request is invalid ({m})"),
        HttpError::Timeout(m) => format!("no answer in time ({m})"),
        HttpError::TooLarge(m) => format!("the answer was too large ({m})"),
        HttpError::Connection(m) => format!("the connection failed ({m})"),
        HttpError::NoRecording(m) => format!("no recorded answer ({m})"),
    };
    ProviderError::Transport(redact(
        &format!("could not reach Microsoft Entra ID at {endpoint}: {detail}"),
        secrets,
    ))
}

/// The token endpoint's success answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    refresh_token: Option<String>,
    /// A number in v2.0 answers; the v1.0 endpoint sent a string.
    expires_in: Option<serde_json::Value>,
    scope: Option<String>,
    token_type: Option<String>,
}

fn read_tokens(response: &Response, now: u64) -> Result<TokenSet> {
    let upstream = |message: &str| {
        ProviderError::Upstream(UpstreamError {
            status: Some(response.status),
            message: format!("Microsoft Entra ID answered the token request {message}"),
        })
    };
    // Never put the body into a message: it holds the tokens.
    let answer: TokenAnswer = serde_json::from_slice(&response.body)
        .map_err(|_| upstream("with a document that is not an OAuth token answer"))?;
    let access_token = answer
        .access_token
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| upstream("without an access token"))?;
    if let Some(kind) = answer.token_type.as_deref()
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(upstream(&format!(
            "with a token of type {:?} instead of Bearer",
            clip(kind, 40)
        )));
    }
    let expires_in = answer.expires_in.and_then(|value| match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    Ok(TokenSet {
        access_token,
        refresh_token: answer.refresh_token.filter(|t| !t.trim().is_empty()),
        expires_at: expires_in.map(|seconds| now.saturating_add(seconds)),
        scopes: answer
            .scope
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    })
}

/// The token endpoint's error answer (RFC 6749 §5.2, with Entra ID's extensions).
#[derive(Deserialize, Default)]
struct ErrorAnswer {
    error: Option<String>,
    error_description: Option<String>,
    error_codes: Option<Vec<u64>>,
}

fn token_error(
    response: &Response,
    registration: &Registration<'_>,
    secrets: &[&str],
) -> ProviderError {
    let status = response.status;
    let answer: Option<ErrorAnswer> = serde_json::from_slice(&response.body).ok();
    let answer = answer.unwrap_or_default();
    let description = answer
        .error_description
        .as_deref()
        .and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty()))
        .map(|line| redact(&clip(line, MAX_DESCRIPTION_CHARS), secrets));
    let code = answer
        .error_codes
        .as_ref()
        .and_then(|codes| codes.first().copied())
        .or_else(|| description.as_deref().and_then(aadsts_code));
    let with_description = |text: String| match &description {
        Some(d) => format!("{text}: {d}"),
        None => text,
    };

    if status == 429 {
        let retry_after = response
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
            .and_then(|(_, value)| value.trim().parse::<u32>().ok());
        return ProviderError::RateLimited(RateLimit {
            retry_after_seconds: retry_after,
            message: with_description("Microsoft Entra ID is throttling token requests".into()),
        });
    }
    if let Some(error) = code.and_then(|code| known_aadsts(code, registration)) {
        return error;
    }
    let tag = code.map(|c| format!(" (AADSTS{c})")).unwrap_or_default();
    match answer.error.as_deref() {
        Some("invalid_grant") => ProviderError::Unauthorized(with_description(format!(
            "Microsoft Entra ID refused the grant{tag}: re-authenticate the app"
        ))),
        Some("invalid_client" | "unauthorized_client") => {
            ProviderError::InvalidConfig(with_description(format!(
                "Microsoft Entra ID refused the app's credentials{tag}: check the client id, \
                 the client secret and the tenant of the app registration"
            )))
        }
        Some("invalid_scope") => ProviderError::InvalidConfig(with_description(format!(
            "Microsoft Entra ID refused the requested scopes{tag}: leave the scopes empty for \
             Azure DevOps' default, or fix them"
        ))),
        Some("consent_required" | "interaction_required") => {
            ProviderError::Forbidden(with_description(format!(
                "Microsoft Entra ID needs the user to sign in again or consent{tag}: \
                 re-authenticate the app"
            )))
        }
        Some(other) => ProviderError::Upstream(UpstreamError {
            status: Some(status),
            message: with_description(format!(
                "Microsoft Entra ID refused the token request with {:?}{tag} (HTTP {status})",
                clip(other, 60)
            )),
        }),
        None => ProviderError::Upstream(UpstreamError {
            status: Some(status),
            message: format!(
                "Microsoft Entra ID answered the token request with HTTP {status} and no \
                 OAuth error{}",
                if status >= 500 {
                    ": the identity platform is unavailable, try again later"
                } else {
                    ""
                }
            ),
        }),
    }
}

/// The AADSTS errors a person can fix, with what to do.
fn known_aadsts(code: u64, registration: &Registration<'_>) -> Option<ProviderError> {
    let tag = format!("(AADSTS{code})");
    Some(match code {
        70008 | 54005 => ProviderError::Unauthorized(format!(
            "the authorization code expired or was already redeemed {tag}: start the sign-in \
             again"
        )),
        700082 => ProviderError::Unauthorized(format!(
            "the refresh token expired after too long without use {tag}: re-authenticate the \
             app to get a new one"
        )),
        50173 => ProviderError::Unauthorized(format!(
            "the grant is no longer valid, for example after a password change or a session \
             revocation {tag}: re-authenticate the app"
        )),
        7000215 => ProviderError::InvalidConfig(format!(
            "the client secret is wrong {tag}: give the integration the secret's Value (not \
             its Secret ID) from \"Certificates & secrets\" of the app registration, or create \
             a new secret"
        )),
        7000222 => ProviderError::InvalidConfig(format!(
            "the client secret has expired {tag}: create a new one under \"Certificates & \
             secrets\" of the app registration and update the integration"
        )),
        700016 => ProviderError::InvalidConfig(format!(
            "no application with client id {} exists in tenant {} {tag}: check the \
             Application (client) ID and the tenant of the app registration",
            registration.client_id, registration.tenant
        )),
        50011 => ProviderError::InvalidConfig(format!(
            "the redirect URI {} is not registered on the app {tag}: add it exactly (scheme, \
             host, path, query and trailing slash) under Authentication > Redirect URIs (Web) \
             of the app registration",
            registration.redirect_uri
        )),
        65001 => ProviderError::Forbidden(format!(
            "nobody has consented to the app's access to Azure DevOps in this tenant {tag}: \
             sign in again and accept, or ask an administrator to grant admin consent for the \
             app's Azure DevOps permission (user_impersonation)"
        )),
        90002 => ProviderError::InvalidConfig(format!(
            "the tenant {} does not exist {tag}: check the Directory (tenant) ID or domain of \
             the app registration, and the authority for sovereign clouds",
            registration.tenant
        )),
        53003 => ProviderError::Forbidden(format!(
            "a conditional access policy of the tenant blocked the sign-in {tag}: sign in from \
             a compliant device or location, or ask an administrator to allow this app"
        )),
        _ => return None,
    })
}

/// The number of the first `AADSTSnnnn` in a description.
fn aadsts_code(description: &str) -> Option<u64> {
    let (_, rest) = description.split_once("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Replace every occurrence of a secret (of at least 4 characters, so short strings do
/// not mangle the text) with `[redacted]`.
fn redact(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(text.to_string(), |acc, secret| {
            acc.replace(secret, "[redacted]")
        })
}

fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or(text)),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provider_kit::error::message;
    use provider_kit::fake::FakeHost;
    use provider_kit::host::StorageError;
    use std::collections::BTreeMap;

    const CLIENT_SECRET: &str = "CLIENT-SECRET-q8Z~value";
    const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
    const REDIRECT: &str = "https://platform.example.com/callback?a=1&b=two words";
    const CODE: &str = "AUTH-CODE-0.AVEAx7y";
    const OLD_REFRESH: &str = "REFRESH-OLD-1.AREA";
    const NEW_REFRESH: &str = "REFRESH-NEW-2.AREA";
    const ACCESS: &str = "ACCESS-eyJ0eXAiOiJKV1Qi";
    const NOW: u64 = 1_700_000_000;

    fn app() -> OauthApp {
        OauthApp {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            redirect_uri: REDIRECT.into(),
            tenant: Some("contoso.onmicrosoft.com".into()),
            scopes: vec![],
            options: vec![],
        }
    }

    fn new_host() -> FakeHost {
        let host = FakeHost::default();
        host.clock.set(NOW);
        host
    }

    fn query_of(url: &str) -> BTreeMap<String, String> {
        Url::parse(url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    fn form_of(request: &Request) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(request.body.as_deref().unwrap())
            .into_owned()
            .collect()
    }

    fn pending(host: &FakeHost, state: &str) -> PendingSignIn {
        let stored = host.store.borrow().get(&state_key(state)).cloned().unwrap();
        serde_json::from_slice(&stored).unwrap()
    }

    fn token_answer(refresh: Option<&str>) -> String {
        let mut answer = serde_json::json!({
            "token_type": "Bearer",
            "scope": "499b84ac-1321-427f-aa17-267ca6975798/user_impersonation",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": ACCESS,
        });
        if let Some(refresh) = refresh {
            answer["refresh_token"] = refresh.into();
        }
        answer.to_string()
    }

    fn entra_error(error: &str, code: u64, text: &str) -> String {
        serde_json::json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {text}\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\n\
                 Correlation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2024-05-01 10:00:00Z"
            ),
            "error_codes": [code],
            "timestamp": "2024-05-01 10:00:00Z",
            "trace_id": "0000aaaa-11bb-cccc-dd22-eeeeee333333",
            "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd",
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        })
        .to_string()
    }

    fn kind(error: &ProviderError) -> &'static str {
        match error {
            ProviderError::Unauthorized(_) => "unauthorized",
            ProviderError::Forbidden(_) => "forbidden",
            ProviderError::InvalidConfig(_) => "invalid-config",
            ProviderError::InvalidPayload(_) => "invalid-payload",
            ProviderError::Conflict(_) => "conflict",
            ProviderError::RateLimited(_) => "rate-limited",
            ProviderError::Upstream(_) => "upstream",
            ProviderError::Transport(_) => "transport",
            _ => "other",
        }
    }

    #[test]
    fn authorization_url_carries_every_parameter_percent_encoded() {
        let host = new_host();
        let request = authorization_url(&host, &app()).unwrap();

        let (endpoint, raw_query) = request.url.split_once('?').unwrap();
        assert_eq!(
            endpoint,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize"
        );
        // Strict RFC 3986 encoding: no `+` for spaces, reserved characters escaped.
        assert!(
            raw_query.contains(
                "redirect_uri=https%3A%2F%2Fplatform.example.com%2Fcallback%3Fa%3D1%26b%3Dtwo%20words"
            ),
            "{raw_query}"
        );
        assert!(!raw_query.contains('+'), "{raw_query}");

        let query = query_of(&request.url);
        let expected = [
            ("client_id", CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("response_mode", "query"),
            ("scope", AZURE_DEVOPS_SCOPE),
            ("code_challenge_method", "S256"),
        ];
        for (name, value) in expected {
            assert_eq!(query.get(name).map(String::as_str), Some(value), "{name}");
        }
        assert_eq!(query.get("state"), Some(&request.state));
        assert_eq!(query.len(), 8, "{query:?}");

        // The state: 256 bits, URL-safe.
        assert_eq!(request.state.len(), 43);
        assert!(looks_like_state(&request.state));
        assert_eq!(request.expires_at, NOW + 600);

        // The pending sign-in: verifier, exact redirect URI and client id, 10-minute TTL.
        let stored = pending(&host, &request.state);
        assert_eq!(stored.redirect_uri, REDIRECT);
        assert_eq!(stored.client_id, CLIENT_ID);
        assert_eq!(stored.expires_at, NOW + 600);
        assert!((43..=128).contains(&stored.verifier.len()));
        assert!(
            stored
                .verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        );
        assert_eq!(
            query.get("code_challenge"),
            Some(&pkce_challenge(&stored.verifier))
        );
        assert_eq!(
            host.ttls.borrow().get(&state_key(&request.state)),
            Some(&Some(STATE_TTL_SECONDS))
        );
        assert!(
            host.requests.borrow().is_empty(),
            "building the URL sends nothing"
        );
    }

    #[test]
    fn each_authorization_gets_its_own_state_and_verifier() {
        let host = new_host();
        let first = authorization_url(&host, &app()).unwrap();
        let second = authorization_url(&host, &app()).unwrap();
        assert_ne!(first.state, second.state);
        assert_ne!(
            pending(&host, &first.state).verifier,
            pending(&host, &second.state).verifier
        );
        assert_ne!(first.state, pending(&host, &first.state).verifier);
    }

    #[test]
    fn pkce_challenge_is_base64url_sha256_without_padding() {
        // The example of RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        for (raw, encoded) in [
            ("abcXYZ019-._~", "abcXYZ019-._~"),
            ("a b", "a%20b"),
            ("a+b&c=d/e?f#g%", "a%2Bb%26c%3Dd%2Fe%3Ff%23g%25"),
            ("é", "%C3%A9"),
            ("", ""),
        ] {
            assert_eq!(percent_encode(raw), encoded, "{raw}");
            let decoded: String = url::form_urlencoded::parse(format!("x={encoded}").as_bytes())
                .map(|(_, v)| v.into_owned())
                .collect();
            assert_eq!(decoded, raw);
        }
    }

    #[test]
    fn authority_and_scopes_can_be_overridden() {
        let host = new_host();
        let mut sovereign = app();
        sovereign.options = vec![(
            "authority".into(),
            "https://login.microsoftonline.us/".into(),
        )];
        sovereign.scopes = vec![
            "499b84ac-1321-427f-aa17-267ca6975798/user_impersonation".into(),
            " offline_access ".into(),
        ];
        sovereign.tenant = Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into());
        let request = authorization_url(&host, &sovereign).unwrap();
        assert!(request.url.starts_with(
            "https://login.microsoftonline.us/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/authorize?"
        ));
        assert_eq!(
            query_of(&request.url).get("scope").map(String::as_str),
            Some("499b84ac-1321-427f-aa17-267ca6975798/user_impersonation offline_access")
        );
    }

    #[test]
    fn incomplete_registrations_are_configuration_errors() {
        type Change = fn(&mut OauthApp);
        let cases: Vec<(&str, Change, &str)> = vec![
            ("no tenant", |a| a.tenant = None, "no tenant"),
            (
                "blank tenant",
                |a| a.tenant = Some("  ".into()),
                "no tenant",
            ),
            (
                "consumers",
                |a| a.tenant = Some("consumers".into()),
                "personal Microsoft accounts",
            ),
            (
                "MSA tenant id",
                |a| a.tenant = Some("9188040D-6C67-4C5B-B112-36A304B66DAD".into()),
                "personal Microsoft accounts",
            ),
            (
                "path in tenant",
                |a| a.tenant = Some("contoso/../x".into()),
                "not a tenant id",
            ),
            ("no client id", |a| a.client_id = " ".into(), "no client id"),
            (
                "no redirect",
                |a| a.redirect_uri = String::new(),
                "is empty",
            ),
            (
                "relative redirect",
                |a| a.redirect_uri = "/callback".into(),
                "absolute URL",
            ),
            (
                "plain http redirect",
                |a| a.redirect_uri = "http://platform.example.com/cb".into(),
                "must be https",
            ),
            (
                "http authority",
                |a| a.options = vec![("authority".into(), "http://login.example".into())],
                "not an https authority",
            ),
            (
                "authority with a query",
                |a| a.options = vec![("authority".into(), "https://login.example/?x=1".into())],
                "not an https authority",
            ),
        ];
        for (name, change, fragment) in cases {
            let host = new_host();
            let mut app = app();
            change(&mut app);
            let err = authorization_url(&host, &app).unwrap_err();
            assert_eq!(kind(&err), "invalid-config", "{name}: {err:?}");
            assert!(
                message(&err).contains(fragment),
                "{name}: {}",
                message(&err)
            );
            assert!(host.store.borrow().is_empty(), "{name}");
        }
        // Loopback http is fine for development.
        let mut local = app();
        local.redirect_uri = "http://localhost:8080/callback".into();
        assert!(authorization_url(&new_host(), &local).is_ok());
    }

    #[test]
    fn the_code_exchange_posts_the_documented_form_and_returns_tokens() {
        let host = new_host();
        let request = authorization_url(&host, &app()).unwrap();
        let verifier = pending(&host, &request.state).verifier;
        host.advance(30);
        host.json(200, &token_answer(Some(NEW_REFRESH)));

        let tokens = exchange_code(&host, &app(), CODE, &request.state).unwrap();
        assert_eq!(tokens.access_token, ACCESS);
        assert_eq!(tokens.refresh_token.as_deref(), Some(NEW_REFRESH));
        assert_eq!(tokens.expires_at, Some(NOW + 30 + 3599));
        assert_eq!(
            tokens.scopes,
            vec!["499b84ac-1321-427f-aa17-267ca6975798/user_impersonation".to_string()]
        );

        let requests = host.requests.borrow();
        let sent = &requests[0];
        assert_eq!(sent.method, Method::Post);
        assert_eq!(
            sent.url,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert!(sent.headers.contains(&(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into()
        )));
        assert!(
            sent.headers
                .contains(&("Accept".into(), "application/json".into()))
        );
        assert!(
            !sent
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        );
        let form = form_of(sent);
        let expected = [
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("code", CODE),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
            ("scope", AZURE_DEVOPS_SCOPE),
        ];
        for (name, value) in expected {
            assert_eq!(form.get(name).map(String::as_str), Some(value), "{name}");
        }
        assert_eq!(form.len(), expected.len());
        let body = String::from_utf8(sent.body.clone().unwrap()).unwrap();
        assert!(
            body.contains("client_secret=CLIENT-SECRET-q8Z~value&"),
            "{body}"
        );
        assert!(body.contains("b%3Dtwo%20words"), "{body}");
        // The state is consumed.
        assert!(host.store.borrow().is_empty());
    }

    #[test]
    fn unknown_expired_reused_and_foreign_states_are_refused() {
        // Each case: set up, then the state to present; no token request may go out.
        type Setup = fn(&FakeHost) -> String;
        let cases: Vec<(&str, Setup, &str, &str)> = vec![
            ("unknown", |_| "A".repeat(43), "unauthorized", START_AGAIN),
            ("empty", |_| String::new(), "unauthorized", START_AGAIN),
            (
                "not base64url",
                |_| "../../etc/passwd-and-more".into(),
                "unauthorized",
                START_AGAIN,
            ),
            (
                "expired",
                |h| {
                    let state = authorization_url(h, &app()).unwrap().state;
                    h.advance(u64::from(STATE_TTL_SECONDS));
                    state
                },
                "unauthorized",
                START_AGAIN,
            ),
            (
                "corrupt stored value",
                |h| {
                    let state = "B".repeat(43);
                    h.set(&state_key(&state), b"not json", None).unwrap();
                    state
                },
                "unauthorized",
                START_AGAIN,
            ),
            (
                "other client id",
                |h| {
                    let mut other = app();
                    other.client_id = "99999999-2222-3333-4444-555555555555".into();
                    authorization_url(h, &other).unwrap().state
                },
                "unauthorized",
                "another app registration or callback URL",
            ),
            (
                "other redirect URI",
                |h| {
                    let mut other = app();
                    other.redirect_uri = "https://platform.example.com/other".into();
                    authorization_url(h, &other).unwrap().state
                },
                "unauthorized",
                "another app registration or callback URL",
            ),
        ];
        for (name, setup, want_kind, fragment) in cases {
            let host = new_host();
            let state = setup(&host);
            let err = exchange_code(&host, &app(), CODE, &state).unwrap_err();
            assert_eq!(kind(&err), want_kind, "{name}: {err:?}");
            assert!(
                message(&err).contains(fragment),
                "{name}: {}",
                message(&err)
            );
            assert!(
                host.requests.borrow().is_empty(),
                "{name}: no token request"
            );
            // A refused state is gone too: it cannot be retried.
            assert!(
                host.get(&state_key(&state)).unwrap().is_none(),
                "{name}: the state is consumed"
            );
        }
    }

    #[test]
    fn a_state_works_once() {
        let host = new_host();
        let state = authorization_url(&host, &app()).unwrap().state;
        host.json(200, &token_answer(Some(NEW_REFRESH)));
        exchange_code(&host, &app(), CODE, &state).unwrap();
        let err = exchange_code(&host, &app(), CODE, &state).unwrap_err();
        assert!(
            matches!(&err, ProviderError::Unauthorized(m) if m == START_AGAIN),
            "{err:?}"
        );
        assert_eq!(host.requests.borrow().len(), 1);
    }

    /// A host where another callback consumes the state between our read and our swap.
    struct RacingHost(FakeHost);

    impl Host for RacingHost {
        fn send(&self, request: &Request) -> Result<Response, HttpError> {
            self.0.send(request)
        }
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
            let value = self.0.get(key);
            self.0.delete(key)?;
            value
        }
        fn set(&self, key: &str, value: &[u8], ttl: Option<u32>) -> Result<(), StorageError> {
            self.0.set(key, value, ttl)
        }
        fn delete(&self, key: &str) -> Result<bool, StorageError> {
            self.0.delete(key)
        }
        fn compare_and_swap(
            &self,
            key: &str,
            expected: Option<&[u8]>,
            new: Option<&[u8]>,
            ttl: Option<u32>,
        ) -> Result<bool, StorageError> {
            self.0.compare_and_swap(key, expected, new, ttl)
        }
        fn log(&self, level: Level, message: &str, fields: &[(String, String)]) {
            self.0.log(level, message, fields)
        }
        fn now_unix(&self) -> u64 {
            self.0.now_unix()
        }
        fn random_bytes(&self, buf: &mut [u8]) -> Result<(), ProviderError> {
            self.0.random_bytes(buf)
        }
    }

    #[test]
    fn of_two_concurrent_callbacks_only_one_wins() {
        let host = RacingHost(new_host());
        let state = authorization_url(&host, &app()).unwrap().state;
        let err = exchange_code(&host, &app(), CODE, &state).unwrap_err();
        assert!(
            matches!(&err, ProviderError::Conflict(m) if m.contains(START_AGAIN)),
            "{err:?}"
        );
        assert!(host.0.requests.borrow().is_empty());
    }

    #[test]
    fn a_refresh_returns_the_rotated_token() {
        let host = new_host();
        host.json(200, &token_answer(Some(NEW_REFRESH)));
        let tokens = refresh_token(&host, &app(), OLD_REFRESH).unwrap();
        assert_eq!(tokens.refresh_token.as_deref(), Some(NEW_REFRESH));
        assert_eq!(tokens.access_token, ACCESS);
        assert_eq!(tokens.expires_at, Some(NOW + 3599));

        let requests = host.requests.borrow();
        let form = form_of(&requests[0]);
        let expected = [
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", OLD_REFRESH),
            ("scope", AZURE_DEVOPS_SCOPE),
        ];
        for (name, value) in expected {
            assert_eq!(form.get(name).map(String::as_str), Some(value), "{name}");
        }
        assert_eq!(form.len(), expected.len());
        assert!(host.logs.borrow().is_empty());
    }

    #[test]
    fn a_refresh_without_rotation_keeps_the_old_token_and_warns() {
        let host = new_host();
        // The v1.0 shape: expires_in as a string.
        host.json(
            200,
            &format!(r#"{{"token_type":"Bearer","expires_in":"3600","access_token":"{ACCESS}"}}"#),
        );
        let tokens = refresh_token(&host, &app(), OLD_REFRESH).unwrap();
        assert_eq!(tokens.refresh_token.as_deref(), Some(OLD_REFRESH));
        assert_eq!(tokens.expires_at, Some(NOW + 3600));
        assert!(tokens.scopes.is_empty());
        let logs = host.logs.borrow();
        assert!(
            logs.iter()
                .any(|l| l.contains("Warn") && l.contains("keeping the previous one")),
            "{logs:?}"
        );
    }

    /// A failing token answer: (name, status, headers, body, expected kind, message fragment).
    type FailingAnswer = (
        &'static str,
        u16,
        Vec<(&'static str, &'static str)>,
        String,
        &'static str,
        &'static str,
    );

    /// Every failing token answer the tests go through.
    fn failing_answers() -> Vec<FailingAnswer> {
        let json = vec![("content-type", "application/json; charset=utf-8")];
        vec![
            ("expired code", 400, json.clone(), entra_error("invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity."), "unauthorized", "start the sign-in again"),
            ("redeemed code", 400, json.clone(), entra_error("invalid_grant", 54005, "OAuth2 Authorization code was already redeemed."), "unauthorized", "already redeemed"),
            ("expired refresh token", 400, json.clone(), entra_error("invalid_grant", 700082, "The refresh token has expired due to inactivity."), "unauthorized", "re-authenticate the app"),
            ("revoked grant", 400, json.clone(), entra_error("invalid_grant", 50173, "The provided grant has expired due to it being revoked."), "unauthorized", "re-authenticate"),
            ("wrong secret", 401, json.clone(), entra_error("invalid_client", 7000215, "Invalid client secret provided."), "invalid-config", "not its Secret ID"),
            ("expired secret", 401, json.clone(), entra_error("invalid_client", 7000222, "The provided client secret keys are expired."), "invalid-config", "has expired"),
            ("unknown app", 400, json.clone(), entra_error("unauthorized_client", 700016, "Application with identifier was not found in the directory."), "invalid-config", CLIENT_ID),
            ("redirect mismatch", 400, json.clone(), entra_error("invalid_request", 50011, "The redirect URI specified in the request does not match."), "invalid-config", "Redirect URIs"),
            ("consent", 400, json.clone(), entra_error("invalid_grant", 65001, "The user or administrator has not consented to use the application."), "forbidden", "admin consent"),
            ("tenant not found", 400, json.clone(), entra_error("invalid_request", 90002, "Tenant 'contoso.onmicrosoft.com' not found."), "invalid-config", "contoso.onmicrosoft.com does not exist"),
            ("conditional access", 400, json.clone(), entra_error("invalid_grant", 53003, "Access has been blocked by Conditional Access policies."), "forbidden", "conditional access"),
            ("other invalid_grant", 400, json.clone(), entra_error("invalid_grant", 9999999, "Something else."), "unauthorized", "AADSTS9999999"),
            ("code only in description", 400, json.clone(), r#"{"error":"invalid_grant","error_description":"AADSTS70008: expired."}"#.into(), "unauthorized", "AADSTS70008"),
            ("invalid_scope", 400, json.clone(), r#"{"error":"invalid_scope","error_description":"AADSTS70011: The provided value for scope is not valid."}"#.into(), "invalid-config", "scopes"),
            ("throttled", 429, vec![("Retry-After", "17")], String::new(), "rate-limited", "throttling"),
            ("outage", 503, vec![("content-type", "text/html")], "<html>Service Unavailable</html>".into(), "upstream", "unavailable"),
            ("sign-in page", 203, vec![("content-type", "text/html")], "<html>sign in</html>".into(), "upstream", "HTTP 203"),
            ("not JSON", 200, json.clone(), "<html></html>".into(), "upstream", "not an OAuth token answer"),
            ("no access token", 200, json.clone(), r#"{"token_type":"Bearer"}"#.into(), "upstream", "without an access token"),
            ("not bearer", 200, json.clone(), format!(r#"{{"token_type":"pop","access_token":"{ACCESS}"}}"#), "upstream", "instead of Bearer"),
            // Defence in depth: a description that echoes the secrets is redacted.
            ("echoing description", 400, json, format!(r#"{{"error":"invalid_request","error_description":"bad client_secret={CLIENT_SECRET}"}}"#), "upstream", "[redacted]"),
        ]
    }

    /// Everything a secret could leak into: error messages and debug output, logs,
    /// stored values, request URLs.
    fn assert_no_secret_in(outputs: &[String]) {
        for secret in [CLIENT_SECRET, CODE, OLD_REFRESH, NEW_REFRESH, ACCESS] {
            for output in outputs {
                assert!(
                    !output.contains(secret),
                    "{secret:?} leaked into {output:?}"
                );
            }
        }
    }

    fn leak_surface(host: &FakeHost) -> Vec<String> {
        let mut outputs: Vec<String> = host.logs.borrow().clone();
        outputs.extend(
            host.store
                .borrow()
                .values()
                .map(|v| String::from_utf8_lossy(v).into_owned()),
        );
        outputs.extend(host.requests.borrow().iter().map(|r| r.url.clone()));
        outputs
    }

    #[test]
    fn token_errors_are_typed_and_actionable() {
        for (name, status, headers, body, want_kind, fragment) in failing_answers() {
            let host = new_host();
            host.answer(status, &headers, &body);
            let err = refresh_token(&host, &app(), OLD_REFRESH).unwrap_err();
            assert_eq!(kind(&err), want_kind, "{name}: {err:?}");
            assert!(
                message(&err).contains(fragment),
                "{name}: {}",
                message(&err)
            );
        }
        let host = new_host();
        host.answer(429, &[("Retry-After", "17")], "");
        match refresh_token(&host, &app(), OLD_REFRESH).unwrap_err() {
            ProviderError::RateLimited(r) => assert_eq!(r.retry_after_seconds, Some(17)),
            other => panic!("{other:?}"),
        }
        let host = new_host();
        host.fail(HttpError::Denied(
            "login.example.org is not allowlisted".into(),
        ));
        let err = refresh_token(&host, &app(), OLD_REFRESH).unwrap_err();
        assert!(
            matches!(&err, ProviderError::Transport(m) if m.contains("/oauth2/v2.0/token") && m.contains("allowlist")),
            "{err:?}"
        );
    }

    #[test]
    fn secrets_never_leak_on_any_path() {
        let mut outputs = Vec::new();
        let mut record = |host: &FakeHost, result: Result<TokenSet>| {
            if let Err(err) = &result {
                outputs.push(message(err).to_string());
                outputs.push(format!("{err:?}"));
            }
            outputs.extend(leak_surface(host));
        };
        for (_, status, headers, body, _, _) in failing_answers() {
            // Through the refresh grant ...
            let host = new_host();
            host.answer(status, &headers, &body);
            let result = refresh_token(&host, &app(), OLD_REFRESH);
            record(&host, result);
            // ... and through the code exchange, after a real authorization request.
            let host = new_host();
            let state = authorization_url(&host, &app()).unwrap().state;
            host.answer(status, &headers, &body);
            let result = exchange_code(&host, &app(), CODE, &state);
            record(&host, result);
        }
        // Descriptions that echo what each grant sent.
        let host = new_host();
        host.json(
            400,
            &format!(r#"{{"error":"invalid_request","error_description":"bad {OLD_REFRESH}"}}"#),
        );
        let result = refresh_token(&host, &app(), OLD_REFRESH);
        record(&host, result);
        let host = new_host();
        let state = authorization_url(&host, &app()).unwrap().state;
        host.json(
            400,
            &format!(r#"{{"error":"invalid_request","error_description":"bad code {CODE}"}}"#),
        );
        let result = exchange_code(&host, &app(), CODE, &state);
        record(&host, result);
        // Successful paths, a refused state, a transport failure, a missing secret.
        let host = new_host();
        let state = authorization_url(&host, &app()).unwrap().state;
        host.json(200, &token_answer(None));
        let result = exchange_code(&host, &app(), CODE, &state).map(|_| empty_tokens());
        record(&host, result);
        let result = exchange_code(&host, &app(), CODE, &state);
        record(&host, result);
        let host = new_host();
        host.json(200, &token_answer(None));
        let result = refresh_token(&host, &app(), OLD_REFRESH).map(|_| empty_tokens());
        record(&host, result);
        let host = new_host();
        host.fail(HttpError::Connection(format!(
            "reset while sending {CLIENT_SECRET}"
        )));
        let result = refresh_token(&host, &app(), OLD_REFRESH);
        record(&host, result);
        let host = new_host();
        let mut no_secret = app();
        no_secret.client_secret = String::new();
        let result = refresh_token(&host, &no_secret, OLD_REFRESH);
        record(&host, result);
        assert!(outputs.len() > 80, "{}", outputs.len());
        assert_no_secret_in(&outputs);
    }

    /// Successful token sets hold tokens by design; the leak search covers what else the
    /// call left behind, so the tokens themselves are swapped for an empty set.
    fn empty_tokens() -> TokenSet {
        TokenSet {
            access_token: String::new(),
            refresh_token: None,
            expires_at: None,
            scopes: vec![],
        }
    }
}
