//! The provider-neutral conformance suite: what every `vcs:provider` component must do,
//! whatever VCS it speaks. `host-harness conformance WASM [--fixtures DIR]` runs it with
//! the production linker and limits and prints a pass/fail table.
//!
//! Four groups of checks:
//! - **load**: a component exporting `vcs:provider/*@0.1.x`, importing nothing ungranted;
//! - **robustness**: every export called with hostile input (random bytes, huge strings,
//!   deep JSON, empty records, no network) answers a value or a typed error, never a
//!   trap, within the time and memory limits;
//! - **behaviour**: the provider's own fixture pack replayed and compared;
//! - **invariants**: rendered parts fit the limit the provider declares, a redelivered
//!   event is a duplicate, the integration's own comment never authorizes a command,
//!   secrets never appear in outputs.
//!
//! A fixture pack is a directory with a `pack.toml`:
//!
//! ```toml
//! scenarios = ["scenarios/seed-story"]      # replay scenario directories
//! commands = "commands/parse-cases.json"    # {"prefix", "cases": [{"body", "want", ...}]}
//! reports = ["reports/plan.json"]           # run reports to render
//! ```
//!
//! Paths are relative to the pack directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use vcs_host::http::{HttpBackend, HttpError, InboundResponse, OutboundRequest};
use vcs_host::json::{RunReportJson, outcome_line};
use vcs_host::storage::MemoryStorage;
use vcs_host::types::{
    BasicCredentials, Capability, ChangeSource, CommandSettings, CommentLimits, Connection,
    Credential, Delivery, IntegrationSettings, LengthUnit, OauthApp, ParsedCommand, PublishOptions,
    PullRequestRef, RenderOptions, Repository, RunKind, RunReport, RunStatus, WebhookAuth,
    WorkspaceReport,
};
use vcs_host::{CallContext, CallError, DeliveryPipeline, Provider, RecordedDelivery, Runtime};

pub use self::scenario::{Scenario, ScenarioRun, diff_lines};

mod scenario;

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Check {
    /// `load`, `robustness`, `behaviour` or `invariant`.
    pub group: &'static str,
    /// What was checked.
    pub name: String,
    /// `None` when it passed; the reason a person can act on otherwise.
    pub failure: Option<String>,
}

impl Check {
    fn pass(group: &'static str, name: impl Into<String>) -> Self {
        Self {
            group,
            name: name.into(),
            failure: None,
        }
    }
    fn fail(group: &'static str, name: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            group,
            name: name.into(),
            failure: Some(why.into()),
        }
    }
    fn from(group: &'static str, name: impl Into<String>, result: Result<(), String>) -> Self {
        Self {
            group,
            name: name.into(),
            failure: result.err(),
        }
    }
}

/// The suite's result.
#[derive(Debug, Default)]
pub struct Report {
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.failure.is_none())
    }

    /// The pass/fail table as text.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            match &check.failure {
                None => out.push_str(&format!("PASS  {:<11} {}\n", check.group, check.name)),
                Some(why) => {
                    out.push_str(&format!("FAIL  {:<11} {}\n", check.group, check.name));
                    for line in why.lines().take(40) {
                        out.push_str(&format!("        {line}\n"));
                    }
                }
            }
        }
        let failed = self.checks.iter().filter(|c| c.failure.is_some()).count();
        out.push_str(&format!(
            "{} passed, {} failed\n",
            self.checks.len() - failed,
            failed
        ));
        out
    }
}

/// `pack.toml`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Pack {
    scenarios: Vec<PathBuf>,
    commands: Option<PathBuf>,
    reports: Vec<PathBuf>,
}

/// Answers every outbound request with a denial: robustness calls get no network.
struct NoNetwork;

impl HttpBackend for NoNetwork {
    fn send(&self, request: &OutboundRequest) -> Result<InboundResponse, HttpError> {
        Err(HttpError::Denied(format!(
            "conformance: no network for {}",
            request.url
        )))
    }
}

/// Secret values planted in calls; none may come back in any output.
const SECRET_TOKEN: &str = "conformance-token-7f3a9c1e5b";
const SECRET_PASSWORD: &str = "conformance-password-4d8e2a6c";
const SECRET_CLIENT: &str = "conformance-client-secret-9b1f";

fn context(integration: &str) -> CallContext {
    CallContext::new(
        integration,
        Arc::new(NoNetwork),
        Arc::new(MemoryStorage::default()),
    )
}

fn connection() -> Connection {
    Connection {
        base_url: "https://vcs.invalid/org/".into(),
        credential: Credential::PersonalAccessToken(SECRET_TOKEN.into()),
        options: vec![],
    }
}

fn repository() -> Repository {
    Repository {
        id: "r".into(),
        name: "repo".into(),
        project: Some("project".into()),
        project_id: Some("p".into()),
        organization: "org".into(),
        web_url: None,
        clone_url: None,
        api_url: "https://vcs.invalid/org/".into(),
        default_branch: None,
    }
}

fn settings(prefix: &str, bot: Option<String>) -> IntegrationSettings {
    IntegrationSettings {
        id: "conformance".into(),
        base_url: "https://vcs.invalid/org/".into(),
        commands: CommandSettings {
            prefix: prefix.into(),
            allow_plan: true,
            allow_apply: true,
            bot_user_id: bot,
            run_edited_comments: false,
            allowed_users: vec![],
            require_approval_for_apply: false,
            require_mergeable_for_apply: false,
        },
        workspaces: vec![],
        options: vec![],
    }
}

/// A deterministic generator, so a failure reproduces.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() % 256) as u8).collect()
    }
}

/// Hostile delivery bodies.
fn hostile_bodies() -> Vec<(String, Vec<u8>)> {
    let mut rng = Lcg(0xc0f0);
    let mut bodies = vec![
        ("empty body".to_string(), vec![]),
        ("1 MB of one letter".to_string(), vec![b'a'; 1 << 20]),
        (
            "JSON nested 20,000 deep".to_string(),
            format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)).into_bytes(),
        ),
        (
            "JSON object nested 5,000 deep".to_string(),
            format!("{}{}", r#"{"a":"#.repeat(5_000), "}".repeat(5_000)).into_bytes(),
        ),
        ("JSON null".to_string(), b"null".to_vec()),
        ("empty JSON object".to_string(), b"{}".to_vec()),
        (
            "a 2 MB JSON string".to_string(),
            format!("\"{}\"", "x".repeat(2 << 20)).into_bytes(),
        ),
        (
            "invalid UTF-8".to_string(),
            vec![0xff, 0xfe, 0xfd, b'{', b'}'],
        ),
    ];
    for i in 0..24 {
        let len = (rng.next() % 4096) as usize;
        bodies.push((format!("random bytes #{i}"), rng.bytes(len)));
    }
    bodies
}

fn trap_text(error: &CallError) -> String {
    format!("the call did not return: {error}")
}

/// Run the whole suite against the component at `wasm`.
pub fn run(runtime: &Runtime, wasm: &Path, fixtures: Option<&Path>) -> Report {
    let mut report = Report::default();
    let provider = match load_checks(runtime, wasm, &mut report) {
        Some(provider) => provider,
        None => return report,
    };
    robustness(&provider, &mut report);
    let limits = provider.comment_limits(&context("conformance")).ok();
    invariants(&provider, limits.as_ref(), &mut report);
    if let Some(dir) = fixtures {
        behaviour(&provider, dir, limits.as_ref(), &mut report);
    }
    report
}

fn load_checks(runtime: &Runtime, wasm: &Path, report: &mut Report) -> Option<Provider> {
    match runtime.inspect(wasm) {
        Err(e) => {
            report.checks.push(Check::fail(
                "load",
                "the file is a component",
                e.to_string(),
            ));
            return None;
        }
        Ok((info, _)) => {
            report
                .checks
                .push(Check::pass("load", "the file is a component"));
            let refused: Vec<&str> = info
                .imports
                .iter()
                .filter(|i| i.granted.is_none())
                .map(|i| i.name.as_str())
                .collect();
            report.checks.push(Check::from(
                "load",
                "imports only the world and std's WASI",
                if refused.is_empty() {
                    Ok(())
                } else {
                    Err(format!("ungranted imports: {}", refused.join(", ")))
                },
            ));
        }
    }
    match runtime.load(wasm) {
        Ok(provider) => {
            report.checks.push(Check::pass(
                "load",
                format!(
                    "exports {} and links against the host",
                    provider
                        .component()
                        .package
                        .as_deref()
                        .unwrap_or("vcs:provider")
                ),
            ));
            Some(provider)
        }
        Err(e) => {
            report.checks.push(Check::fail(
                "load",
                "exports vcs:provider@0.1.x and links",
                e.to_string(),
            ));
            None
        }
    }
}

/// Turn a call that did not return into a failure; the provider's own answer is the
/// caller's.
fn survive<R>(call: Result<R, CallError>) -> Result<R, String> {
    call.map_err(|e| trap_text(&e))
}

fn robustness(provider: &Provider, report: &mut Report) {
    let settings = settings("/scalr", None);
    // webhooks.handle-delivery
    let mut failures = Vec::new();
    for (name, body) in hostile_bodies() {
        let delivery = Delivery {
            headers: vec![("Content-Type".into(), "application/json".into())],
            body,
        };
        if let Err(e) = survive(provider.handle_delivery(
            &context("conformance"),
            &settings,
            Some(&connection()),
            &delivery,
        )) {
            // One trap is enough to fail; a looping guest would cost the deadline each time.
            failures.push(format!("{name}: {e}"));
            break;
        }
    }
    report.checks.push(Check::from(
        "robustness",
        "webhooks.handle-delivery survives 32 hostile bodies",
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("\n"))
        },
    ));

    let pr = PullRequestRef {
        repository: repository(),
        number: 1,
    };
    let calls: Vec<(&str, Box<RobustnessCall>)> = vec![
        (
            "webhooks.changed-files without network",
            Box::new(|| {
                survive(provider.changed_files(
                    &context("conformance"),
                    &connection(),
                    &ChangeSource::PullRequest(pr.clone()),
                    Some("\u{0}garbage cursor"),
                ))
                .map(drop)
            }),
        ),
        (
            "auth.verify-webhook with junk headers",
            Box::new(|| {
                let expected = WebhookAuth::Basic(BasicCredentials {
                    username: "u".into(),
                    password: SECRET_PASSWORD.into(),
                });
                let headers = vec![
                    ("Authorization".into(), "Basic !!!\u{0}".into()),
                    ("X-Hub-Signature-256".into(), "sha256=zz".into()),
                ];
                survive(provider.verify_webhook(
                    &context("conformance"),
                    &expected,
                    &headers,
                    &[0xff; 64],
                ))
                .map(drop)
            }),
        ),
        (
            "auth.authorization-url with an empty app",
            Box::new(|| {
                let app = OauthApp {
                    client_id: String::new(),
                    client_secret: String::new(),
                    redirect_uri: String::new(),
                    tenant: None,
                    scopes: vec![],
                    options: vec![],
                };
                survive(provider.authorization_url(&context("conformance"), &app)).map(drop)
            }),
        ),
        (
            "auth.exchange-code with an unknown state",
            Box::new(|| {
                let app = OauthApp {
                    client_id: "c".into(),
                    client_secret: SECRET_CLIENT.into(),
                    redirect_uri: "https://p.invalid/cb".into(),
                    tenant: Some("t".into()),
                    scopes: vec![],
                    options: vec![],
                };
                survive(provider.exchange_code(
                    &context("conformance"),
                    &app,
                    "code",
                    "never-issued",
                ))
                .map(drop)
            }),
        ),
        (
            "auth.validate without network",
            Box::new(|| {
                survive(provider.validate(
                    &context("conformance"),
                    &connection(),
                    &[Capability::ReadCode, Capability::WriteComments],
                ))
                .map(drop)
            }),
        ),
        (
            "comments.render of an empty report and a tiny limit",
            Box::new(|| {
                let empty = RunReport {
                    kind: RunKind::Plan,
                    run_url: Some("javascript:alert(1)".into()),
                    run_id: None,
                    head_sha: None,
                    workspaces: vec![],
                };
                survive(provider.render(
                    &context("conformance"),
                    &empty,
                    &RenderOptions {
                        max_length: Some(1),
                        commands: None,
                    },
                ))
                .map(drop)
            }),
        ),
        (
            "comments.publish and set-status without network",
            Box::new(|| {
                let report = sample_report(1_000);
                let options = PublishOptions {
                    comments_enabled: true,
                    apply_summary: true,
                    new_comment_per_head: false,
                    render: RenderOptions {
                        max_length: None,
                        commands: None,
                    },
                    options: vec![],
                };
                survive(provider.publish(
                    &context("conformance"),
                    &connection(),
                    &pr,
                    &report,
                    &options,
                ))
                .map(drop)
            }),
        ),
        (
            "commands.parse of hostile strings",
            Box::new(|| {
                let mut rng = Lcg(0xbeef);
                for i in 0..40 {
                    let len = (rng.next() % 2048) as usize;
                    let body = String::from_utf8_lossy(&rng.bytes(len)).into_owned();
                    let body = if i % 2 == 0 {
                        format!("/scalr {body}")
                    } else {
                        body
                    };
                    // Any answer is fine; only a trap fails.
                    let _answer =
                        survive(provider.parse_command(&context("conformance"), &body, "/scalr"))?;
                }
                survive(provider.parse_command(
                    &context("conformance"),
                    &"/scalr plan -w \"".repeat(10_000),
                    "",
                ))
                .map(drop)
            }),
        ),
    ];
    for (name, call) in calls {
        report.checks.push(Check::from("robustness", name, call()));
    }
}

/// One robustness probe: `Err` with the reason when the provider trapped.
type RobustnessCall<'a> = dyn Fn() -> Result<(), String> + 'a;

fn sample_report(lines: usize) -> RunReport {
    let mut output = String::new();
    for i in 0..lines {
        output.push_str(&format!(
            "  # aws_s3_bucket.b[{i}] will be created\n  + resource \"aws_s3_bucket\" \"b\" {{ bucket = \"`@x` </details> 𝔘 {i}\" }}\n"
        ));
    }
    RunReport {
        kind: RunKind::Plan,
        run_url: Some("https://platform.invalid/runs/1".into()),
        run_id: Some("run-1".into()),
        head_sha: Some("0".repeat(40)),
        workspaces: vec![WorkspaceReport {
            name: "prod ``` </details> @<00000000-0000-0000-0000-000000000000>".into(),
            status: RunStatus::Success,
            add: lines as u32,
            change: 0,
            destroy: 0,
            import: 0,
            output,
        }],
    }
}

/// Length of `text` in the provider's unit.
fn measure(text: &str, unit: LengthUnit) -> usize {
    match unit {
        LengthUnit::Utf16CodeUnits => text.encode_utf16().count(),
        LengthUnit::UnicodeScalars => text.chars().count(),
        LengthUnit::Utf8Bytes => text.len(),
    }
}

fn check_parts_fit(
    provider: &Provider,
    report: &RunReport,
    limits: &CommentLimits,
    max_length: Option<u32>,
) -> Result<usize, String> {
    let options = RenderOptions {
        max_length,
        commands: None,
    };
    let parts = survive(provider.render(&context("conformance"), report, &options))?
        .map_err(|e| format!("render failed: {e:?}"))?;
    let limit = max_length
        .unwrap_or(limits.max_length)
        .min(limits.max_length) as usize;
    for (i, part) in parts.iter().enumerate() {
        let length = measure(part, limits.unit);
        if length > limit {
            return Err(format!(
                "part {} of {} is {length} long; the limit is {limit}",
                i + 1,
                parts.len()
            ));
        }
    }
    if parts.is_empty() {
        return Err("render returned no body at all".into());
    }
    Ok(parts.len())
}

fn invariants(provider: &Provider, limits: Option<&CommentLimits>, report: &mut Report) {
    match limits {
        None => report.checks.push(Check::fail(
            "invariant",
            "comments.limits answers",
            "comments.limits trapped",
        )),
        Some(limits) => {
            let big = sample_report(limits.max_length as usize / 40 + 100);
            let declared =
                check_parts_fit(provider, &big, limits, None).map(|n| format!("{n} parts"));
            report.checks.push(Check::from(
                "invariant",
                format!(
                    "rendered parts fit the declared limit ({} {:?})",
                    limits.max_length, limits.unit
                ),
                declared.map(drop),
            ));
            report.checks.push(Check::from(
                "invariant",
                "rendered parts fit a smaller requested limit (4,000)",
                check_parts_fit(provider, &big, limits, Some(4_000)).map(drop),
            ));
        }
    }
    // Secrets: a wrong webhook password, a token without network, a client secret.
    let mut leaks = Vec::new();
    let expected = WebhookAuth::Basic(BasicCredentials {
        username: "hook".into(),
        password: SECRET_PASSWORD.into(),
    });
    let headers = vec![("Authorization".into(), "Basic aG9vazp3cm9uZw==".into())];
    let mut outputs = Vec::new();
    if let Ok(answer) =
        survive(provider.verify_webhook(&context("conformance"), &expected, &headers, b"{}"))
    {
        outputs.push(format!("{answer:?}"));
    }
    if let Ok(answer) = survive(provider.validate(
        &context("conformance"),
        &connection(),
        &[Capability::ReadCode],
    )) {
        outputs.push(format!("{answer:?}"));
    }
    let app = OauthApp {
        client_id: "c".into(),
        client_secret: SECRET_CLIENT.into(),
        redirect_uri: "https://p.invalid/cb".into(),
        tenant: Some("t".into()),
        scopes: vec![],
        options: vec![],
    };
    if let Ok(answer) = survive(provider.refresh_token(&context("conformance"), &app, SECRET_TOKEN))
    {
        outputs.push(format!("{answer:?}"));
    }
    let pr = PullRequestRef {
        repository: repository(),
        number: 1,
    };
    let options = PublishOptions {
        comments_enabled: true,
        apply_summary: true,
        new_comment_per_head: false,
        render: RenderOptions {
            max_length: None,
            commands: None,
        },
        options: vec![],
    };
    if let Ok(answer) = survive(provider.publish(
        &context("conformance"),
        &connection(),
        &pr,
        &sample_report(3),
        &options,
    )) {
        outputs.push(format!("{answer:?}"));
    }
    for output in &outputs {
        for secret in [SECRET_TOKEN, SECRET_PASSWORD, SECRET_CLIENT] {
            if output.contains(secret) {
                leaks.push(format!(
                    "an answer contains the secret {secret}: {}",
                    clip(output)
                ));
            }
        }
    }
    report.checks.push(Check::from(
        "invariant",
        format!(
            "secrets never appear in outputs ({} answers searched)",
            outputs.len()
        ),
        if leaks.is_empty() {
            Ok(())
        } else {
            Err(leaks.join("\n"))
        },
    ));
}

fn clip(text: &str) -> String {
    text.chars().take(300).collect()
}

fn behaviour(provider: &Provider, dir: &Path, limits: Option<&CommentLimits>, report: &mut Report) {
    let pack: Pack = match std::fs::read_to_string(dir.join("pack.toml"))
        .map_err(|e| e.to_string())
        .and_then(|t| toml::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(pack) => pack,
        Err(e) => {
            report.checks.push(Check::fail(
                "behaviour",
                format!("{}/pack.toml", dir.display()),
                e,
            ));
            return;
        }
    };
    for scenario in &pack.scenarios {
        let path = dir.join(scenario);
        // Named by its folder: packs often reach scenarios through `../`.
        let name = format!(
            "scenario {}",
            scenario.file_name().map_or_else(
                || scenario.display().to_string(),
                |n| n.to_string_lossy().into_owned()
            )
        );
        let result = Scenario::load(&path)
            .and_then(|s| {
                let run = s.run(provider)?;
                Ok((s.expected()?, run))
            })
            .map_err(|e| format!("{e:#}"))
            .and_then(|(expected, run)| {
                let diff = diff_lines(&expected, &run);
                if diff.is_empty() { Ok(run) } else { Err(diff) }
            });
        match result {
            Ok(run) => {
                report.checks.push(Check::pass(
                    "behaviour",
                    format!("{name}: {} deliveries as expected", run.lines.len()),
                ));
                scenario_invariants(provider, &path, &run, report);
            }
            Err(why) => report.checks.push(Check::fail("behaviour", name, why)),
        }
    }
    if let Some(commands) = &pack.commands {
        report.checks.push(Check::from(
            "behaviour",
            format!("command table {}", commands.display()),
            command_table(provider, &dir.join(commands)),
        ));
    }
    for file in &pack.reports {
        let name = format!("report {} renders within the limit", file.display());
        let result = std::fs::read_to_string(dir.join(file))
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<RunReportJson>(&t).map_err(|e| e.to_string()))
            .and_then(|r| match limits {
                Some(limits) => check_parts_fit(provider, &r.into_report(), limits, None).map(drop),
                None => Err("no limits".into()),
            });
        report.checks.push(Check::from("behaviour", name, result));
    }
}

/// From a passing scenario: its first event, delivered twice, is a duplicate; and its
/// first comment command, when written by the integration itself, is not allowed.
fn scenario_invariants(provider: &Provider, dir: &Path, run: &ScenarioRun, report: &mut Report) {
    let Ok(scenario) = Scenario::load(dir) else {
        return;
    };
    let config = scenario.config();
    let events: Vec<(usize, Value)> = run
        .lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| serde_json::from_str::<Value>(l).ok().map(|v| (i, v)))
        .filter(|(_, v)| at(v, "/outcome") == "event")
        .collect();
    let deliver = |file: &Path, bot: Option<String>, ctx: &CallContext| -> Result<Value, String> {
        let bytes = std::fs::read(file).map_err(|e| e.to_string())?;
        let mut config = config.clone();
        if bot.is_some() {
            config.commands.bot_user_id = bot;
        }
        let pipeline = DeliveryPipeline::new(provider, &config).map_err(|e| e.to_string())?;
        Ok(outcome_line(
            &pipeline.process(ctx, &RecordedDelivery::from_file_bytes(&bytes)),
        ))
    };
    if let Some(file) = events.first().and_then(|(i, _)| run.files.get(*i)) {
        let ctx = context(&config.id);
        let result = deliver(file, None, &ctx).and_then(|first| {
            let second = deliver(file, None, &ctx)?;
            if at(&first, "/outcome") == "event" && at(&second, "/outcome") == "duplicate" {
                Ok(())
            } else {
                Err(format!(
                    "delivered twice: first {}, then {}",
                    at(&first, "/outcome"),
                    at(&second, "/outcome")
                ))
            }
        });
        report.checks.push(Check::from(
            "invariant",
            format!("a redelivered event is a duplicate ({})", dir.display()),
            result,
        ));
    }
    let commanded = events
        .iter()
        .find(|(_, v)| at(v, "/event/command/decision") == "allowed");
    if let Some((i, event)) = commanded {
        let author = at(event, "/event/comment/author/id")
            .as_str()
            .map(str::to_string);
        let ctx = context(&config.id);
        let result = run
            .files
            .get(*i)
            .ok_or_else(|| "the scenario lost track of its delivery files".to_string())
            .and_then(|file| deliver(file, author, &ctx))
            .and_then(|line| {
                if at(&line, "/event/command/decision") == "allowed" {
                    Err(format!(
                        "the integration's own comment was allowed: {}",
                        clip(&line.to_string())
                    ))
                } else {
                    Ok(())
                }
            });
        report.checks.push(Check::from(
            "invariant",
            "the integration's own comment never authorizes a command",
            result,
        ));
    } else {
        report.checks.push(Check::pass(
            "invariant",
            format!(
                "NOT EXERCISED: the integration's own comment never authorizes ({} has no allowed command)",
                dir.display()
            ),
        ));
    }
}

fn command_table(provider: &Provider, path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let prefix = at(&doc, "/prefix").as_str().unwrap_or("/scalr").to_string();
    let cases = at(&doc, "/cases")
        .as_array()
        .ok_or("the table has no cases")?;
    let mut failures = Vec::new();
    for case in cases {
        let body = at(case, "/body").as_str().unwrap_or_default();
        let parsed = survive(provider.parse_command(&context("conformance"), body, &prefix))?;
        let names = |v: &Value| -> Vec<String> {
            at(v, "/workspaces")
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|n| n.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let ok = match (at(case, "/want").as_str().unwrap_or_default(), &parsed) {
            ("none", Ok(ParsedCommand::None)) | ("help", Ok(ParsedCommand::Help)) => true,
            ("plan", Ok(ParsedCommand::Plan(got))) | ("apply", Ok(ParsedCommand::Apply(got))) => {
                got == &names(case)
            }
            ("invalid", Ok(ParsedCommand::Invalid(inv))) => inv
                .reply
                .contains(at(case, "/reply_contains").as_str().unwrap_or_default()),
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{body:?}: wanted {}, got {parsed:?}",
                at(case, "/want")
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} bodies differ:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        ))
    }
}

/// The value at a JSON pointer (`/a/b`), `Null` when there is none: reading a contract
/// line never fails.
fn at<'a>(value: &'a Value, pointer: &str) -> &'a Value {
    value.pointer(pointer).unwrap_or(&Value::Null)
}
