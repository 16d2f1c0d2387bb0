//! Deciding whether a comment's command may run.
//!
//! Checks run in the order that gives the most useful reason: comments that never run
//! anything (deleted, system, the integration's own), then the parse, edits, the pull
//! request's status, the switches, the workspaces, the optional rules, and last the
//! once-only claim, made only when everything else allowed the command.
//!
//! The two steps that reach the outside world, the platform's optional apply rules
//! (through its REST API) and the claim (in storage), are the provider's: it passes them
//! in as [`ProviderSteps`], with the platform's name for the messages.

use crate::command_parser::{self as parser, Parsed, PrefixError, code};
use crate::reply::{self, APPLY_SWITCH, DRY_RUNS_SWITCH, PLAN_SWITCH, Switches};

/// Most workspace names a reply lists.
const MAX_LISTED_WORKSPACES: usize = 20;

/// The integration's command settings that the decision reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings<'a> {
    /// The command prefix, e.g. `/scalr`.
    pub prefix: &'a str,
    /// Plan-only runs from comments are allowed.
    pub allow_plan: bool,
    /// Plan & apply runs from comments are allowed (implies plan).
    pub allow_apply: bool,
    /// The integration's own identity id: its comments never run anything.
    pub bot_user_id: Option<&'a str>,
    /// Whether an edited comment may run its (new) command.
    pub run_edited_comments: bool,
    /// When not empty, only these user ids or unique names may run commands.
    pub allowed_users: &'a [String],
}

/// A person as the platform names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person<'a> {
    /// Stable identity id.
    pub id: &'a str,
    /// Login or e-mail-like unique name, when the platform says.
    pub unique_name: Option<&'a str>,
    /// The name people see, when the platform says.
    pub display_name: Option<&'a str>,
}

/// What happened to the comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentState {
    /// Newly written.
    Created,
    /// Its text was changed after it was written.
    Edited,
    /// Deleted.
    Deleted,
}

/// Where the pull request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullRequestStatus {
    /// Open (active).
    Open,
    /// Merged (completed).
    Merged,
    /// Closed or abandoned without merging.
    Closed,
}

/// The comment carrying the command, and the pull request it is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The comment text.
    pub body: &'a str,
    /// Created, edited or deleted.
    pub state: CommentState,
    /// Written by the platform itself, not a person.
    pub system: bool,
    /// Who wrote the comment: the one judged, never the pull request's author.
    pub author: Person<'a>,
    /// The pull request's status now.
    pub status: PullRequestStatus,
    /// The branch the pull request targets.
    pub target_branch: &'a str,
    /// The repository's default branch, when known: what a workspace without a branch
    /// tracks.
    pub default_branch: Option<&'a str>,
}

/// A workspace linked to the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workspace<'a> {
    /// The workspace's name on the platform.
    pub name: &'a str,
    /// "VCS-driven dry runs" enabled: comment commands may plan it.
    pub vcs_dry_runs: bool,
    /// The branch it tracks; `None` (or blank) means the repository's default branch.
    pub branch: Option<&'a str>,
}

/// Whether the command may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The command may run.
    Allowed,
    /// The command must not run; the reason says why.
    Denied,
}

/// The decision on one comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `plan`, `apply`, `help` or the unknown word used.
    pub name: String,
    /// Workspaces the command targets (all eligible ones when none was named).
    pub workspaces: Vec<String>,
    /// Allowed or denied.
    pub decision: Decision,
    /// Why, in words a person understands.
    pub reason: String,
    /// Markdown to post back, if anyone should hear about it.
    pub reply: Option<String>,
}

/// The provider's part of a decision: the steps that reach the outside world.
pub trait ProviderSteps {
    /// The provider's error; an unusable prefix is one of them.
    type Error: From<PrefixError>;

    /// The platform, as in "Azure DevOps wrote this comment".
    const PLATFORM: &'static str;

    /// Remember that the comment ran `command`; `false` when it already had. Called at
    /// most once a decision, when every other check allowed the command (or its help).
    fn claim(&self, command: &str) -> Result<bool, Self::Error>;

    /// Why the platform's optional apply rules (approval, mergeability) refuse, if they
    /// do. Called for `apply` only, after the built-in checks passed.
    fn apply_problem(&self) -> Result<Option<String>, Self::Error>;
}

/// Authorize a comment command; every denial carries a reason a person understands.
/// Denials a person should hear about carry a Markdown reply; silent ones do not.
pub fn authorize<P: ProviderSteps>(
    provider: &P,
    settings: &Settings<'_>,
    workspaces: &[Workspace<'_>],
    request: &Request<'_>,
) -> Result<Verdict, P::Error> {
    let prefix = parser::checked_prefix(settings.prefix)?;
    let parsed = parser::parse_body(request.body, prefix)?;
    let verdicts = Verdicts {
        prefix,
        switches: Switches::new(settings.allow_plan, settings.allow_apply),
        platform: P::PLATFORM,
        name: parsed.name().to_string(),
        targets: parsed.targets().to_vec(),
    };
    if request.state == CommentState::Deleted {
        return Ok(verdicts.silent("the comment was deleted; deleted comments run nothing"));
    }
    if request.system {
        return Ok(verdicts.silent(&format!(
            "{} wrote this comment (a system comment), not a person; system comments run nothing",
            P::PLATFORM
        )));
    }
    if is_own_comment(settings, &request.author) {
        return Ok(verdicts.silent(
            "the integration wrote this comment itself; its own comments never run commands",
        ));
    }
    if parsed == Parsed::None {
        return Ok(verdicts.silent(&format!(
            "no line of the comment starts with {}, so it holds no command",
            code(prefix)
        )));
    }
    if request.state == CommentState::Edited && !settings.run_edited_comments {
        return Ok(verdicts.denied(
            "the comment was edited, and edited comments run nothing here; post the command as a new comment",
        ));
    }

    let is_apply = match &parsed {
        Parsed::None => return Ok(verdicts.silent("the comment holds no command")),
        Parsed::Invalid(problem) => {
            return Ok(Verdict {
                name: verdicts.name.clone(),
                workspaces: Vec::new(),
                decision: Decision::Denied,
                reason: problem.message.clone(),
                reply: Some(reply::problem(prefix, &problem.message, verdicts.switches)),
            });
        }
        Parsed::Help => {
            if !provider.claim("help")? {
                return Ok(verdicts.already_ran());
            }
            return Ok(Verdict {
                name: "help".into(),
                workspaces: Vec::new(),
                decision: Decision::Allowed,
                reason: "the comment asks for help".into(),
                reply: Some(reply::help(prefix, verdicts.switches)),
            });
        }
        Parsed::Plan(_) => false,
        Parsed::Apply(_) => true,
    };

    match request.status {
        PullRequestStatus::Open => {}
        PullRequestStatus::Merged => {
            return Ok(verdicts.denied(
                "the pull request is already merged; commands run only on open pull requests",
            ));
        }
        PullRequestStatus::Closed => {
            return Ok(verdicts
                .denied("the pull request is closed; commands run only on open pull requests"));
        }
    }

    if let Some(reason) = switch_problem(verdicts.switches, is_apply) {
        return Ok(verdicts.denied(&reason));
    }

    let targeted = match resolve_workspaces(workspaces, &verdicts.targets, request) {
        Ok(names) => names,
        Err(reason) => return Ok(verdicts.denied(&reason)),
    };

    if !is_allowed_user(settings, &request.author) {
        return Ok(verdicts.denied(&format!(
            "{} is not on the integration's list of users who may run commands",
            code(&person(&request.author))
        )));
    }

    if is_apply && let Some(reason) = provider.apply_problem()? {
        return Ok(verdicts.denied(&reason));
    }

    if !provider.claim(&verdicts.name)? {
        return Ok(verdicts.already_ran());
    }
    let shown: Vec<String> = targeted.iter().map(|name| code(name)).collect();
    Ok(Verdict {
        name: verdicts.name.clone(),
        reason: format!(
            "{} may {} {}",
            code(&person(&request.author)),
            verdicts.name,
            shown.join(", ")
        ),
        workspaces: targeted,
        decision: Decision::Allowed,
        reply: None,
    })
}

/// What every verdict of one comment shares.
struct Verdicts<'a> {
    prefix: &'a str,
    switches: Switches,
    platform: &'static str,
    name: String,
    targets: Vec<String>,
}

impl Verdicts<'_> {
    /// Denied without a reply: nobody asked the integration anything it should answer.
    fn silent(&self, reason: &str) -> Verdict {
        Verdict {
            name: self.name.clone(),
            workspaces: self.targets.clone(),
            decision: Decision::Denied,
            reason: reason.to_string(),
            reply: None,
        }
    }

    /// Denied, with a reply telling the author why and what is allowed.
    fn denied(&self, reason: &str) -> Verdict {
        Verdict {
            reply: Some(reply::denial(
                self.prefix,
                &self.name,
                reason,
                self.switches,
            )),
            ..self.silent(reason)
        }
    }

    /// Denied because an earlier delivery of the same comment ran it: the first one
    /// already answered, so no reply.
    fn already_ran(&self) -> Verdict {
        self.silent(&format!(
            "this comment already ran its command; a comment runs once, even when {} delivers it again",
            self.platform
        ))
    }
}

/// Why the switches refuse the command, if they do.
fn switch_problem(switches: Switches, is_apply: bool) -> Option<String> {
    if is_apply && !switches.apply {
        return Some(format!(
            "“{APPLY_SWITCH}” is turned off for this integration, so comments cannot apply"
        ));
    }
    if !switches.plan {
        return Some(format!(
            "neither “{PLAN_SWITCH}” nor “{APPLY_SWITCH}” is turned on for this integration"
        ));
    }
    None
}

/// A comparable form of an identity id: trimmed, without braces, lower-case.
fn normalized_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_lowercase()
}

/// Whether the integration's own identity wrote the comment.
fn is_own_comment(settings: &Settings<'_>, author: &Person<'_>) -> bool {
    let Some(bot) = settings.bot_user_id.map(normalized_id) else {
        return false;
    };
    !bot.is_empty() && bot == normalized_id(author.id)
}

/// Whether the allowlist, if any, names the author by id or unique name.
fn is_allowed_user(settings: &Settings<'_>, author: &Person<'_>) -> bool {
    if settings.allowed_users.is_empty() {
        return true;
    }
    let id = normalized_id(author.id);
    let unique_name = author.unique_name.map(|name| name.trim().to_lowercase());
    settings.allowed_users.iter().any(|entry| {
        let entry = normalized_id(entry);
        !entry.is_empty() && (entry == id || Some(&entry) == unique_name.as_ref())
    })
}

/// How a person is named in messages.
fn person(user: &Person<'_>) -> String {
    [user.display_name, user.unique_name]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|name| !name.is_empty())
        .unwrap_or(user.id)
        .to_string()
}

/// The storage key that remembers a comment ran: one per comment, whatever its command.
pub fn claim_key(
    repository_id: &str,
    number: u64,
    thread_id: Option<&str>,
    comment_id: &str,
) -> String {
    format!(
        "command:{}:{number}:{}:{comment_id}",
        normalized_id(repository_id),
        thread_id.unwrap_or("-"),
    )
}

/// Branch names compare without `refs/heads/` and case-insensitively, as Azure DevOps
/// treats them (and the same on every platform, so the providers agree).
fn same_branch(a: &str, b: &str) -> bool {
    let plain = |name: &str| name.trim().trim_start_matches("refs/heads/").to_lowercase();
    plain(a) == plain(b)
}

/// Why a workspace does not run for this pull request, if it does not.
fn ineligibility(workspace: &Workspace<'_>, request: &Request<'_>) -> Option<String> {
    if !workspace.vcs_dry_runs {
        return Some(format!(
            "workspace {} does not have “{DRY_RUNS_SWITCH}” turned on",
            code(workspace.name)
        ));
    }
    let target = request.target_branch;
    let tracked = workspace
        .branch
        .filter(|branch| !branch.trim().is_empty())
        .or(request.default_branch);
    match tracked {
        // Nothing says which branch the workspace follows: do not guess it away.
        None => None,
        Some(branch) if same_branch(branch, target) => None,
        Some(branch) => Some(format!(
            "workspace {} tracks branch {}, but this pull request targets {}",
            code(workspace.name),
            code(branch),
            code(target)
        )),
    }
}

/// The workspaces the command runs on, or why there are none.
fn resolve_workspaces(
    workspaces: &[Workspace<'_>],
    targets: &[String],
    request: &Request<'_>,
) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let mut chosen: Vec<String> = Vec::new();
    if targets.is_empty() {
        for workspace in workspaces {
            match ineligibility(workspace, request) {
                None => push_unique(&mut chosen, workspace.name),
                Some(problem) => problems.push(problem),
            }
        }
        if chosen.is_empty() {
            if workspaces.is_empty() {
                return Err("no workspace is linked to this repository".into());
            }
            return Err(format!(
                "no workspace runs for this pull request: {}",
                problems.join("; ")
            ));
        }
        return Ok(chosen);
    }
    for target in targets {
        let named: Vec<&Workspace<'_>> = workspaces.iter().filter(|w| w.name == target).collect();
        if named.is_empty() {
            problems.push(unknown_workspace(workspaces, target));
            continue;
        }
        // Names may repeat (one per environment): one eligible entry is enough.
        let reasons: Vec<String> = named
            .iter()
            .filter_map(|workspace| ineligibility(workspace, request))
            .collect();
        if reasons.len() < named.len() {
            push_unique(&mut chosen, target);
        } else {
            problems.extend(reasons.into_iter().next());
        }
    }
    if problems.is_empty() {
        Ok(chosen)
    } else {
        Err(problems.join("; "))
    }
}

/// Why a named workspace is unknown, with the known names.
fn unknown_workspace(workspaces: &[Workspace<'_>], target: &str) -> String {
    let mut known: Vec<String> = Vec::new();
    for workspace in workspaces {
        push_unique(&mut known, workspace.name);
    }
    if known.is_empty() {
        return format!(
            "there is no workspace {} (no workspace is linked to this repository)",
            code(target)
        );
    }
    let hint = known
        .iter()
        .find(|name| name.to_lowercase() == target.to_lowercase())
        .map(|name| format!(" (names are case-sensitive: did you mean {}?)", code(name)))
        .unwrap_or_default();
    let mut listed: Vec<String> = known
        .iter()
        .take(MAX_LISTED_WORKSPACES)
        .map(|name| code(name))
        .collect();
    if known.len() > MAX_LISTED_WORKSPACES {
        listed.push(format!("and {} more", known.len() - MAX_LISTED_WORKSPACES));
    }
    format!(
        "there is no workspace {} linked to this repository{hint}; known workspaces: {}",
        code(target),
        listed.join(", ")
    )
}

fn push_unique(names: &mut Vec<String>, name: &str) {
    if !names.iter().any(|known| known == name) {
        names.push(name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};

    /// Steps that record what the decision asked for.
    #[derive(Default)]
    struct FakeSteps {
        claimed: RefCell<Vec<String>>,
        already_claimed: bool,
        apply_checks: Cell<u32>,
        apply_problem: Option<String>,
        fail: bool,
    }

    #[derive(Debug, PartialEq)]
    enum FakeError {
        Prefix(String),
        Steps,
    }

    impl From<PrefixError> for FakeError {
        fn from(error: PrefixError) -> Self {
            FakeError::Prefix(error.0)
        }
    }

    impl ProviderSteps for FakeSteps {
        type Error = FakeError;
        const PLATFORM: &'static str = "Example Git";

        fn claim(&self, command: &str) -> Result<bool, FakeError> {
            if self.fail {
                return Err(FakeError::Steps);
            }
            self.claimed.borrow_mut().push(command.to_string());
            Ok(!self.already_claimed)
        }

        fn apply_problem(&self) -> Result<Option<String>, FakeError> {
            self.apply_checks.set(self.apply_checks.get() + 1);
            if self.fail {
                return Err(FakeError::Steps);
            }
            Ok(self.apply_problem.clone())
        }
    }

    const NO_USERS: &[String] = &[];

    fn settings() -> Settings<'static> {
        Settings {
            prefix: "/scalr",
            allow_plan: true,
            allow_apply: true,
            bot_user_id: Some("{BOT-1}"),
            run_edited_comments: false,
            allowed_users: NO_USERS,
        }
    }

    fn request(body: &str) -> Request<'_> {
        Request {
            body,
            state: CommentState::Created,
            system: false,
            author: Person {
                id: "user-1",
                unique_name: Some("ana@example.com"),
                display_name: Some(" "),
            },
            status: PullRequestStatus::Open,
            target_branch: "main",
            default_branch: Some("main"),
        }
    }

    fn workspace<'a>(name: &'a str, vcs_dry_runs: bool, branch: Option<&'a str>) -> Workspace<'a> {
        Workspace {
            name,
            vcs_dry_runs,
            branch,
        }
    }

    fn workspaces() -> Vec<Workspace<'static>> {
        vec![
            workspace("prod", true, Some("refs/heads/Main")),
            workspace("default", true, Some(" ")),
            workspace("staging", true, Some("develop")),
            workspace("legacy", false, None),
        ]
    }

    fn decide(steps: &FakeSteps, settings: &Settings<'_>, request: &Request<'_>) -> Verdict {
        authorize(steps, settings, &workspaces(), request).unwrap()
    }

    #[test]
    fn an_allowed_command_is_claimed_once_and_names_its_author_and_workspaces() {
        let steps = FakeSteps::default();
        let verdict = decide(&steps, &settings(), &request("/scalr plan"));
        assert_eq!(
            verdict,
            Verdict {
                name: "plan".into(),
                workspaces: vec!["prod".into(), "default".into()],
                decision: Decision::Allowed,
                reason: "`ana@example.com` may plan `prod`, `default`".into(),
                reply: None,
            }
        );
        assert_eq!(*steps.claimed.borrow(), ["plan"]);
        assert_eq!(steps.apply_checks.get(), 0, "plans skip the apply rules");
    }

    #[test]
    fn the_platform_is_named_in_its_messages() {
        let steps = FakeSteps::default();
        let mut system = request("/scalr plan");
        system.system = true;
        let verdict = decide(&steps, &settings(), &system);
        assert_eq!(verdict.decision, Decision::Denied);
        assert!(
            verdict.reason.starts_with("Example Git wrote this comment"),
            "{verdict:?}"
        );
        let again = FakeSteps {
            already_claimed: true,
            ..FakeSteps::default()
        };
        let verdict = decide(&again, &settings(), &request("/scalr plan"));
        assert!(
            verdict
                .reason
                .ends_with("even when Example Git delivers it again"),
            "{verdict:?}"
        );
        assert_eq!(verdict.reply, None);
    }

    #[test]
    fn the_apply_rules_run_last_before_the_claim() {
        let refused = FakeSteps {
            apply_problem: Some("not approved".into()),
            ..FakeSteps::default()
        };
        let verdict = decide(&refused, &settings(), &request("/scalr apply -w prod"));
        assert_eq!(verdict.reason, "not approved");
        assert!(verdict.reply.unwrap().contains("not approved"));
        assert!(
            refused.claimed.borrow().is_empty(),
            "a denial claims nothing"
        );
        // Earlier reasons win: the rules are not asked about an unknown workspace.
        let verdict = decide(&refused, &settings(), &request("/scalr apply -w nope"));
        assert!(verdict.reason.contains("there is no workspace `nope`"));
        assert_eq!(refused.apply_checks.get(), 1);
    }

    #[test]
    fn errors_of_the_steps_and_the_prefix_are_returned() {
        let failing = FakeSteps {
            fail: true,
            ..FakeSteps::default()
        };
        let result = authorize(
            &failing,
            &settings(),
            &workspaces(),
            &request("/scalr apply"),
        );
        assert_eq!(result, Err(FakeError::Steps));
        let result = authorize(
            &failing,
            &settings(),
            &workspaces(),
            &request("/scalr help"),
        );
        assert_eq!(result, Err(FakeError::Steps));
        let blank = Settings {
            prefix: " ",
            ..settings()
        };
        let result = authorize(&failing, &blank, &workspaces(), &request("/scalr plan"));
        assert!(matches!(result, Err(FakeError::Prefix(m)) if m.contains("empty")));
    }

    #[test]
    fn identities_compare_trimmed_without_braces_and_case() {
        let steps = FakeSteps::default();
        let mut own = request("/scalr plan");
        own.author.id = " bot-1 ";
        let verdict = decide(&steps, &settings(), &own);
        assert!(verdict.reason.contains("its own comments never run"));

        let allowed = ["{USER-1}".to_string()];
        let listed = Settings {
            allowed_users: &allowed,
            ..settings()
        };
        assert_eq!(
            decide(&steps, &listed, &request("/scalr plan")).decision,
            Decision::Allowed
        );
        let by_name = [" Ana@Example.com ".to_string()];
        let listed = Settings {
            allowed_users: &by_name,
            ..settings()
        };
        assert_eq!(
            decide(&steps, &listed, &request("/scalr plan")).decision,
            Decision::Allowed
        );
        let others = ["someone-else".to_string()];
        let listed = Settings {
            allowed_users: &others,
            ..settings()
        };
        let verdict = decide(&steps, &listed, &request("/scalr plan"));
        assert_eq!(
            verdict.reason,
            "`ana@example.com` is not on the integration's list of users who may run commands"
        );
    }

    #[test]
    fn named_workspaces_must_exist_run_dry_runs_and_track_the_target_branch() {
        let steps = FakeSteps::default();
        let cases = [
            (
                "-w staging",
                "tracks branch `develop`, but this pull request targets `main`",
            ),
            (
                "-w legacy",
                "does not have “Enabled VCS-driven dry runs” turned on",
            ),
            (
                "-w Prod",
                "(names are case-sensitive: did you mean `prod`?)",
            ),
        ];
        for (flags, fragment) in cases {
            let verdict = decide(
                &steps,
                &settings(),
                &request(&format!("/scalr plan {flags}")),
            );
            assert_eq!(verdict.decision, Decision::Denied, "{flags}");
            assert!(verdict.reason.contains(fragment), "{flags}: {verdict:?}");
        }
        // A name that repeats needs one eligible entry; without a default branch known, a
        // workspace without a branch is eligible.
        let mut both = workspaces();
        both.push(workspace("staging", true, None));
        let mut unknown_default = request("/scalr plan -w staging");
        unknown_default.default_branch = None;
        let verdict = authorize(&steps, &settings(), &both, &unknown_default).unwrap();
        assert_eq!(verdict.workspaces, ["staging"]);
        assert_eq!(verdict.decision, Decision::Allowed);
    }

    #[test]
    fn unknown_workspaces_list_at_most_twenty_known_names() {
        let names: Vec<String> = (0..25).map(|i| format!("w{i}")).collect();
        let many: Vec<Workspace<'_>> = names.iter().map(|n| workspace(n, true, None)).collect();
        let steps = FakeSteps::default();
        let verdict = authorize(&steps, &settings(), &many, &request("/scalr plan -w x")).unwrap();
        assert!(
            verdict.reason.ends_with("`w18`, `w19`, and 5 more"),
            "{verdict:?}"
        );
        let verdict = authorize(&steps, &settings(), &[], &request("/scalr plan")).unwrap();
        assert_eq!(verdict.reason, "no workspace is linked to this repository");
    }

    #[test]
    fn claim_keys_name_the_comment() {
        assert_eq!(
            claim_key(" {ABC} ", 42, Some("7"), "1"),
            "command:abc:42:7:1"
        );
        assert_eq!(claim_key("123456", 42, None, "9"), "command:123456:42:-:9");
    }
}
