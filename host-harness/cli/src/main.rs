//! `host-harness`: the command line of the `vcs:provider` host. Verbs are stable,
//! user-facing contracts (see the README): output meant for scripts is JSON, output meant
//! for people is plain text, logs go to stderr and are quiet by default.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// The wasmtime host for vcs:provider components (the Azure DevOps provider and others).
#[derive(Debug, Parser)]
#[command(name = "host-harness", version, about, long_about = None)]
struct Cli {
    /// Log verbosity on stderr: -v info, -vv debug, -vvv trace (quiet by default;
    /// HOST_HARNESS_LOG=filter overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show a component's package and version, exports and imports, and whether this
    /// host accepts it. Exit status 0 when accepted, 1 when rejected.
    Inspect {
        /// The component; defaults to the integration's provider (`--config`), else the
        /// Azure DevOps provider built in this workspace.
        wasm: Option<PathBuf>,
        /// The component, as the other verbs take it.
        #[arg(long, value_name = "WASM", conflicts_with = "wasm")]
        component: Option<PathBuf>,
        /// Integration config whose [host] section sets limits and cache.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Process webhook deliveries in order against one store and print one JSON line per
    /// delivery (outcome event, ignored, duplicate, rejected, invalid or error). Exit
    /// status 0 when every delivery got its line.
    Webhook {
        #[command(flatten)]
        common: Common,
        /// Extra request header for every delivery, `Name: value` (repeatable).
        #[arg(short = 'H', long = "header", value_name = "HEADER")]
        headers: Vec<String>,
        /// Delivery files: raw service-hook bodies or recorded deliveries
        /// `{"headers": {...}, "body": ...}`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Replay a scenario directory (config.toml, deliveries/, optional cassette.json,
    /// expected.jsonl) and compare the output with the expected lines. Deliveries run
    /// in file-name order; a `.toml` file among them switches the settings from there on.
    Replay {
        /// The scenario directory.
        dir: PathBuf,
        /// The component; defaults to the Azure DevOps provider built in this workspace.
        #[arg(long, value_name = "WASM")]
        component: Option<PathBuf>,
        /// Write the actual output to expected.jsonl instead of comparing.
        #[arg(long)]
        bless: bool,
    },
    /// Render a run report (JSON) to the comment bodies the provider would post, as a
    /// JSON array in posting order.
    Render {
        /// The component; defaults to the Azure DevOps provider built in this workspace.
        #[arg(long, value_name = "WASM")]
        component: Option<PathBuf>,
        /// Integration config: its [commands] switches appear in the footer.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Longest body in the provider's unit (Azure DevOps: UTF-16 code units).
        #[arg(long, value_name = "N", default_value_t = 150_000)]
        max_len: u32,
        /// The run report file.
        file: PathBuf,
    },
    /// Run the provider-neutral conformance suite against any provider component and
    /// print a pass/fail table. Exit status 0 when every check passes, 1 otherwise.
    Conformance {
        /// The component to check.
        wasm: PathBuf,
        /// The provider's fixture pack (a directory with pack.toml).
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
    },
    /// Receive webhook deliveries over HTTP at `/webhooks/{integration}` (for every
    /// integration of the config, whatever its provider): a durable queue, workers that run plans and
    /// applies through the executor and post comments and statuses, `/healthz` and
    /// `/metrics`. Stops gracefully on SIGINT or SIGTERM.
    Serve {
        /// The serve config (TOML: [serve], [storage], [executor], [[integration]]).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Listen address, overriding the config's (`127.0.0.1:0` picks a free port).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// The seed's story end to end on loopback: starts a local Azure DevOps stand-in and
    /// `serve`, sends the story's deliveries over HTTP, and prints a timeline and the
    /// pull request's thread as a person would see it.
    Demo {
        /// The scenario to play (a scenario directory as `replay` takes).
        #[arg(long, value_name = "DIR")]
        scenario: Option<PathBuf>,
    },
    /// Connect to the provider: the OAuth app flow and credential checks.
    Auth {
        #[command(subcommand)]
        verb: AuthVerb,
    },
    /// Measure the providers natively and through the host (fresh instance per call):
    /// deliveries of 4, 12 and 20 KB, a 5 MB plan render, instantiation, throughput,
    /// peak memory; the last line is `bench: parse ratio R, instantiate U us, render ratio
    /// Q`. Runs the `vcs-host-bench` program (the one host program that links the
    /// providers natively), building it first when run through cargo; its options
    /// (`--component`, `--budget-ms`) follow the verb.
    Bench {
        /// The bench's own arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuthVerb {
    /// Print the authorization URL of the OAuth app flow (one line). The state and PKCE
    /// verifier are kept in the --state store until the callback.
    Url {
        #[command(flatten)]
        common: Common,
    },
    /// Exchange the callback's code for tokens; prints the token set as JSON.
    Exchange {
        #[command(flatten)]
        common: Common,
        /// The full callback URL (`...?code=...&state=...`).
        #[arg(long, conflicts_with_all = ["code", "oauth_state"])]
        callback: Option<String>,
        /// The `code` parameter of the callback.
        #[arg(long, requires = "oauth_state")]
        code: Option<String>,
        /// The `state` parameter of the callback.
        #[arg(long)]
        oauth_state: Option<String>,
    },
    /// Redeem a refresh token; prints the new token set (keep the rotated refresh token).
    Refresh {
        #[command(flatten)]
        common: Common,
        /// The refresh token (or set HOST_HARNESS_REFRESH_TOKEN).
        #[arg(long, env = "HOST_HARNESS_REFRESH_TOKEN", hide_env_values = true)]
        refresh_token: String,
    },
    /// Check the configured credential: identity and each needed scope. Exit status 0
    /// when everything needed is granted, 1 when something is missing or refused.
    Validate {
        #[command(flatten)]
        common: Common,
    },
}

/// Options shared by the verbs that call a provider.
#[derive(Debug, Args)]
pub(crate) struct Common {
    /// The component; defaults to the Azure DevOps provider built in this workspace.
    #[arg(long, value_name = "WASM")]
    pub(crate) component: Option<PathBuf>,
    /// The integration's config file (TOML, see README).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Keep provider state in a durable store in this directory (default: in memory).
    #[arg(long, value_name = "DIR")]
    pub(crate) state: Option<PathBuf>,
    /// Answer outbound HTTP from this cassette instead of the network.
    #[arg(long, value_name = "FILE", conflicts_with = "record")]
    pub(crate) cassette: Option<PathBuf>,
    /// Record outbound HTTP (secrets scrubbed) to this cassette.
    #[arg(long, value_name = "FILE")]
    pub(crate) record: Option<PathBuf>,
}

/// Run the CLI; errors are printed as one readable line with exit status 2.
fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("host-harness: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOST_HARNESS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Inspect {
            wasm,
            component,
            config,
            json,
        } => commands::inspect::run(wasm.or(component).as_deref(), config.as_deref(), json),
        Command::Webhook {
            common,
            headers,
            files,
        } => commands::webhook::run(&common, &headers, &files),
        Command::Replay {
            dir,
            component,
            bless,
        } => commands::replay::run(&dir, component.as_deref(), bless),
        Command::Render {
            component,
            config,
            max_len,
            file,
        } => commands::render::run(component.as_deref(), config.as_deref(), max_len, &file),
        Command::Conformance { wasm, fixtures } => {
            let config = commands::load_config(None)?;
            let runtime = vcs_host::Runtime::new(commands::host_config(&config))?;
            let report = vcs_host_conformance::run(&runtime, &wasm, fixtures.as_deref());
            print!("{}", report.table());
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Serve { config, listen } => {
            let (mut serve, integrations) = vcs_host_serve::ServeConfig::load(&config)?;
            if let Some(listen) = listen {
                serve.serve.listen = listen;
            }
            // This workspace's providers, unless the config says where its own are.
            if serve.serve.components_dir.is_none() {
                serve.serve.components_dir = Some(vcs_guests::COMPONENTS_DIR.into());
            }
            if serve.serve.default_provider.is_none() {
                serve.serve.default_provider = Some(commands::DEFAULT_PROVIDER.into());
            }
            for warning in integrations.iter().flat_map(|i| &i.warnings) {
                eprintln!("host-harness: warning: {warning}");
            }
            vcs_host_serve::run_from_config(&serve, integrations)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { scenario } => {
            let scenario = scenario.unwrap_or_else(commands::demo::default_scenario);
            let host = commands::host_config(&commands::load_config(None)?);
            let outcome = commands::demo::run(&scenario, host, &mut std::io::stdout())?;
            Ok(if outcome.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Auth { verb } => commands::auth::run(verb),
        Command::Bench { args } => commands::bench::run(&args),
    }
}
