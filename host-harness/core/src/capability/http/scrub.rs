//! Keeping credentials out of logs and cassettes.
//!
//! Scrubbing is deterministic and idempotent: the replayer scrubs a live request and the
//! recorded one the same way and compares the results, so a recording made with secrets
//! matches a replay that carries different (or dummy) secrets.

/// What a removed secret is replaced by.
pub const REDACTED: &str = "[redacted]";

/// Body and query keys whose values are credentials in OAuth and sign-in exchanges.
const SECRET_KEYS: [&str; 8] = [
    "client_secret",
    "refresh_token",
    "access_token",
    "id_token",
    "code",
    "code_verifier",
    "password",
    "client_assertion",
];

/// Whether a header carries credentials: the auth and cookie headers, and any name with
/// `token`, `secret` or `key` in it (API keys, `X-Refresh-Token`, ...).
fn is_sensitive_header(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    ) || ["token", "secret", "key"].iter().any(|w| name.contains(w))
}

fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(key.trim()))
}

/// The headers with credential values replaced by `[redacted]`, for logs and cassettes.
pub fn redact_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if is_sensitive_header(name) {
                REDACTED.to_owned()
            } else {
                value.clone()
            };
            (name.clone(), value)
        })
        .collect()
}

/// Replace every `needle` in `haystack`, leaving existing `[redacted]` markers alone so a
/// secret that happens to occur inside the marker cannot make scrubbing non-idempotent.
fn replace_outside_markers(haystack: &[u8], needle: &[u8]) -> Vec<u8> {
    let marker = REDACTED.as_bytes();
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some((segment, tail)) = split_once(rest, marker) {
        replace_all(segment, needle, &mut out);
        out.extend_from_slice(marker);
        rest = tail;
    }
    replace_all(rest, needle, &mut out);
    out
}

/// Strict percent-encoding (everything but RFC 3986 unreserved characters), the form a
/// secret takes in a URL path or query.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The bytes before and after the first `needle` in `haystack`.
fn split_once<'a>(haystack: &'a [u8], needle: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let (&first, _) = needle.split_first()?;
    let mut from = 0;
    while let Some(offset) = haystack.get(from..)?.iter().position(|b| *b == first) {
        let at = from.checked_add(offset)?;
        let end = at.checked_add(needle.len())?;
        if haystack.get(at..end)? == needle {
            return Some((haystack.get(..at)?, haystack.get(end..)?));
        }
        from = at.checked_add(1)?;
    }
    None
}

fn replace_all(haystack: &[u8], needle: &[u8], out: &mut Vec<u8>) {
    let mut rest = haystack;
    while let Some((before, after)) = split_once(rest, needle) {
        out.extend_from_slice(before);
        out.extend_from_slice(REDACTED.as_bytes());
        rest = after;
    }
    out.extend_from_slice(rest);
}

/// In an `a=b&c=d` string, replace the values of credential keys; everything else is
/// kept byte for byte.
fn scrub_form(text: &str) -> Option<String> {
    let mut changed = false;
    let pairs: Vec<String> = text
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if value != REDACTED && form_key_is_secret(key) => {
                changed = true;
                format!("{key}={REDACTED}")
            }
            _ => pair.to_owned(),
        })
        .collect();
    changed.then(|| pairs.join("&"))
}

fn form_key_is_secret(raw_key: &str) -> bool {
    url::form_urlencoded::parse(format!("{raw_key}=").as_bytes())
        .next()
        .is_some_and(|(key, _)| is_secret_key(&key))
}

/// The string values under credential keys anywhere in a JSON document.
fn collect_json_secrets(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                match inner {
                    serde_json::Value::String(s) if is_secret_key(key) && s != REDACTED => {
                        found.push(s.clone());
                    }
                    other => collect_json_secrets(other, found),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                collect_json_secrets(item, found);
            }
        }
        _ => {}
    }
}

fn redact_json_values(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if is_secret_key(key) && inner.is_string() {
                    *inner = serde_json::Value::String(REDACTED.to_owned());
                } else {
                    redact_json_values(inner);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json_values),
        _ => {}
    }
}

/// Redact credential values in a JSON document, keeping its formatting when possible
/// (the quoted value is replaced in the text) so cassettes stay close to the real bytes.
fn scrub_json(text: &str) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    let mut found = Vec::new();
    collect_json_secrets(&value, &mut found);
    if found.is_empty() {
        return None;
    }
    let quoted_marker = format!("\"{REDACTED}\"");
    let mut out = text.to_owned();
    for secret in &found {
        if let Ok(quoted) = serde_json::to_string(secret) {
            out = out.replace(&quoted, &quoted_marker);
        }
    }
    // Unusual escaping (`\/`, `\u00..`) defeats the textual replacement: re-serialise then.
    let mut left = Vec::new();
    if let Ok(check) = serde_json::from_str::<serde_json::Value>(&out) {
        collect_json_secrets(&check, &mut left);
        if left.is_empty() {
            return Some(out);
        }
    }
    redact_json_values(&mut value);
    serde_json::to_string(&value).ok()
}

/// Removes credentials from URLs, headers and bodies.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scrubber {
    /// Literal secrets and their encoded forms, longest first so a secret containing
    /// another is removed whole.
    literals: Vec<Vec<u8>>,
}

impl Scrubber {
    /// A scrubber for these literal secrets (empty strings are ignored: they would match
    /// everywhere).
    pub(crate) fn new(secrets: &[String]) -> Self {
        let mut literals: Vec<Vec<u8>> = Vec::new();
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            let json = serde_json::to_string(secret).unwrap_or_default();
            let json = json
                .strip_prefix('"')
                .and_then(|j| j.strip_suffix('"'))
                .unwrap_or(secret);
            let percent = percent_encode(secret);
            for variant in [secret.as_str(), form.as_str(), percent.as_str(), json] {
                if !variant.is_empty() && !literals.iter().any(|l| l == variant.as_bytes()) {
                    literals.push(variant.as_bytes().to_vec());
                }
            }
        }
        literals.sort_by_key(|l| std::cmp::Reverse(l.len()));
        Self { literals }
    }

    fn literals_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for literal in &self.literals {
            out = replace_outside_markers(&out, literal);
        }
        out
    }

    fn literals_text(&self, text: &str) -> String {
        if self.literals.is_empty() {
            return text.to_owned();
        }
        let bytes = self.literals_bytes(text.as_bytes());
        // Replacing valid UTF-8 with valid UTF-8 in valid UTF-8 stays valid; lossy is a
        // fallback that cannot fail.
        String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }

    /// The URL with credential query values and literal secrets redacted.
    pub(crate) fn url(&self, url: &str) -> String {
        let (before_fragment, fragment) = match url.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (url, None),
        };
        let mut out = match before_fragment.split_once('?') {
            Some((base, query)) => match scrub_form(query) {
                Some(query) => format!("{base}?{query}"),
                None => before_fragment.to_owned(),
            },
            None => before_fragment.to_owned(),
        };
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(fragment);
        }
        self.literals_text(&out)
    }

    /// Header values per [`redact_headers`], then literal secrets in names and values.
    pub(crate) fn headers(&self, headers: &[(String, String)]) -> Vec<(String, String)> {
        redact_headers(headers)
            .into_iter()
            .map(|(n, v)| (self.literals_text(&n), self.literals_text(&v)))
            .collect()
    }

    /// A body with credential values of JSON or form-encoded content redacted, then
    /// literal secrets. Recognised by content rather than `Content-Type`, because
    /// hand-written cassettes may leave headers out and both sides must scrub alike.
    pub(crate) fn body(&self, body: &[u8]) -> Vec<u8> {
        let structured = std::str::from_utf8(body).ok().and_then(|text| {
            let trimmed = text.trim_start();
            if trimmed.starts_with('{') || trimmed.starts_with('[') {
                scrub_json(text)
            } else if text.contains('=') {
                scrub_form(text)
            } else {
                None
            }
        });
        match structured {
            Some(text) => self.literals_bytes(text.as_bytes()),
            None => self.literals_bytes(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn headers_with_credentials_are_redacted() {
        let out = redact_headers(&h(&[
            ("Authorization", "Basic OnBhdA=="),
            ("proxy-authorization", "x"),
            ("Cookie", "a=b"),
            ("SET-COOKIE", "s=1"),
            ("X-Api-Key", "k"),
            ("X-TFS-Session-Token", "t"),
            ("client-secret", "s"),
            ("Accept", "application/json"),
            ("Keep-Alive", "timeout=5"),
        ]));
        let redacted: Vec<&str> = out
            .iter()
            .filter(|(_, v)| v == REDACTED)
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(
            redacted,
            [
                "Authorization",
                "proxy-authorization",
                "Cookie",
                "SET-COOKIE",
                "X-Api-Key",
                "X-TFS-Session-Token",
                "client-secret"
            ]
        );
        assert_eq!(out[7], ("Accept".into(), "application/json".into()));
        assert_eq!(out[8], ("Keep-Alive".into(), "timeout=5".into()));
    }

    #[test]
    fn form_bodies_keep_layout() {
        let s = Scrubber::new(&[]);
        let body = b"grant_type=refresh_token&client_secret=s%3Dcr&refresh_token=rt&scope=a+b";
        assert_eq!(
            s.body(body),
            b"grant_type=refresh_token&client_secret=[redacted]&refresh_token=[redacted]&scope=a+b"
        );
        assert_eq!(s.body(b"plain text, no pairs"), b"plain text, no pairs");
        assert_eq!(s.body(b"Code=1&x=2"), b"Code=[redacted]&x=2");
    }

    #[test]
    fn json_bodies_keep_formatting() {
        let s = Scrubber::new(&[]);
        let body = "{\n  \"access_token\": \"eyJ.a\\\"b\",\n  \"nested\": [{\"id_token\": \"idt\", \"code\": 404}],\n  \"expires_in\": 3599\n}";
        let out = String::from_utf8(s.body(body.as_bytes())).unwrap();
        assert_eq!(
            out,
            "{\n  \"access_token\": \"[redacted]\",\n  \"nested\": [{\"id_token\": \"[redacted]\", \"code\": 404}],\n  \"expires_in\": 3599\n}"
        );
        // Escapes serde_json would not produce fall back to re-serialising.
        let odd = r#"{"password":"a\/b","x":1}"#;
        let out: serde_json::Value = serde_json::from_slice(&s.body(odd.as_bytes())).unwrap();
        assert_eq!(out, serde_json::json!({"password": REDACTED, "x": 1}));
    }

    #[test]
    fn literal_secrets_everywhere_and_idempotent() {
        let s = Scrubber::new(&["pa ss/word".into(), "red".into(), String::new()]);
        let url = s.url("https://h/x?q=pa%20ss%2Fword&t=pa+ss%2Fword&code=abc#pa ss/word");
        assert_eq!(
            url,
            "https://h/x?q=[redacted]&t=[redacted]&code=[redacted]#[redacted]"
        );
        assert_eq!(s.url(&url), url);
        let body = s.body(b"xx pa ss/word yy red \xff");
        assert_eq!(body, b"xx [redacted] yy [redacted] \xff");
        assert_eq!(s.body(&body), body);
        let headers = s.headers(&h(&[("X-Note", "was red")]));
        assert_eq!(headers, h(&[("X-Note", "was [redacted]")]));
        assert_eq!(s.headers(&headers), headers);
    }
}
