//! `inspect`: a component's package, exports and imports, and whether this host takes it.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use vcs_host::Runtime;

use super::{component_path, host_config, load_config};

/// Describe the component (`wasm`, else the config's provider); exit 1 when rejected.
pub fn run(wasm: Option<&Path>, config: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config)?;
    let path = component_path(wasm, &config);
    inspect(&Runtime::new(host_config(&config))?, &path, json)
}

fn inspect(runtime: &Runtime, path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let (info, verdict) = runtime.inspect(path)?;
    if json {
        let value = json!({
            "component": path.display().to_string(),
            "size_bytes": info.size_bytes,
            "package": info.package,
            "contract": info.contract.map(|v| v.to_string()),
            "exports": info.exports,
            "imports": info.imports,
            "accepted": verdict.is_ok(),
            "reason": verdict.as_ref().err().map(|e| e.to_string()),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "component  {} ({} KiB)",
            path.display(),
            info.size_bytes.div_ceil(1024)
        );
        println!("package    {}", info.package.as_deref().unwrap_or("(none)"));
        println!("exports");
        for export in &info.exports {
            println!("  {export}");
        }
        println!("imports");
        for import in &info.imports {
            match import.granted {
                Some(why) => println!("  {:<40} granted: {why}", import.name),
                None => println!("  {:<40} REFUSED", import.name),
            }
        }
        match &verdict {
            Ok(()) => println!("verdict    accepted"),
            Err(reason) => println!("verdict    rejected: {reason}"),
        }
    }
    Ok(if verdict.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
