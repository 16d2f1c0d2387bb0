//! The demo's second act: the same `serve` process, a second integration of another
//! provider. A GitHub pull request is opened with a 3 MB description (larger than
//! anything Azure DevOps sends, well within GitHub's 25 MB), its delivery is signed with
//! the integration's secret and posted to the same server; the plan's comment and
//! statuses land on the GitHub stand-in, and GitHub's redelivery is a duplicate.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};
use sha2::Sha256;
use standin::github::{GitHubOptions, GitHubStandIn, GitHubUser, PullSeed};
use vcs_host::IntegrationConfig;
use vcs_host_serve::{Activity, RunningServer};

use super::describe;

/// The integration of the act.
pub const INTEGRATION: &str = "octo-terraform";
/// Its token on the GitHub stand-in.
const TOKEN: &str = "ghp_demo0000000000000000000000000000";
/// The secret its deliveries are signed with.
const SECRET: &str = "demo-github-webhook-secret";
/// The repository and pull request of the act.
const REPOSITORY: &str = "Acme-Corp/infra-live";
const NUMBER: u64 = 7;
/// The size the pull request's description is padded to.
const BODY_BYTES: usize = 3 * 1024 * 1024;

/// The GitHub stand-in and the integration served against it.
pub struct GitHubAct {
    standin: GitHubStandIn,
    /// The integration, for the server's list.
    pub integration: IntegrationConfig,
}

impl GitHubAct {
    /// Start the GitHub stand-in and make the integration.
    pub fn start() -> anyhow::Result<Self> {
        let standin = GitHubStandIn::start(GitHubOptions {
            tokens: vec![TOKEN.into()],
            identity: GitHubUser::new(41_898_282, "scalr-integration[bot]"),
            ..GitHubOptions::default()
        })?;
        let mut integration = IntegrationConfig::parse(&format!(
            "id = \"{INTEGRATION}\"\n[vcs]\nprovider = \"github\"\nbase_url = \"{}\"\n\
             [auth]\nmethod = \"pat\"\ntoken = \"{TOKEN}\"\n[webhook]\nsecret = \"{SECRET}\"\n\
             [comments]\nenabled = true\n[commands]\nallow_plan = true\n\
             bot_user_id = \"41898282\"\n[[workspaces]]\nname = \"prod\"\nvcs_dry_runs = true\n",
            standin.base_url()
        ))?;
        integration.host.http.allow_loopback = true;
        Ok(Self {
            standin,
            integration,
        })
    }

    /// Play the act on `running`; the checks it proves.
    pub fn play(
        &self,
        running: &RunningServer,
        log: &Arc<Mutex<Vec<Activity>>>,
        agent: &ureq::Agent,
        out: &mut dyn Write,
    ) -> anyhow::Result<Vec<(String, bool)>> {
        let OpenedDelivery {
            body,
            head_sha,
            author,
            sender,
        } = opened_delivery()?;
        self.standin.seed_pull(PullSeed {
            repository: REPOSITORY.into(),
            number: NUMBER,
            title: "Add an S3 bucket for access logs".into(),
            author,
            head_ref: "feature/access-logs".into(),
            head_sha: head_sha.clone(),
            base_ref: "main".into(),
            base_sha: "e5bd3914e2e596debea16f433f57875b5b90bcd6".into(),
        });
        writeln!(
            out,
            "════ The same serve process, a second provider: GitHub (stand-in on {}) ════\n",
            self.standin.base_url()
        )?;
        let url = running.webhook_url(INTEGRATION);
        let delivery_id = "f0c1a6e2-9b1d-11ef-8c5a-0a1b2c3d4e5f";
        let mut answers = Vec::new();
        for (file, what) in [
            (
                "github-pr-opened-3mb",
                format!(
                    "{sender} opens pull request #{NUMBER} on {REPOSITORY} with a {} MB description",
                    BODY_BYTES / (1024 * 1024)
                ),
            ),
            (
                "github-pr-opened-redelivered",
                "GitHub redelivers the same delivery".to_string(),
            ),
        ] {
            let response = agent
                .post(&url)
                .header("Content-Type", "application/json")
                .header("User-Agent", "GitHub-Hookshot/demo")
                .header("X-GitHub-Event", "pull_request")
                .header("X-GitHub-Delivery", delivery_id)
                .header("X-Hub-Signature-256", &signature(&body)?)
                .send(&body[..])
                .with_context(|| format!("POST {url}"))?;
            let status = response.status().as_u16();
            let answer: Value = response
                .into_body()
                .with_config()
                .limit(1 << 20)
                .read_to_string()
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or(Value::Null);
            if !running.server().wait_idle(Duration::from_secs(60))? {
                bail!("the queue did not drain within 60 s after {file}");
            }
            let activities = std::mem::take(&mut *log.lock().map_err(|_| anyhow::anyhow!("log"))?);
            let outcome = answer
                .get("outcome")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            writeln!(out, "── {file} ({} bytes)\n   {what}", body.len())?;
            writeln!(
                out,
                "   → POST /webhooks/{INTEGRATION}  ← {status} {outcome}{}",
                answer
                    .get("detail")
                    .and_then(Value::as_str)
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )?;
            for activity in &activities {
                if let Some(line) = describe(activity) {
                    writeln!(out, "     {line}")?;
                }
            }
            writeln!(out)?;
            answers.push((status, outcome, activities));
        }

        let comments = self.standin.comments(REPOSITORY, NUMBER);
        let statuses = self.standin.statuses(REPOSITORY, &head_sha);
        writeln!(out, "GitHub pull request #{NUMBER} as a person sees it:")?;
        for comment in &comments {
            let first = comment
                .body
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            writeln!(
                out,
                "  @{} commented ({} characters): {first}",
                comment.author.login,
                comment.body.chars().count()
            )?;
        }
        for status in &statuses {
            writeln!(
                out,
                "  status {}: {} ({})",
                status.context, status.state, status.description
            )?;
        }
        writeln!(out)?;

        let first = answers.first();
        let queued_plan = first.is_some_and(|(status, outcome, activities)| {
            *status == 202
                && outcome == "queued"
                && activities
                    .iter()
                    .any(|a| matches!(a, Activity::JobDone { .. }))
        });
        let states: Vec<&str> = statuses.iter().map(|s| s.state.as_str()).collect();
        Ok(vec![
            (
                format!(
                    "one serve process serves two providers: the {} MB GitHub delivery for {INTEGRATION} \
                     is accepted (202) by the same server as the Azure DevOps one, and its plan runs",
                    BODY_BYTES / (1024 * 1024)
                ),
                queued_plan,
            ),
            (
                "GitHub gets exactly one plan comment from the integration's identity, and \
                 statuses pending then success"
                    .to_string(),
                comments.len() == 1
                    && comments
                        .iter()
                        .all(|c| c.author.login == "scalr-integration[bot]")
                    && states.first() == Some(&"pending")
                    && states.last() == Some(&"success"),
            ),
            (
                "GitHub's redelivery of the same delivery is a duplicate (200) and posts nothing"
                    .to_string(),
                answers
                    .get(1)
                    .is_some_and(|(status, outcome, _)| *status == 200 && outcome == "duplicate"),
            ),
        ])
    }

    /// Stop the stand-in.
    pub fn stop(&self) {
        self.standin.stop();
    }
}

/// The act's delivery and the facts the stand-in and the narration take from it.
struct OpenedDelivery {
    body: Vec<u8>,
    head_sha: String,
    /// The pull request's author, as the stand-in's pull request has it.
    author: GitHubUser,
    /// Who opened it: the delivery's `sender`, whom the job names.
    sender: String,
}

/// The recorded `pull_request` `opened` delivery of the GitHub scenario, with its
/// description padded to [`BODY_BYTES`].
fn opened_delivery() -> anyhow::Result<OpenedDelivery> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/github-story/deliveries/02-pr-opened.json");
    let recorded: Value = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
    )?;
    let mut event = recorded
        .get("body")
        .cloned()
        .context("the recorded delivery has no body")?;
    let head_sha = event
        .pointer("/pull_request/head/sha")
        .and_then(Value::as_str)
        .context("the recorded pull request has no head")?
        .to_owned();
    let author = GitHubUser::new(
        event
            .pointer("/pull_request/user/id")
            .and_then(Value::as_u64)
            .context("the recorded pull request has no author id")?,
        event
            .pointer("/pull_request/user/login")
            .and_then(Value::as_str)
            .context("the recorded pull request has no author login")?,
    );
    let sender = event
        .pointer("/sender/login")
        .and_then(Value::as_str)
        .context("the recorded delivery has no sender")?
        .to_owned();
    let mut description = String::from("Adds an S3 bucket for access logs.\n\n");
    let line = "- the bucket policy denies unencrypted uploads and keeps 90 days of logs\n";
    while description.len() + line.len() < BODY_BYTES {
        description.push_str(line);
    }
    if let Some(pull) = event.get_mut("pull_request").and_then(Value::as_object_mut) {
        pull.insert("body".into(), json!(description));
        pull.insert("number".into(), json!(NUMBER));
    }
    if let Some(map) = event.as_object_mut() {
        map.insert("number".into(), json!(NUMBER));
    }
    Ok(OpenedDelivery {
        body: serde_json::to_vec(&event)?,
        head_sha,
        author,
        sender,
    })
}

/// `sha256=` and the HMAC-SHA256 of `body` under [`SECRET`], as GitHub signs.
fn signature(body: &[u8]) -> anyhow::Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot key the signature: {e}"))?;
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    Ok(format!(
        "sha256={}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}
