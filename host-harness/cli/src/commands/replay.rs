//! `replay`: a scenario directory against its expected output.

use std::path::Path;
use std::process::ExitCode;

use vcs_host::Runtime;
use vcs_host_conformance::{Scenario, diff_lines};

use super::{component_path, host_config};

/// Replay `dir` (or write its expected output with `bless`); exit 1 on a difference.
pub fn run(dir: &Path, component: Option<&Path>, bless: bool) -> anyhow::Result<ExitCode> {
    let scenario = Scenario::load(dir)?;
    let runtime = Runtime::new(host_config(scenario.config()))?;
    let provider = runtime.load(&component_path(component, scenario.config()))?;
    let run = scenario.run(&provider)?;
    for line in &run.lines {
        println!("{line}");
    }
    let expected_path = dir.join("expected.jsonl");
    if bless {
        std::fs::write(&expected_path, run.lines.join("\n") + "\n")?;
        eprintln!("host-harness: wrote {}", expected_path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let diff = diff_lines(&scenario.expected()?, &run);
    if diff.is_empty() {
        eprintln!(
            "host-harness: replay of {} matches ({} deliveries)",
            dir.display(),
            run.files.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "host-harness: replay of {} differs from expected.jsonl:\n{diff}",
            dir.display()
        );
        Ok(ExitCode::from(1))
    }
}
