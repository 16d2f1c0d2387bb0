//! `host-harness demo`: the seed's story end to end over loopback HTTP.

// A failing test is the point: tests may unwrap, expect, panic and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

#[test]
fn the_demo_tells_the_whole_story_and_every_check_holds() {
    let output = Command::new(env!("CARGO_BIN_EXE_host-harness"))
        .arg("demo")
        .output()
        .expect("run host-harness demo");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed ({}):\n{text}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "← 401 rejected",
        "Jane Doe opens pull request #42",
        "← 202 queued: pull_request opened #42",
        "status scalr/plan/prod: pending",
        "PR comment created",
        "status scalr/plan/prod: succeeded",
        "← 202 queued: comment #42: plan allowed",
        "apply denied (“Allow triggering plan & apply runs from the PR comments” is turned off",
        "replied in the comment's thread",
        "the administrator changes the integration",
        "← 202 queued: comment #42: apply allowed",
        "executor: prod: Applied: 8 added, 1 changed, 0 destroyed",
        "← 200 duplicate",
        "as a person sees it",
        "### ✅ Terraform apply of <code>prod</code>: 8 added, 1 changed, 0 destroyed",
        "scalr/apply/prod: succeeded — Applied: 8 added, 1 changed, 0 destroyed",
        // The same serve process, the second provider.
        "════ The same serve process, a second provider: GitHub",
        "→ POST /webhooks/octo-terraform  ← 202 queued: pull_request opened #7",
        "→ POST /webhooks/octo-terraform  ← 200 duplicate",
        "[ok] one serve process serves two providers",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(!text.contains("[FAILED]"), "{text}");
    let checks = text.matches("  [ok] ").count();
    assert_eq!(checks, 15, "{text}");
}
