//! Rendering a run report: the summary, the per-workspace sections, and the escaping
//! that keeps user-controlled text (workspace names, error lines, the command prefix)
//! from breaking out of its place or mentioning people.
//!
//! Escaping writes every risky ASCII character as a numeric character reference. Those
//! are decoded both in Markdown text and inside raw HTML (the `<summary>` line is an
//! HTML block, where Markdown is not parsed), so one escaping serves every place a name
//! appears, and no `@<GUID>` or `@login` mention, tag, emphasis or table pipe survives it.
//!
//! The report types borrow from the provider's own records (WIT types), so the outputs,
//! which can be megabytes, are never copied before they are split.

use crate::kit_error::{Error, Result};
use crate::split::{self, CommentLimit, Document, Section};

/// Whether a run planned or applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// A dry run.
    Plan,
    /// An apply run.
    Apply,
}

/// How one workspace's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Succeeded with changes (plan) or applied (apply).
    Success,
    /// Succeeded; nothing to change.
    NoChanges,
    /// Terraform reported an error in the configuration or the run.
    Failed,
    /// The platform could not run it (infrastructure error, cancelled).
    Errored,
}

/// One workspace's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkspaceReport<'a> {
    /// Workspace name (user-controlled: rendered escaped).
    pub name: &'a str,
    /// How the run ended.
    pub status: RunStatus,
    /// Resources to add (plan) or added (apply).
    pub add: u32,
    /// Resources to change or changed in place.
    pub change: u32,
    /// Resources to destroy or destroyed.
    pub destroy: u32,
    /// Resources to import or imported.
    pub import: u32,
    /// Raw Terraform output, shown verbatim (never interpreted as markup).
    pub output: &'a str,
}

/// A run's report: what [`render`] turns into comment bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report<'a> {
    /// Plan or apply.
    pub kind: RunKind,
    /// The platform's page for the run.
    pub run_url: Option<&'a str>,
    /// One result per workspace of the run.
    pub workspaces: Vec<WorkspaceReport<'a>>,
}

/// The comment commands a pull request allows, for the footer of the last part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowedCommands<'a> {
    /// The command prefix, e.g. `/scalr`.
    pub prefix: &'a str,
    /// Plan-only runs from comments are allowed.
    pub allow_plan: bool,
    /// Plan & apply runs from comments are allowed (implies plan).
    pub allow_apply: bool,
}

/// How to render a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderOptions<'a> {
    /// Split bodies to at most this length; `None` uses the platform's limit, and a
    /// larger value is capped to it.
    pub max_length: Option<u32>,
    /// The commands to tell readers about; `None` writes no footer.
    pub commands: Option<AllowedCommands<'a>>,
}

/// Longest error line quoted in a summary, in characters.
const MAX_ERROR_CHARS: usize = 300;

/// At most this many error lines are quoted in the summary; the rest are in the output.
const MAX_ERRORS_QUOTED: usize = 10;

/// Render `report` to bodies within the limit of `options`, capped to the platform's
/// `comment_limit`.
pub fn render(
    report: &Report<'_>,
    options: &RenderOptions<'_>,
    comment_limit: &CommentLimit,
) -> Result<Vec<String>> {
    if report.workspaces.is_empty() {
        return Err(Error::InvalidPayload(
            "the run report lists no workspaces; a report needs at least one workspace".into(),
        ));
    }
    let cap = comment_limit.max_length;
    let limit = options.max_length.map_or(cap, |wanted| wanted.min(cap));
    split::split(
        &document(report, options.commands.as_ref()),
        limit as usize,
        comment_limit,
    )
}

impl Report<'_> {
    /// See [`workspace_set_hash`].
    pub fn workspace_set_hash(&self) -> String {
        workspace_set_hash(self.workspaces.iter().map(|w| w.name))
    }
}

/// The hidden marker's workspace-set hash: FNV-1a over the sorted names, so the same set of
/// workspaces maps to the same comment whatever their order in the report.
pub fn workspace_set_hash<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = names.into_iter().collect();
    names.sort_unstable();
    let mut hash = Fnv64::new();
    for name in names {
        hash.write(name.as_bytes());
        // 0xFF never occurs in UTF-8: it separates names unambiguously.
        hash.write(&[0xFF]);
    }
    format!("{:016x}", hash.finish())
}

/// The 64-bit FNV-1a hash: tiny, stable across versions and platforms.
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self::new()
    }
}

impl Fnv64 {
    /// A hash of nothing yet.
    pub fn new() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
    /// Add bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// Build the document the splitter cuts into parts.
fn document<'a>(report: &Report<'a>, commands: Option<&AllowedCommands<'_>>) -> Document<'a> {
    let title = match report.kind {
        RunKind::Plan => "Terraform plan",
        RunKind::Apply => "Terraform apply",
    };
    let several = report.workspaces.len() > 1;
    let sections = report
        .workspaces
        .iter()
        .map(|workspace| Section {
            heading: if several {
                format!(
                    "\n#### {} {}: {}\n",
                    icon(workspace.status),
                    code(workspace.name),
                    outcome(report.kind, workspace)
                )
            } else {
                String::new()
            },
            label: code(workspace.name),
            output: workspace.output,
        })
        .collect();
    Document {
        workspace_set: report.workspace_set_hash(),
        title: title.to_string(),
        summary: summary(report, title),
        footer: footer(commands),
        sections,
    }
}

/// The first part's heading, table, quoted errors and run link.
fn summary(report: &Report<'_>, title: &str) -> String {
    let mut text = String::new();
    match report.workspaces.as_slice() {
        [only] => text.push_str(&format!(
            "### {} {title} of {}: {}\n",
            icon(only.status),
            code(only.name),
            outcome(report.kind, only)
        )),
        workspaces => {
            let failed = count(workspaces, RunStatus::Failed);
            let errored = count(workspaces, RunStatus::Errored);
            let overall = if failed + errored > 0 { "❌" } else { "✅" };
            let mut totals = totals(report.kind, workspaces);
            if failed > 0 {
                totals.push_str(&format!("; {failed} failed"));
            }
            if errored > 0 {
                totals.push_str(&format!("; {errored} errored"));
            }
            text.push_str(&format!(
                "### {overall} {title} of {} workspaces: {totals}\n\n| Workspace | Result |\n| --- | --- |\n",
                workspaces.len()
            ));
            for workspace in workspaces {
                text.push_str(&format!(
                    "| {} | {} {} |\n",
                    code(workspace.name),
                    icon(workspace.status),
                    outcome(report.kind, workspace)
                ));
            }
        }
    }

    let errors: Vec<(&WorkspaceReport<'_>, String)> = report
        .workspaces
        .iter()
        .filter(|w| matches!(w.status, RunStatus::Failed | RunStatus::Errored))
        .filter_map(|w| error_line(w).map(|line| (w, line)))
        .collect();
    if !errors.is_empty() {
        text.push('\n');
        for (workspace, line) in errors.iter().take(MAX_ERRORS_QUOTED) {
            text.push_str(&format!("- {}: {}\n", code(workspace.name), escape(line)));
        }
        if errors.len() > MAX_ERRORS_QUOTED {
            text.push_str(&format!(
                "- … and {} more; see their output below\n",
                errors.len() - MAX_ERRORS_QUOTED
            ));
        }
    }

    if let Some(url) = report.run_url {
        match link_target(url) {
            Some(target) => text.push_str(&format!("\n[Open the run]({target})\n")),
            None => text.push_str(&format!("\nRun: {}\n", escape(url))),
        }
    }
    text
}

/// The comment commands this pull request allows, or nothing.
fn footer(commands: Option<&AllowedCommands<'_>>) -> String {
    let Some(settings) = commands else {
        return String::new();
    };
    let prefix = settings.prefix.trim();
    let plan = code(&format!("{prefix} plan"));
    let apply = code(&format!("{prefix} apply"));
    let sentence = match (settings.allow_plan, settings.allow_apply) {
        // Apply from comments implies plan.
        (_, true) => format!("Comment {plan} to plan again or {apply} to plan and apply."),
        (true, false) => format!("Comment {plan} to plan again."),
        (false, false) => return String::new(),
    };
    format!("\n---\n<sub>{sentence}</sub>\n")
}

fn count(workspaces: &[WorkspaceReport<'_>], status: RunStatus) -> usize {
    workspaces.iter().filter(|w| w.status == status).count()
}

/// Sum of the counts of the workspaces that succeeded.
fn totals(kind: RunKind, workspaces: &[WorkspaceReport<'_>]) -> String {
    let succeeded = workspaces.iter().filter(|w| w.status == RunStatus::Success);
    let sum = |field: fn(&WorkspaceReport<'_>) -> u32| -> u64 {
        succeeded.clone().map(|w| u64::from(field(w))).sum()
    };
    let (import, add, change, destroy) = (
        sum(|w| w.import),
        sum(|w| w.add),
        sum(|w| w.change),
        sum(|w| w.destroy),
    );
    if workspaces.iter().all(|w| w.status == RunStatus::NoChanges) {
        return "no changes".into();
    }
    counts(kind, import, add, change, destroy)
}

/// "1 to import, 2 to add, 1 to change, 0 to destroy" (plan) or
/// "2 added, 1 changed, 0 destroyed" (apply); imports only when there are some.
fn counts(kind: RunKind, import: u64, add: u64, change: u64, destroy: u64) -> String {
    let mut words = Vec::with_capacity(4);
    match kind {
        RunKind::Plan => {
            if import > 0 {
                words.push(format!("{import} to import"));
            }
            words.push(format!("{add} to add"));
            words.push(format!("{change} to change"));
            words.push(format!("{destroy} to destroy"));
        }
        RunKind::Apply => {
            if import > 0 {
                words.push(format!("{import} imported"));
            }
            words.push(format!("{add} added"));
            words.push(format!("{change} changed"));
            words.push(format!("{destroy} destroyed"));
        }
    }
    words.join(", ")
}

/// One workspace's result in words.
pub fn outcome(kind: RunKind, workspace: &WorkspaceReport<'_>) -> String {
    match workspace.status {
        RunStatus::Success => counts(
            kind,
            workspace.import.into(),
            workspace.add.into(),
            workspace.change.into(),
            workspace.destroy.into(),
        ),
        RunStatus::NoChanges => "no changes".into(),
        RunStatus::Failed => "failed".into(),
        RunStatus::Errored => "errored (the platform could not run it)".into(),
    }
}

fn icon(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Success => "✅",
        RunStatus::NoChanges => "✅",
        RunStatus::Failed => "❌",
        RunStatus::Errored => "⚠️",
    }
}

/// The line worth quoting from a failed run: Terraform's first `Error:` line, or for a
/// run the platform could not start, its first line.
fn error_line(workspace: &WorkspaceReport<'_>) -> Option<String> {
    let cleaned = |line: &str| -> String {
        let plain = strip_ansi(line);
        plain
            .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '│' | '╷' | '╵'))
            .trim_end()
            .to_string()
    };
    let found = workspace
        .output
        .lines()
        .filter(|line| line.contains("Error"))
        .map(cleaned)
        .find(|line| line.starts_with("Error:"))
        .or_else(|| {
            (workspace.status == RunStatus::Errored)
                .then(|| {
                    workspace
                        .output
                        .lines()
                        .map(cleaned)
                        .find(|line| !line.is_empty())
                })
                .flatten()
        })?;
    Some(clip(&found, MAX_ERROR_CHARS))
}

/// Drop ANSI escape sequences (Terraform colours its output unless told not to).
fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            plain.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in @..~.
            for next in chars.by_ref() {
                if ('@'..='~').contains(&next) {
                    break;
                }
            }
        }
    }
    plain
}

fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_string(),
    }
}

/// `text` as escaped inline code.
pub fn code(text: &str) -> String {
    format!("<code>{}</code>", escape(text))
}

/// Escape user-controlled text for Markdown text and HTML alike: ASCII punctuation that
/// means something to either (and `@`, which starts mentions) becomes a numeric
/// character reference; control characters and line separators become spaces.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | ' ' | '-' | '.' | '/' | ',' | '=' | '+' | '%' => {
                escaped.push(c)
            }
            c if c.is_ascii_punctuation() => escaped.push_str(&format!("&#{};", u32::from(c))),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => escaped.push(' '),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A run URL safe to put in a Markdown link: http(s) only, with every character that
/// could end the link or start markup percent-encoded.
fn link_target(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "https" | "http") {
        return None;
    }
    let mut target = String::with_capacity(url.as_str().len());
    for c in url.as_str().chars() {
        match c {
            '(' | ')' | '<' | '>' | '[' | ']' | '`' | '"' | '\'' | '\\' | ' ' | '*' | '_' | '@' => {
                target.push_str(&format!("%{:02X}", u32::from(c)))
            }
            c => target.push(c),
        }
    }
    Some(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::LengthUnit;
    use crate::split::tests::{SCALAR_LIMIT, UTF16_LIMIT, assert_well_formed, extract_output};

    const UTF16: LengthUnit = LengthUnit::Utf16CodeUnits;

    fn workspace<'a>(
        name: &'a str,
        status: RunStatus,
        counts: [u32; 4],
        output: &'a str,
    ) -> WorkspaceReport<'a> {
        WorkspaceReport {
            name,
            status,
            add: counts[0],
            change: counts[1],
            destroy: counts[2],
            import: counts[3],
            output,
        }
    }

    fn report<'a>(kind: RunKind, workspaces: Vec<WorkspaceReport<'a>>) -> Report<'a> {
        Report {
            kind,
            run_url: Some("https://scalr.example/runs/run-1"),
            workspaces,
        }
    }

    fn options() -> RenderOptions<'static> {
        RenderOptions {
            max_length: None,
            commands: None,
        }
    }

    /// Render with Azure DevOps' limit (150,000 UTF-16 code units).
    fn render(report: &Report<'_>, options: &RenderOptions<'_>) -> Result<Vec<String>> {
        super::render(report, options, &UTF16_LIMIT)
    }

    #[test]
    fn summaries_per_status_and_kind() {
        use RunKind::{Apply, Plan};
        use RunStatus::{Errored, Failed, NoChanges, Success};
        let cases: Vec<(RunKind, RunStatus, [u32; 4], &str, &str)> = vec![
            (
                Plan,
                Success,
                [2, 1, 0, 0],
                "",
                "### ✅ Terraform plan of <code>prod</code>: 2 to add, 1 to change, 0 to destroy\n",
            ),
            (
                Plan,
                Success,
                [2, 1, 0, 3],
                "",
                "### ✅ Terraform plan of <code>prod</code>: 3 to import, 2 to add, 1 to change, 0 to destroy\n",
            ),
            (
                Plan,
                NoChanges,
                [0, 0, 0, 0],
                "",
                "### ✅ Terraform plan of <code>prod</code>: no changes\n",
            ),
            (
                Plan,
                Failed,
                [0, 0, 0, 0],
                "│ Error: Invalid reference\n│ \n",
                "### ❌ Terraform plan of <code>prod</code>: failed\n\n- <code>prod</code>: Error&#58; Invalid reference\n",
            ),
            (
                Plan,
                Errored,
                [0, 0, 0, 0],
                "\nagent pool unavailable\n",
                "### ⚠️ Terraform plan of <code>prod</code>: errored (the platform could not run it)\n\n- <code>prod</code>: agent pool unavailable\n",
            ),
            (
                Apply,
                Success,
                [2, 1, 1, 0],
                "",
                "### ✅ Terraform apply of <code>prod</code>: 2 added, 1 changed, 1 destroyed\n",
            ),
            (
                Apply,
                Success,
                [0, 0, 0, 4],
                "",
                "### ✅ Terraform apply of <code>prod</code>: 4 imported, 0 added, 0 changed, 0 destroyed\n",
            ),
            (
                Apply,
                NoChanges,
                [0, 0, 0, 0],
                "",
                "### ✅ Terraform apply of <code>prod</code>: no changes\n",
            ),
            (
                Apply,
                Failed,
                [0, 0, 0, 0],
                "\u{1b}[31mError: \u{1b}[0mcreating bucket\n",
                "### ❌ Terraform apply of <code>prod</code>: failed\n\n- <code>prod</code>: Error&#58; creating bucket\n",
            ),
        ];
        for (kind, status, counts, output, expected) in cases {
            let mut r = report(kind, vec![workspace("prod", status, counts, output)]);
            r.run_url = None;
            let parts = render(&r, &options()).unwrap();
            assert_eq!(parts.len(), 1);
            let body = &parts[0];
            let after_marker = body.split_once("-->\n").unwrap().1;
            assert!(
                after_marker.starts_with(expected),
                "{kind:?} {status:?}:\n{body}"
            );
            assert_eq!(extract_output(&parts), output);
        }
    }

    #[test]
    fn several_workspaces_get_totals_and_a_table() {
        let r = report(
            RunKind::Plan,
            vec![
                workspace("prod", RunStatus::Success, [2, 1, 0, 0], "p\n"),
                workspace("stage", RunStatus::NoChanges, [0, 0, 0, 0], "s\n"),
                workspace("dev", RunStatus::Success, [1, 0, 3, 0], "d\n"),
                workspace("qa", RunStatus::Failed, [0, 0, 0, 0], "Error: boom\n"),
            ],
        );
        let parts = render(&r, &options()).unwrap();
        let body = &parts[0];
        assert!(body.contains("### ❌ Terraform plan of 4 workspaces: 3 to add, 1 to change, 3 to destroy; 1 failed\n"), "{body}");
        assert!(body.contains("| Workspace | Result |\n| --- | --- |\n| <code>prod</code> | ✅ 2 to add, 1 to change, 0 to destroy |\n| <code>stage</code> | ✅ no changes |\n"), "{body}");
        assert!(body.contains("| <code>qa</code> | ❌ failed |\n"));
        assert!(body.contains("\n#### ✅ <code>dev</code>: 1 to add, 0 to change, 3 to destroy\n"));
        assert!(body.contains("- <code>qa</code>: Error&#58; boom\n"));
        assert!(body.contains("\n[Open the run](https://scalr.example/runs/run-1)\n"));
        assert_eq!(extract_output(&parts), "p\ns\nd\nError: boom\n");
    }

    #[test]
    fn the_footer_lists_the_allowed_commands() {
        let settings = |allow_plan, allow_apply| AllowedCommands {
            prefix: " /scalr ",
            allow_plan,
            allow_apply,
        };
        let cases = [
            (
                Some(settings(true, true)),
                Some(
                    "Comment <code>/scalr plan</code> to plan again or <code>/scalr apply</code> to plan and apply.",
                ),
            ),
            (
                Some(settings(false, true)),
                Some("or <code>/scalr apply</code> to plan and apply."),
            ),
            (
                Some(settings(true, false)),
                Some("Comment <code>/scalr plan</code> to plan again.</sub>"),
            ),
            (Some(settings(false, false)), None),
            (None, None),
        ];
        let r = report(
            RunKind::Plan,
            vec![workspace("prod", RunStatus::Success, [1, 0, 0, 0], "x\n")],
        );
        for (commands, expected) in cases {
            let parts = render(
                &r,
                &RenderOptions {
                    max_length: None,
                    commands,
                },
            )
            .unwrap();
            match expected {
                Some(text) => assert!(parts[0].contains(text), "{}", parts[0]),
                None => assert!(!parts[0].contains("---"), "{}", parts[0]),
            }
        }
    }

    #[test]
    fn user_controlled_text_cannot_break_out() {
        let hostile = "a`b</details><script>alert(1)</script>@<6A7B1C2D-0000-0000-0000-000000000000>|*_[x](y)\n#";
        let output = "```\n````` </details>\n<script>alert(1)</script>\n@<6A7B1C2D-0000-0000-0000-000000000000>\n~~~\nError: bad `x` <b>\n";
        let mut r = report(
            RunKind::Plan,
            vec![
                workspace(hostile, RunStatus::Failed, [0, 0, 0, 0], output),
                workspace("ok", RunStatus::Success, [1, 0, 0, 0], "+ x\n"),
            ],
        );
        r.run_url = Some("https://scalr.example/runs/a b)(<x>\"");
        let parts = render(&r, &options()).unwrap();
        assert_well_formed(&parts, 150_000, UTF16);
        assert_eq!(extract_output(&parts), format!("{output}+ x\n"));
        // Outside the code fences, nothing hostile is left raw.
        let outside = outside_fences(&parts[0]);
        for needle in ["<script", "</details><", "@<", "`", "|*", "[x]", "\n#\n"] {
            assert!(!outside.contains(needle), "{needle:?} leaked:\n{outside}");
        }
        assert!(
            outside.contains("- <code>a&#96;b&#60;/details&#62;"),
            "{outside}"
        );
        assert!(
            outside.contains("Error&#58; bad &#96;x&#96; &#60;b&#62;"),
            "{outside}"
        );
        assert!(
            outside.contains("(https://scalr.example/runs/a%20b%29%28%3Cx%3E%22)"),
            "{outside}"
        );
        // Backtick runs up to 5 and tilde runs up to 3: a fence of 4 tildes.
        assert!(parts[0].contains("\n~~~~\n```\n"), "{}", parts[0]);
    }

    #[test]
    fn non_http_run_urls_are_not_links() {
        let mut r = report(
            RunKind::Plan,
            vec![workspace("w", RunStatus::NoChanges, [0; 4], "")],
        );
        r.run_url = Some("javascript:alert(1)");
        let body = render(&r, &options()).unwrap().remove(0);
        assert!(
            body.contains("\nRun: javascript&#58;alert&#40;1&#41;\n"),
            "{body}"
        );
        assert!(!body.contains("]("));
    }

    #[test]
    fn the_marker_names_the_workspace_set_whatever_the_order() {
        let a = report(
            RunKind::Plan,
            vec![
                workspace("b", RunStatus::NoChanges, [0; 4], ""),
                workspace("a", RunStatus::NoChanges, [0; 4], ""),
            ],
        );
        let b = report(
            RunKind::Apply,
            vec![
                workspace("a", RunStatus::NoChanges, [0; 4], ""),
                workspace("b", RunStatus::NoChanges, [0; 4], ""),
            ],
        );
        let c = report(
            RunKind::Plan,
            vec![workspace("a", RunStatus::NoChanges, [0; 4], "")],
        );
        assert_eq!(a.workspace_set_hash(), b.workspace_set_hash());
        assert_ne!(a.workspace_set_hash(), c.workspace_set_hash());
        assert_eq!(a.workspace_set_hash(), workspace_set_hash(["a", "b"]));
        let body = render(&a, &options()).unwrap().remove(0);
        assert!(body.starts_with(&format!(
            "<!-- scalr:run workspace-set={} part=1/1 -->\n",
            a.workspace_set_hash()
        )));
    }

    #[test]
    fn bad_reports_and_limits_are_refused() {
        let empty = report(RunKind::Plan, vec![]);
        assert!(matches!(
            render(&empty, &options()),
            Err(Error::InvalidPayload(_))
        ));
        let r = report(
            RunKind::Plan,
            vec![workspace("w", RunStatus::Success, [1, 0, 0, 0], "x\n")],
        );
        let tiny = RenderOptions {
            max_length: Some(10),
            commands: None,
        };
        assert!(
            matches!(render(&r, &tiny), Err(Error::InvalidConfig(m)) if m.contains("at least"))
        );
        // A limit above the platform's own is capped to it: 330,000 characters of output
        // take 3 parts at 150,000 UTF-16 code units, 6 at 65,536 characters.
        let huge = RenderOptions {
            max_length: Some(u32::MAX),
            commands: None,
        };
        let output = "+ resource\n".repeat(30_000);
        let big = report(
            RunKind::Plan,
            vec![workspace("w", RunStatus::Success, [1, 0, 0, 0], &output)],
        );
        let parts = render(&big, &huge).unwrap();
        assert_eq!(parts.len(), 3);
        assert_well_formed(&parts, 150_000, UTF16);
        let parts = super::render(&big, &huge, &SCALAR_LIMIT).unwrap();
        assert_eq!(parts.len(), 6);
        assert_well_formed(&parts, 65_536, LengthUnit::UnicodeScalars);
    }

    /// A 5 MB plan with 20,000 resources renders in linear time: the parts fit and give
    /// the output back.
    #[test]
    fn a_five_megabyte_plan_renders_quickly() {
        let mut output = String::with_capacity(5_300_000);
        for i in 0..20_000 {
            output.push_str(&format!("  # aws_s3_object.file[\"{i}\"] will be created\n  + resource \"aws_s3_object\" \"file\" {{\n"));
            for field in 0..5 {
                output.push_str(&format!(
                    "      + attribute_{field} = \"{:>4}\" # 𝔘 `x`\n",
                    i * field
                ));
            }
            output.push_str("    }\n\n");
        }
        assert!(
            (5_000_000..6_000_000).contains(&output.len()),
            "{}",
            output.len()
        );
        let r = report(
            RunKind::Plan,
            vec![workspace(
                "big",
                RunStatus::Success,
                [20_000, 0, 0, 0],
                &output,
            )],
        );
        let started = std::time::Instant::now();
        let parts = render(&r, &options()).unwrap();
        let elapsed = started.elapsed();
        println!(
            "rendered {} bytes into {} parts in {elapsed:?}",
            output.len(),
            parts.len()
        );
        assert_well_formed(&parts, 150_000, UTF16);
        assert_eq!(extract_output(&parts), output);
        if !cfg!(debug_assertions) {
            assert!(elapsed.as_millis() < 100, "{elapsed:?}");
        }
    }

    fn outside_fences(body: &str) -> String {
        let mut outside = String::new();
        let mut fence: Option<&str> = None;
        for line in body.split_inclusive('\n') {
            let bare = line.trim_end_matches('\n');
            match fence {
                Some(open) if bare == open => fence = None,
                Some(_) => {}
                None if bare.len() >= 3 && bare.bytes().all(|b| b == b'`' || b == b'~') => {
                    fence = Some(bare)
                }
                None => outside.push_str(line),
            }
        }
        outside
    }
}
