//! `host-harness demo`: the seed's story end to end, over real HTTP on loopback.
//!
//! It starts the Azure DevOps stand-in (`standin::azure_devops`) and `serve`,
//! then plays a scenario directory (the one `replay` takes): before each delivery it
//! makes the stand-in's world match it (the pull request exists, its head moved, the
//! person's comment is in its thread), POSTs the delivery to `serve`, waits for the
//! queue to drain, and prints what happened. A `.toml` step is an administrator
//! changing the integration's switches. At the end it prints the pull request's
//! threads and statuses as a person would see them, and checks the story's facts.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use serde_json::Value;

mod github;

use standin::azure_devops::{
    CommentRecord, PullRequestSeed, StandIn, StandInIdentity, StandInOptions, ThreadRecord,
};
use vcs_host::storage::MemoryStorage;
use vcs_host::{HostConfig, IntegrationConfig, RecordedDelivery, Runtime};
use vcs_host_serve::{
    Activity, ProviderSet, RecordedExecutor, ServeSettings, Server, ServerOptions,
};

/// The personal access token the demo's integration uses against the stand-in.
const DEMO_PAT: &str = "demo-pat-not-a-secret";

/// The scenario the demo plays by default: the seed's story.
pub fn default_scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-story")
}

/// What the demo saw, and whether the story's facts held.
#[derive(Debug, Default)]
pub struct DemoOutcome {
    /// Each step: the file, the HTTP status answered, and what happened afterwards.
    pub steps: Vec<DemoStep>,
    /// The story's facts and whether each held.
    pub checks: Vec<(String, bool)>,
}

/// One delivery of the story.
#[derive(Debug, Clone)]
pub struct DemoStep {
    /// The delivery file.
    pub file: String,
    /// The HTTP status `serve` answered.
    pub status: u16,
    /// The answer's outcome.
    pub outcome: String,
    /// Everything that happened for it, in order.
    pub activities: Vec<Activity>,
}

impl DemoOutcome {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|(_, ok)| *ok)
    }

    fn step(&self, prefix: &str) -> Option<&DemoStep> {
        self.steps.iter().find(|s| s.file.starts_with(prefix))
    }
}

/// Play `scenario` end to end, writing the timeline to `out`.
pub fn run(scenario: &Path, host: HostConfig, out: &mut dyn Write) -> anyhow::Result<DemoOutcome> {
    let config_text = std::fs::read_to_string(scenario.join("config.toml"))
        .with_context(|| format!("cannot read {}/config.toml", scenario.display()))?;
    let first = IntegrationConfig::parse(&config_text)?;
    let bot = first
        .commands
        .bot_user_id
        .clone()
        .unwrap_or_else(|| StandInIdentity::bot().id);

    let standin = StandIn::start(StandInOptions {
        organization: organization_of(&first)?,
        personal_access_tokens: vec![DEMO_PAT.into()],
        identity: StandInIdentity::new(&bot, "Scalr Integration", "scalr@contoso.example"),
        ..StandInOptions::default()
    })?;
    let integration = demo_config(&config_text, standin.base_url())?;

    let github = github::GitHubAct::start()?;

    // One server, one engine, the providers of this workspace by name: each integration
    // names its own ([vcs] provider), each provider is compiled once.
    let runtime = Arc::new(Runtime::new(host)?);
    let server = Server::new(ServerOptions {
        providers: ProviderSet::new(runtime).with_components_dir(vcs_guests::COMPONENTS_DIR),
        storage: Arc::new(MemoryStorage::new()),
        executor: Arc::new(RecordedExecutor::builtin()?),
        integrations: vec![integration.clone(), github.integration.clone()],
        settings: ServeSettings {
            workers: 2,
            retry_base_ms: 200,
            ..ServeSettings::default()
        },
    })?;
    let log: Arc<Mutex<Vec<Activity>>> = Arc::default();
    let sink = log.clone();
    server.observe(Arc::new(move |a: &Activity| {
        if let Ok(mut log) = sink.lock() {
            log.push(a.clone());
        }
    }));
    let running = server.start("127.0.0.1:0".parse()?)?;
    let url = running.webhook_url(&integration.id);
    writeln!(
        out,
        "Azure DevOps stand-in on {}; serve on http://{}\n",
        standin.base_url(),
        running.addr()
    )?;

    let mut steps: Vec<PathBuf> = std::fs::read_dir(scenario.join("deliveries"))
        .with_context(|| format!("cannot read {}/deliveries", scenario.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    steps.sort();

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut outcome = DemoOutcome::default();
    // (thread, the recording's comment id) → the stand-in's comment id.
    let mut comment_ids: HashMap<(u64, u64), u64> = HashMap::new();
    for step in &steps {
        let name = step
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if step.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(step)?;
            let note = text
                .lines()
                .next()
                .map(|l| l.trim_start_matches('#').trim().to_string())
                .unwrap_or_default();
            running
                .server()
                .set_integration(demo_config(&text, standin.base_url())?)?;
            writeln!(
                out,
                "── {name}\n   ⚙ the administrator changes the integration: {note}\n"
            )?;
            continue;
        }
        let delivery = RecordedDelivery::from_file_bytes(&std::fs::read(step)?);
        // A forged delivery describes nothing that happened.
        let world = if authentic(&delivery, &integration) {
            update_world(&standin, &delivery.body, &bot, &mut comment_ids)?
        } else {
            Some("someone without the hook's credentials posts a delivery".into())
        };
        let mut request = agent.post(&url);
        for (header, value) in &delivery.headers {
            request = request.header(header, value);
        }
        let response = request
            .send(&delivery.body[..])
            .with_context(|| format!("POST {url}"))?;
        let status = response.status().as_u16();
        let answer: Value = response
            .into_body()
            .read_to_string()
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null);
        if !running.server().wait_idle(Duration::from_secs(60))? {
            bail!("the queue did not drain within 60 s after {name}");
        }
        let activities = std::mem::take(&mut *log.lock().map_err(|_| anyhow::anyhow!("log"))?);
        writeln!(out, "── {name}")?;
        if let Some(world) = world {
            writeln!(out, "   {world}")?;
        }
        writeln!(
            out,
            "   → POST /webhooks/{}  ← {status} {}{}",
            integration.id,
            str_at(&answer, &["outcome"]).unwrap_or("?"),
            answer
                .get("detail")
                .unwrap_or(&Value::Null)
                .as_str()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        )?;
        for activity in &activities {
            if let Some(line) = describe(activity) {
                writeln!(out, "     {line}")?;
            }
        }
        writeln!(out)?;
        outcome.steps.push(DemoStep {
            file: name,
            status,
            outcome: str_at(&answer, &["outcome"]).unwrap_or("?").to_string(),
            activities,
        });
    }

    print_pull_requests(&standin, out)?;
    outcome.checks = check_story(&outcome, &standin, running.server());
    outcome
        .checks
        .extend(github.play(&running, &log, &agent, out)?);
    writeln!(out, "Checks:")?;
    for (check, ok) in &outcome.checks {
        writeln!(out, "  [{}] {check}", if *ok { "ok" } else { "FAILED" })?;
    }
    running.stop()?;
    standin.stop();
    github.stop();
    Ok(outcome)
}

fn organization_of(config: &IntegrationConfig) -> anyhow::Result<String> {
    let url = url::Url::parse(&config.vcs.base_url)?;
    url.path_segments()
        .and_then(|mut s| s.next().map(str::to_string))
        .filter(|s| !s.is_empty())
        .context("the scenario's base_url names no organization")
}

/// The scenario's integration, pointed at the stand-in with a token and loopback egress.
fn demo_config(text: &str, base_url: &str) -> anyhow::Result<IntegrationConfig> {
    let mut config = IntegrationConfig::parse(&format!(
        "{text}\n[auth]\nmethod = \"pat\"\ntoken = \"{DEMO_PAT}\"\n"
    ))?;
    config.vcs.base_url = base_url.to_string();
    config.host.http.allow_loopback = true;
    Ok(config)
}

/// Whether the delivery carries the integration's Basic credentials (or none are set).
fn authentic(delivery: &RecordedDelivery, config: &IntegrationConfig) -> bool {
    use base64::Engine as _;
    let Some(webhook) = &config.webhook else {
        return true;
    };
    let (Some(user), Some(password)) = (&webhook.username, &webhook.password) else {
        return true;
    };
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    delivery
        .headers
        .iter()
        .any(|(name, value)| name.eq_ignore_ascii_case("authorization") && value == &expected)
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, k| v.get(*k))?.as_str()
}

fn identity_of(value: &Value) -> StandInIdentity {
    StandInIdentity::new(
        value["id"].as_str().unwrap_or(""),
        value["displayName"].as_str().unwrap_or("someone"),
        value["uniqueName"].as_str().unwrap_or(""),
    )
}

/// Make the stand-in's world what the delivery reports; a line for the timeline.
fn update_world(
    standin: &StandIn,
    body: &[u8],
    bot: &str,
    comment_ids: &mut HashMap<(u64, u64), u64>,
) -> anyhow::Result<Option<String>> {
    let Ok(event) = serde_json::from_slice::<Value>(body) else {
        return Ok(None);
    };
    let kind = str_at(&event, &["eventType"]).unwrap_or("");
    let resource = event.get("resource").unwrap_or(&Value::Null);
    let pr = if kind.contains("comment") {
        &resource["pullRequest"]
    } else {
        resource
    };
    let (Some(number), Some(repository_id)) = (
        pr["pullRequestId"].as_u64(),
        str_at(pr, &["repository", "id"]),
    ) else {
        return Ok(None);
    };
    let head = str_at(pr, &["lastMergeSourceCommit", "commitId"]).unwrap_or("");
    let existing = standin.pull_request(repository_id, number);
    let mut line = None;
    match existing {
        None => {
            standin.seed_pull_request(PullRequestSeed {
                project: str_at(pr, &["repository", "project", "name"])
                    .unwrap_or("project")
                    .into(),
                project_id: str_at(pr, &["repository", "project", "id"]).map(str::to_string),
                repository_id: repository_id.into(),
                repository_name: str_at(pr, &["repository", "name"])
                    .unwrap_or("repository")
                    .into(),
                number,
                title: pr["title"].as_str().unwrap_or("").into(),
                source_branch: pr["sourceRefName"]
                    .as_str()
                    .unwrap_or("")
                    .trim_start_matches("refs/heads/")
                    .into(),
                target_branch: pr["targetRefName"]
                    .as_str()
                    .unwrap_or("")
                    .trim_start_matches("refs/heads/")
                    .into(),
                head_sha: head.into(),
                base_sha: str_at(pr, &["lastMergeTargetCommit", "commitId"])
                    .unwrap_or("")
                    .into(),
                author: identity_of(&pr["createdBy"]),
                files: vec![standin::azure_devops::FileChange::edit("main.tf")],
            })?;
            line = Some(format!(
                "{} opens pull request #{number} \"{}\"",
                str_at(pr, &["createdBy", "displayName"]).unwrap_or("someone"),
                pr["title"].as_str().unwrap_or("")
            ));
        }
        Some(known) => {
            if !kind.contains("comment") && !head.is_empty() && known.head_sha != head {
                standin.set_head(
                    repository_id,
                    number,
                    head,
                    vec![standin::azure_devops::FileChange::edit("main.tf")],
                )?;
                line = Some(format!(
                    "new commits on the source branch: head {}",
                    &head[..7.min(head.len())]
                ));
            }
            if let Some(status) = resource["status"]
                .as_str()
                .filter(|_| !kind.contains("comment"))
            {
                let status = status.to_string();
                if status != known.status {
                    let mut state = standin.state();
                    if let Some(record) = state.pull_request_mut(repository_id, number) {
                        record.status = status.clone();
                    }
                    line = Some(format!("the pull request is now {status}"));
                }
            }
        }
    }
    if kind.contains("comment") {
        let comment = &resource["comment"];
        let thread_id = str_at(comment, &["_links", "threads", "href"])
            .and_then(|h| h.rsplit('/').next())
            .and_then(|id| id.parse::<u64>().ok());
        let (Some(thread_id), Some(comment_id)) = (thread_id, comment["id"].as_u64()) else {
            return Ok(line);
        };
        let author = identity_of(&comment["author"]);
        let content = comment["content"].as_str().unwrap_or("").to_string();
        let by_bot = author.id.eq_ignore_ascii_case(bot);
        let who = author.display_name.clone();
        let mut state = standin.state();
        let Some(record) = state.pull_request_mut(repository_id, number) else {
            return Ok(line);
        };
        let now = SystemTime::now();
        let new_comment = CommentRecord {
            id: comment_id,
            parent_comment_id: comment["parentCommentId"].as_u64().unwrap_or(0),
            author,
            content: content.clone(),
            comment_type: "text".into(),
            published: now,
            last_updated: now,
            last_content_updated: now,
            edits: 0,
        };
        let verb = match record.threads.iter_mut().find(|t| t.id == thread_id) {
            None => {
                comment_ids.insert((thread_id, comment_id), comment_id);
                record.threads.push(ThreadRecord {
                    id: thread_id,
                    status: "active".into(),
                    comments: vec![new_comment],
                    published: now,
                    last_updated: now,
                });
                "comments"
            }
            Some(thread) => {
                let known = comment_ids.get(&(thread_id, comment_id)).copied();
                match known.and_then(|id| thread.comments.iter_mut().find(|c| c.id == id)) {
                    Some(existing) if existing.content == content => "redelivers",
                    Some(existing) => {
                        existing.content = content.clone();
                        existing.edits += 1;
                        "edits a comment to"
                    }
                    None => {
                        // The stand-in numbers the integration's replies itself, so the
                        // recording's id may be taken already.
                        let taken = thread.comments.iter().any(|c| c.id == comment_id);
                        let id = if taken {
                            thread.comments.iter().map(|c| c.id).max().unwrap_or(0) + 1
                        } else {
                            comment_id
                        };
                        comment_ids.insert((thread_id, comment_id), id);
                        thread.comments.push(CommentRecord { id, ..new_comment });
                        "comments"
                    }
                }
            }
        };
        let who = if by_bot {
            format!("{who} (the integration itself)")
        } else {
            who
        };
        line = Some(format!("{who} {verb}: {}", content.trim()));
    }
    Ok(line)
}

/// One timeline line per activity worth showing.
fn describe(activity: &Activity) -> Option<String> {
    Some(match activity {
        Activity::Answered { queued, .. } if queued.is_empty() => return None,
        Activity::Answered { queued, .. } => format!("queued {} job(s)", queued.len()),
        Activity::JobStarted { job } => format!("▶ {job}"),
        Activity::RunFinished { summary, .. } => format!("  executor: {summary}"),
        Activity::Published {
            action, comments, ..
        } => format!("  PR comment {action} (comment {})", comments.join(", ")),
        Activity::StatusSet { context, state, .. } => format!("  status {context}: {state}"),
        Activity::Replied { .. } => "  replied in the comment's thread".to_string(),
        Activity::Note { message, .. } => format!("  note: {message}"),
        Activity::JobDone { .. } => "  ✓ done".to_string(),
        Activity::JobRetrying { error, .. } => format!("  retrying: {error}"),
        Activity::JobDead { error, .. } => format!("  ✗ gave up: {error}"),
    })
}

fn print_pull_requests(standin: &StandIn, out: &mut dyn Write) -> anyhow::Result<()> {
    let state = standin.state();
    for pr in state.pull_requests() {
        writeln!(
            out,
            "════ Pull request #{} \"{}\" ({}) as a person sees it ════\n",
            pr.number, pr.title, pr.status
        )?;
        for thread in &pr.threads {
            writeln!(out, "┌ thread {} ({})", thread.id, thread.status)?;
            for comment in &thread.comments {
                let edited = if comment.edits > 0 {
                    format!(", edited {}×", comment.edits)
                } else {
                    String::new()
                };
                writeln!(out, "│ {} wrote{edited}:", comment.author.display_name)?;
                for line in comment.content.lines() {
                    writeln!(out, "│   {line}")?;
                }
                writeln!(out, "│")?;
            }
            writeln!(out, "└")?;
        }
        writeln!(out, "Statuses (latest per context):")?;
        for status in pr.latest_statuses() {
            writeln!(
                out,
                "  {}/{}: {} — {}",
                status.context_genre.as_deref().unwrap_or(""),
                status.context_name,
                status.state,
                status.description.as_deref().unwrap_or("")
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The story's facts (the seed story; other scenarios check what applies).
fn check_story(outcome: &DemoOutcome, standin: &StandIn, server: &Server) -> Vec<(String, bool)> {
    let mut checks = vec![];
    let mut check = |name: &str, ok: bool| checks.push((name.to_string(), ok));
    let ran = |step: Option<&DemoStep>, kind: &str| {
        step.is_some_and(|s| {
            s.activities
                .iter()
                .any(|a| matches!(a, Activity::JobStarted { job } if job.starts_with(kind)))
                && s.activities
                    .iter()
                    .any(|a| matches!(a, Activity::JobDone { .. }))
        })
    };
    let replied = |step: Option<&DemoStep>| {
        step.is_some_and(|s| {
            s.activities
                .iter()
                .any(|a| matches!(a, Activity::Replied { .. }))
        })
    };
    let status = |step: Option<&DemoStep>| step.map_or(0, |s| s.status);
    if outcome.step("00").is_some() {
        check(
            "a forged delivery is refused with 401",
            status(outcome.step("00")) == 401,
        );
    }
    if outcome.step("01").is_some() {
        let s = outcome.step("01");
        check(
            "PR opened → a plan runs, its comment is posted, statuses go pending then succeeded",
            status(s) == 202
                && ran(s, "plan")
                && s.is_some_and(|s| {
                    let states: Vec<&str> = s
                        .activities
                        .iter()
                        .filter_map(|a| match a {
                            Activity::StatusSet { state, .. } => Some(state.as_str()),
                            _ => None,
                        })
                        .collect();
                    states.first() == Some(&"pending") && states.last() == Some(&"succeeded")
                })
                && s.is_some_and(|s| {
                    s.activities.iter().any(
                        |a| matches!(a, Activity::Published { action, .. } if action == "created"),
                    )
                }),
        );
    }
    if outcome.step("03").is_some() {
        check(
            "`/scalr plan` by a reviewer → allowed, a plan runs",
            ran(outcome.step("03"), "plan"),
        );
    }
    if outcome.step("04").is_some() {
        let s = outcome.step("04");
        check(
            "`/scalr apply` under plan-only → denied, nothing runs, the reason is replied",
            !ran(s, "apply") && replied(s),
        );
    }
    if outcome.step("06").is_some() {
        check(
            "`/scalr apply` after the switch → allowed, the apply runs",
            ran(outcome.step("06"), "apply"),
        );
    }
    if outcome.step("07").is_some() {
        check(
            "the integration's own comment runs nothing",
            status(outcome.step("07")) == 200 && !ran(outcome.step("07"), "apply"),
        );
    }
    if outcome.step("08").is_some() {
        check(
            "a redelivered comment is a duplicate and runs nothing",
            outcome.step("08").is_some_and(|s| s.outcome == "duplicate"),
        );
    }
    if outcome.step("09").is_some() {
        check(
            "an edited comment runs nothing (and says why)",
            !ran(outcome.step("09"), "apply") && replied(outcome.step("09")),
        );
    }
    if outcome.step("10").is_some() {
        check(
            "a plan on a workspace without VCS-driven dry runs is denied",
            !ran(outcome.step("10"), "plan") && replied(outcome.step("10")),
        );
    }
    if outcome.step("11").is_some() {
        check(
            "the completed pull request is acknowledged and runs nothing",
            status(outcome.step("11")) == 200,
        );
    }
    // One sticky comment carries the plan and then the apply summary.
    let state = standin.state();
    let bot = state.identity().id.clone();
    let own: Vec<&CommentRecord> = state
        .pull_requests()
        .flat_map(|pr| pr.threads.iter())
        .filter(|t| t.comments.first().is_some_and(|c| c.author.id == bot))
        .filter_map(|t| t.comments.first())
        .filter(|c| c.content.contains("<!-- scalr:run"))
        .collect();
    check(
        "one PR comment holds the result, updated in place (plan, then the apply summary)",
        matches!(own.as_slice(), [only] if only.edits >= 1 && only.content.to_lowercase().contains("apply")),
    );
    check(
        "nothing left in the queue, nothing given up",
        server.is_idle().unwrap_or(false)
            && server.queue().dead_letters().is_ok_and(|d| d.is_empty()),
    );
    checks
}
