//! `bench`: runs the `vcs-host-bench` program. The bench links the providers natively (the
//! baseline the component is measured against), which the CLI itself never does; so the
//! verb hands over to that program: the one built beside this one, or, when run through
//! cargo, the one cargo builds from this workspace.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, bail};

/// The bench program's name.
const BENCH: &str = "vcs-host-bench";

/// Run the bench with `args`; its exit status is the verb's.
pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(BENCH)))
        .filter(|path| path.is_file());
    let mut command = match (beside, std::env::var_os("CARGO")) {
        (Some(program), _) => Command::new(program),
        (None, Some(cargo)) => {
            eprintln!("host-harness: building {BENCH} (it links the providers natively)");
            let mut command = Command::new(cargo);
            command
                .current_dir(workspace())
                .args(["run", "--quiet", "--package", BENCH, "--"]);
            command
        }
        (None, None) => bail!(
            "the bench is the program {BENCH}, which is not beside this one: build it with \
             `cargo build -p {BENCH}` (or run `cargo run -p host-harness -- bench`)"
        ),
    };
    let status = command
        .args(args)
        .status()
        .with_context(|| format!("cannot run {BENCH}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}

/// The workspace this CLI was built in.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
