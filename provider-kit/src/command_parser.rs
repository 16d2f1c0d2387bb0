//! Finding and parsing the one command line of a comment.
//!
//! # What a command looks like
//!
//! ```text
//! /scalr plan
//! /scalr apply -w prod --workspace "shared network" --workspace=dns
//! /scalr help
//! ```
//!
//! - The prefix comes from the settings (`/scalr` by default on the platform); an empty
//!   prefix, or one with spaces or backticks, is an `invalid-config` error.
//! - A command line *starts* with the prefix as a whole word, after optional whitespace
//!   and backticks (`` `/scalr plan` `` works). `run /scalr plan later` is a mention, not
//!   a command, and so is `/scalrplan`. The prefix and the command word are
//!   case-insensitive (`/SCALR PLAN` plans); workspace names keep their case.
//! - The command may stand on any line, but a comment holds one command: two command
//!   lines are refused with a reply.
//! - Lines inside fenced code blocks and quoted lines (`> /scalr plan`) are never
//!   commands: people quote help text and earlier comments.
//! - HTML character references (`&quot;`, `&#39;`, `&nbsp;`, ...) are decoded first:
//!   Azure DevOps escapes comment text this way, so every provider reads a comment alike.
//! - `-w NAME`, `--workspace NAME`, `--workspace=NAME` (also `-w=NAME`) pick workspaces;
//!   several are allowed and deduplicated in order; quote names with spaces (`"`, `'` or
//!   typographic quotes). Without one, the command targets every eligible workspace.
//! - The bare prefix, `help`, `-h`, `--help` and `?` ask for help; so does `-h` after a
//!   command.
//! - Unknown commands, options and stray words are `invalid`, with a Markdown reply that
//!   lists what is allowed and suggests the nearest command or option ("did you mean").
//!
//! # How the parser reads them
//!
//! - HTML character references are decoded first, in one pass (`&amp;lt;` stays `&lt;`):
//!   Azure DevOps escapes comment text this way, and GitHub renders such references.
//! - Lines inside fenced code blocks (```` ``` ```` or `~~~`) and quoted lines (`>`) are
//!   never commands: people quote help text and earlier comments.
//! - A command line starts with the prefix as a whole word, after optional whitespace and
//!   backticks; the prefix and the command word are case-insensitive.
//! - Backticks outside quotes separate words like spaces do, so `` `/scalr plan` `` and
//!   `` `/scalr` `plan` `` both work; workspace names never contain backticks.
//! - Arguments may be quoted with `"`, `'` or typographic quotes (phones insert those).

/// The configured command prefix cannot be used; the provider reports it as its
/// `invalid-config` error with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixError(pub String);

impl std::fmt::Display for PrefixError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PrefixError {}

type Result<T, E = PrefixError> = std::result::Result<T, E>;

/// Workspace names longer than this are clipped in messages.
const MAX_SHOWN_CHARS: usize = 60;

/// Words longer than this get no "did you mean" (no command is near such a word).
const MAX_SUGGESTION_INPUT_CHARS: usize = 32;

/// A comment's command as the parser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The comment does not address the integration.
    None,
    /// Plan the named workspaces (all eligible ones when empty), deduplicated in order.
    Plan(Vec<String>),
    /// Plan and apply the named workspaces (all eligible ones when empty).
    Apply(Vec<String>),
    /// Show the help.
    Help,
    /// The comment addresses the integration but is not understood.
    Invalid(Problem),
}

/// Why a command line was not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The command word the comment used (`plan`, `apply`, or the unknown word).
    pub name: String,
    /// The word or text that was not understood.
    pub input: String,
    /// One or two Markdown sentences saying what is wrong and what to write instead.
    pub message: String,
}

impl Parsed {
    /// The command word a verdict reports.
    pub fn name(&self) -> &str {
        match self {
            Parsed::None => "",
            Parsed::Plan(_) => "plan",
            Parsed::Apply(_) => "apply",
            Parsed::Help => "help",
            Parsed::Invalid(problem) => &problem.name,
        }
    }

    /// The workspaces the comment named.
    pub fn targets(&self) -> &[String] {
        match self {
            Parsed::Plan(names) | Parsed::Apply(names) => names,
            _ => &[],
        }
    }
}

/// The prefix as configured, checked: trimmed, one word, matchable.
pub fn checked_prefix(prefix: &str) -> Result<&str> {
    let prefix = prefix.trim_matches(is_space);
    if prefix.is_empty() {
        return Err(PrefixError(
            "the command prefix is empty: set it to a word such as /scalr".into(),
        ));
    }
    if prefix.chars().any(|c| is_space(c) || c == '`') {
        return Err(PrefixError(format!(
            "the command prefix {prefix:?} must be one word without spaces or backticks, such as /scalr"
        )));
    }
    if prefix.starts_with('>') {
        return Err(PrefixError(format!(
            "the command prefix {prefix:?} cannot start with '>', which marks quoted lines in Markdown"
        )));
    }
    Ok(prefix)
}

/// Parse a comment body: find its command line, if any, and understand it.
pub fn parse_body(body: &str, prefix: &str) -> Result<Parsed> {
    let prefix = checked_prefix(prefix)?;
    let text = decode_html_entities(body);
    let mut command_lines: Vec<(&str, &str)> = Vec::new();
    let mut open_fence: Option<Fence> = None;
    for line in text.lines() {
        let line = line.trim_matches(is_space);
        if let Some(fence) = open_fence {
            if fence.is_closed_by(line) {
                open_fence = None;
            }
            continue;
        }
        if let Some(fence) = Fence::opened_by(line) {
            open_fence = Some(fence);
            continue;
        }
        if line.starts_with('>') {
            continue;
        }
        if let Some(rest) = after_prefix(line, prefix) {
            command_lines.push((line, rest));
            if command_lines.len() > 1 {
                break;
            }
        }
    }
    Ok(match command_lines.as_slice() {
        [] => Parsed::None,
        [(_, rest)] => parse_command_line(rest),
        [(first, rest), (second, _), ..] => Parsed::Invalid(Problem {
            name: first_word(rest),
            input: (*second).to_string(),
            message: format!(
                "Only one command per comment: this comment has {} and {}. \
                 Post each command as its own comment.",
                code(first),
                code(second)
            ),
        }),
    })
}

/// Whitespace, including the no-break space written as `&nbsp;` and the
/// invisible characters editors paste.
fn is_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{200B}' | '\u{2060}' | '\u{FEFF}')
}

/// A word separator outside quotes.
fn is_separator(c: char) -> bool {
    is_space(c) || c == '`'
}

/// An open fenced code block: its character and length.
#[derive(Debug, Clone, Copy)]
struct Fence {
    marker: char,
    length: usize,
}

impl Fence {
    /// The fence a (trimmed) line opens, if it opens one.
    fn opened_by(line: &str) -> Option<Fence> {
        let marker = line.chars().next().filter(|c| *c == '`' || *c == '~')?;
        let length = line.chars().take_while(|c| *c == marker).count();
        if length < 3 {
            return None;
        }
        // CommonMark: a backtick fence's info string holds no backtick; "```x```" on one
        // line is inline code, not a fence.
        let info = line.get(length * marker.len_utf8()..).unwrap_or("");
        if marker == '`' && info.contains('`') {
            return None;
        }
        Some(Fence { marker, length })
    }

    /// Whether a (trimmed) line closes this fence: only its marker, at least as long.
    fn is_closed_by(self, line: &str) -> bool {
        let length = line.chars().take_while(|c| *c == self.marker).count();
        length >= self.length && line.chars().all(|c| c == self.marker)
    }
}

/// The rest of a (trimmed) line after the prefix, when the line starts with the prefix
/// as a whole word (after optional backticks).
fn after_prefix<'l>(line: &'l str, prefix: &str) -> Option<&'l str> {
    let start = line.trim_start_matches('`');
    let end = start.find(is_separator).unwrap_or(start.len());
    let word = start.get(..end)?;
    let same = word
        .chars()
        .flat_map(char::to_lowercase)
        .eq(prefix.chars().flat_map(char::to_lowercase));
    if same { start.get(end..) } else { None }
}

/// The first word of a command line's rest, lower-cased, for naming a problem.
fn first_word(rest: &str) -> String {
    match split_words(rest) {
        Ok(words) => words.first().map(|w| w.to_lowercase()).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Understand what follows the prefix.
fn parse_command_line(rest: &str) -> Parsed {
    let words = match split_words(rest) {
        Ok(words) => words,
        Err(problem) => return Parsed::Invalid(problem),
    };
    let mut words = words.into_iter();
    let Some(word) = words.next() else {
        // The bare prefix asks what the integration can do.
        return Parsed::Help;
    };
    let verb = word.to_lowercase();
    let is_apply = match verb.as_str() {
        "help" | "-h" | "--help" | "?" => return Parsed::Help,
        "plan" => false,
        "apply" => true,
        _ => {
            let suggestion = suggest(&verb, &["plan", "apply", "help"])
                .map(|s| format!(" Did you mean `{s}`?"))
                .unwrap_or_default();
            return Parsed::Invalid(Problem {
                name: verb.clone(),
                input: word.clone(),
                message: format!("Unknown command {}.{suggestion}", code(&word)),
            });
        }
    };
    let invalid = |input: String, message: String| {
        Parsed::Invalid(Problem {
            name: verb.clone(),
            input,
            message,
        })
    };
    let mut targets: Vec<String> = Vec::new();
    while let Some(word) = words.next() {
        let lower = word.to_lowercase();
        let value = match lower.as_str() {
            "-h" | "--help" => return Parsed::Help,
            "-w" | "--workspace" => match words.next() {
                Some(value) if !value.starts_with('-') => value,
                _ => {
                    return invalid(
                        word.clone(),
                        format!(
                            "The option {} needs a workspace name after it, such as `{} prod`.",
                            code(&word),
                            clip(&word)
                        ),
                    );
                }
            },
            _ => {
                if let Some(value) =
                    strip_flag(&word, "--workspace=").or_else(|| strip_flag(&word, "-w="))
                {
                    value.to_string()
                } else if word.starts_with('-') {
                    let flag = lower.split('=').next().unwrap_or_default();
                    let suggestion = suggest(flag, &["--workspace", "--help"])
                        .map(|s| format!(" Did you mean `{s}`?"))
                        .unwrap_or_default();
                    return invalid(
                        word.clone(),
                        format!(
                            "Unknown option {} for `{verb}`.{suggestion} \
                             The only option is `-w NAME` (or `--workspace NAME`).",
                            code(&word)
                        ),
                    );
                } else {
                    return invalid(
                        word.clone(),
                        format!(
                            "Unexpected {}: name a workspace with `-w {}`.",
                            code(&word),
                            clip(&word)
                        ),
                    );
                }
            }
        };
        let name = value.trim_matches(is_space);
        if name.is_empty() {
            return invalid(
                word.clone(),
                format!(
                    "The option {} needs a workspace name, not an empty one.",
                    code(&word)
                ),
            );
        }
        if !targets.iter().any(|known| known == name) {
            targets.push(name.to_string());
        }
    }
    if is_apply {
        Parsed::Apply(targets)
    } else {
        Parsed::Plan(targets)
    }
}

/// The value after an ASCII `flag=` written in any case; names keep their own case.
fn strip_flag<'w>(word: &'w str, flag: &str) -> Option<&'w str> {
    let head = word.get(..flag.len())?;
    if head.eq_ignore_ascii_case(flag) {
        word.get(flag.len()..)
    } else {
        None
    }
}

/// Split a command line into words: separators outside quotes split, quotes group.
fn split_words(text: &str) -> Result<Vec<String>, Problem> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        if let Some(close) = closing_quote(c) {
            in_word = true;
            let mut closed = false;
            for (_, inner) in chars.by_ref() {
                if inner == close || (close != c && inner == ascii_quote(close)) {
                    closed = true;
                    break;
                }
                word.push(inner);
            }
            if !closed {
                let rest = text.get(at..).unwrap_or_default();
                return Err(Problem {
                    name: String::new(),
                    input: rest.to_string(),
                    message: format!(
                        "The quote that starts {} is never closed: close it, as in `-w \"my workspace\"`.",
                        code(rest)
                    ),
                });
            }
        } else if is_separator(c) {
            if in_word {
                words.push(std::mem::take(&mut word));
                in_word = false;
            }
        } else {
            word.push(c);
            in_word = true;
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The quote that closes an opening quote character.
fn closing_quote(open: char) -> Option<char> {
    match open {
        '"' => Some('"'),
        '\'' => Some('\''),
        '\u{201C}' | '\u{201E}' => Some('\u{201D}'),
        '\u{2018}' | '\u{201A}' => Some('\u{2019}'),
        _ => None,
    }
}

/// The ASCII quote a typographic closing quote stands for (phones mix them).
fn ascii_quote(close: char) -> char {
    if close == '\u{2019}' { '\'' } else { '"' }
}

/// The closest candidate within edit distance 2, if any.
fn suggest(word: &str, candidates: &[&'static str]) -> Option<&'static str> {
    if word.chars().count() > MAX_SUGGESTION_INPUT_CHARS {
        return None;
    }
    candidates
        .iter()
        .map(|candidate| (edit_distance(word, candidate), *candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous
                .get(j)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(usize::from(ca != *cb));
            let delete = previous
                .get(j + 1)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let insert = current
                .last()
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            current.push(substitute.min(delete).min(insert));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

/// User text shown in a reply: an inline code span that cannot break out (no backticks,
/// no line breaks), clipped.
pub fn code(text: &str) -> String {
    format!("`{}`", clip(text))
}

/// User text made safe for an inline code span, clipped.
pub fn clip(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c == '`' || c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim();
    match cleaned.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", cleaned.get(..cut).unwrap_or_default()),
        None => cleaned.to_string(),
    }
}

/// Decode HTML character references in comment text (Azure DevOps escapes comments this
/// way), in one pass.
pub fn decode_html_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let tail = rest.get(at..).unwrap_or_default();
        // Entities are short: look for the ';' within the next few bytes only.
        let entity_end = tail
            .char_indices()
            .take(12)
            .find(|(_, c)| *c == ';')
            .map(|(i, _)| i);
        let decoded = entity_end.and_then(|end| {
            let name = tail.get(1..end)?;
            Some((decode_entity(name)?, end + 1))
        });
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = tail.get(used..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = tail.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character of one entity name (without `&` and `;`).
fn decode_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{A0}'),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse::<u32>().ok()?,
            };
            char::from_u32(code).filter(|c| *c != '\0')
        }
    }
}
