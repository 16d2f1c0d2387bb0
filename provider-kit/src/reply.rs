//! The Markdown the integration posts back: help, parse errors and denials.
//!
//! Replies never contain a line that is itself a command (every line starts with text,
//! `-` or `**`), so a reply quoted back, or read back when the integration's identity is
//! not configured, never runs anything.

use crate::command_parser::code;

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

    /// The switches of an integration's settings; the apply switch implies plan.
    pub fn new(allow_plan: bool, allow_apply: bool) -> Switches {
        Switches {
            plan: allow_plan || allow_apply,
            apply: allow_apply,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_lists_what_the_switches_allow() {
        let all = help("/scalr", Switches::ALL);
        assert!(all.starts_with("**Pull request commands.**"), "{all}");
        for line in [
            "- `/scalr plan` plans the workspaces",
            "- `/scalr apply` plans and applies them.",
            "- `/scalr help` shows this help.",
            "`/scalr plan -w \"my workspace\"`",
        ] {
            assert!(all.contains(line), "{line:?} missing:\n{all}");
        }
        assert!(!all.contains("turned off"), "{all}");

        let plan_only = help("/scalr", Switches::new(true, false));
        assert!(!plan_only.contains("`/scalr apply`"), "{plan_only}");
        assert!(
            plan_only.ends_with(&format!(
                "The `apply` command is turned off: an administrator can turn on “{APPLY_SWITCH}”."
            )),
            "{plan_only}"
        );

        let none = help("/scalr", Switches::new(false, false));
        assert!(!none.contains("`/scalr plan`"), "{none}");
        assert!(!none.contains("-w NAME"), "{none}");
        assert!(
            none.contains(PLAN_SWITCH) && none.contains(APPLY_SWITCH),
            "{none}"
        );
    }

    #[test]
    fn apply_implies_plan() {
        assert_eq!(
            Switches::new(false, true),
            Switches {
                plan: true,
                apply: true
            }
        );
        assert_eq!(Switches::new(true, true), Switches::ALL);
    }

    #[test]
    fn denials_name_the_command_and_no_line_is_a_command() {
        let text = denial("/scalr", "apply", "it is Sunday", Switches::ALL);
        assert!(
            text.starts_with("**`/scalr apply` did not run:** it is Sunday\n\n"),
            "{text}"
        );
        let bare = denial("/scalr", "", "why", Switches::ALL);
        assert!(bare.starts_with("**`/scalr` did not run:** why"), "{bare}");
        for line in text.lines().chain(help("/scalr", Switches::ALL).lines()) {
            assert!(
                line.is_empty() || !line.trim_start().starts_with("/scalr"),
                "{line:?}"
            );
        }
    }
}
