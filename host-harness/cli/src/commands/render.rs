//! `render`: a run report as the comment bodies the provider would post.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use vcs_host::json::{RunReportJson, error_parts};
use vcs_host::types::RenderOptions;

use super::{Session, load_config};
use crate::Common;

/// Render the report in `file`; print the bodies as a JSON array.
pub fn run(
    component: Option<&Path>,
    config: Option<&Path>,
    max_len: u32,
    file: &Path,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config)?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read report {}", file.display()))?;
    let report: RunReportJson = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a run report", file.display()))?;
    let report = report.into_report();
    let common = Common {
        component: component.map(Path::to_path_buf),
        config: None,
        state: None,
        cassette: None,
        record: None,
    };
    let session = Session::open(&common, &config)?;
    let options = RenderOptions {
        max_length: Some(max_len),
        commands: Some(config.settings().commands),
    };
    let bodies = session
        .provider
        .render(&session.context, &report, &options)?;
    match bodies {
        Ok(bodies) => {
            println!("{}", serde_json::to_string(&bodies)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            let (kind, message) = error_parts(&error);
            bail!("the provider could not render the report ({kind}): {message}")
        }
    }
}
