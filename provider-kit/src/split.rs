//! Cutting a rendered report into comment bodies that each fit the limit.
//!
//! A [`Document`] is the scaffolding (summary, footer, one section per workspace) plus
//! each workspace's raw output. The layout walks the outputs line by line, once, and
//! packs them into parts: every part repeats the hidden marker and a short header, and
//! every piece of output sits in its own `<details>` block and code fence, opened and
//! closed within the part, so each comment is balanced Markdown on its own.
//!
//! The raw output is recoverable exactly: a piece's fence holds its bytes verbatim,
//! followed by one `\n` only when the piece does not end with one, and in that case a
//! note line right after the closing fence says so ([`NOTE_CONTINUES`] when the line goes
//! on in the next part, [`NOTE_NO_NEWLINE`] at the very end of the output).
//!
//! The fence is plain, without a `diff` info string: terraform's `  + resource` lines
//! would have to be rewritten for `diff` highlighting, and the output must stay verbatim.
//!
//! Lengths are in the platform's [`LengthUnit`], counted from the UTF-8 bytes as the
//! scan goes (each leading byte starts one character), so the work is linear in the size
//! of the outputs.

use crate::kit_error::{Error, Result};

/// The hidden marker's opening; the rest names the workspace set and the part.
pub const MARKER_PREFIX: &str = "<!-- scalr:run workspace-set=";

/// Written after a fence whose piece stops inside a line that goes on in the next part.
pub const NOTE_CONTINUES: &str = "<sub>This line continues in the next part.</sub>\n";

/// Written after the last fence of an output that does not end with a newline.
pub const NOTE_NO_NEWLINE: &str = "<!-- the output ends without a newline -->\n";

/// Closes a piece's `<details>` block.
const PIECE_CLOSE: &str = "\n</details>\n";

/// The shortest fence CommonMark accepts.
const MIN_FENCE: usize = 3;

/// Part counts are written with at most this many digits.
const MAX_PART_DIGITS: u32 = 9;

/// A report ready to be cut into parts.
#[derive(Debug, Clone)]
pub struct Document<'a> {
    /// Stable hash of the workspace names, carried in every part's marker.
    pub workspace_set: String,
    /// "Terraform plan" or "Terraform apply", for the headers of continued parts.
    pub title: String,
    /// The first part's Markdown after the marker (heading, table, errors, run link);
    /// ends with a newline.
    pub summary: String,
    /// Markdown closing the last part (the comment commands), empty or starting with a
    /// blank line.
    pub footer: String,
    /// One section per workspace, in the report's order.
    pub sections: Vec<Section<'a>>,
}

/// One workspace's section.
#[derive(Debug, Clone)]
pub struct Section<'a> {
    /// Markdown heading written before the section's first piece; empty or starting with
    /// a newline and ending with one.
    pub heading: String,
    /// The workspace name as escaped HTML, for the `<summary>` line.
    pub label: String,
    /// The raw output, shown verbatim.
    pub output: &'a str,
}

/// How a platform measures comment length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthUnit {
    /// UTF-16 code units (Azure DevOps): characters outside the Basic Multilingual Plane
    /// count two.
    Utf16CodeUnits,
    /// Unicode scalar values (GitHub): every character counts one.
    UnicodeScalars,
}

impl LengthUnit {
    /// The length of `text` in this unit.
    pub fn length(self, text: &str) -> usize {
        match self {
            LengthUnit::Utf16CodeUnits => text.encode_utf16().count(),
            LengthUnit::UnicodeScalars => text.chars().count(),
        }
    }

    /// The units of the character that UTF-8 byte `lead` starts (0 for a continuation
    /// byte).
    fn of_byte(self, lead: u8) -> usize {
        if lead & 0xC0 == 0x80 {
            return 0;
        }
        match self {
            // Four-byte sequences are astral characters, surrogate pairs in UTF-16.
            LengthUnit::Utf16CodeUnits if lead >= 0xF0 => 2,
            _ => 1,
        }
    }

    /// The unit in messages, plural: "UTF-16 code units", "characters".
    pub fn name(self) -> &'static str {
        match self {
            LengthUnit::Utf16CodeUnits => "UTF-16 code units",
            LengthUnit::UnicodeScalars => "characters",
        }
    }
}

/// The largest comment a platform accepts, and how messages name the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommentLimit {
    /// The platform's own limit, in `unit`; no comment is ever longer.
    pub max_length: u32,
    /// The unit `max_length` counts.
    pub unit: LengthUnit,
    /// The platform, as in "an internal error of the Azure DevOps provider".
    pub platform: &'static str,
    /// The platform's possessive, as in "Azure DevOps' limit" or "GitHub's limit".
    pub platform_possessive: &'static str,
}

/// Size and longest backtick and tilde runs of a stretch of output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Runs {
    units: usize,
    backticks: usize,
    tildes: usize,
}

impl Runs {
    /// Two stretches written one after the other, the first ending a line (so no run
    /// continues across them).
    fn join(self, next: Runs) -> Runs {
        Runs {
            units: self.units + next.units,
            backticks: self.backticks.max(next.backticks),
            tildes: self.tildes.max(next.tildes),
        }
    }

    /// The fence that no run inside can close: the character whose longest run is shorter,
    /// one longer than that run.
    fn fence(self) -> Fence {
        if self.backticks <= self.tildes {
            Fence {
                byte: b'`',
                len: (self.backticks + 1).max(MIN_FENCE),
            }
        } else {
            Fence {
                byte: b'~',
                len: (self.tildes + 1).max(MIN_FENCE),
            }
        }
    }

    /// Units the stretch costs inside its fences.
    fn cost(self) -> usize {
        self.units + 2 * self.fence().len
    }
}

/// A code fence: a run of backticks or tildes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fence {
    byte: u8,
    len: usize,
}

impl Fence {
    fn write(self, out: &mut String) {
        let ch = if self.byte == b'~' { '~' } else { '`' };
        out.extend(std::iter::repeat_n(ch, self.len));
    }
}

/// Scanning state over bytes of UTF-8 output.
#[derive(Debug, Clone, Copy)]
struct Scan {
    unit: LengthUnit,
    runs: Runs,
    backtick_run: usize,
    tilde_run: usize,
}

impl Scan {
    fn new(unit: LengthUnit) -> Scan {
        Scan {
            unit,
            runs: Runs::default(),
            backtick_run: 0,
            tilde_run: 0,
        }
    }

    fn push(&mut self, byte: u8) {
        self.runs.units += self.unit.of_byte(byte);
        if byte == b'`' {
            self.backtick_run += 1;
            self.runs.backticks = self.runs.backticks.max(self.backtick_run);
        } else {
            self.backtick_run = 0;
        }
        if byte == b'~' {
            self.tilde_run += 1;
            self.runs.tildes = self.runs.tildes.max(self.tilde_run);
        } else {
            self.tilde_run = 0;
        }
    }
}

/// The line starting at `start`: its end (after its `\n`, or the end of the output) and runs.
fn scan_line(unit: LengthUnit, bytes: &[u8], start: usize) -> (usize, Runs) {
    let mut scan = Scan::new(unit);
    let rest = bytes.get(start..).unwrap_or_default();
    let len = rest
        .iter()
        .position(|&b| b == b'\n')
        .map_or(rest.len(), |i| i + 1);
    for &byte in rest.iter().take(len) {
        scan.push(byte);
    }
    (start + len, scan.runs)
}

/// The longest prefix of `bytes[start..end]`, cut on a character boundary, that costs at
/// most `room`: its end and runs.
fn fitting_prefix(
    unit: LengthUnit,
    bytes: &[u8],
    start: usize,
    end: usize,
    room: usize,
) -> (usize, Runs) {
    let mut scan = Scan::new(unit);
    let mut best = (start, Runs::default());
    let mut index = start;
    while index < end {
        let lead = bytes.get(index).copied().unwrap_or_default();
        let width = match lead {
            0xF0..=0xFF => 4,
            0xE0..=0xEF => 3,
            0xC0..=0xDF => 2,
            _ => 1,
        };
        let mut next = scan;
        for &byte in bytes
            .get(index..(index + width).min(end))
            .unwrap_or_default()
        {
            next.push(byte);
        }
        if next.runs.cost() > room {
            break;
        }
        scan = next;
        index = (index + width).min(end);
        best = (index, scan.runs);
    }
    best
}

/// A stretch of one section's output placed in a part.
#[derive(Debug, Clone, Copy)]
struct Piece {
    section: usize,
    start: usize,
    end: usize,
    /// The section's first piece carries its heading.
    first: bool,
    fence: Fence,
}

/// What a part's header and a piece's scaffolding cost, for one digit width of the part
/// numbers.
struct Costs {
    unit: LengthUnit,
    first_header: usize,
    continued_header: usize,
    footer: usize,
    /// Everything a piece writes besides its opening, its chunk and its fences.
    piece_fixed: usize,
}

impl Costs {
    fn new(document: &Document<'_>, digits: u32, unit: LengthUnit) -> Costs {
        let largest = 10usize.pow(digits) - 1;
        let units = |text: &str| unit.length(text);
        Costs {
            unit,
            first_header: units(&part_header(document, 1, largest.max(2))),
            continued_header: units(&part_header(document, largest, largest)),
            footer: units(&document.footer),
            // The newline after each fence, the newline added to a piece that does not end
            // with one, and the longer note.
            piece_fixed: units(PIECE_CLOSE) + 3 + units(NOTE_CONTINUES).max(units(NOTE_NO_NEWLINE)),
        }
    }

    /// Units a section's piece needs besides its chunk and fences.
    fn piece_overhead(&self, section: &Section<'_>, first: bool) -> usize {
        self.unit.length(&piece_open(section, first)) + self.piece_fixed
    }

    /// The smallest limit this document fits: the first part's scaffolding, and any
    /// section's first piece with one astral character in a continued part.
    fn minimum(&self, document: &Document<'_>) -> usize {
        let mut needed = self.first_header + self.footer;
        for section in &document.sections {
            let piece = if section.output.is_empty() {
                self.unit.length(&empty_piece(section))
            } else {
                self.piece_overhead(section, true) + 2 * MIN_FENCE + 2
            };
            needed = needed.max(self.continued_header + self.footer + piece);
        }
        needed
    }
}

/// Cut `document` into bodies of at most `limit` units, `limit` being at most the
/// platform's `comment_limit` (which the errors name).
pub fn split(
    document: &Document<'_>,
    limit: usize,
    comment_limit: &CommentLimit,
) -> Result<Vec<String>> {
    // Start from the part count the output's size suggests, so the layout usually runs once.
    let bytes: usize = document.sections.iter().map(|s| s.output.len()).sum();
    let estimate = bytes / limit.max(1) + 1;
    let mut digits = (estimate.to_string().len() as u32).min(MAX_PART_DIGITS);
    loop {
        let costs = Costs::new(document, digits, comment_limit.unit);
        if costs.minimum(document) > limit {
            return Err(too_small(document, limit, comment_limit));
        }
        let parts = layout(document, limit, &costs, comment_limit)?;
        let count_digits = parts.len().to_string().len() as u32;
        if count_digits <= digits {
            return write(document, &parts, limit, comment_limit);
        }
        if count_digits > MAX_PART_DIGITS {
            return Err(Error::InvalidPayload(format!(
                "the report would need {} comments; shorten the output or raise max-length",
                parts.len()
            )));
        }
        // The headers were measured for shorter part numbers: measure again.
        digits = count_digits;
    }
}

/// The error for a limit below what `document` needs. The minimum named is measured for
/// the longest part numbers, so it is enough however many parts the output takes.
fn too_small(document: &Document<'_>, limit: usize, comment_limit: &CommentLimit) -> Error {
    let needed = Costs::new(document, MAX_PART_DIGITS, comment_limit.unit).minimum(document);
    let cap = comment_limit.max_length as usize;
    let unit = comment_limit.unit.name();
    let platforms = comment_limit.platform_possessive;
    if needed > cap {
        Error::InvalidConfig(format!(
            "this report's summary and workspace names need {needed} {unit} per comment, more \
             than {platforms} limit of {cap}: report fewer workspaces at once or shorten their \
             names"
        ))
    } else {
        Error::InvalidConfig(format!(
            "max-length {limit} is too small for this report: each comment needs at least \
             {needed} {unit} for its summary, headers and a little output; raise max-length to \
             {needed} or more, or leave it unset to use {platforms} limit of {cap}"
        ))
    }
}

/// Place every section's output into parts, line by line.
fn layout(
    document: &Document<'_>,
    limit: usize,
    costs: &Costs,
    comment_limit: &CommentLimit,
) -> Result<Vec<Vec<Piece>>> {
    let unit = costs.unit;
    let continued_budget = limit.saturating_sub(costs.continued_header + costs.footer);
    let mut parts: Vec<Vec<Piece>> = Vec::new();
    let mut current: Vec<Piece> = Vec::new();
    let mut budget = limit.saturating_sub(costs.first_header + costs.footer);
    let mut used = 0usize;

    for (index, section) in document.sections.iter().enumerate() {
        let bytes = section.output.as_bytes();
        if bytes.is_empty() {
            let need = unit.length(&empty_piece(section));
            if used + need > budget {
                parts.push(std::mem::take(&mut current));
                budget = continued_budget;
                used = 0;
            }
            current.push(Piece {
                section: index,
                start: 0,
                end: 0,
                first: true,
                fence: Runs::default().fence(),
            });
            used += need;
            continue;
        }

        let overhead_first = costs.piece_overhead(section, true);
        let overhead_continued = costs.piece_overhead(section, false);
        let mut position = 0usize;
        let mut first = true;
        // The next line, when it was scanned but did not fit.
        let mut pending: Option<(usize, Runs)> = None;
        while position < bytes.len() {
            let overhead = if first {
                overhead_first
            } else {
                overhead_continued
            };
            let room = budget.saturating_sub(used + overhead);
            let fresh_room = continued_budget.saturating_sub(overhead);
            // The first part always holds the summary, so it counts as having content.
            let part_has_content = !current.is_empty() || parts.is_empty();
            let start = position;
            let mut runs = Runs::default();
            while position < bytes.len() {
                let (line_end, line) = pending
                    .take()
                    .unwrap_or_else(|| scan_line(unit, bytes, position));
                let joined = runs.join(line);
                if joined.cost() <= room {
                    runs = joined;
                    position = line_end;
                    continue;
                }
                if position > start || (part_has_content && line.cost() <= fresh_room) {
                    // Close the piece on a line boundary; the line opens the next part.
                    pending = Some((line_end, line));
                    break;
                }
                // The line is longer than any part can hold: cut it where the room ends.
                let (cut, prefix) = fitting_prefix(unit, bytes, position, line_end, room);
                runs = prefix;
                position = cut;
                break;
            }
            if position > start {
                current.push(Piece {
                    section: index,
                    start,
                    end: position,
                    first,
                    fence: runs.fence(),
                });
                used += overhead + runs.cost();
                first = false;
            } else if !part_has_content {
                // Cannot happen once `minimum` passed; refuse rather than loop.
                return Err(too_small(document, limit, comment_limit));
            }
            if position < bytes.len() {
                parts.push(std::mem::take(&mut current));
                budget = continued_budget;
                used = 0;
            }
        }
    }
    parts.push(current);
    Ok(parts)
}

/// The marker and header of part `number` of `count`.
fn part_header(document: &Document<'_>, number: usize, count: usize) -> String {
    let mut header = format!(
        "{MARKER_PREFIX}{} part={number}/{count} -->\n",
        document.workspace_set
    );
    if number == 1 {
        header.push_str(&document.summary);
        if count > 1 {
            header.push_str(&format!(
                "\n_Part 1 of {count}: the output continues in the next comments._\n"
            ));
        }
    } else {
        header.push_str(&format!(
            "### {}, continued (part {number} of {count})\n",
            document.title
        ));
    }
    header
}

/// What opens a piece: the section heading (first piece only) and the `<details>` block.
fn piece_open(section: &Section<'_>, first: bool) -> String {
    if first {
        format!(
            "{}\n<details><summary>Output of {}</summary>\n\n",
            section.heading, section.label
        )
    } else {
        format!(
            "\n<details><summary>Output of {} (continued)</summary>\n\n",
            section.label
        )
    }
}

/// A section whose output is empty.
fn empty_piece(section: &Section<'_>) -> String {
    format!("{}\n_No output._\n", section.heading)
}

/// Write the parts, checking each against the limit.
fn write(
    document: &Document<'_>,
    parts: &[Vec<Piece>],
    limit: usize,
    comment_limit: &CommentLimit,
) -> Result<Vec<String>> {
    let count = parts.len();
    let mut bodies = Vec::with_capacity(count);
    for (index, pieces) in parts.iter().enumerate() {
        let mut body = part_header(document, index + 1, count);
        for piece in pieces {
            let Some(section) = document.sections.get(piece.section) else {
                continue;
            };
            write_piece(&mut body, section, piece);
        }
        if index + 1 == count {
            body.push_str(&document.footer);
        }
        let length = comment_limit.unit.length(&body);
        if length > limit {
            return Err(Error::InvalidPayload(format!(
                "internal error of the {} provider: part {} of {count} is {length} {} long, \
                 over the limit of {limit}; please report this",
                comment_limit.platform,
                index + 1,
                comment_limit.unit.name()
            )));
        }
        bodies.push(body);
    }
    Ok(bodies)
}

fn write_piece(body: &mut String, section: &Section<'_>, piece: &Piece) {
    if section.output.is_empty() {
        body.push_str(&empty_piece(section));
        return;
    }
    let chunk = section
        .output
        .get(piece.start..piece.end)
        .unwrap_or_default();
    body.push_str(&piece_open(section, piece.first));
    piece.fence.write(body);
    body.push('\n');
    body.push_str(chunk);
    let ends_line = chunk.ends_with('\n');
    if !ends_line {
        body.push('\n');
    }
    piece.fence.write(body);
    body.push('\n');
    if !ends_line {
        body.push_str(if piece.end >= section.output.len() {
            NOTE_NO_NEWLINE
        } else {
            NOTE_CONTINUES
        });
    }
    body.push_str(PIECE_CLOSE);
}

#[cfg(test)]
/// Limits and output checks the splitter's and the renderer's tests share.
pub mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Azure DevOps' limit: 150,000 UTF-16 code units.
    pub const UTF16_LIMIT: CommentLimit = CommentLimit {
        max_length: 150_000,
        unit: LengthUnit::Utf16CodeUnits,
        platform: "Azure DevOps",
        platform_possessive: "Azure DevOps'",
    };

    /// GitHub's limit: 65,536 Unicode scalar values.
    pub const SCALAR_LIMIT: CommentLimit = CommentLimit {
        max_length: 65_536,
        unit: LengthUnit::UnicodeScalars,
        platform: "GitHub",
        platform_possessive: "GitHub's",
    };

    /// Both kinds of limit, for tests that hold under either.
    pub const LIMITS: [CommentLimit; 2] = [UTF16_LIMIT, SCALAR_LIMIT];

    /// The raw output carried by `parts`, concatenated in order: the contents of every
    /// code fence, without the newline added to pieces that do not end with one.
    pub fn extract_output(parts: &[String]) -> String {
        let mut output = String::new();
        for part in parts {
            let mut fence: Option<&str> = None;
            let mut just_closed = false;
            for line in part.split_inclusive('\n') {
                let bare = line.strip_suffix('\n').unwrap_or(line);
                match fence {
                    Some(open) if bare == open => {
                        fence = None;
                        just_closed = true;
                    }
                    Some(_) => output.push_str(line),
                    None => {
                        if is_fence_line(bare) {
                            fence = Some(bare);
                        } else if just_closed && (line == NOTE_CONTINUES || line == NOTE_NO_NEWLINE)
                        {
                            assert_eq!(output.pop(), Some('\n'), "a note without an added newline");
                        }
                        just_closed = false;
                    }
                }
            }
            assert!(fence.is_none(), "unclosed fence in part:\n{part}");
        }
        output
    }

    fn is_fence_line(line: &str) -> bool {
        line.len() >= 3 && (line.bytes().all(|b| b == b'`') || line.bytes().all(|b| b == b'~'))
    }

    /// Every part fits `limit` in `unit`, carries its marker, and opens as many
    /// `<details>` as it closes, outside the code fences.
    pub fn assert_well_formed(parts: &[String], limit: usize, unit: LengthUnit) {
        let count = parts.len();
        for (index, part) in parts.iter().enumerate() {
            assert!(
                unit.length(part) <= limit,
                "part {} is {} > {limit}",
                index + 1,
                unit.length(part)
            );
            let marker = format!(" part={}/{count} -->\n", index + 1);
            let first_line = part.split_inclusive('\n').next().unwrap();
            assert!(first_line.starts_with(MARKER_PREFIX) && first_line.ends_with(&marker));
            let mut fence: Option<&str> = None;
            let mut depth = 0i32;
            for line in part.split_inclusive('\n') {
                let bare = line.strip_suffix('\n').unwrap_or(line);
                match fence {
                    Some(open) if bare == open => fence = None,
                    Some(_) => {}
                    None => {
                        if is_fence_line(bare) {
                            fence = Some(bare);
                        }
                        depth += bare.matches("<details>").count() as i32;
                        depth -= bare.matches("</details>").count() as i32;
                        assert!((0..=1).contains(&depth), "details nesting in {part}");
                    }
                }
            }
            assert!(fence.is_none(), "unclosed fence");
            assert_eq!(
                depth,
                0,
                "unbalanced details in part {}:\n{part}",
                index + 1
            );
        }
    }

    fn document<'a>(outputs: &[&'a str]) -> Document<'a> {
        Document {
            workspace_set: "0123456789abcdef".into(),
            title: "Terraform plan".into(),
            summary: "### ✅ Terraform plan\n".into(),
            footer: "\n---\n<sub>footer</sub>\n".into(),
            sections: outputs
                .iter()
                .enumerate()
                .map(|(i, output)| Section {
                    heading: if outputs.len() > 1 {
                        format!("\n#### <code>ws{i}</code>\n")
                    } else {
                        String::new()
                    },
                    label: format!("<code>ws{i}</code>"),
                    output,
                })
                .collect(),
        }
    }

    #[test]
    fn short_output_is_one_part_with_a_plain_fence() {
        let parts = split(&document(&["+ resource\n"]), 150_000, &UTF16_LIMIT).unwrap();
        assert_eq!(parts.len(), 1);
        assert!(
            parts[0].contains("\n```\n+ resource\n```\n"),
            "{}",
            parts[0]
        );
        assert!(parts[0].ends_with("<sub>footer</sub>\n"));
        assert!(!parts[0].contains(NOTE_NO_NEWLINE));
        assert_eq!(extract_output(&parts), "+ resource\n");
    }

    #[test]
    fn fences_outgrow_the_runs_inside() {
        let cases: &[(&str, &str)] = &[
            ("no runs", "```\n"),
            ("a backtick run of 5", "x ````` y\n"),
            ("backticks and tildes", "````\n~~~~~~\n"),
            ("tildes only", "~~~~~~~~\n"),
        ];
        for (name, output) in cases {
            for limit in LIMITS {
                let parts = split(&document(&[output]), 65_536, &limit).unwrap();
                assert_eq!(extract_output(&parts), *output, "{name}");
                assert_well_formed(&parts, 65_536, limit.unit);
            }
        }
        // Backticks inside: the tilde fence is shorter; both inside: one past the shorter run.
        let parts = split(&document(&["x ````` y\n"]), 150_000, &UTF16_LIMIT).unwrap();
        assert!(parts[0].contains("\n~~~\nx ````` y\n~~~\n"), "{}", parts[0]);
        let parts = split(&document(&["````\n~~~~~~\n"]), 150_000, &UTF16_LIMIT).unwrap();
        assert!(parts[0].contains("\n`````\n"), "{}", parts[0]);
    }

    #[test]
    fn output_without_final_newline_says_so() {
        let parts = split(&document(&["a\nb"]), 150_000, &UTF16_LIMIT).unwrap();
        assert!(
            parts[0].contains(&format!("\nb\n```\n{NOTE_NO_NEWLINE}")),
            "{}",
            parts[0]
        );
        assert_eq!(extract_output(&parts), "a\nb");
    }

    #[test]
    fn splits_at_line_boundaries_and_numbers_parts() {
        let output: String = (0..200).map(|i| format!("  + resource {i}\n")).collect();
        let output = output.as_str();
        let parts = split(&document(&[output]), 1000, &UTF16_LIMIT).unwrap();
        assert!(parts.len() > 3, "{}", parts.len());
        assert_well_formed(&parts, 1000, LengthUnit::Utf16CodeUnits);
        assert_eq!(extract_output(&parts), output);
        let count = parts.len();
        assert!(parts[0].contains(&format!("_Part 1 of {count}:")));
        assert!(parts[1].contains(&format!(
            "### Terraform plan, continued (part 2 of {count})"
        )));
        assert!(parts[1].contains("Output of <code>ws0</code> (continued)"));
        // Line boundaries only: no part needs a note.
        assert!(parts.iter().all(|p| !p.contains(NOTE_CONTINUES)));
        // The summary stays in the first part only.
        assert!(
            parts
                .iter()
                .skip(1)
                .all(|p| !p.contains("### ✅ Terraform plan"))
        );
    }

    #[test]
    fn a_line_longer_than_a_part_is_cut_on_a_character_boundary() {
        let line: String = "𝔘é`".repeat(400) + "\n";
        let output = line.as_str();
        for limit in LIMITS {
            let parts = split(&document(&[output]), 600, &limit).unwrap();
            assert!(parts.len() > 2);
            assert_well_formed(&parts, 600, limit.unit);
            assert!(parts[0].contains(NOTE_CONTINUES));
            assert_eq!(extract_output(&parts), output);
        }
        // Astral characters cost two UTF-16 units and one scalar: more parts in UTF-16.
        let utf16 = split(&document(&[output]), 600, &UTF16_LIMIT).unwrap();
        let scalars = split(&document(&[output]), 600, &SCALAR_LIMIT).unwrap();
        assert!(
            utf16.len() > scalars.len(),
            "{} {}",
            utf16.len(),
            scalars.len()
        );
    }

    #[test]
    fn several_sections_keep_their_order_and_headings() {
        let parts = split(&document(&["one\n", "", "three"]), 150_000, &UTF16_LIMIT).unwrap();
        assert_eq!(parts.len(), 1);
        let body = &parts[0];
        let heading = |i: usize| body.find(&format!("#### <code>ws{i}</code>")).unwrap();
        assert!(heading(0) < heading(1) && heading(1) < heading(2));
        assert!(
            body.contains("#### <code>ws1</code>\n\n_No output._\n"),
            "{body}"
        );
        assert_eq!(extract_output(&parts), "one\nthree");
    }

    #[test]
    fn limits_too_small_for_the_scaffolding_name_the_minimum() {
        for (limit, unit_words, platform_words) in [
            (
                UTF16_LIMIT,
                "UTF-16 code units",
                "Azure DevOps' limit of 150000",
            ),
            (SCALAR_LIMIT, "characters", "GitHub's limit of 65536"),
        ] {
            let err = split(&document(&["x\n"]), 100, &limit).unwrap_err();
            let Error::InvalidConfig(message) = err else {
                panic!("{err:?}")
            };
            assert!(message.contains("max-length 100 is too small"), "{message}");
            assert!(message.contains(unit_words), "{message}");
            assert!(message.ends_with(platform_words), "{message}");
            let needed: usize = message
                .split("raise max-length to ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .unwrap()
                .parse()
                .unwrap();
            // The named minimum works, even when it takes many parts.
            let long: String = "y".repeat(5000) + "\n";
            let long = long.as_str();
            let parts = split(&document(&[long]), needed, &limit).unwrap();
            assert_well_formed(&parts, needed, limit.unit);
            assert!(parts.len() > 10, "{}", parts.len());
            assert_eq!(extract_output(&parts), long);
        }
    }

    #[test]
    fn scaffolding_over_the_platform_limit_says_so() {
        let mut doc = document(&["x\n"]);
        doc.summary = "s".repeat(70_000);
        let err = split(&doc, 65_536, &SCALAR_LIMIT).unwrap_err();
        let Error::InvalidConfig(message) = err else {
            panic!("{err:?}")
        };
        assert!(
            message.starts_with("this report's summary and workspace names need 70")
                && message.contains(" characters per comment, more than GitHub's limit of 65536:"),
            "{message}"
        );
    }

    #[test]
    fn lengths_count_in_the_platform_unit() {
        assert_eq!(LengthUnit::Utf16CodeUnits.length("a𝔘é"), 4);
        assert_eq!(LengthUnit::UnicodeScalars.length("a𝔘é"), 3);
    }

    /// Pieces of output that stress the splitter: astral characters, CRLF, lone CR,
    /// backtick and tilde runs, markup.
    fn output_strategy() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            Just("\r".to_string()),
            Just("𝔘".to_string()),
            Just("😀".to_string()),
            Just("é".to_string()),
            Just("</details>".to_string()),
            Just("@<6A7B0000-0000-0000-0000-000000000000>".to_string()),
            "`{1,12}",
            "~{1,12}",
            "[a-z +~-]{1,40}",
            "\\PC{0,20}",
        ];
        proptest::collection::vec(piece, 0..120).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn parts_fit_are_balanced_and_give_back_the_output(
            outputs in proptest::collection::vec(output_strategy(), 1..4),
            limit in 300usize..2000,
            utf16 in any::<bool>(),
        ) {
            let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
            let comment_limit = if utf16 { UTF16_LIMIT } else { SCALAR_LIMIT };
            let parts = split(&document(&outputs), limit, &comment_limit).unwrap();
            assert_well_formed(&parts, limit, comment_limit.unit);
            prop_assert_eq!(extract_output(&parts), outputs.concat());
        }
    }
}
