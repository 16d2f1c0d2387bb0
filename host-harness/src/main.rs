//! `host-harness`: the command line over the host library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
