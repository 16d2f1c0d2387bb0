//! Scenario directories: a recorded sequence of deliveries with its config, an optional
//! HTTP cassette and the expected output lines. `host-harness replay` and the
//! conformance suite run them.
//!
//! ```text
//! DIR/config.toml        the integration (IntegrationConfig)
//! DIR/deliveries/*       deliveries in file-name order; a `.toml` file switches the
//!                        settings from that point on (the store carries over)
//! DIR/cassette.json      optional: answers for the provider's outbound HTTP
//! DIR/expected.jsonl     one contract line per delivery
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use serde_json::Value;

use vcs_host::http::{HttpBackend, HttpError, InboundResponse, OutboundRequest, Replayer};
use vcs_host::json::outcome_line;
use vcs_host::storage::MemoryStorage;
use vcs_host::{CallContext, DeliveryPipeline, IntegrationConfig, Provider, RecordedDelivery};

/// A scenario directory, loaded.
#[derive(Debug)]
pub struct Scenario {
    /// The directory.
    pub dir: PathBuf,
    config: IntegrationConfig,
    steps: Vec<PathBuf>,
}

/// The output of a run: one line per delivery, with the file it came from.
#[derive(Debug)]
pub struct ScenarioRun {
    /// Delivery files, in order (config switches excluded).
    pub files: Vec<PathBuf>,
    /// The contract line printed for each.
    pub lines: Vec<String>,
}

/// Without a cassette, a scenario must not reach the network.
struct NoNetwork;

impl HttpBackend for NoNetwork {
    fn send(&self, request: &OutboundRequest) -> Result<InboundResponse, HttpError> {
        Err(HttpError::NoRecording(format!(
            "{} {}: this scenario has no cassette.json, so it cannot answer outbound requests",
            request.method.as_str(),
            request.url
        )))
    }
}

impl Scenario {
    /// Read `DIR/config.toml` and list `DIR/deliveries`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let config = IntegrationConfig::load(&dir.join("config.toml"))?;
        let mut steps: Vec<PathBuf> = std::fs::read_dir(dir.join("deliveries"))
            .with_context(|| format!("cannot read {}/deliveries", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        steps.sort();
        if !steps
            .iter()
            .any(|s| s.extension().is_none_or(|e| e != "toml"))
        {
            bail!("{}/deliveries holds no delivery files", dir.display());
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            steps,
        })
    }

    /// The scenario's starting config.
    pub fn config(&self) -> &IntegrationConfig {
        &self.config
    }

    /// Run every delivery through `provider` against a fresh in-memory store.
    pub fn run(&self, provider: &Provider) -> anyhow::Result<ScenarioRun> {
        let cassette = self.dir.join("cassette.json");
        let http: Arc<dyn HttpBackend> = if cassette.exists() {
            Arc::new(Replayer::from_file(&cassette, self.config.secrets())?)
        } else {
            Arc::new(NoNetwork)
        };
        let context = CallContext::new(
            self.config.id.clone(),
            http,
            Arc::new(MemoryStorage::default()),
        );
        let mut pipeline = DeliveryPipeline::new(provider, &self.config)?;
        let mut run = ScenarioRun {
            files: vec![],
            lines: vec![],
        };
        for step in &self.steps {
            if step.extension().is_some_and(|e| e == "toml") {
                pipeline = DeliveryPipeline::new(provider, &IntegrationConfig::load(step)?)?;
                continue;
            }
            let bytes = std::fs::read(step)
                .with_context(|| format!("cannot read delivery {}", step.display()))?;
            let line = outcome_line(
                &pipeline.process(&context, &RecordedDelivery::from_file_bytes(&bytes)),
            );
            run.files.push(step.clone());
            run.lines.push(line.to_string());
        }
        Ok(run)
    }

    /// The expected lines from `expected.jsonl`.
    pub fn expected(&self) -> anyhow::Result<Vec<String>> {
        let path = self.dir.join("expected.jsonl");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (replay with --bless to create it)",
                path.display()
            )
        })?;
        Ok(text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect())
    }
}

/// A readable line-by-line diff: for each differing line, the delivery file, the
/// expected and the actual line, and the first differing JSON fields. Empty when equal.
pub fn diff_lines(expected: &[String], run: &ScenarioRun) -> String {
    let mut out = String::new();
    for i in 0..expected.len().max(run.lines.len()) {
        let want = expected.get(i).map(String::as_str);
        let got = run.lines.get(i).map(String::as_str);
        if want == got {
            continue;
        }
        let name = run
            .files
            .get(i)
            .map_or("(no delivery)".to_string(), |f| f.display().to_string());
        out.push_str(&format!("line {} ({name}):\n", i + 1));
        out.push_str(&format!("  - expected: {}\n", want.unwrap_or("(nothing)")));
        out.push_str(&format!("  + actual:   {}\n", got.unwrap_or("(nothing)")));
        if let (Some(w), Some(g)) = (want, got)
            && let (Ok(w), Ok(g)) = (
                serde_json::from_str::<Value>(w),
                serde_json::from_str::<Value>(g),
            )
        {
            let mut paths = Vec::new();
            json_differences("", &w, &g, &mut paths);
            for path in paths.iter().take(10) {
                out.push_str(&format!("    differs at {path}\n"));
            }
        }
    }
    out
}

fn json_differences(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for key in w.keys().chain(g.keys().filter(|k| !w.contains_key(*k))) {
                let null = Value::Null;
                json_differences(
                    &format!("{path}/{key}"),
                    w.get(key).unwrap_or(&null),
                    g.get(key).unwrap_or(&null),
                    out,
                );
            }
        }
        (w, g) if w != g => out.push(format!(
            "{}: expected {w}, got {g}",
            if path.is_empty() { "/" } else { path }
        )),
        _ => {}
    }
}
