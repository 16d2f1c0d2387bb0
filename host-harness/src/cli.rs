//! The `host-harness` command line. Verbs are stable, user-facing contracts (DESIGN.md):
//! output meant for scripts is JSON, output meant for people is plain text, logs go to
//! stderr and are quiet by default.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use host_harness::bindings::exports::vcs::provider::auth::Capability;
use host_harness::bindings::exports::vcs::provider::comments::RenderOptions;
use host_harness::config::IntegrationConfig;
use host_harness::contract::{self, RunReportJson};
use host_harness::http::{HttpBackend, LiveHttp, Recorder, Replayer};
use host_harness::scenario::{Scenario, diff_lines};
use host_harness::storage::{MemoryStorage, RedbStorage, Storage};
use host_harness::webhook::{DeliveryPipeline, RecordedDelivery};
use host_harness::{CallContext, HostConfig, Provider, Runtime};
use serde_json::{Value, json};

#[cfg(feature = "bench")]
#[path = "bench.rs"]
mod bench;

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
        /// The component; defaults to the Azure DevOps provider built in this workspace.
        wasm: Option<PathBuf>,
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
    /// Receive Azure DevOps service hooks over HTTP at
    /// `/webhooks/azure-devops/{integration}`: a durable queue, workers that run plans and
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
    /// Measure the provider natively and through the host (fresh instance per call):
    /// deliveries of 4, 12 and 20 KB and a 5 MB plan render, instantiation, throughput,
    /// peak memory; the last line is `bench: parse ratio R, instantiate U us, render ratio Q`.
    #[cfg(feature = "bench")]
    Bench {
        /// The component; defaults to the Azure DevOps provider built in this workspace.
        #[arg(long, value_name = "WASM")]
        component: Option<PathBuf>,
        /// Milliseconds spent on each figure.
        #[arg(long, value_name = "MS", default_value_t = 1_000)]
        budget_ms: u64,
    },
}

#[derive(Debug, Subcommand)]
enum AuthVerb {
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
struct Common {
    /// The component; defaults to the Azure DevOps provider built in this workspace.
    #[arg(long, value_name = "WASM")]
    component: Option<PathBuf>,
    /// The integration's config file (TOML, see README).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Keep provider state in a durable store in this directory (default: in memory).
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Answer outbound HTTP from this cassette instead of the network.
    #[arg(long, value_name = "FILE", conflicts_with = "record")]
    cassette: Option<PathBuf>,
    /// Record outbound HTTP (secrets scrubbed) to this cassette.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
}

/// Run the CLI; errors are printed as one readable line with exit status 2.
pub fn main() -> ExitCode {
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

/// Precompiled components are cached per user, like wasmtime's own cache.
fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|dir| dir.join("vcs-provider-host"))
}

fn component_path(given: Option<&Path>) -> PathBuf {
    given.map_or_else(
        || PathBuf::from(host_harness::AZURE_DEVOPS_PROVIDER_WASM),
        Path::to_path_buf,
    )
}

/// Without a config file, a minimal integration: unauthenticated deliveries, no token.
const DEFAULT_CONFIG: &str =
    "[azure_devops]\norganization_url = \"https://dev.azure.com/example/\"\n";

fn load_config(path: Option<&Path>) -> anyhow::Result<IntegrationConfig> {
    match path {
        Some(path) => IntegrationConfig::load(path),
        None => IntegrationConfig::parse(DEFAULT_CONFIG),
    }
}

fn host_config(config: &IntegrationConfig) -> HostConfig {
    let mut host = config.host.clone();
    if host.cache_dir.is_none() {
        host.cache_dir = default_cache_dir();
    }
    host
}

/// A loaded provider and the call context for one integration.
struct Session {
    _runtime: Runtime,
    provider: Provider,
    context: CallContext,
    recorder: Option<(Arc<Recorder>, PathBuf)>,
}

impl Session {
    fn open(common: &Common, config: &IntegrationConfig) -> anyhow::Result<Self> {
        let runtime = Runtime::new(host_config(config))?;
        let provider = runtime.load(&component_path(common.component.as_deref()))?;
        let storage: Arc<dyn Storage> = match &common.state {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create state directory {}", dir.display()))?;
                Arc::new(RedbStorage::open(&dir.join("state.redb"))?)
            }
            None => Arc::new(MemoryStorage::default()),
        };
        let secrets = config.secrets();
        let mut recorder = None;
        let http: Arc<dyn HttpBackend> = if let Some(cassette) = &common.cassette {
            Arc::new(Replayer::from_file(cassette, secrets)?)
        } else {
            let live: Arc<dyn HttpBackend> = Arc::new(LiveHttp::new(config.host.http.clone()));
            match &common.record {
                Some(path) => {
                    let rec = Arc::new(Recorder::new(live, secrets));
                    recorder = Some((rec.clone(), path.clone()));
                    rec
                }
                None => live,
            }
        };
        Ok(Self {
            _runtime: runtime,
            provider,
            context: CallContext {
                integration: config.id.clone(),
                http,
                storage,
            },
            recorder,
        })
    }

    fn finish(&self) -> anyhow::Result<()> {
        if let Some((recorder, path)) = &self.recorder {
            recorder
                .save(path)
                .with_context(|| format!("cannot write cassette {}", path.display()))?;
        }
        Ok(())
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Inspect { wasm, config, json } => {
            let config = load_config(config.as_deref())?;
            inspect(host_config(&config), &component_path(wasm.as_deref()), json)
        }
        Command::Webhook {
            common,
            headers,
            files,
        } => webhook(&common, &headers, &files),
        Command::Replay {
            dir,
            component,
            bless,
        } => replay(&dir, component.as_deref(), bless),
        Command::Render {
            component,
            config,
            max_len,
            file,
        } => render(component.as_deref(), config.as_deref(), max_len, &file),
        Command::Conformance { wasm, fixtures } => {
            let config = load_config(None)?;
            let runtime = Runtime::new(host_config(&config))?;
            let report = host_harness::conformance::run(&runtime, &wasm, fixtures.as_deref());
            print!("{}", report.table());
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Serve { config, listen } => {
            host_harness::serve::run_from_config(&config, listen.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { scenario } => {
            let scenario = scenario.unwrap_or_else(host_harness::demo::default_scenario);
            let host = host_config(&load_config(None)?);
            let outcome = host_harness::demo::run(&scenario, host, &mut std::io::stdout())?;
            Ok(if outcome.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Auth { verb } => auth(verb),
        #[cfg(feature = "bench")]
        Command::Bench {
            component,
            budget_ms,
        } => {
            bench::run(
                &component_path(component.as_deref()),
                bench::Options {
                    budget: std::time::Duration::from_millis(budget_ms),
                    cache_dir: default_cache_dir(),
                },
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn inspect(config: HostConfig, path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(config)?;
    let (info, verdict) = runtime.inspect(path)?;
    if json {
        let value = json!({
            "component": path.display().to_string(),
            "size_bytes": info.size_bytes,
            "package": info.package,
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

fn pipeline(session: &Session, config: &IntegrationConfig) -> anyhow::Result<DeliveryPipeline> {
    let webhook_auth = config.webhook_auth()?;
    Ok(DeliveryPipeline {
        provider: session.provider.clone(),
        context: session.context.clone(),
        settings: config.settings(),
        webhook_auth,
        connection: config.connection()?,
    })
}

fn warn_if_unauthenticated(config: &IntegrationConfig) {
    if config.webhook.is_none() {
        eprintln!(
            "host-harness: WARNING: no [webhook] credentials configured: deliveries are accepted \
             without authentication. Set a user name and password on the service-hook \
             subscription and in [webhook]."
        );
    }
}

fn read_delivery(path: &Path, headers: &[(String, String)]) -> anyhow::Result<RecordedDelivery> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read delivery {}", path.display()))?;
    let mut delivery = RecordedDelivery::from_file_bytes(&bytes);
    for (name, value) in headers {
        delivery.set_header(name, value);
    }
    Ok(delivery)
}

fn parse_headers(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|h| {
            let (name, value) = h
                .split_once(':')
                .with_context(|| format!("header {h:?} is not `Name: value`"))?;
            Ok((name.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

fn webhook(common: &Common, headers: &[String], files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let config = load_config(common.config.as_deref())?;
    let headers = parse_headers(headers)?;
    // Read every file first: an unreadable file stops the harness before any output.
    let deliveries = files
        .iter()
        .map(|f| read_delivery(f, &headers))
        .collect::<anyhow::Result<Vec<_>>>()?;
    warn_if_unauthenticated(&config);
    let session = Session::open(common, &config)?;
    let pipeline = pipeline(&session, &config)?;
    for delivery in &deliveries {
        println!("{}", pipeline.process(delivery));
    }
    session.finish()?;
    Ok(ExitCode::SUCCESS)
}

fn replay(dir: &Path, component: Option<&Path>, bless: bool) -> anyhow::Result<ExitCode> {
    let scenario = Scenario::load(dir)?;
    let runtime = Runtime::new(host_config(scenario.config()))?;
    let provider = runtime.load(&component_path(component))?;
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

fn render(
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
    let bodies = session.provider.call(&session.context, |p, store| {
        p.vcs_provider_comments()
            .call_render(store, &report, &options)
    })?;
    match bodies {
        Ok(bodies) => {
            println!("{}", serde_json::to_string(&bodies)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            let (kind, message) = contract::error_parts(&error);
            bail!("the provider could not render the report ({kind}): {message}")
        }
    }
}

fn auth(verb: AuthVerb) -> anyhow::Result<ExitCode> {
    match verb {
        AuthVerb::Url { common } => {
            let config = load_config(common.config.as_deref())?;
            let app = config.oauth_app()?;
            let session = Session::open(&with_durable_state(common), &config)?;
            let request = session
                .provider
                .call(&session.context, |p, store| {
                    p.vcs_provider_auth().call_authorization_url(store, &app)
                })?
                .map_err(provider_failure)?;
            println!("{}", request.url);
            session.finish()?;
            Ok(ExitCode::SUCCESS)
        }
        AuthVerb::Exchange {
            common,
            callback,
            code,
            oauth_state,
        } => {
            let (code, state) = match (callback, code, oauth_state) {
                (Some(callback), _, _) => callback_parameters(&callback)?,
                (None, Some(code), Some(state)) => (code, state),
                _ => bail!("give --callback URL, or --code and --oauth-state"),
            };
            let config = load_config(common.config.as_deref())?;
            let app = config.oauth_app()?;
            let session = Session::open(&with_durable_state(common), &config)?;
            let tokens = session
                .provider
                .call(&session.context, |p, store| {
                    p.vcs_provider_auth()
                        .call_exchange_code(store, &app, &code, &state)
                })?
                .map_err(provider_failure)?;
            print_tokens(&tokens)?;
            session.finish()?;
            Ok(ExitCode::SUCCESS)
        }
        AuthVerb::Refresh {
            common,
            refresh_token,
        } => {
            let config = load_config(common.config.as_deref())?;
            let app = config.oauth_app()?;
            let session = Session::open(&common, &config)?;
            let tokens = session
                .provider
                .call(&session.context, |p, store| {
                    p.vcs_provider_auth()
                        .call_refresh_token(store, &app, &refresh_token)
                })?
                .map_err(provider_failure)?;
            print_tokens(&tokens)?;
            session.finish()?;
            Ok(ExitCode::SUCCESS)
        }
        AuthVerb::Validate { common } => {
            let config = load_config(common.config.as_deref())?;
            let connection = config
                .connection()?
                .context("validate needs a credential: set auth.token or auth.token_env")?;
            let mut required = vec![Capability::ReadCode, Capability::WriteStatuses];
            if config.comments.enabled {
                required.extend([Capability::ReadComments, Capability::WriteComments]);
            }
            let session = Session::open(&common, &config)?;
            let report = session.provider.call(&session.context, |p, store| {
                p.vcs_provider_auth()
                    .call_validate(store, &connection, &required)
            })?;
            session.finish()?;
            match report {
                Ok(report) => {
                    let checks: Vec<Value> = report
                        .checks
                        .iter()
                        .map(|c| json!({"capability": format!("{:?}", c.capability), "outcome": format!("{:?}", c.outcome), "message": c.message}))
                        .collect();
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&json!({
                            "ok": report.ok,
                            "identity": {"id": report.identity.id, "unique_name": report.identity.unique_name, "display_name": report.identity.display_name},
                            "checks": checks,
                            "summary": report.summary,
                        }))?
                    );
                    Ok(if report.ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    })
                }
                Err(error) => {
                    let (kind, message) = contract::error_parts(&error);
                    println!(
                        "{}",
                        serde_json::to_string_pretty(
                            &json!({"ok": false, "error": {"kind": kind, "message": message}})
                        )?
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// The OAuth flow spans two invocations (url, then exchange): its state must be durable.
fn with_durable_state(mut common: Common) -> Common {
    if common.state.is_none() {
        common.state = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .map(|dir| dir.join("vcs-provider-host"));
    }
    common
}

fn callback_parameters(callback: &str) -> anyhow::Result<(String, String)> {
    let url = url::Url::parse(callback).with_context(|| format!("{callback:?} is not a URL"))?;
    let get = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = get("error") {
        bail!(
            "the identity provider returned an error instead of a code: {error}: {}",
            get("error_description").unwrap_or_default()
        );
    }
    let code = get("code").context("the callback URL has no code parameter")?;
    let state = get("state").context("the callback URL has no state parameter")?;
    Ok((code, state))
}

fn print_tokens(
    tokens: &host_harness::bindings::exports::vcs::provider::auth::TokenSet,
) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at,
            "scopes": tokens.scopes,
        }))?
    );
    Ok(())
}

fn provider_failure(
    error: host_harness::bindings::vcs::provider::types::ProviderError,
) -> anyhow::Error {
    let (kind, message) = contract::error_parts(&error);
    anyhow::anyhow!("{kind}: {message}")
}
