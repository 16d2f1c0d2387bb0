//! The Markdown the integration posts back: help, parse errors and denials.
//!
//! Replies never contain a line that is itself a command (every line starts with text,
//! `-` or `**`), so a reply quoted back, or read back when the integration's identity is
//! not configured, never runs anything.

use crate::bindings::vcs::provider::types::CommandSettings;

use super::parser::code;

/// The switch that allows plan-only runs, as the platform names it.
pub const PLAN_SWITCH: &str = "Allow triggering plan-only runs from the PR comments";
/// The switch that allows plan & apply runs, as the platform names it.
pub const APPLY_SWITCH: &str = "Allow triggering plan & apply runs from the PR comments";
/// The workspace switch comment runs need, as the platform names it.
pub const DRY_RUNS_SWITCH: &str = "Enabled VCS-driven dry runs";

/// Which commands the integration's switches allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switches {
    /// Plan-only runs (also allowed by the apply switch).
    pub plan: bool,
    /// Plan & apply runs.
    pub apply: bool,
}

impl Switches {
    /// Every command: what a reply lists when the settings are not known.
    pub const ALL: Switches = Switches {
        plan: true,
        apply: true,
    };

    /// The switches of the settings; the apply switch implies plan.
    pub fn of(settings: &CommandSettings) -> Switches {
        Switches {
            plan: settings.allow_plan || settings.allow_apply,
            apply: settings.allow_apply,
        }
    }
}

/// The full help: what each allowed command does, and the workspace flag.
pub fn help(prefix: &str, switches: Switches) -> String {
    let mut text = String::from(
        "**Pull request commands.** Write one command per comment, on a line of its own:\n\n",
    );
    text.push_str(&command_list(prefix, switches));
    text
}

/// A problem followed by the short usage.
pub fn problem(prefix: &str, message: &str, switches: Switches) -> String {
    format!("{message}\n\n{}", command_list(prefix, switches))
}

/// A denial of a command: why, then the short usage.
pub fn denial(prefix: &str, command: &str, reason: &str, switches: Switches) -> String {
    let shown = if command.is_empty() {
        code(prefix)
    } else {
        code(&format!("{prefix} {command}"))
    };
    problem(
        prefix,
        &format!("**{shown} did not run:** {reason}"),
        switches,
    )
}

/// The allowed commands as a Markdown list, then the workspace flag.
fn command_list(prefix: &str, switches: Switches) -> String {
    let mut lines = Vec::new();
    if switches.plan {
        lines.push(format!(
            "- `{prefix} plan` plans the workspaces of this pull request that have “{DRY_RUNS_SWITCH}”."
        ));
    }
    if switches.apply {
        lines.push(format!("- `{prefix} apply` plans and applies them."));
    }
    lines.push(format!("- `{prefix} help` shows this help."));
    let mut text = lines.join("\n");
    if switches.plan {
        text.push_str(&format!(
            "\n\nAdd `-w NAME` (or `--workspace NAME`) to pick a workspace; repeat it for several, \
             and quote names with spaces: `{prefix} plan -w \"my workspace\"`."
        ));
    }
    match (switches.plan, switches.apply) {
        (false, _) => text.push_str(&format!(
            "\n\nComment commands are turned off: an administrator can turn on “{PLAN_SWITCH}” or “{APPLY_SWITCH}”."
        )),
        (true, false) => text.push_str(&format!(
            "\n\nThe `apply` command is turned off: an administrator can turn on “{APPLY_SWITCH}”."
        )),
        (true, true) => {}
    }
    text
}
