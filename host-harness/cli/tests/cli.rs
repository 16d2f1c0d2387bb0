//! The CLI contract of `host-harness`, run as a user would run it.

// A failing test is the point: tests may unwrap, expect, panic and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Output};

fn host_harness(args: &[&str]) -> Output {
    let cache = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_host-harness"))
        .args(args)
        // Keep the test's compiled-component cache out of the user's home.
        .env("XDG_CACHE_HOME", cache.path())
        .output()
        .expect("run host-harness")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_documents_every_verb() {
    let output = host_harness(&["--help"]);
    assert!(output.status.success());
    let text = stdout(&output);
    for verb in ["inspect", "webhook", "replay", "render", "auth"] {
        assert!(text.contains(verb), "--help lacks {verb}:\n{text}");
    }
}

#[test]
fn inspect_accepts_the_built_provider() {
    let output = host_harness(&["inspect"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("package    vcs:provider@0.1.0"), "{text}");
    for iface in ["auth", "webhooks", "comments", "commands"] {
        assert!(
            text.contains(&format!("vcs:provider/{iface}@0.1.0")),
            "{text}"
        );
    }
    assert!(text.contains("verdict    accepted"), "{text}");
    assert!(!text.contains("REFUSED"), "{text}");
}

#[test]
fn inspect_json_is_machine_readable() {
    let output = host_harness(&["inspect", "--json", vcs_guests::AZURE_DEVOPS_PROVIDER]);
    assert!(output.status.success(), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(value["package"], "vcs:provider@0.1.0");
    assert_eq!(value["accepted"], true);
    assert!(value["size_bytes"].as_u64().unwrap() > 1000);
    assert!(
        value["imports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| !i["granted"].is_null())
    );
}

#[test]
fn inspect_explains_files_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("module.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    let output = host_harness(&["inspect", module.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("core WebAssembly module, not a component"),
        "{}",
        stderr(&output)
    );

    let output = host_harness(&["inspect", "/nonexistent/provider.wasm"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot read component /nonexistent/provider.wasm"),
        "{}",
        stderr(&output)
    );
}

fn scenario() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-story")
}

#[test]
fn replay_of_the_seed_story_matches_and_is_deterministic() {
    let dir = scenario();
    let first = host_harness(&["replay", dir.to_str().unwrap()]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("matches (11 deliveries)"),
        "{}",
        stderr(&first)
    );
    let second = host_harness(&["replay", dir.to_str().unwrap()]);
    assert_eq!(
        first.stdout, second.stdout,
        "two replays printed different bytes"
    );
    let lines: Vec<serde_json::Value> = stdout(&first)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let decisions: Vec<String> = lines
        .iter()
        .map(|l| match l["event"]["command"]["decision"].as_str() {
            Some(d) => format!("{} {}", l["event"]["command"]["name"].as_str().unwrap(), d),
            None => l["outcome"].as_str().unwrap().to_string(),
        })
        .collect();
    assert_eq!(
        decisions,
        [
            "rejected",
            "event",
            "event",
            "plan allowed",
            "apply denied",
            "apply allowed",
            "apply denied",
            "duplicate",
            "apply denied",
            "plan denied",
            "event"
        ]
    );
}

#[test]
fn replay_shows_a_readable_diff_when_the_output_changes() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("scenario");
    std::fs::create_dir_all(dir.join("deliveries")).unwrap();
    for entry in std::fs::read_dir(scenario().join("deliveries")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            dir.join("deliveries").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    std::fs::copy(scenario().join("config.toml"), dir.join("config.toml")).unwrap();
    let expected = std::fs::read_to_string(scenario().join("expected.jsonl")).unwrap();
    std::fs::write(
        dir.join("expected.jsonl"),
        expected.replacen("\"source_updated\"", "\"updated\"", 1),
    )
    .unwrap();
    let output = host_harness(&["replay", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("line 3 (") && text.contains("02-pr-source-updated.json"),
        "{text}"
    );
    assert!(
        text.contains("differs at /event/action: expected \"updated\", got \"source_updated\""),
        "{text}"
    );
}

#[test]
fn webhook_prints_one_line_per_delivery_and_fails_only_when_it_cannot_work() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugin/tests/fixtures/deliveries");
    let files = [
        "pr-created.json",
        "invalid-not-json.txt",
        "ignored-test-payload-push.json",
        "pr-created.json",
    ];
    let paths: Vec<String> = files
        .iter()
        .map(|f| fixtures.join(f).display().to_string())
        .collect();
    let mut args = vec!["webhook"];
    args.extend(paths.iter().map(String::as_str));
    let output = host_harness(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("WARNING: no [webhook] credentials"),
        "{}",
        stderr(&output)
    );
    let outcomes: Vec<String> = stdout(&output)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["outcome"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(outcomes, ["event", "invalid", "ignored", "duplicate"]);

    let output = host_harness(&["webhook", "/nonexistent/delivery.json"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty());
    assert!(
        stderr(&output).contains("cannot read delivery /nonexistent/delivery.json"),
        "{}",
        stderr(&output)
    );
}

fn write_config(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("integration.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn auth_url_prints_the_authorization_url_and_keeps_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        r#"
[azure_devops]
organization_url = "https://dev.azure.com/contoso/"
[auth]
method = "oauth_app"
tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47"
client_id = "6731de76-14a6-49ae-97bc-6eba6914391e"
client_secret = "cli-test-client-secret"
redirect_uri = "https://scalr.example/callback?integration=contoso"
"#,
    );
    let state = dir.path().join("state");
    let output = host_harness(&[
        "auth",
        "url",
        "--config",
        &config,
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let url = url::Url::parse(text.trim()).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert_eq!(url.host_str(), Some("login.microsoftonline.com"));
    assert_eq!(
        url.path(),
        "/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/authorize"
    );
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query["redirect_uri"],
        "https://scalr.example/callback?integration=contoso"
    );
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(!text.contains("cli-test-client-secret"));
    // The state went to the durable store the exchange will read.
    assert!(state.join("state.redb").exists());

    let output = host_harness(&[
        "auth",
        "exchange",
        "--config",
        &config,
        "--state",
        state.to_str().unwrap(),
        "--code",
        "abc",
        "--oauth-state",
        "never-issued",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("expired or was already used"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn auth_validate_reports_a_missing_scope_from_a_cassette() {
    let dir = tempfile::tempdir().unwrap();
    let cassettes = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugin/tests/fixtures/cassettes/auth");
    let config = write_config(
        dir.path(),
        r#"
[azure_devops]
organization_url = "https://dev.azure.com/contoso/"
[auth]
method = "pat"
token = "PAT-SECRET-84chars-never-guessed-by-length-q4x7z2mmxjvlbn"
[comments]
enabled = true
"#,
    );
    let cassette = cassettes.join("validate-missing-threads-scope.json");
    let output = host_harness(&[
        "auth",
        "validate",
        "--config",
        &config,
        "--cassette",
        cassette.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["ok"], false);
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("Pull Request Threads (Read & Write)"),
        "{report}"
    );

    let cassette = cassettes.join("validate-401.json");
    let output = host_harness(&[
        "auth",
        "validate",
        "--config",
        &config,
        "--cassette",
        cassette.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["error"]["kind"], "unauthorized", "{report}");
    assert!(!stdout(&output).contains("PAT-SECRET"));
}

#[test]
fn the_github_provider_runs_under_the_same_cli_contract() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config = root.join("examples/github-story/config.toml");
    let deliveries = root.join("github-plugin/tests/fixtures/deliveries");
    let files = [
        "pr-opened.json",
        "pr-synchronize.json",
        "comment-created-command.json",
        "ignored-ping.json",
    ];
    let paths: Vec<String> = files
        .iter()
        .map(|f| deliveries.join(f).display().to_string())
        .collect();
    let mut args = vec![
        "webhook",
        "--component",
        vcs_guests::GITHUB_PROVIDER,
        "--config",
        config.to_str().unwrap(),
    ];
    args.extend(paths.iter().map(String::as_str));
    let output = host_harness(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                l["outcome"].as_str().unwrap(),
                l["event"]["action"]
                    .as_str()
                    .or(l["event"]["kind"].as_str())
                    .unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "event opened",
            "event source_updated",
            "event comment",
            "ignored -"
        ]
    );
    assert_eq!(
        lines[0]["event"]["repository"]["api_url"],
        "https://api.github.com/"
    );

    // A forged signature is rejected under the same contract.
    let output = host_harness(&[
        "webhook",
        "--component",
        vcs_guests::GITHUB_PROVIDER,
        "--config",
        config.to_str().unwrap(),
        "-H",
        "X-Hub-Signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000",
        &paths[0],
    ]);
    let line: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(line["outcome"], "rejected", "{line}");

    // render: GitHub's 65,536-character limit is the default cap.
    let report = root.join("tests/fixtures/reports/plan-multi-workspace.json");
    let output = host_harness(&[
        "render",
        "--component",
        vcs_guests::GITHUB_PROVIDER,
        "--max-len",
        "3000",
        report.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let bodies: Vec<String> = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(bodies.len() >= 2);
    assert!(bodies.iter().all(|b| b.chars().count() <= 3000));
}
