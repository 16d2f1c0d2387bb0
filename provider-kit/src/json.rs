//! Reading untrusted JSON with errors that name the offending field.
//!
//! Webhook bodies are parsed into a [`serde_json::Value`] after a cheap pre-scan (size
//! and nesting), then read through [`Node`], which carries the dotted path of every value
//! so a wrong shape is reported as, for example,
//! `resource.pullRequestId must be a number, found string`. What differs between
//! platforms (the largest body, how messages name a delivery) is a [`BodyRules`].

use serde_json::Value;

use crate::kit_error::{Error, Result};

/// Deepest nesting accepted. Real payloads stay under 10 levels; the limit keeps a
/// hostile body from exhausting the (small, fixed) wasm stack in the parser.
pub const MAX_DEPTH: usize = 64;

/// What a platform's webhook bodies may be, and how messages name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRules {
    /// Largest body the platform sends, in bytes; anything larger is not a delivery.
    pub max_bytes: usize,
    /// The platform, as in "more than the 2097152 bytes Azure DevOps ever sends".
    pub sender: &'static str,
    /// One delivery, as in "the body is empty; a service-hook delivery is a JSON object".
    pub delivery: &'static str,
    /// The payloads, as in "nested deeper than 64 levels; service-hook payloads never are".
    pub payloads: &'static str,
}

/// An invalid-payload error with the given text.
pub fn invalid(text: impl Into<String>) -> Error {
    Error::InvalidPayload(text.into())
}

/// Check size and nesting without recursion, then parse.
// Inlined, as `parse_timestamp`, so the generic code it uses (`serde_json::from_slice::<Value>`,
// number parsing) is instantiated once, in the provider, which uses it too: a copy here
// made each component about 15 KB larger.
#[inline]
pub fn parse_body(body: &[u8], rules: &BodyRules) -> Result<Value> {
    if body.len() > rules.max_bytes {
        return Err(invalid(format!(
            "the body is {} bytes, more than the {} bytes {} ever sends",
            body.len(),
            rules.max_bytes,
            rules.sender
        )));
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid(format!(
            "the body is empty; {} is a JSON object",
            rules.delivery
        )));
    }
    check_depth(body, rules)?;
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("the body is not valid JSON ({e})")))?;
    if !value.is_object() {
        return Err(invalid(format!(
            "the body must be a JSON object, found {}",
            kind(&value)
        )));
    }
    Ok(value)
}

/// Reject documents nested deeper than [`MAX_DEPTH`], scanning bytes (strings skipped).
fn check_depth(body: &[u8], rules: &BodyRules) -> Result<()> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(invalid(format!(
                        "the body is nested deeper than {MAX_DEPTH} levels; {} never are",
                        rules.payloads
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The JSON type name of a value, for messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value of the payload and the dotted path it was found at.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// The value.
    pub value: &'a Value,
    /// Where it is, e.g. `resource.repository.id`.
    pub path: String,
}

impl<'a> Node<'a> {
    /// The root of a document, named `name` in messages (empty for the envelope).
    pub fn root(value: &'a Value) -> Self {
        Self {
            value,
            path: String::new(),
        }
    }

    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// A member that is present and not null.
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        match self.value.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some(Node {
                value,
                path: self.child_path(key),
            }),
        }
    }

    /// A member that must be present and not null.
    pub fn req(&self, key: &str) -> Result<Node<'a>> {
        self.get(key)
            .ok_or_else(|| invalid(format!("{} is missing", self.child_path(key))))
    }

    fn wrong(&self, wanted: &str) -> Error {
        invalid(format!(
            "{} must be {wanted}, found {}",
            self.path,
            kind(self.value)
        ))
    }

    /// The value as a string.
    pub fn str(&self) -> Result<&'a str> {
        self.value.as_str().ok_or_else(|| self.wrong("a string"))
    }

    /// The value as a non-negative integer.
    pub fn u64(&self) -> Result<u64> {
        match self.value {
            Value::Number(n) => n.as_u64().ok_or_else(|| {
                invalid(format!(
                    "{} must be a non-negative integer, found {n}",
                    self.path
                ))
            }),
            _ => Err(self.wrong("a number")),
        }
    }

    /// The value as a boolean.
    pub fn bool(&self) -> Result<bool> {
        self.value.as_bool().ok_or_else(|| self.wrong("a boolean"))
    }

    /// The value, checked to be an object.
    pub fn obj(self) -> Result<Node<'a>> {
        if self.value.is_object() {
            Ok(self)
        } else {
            Err(self.wrong("an object"))
        }
    }

    /// The elements of an array.
    pub fn arr(&self) -> Result<Vec<Node<'a>>> {
        let items = self
            .value
            .as_array()
            .ok_or_else(|| self.wrong("an array"))?;
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, value)| Node {
                value,
                path: format!("{}[{i}]", self.path),
            })
            .collect())
    }

    /// A required string member.
    pub fn req_str(&self, key: &str) -> Result<&'a str> {
        self.req(key)?.str()
    }

    /// An optional string member (absent or null: `None`; another type: an error).
    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>> {
        self.get(key).map(|n| n.str()).transpose()
    }

    /// An optional boolean member.
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key).map(|n| n.bool()).transpose()
    }

    /// A required object member.
    pub fn req_obj(&self, key: &str) -> Result<Node<'a>> {
        self.req(key)?.obj()
    }

    /// An optional object member.
    pub fn opt_obj(&self, key: &str) -> Result<Option<Node<'a>>> {
        self.get(key).map(Node::obj).transpose()
    }
}

/// Seconds and nanoseconds since the Unix epoch of an RFC 3339 / ISO 8601 timestamp as
/// Azure DevOps and GitHub write them (`2024-05-02T10:15:30.1234567Z`, or with an offset).
#[inline]
pub fn parse_timestamp(text: &str) -> Option<(i64, u32)> {
    let text = text.trim();
    let (date, rest) = text.split_once(['T', 't', ' '])?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: u32 = date_parts.next()?.parse().ok()?;
    let day: u32 = date_parts.next()?.parse().ok()?;
    // Split the time from its zone designator.
    let zone_at = rest
        .char_indices()
        .find(|&(i, c)| c == 'Z' || c == 'z' || ((c == '+' || c == '-') && i > 0))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    let (time, zone) = rest.split_at(zone_at);
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, fraction),
        None => (time, ""),
    };
    let mut clock_parts = clock.splitn(3, ':');
    let hour: i64 = clock_parts.next()?.parse().ok()?;
    let minute: i64 = clock_parts.next()?.parse().ok()?;
    let second: i64 = clock_parts.next().unwrap_or("0").parse().ok()?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'));
    let offset_seconds = match zone {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let digits = zone.get(1..)?;
            let (h, m) = digits
                .split_once(':')
                .unwrap_or((digits.get(..2)?, digits.get(2..)?));
            let h: i64 = h.parse().ok()?;
            let m: i64 = if m.is_empty() { 0 } else { m.parse().ok()? };
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some((
        days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds,
        nanos,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_with_fractions_and_offsets() {
        let cases = [
            ("1970-01-01T00:00:00Z", Some((0, 0))),
            ("2024-05-02T10:15:30Z", Some((1_714_644_930, 0))),
            (
                "2024-05-02T10:15:30.1234567Z",
                Some((1_714_644_930, 123_456_700)),
            ),
            ("2024-05-02T12:15:30+02:00", Some((1_714_644_930, 0))),
            ("2024-05-02T05:15:30-0500", Some((1_714_644_930, 0))),
            ("2024-05-02T10:15:30", Some((1_714_644_930, 0))),
            ("0001-01-01T00:00:00", Some((-62_135_596_800, 0))),
            ("not a date", None),
            ("2024-13-02T10:15:30Z", None),
            ("2024-05-02T10:15:30.12x4Z", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_timestamp(text), want, "{text}");
        }
    }

    const RULES: BodyRules = BodyRules {
        max_bytes: 1024,
        sender: "the platform",
        delivery: "a delivery",
        payloads: "deliveries",
    };

    #[test]
    fn depth_and_size_are_checked_before_parsing() {
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        let err = parse_body(deep.as_bytes(), &RULES).unwrap_err();
        assert_eq!(
            err,
            invalid("the body is nested deeper than 64 levels; deliveries never are")
        );
        // Brackets inside strings do not count.
        let shallow = format!(r#"{{"a":"{}"}}"#, "[{".repeat(500));
        assert!(parse_body(shallow.as_bytes(), &RULES).is_ok());
        let big = vec![b' '; RULES.max_bytes + 1];
        let err = parse_body(&big, &RULES).unwrap_err();
        assert_eq!(
            err.message(),
            "the body is 1025 bytes, more than the 1024 bytes the platform ever sends"
        );
        let err = parse_body(b" \n", &RULES).unwrap_err();
        assert_eq!(
            err.message(),
            "the body is empty; a delivery is a JSON object"
        );
        let err = parse_body(b"[1,2]", &RULES).unwrap_err();
        assert!(err.message().contains("must be a JSON object, found array"));
        let err = parse_body(b"{", &RULES).unwrap_err();
        assert!(err.message().starts_with("the body is not valid JSON"));
        assert!(parse_body(b"\xEF\xBB\xBF{}", &RULES).is_ok());
    }

    #[test]
    fn nodes_name_the_path_of_wrong_values() {
        let value: Value =
            serde_json::from_str(r#"{"resource":{"pullRequestId":"7","list":[1,{"x":true}]}}"#)
                .unwrap();
        let root = Node::root(&value);
        let resource = root.req_obj("resource").unwrap();
        let err = resource.req("pullRequestId").unwrap().u64().unwrap_err();
        assert_eq!(
            err.message(),
            "resource.pullRequestId must be a number, found string"
        );
        let err = resource.req("missing").unwrap_err();
        assert_eq!(err.message(), "resource.missing is missing");
        let items = resource.req("list").unwrap().arr().unwrap();
        let err = items[1].req_str("x").unwrap_err();
        assert_eq!(
            err.message(),
            "resource.list[1].x must be a string, found boolean"
        );
    }
}
