//! Shared by the `serve` tests: deliveries made from the seed story's recordings, the
//! stand-in seeded to match, and an HTTP client that times every answer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use standin::azure_devops::{PullRequestSeed, StandIn, StandInIdentity, StandInOptions};

pub const PAT: &str = "serve-test-pat";
pub const REPOSITORY_ID: &str = "0d6e5f4a-3b2c-4d1e-8f9a-7b6c5d4e3f21";
pub const BOT_ID: &str = "9c8b7a65-4321-4fed-ba98-76543210fedc";

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn json_file(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    value.get("body").cloned().unwrap_or(value)
}

/// Deliveries of the seed story's shapes, with fresh ids and pull request numbers.
pub struct Story {
    pub config_text: String,
    pub authorization: String,
    pr_created: Value,
    comment: Value,
    push: Value,
}

impl Story {
    pub fn load() -> Self {
        let seed = workspace().join("examples/seed-story");
        let recorded: Value = serde_json::from_slice(
            &std::fs::read(seed.join("deliveries/01-pr-created.json")).unwrap(),
        )
        .unwrap();
        Self {
            config_text: std::fs::read_to_string(seed.join("config.toml")).unwrap(),
            authorization: recorded["headers"]["Authorization"]
                .as_str()
                .unwrap()
                .to_string(),
            pr_created: recorded["body"].clone(),
            comment: json_file(&seed.join("deliveries/03-reviewer-plans.json")),
            push: json_file(
                &workspace().join("plugin/tests/fixtures/deliveries/push-branch-updated.json"),
            ),
        }
    }

    /// The integration file for `serve`, against the stand-in, with plan and apply allowed.
    pub fn integration_toml(&self, id: &str, base_url: &str) -> String {
        let text = self
            .config_text
            .replace("id = \"contoso-terraform\"", &format!("id = \"{id}\""))
            .replace("https://dev.azure.com/contoso/", base_url)
            .replace("allow_apply = false", "allow_apply = true");
        format!(
            "{text}\n[auth]\nmethod = \"pat\"\ntoken = \"{PAT}\"\n\n[host.http]\nallow_loopback = true\n"
        )
    }

    pub fn pr_created(&self, number: u64, event_id: &str) -> Vec<u8> {
        let mut body = self.pr_created.clone();
        body["id"] = event_id.into();
        body["resource"]["pullRequestId"] = number.into();
        body["resource"]["codeReviewId"] = number.into();
        serde_json::to_vec(&body).unwrap()
    }

    pub fn plan_comment(&self, number: u64, comment_id: u64, event_id: &str) -> Vec<u8> {
        let mut body = self.comment.clone();
        body["id"] = event_id.into();
        body["resource"]["pullRequest"]["pullRequestId"] = number.into();
        body["resource"]["pullRequest"]["codeReviewId"] = number.into();
        body["resource"]["comment"]["id"] = comment_id.into();
        let threads = format!(
            "https://dev.azure.com/contoso/f3d6c2a1-5b7e-4c8d-9a0f-1e2d3c4b5a69/_apis/git/repositories/{REPOSITORY_ID}/pullRequests/{number}/threads/{}",
            5000 + number
        );
        body["resource"]["comment"]["_links"]["threads"]["href"] = threads.into();
        serde_json::to_vec(&body).unwrap()
    }

    pub fn push(&self, event_id: &str) -> Vec<u8> {
        let mut body = self.push.clone();
        body["id"] = event_id.into();
        serde_json::to_vec(&body).unwrap()
    }

    /// A pull request of the story in the stand-in.
    pub fn seed(&self, standin: &StandIn, number: u64) {
        let r = &self.pr_created["resource"];
        standin
            .seed_pull_request(PullRequestSeed {
                project: "Infrastructure".into(),
                project_id: Some("f3d6c2a1-5b7e-4c8d-9a0f-1e2d3c4b5a69".into()),
                repository_id: REPOSITORY_ID.into(),
                repository_name: "terraform-live".into(),
                number,
                title: format!("change {number}"),
                source_branch: "feature/vpc-peering".into(),
                target_branch: "main".into(),
                head_sha: r["lastMergeSourceCommit"]["commitId"]
                    .as_str()
                    .unwrap()
                    .into(),
                base_sha: r["lastMergeTargetCommit"]["commitId"]
                    .as_str()
                    .unwrap()
                    .into(),
                author: StandInIdentity::alice(),
                files: vec![standin::azure_devops::FileChange::edit("main.tf")],
            })
            .unwrap();
    }
}

pub fn start_standin() -> StandIn {
    StandIn::start(StandInOptions {
        personal_access_tokens: vec![PAT.into()],
        identity: StandInIdentity::new(BOT_ID, "Scalr Integration", "scalr@contoso.example"),
        max_logged_requests: 1_000,
        worker_threads: 2,
        ..StandInOptions::default()
    })
    .unwrap()
}

/// A deterministic event id.
pub fn event_id(kind: u8, n: u64) -> String {
    format!("5a1e{kind:04x}-0000-4000-a000-{n:012x}")
}

/// POST a delivery; (status, outcome, elapsed).
pub fn post(
    agent: &ureq::Agent,
    url: &str,
    authorization: &str,
    body: &[u8],
) -> (u16, String, Duration) {
    let started = Instant::now();
    let response = agent
        .post(url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("Authorization", authorization)
        .send(body);
    let elapsed = started.elapsed();
    match response {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.into_body().read_to_string().unwrap_or_default();
            let outcome = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["outcome"].as_str().map(str::to_string))
                .unwrap_or_default();
            (status, outcome, elapsed)
        }
        Err(error) => (0, format!("transport error: {error}"), elapsed),
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// The bot's result threads (the sticky comment) of one pull request.
pub fn result_threads(standin: &StandIn, number: u64) -> usize {
    standin
        .threads(REPOSITORY_ID, number)
        .iter()
        .filter(|t| {
            t.comments
                .first()
                .is_some_and(|c| c.author.id == BOT_ID && c.content.contains("<!-- scalr:run"))
        })
        .count()
}

/// The latest state of each status context of one pull request.
pub fn final_states(standin: &StandIn, number: u64) -> Vec<String> {
    standin
        .pull_request(REPOSITORY_ID, number)
        .map(|pr| {
            pr.latest_statuses()
                .iter()
                .map(|s| s.state.clone())
                .collect()
        })
        .unwrap_or_default()
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
