//! The WIT records as the plain views the shared logic reads, and the record-level
//! entry points of that logic: [`render`], [`parse_command`], [`authorize_command`] and
//! [`parse_delivery_body`].
//!
//! The views borrow from the records (a report's outputs, which can be megabytes, are
//! never copied before they are split); what differs between platforms (names, limits,
//! the apply rules) comes from the [`Provider`].

use serde_json::Value;

use crate::auth::{Capability, CapabilityCheck, CheckOutcome};
use crate::authorize as kit_authorize;
use crate::command_parser::{self as parser, Parsed};
use crate::commands::{CommandRequest, InvalidCommand, ParsedCommand};
use crate::comments::{LengthUnit, RenderOptions, RunKind, RunReport, RunStatus, WorkspaceReport};
use crate::error::{ProviderError, Result};
use crate::host::Host;
use crate::types::{CommandSettings, Connection, User, Workspace};
use crate::webhooks::{CommandVerdict, CommentState, Decision, PullRequestStatus};
use crate::{Provider, json, render as kit_render, reply, split};

/// How long a comment is remembered as run: longer than any platform retries or
/// redelivers a delivery.
pub const CLAIM_TTL_SECONDS: u32 = 30 * 24 * 60 * 60;

/// `P`'s comment limit as the shared renderer takes it, or why the renderer cannot
/// measure in `P`'s unit.
pub fn comment_limit<P: Provider + ?Sized>() -> Result<split::CommentLimit> {
    let unit = match P::COMMENT_LIMIT.unit {
        LengthUnit::Utf16CodeUnits => split::LengthUnit::Utf16CodeUnits,
        LengthUnit::UnicodeScalars => split::LengthUnit::UnicodeScalars,
        LengthUnit::Utf8Bytes => {
            return Err(ProviderError::InvalidConfig(format!(
                "the {} provider counts comments in UTF-8 bytes, which the shared renderer \
                 does not measure; the provider must render itself",
                P::DISPLAY_NAME
            )));
        }
    };
    Ok(split::CommentLimit {
        max_length: P::COMMENT_LIMIT.max_length,
        unit,
        platform: P::DISPLAY_NAME,
        platform_possessive: P::POSSESSIVE,
    })
}

/// Render `report` to bodies in posting order, each within `options.max_length` capped
/// to `P`'s [`Provider::COMMENT_LIMIT`]: the default of [`Provider::render`].
pub fn render<P: Provider + ?Sized>(
    report: &RunReport,
    options: &RenderOptions,
) -> Result<Vec<String>> {
    let limit = comment_limit::<P>()?;
    let options = kit_render::RenderOptions {
        max_length: options.max_length,
        commands: options.commands.as_ref().map(allowed_commands),
    };
    Ok(kit_render::render(&report_view(report), &options, &limit)?)
}

/// The hidden marker's workspace-set hash of a report (see
/// [`render::workspace_set_hash`](crate::render::workspace_set_hash)).
pub fn workspace_set_hash(report: &RunReport) -> String {
    kit_render::workspace_set_hash(report.workspaces.iter().map(|w| w.name.as_str()))
}

/// A run report as the renderer's view.
pub fn report_view(report: &RunReport) -> kit_render::Report<'_> {
    kit_render::Report {
        kind: match report.kind {
            RunKind::Plan => kit_render::RunKind::Plan,
            RunKind::Apply => kit_render::RunKind::Apply,
        },
        run_url: report.run_url.as_deref(),
        workspaces: report
            .workspaces
            .iter()
            .map(workspace_report_view)
            .collect(),
    }
}

/// One workspace's result as the renderer's view.
pub fn workspace_report_view(workspace: &WorkspaceReport) -> kit_render::WorkspaceReport<'_> {
    kit_render::WorkspaceReport {
        name: &workspace.name,
        status: match workspace.status {
            RunStatus::Success => kit_render::RunStatus::Success,
            RunStatus::NoChanges => kit_render::RunStatus::NoChanges,
            RunStatus::Failed => kit_render::RunStatus::Failed,
            RunStatus::Errored => kit_render::RunStatus::Errored,
        },
        add: workspace.add,
        change: workspace.change,
        destroy: workspace.destroy,
        import: workspace.import,
        output: &workspace.output,
    }
}

/// The commands a report's footer may suggest, from the command settings.
pub fn allowed_commands(settings: &CommandSettings) -> kit_render::AllowedCommands<'_> {
    kit_render::AllowedCommands {
        prefix: &settings.prefix,
        allow_plan: settings.allow_plan,
        allow_apply: settings.allow_apply,
    }
}

/// Parse a comment body into a command with the shared grammar: the default of
/// [`Provider::parse`].
///
/// Errors only with `invalid-config` when the prefix is unusable. The reply of an
/// `invalid` command lists every command, since the switches are not known here;
/// `authorize` answers with the commands the switches allow.
pub fn parse_command(body: &str, prefix: &str) -> Result<ParsedCommand> {
    let parsed = parser::parse_body(body, prefix)?;
    let prefix = parser::checked_prefix(prefix)?;
    Ok(match parsed {
        Parsed::None => ParsedCommand::None,
        Parsed::Plan(names) => ParsedCommand::Plan(names),
        Parsed::Apply(names) => ParsedCommand::Apply(names),
        Parsed::Help => ParsedCommand::Help,
        Parsed::Invalid(problem) => ParsedCommand::Invalid(InvalidCommand {
            reply: reply::problem(prefix, &problem.message, reply::Switches::ALL),
            input: problem.input,
        }),
    })
}

/// Authorize a comment command with the shared rules ([`crate::authorize`]); every
/// denial carries a reason a person understands.
///
/// In order, so the most useful reason wins:
/// 1. deleted comments, system comments and the integration's own comments
///    (`bot-user-id`, compared case-insensitively) run nothing, silently;
///    so do comments without a command;
/// 2. edited comments run nothing unless `run-edited-comments`;
/// 3. a command that does not parse is denied with the parse reply; `help` is allowed
///    and answered with the help for the current switches;
/// 4. only open pull requests run commands;
/// 5. plan needs “Allow triggering plan-only runs from the PR comments” or the apply
///    switch; apply needs “Allow triggering plan & apply runs from the PR comments”;
/// 6. named workspaces must exist, have “Enabled VCS-driven dry runs” and track the
///    pull request's target branch (a workspace without a branch tracks the default
///    branch; when that is unknown too, it is eligible); without names, all such
///    workspaces are targeted, and none is a denial;
/// 7. `allowed-users`, when set, must name the author by id or unique name;
/// 8. for apply, `apply_problem`: the platform's own rules (`require-approval-for-apply`,
///    `require-mergeable-for-apply`), asked only after every check above passed; its
///    errors are errors, so the host may retry;
/// 9. last, the comment is claimed in `host`'s storage
///    (`command:{repo}:{pr}:{thread}:{comment}`, [`CLAIM_TTL_SECONDS`]): a comment that
///    already ran, however often it is delivered, is denied silently.
///
/// Denials a person should hear about carry a Markdown reply; silent ones do not.
pub fn authorize_command<P: Provider + ?Sized>(
    host: &(impl Host + ?Sized),
    settings: &CommandSettings,
    workspaces: &[Workspace],
    request: &CommandRequest,
    apply_problem: impl Fn() -> Result<Option<String>>,
) -> Result<CommandVerdict> {
    let steps = Steps::<P, _, _> {
        host,
        request,
        apply_problem,
        provider: std::marker::PhantomData,
    };
    let workspaces: Vec<kit_authorize::Workspace<'_>> =
        workspaces.iter().map(workspace_view).collect();
    let verdict = kit_authorize::authorize(
        &steps,
        &settings_view(settings),
        &workspaces,
        &request_view(request),
    )?;
    Ok(CommandVerdict {
        name: verdict.name,
        workspaces: verdict.workspaces,
        decision: match verdict.decision {
            kit_authorize::Decision::Allowed => Decision::Allowed,
            kit_authorize::Decision::Denied => Decision::Denied,
        },
        reason: verdict.reason,
        reply: verdict.reply,
    })
}

/// Where a provider's `apply_problem` starts: `Ok(None)` when neither optional apply rule
/// (`require-approval-for-apply`, `require-mergeable-for-apply`) is on, so there is
/// nothing to ask the platform; `Err(reason)` when one is on but the integration has no
/// API connection to check it (the reason is the denial); else the connection to ask with.
pub fn apply_rules_connection<'c>(
    settings: &CommandSettings,
    connection: Option<&'c Connection>,
) -> std::result::Result<Option<&'c Connection>, String> {
    if !settings.require_approval_for_apply && !settings.require_mergeable_for_apply {
        return Ok(None);
    }
    let Some(connection) = connection else {
        let rule = if settings.require_approval_for_apply {
            "approved"
        } else {
            "mergeable"
        };
        return Err(format!(
            "apply needs the pull request to be {rule}, and the integration has no API \
             connection to check that; ask an administrator to connect the integration"
        ));
    };
    Ok(Some(connection))
}

/// The provider's part of a decision: the claim in storage and the apply rules.
struct Steps<'a, P: ?Sized, H: ?Sized, F> {
    host: &'a H,
    request: &'a CommandRequest,
    apply_problem: F,
    provider: std::marker::PhantomData<P>,
}

impl<P, H, F> kit_authorize::ProviderSteps for Steps<'_, P, H, F>
where
    P: Provider + ?Sized,
    H: Host + ?Sized,
    F: Fn() -> Result<Option<String>>,
{
    type Error = ProviderError;
    const PLATFORM: &'static str = P::DISPLAY_NAME;

    fn claim(&self, command: &str) -> Result<bool> {
        let comment = &self.request.comment;
        let key = kit_authorize::claim_key(
            &self.request.pull_request_ref.repository.id,
            self.request.pull_request_ref.number,
            comment.thread_id.as_deref(),
            &comment.id,
        );
        Ok(self.host.compare_and_swap(
            &key,
            None,
            Some(command.as_bytes()),
            Some(CLAIM_TTL_SECONDS),
        )?)
    }

    fn apply_problem(&self) -> Result<Option<String>> {
        (self.apply_problem)()
    }
}

/// The command settings as the rules read them.
pub fn settings_view(settings: &CommandSettings) -> kit_authorize::Settings<'_> {
    kit_authorize::Settings {
        prefix: &settings.prefix,
        allow_plan: settings.allow_plan,
        allow_apply: settings.allow_apply,
        bot_user_id: settings.bot_user_id.as_deref(),
        run_edited_comments: settings.run_edited_comments,
        allowed_users: &settings.allowed_users,
    }
}

/// A user as the rules read them.
pub fn person_view(user: &User) -> kit_authorize::Person<'_> {
    kit_authorize::Person {
        id: &user.id,
        unique_name: user.unique_name.as_deref(),
        display_name: user.display_name.as_deref(),
    }
}

/// A command request as the rules read it.
pub fn request_view(request: &CommandRequest) -> kit_authorize::Request<'_> {
    let comment = &request.comment;
    kit_authorize::Request {
        body: &comment.body,
        state: match comment.state {
            CommentState::Created => kit_authorize::CommentState::Created,
            CommentState::Edited => kit_authorize::CommentState::Edited,
            CommentState::Deleted => kit_authorize::CommentState::Deleted,
        },
        system: comment.system,
        author: person_view(&comment.author),
        status: match request.pull_request.status {
            PullRequestStatus::Open => kit_authorize::PullRequestStatus::Open,
            PullRequestStatus::Merged => kit_authorize::PullRequestStatus::Merged,
            PullRequestStatus::Closed => kit_authorize::PullRequestStatus::Closed,
        },
        target_branch: &request.pull_request.target_branch,
        default_branch: request
            .pull_request_ref
            .repository
            .default_branch
            .as_deref(),
    }
}

/// A workspace as the rules read it.
pub fn workspace_view(workspace: &Workspace) -> kit_authorize::Workspace<'_> {
    kit_authorize::Workspace {
        name: &workspace.name,
        vcs_dry_runs: workspace.vcs_dry_runs,
        branch: workspace.branch.as_deref(),
    }
}

/// `P`'s webhook bodies, for the checks of [`parse_delivery_body`].
pub fn body_rules<P: Provider + ?Sized>() -> json::BodyRules {
    json::BodyRules {
        max_bytes: P::MAX_DELIVERY_BYTES,
        sender: P::DISPLAY_NAME,
        delivery: P::DELIVERY,
        payloads: P::PAYLOADS,
    }
}

/// Check a delivery body's size ([`Provider::MAX_DELIVERY_BYTES`]) and nesting without
/// recursion, then parse it; failures are `invalid-payload`, worded for `P`.
// Inlined like `json::parse_body`, so the JSON parser is instantiated once, in the provider.
#[inline]
pub fn parse_delivery_body<P: Provider + ?Sized>(body: &[u8]) -> Result<Value> {
    Ok(json::parse_body(body, &body_rules::<P>())?)
}

/// The rest of a validation report's summary, after the sentence naming the identity:
/// what the credential can do (or that only the identity was checked), each missing or
/// unknown capability with its check's message, and what to do. `label` names a
/// capability ("read code"); `unknown` words an unknown one from its label and message.
pub fn summarize_checks(
    mut text: String,
    checks: &[CapabilityCheck],
    ok: bool,
    label: impl Fn(Capability) -> &'static str,
    unknown: impl Fn(&str, &str) -> String,
) -> String {
    let granted: Vec<&str> = checks
        .iter()
        .filter(|c| matches!(c.outcome, CheckOutcome::Granted))
        .map(|c| label(c.capability))
        .collect();
    if checks.is_empty() {
        text.push_str(" No capability was required, so only the identity was checked.");
    } else if !granted.is_empty() {
        text.push_str(&format!(" It can {}.", granted.join(", ")));
    }
    for check in checks {
        match check.outcome {
            CheckOutcome::Missing => text.push_str(&format!(
                " Missing ({}): {}.",
                label(check.capability),
                check.message
            )),
            CheckOutcome::Unknown => {
                text.push_str(&unknown(label(check.capability), &check.message));
            }
            CheckOutcome::Granted => {}
        }
    }
    if ok {
        text.push_str(" Everything required is granted.");
    } else {
        text.push_str(" Fix what is listed, then validate again.");
    }
    text
}
