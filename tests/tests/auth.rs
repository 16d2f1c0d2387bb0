//! Issue 4's acceptance through the Azure DevOps component: the Entra ID code flow
//! (authorization URL, PKCE, state, code exchange, refresh rotation), the AADSTS
//! diagnostics of the token endpoint, credential validation and each of its diagnostics
//! from a cassette, and a search of every recorded cassette, error and stored value for
//! the secrets the flows handled.
//!
//! The token exchange cannot be replayed from a hand-written cassette that checks the
//! PKCE verifier (the test never sees it), so the successful flows run against
//! [`EntraId`], a scripted identity platform that issues codes bound to the
//! `code_challenge` of the authorization URL and checks `S256(code_verifier)` like Entra
//! ID does. Failing token answers and every Azure DevOps answer come from cassettes under
//! `fixtures/cassettes/auth/` (the form's credential fields are `[redacted]` there: the
//! replayer scrubs both sides alike).

// A failing test is the point: tests may unwrap, expect, panic and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use provider_tests::{AZURE_DEVOPS, context_with, load};
use vcs_host::http::{
    HttpBackend, HttpConfig, HttpError, InboundResponse, Method, OutboundRequest, Recorder,
    Replayer,
};
use vcs_host::storage::{KvStore, MemoryStorage};
use vcs_host::types::{
    AuthorizationRequest, Capability, CheckOutcome, OauthApp, TokenSet, ValidationReport,
};
use vcs_host::types::{Connection, Credential, ProviderError};
use vcs_host::{CallContext, Provider};
use vcs_host_store::TxStore;

const INTEGRATION: &str = "integration-auth";
const TENANT: &str = "contoso.onmicrosoft.com";
const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
/// Reserved characters on purpose: the secret must not leak in any encoding either.
const CLIENT_SECRET: &str = "cs~Q8.Zk9/client+secret=value";
const REDIRECT: &str = "https://platform.example/cb?a=1&b=two words";
const CODE: &str = "AUTH-CODE-0.AVEAx7y/first+code";
const ACCESS_1: &str = "ACCESS-eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.first";
const ACCESS_2: &str = "ACCESS-eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.second";
const REFRESH_1: &str = "REFRESH-1.AREA-6WgJJ9X2qk/old";
const REFRESH_2: &str = "REFRESH-2.AREA-7XhKK0Y3rl/new";
const PAT: &str = "PAT-SECRET-84chars-never-guessed-by-length-q4x7z2mmxjvlbn";
const OAUTH_TOKEN: &str = "OAUTH-eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.devops";

const AUTHORIZE: &str =
    "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize";
const TOKEN: &str = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token";
const DEFAULT_SCOPE: &str = "499b84ac-1321-427f-aa17-267ca6975798/.default offline_access";
const GRANTED_SCOPE: &str = "499b84ac-1321-427f-aa17-267ca6975798/user_impersonation";
const ORG: &str = "https://dev.azure.com/contoso/";

/// What a person sees when a callback's state is unknown, expired or reused.
const START_AGAIN: &str = "the sign-in link expired or was already used: start again";
/// What a person is told when the token cannot write pull-request threads (issue 4).
const MISSING_THREADS: &str = "the token cannot write pull-request threads: add the scope \
     Pull Request Threads (Read & Write), or re-authenticate the app after enabling PR comments";

const ALL: [Capability; 4] = [
    Capability::ReadCode,
    Capability::WriteStatuses,
    Capability::ReadComments,
    Capability::WriteComments,
];

// ---------------------------------------------------------------------------------------
// Encodings the test needs without extra dependencies: SHA-256, base64, query parsing.

fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&(data.len() as u64 * 8).to_be_bytes());
    for chunk in message.chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (slot, word) in out.chunks_mut(4).zip(h) {
        slot.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Standard base64 with padding, or base64url without padding.
fn base64(bytes: &[u8], url_safe: bool) -> String {
    let alphabet: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
        }
        if !url_safe {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

/// The PKCE S256 challenge of a verifier (RFC 7636).
fn s256(verifier: &str) -> String {
    base64(&sha256(verifier.as_bytes()), true)
}

/// Decode one `application/x-www-form-urlencoded` component (`+` is a space).
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
                out.push(u8::from_str_radix(hex, 16).expect("percent escape"));
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8")
}

/// `a=b&c=d` pairs, decoded, in order.
fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(name), form_decode(value))
        })
        .collect()
}

fn value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Strict percent-encoding (RFC 3986 unreserved kept), and form encoding (`+` for space).
fn encodings(secret: &str) -> Vec<String> {
    let mut strict = String::new();
    let mut form = String::new();
    for byte in secret.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            strict.push(char::from(byte));
        } else {
            strict.push_str(&format!("%{byte:02X}"));
        }
        if byte.is_ascii_alphanumeric() || b"-._*".contains(&byte) {
            form.push(char::from(byte));
        } else if byte == b' ' {
            form.push('+');
        } else {
            form.push_str(&format!("%{byte:02X}"));
        }
    }
    vec![secret.to_string(), strict, form]
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

// ---------------------------------------------------------------------------------------
// Calls through the component.

fn app() -> OauthApp {
    OauthApp {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uri: REDIRECT.into(),
        tenant: Some(TENANT.into()),
        scopes: vec![],
        options: vec![],
    }
}

fn connection(credential: Credential) -> Connection {
    Connection {
        base_url: ORG.into(),
        credential,
        options: vec![],
    }
}

fn pat() -> Credential {
    Credential::PersonalAccessToken(PAT.into())
}

fn context(http: Arc<dyn HttpBackend>, storage: Arc<MemoryStorage>) -> CallContext {
    CallContext::new(INTEGRATION, http, storage)
}

fn authorize(provider: &Provider, ctx: &CallContext, app: &OauthApp) -> AuthorizationRequest {
    provider
        .authorization_url(ctx, app)
        .expect("call")
        .expect("authorization-url")
}

fn exchange(
    provider: &Provider,
    ctx: &CallContext,
    app: &OauthApp,
    code: &str,
    state: &str,
) -> Result<TokenSet, ProviderError> {
    provider.exchange_code(ctx, app, code, state).expect("call")
}

fn refresh(
    provider: &Provider,
    ctx: &CallContext,
    app: &OauthApp,
    token: &str,
) -> Result<TokenSet, ProviderError> {
    provider.refresh_token(ctx, app, token).expect("call")
}

fn validate(
    provider: &Provider,
    ctx: &CallContext,
    conn: &Connection,
    required: &[Capability],
) -> Result<ValidationReport, ProviderError> {
    provider.validate(ctx, conn, required).expect("call")
}

fn kind(error: &ProviderError) -> &'static str {
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

/// The message a person sees.
fn message(error: &ProviderError) -> String {
    match error {
        ProviderError::Unauthorized(m)
        | ProviderError::Forbidden(m)
        | ProviderError::NotFound(m)
        | ProviderError::InvalidPayload(m)
        | ProviderError::InvalidConfig(m)
        | ProviderError::Conflict(m)
        | ProviderError::Transport(m)
        | ProviderError::Storage(m)
        | ProviderError::Unsupported(m) => m.clone(),
        ProviderError::RateLimited(r) => r.message.clone(),
        ProviderError::Upstream(u) => u.message.clone(),
    }
}

fn cassette(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugin/tests/fixtures/cassettes/auth")
        .join(name)
}

/// What the host knows up front and hands to recorders and replayers; codes, verifiers
/// and tokens are left to the key-based scrubbing (`code=`, `"access_token"`, ...).
fn host_secrets() -> Vec<String> {
    vec![CLIENT_SECRET.into(), PAT.into(), OAUTH_TOKEN.into()]
}

fn replayer(name: &str) -> Arc<Replayer> {
    let path = cassette(name);
    Arc::new(
        Replayer::from_file(&path, host_secrets())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
}

// ---------------------------------------------------------------------------------------
// Where secrets could leak: recorded cassettes, error messages, storage, reports.

#[derive(Default)]
struct Leaks {
    /// (where, text)
    texts: Vec<(String, String)>,
    recorders: Vec<(String, Arc<Recorder>)>,
}

impl Leaks {
    /// Wrap a backend in a recorder whose cassette is searched at the end.
    fn record(&mut self, name: &str, inner: Arc<dyn HttpBackend>) -> Arc<dyn HttpBackend> {
        let recorder = Arc::new(Recorder::new(inner, host_secrets()));
        self.recorders.push((name.to_string(), recorder.clone()));
        recorder
    }

    fn text(&mut self, place: &str, text: impl Into<String>) {
        self.texts.push((place.to_string(), text.into()));
    }

    fn error(&mut self, place: &str, error: &ProviderError) {
        self.text(place, message(error));
        self.text(place, format!("{error:?}"));
    }

    fn report(&mut self, place: &str, report: &ValidationReport) {
        self.text(place, report.summary.clone());
        for check in &report.checks {
            self.text(place, check.message.clone());
        }
        self.text(place, format!("{report:?}"));
    }

    /// Every key and value the integration has in storage right now.
    fn storage(&mut self, place: &str, storage: &MemoryStorage) {
        for key in storage.keys(INTEGRATION).expect("keys") {
            let value = storage.get(INTEGRATION, &key).expect("get");
            self.text(place, key.clone());
            if let Some(value) = value {
                self.text(place, String::from_utf8_lossy(&value).into_owned());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// A scripted Microsoft Entra ID token endpoint.

struct Issued {
    challenge: String,
    redirect_uri: String,
    scope: String,
}

/// Issues codes bound to a PKCE challenge, redeems each once, and rotates refresh tokens;
/// every deviation of the request from the documented form is kept in `problems`.
#[derive(Default)]
struct EntraId {
    codes: Mutex<HashMap<String, Issued>>,
    redeemed: Mutex<Vec<String>>,
    /// Live refresh token → the one its redemption rotates to (`None`: no rotation).
    refresh: Mutex<HashMap<String, Option<String>>>,
    forms: Mutex<Vec<Vec<(String, String)>>>,
    problems: Mutex<Vec<String>>,
}

impl EntraId {
    fn issue_code(&self, code: &str, challenge: &str, redirect_uri: &str, scope: &str) {
        self.codes.lock().unwrap().insert(
            code.to_string(),
            Issued {
                challenge: challenge.to_string(),
                redirect_uri: redirect_uri.to_string(),
                scope: scope.to_string(),
            },
        );
    }

    fn grant_refresh(&self, token: &str, rotates_to: Option<&str>) {
        self.refresh
            .lock()
            .unwrap()
            .insert(token.to_string(), rotates_to.map(str::to_string));
    }

    fn problems(&self) -> Vec<String> {
        self.problems.lock().unwrap().clone()
    }

    fn forms(&self) -> Vec<Vec<(String, String)>> {
        self.forms.lock().unwrap().clone()
    }

    fn problem(&self, text: String) {
        self.problems.lock().unwrap().push(text);
    }

    fn json(status: u16, body: String) -> Result<InboundResponse, HttpError> {
        Ok(InboundResponse {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.into_bytes(),
        })
    }

    fn error(
        status: u16,
        error: &str,
        code: u64,
        text: &str,
    ) -> Result<InboundResponse, HttpError> {
        Self::json(
            status,
            serde_json::json!({
                "error": error,
                "error_description": format!(
                    "AADSTS{code}: {text}\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\n\
                     Correlation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2025-05-01 10:00:00Z"
                ),
                "error_codes": [code],
                "trace_id": "0000aaaa-11bb-cccc-dd22-eeeeee333333",
                "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd",
            })
            .to_string(),
        )
    }

    fn tokens(access: &str, refresh: Option<&str>) -> Result<InboundResponse, HttpError> {
        let mut answer = serde_json::json!({
            "token_type": "Bearer",
            "scope": GRANTED_SCOPE,
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": access,
        });
        if let Some(refresh) = refresh {
            answer["refresh_token"] = refresh.into();
        }
        Self::json(200, answer.to_string())
    }

    fn check_form(&self, form: &[(String, String)], expected_names: &[&str]) {
        let names: Vec<&str> = form.iter().map(|(n, _)| n.as_str()).collect();
        if names != expected_names {
            self.problem(format!(
                "form fields {names:?}, expected {expected_names:?}"
            ));
        }
    }
}

impl HttpBackend for EntraId {
    fn send(&self, request: &OutboundRequest) -> Result<InboundResponse, HttpError> {
        if request.method != Method::Post || request.url != TOKEN {
            self.problem(format!("unexpected {} {}", request.method, request.url));
            return Self::json(404, "{}".into());
        }
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if header("content-type") != Some("application/x-www-form-urlencoded") {
            self.problem(format!("content-type {:?}", header("content-type")));
        }
        if header("accept") != Some("application/json") {
            self.problem(format!("accept {:?}", header("accept")));
        }
        if header("authorization").is_some() {
            self.problem("an Authorization header went to the token endpoint".into());
        }
        let body = String::from_utf8(request.body.clone().unwrap_or_default()).expect("UTF-8");
        if body.contains('+') || body.contains(' ') {
            // Spaces must be %20 and a literal `+` %2B, or the secret and scope change.
            self.problem(format!(
                "ambiguous encoding in the form body: {} bytes",
                body.len()
            ));
        }
        let form = pairs(&body);
        self.forms.lock().unwrap().push(form.clone());
        let get = |name: &str| value(&form, name).unwrap_or_default().to_string();

        if get("client_id") != CLIENT_ID {
            return Self::error(400, "unauthorized_client", 700016, "Application not found.");
        }
        if get("client_secret") != CLIENT_SECRET {
            return Self::error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided.",
            );
        }
        match get("grant_type").as_str() {
            "authorization_code" => {
                self.check_form(
                    &form,
                    &[
                        "grant_type",
                        "client_id",
                        "client_secret",
                        "code",
                        "redirect_uri",
                        "code_verifier",
                        "scope",
                    ],
                );
                let code = get("code");
                if self.redeemed.lock().unwrap().contains(&code) {
                    return Self::error(
                        400,
                        "invalid_grant",
                        54005,
                        "OAuth2 Authorization code was already redeemed.",
                    );
                }
                let Some(issued) = self.codes.lock().unwrap().remove(&code) else {
                    self.problem("a code this Entra ID never issued".into());
                    return Self::error(400, "invalid_grant", 70008, "The code has expired.");
                };
                self.redeemed.lock().unwrap().push(code);
                if get("redirect_uri") != issued.redirect_uri {
                    self.problem(format!("redirect_uri {:?}", get("redirect_uri")));
                    return Self::error(400, "invalid_request", 50011, "Redirect URI mismatch.");
                }
                if get("scope") != issued.scope {
                    self.problem(format!("scope {:?}", get("scope")));
                }
                let verifier = get("code_verifier");
                let well_formed = (43..=128).contains(&verifier.len())
                    && verifier
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
                if !well_formed {
                    self.problem(format!("a malformed verifier of {} bytes", verifier.len()));
                }
                if s256(&verifier) != issued.challenge {
                    self.problem("S256(code_verifier) differs from the code_challenge".into());
                    return Self::error(
                        400,
                        "invalid_grant",
                        501481,
                        "The Code_Verifier does not match the code_challenge supplied in the \
                         authorization request.",
                    );
                }
                Self::tokens(ACCESS_1, Some(REFRESH_1))
            }
            "refresh_token" => {
                self.check_form(
                    &form,
                    &[
                        "grant_type",
                        "client_id",
                        "client_secret",
                        "refresh_token",
                        "scope",
                    ],
                );
                if get("scope") != DEFAULT_SCOPE {
                    self.problem(format!("scope {:?}", get("scope")));
                }
                let token = get("refresh_token");
                let mut live = self.refresh.lock().unwrap();
                match live.get(&token).cloned() {
                    Some(Some(next)) => {
                        live.remove(&token);
                        live.insert(next.clone(), None);
                        Self::tokens(ACCESS_2, Some(&next))
                    }
                    Some(None) => Self::tokens(ACCESS_2, None),
                    None => {
                        self.problem("a refresh token this Entra ID never issued".into());
                        Self::error(
                            400,
                            "invalid_grant",
                            700082,
                            "The refresh token has expired.",
                        )
                    }
                }
            }
            other => {
                self.problem(format!("grant_type {other:?}"));
                Self::error(
                    400,
                    "unsupported_grant_type",
                    70003,
                    "Unsupported grant type.",
                )
            }
        }
    }
}

/// A backend that fails every request the way the host's client does.
struct Failing(HttpError);

impl HttpBackend for Failing {
    fn send(&self, _request: &OutboundRequest) -> Result<InboundResponse, HttpError> {
        Err(self.0.clone())
    }
}

// ---------------------------------------------------------------------------------------
// The flows. Each asserts what a person and the platform see; the secrets test runs them
// all again and searches what they left behind.

fn authorization_url_flow(leaks: &mut Leaks) {
    let provider = load(AZURE_DEVOPS);
    let entra = Arc::new(EntraId::default());
    let storage = Arc::new(MemoryStorage::default());
    let ctx = context(
        leaks.record("authorization-url", entra.clone()),
        storage.clone(),
    );

    let before = now_unix();
    let request = authorize(&provider, &ctx, &app());
    let after = now_unix();
    leaks.storage("storage after authorization-url", &storage);

    let (endpoint, raw_query) = request.url.split_once('?').expect("a query");
    assert_eq!(endpoint, AUTHORIZE);
    // Strict encoding of the redirect URI: its own query and its space survive intact.
    assert!(
        raw_query.contains(
            "&redirect_uri=https%3A%2F%2Fplatform.example%2Fcb%3Fa%3D1%26b%3Dtwo%20words&"
        ),
        "{raw_query}"
    );
    assert!(
        !raw_query.contains('+') && !raw_query.contains(' ') && !raw_query.contains('#'),
        "{raw_query}"
    );

    let query = pairs(raw_query);
    let names: Vec<&str> = query.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "client_id",
            "response_type",
            "redirect_uri",
            "response_mode",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
        ]
    );
    assert_eq!(value(&query, "client_id"), Some(CLIENT_ID));
    assert_eq!(value(&query, "response_type"), Some("code"));
    assert_eq!(
        value(&query, "redirect_uri"),
        Some(REDIRECT),
        "exact round trip"
    );
    assert_eq!(value(&query, "response_mode"), Some("query"));
    assert_eq!(value(&query, "scope"), Some(DEFAULT_SCOPE));
    assert_eq!(value(&query, "state"), Some(request.state.as_str()));
    assert_eq!(value(&query, "code_challenge_method"), Some("S256"));
    let challenge = value(&query, "code_challenge").expect("challenge");
    let base64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    // base64url(SHA-256) without padding is 43 characters.
    assert_eq!(challenge.len(), 43, "{challenge}");
    assert!(base64url(challenge), "{challenge}");
    assert_eq!(request.state.len(), 43, "256 random bits");
    assert!(base64url(&request.state), "{}", request.state);
    assert!(
        (before + 600..=after + 600).contains(&request.expires_at),
        "{} not 10 minutes after {before}..{after}",
        request.expires_at
    );

    // The pending sign-in is stored under the state, bound to the app and callback.
    let key = format!("oauth-state:{}", request.state);
    assert_eq!(storage.keys(INTEGRATION).unwrap(), vec![key.clone()]);
    let stored = storage.get(INTEGRATION, &key).unwrap().expect("stored");
    let pending: serde_json::Value = serde_json::from_slice(&stored).expect("JSON");
    assert_eq!(pending["redirect_uri"], REDIRECT);
    assert_eq!(pending["client_id"], CLIENT_ID);
    assert_eq!(pending["expires_at"], request.expires_at);
    let verifier = pending["verifier"].as_str().expect("verifier");
    assert_eq!(
        s256(verifier),
        challenge,
        "the challenge is S256 of the verifier"
    );
    assert!(
        !stored
            .windows(CLIENT_SECRET.len())
            .any(|w| w == CLIENT_SECRET.as_bytes())
    );

    // Every sign-in gets its own state and verifier.
    let second = authorize(&provider, &ctx, &app());
    let second_query = pairs(second.url.split_once('?').unwrap().1);
    assert_ne!(second.state, request.state);
    assert_ne!(value(&second_query, "code_challenge"), Some(challenge));
    assert_eq!(storage.keys(INTEGRATION).unwrap().len(), 2);
    leaks.storage("storage after two authorization-urls", &storage);

    // Building URLs sends nothing.
    assert!(entra.forms().is_empty());
    assert!(entra.problems().is_empty(), "{:?}", entra.problems());
}

fn exchange_flow(leaks: &mut Leaks) {
    let provider = load(AZURE_DEVOPS);
    let entra = Arc::new(EntraId::default());
    let storage = Arc::new(MemoryStorage::default());
    let ctx = context(leaks.record("exchange", entra.clone()), storage.clone());

    let request = authorize(&provider, &ctx, &app());
    leaks.storage("storage before the exchange", &storage);
    let query = pairs(request.url.split_once('?').unwrap().1);
    let challenge = value(&query, "code_challenge").unwrap();
    // The person signs in; Entra ID binds the code to the challenge and the callback.
    entra.issue_code(CODE, challenge, REDIRECT, DEFAULT_SCOPE);

    let before = now_unix();
    let tokens = exchange(&provider, &ctx, &app(), CODE, &request.state).expect("exchange");
    let after = now_unix();
    assert!(entra.problems().is_empty(), "{:?}", entra.problems());
    assert_eq!(tokens.access_token, ACCESS_1);
    assert_eq!(tokens.refresh_token.as_deref(), Some(REFRESH_1));
    let expires_at = tokens.expires_at.expect("expires_at");
    assert!(
        (before + 3599..=after + 3599).contains(&expires_at),
        "{expires_at} not 3599 s after {before}..{after}"
    );
    assert_eq!(tokens.scopes, vec![GRANTED_SCOPE.to_string()]);

    let forms = entra.forms();
    assert_eq!(forms.len(), 1);
    let form = &forms[0];
    assert_eq!(value(form, "grant_type"), Some("authorization_code"));
    assert_eq!(value(form, "client_id"), Some(CLIENT_ID));
    assert_eq!(value(form, "client_secret"), Some(CLIENT_SECRET));
    assert_eq!(value(form, "code"), Some(CODE));
    assert_eq!(value(form, "redirect_uri"), Some(REDIRECT));
    assert_eq!(value(form, "scope"), Some(DEFAULT_SCOPE));
    assert_eq!(
        value(form, "code_verifier").map(s256).as_deref(),
        Some(challenge)
    );
    // The state is consumed: nothing is left in storage.
    assert!(storage.keys(INTEGRATION).unwrap().is_empty());
    leaks.storage("storage after the exchange", &storage);

    // The same callback again (a reload, a replayed link): refused before any request.
    let err = exchange(&provider, &ctx, &app(), CODE, &request.state).unwrap_err();
    leaks.error("second exchange", &err);
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m == START_AGAIN),
        "{err:?}"
    );
    // A well-formed state this provider never issued.
    let err = exchange(&provider, &ctx, &app(), CODE, &"A".repeat(43)).unwrap_err();
    leaks.error("unknown state", &err);
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m == START_AGAIN),
        "{err:?}"
    );
    // A state that is no base64url token never becomes part of a storage key.
    let err = exchange(&provider, &ctx, &app(), CODE, "../oauth-state:../x y").unwrap_err();
    leaks.error("malformed state", &err);
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m == START_AGAIN),
        "{err:?}"
    );
    // A state issued for another callback URL cannot be redeemed with this one.
    let mut other = app();
    other.redirect_uri = "https://platform.example/other".into();
    let foreign = authorize(&provider, &ctx, &other);
    let err = exchange(&provider, &ctx, &app(), CODE, &foreign.state).unwrap_err();
    leaks.error("foreign state", &err);
    assert_eq!(kind(&err), "unauthorized", "{err:?}");
    assert!(
        message(&err).contains("another app registration or callback URL")
            && message(&err).contains(START_AGAIN),
        "{}",
        message(&err)
    );
    assert_eq!(entra.forms().len(), 1, "refused states send nothing");
    assert!(storage.keys(INTEGRATION).unwrap().is_empty());
}

fn refresh_flow(leaks: &mut Leaks) {
    let provider = load(AZURE_DEVOPS);
    let entra = Arc::new(EntraId::default());
    let storage = Arc::new(MemoryStorage::default());
    let ctx = context(leaks.record("refresh", entra.clone()), storage.clone());
    entra.grant_refresh(REFRESH_1, Some(REFRESH_2));

    // Rotation: the answer's new refresh token is the one to keep.
    let before = now_unix();
    let tokens = refresh(&provider, &ctx, &app(), REFRESH_1).expect("refresh");
    let after = now_unix();
    assert_eq!(tokens.access_token, ACCESS_2);
    assert_eq!(tokens.refresh_token.as_deref(), Some(REFRESH_2));
    let expires_at = tokens.expires_at.expect("expires_at");
    assert!((before + 3599..=after + 3599).contains(&expires_at));
    assert_eq!(tokens.scopes, vec![GRANTED_SCOPE.to_string()]);

    // No refresh token in the answer: the one just redeemed is returned.
    let tokens = refresh(&provider, &ctx, &app(), REFRESH_2).expect("refresh");
    assert_eq!(tokens.access_token, ACCESS_2);
    assert_eq!(tokens.refresh_token.as_deref(), Some(REFRESH_2));

    let forms = entra.forms();
    assert_eq!(forms.len(), 2);
    for (form, sent) in forms.iter().zip([REFRESH_1, REFRESH_2]) {
        assert_eq!(value(form, "grant_type"), Some("refresh_token"));
        assert_eq!(value(form, "refresh_token"), Some(sent));
        assert_eq!(value(form, "client_secret"), Some(CLIENT_SECRET));
    }
    assert!(entra.problems().is_empty(), "{:?}", entra.problems());
    assert!(
        storage.keys(INTEGRATION).unwrap().is_empty(),
        "tokens are never stored"
    );
    leaks.storage("storage after refresh", &storage);
}

fn aadsts_flow(leaks: &mut Leaks) {
    let provider = load(AZURE_DEVOPS);
    let cases: [(&str, &str, &[&str]); 3] = [
        (
            "exchange-expired-code.json",
            "unauthorized",
            &[
                "the authorization code expired or was already redeemed (AADSTS70008): start the sign-in again",
            ],
        ),
        (
            "exchange-wrong-secret.json",
            "invalid-config",
            &[
                "the client secret is wrong (AADSTS7000215)",
                "give the integration the secret's Value (not its Secret ID)",
            ],
        ),
        (
            "exchange-redirect-mismatch.json",
            "invalid-config",
            &[
                "the redirect URI https://platform.example/cb?a=1&b=two words is not registered on the app (AADSTS50011)",
                "under Authentication > Redirect URIs (Web) of the app registration",
            ],
        ),
    ];
    for (file, want_kind, fragments) in cases {
        let replayer = replayer(file);
        let storage = Arc::new(MemoryStorage::default());
        let ctx = context(leaks.record(file, replayer.clone()), storage.clone());
        let request = authorize(&provider, &ctx, &app());
        let err = exchange(&provider, &ctx, &app(), CODE, &request.state).unwrap_err();
        leaks.error(file, &err);
        assert_eq!(kind(&err), want_kind, "{file}: {err:?}");
        for fragment in fragments {
            assert!(
                message(&err).contains(fragment),
                "{file}: {}",
                message(&err)
            );
        }
        assert!(
            replayer.unused().is_empty(),
            "{file}: {:?}",
            replayer.unused()
        );
        assert!(
            storage.keys(INTEGRATION).unwrap().is_empty(),
            "{file}: the state is consumed even when the exchange fails"
        );
    }
}

/// (cassette, credential, kind, message fragments, retry-after)
type Diagnostic = (
    &'static str,
    Credential,
    &'static str,
    &'static [&'static str],
    Option<u32>,
);

fn diagnostics_flow(leaks: &mut Leaks) {
    let provider = load(AZURE_DEVOPS);
    let cases: Vec<Diagnostic> = vec![
        (
            "validate-401.json",
            pat(),
            "unauthorized",
            &[
                "Azure DevOps rejected the credential for https://dev.azure.com/contoso/_apis/connectionData (HTTP 401)",
                "it is wrong, expired or revoked; create a new token or re-authenticate the app",
            ],
            None,
        ),
        (
            "validate-203-sign-in-page.json",
            Credential::OauthAccessToken(OAUTH_TOKEN.into()),
            "unauthorized",
            &[
                "answered https://dev.azure.com/contoso/_apis/connectionData with a sign-in page instead of data (HTTP 203)",
                "the credential is missing, wrong or expired; re-authenticate or replace the token",
            ],
            None,
        ),
        (
            "validate-org-not-found.json",
            pat(),
            "not-found",
            &[
                "Azure DevOps found nothing at https://dev.azure.com/contoso/_apis/connectionData (HTTP 404)",
                "check the organization URL",
            ],
            None,
        ),
        (
            "validate-tf400813-oauth-policy.json",
            Credential::OauthAccessToken(OAUTH_TOKEN.into()),
            "forbidden",
            &[
                "the organization does not let this identity use the API (TF400813)",
                "the policy \"Third-party application access via OAuth\" is on",
            ],
            None,
        ),
        (
            "validate-vs403463-conditional-access.json",
            pat(),
            "forbidden",
            &[
                "a conditional access policy of the organization refused this credential (VS403463)",
                "ask an administrator to adjust the policy",
            ],
            None,
        ),
        (
            "validate-429.json",
            pat(),
            "rate-limited",
            &[
                "Azure DevOps is throttling this identity (HTTP 429); retry after 30 seconds",
                "exceeding usage of resource 'Core'",
            ],
            Some(30),
        ),
    ];
    for (file, credential, want_kind, fragments, retry_after) in cases {
        let replayer = replayer(file);
        let storage = Arc::new(MemoryStorage::default());
        let ctx = context(leaks.record(file, replayer.clone()), storage.clone());
        let err = validate(&provider, &ctx, &connection(credential), &ALL).unwrap_err();
        leaks.error(file, &err);
        assert_eq!(kind(&err), want_kind, "{file}: {err:?}");
        for fragment in fragments {
            assert!(
                message(&err).contains(fragment),
                "{file}: {}",
                message(&err)
            );
        }
        if let ProviderError::RateLimited(limit) = &err {
            assert_eq!(limit.retry_after_seconds, retry_after, "{file}");
        } else {
            assert_eq!(retry_after, None, "{file}: expected a rate limit");
        }
        assert!(
            replayer.unused().is_empty(),
            "{file}: {:?}",
            replayer.unused()
        );
        leaks.storage(file, &storage);
    }
}

fn outcome(report: &ValidationReport, capability: Capability) -> CheckOutcome {
    report
        .checks
        .iter()
        .find(|c| c.capability == capability)
        .map(|c| c.outcome)
        .unwrap_or_else(|| panic!("no check of {capability:?}"))
}

fn scopes_flow(leaks: &mut Leaks) {
    let provider = load(AZURE_DEVOPS);

    // Every scope granted: the report names the identity, and every probe passed.
    let replayer_ok = replayer("validate-granted.json");
    let ctx = context(
        leaks.record("validate-granted.json", replayer_ok.clone()),
        Arc::new(MemoryStorage::default()),
    );
    let report = validate(&provider, &ctx, &connection(pat()), &ALL).expect("validate");
    leaks.report("validate-granted.json", &report);
    assert!(report.ok, "{}", report.summary);
    assert_eq!(report.identity.id, "6f3c1a52-1d4e-4c3b-9a0e-2b7e8d9c0f11");
    assert_eq!(
        report.identity.unique_name.as_deref(),
        Some("bot@contoso.com")
    );
    assert_eq!(
        report.identity.display_name.as_deref(),
        Some("Terraform Bot")
    );
    for capability in ALL {
        assert_eq!(
            outcome(&report, capability),
            CheckOutcome::Granted,
            "{capability:?}"
        );
    }
    assert!(
        report.summary.starts_with(
            "The credential works at https://dev.azure.com/contoso/ and acts as Terraform Bot (bot@contoso.com)."
        ),
        "{}",
        report.summary
    );
    assert!(
        report.summary.ends_with("Everything required is granted."),
        "{}",
        report.summary
    );
    assert!(
        replayer_ok.unused().is_empty(),
        "{:?}",
        replayer_ok.unused()
    );

    // No Pull Request Threads scope: not an error, a report a person can act on.
    let replayer_missing = replayer("validate-missing-threads-scope.json");
    let ctx = context(
        leaks.record(
            "validate-missing-threads-scope.json",
            replayer_missing.clone(),
        ),
        Arc::new(MemoryStorage::default()),
    );
    let report = validate(&provider, &ctx, &connection(pat()), &ALL).expect("validate");
    leaks.report("validate-missing-threads-scope.json", &report);
    assert!(!report.ok, "{}", report.summary);
    let outcomes: Vec<CheckOutcome> = ALL.iter().map(|c| outcome(&report, *c)).collect();
    assert_eq!(
        outcomes,
        [
            CheckOutcome::Granted,
            CheckOutcome::Granted,
            CheckOutcome::Granted,
            CheckOutcome::Missing
        ]
    );
    let threads = report
        .checks
        .iter()
        .find(|c| c.capability == Capability::WriteComments)
        .unwrap();
    assert_eq!(threads.message, MISSING_THREADS);
    assert!(
        report.summary.contains(&format!(
            "Missing (write pull-request comments): {MISSING_THREADS}."
        )),
        "{}",
        report.summary
    );
    assert!(
        report
            .summary
            .ends_with("Fix what is listed, then validate again."),
        "{}",
        report.summary
    );
    assert!(
        replayer_missing.unused().is_empty(),
        "{:?}",
        replayer_missing.unused()
    );
}

fn unreachable_flow(leaks: &mut Leaks) {
    let provider = load(AZURE_DEVOPS);

    // An on-premises collection the host's egress policy does not allow: refused by the
    // host's real client before any network traffic.
    let ctx = context_with(
        INTEGRATION,
        Arc::new(MemoryStorage::default()),
        HttpConfig::default(),
    );
    let conn = Connection {
        base_url: "https://tfs.contoso.invalid/DefaultCollection/".into(),
        credential: pat(),
        options: vec![],
    };
    let err = validate(&provider, &ctx, &conn, &ALL).unwrap_err();
    leaks.error("egress denied", &err);
    assert_eq!(kind(&err), "transport", "{err:?}");
    for fragment in [
        "could not reach the organization at https://tfs.contoso.invalid/DefaultCollection/",
        "tfs.contoso.invalid",
        "check the organization URL and the host's egress allowlist",
    ] {
        assert!(message(&err).contains(fragment), "{}", message(&err));
    }

    // A name that does not resolve.
    let dns = Arc::new(Failing(HttpError::Connection(
        "dns error: failed to lookup address information: Name or service not known".into(),
    )));
    let ctx = context(dns, Arc::new(MemoryStorage::default()));
    let err = validate(&provider, &ctx, &connection(pat()), &ALL).unwrap_err();
    leaks.error("dns failure", &err);
    assert_eq!(kind(&err), "transport", "{err:?}");
    for fragment in [
        "could not reach the organization at https://dev.azure.com/contoso/",
        "failed to lookup address information",
    ] {
        assert!(message(&err).contains(fragment), "{}", message(&err));
    }
}

// ---------------------------------------------------------------------------------------
// Tests.

/// A `tracing` writer into shared memory.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process-wide log buffer, installed as the global subscriber on first use.
fn captured_logs() -> &'static LogBuffer {
    static LOGS: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = LogBuffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(logs.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in this test binary");
        logs
    })
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn sha256_and_base64_helpers_match_the_rfc_vectors() {
    // RFC 7636, appendix B.
    assert_eq!(
        s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    assert_eq!(base64(b":pat", false), "OnBhdA==");
    assert_eq!(base64(b"ab", false), "YWI=");
    assert_eq!(
        pairs("a=b%20c+d&e=%2B%26"),
        vec![
            ("a".to_string(), "b c d".to_string()),
            ("e".to_string(), "+&".to_string())
        ]
    );
}

#[test]
fn the_authorization_url_carries_every_parameter_and_stores_the_state() {
    authorization_url_flow(&mut Leaks::default());
}

#[test]
fn the_code_exchange_proves_pkce_and_a_state_works_once() {
    exchange_flow(&mut Leaks::default());
}

#[test]
fn a_pending_sign_in_expires_after_ten_minutes() {
    let provider = load(AZURE_DEVOPS);
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let clock = Arc::new(AtomicU64::new(start));
    let reading = clock.clone();
    let storage = Arc::new(
        MemoryStorage::default().with_clock(Arc::new(move || reading.load(Ordering::SeqCst))),
    );
    let entra = Arc::new(EntraId::default());
    let ctx = context(entra.clone(), storage.clone());
    let request = authorize(&provider, &ctx, &app());

    clock.store(start + 599_000, Ordering::SeqCst);
    assert_eq!(storage.keys(INTEGRATION).unwrap().len(), 1, "alive at 9:59");
    clock.store(start + 601_000, Ordering::SeqCst);
    assert!(
        storage.keys(INTEGRATION).unwrap().is_empty(),
        "gone at 10:01"
    );
    let err = exchange(&provider, &ctx, &app(), CODE, &request.state).unwrap_err();
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m == START_AGAIN),
        "{err:?}"
    );
    assert!(entra.forms().is_empty(), "an expired sign-in sends nothing");
}

#[test]
fn refresh_returns_the_rotated_token_or_keeps_the_old_one() {
    refresh_flow(&mut Leaks::default());
}

#[test]
fn aadsts_answers_to_the_exchange_are_typed_and_actionable() {
    aadsts_flow(&mut Leaks::default());
}

#[test]
fn unusable_credentials_are_diagnosed_from_cassettes() {
    diagnostics_flow(&mut Leaks::default());
}

#[test]
fn missing_scopes_come_back_in_the_validation_report() {
    scopes_flow(&mut Leaks::default());
}

#[test]
fn an_unreachable_organization_is_a_transport_error() {
    unreachable_flow(&mut Leaks::default());
}

#[test]
fn no_secret_reaches_a_cassette_an_error_a_log_or_storage() {
    // Every log line of the flows (the host's own and the provider's `log` import, at
    // trace level) goes to a buffer. The subscriber is process-wide: a thread-local one
    // misses events whose callsites other test threads registered first.
    let logs = captured_logs();
    let mut leaks = Leaks::default();
    authorization_url_flow(&mut leaks);
    exchange_flow(&mut leaks);
    refresh_flow(&mut leaks);
    aadsts_flow(&mut leaks);
    diagnostics_flow(&mut leaks);
    scopes_flow(&mut leaks);
    unreachable_flow(&mut leaks);
    let log_text = logs.text();
    // The refresh answer without a new refresh token makes the provider warn.
    assert!(
        log_text.contains("provider"),
        "no provider log line was captured:\n{log_text}"
    );
    leaks.texts.push(("the log output".to_string(), log_text));

    // Save every recorded cassette, then search the files, the fixtures and the texts.
    let dir = tempfile::tempdir().unwrap();
    let mut searched: Vec<(String, String)> = leaks.texts.clone();
    let mut interactions = 0;
    let mut exchange_cassette = None;
    for (i, (name, recorder)) in leaks.recorders.iter().enumerate() {
        interactions += recorder.cassette().interactions.len();
        let path = dir.path().join(format!("{i:02}-{name}"));
        recorder.save(&path).unwrap();
        if name == "exchange" {
            exchange_cassette = Some(path.clone());
        }
        searched.push((
            path.display().to_string(),
            std::fs::read_to_string(&path).unwrap(),
        ));
    }
    for entry in std::fs::read_dir(cassette("")).unwrap() {
        let path = entry.unwrap().path();
        searched.push((
            path.display().to_string(),
            std::fs::read_to_string(&path).unwrap(),
        ));
    }
    // 3 token requests, 3 AADSTS answers, 6 diagnostics, 5 + 5 probes.
    assert!(interactions >= 22, "{interactions} interactions recorded");
    assert!(searched.len() > 60, "{} texts searched", searched.len());

    let basic = base64(format!(":{PAT}").as_bytes(), false);
    let secrets = [
        CLIENT_SECRET,
        CODE,
        ACCESS_1,
        ACCESS_2,
        REFRESH_1,
        REFRESH_2,
        PAT,
        basic.as_str(),
        OAUTH_TOKEN,
    ];
    for secret in secrets {
        for variant in encodings(secret) {
            for (place, text) in &searched {
                assert!(
                    !text.contains(&variant),
                    "{secret:?} (as {variant:?}) leaked into {place}:\n{text}"
                );
            }
        }
    }

    // The recorded exchange is scrubbed by key, and still a usable cassette: replayed for
    // a new sign-in (another state and verifier), it matches and answers.
    let exchange_cassette = exchange_cassette.expect("the exchange was recorded");
    let text = std::fs::read_to_string(&exchange_cassette).unwrap();
    for scrubbed in [
        "client_secret=[redacted]",
        "&code=[redacted]&",
        "code_verifier=[redacted]",
        "\\\"access_token\\\":\\\"[redacted]\\\"",
        "\\\"refresh_token\\\":\\\"[redacted]\\\"",
    ] {
        assert!(text.contains(scrubbed), "{scrubbed} missing in\n{text}");
    }
    let provider = load(AZURE_DEVOPS);
    let replay = Arc::new(Replayer::from_file(&exchange_cassette, host_secrets()).unwrap());
    let ctx = context(replay.clone(), Arc::new(MemoryStorage::default()));
    let request = authorize(&provider, &ctx, &app());
    let tokens = exchange(&provider, &ctx, &app(), "ANOTHER-CODE-1234", &request.state)
        .expect("replayed exchange");
    assert_eq!(tokens.access_token, "[redacted]");
    assert!(replay.unused().is_empty(), "{:?}", replay.unused());
}
