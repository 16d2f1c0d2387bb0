//! Recording exchanges to cassettes and replaying them.
//!
//! A cassette is pretty JSON meant for people as much as for the replayer:
//!
//! ```json
//! {"interactions": [{
//!   "request":  {"method": "GET", "url": "https://dev.azure.com/org/_apis/projects",
//!                "headers": [["accept", "application/json"]], "body": null},
//!   "response": {"status": 200, "headers": [["content-type", "application/json"]],
//!                "body": "{\"count\":0,\"value\":[]}"}
//! }]}
//! ```
//!
//! Bodies are strings when they are UTF-8 and `{"base64": "..."}` otherwise, so every
//! body round-trips byte for byte. Requests match on method, URL and body after both
//! sides are scrubbed alike; request headers are kept for the reader only.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::scrub::Scrubber;
use super::{HttpBackend, HttpError, InboundResponse, Method, OutboundRequest};

/// A message body as a cassette stores it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(untagged)]
pub enum Body {
    /// A UTF-8 body, verbatim (JSON answers stay readable strings).
    Text(String),
    /// Any other body, base64 (standard alphabet, padded).
    Base64 {
        /// The encoded bytes.
        base64: String,
    },
}

impl Default for Body {
    fn default() -> Self {
        Body::Text(String::new())
    }
}

impl Body {
    /// The readable form when the bytes are UTF-8, base64 otherwise.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Body::Text(text.to_owned()),
            Err(_) => Body::Base64 {
                base64: BASE64.encode(bytes),
            },
        }
    }

    /// The bytes; fails only on a hand-written body that is not valid base64.
    pub fn to_bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        match self {
            Body::Text(text) => Ok(text.as_bytes().to_vec()),
            Body::Base64 { base64 } => BASE64.decode(base64.trim()),
        }
    }
}

/// The request half of an interaction.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RecordedRequest {
    /// Matched exactly (upper case when written; any case is read).
    pub method: Method,
    /// Matched exactly, after scrubbing.
    pub url: String,
    /// For the reader only: not matched.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Matched byte for byte after scrubbing; `null` matches an empty or absent body.
    #[serde(default)]
    pub body: Option<Body>,
}

/// The response half of an interaction.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RecordedResponse {
    /// The status code served.
    pub status: u16,
    /// The headers served.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body served; empty when left out.
    #[serde(default)]
    pub body: Body,
}

/// One recorded request and its answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Interaction {
    /// What was asked.
    pub request: RecordedRequest,
    /// What was answered.
    pub response: RecordedResponse,
}

/// A recorded series of HTTP exchanges.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct Cassette {
    /// The exchanges, in the order they happened.
    #[serde(default)]
    pub interactions: Vec<Interaction>,
}

/// Why a cassette could not be loaded.
#[derive(thiserror::Error, Debug)]
pub enum CassetteError {
    /// The file could not be read.
    #[error("could not read cassette {}: {source}", path.display())]
    Io {
        /// The cassette's path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is not a cassette.
    #[error("cassette {} is not valid cassette JSON: {source}", path.display())]
    Parse {
        /// The cassette's path.
        path: PathBuf,
        /// Where and why parsing failed.
        source: serde_json::Error,
    },
    /// A `{"base64": ...}` body does not decode.
    #[error("cassette {}: interactions[{index}].{side}.body is not valid base64: {source}", path.display())]
    InvalidBody {
        /// The cassette's path.
        path: PathBuf,
        /// The interaction's position in `interactions`.
        index: usize,
        /// `request` or `response`.
        side: &'static str,
        /// The decoding error.
        source: base64::DecodeError,
    },
}

impl Cassette {
    /// Read a cassette, checking that every body decodes so mistakes show at load time.
    pub fn load(path: &Path) -> Result<Self, CassetteError> {
        let text = std::fs::read_to_string(path).map_err(|source| CassetteError::Io {
            path: path.to_owned(),
            source,
        })?;
        let cassette: Cassette =
            serde_json::from_str(&text).map_err(|source| CassetteError::Parse {
                path: path.to_owned(),
                source,
            })?;
        for (index, interaction) in cassette.interactions.iter().enumerate() {
            let invalid = |side, source| CassetteError::InvalidBody {
                path: path.to_owned(),
                index,
                side,
                source,
            };
            if let Some(body) = &interaction.request.body {
                body.to_bytes().map_err(|e| invalid("request", e))?;
            }
            interaction
                .response
                .body
                .to_bytes()
                .map_err(|e| invalid("response", e))?;
        }
        Ok(cassette)
    }

    /// The cassette as pretty JSON with a final newline, the form [`Cassette::save`] writes.
    /// Header pairs sit on one line each (`["accept", "application/json"]`).
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        let mut serializer =
            serde_json::Serializer::with_formatter(&mut out, CassetteFormatter::default());
        // Serialising strings, numbers and vectors into memory cannot fail; an empty
        // cassette is the safe answer if it ever did.
        if self.serialize(&mut serializer).is_err() {
            return String::from("{\n  \"interactions\": []\n}\n");
        }
        let mut json =
            String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into());
        json.push('\n');
        json
    }

    /// Write the cassette as pretty JSON.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        std::fs::write(path, self.to_json())
    }
}

/// serde_json's pretty layout, except that an array inside an array (a header pair) and
/// everything within it are written on one line, which keeps header lists short.
#[derive(Default)]
struct CassetteFormatter {
    pretty: serde_json::ser::PrettyFormatter<'static>,
    /// For each open container: whether it is an array, and whether it is written compactly.
    open: Vec<(bool, bool)>,
}

impl CassetteFormatter {
    fn compact(&self) -> bool {
        self.open.last().is_some_and(|(_, compact)| *compact)
    }
}

impl serde_json::ser::Formatter for CassetteFormatter {
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        let compact = self
            .open
            .last()
            .is_some_and(|(array, compact)| *array || *compact);
        self.open.push((true, compact));
        if compact {
            w.write_all(b"[")
        } else {
            self.pretty.begin_array(w)
        }
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        match self.open.pop() {
            Some((_, true)) => w.write_all(b"]"),
            _ => self.pretty.end_array(w),
        }
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        match (self.compact(), first) {
            (true, true) => Ok(()),
            (true, false) => w.write_all(b", "),
            (false, _) => self.pretty.begin_array_value(w, first),
        }
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.compact() {
            Ok(())
        } else {
            self.pretty.end_array_value(w)
        }
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        let compact = self.compact();
        self.open.push((false, compact));
        if compact {
            w.write_all(b"{")
        } else {
            self.pretty.begin_object(w)
        }
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        match self.open.pop() {
            Some((_, true)) => w.write_all(b"}"),
            _ => self.pretty.end_object(w),
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        match (self.compact(), first) {
            (true, true) => Ok(()),
            (true, false) => w.write_all(b", "),
            (false, _) => self.pretty.begin_object_key(w, first),
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.compact() {
            w.write_all(b": ")
        } else {
            self.pretty.begin_object_value(w)
        }
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.compact() {
            Ok(())
        } else {
            self.pretty.end_object_value(w)
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind: keep using it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Wraps a backend and keeps every answered exchange, scrubbed of credentials.
///
/// The guest gets the real answer; only the recording is scrubbed. Failed exchanges
/// (denied, timed out, ...) are not recorded: a cassette holds answers only.
pub struct Recorder {
    inner: Arc<dyn HttpBackend>,
    scrubber: Scrubber,
    interactions: Mutex<Vec<Interaction>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("interactions", &lock(&self.interactions).len())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Record what `inner` answers; every literal in `secrets` (tokens, PATs, client
    /// secrets) is replaced by `[redacted]` in URLs, headers and bodies of the recording.
    pub fn new(inner: Arc<dyn HttpBackend>, secrets: Vec<String>) -> Self {
        Self {
            inner,
            scrubber: Scrubber::new(&secrets),
            interactions: Mutex::new(Vec::new()),
        }
    }

    /// The exchanges recorded so far.
    pub fn cassette(&self) -> Cassette {
        Cassette {
            interactions: lock(&self.interactions).clone(),
        }
    }

    /// Write the exchanges recorded so far to `path`.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        self.cassette().save(path)
    }
}

impl HttpBackend for Recorder {
    fn send(&self, request: &OutboundRequest) -> Result<InboundResponse, HttpError> {
        let result = self.inner.send(request);
        if let Ok(response) = &result {
            let s = &self.scrubber;
            let interaction = Interaction {
                request: RecordedRequest {
                    method: request.method,
                    url: s.url(&request.url),
                    headers: s.headers(&request.headers),
                    body: request
                        .body
                        .as_deref()
                        .map(|b| Body::from_bytes(&s.body(b))),
                },
                response: RecordedResponse {
                    status: response.status,
                    headers: s.headers(&response.headers),
                    body: Body::from_bytes(&s.body(&response.body)),
                },
            };
            lock(&self.interactions).push(interaction);
        }
        result
    }
}

/// A cassette interaction prepared for matching.
struct Entry {
    method: Method,
    url: String,
    /// Scrubbed request body (empty for none), or why it could not be decoded.
    body: Result<Vec<u8>, String>,
    response: Result<InboundResponse, String>,
}

/// Serves the answers of a cassette, without network.
///
/// Each request is scrubbed like the recording was, then gets the first unused matching
/// interaction; when all matches were used, the last one is served again (polling GETs
/// repeat). A request nothing matches fails with [`HttpError::NoRecording`], naming the
/// closest recorded candidates.
pub struct Replayer {
    entries: Vec<Entry>,
    scrubber: Scrubber,
    /// How often each entry was served.
    served: Mutex<Vec<usize>>,
}

impl std::fmt::Debug for Replayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replayer")
            .field("interactions", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// At most `max` characters of a body, as text, for messages.
fn preview(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{:?}…", text.get(..cut).unwrap_or_default()),
        None => format!("{text:?}"),
    }
}

/// Scheme, host, port and path: what "the same endpoint" means for candidates.
fn endpoint(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or(url).to_owned(),
    }
}

impl Replayer {
    /// Replay `cassette`, scrubbing requests with the same `secrets` as the recording
    /// (the recorded side is scrubbed too, so a hand-written cassette may hold real
    /// values or `[redacted]` alike).
    pub fn new(cassette: Cassette, secrets: Vec<String>) -> Self {
        let scrubber = Scrubber::new(&secrets);
        let entries: Vec<Entry> = cassette
            .interactions
            .into_iter()
            .map(|i| {
                let body = match &i.request.body {
                    None => Ok(Vec::new()),
                    Some(b) => b
                        .to_bytes()
                        .map(|b| scrubber.body(&b))
                        .map_err(|e| format!("its request body is not valid base64 ({e})")),
                };
                let response = i
                    .response
                    .body
                    .to_bytes()
                    .map(|body| InboundResponse {
                        status: i.response.status,
                        headers: i.response.headers,
                        body,
                    })
                    .map_err(|e| format!("its response body is not valid base64 ({e})"));
                Entry {
                    method: i.request.method,
                    url: scrubber.url(&i.request.url),
                    body,
                    response,
                }
            })
            .collect();
        Self {
            served: Mutex::new(vec![0; entries.len()]),
            entries,
            scrubber,
        }
    }

    /// Replay the cassette at `path`, scrubbing with `secrets` as [`Replayer::new`] does.
    pub fn from_file(path: &Path, secrets: Vec<String>) -> Result<Self, CassetteError> {
        Ok(Self::new(Cassette::load(path)?, secrets))
    }

    /// The interactions never served, as `interactions[i]: METHOD URL`, for tests that
    /// want the whole cassette consumed.
    pub fn unused(&self) -> Vec<String> {
        let served = lock(&self.served);
        self.entries
            .iter()
            .enumerate()
            .filter(|(i, _)| served.get(*i).copied().unwrap_or(0) == 0)
            .map(|(i, e)| format!("interactions[{i}]: {} {}", e.method, e.url))
            .collect()
    }

    fn no_recording(&self, method: Method, url: &str, body: &[u8]) -> HttpError {
        let served = lock(&self.served);
        let unused = served.iter().filter(|n| **n == 0).count();
        let mut message = format!(
            "no recorded interaction for {method} {url}{}; the cassette has {} interactions \
             ({unused} unused)",
            if body.is_empty() {
                String::new()
            } else {
                format!(" with body {}", preview(body, 200))
            },
            self.entries.len(),
        );
        let wanted_endpoint = endpoint(url);
        let mut candidates: Vec<(u8, usize, String)> = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let same_url = e.url == url;
            let same_endpoint = same_url || endpoint(&e.url) == wanted_endpoint;
            let why = match (e.method == method, same_url, same_endpoint) {
                (true, true, _) => match &e.body {
                    Ok(b) => (
                        0,
                        format!("same method and URL, different body {}", preview(b, 200)),
                    ),
                    Err(reason) => (0, format!("same method and URL, but {reason}")),
                },
                (false, true, _) => (1, "same URL, different method".to_owned()),
                (true, false, true) => (2, "same path, different query".to_owned()),
                (false, false, true) => (3, "same path, different method and query".to_owned()),
                _ => continue,
            };
            candidates.push((why.0, i, format!("{} {} ({})", e.method, e.url, why.1)));
        }
        candidates.sort_by_key(|(rank, i, _)| (*rank, *i));
        if candidates.is_empty() {
            message.push_str(
                "; no recorded interaction has this path: record the exchange again or add it \
                 to the cassette",
            );
        } else {
            message.push_str("; closest recorded candidates:");
            for (_, i, text) in candidates.iter().take(5) {
                let _ = write!(message, "\n  interactions[{i}]: {text}");
            }
        }
        HttpError::NoRecording(message)
    }
}

impl HttpBackend for Replayer {
    fn send(&self, request: &OutboundRequest) -> Result<InboundResponse, HttpError> {
        let url = self.scrubber.url(&request.url);
        let body = self
            .scrubber
            .body(request.body.as_deref().unwrap_or_default());
        let matches = |e: &Entry| {
            e.method == request.method && e.url == url && e.body.as_ref().is_ok_and(|b| *b == body)
        };
        let chosen = {
            let mut served = lock(&self.served);
            let first_unused = self
                .entries
                .iter()
                .enumerate()
                .find(|(i, e)| matches(e) && served.get(*i).copied().unwrap_or(0) == 0)
                .map(|(i, _)| i);
            let chosen = first_unused.or_else(|| self.entries.iter().rposition(matches));
            if let Some(slot) = chosen.and_then(|i| served.get_mut(i)) {
                *slot = slot.saturating_add(1);
            }
            chosen
        };
        let Some(index) = chosen else {
            let error = self.no_recording(request.method, &url, &body);
            tracing::warn!(%error, "replay miss");
            return Err(error);
        };
        tracing::debug!(method = %request.method, %url, index, "replaying recorded interaction");
        match self.entries.get(index).map(|e| &e.response) {
            Some(Ok(response)) => Ok(response.clone()),
            Some(Err(reason)) => Err(HttpError::NoRecording(format!(
                "interactions[{index}] matches {} {url}, but {reason}",
                request.method
            ))),
            None => Err(self.no_recording(request.method, &url, &body)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_server::{Reply, TestServer};
    use super::super::{HttpConfig, LiveHttp};
    use super::*;

    fn live() -> Arc<dyn HttpBackend> {
        Arc::new(LiveHttp::new(HttpConfig {
            allow_hosts: Vec::new(),
            allow_loopback: true,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            ..HttpConfig::default()
        }))
    }

    fn reply(status: &str, headers: &str, body: &[u8]) -> Reply {
        let head = format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        Reply::Raw([head.into_bytes(), body.to_vec()].concat())
    }

    fn request(method: Method, url: String, body: Option<&[u8]>) -> OutboundRequest {
        let mut r = OutboundRequest::new(method, url);
        r.headers = vec![
            ("Accept".into(), "application/json".into()),
            ("Authorization".into(), "Basic OnNlY3JldC1wYXQ=".into()),
        ];
        r.body = body.map(<[u8]>::to_vec);
        r
    }

    #[test]
    fn record_save_load_replay_round_trip() {
        let binary: Vec<u8> = (0..=255u8).rev().collect();
        let server = TestServer::start(vec![
            reply(
                "200 OK",
                "Content-Type: application/json\r\n",
                b"{\"count\":1,\"value\":[\"p\"]}",
            ),
            reply("201 Created", "Location: /items/7\r\n", b"created"),
            reply(
                "200 OK",
                "Content-Type: application/octet-stream\r\n",
                &binary,
            ),
            reply("404 Not Found", "", b""),
        ]);
        let base = server.url("");
        let requests = [
            request(
                Method::Get,
                format!("{base}/projects?api-version=7.1"),
                None,
            ),
            request(
                Method::Post,
                format!("{base}/items"),
                Some(b"{\"name\":\"x\"}"),
            ),
            request(Method::Get, format!("{base}/blob"), None),
            request(Method::Delete, format!("{base}/items/9"), None),
        ];
        let recorder = Recorder::new(live(), Vec::new());
        let live_answers: Vec<InboundResponse> =
            requests.iter().map(|r| recorder.send(r).unwrap()).collect();
        assert_eq!(server.finish().len(), 4);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cassette.json");
        recorder.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("OnNlY3JldC1wYXQ="), "{text}");
        assert!(text.contains("\"authorization\"") || text.contains("\"Authorization\""));
        assert!(text.contains("[redacted]"));
        assert!(text.contains("\"base64\""), "binary body stored as base64");
        assert!(text.contains("\"method\": \"GET\""));
        assert!(
            text.contains("\n          [\"Accept\", \"application/json\"],\n"),
            "{text}"
        );

        let loaded = Cassette::load(&path).unwrap();
        assert_eq!(loaded, recorder.cassette());
        let replayer = Replayer::from_file(&path, Vec::new()).unwrap();
        assert_eq!(replayer.unused().len(), 4);
        for (request, answer) in requests.iter().zip(&live_answers) {
            assert_eq!(&replayer.send(request).unwrap(), answer);
        }
        assert!(replayer.unused().is_empty(), "{:?}", replayer.unused());
        assert_eq!(live_answers[2].body, binary);

        // A repeated GET is served again from its (used) recording.
        assert_eq!(replayer.send(&requests[0]).unwrap(), live_answers[0]);

        // A different Authorization does not matter: headers are informational.
        let mut other_auth = requests[0].clone();
        other_auth.headers = vec![("Authorization".into(), "Bearer other".into())];
        assert_eq!(replayer.send(&other_auth).unwrap(), live_answers[0]);

        let missing = request(Method::Get, format!("{base}/nowhere"), None);
        let err = replayer.send(&missing).unwrap_err();
        assert!(matches!(err, HttpError::NoRecording(_)), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&format!("GET {base}/nowhere")), "{text}");
        assert!(
            text.contains("no recorded interaction has this path"),
            "{text}"
        );
    }

    #[test]
    fn no_secret_reaches_the_saved_file() {
        const PAT: &str = "pat-4q7zr2mmxjvlbnsecret";
        const CLIENT_SECRET: &str = "cs~Zk9.Q2r_7Xy";
        const ACCESS: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.access";
        const REFRESH: &str = "0.ARwA6WgJJ9X2qk.refresh";
        let basic = BASE64.encode(format!(":{PAT}"));
        let token_body = format!(
            "{{\"token_type\":\"Bearer\",\"access_token\":\"{ACCESS}\",\"refresh_token\":\"{REFRESH}\",\"expires_in\":3599}}"
        );
        let server = TestServer::start(vec![
            reply(
                "200 OK",
                "Content-Type: application/json\r\nSet-Cookie: fpc=abc; secure\r\n",
                token_body.as_bytes(),
            ),
            reply(
                "200 OK",
                &format!("X-Echo: {PAT}\r\n"),
                format!("you sent {PAT}").as_bytes(),
            ),
        ]);
        let recorder = Recorder::new(live(), vec![PAT.into()]);

        let mut token = OutboundRequest::new(Method::Post, server.url("/tenant/oauth2/v2.0/token"));
        token.headers = vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        )];
        let form = format!(
            "grant_type=refresh_token&client_id=app&client_secret={}&refresh_token={REFRESH}",
            url::form_urlencoded::byte_serialize(CLIENT_SECRET.as_bytes()).collect::<String>()
        );
        token.body = Some(form.into_bytes());
        let answer = recorder.send(&token).unwrap();
        assert!(
            String::from_utf8_lossy(&answer.body).contains(ACCESS),
            "the guest gets the real answer"
        );

        let mut api =
            OutboundRequest::new(Method::Get, server.url(&format!("/_apis/x?note={PAT}")));
        api.headers = vec![
            ("Authorization".into(), format!("Basic {basic}")),
            ("X-Custom".into(), format!("prefix {PAT}")),
        ];
        recorder.send(&api).unwrap();
        server.finish();

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        recorder.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for secret in [
            PAT,
            basic.as_str(),
            CLIENT_SECRET,
            "cs~Zk9",
            ACCESS,
            REFRESH,
            "fpc=abc",
        ] {
            assert!(!text.contains(secret), "{secret:?} leaked into\n{text}");
        }
        assert!(text.contains("client_secret=[redacted]"), "{text}");
        assert!(
            text.contains("\\\"access_token\\\":\\\"[redacted]\\\""),
            "{text}"
        );
        assert!(
            text.contains("\\\"expires_in\\\":3599"),
            "other fields stay: {text}"
        );

        // The same exchanges, replayed with the same secrets, still match.
        let replayer = Replayer::from_file(&path, vec![PAT.into()]).unwrap();
        assert_eq!(replayer.send(&token).unwrap().status, 200);
        assert_eq!(replayer.send(&api).unwrap().body, b"you sent [redacted]");
        assert!(replayer.unused().is_empty());
    }

    #[test]
    fn hand_written_cassette_and_matching_rules() {
        let json = r#"{
          "interactions": [
            {"request": {"method": "get", "url": "https://dev.azure.com/o/_apis/a"},
             "response": {"status": 200, "body": "first"}},
            {"request": {"method": "GET", "url": "https://dev.azure.com/o/_apis/a", "body": null},
             "response": {"status": 200, "body": "second"}},
            {"request": {"method": "POST", "url": "https://dev.azure.com/o/_apis/b", "body": "x=1"},
             "response": {"status": 201, "headers": [["etag", "\"7\""]], "body": {"base64": "AP8="}}},
            {"request": {"method": "POST", "url": "https://login.microsoftonline.com/t/token",
                         "body": "client_secret=real-one&code=abc"},
             "response": {"status": 200, "body": "{}"}}
          ]
        }"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hand.json");
        std::fs::write(&path, json).unwrap();
        let replayer = Replayer::from_file(&path, Vec::new()).unwrap();

        let get = OutboundRequest::new(Method::Get, "https://dev.azure.com/o/_apis/a");
        let mut get_empty = get.clone();
        get_empty.body = Some(Vec::new());
        let bodies: Vec<Vec<u8>> = [&get, &get_empty, &get]
            .iter()
            .map(|r| replayer.send(r).unwrap().body)
            .collect();
        assert_eq!(
            bodies,
            [b"first".to_vec(), b"second".to_vec(), b"second".to_vec()]
        );

        let mut post = OutboundRequest::new(Method::Post, "https://dev.azure.com/o/_apis/b");
        post.body = Some(b"x=1".to_vec());
        let answer = replayer.send(&post).unwrap();
        assert_eq!(
            (answer.status, answer.body.as_slice()),
            (201, &[0u8, 255][..])
        );
        assert_eq!(answer.header("ETag"), Some("\"7\""));

        // Credential fields match whatever their value: both sides are scrubbed.
        let mut token =
            OutboundRequest::new(Method::Post, "https://login.microsoftonline.com/t/token");
        token.body = Some(b"client_secret=other&code=xyz".to_vec());
        assert_eq!(replayer.send(&token).unwrap().status, 200);
        assert!(replayer.unused().is_empty());

        post.body = Some(b"x=2".to_vec());
        let text = replayer.send(&post).unwrap_err().to_string();
        assert!(
            text.contains(
                "no recorded interaction for POST https://dev.azure.com/o/_apis/b with body \"x=2\""
            ),
            "{text}"
        );
        assert!(text.contains("interactions[2]: POST https://dev.azure.com/o/_apis/b (same method and URL, different body \"x=1\")"), "{text}");

        let query = OutboundRequest::new(Method::Get, "https://dev.azure.com/o/_apis/a?top=5");
        let text = replayer.send(&query).unwrap_err().to_string();
        assert!(
            text.contains(
                "interactions[0]: GET https://dev.azure.com/o/_apis/a (same path, different query)"
            ),
            "{text}"
        );
        let delete = OutboundRequest::new(Method::Delete, "https://dev.azure.com/o/_apis/b");
        let text = replayer.send(&delete).unwrap_err().to_string();
        assert!(text.contains("(same URL, different method)"), "{text}");
    }

    #[test]
    fn bad_cassettes_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        assert!(matches!(
            Replayer::from_file(&missing, Vec::new()),
            Err(CassetteError::Io { .. })
        ));

        let cases = [
            ("garbage.json", "not json", "not valid cassette JSON"),
            (
                "typo.json",
                r#"{"interactions":[{"request":{"method":"GET","url":"u","bdy":"x"},"response":{"status":200}}]}"#,
                "bdy",
            ),
            (
                "method.json",
                r#"{"interactions":[{"request":{"method":"FETCH","url":"u"},"response":{"status":200}}]}"#,
                "unknown HTTP method",
            ),
            (
                "base64.json",
                r#"{"interactions":[{"request":{"method":"GET","url":"u"},"response":{"status":200,"body":{"base64":"!!"}}}]}"#,
                "interactions[0].response.body is not valid base64",
            ),
        ];
        for (name, text, fragment) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let err = Cassette::load(&path).unwrap_err().to_string();
            assert!(err.contains(fragment), "{name}: {err}");
        }
        // Built in code instead of loaded: the bad body surfaces when it is matched.
        let cassette: Cassette = serde_json::from_str(cases[3].1).unwrap();
        let replayer = Replayer::new(cassette, Vec::new());
        let err = replayer
            .send(&OutboundRequest::new(Method::Get, "u"))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("response body is not valid base64"),
            "{err}"
        );
    }

    #[test]
    fn replayer_is_shared_across_threads() {
        let cassette = Cassette {
            interactions: (0..4)
                .map(|i| Interaction {
                    request: RecordedRequest {
                        method: Method::Get,
                        url: "https://dev.azure.com/poll".into(),
                        headers: Vec::new(),
                        body: None,
                    },
                    response: RecordedResponse {
                        status: 200,
                        headers: Vec::new(),
                        body: Body::Text(i.to_string()),
                    },
                })
                .collect(),
        };
        let replayer = Arc::new(Replayer::new(cassette, Vec::new()));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let r = replayer.clone();
                std::thread::spawn(move || {
                    r.send(&OutboundRequest::new(
                        Method::Get,
                        "https://dev.azure.com/poll",
                    ))
                    .unwrap()
                    .body
                })
            })
            .collect();
        let mut bodies: Vec<Vec<u8>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        bodies.sort();
        assert_eq!(
            bodies,
            [b"0".to_vec(), b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]
        );
        assert!(replayer.unused().is_empty());
    }

    #[test]
    fn body_representation_round_trips() {
        for bytes in [
            &b""[..],
            b"plain",
            "ünï".as_bytes(),
            b"\xff\x00\xfe",
            b"{\"a\":\"\\u00e9\"}",
        ] {
            let body = Body::from_bytes(bytes);
            let json = serde_json::to_string(&body).unwrap();
            let back: Body = serde_json::from_str(&json).unwrap();
            assert_eq!(back.to_bytes().unwrap(), bytes, "{json}");
        }
        assert_eq!(
            serde_json::to_string(&Body::from_bytes(b"\xff")).unwrap(),
            r#"{"base64":"/w=="}"#
        );
    }
}
