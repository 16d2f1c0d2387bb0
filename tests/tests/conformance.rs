//! The conformance suite judges providers: the Azure DevOps provider passes it, broken
//! providers and wrong expectations fail it with a reason a person can act on.

// A failing test is the point: tests may unwrap, expect, panic and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use provider_tests::{AZURE_DEVOPS, guests, runtime};

fn pack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/azure-devops")
}

fn failures(report: &vcs_host_conformance::Report) -> Vec<String> {
    report
        .checks
        .iter()
        .filter_map(|c| c.failure.as_ref().map(|f| format!("{}: {f}", c.name)))
        .collect()
}

#[test]
fn the_azure_devops_provider_passes() {
    let report = vcs_host_conformance::run(runtime(), Path::new(AZURE_DEVOPS), Some(&pack()));
    assert!(report.passed(), "{}", report.table());
    let groups: Vec<&str> = report.checks.iter().map(|c| c.group).collect();
    for group in ["load", "robustness", "behaviour", "invariant"] {
        assert!(
            groups.contains(&group),
            "no {group} check ran:\n{}",
            report.table()
        );
    }
    assert!(report.checks.len() >= 19, "{}", report.table());
}

#[test]
fn a_looping_provider_fails_robustness_with_the_reason() {
    let report = vcs_host_conformance::run(runtime(), Path::new(guests::LOOP_FOREVER), None);
    assert!(!report.passed());
    let failed = failures(&report);
    assert!(
        failed.iter().any(|f| f.starts_with("webhooks.handle-delivery") && f.contains("ran longer than its")),
        "{}",
        report.table()
    );
}

#[test]
fn a_panicking_provider_fails_with_its_panic_message() {
    let report = vcs_host_conformance::run(runtime(), Path::new(guests::PANIC), None);
    let failed = failures(&report).join("\n");
    assert!(
        failed.contains("hostile provider panicked on purpose"),
        "{}",
        report.table()
    );
}

#[test]
fn a_provider_importing_sockets_fails_the_load_checks() {
    let report = vcs_host_conformance::run(runtime(), Path::new(guests::SOCKETS), None);
    assert!(!report.passed());
    let table = report.table();
    assert!(
        table.contains("FAIL  load") && table.contains("wasi:sockets/"),
        "{table}"
    );
    assert!(
        report.checks.iter().all(|c| c.group == "load"),
        "nothing else may run:\n{table}"
    );
}

#[test]
fn a_wrong_expectation_in_the_pack_fails_with_a_diff() {
    let work = tempfile::tempdir().unwrap();
    let scenario = work.path().join("story");
    std::fs::create_dir_all(scenario.join("deliveries")).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/seed-story");
    for entry in std::fs::read_dir(source.join("deliveries")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            scenario.join("deliveries").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    std::fs::copy(source.join("config.toml"), scenario.join("config.toml")).unwrap();
    let expected = std::fs::read_to_string(source.join("expected.jsonl")).unwrap();
    std::fs::write(
        scenario.join("expected.jsonl"),
        expected.replacen("\"decision\":\"denied\"", "\"decision\":\"allowed\"", 1),
    )
    .unwrap();
    std::fs::write(work.path().join("pack.toml"), "scenarios = [\"story\"]\n").unwrap();

    let report = vcs_host_conformance::run(runtime(), Path::new(AZURE_DEVOPS), Some(work.path()));
    assert!(!report.passed());
    let failed = failures(&report).join("\n");
    assert!(
        failed.contains("04-reviewer-applies-denied.json"),
        "{failed}"
    );
    assert!(
        failed.contains("differs at /event/command/decision: expected \"allowed\", got \"denied\""),
        "{failed}"
    );
}

#[test]
fn the_github_provider_passes_with_no_change_to_the_contract_or_the_host() {
    let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/github");
    let report = vcs_host_conformance::run(
        runtime(),
        Path::new(vcs_guests::GITHUB_PROVIDER),
        Some(&pack),
    );
    assert!(report.passed(), "{}", report.table());
    let table = report.table();
    assert!(
        table.contains("65536 LengthUnit::UnicodeScalars"),
        "{table}"
    );
    assert!(
        table.contains("scenario github-story: 10 deliveries as expected"),
        "{table}"
    );
}
