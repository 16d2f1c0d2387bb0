//! `vcs-host-bench` (run by `host-harness bench`): the provider's work natively and
//! through the host, side by side.
//!
//! For each workload the same work is done twice: *native* calls the provider crate's own
//! functions with an in-memory host; *component* goes through the host's typed calls, a
//! fresh store and instance per call as in production. Deliveries carry a unique event id per
//! iteration on both paths, so both do the full parse and the dedupe write. Each figure is
//! the best mean over short batches (the cores are shared; the best batch is the cost of
//! the work, not the time spent waiting for a core).

// A benchmark over its own fixed payloads: it edits their JSON in place and stops at the
// first call that fails, since a figure measured past a failure would be a lie.
#![allow(
    clippy::indexing_slicing,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use provider_kit::host::MemoryHost;
use serde_json::{Value, json};
use vcs_host::http::{HttpBackend, HttpConfig, LiveHttp};
use vcs_host::storage::MemoryStorage;
use vcs_host::types::{
    Delivery, IntegrationSettings, Outcome, RenderOptions, RunKind, RunReport, RunStatus,
    WorkspaceReport,
};
use vcs_host::{CallContext, CallMeter, HostConfig, IntegrationConfig, Provider, Runtime};

use azure_devops_provider as native;
use provider_kit::comments as native_comments;
use provider_kit::types as native_types;
use provider_kit::webhooks as native_webhooks;

/// A fixed-width stand-in for the envelope id, overwritten in place per iteration.
const ID_MARKER: &str = "b3e4c000-0000-4000-8000-000000000000";
/// The integration config the bench runs under: commands on, one workspace.
const CONFIG: &str = "id = \"bench\"\n[vcs]\nbase_url = \"https://dev.azure.com/contoso/\"\n\
    [commands]\nallow_plan = true\n[[workspaces]]\nname = \"prod\"\n";

/// Native vs component timings of a provider, instantiation, throughput and peak memory;
/// the last line is `bench: parse ratio R, instantiate U us, render ratio Q`.
#[derive(Debug, Parser)]
#[command(name = "vcs-host-bench", version, about, long_about = None)]
struct Options {
    /// The component; the Azure DevOps provider built in this workspace by default.
    #[arg(long, value_name = "WASM")]
    component: Option<PathBuf>,
    /// Milliseconds spent on each figure.
    #[arg(long = "budget-ms", value_name = "MS", default_value_t = 1_000)]
    budget_ms: u64,
}

fn main() -> std::process::ExitCode {
    let options = Options::parse();
    let component = options
        .component
        .clone()
        .unwrap_or_else(|| PathBuf::from(vcs_guests::AZURE_DEVOPS_PROVIDER));
    match run(&component, &options) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vcs-host-bench: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Precompiled components are cached per user, like the CLI's.
fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|dir| dir.join("vcs-provider-host"))
}

/// One delivery workload: its name, body and where its id sits.
struct Payload {
    name: &'static str,
    body: Vec<u8>,
    id_at: usize,
}

impl Payload {
    fn new(name: &'static str, envelope: &Value) -> anyhow::Result<Self> {
        let body = serde_json::to_vec(envelope)?;
        let id_at = find(&body, ID_MARKER.as_bytes()).context("the id marker")?;
        Ok(Self { name, body, id_at })
    }
}

/// Write `n` into the last 12 hex digits of the id at `at`.
fn stamp(body: &mut [u8], at: usize, n: u64) {
    let digits = format!("{:012x}", n & 0xffff_ffff_ffff);
    let end = at + ID_MARKER.len();
    body[end - 12..end].copy_from_slice(digits.as_bytes());
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn fixture(name: &str) -> anyhow::Result<Value> {
    let text = match name {
        "push" => include_str!("../payloads/push-branch-updated.json"),
        "pr" => include_str!("../payloads/pr-updated-source-branch.json"),
        _ => include_str!("../payloads/comment-v2-created-command.json"),
    };
    let mut value: Value = serde_json::from_str(text)?;
    value["id"] = json!(ID_MARKER);
    Ok(value)
}

fn size(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(0, |v| v.len())
}

/// The three deliveries, padded the way real ones grow: a push with more commits, a pull
/// request with more reviewers and a longer description, a comment with a long body.
fn payloads() -> anyhow::Result<Vec<Payload>> {
    let mut push = fixture("push")?;
    let commit = push["resource"]["commits"][0].clone();
    let mut n = 0u32;
    while size(&push) < 4 * 1024 {
        let mut c = commit.clone();
        let sha = format!("{:040x}", 0xc0ff_ee00_u64 + u64::from(n));
        c["commitId"] = json!(sha);
        c["comment"] = json!(format!("Tune module {n} for the spoke network"));
        c["url"] = json!(format!(
            "https://dev.azure.com/contoso/_apis/git/repositories/r/commits/{sha}"
        ));
        push["resource"]["commits"]
            .as_array_mut()
            .context("commits")?
            .push(c);
        n += 1;
    }

    let mut pr = fixture("pr")?;
    let reviewer = pr["resource"]["reviewers"][0].clone();
    let mut n = 0u32;
    while size(&pr) < 12 * 1024 - 600 {
        let mut r = reviewer.clone();
        let id = format!("a1b2c3d4-{n:04}-4a5b-8c7d-112233445566");
        r["id"] = json!(id);
        r["displayName"] = json!(format!("Reviewer {n}"));
        r["uniqueName"] = json!(format!("reviewer.{n}@contoso.com"));
        r["vote"] = json!(if n.is_multiple_of(3) { 10 } else { 0 });
        pr["resource"]["reviewers"]
            .as_array_mut()
            .context("reviewers")?
            .push(r);
        n += 1;
    }
    let mut description = String::from("Peers the hub and spoke VNets.\n\n");
    while size(&pr) + description.len() < 12 * 1024 {
        description.push_str("- route tables updated for the new peering; ");
    }
    pr["resource"]["description"] = json!(description);

    let mut comment = fixture("comment")?;
    let mut text = String::from("/scalr plan\n\nReviewed the plan output below. ");
    let base = size(&comment);
    while base + text.len() < 20 * 1024 {
        text.push_str(
            "The peering changes look right, but the route table for the spoke still \
             points at the old firewall; please double-check `azurerm_route.default`. ",
        );
    }
    comment["resource"]["comment"]["content"] = json!(text);

    Ok(vec![
        Payload::new("push 4 KB", &push)?,
        Payload::new("PR update 12 KB", &pr)?,
        Payload::new("comment 20 KB", &comment)?,
    ])
}

/// A plan of 20,000 resources in Terraform's layout, about 5 MB (as in the comments tests).
fn five_megabyte_plan() -> String {
    let mut output = String::with_capacity(5_800_000);
    output.push_str(
        "\nTerraform used the selected providers to generate the following execution\n\
         plan. Resource actions are indicated with the following symbols:\n  + create\n\n\
         Terraform will perform the following actions:\n\n",
    );
    for i in 0..20_000 {
        output.push_str(&format!(
            "  # aws_s3_object.file[\"objects/{i:05}.json\"] will be created\n\
             \x20 + resource \"aws_s3_object\" \"file\" {{\n\
             \x20     + bucket       = \"contoso-data-prod\"\n\
             \x20     + etag         = (known after apply)\n\
             \x20     + id           = (known after apply)\n\
             \x20     + key          = \"objects/{i:05}.json\"\n"
        ));
        if i % 100 == 0 {
            output.push_str("      + metadata     = {\n          + \"description\" = \"Données de référence 📦 `v2`\"\n        }\n");
        }
        output.push_str("    }\n\n");
    }
    output.push_str("Plan: 20000 to add, 0 to change, 0 to destroy.\n");
    output
}

/// The best per-call mean over batches of about 20 ms, within `budget`.
fn measure(budget: Duration, mut call: impl FnMut()) -> Duration {
    for _ in 0..3 {
        call();
    }
    let probe = Instant::now();
    call();
    let one = probe.elapsed().max(Duration::from_nanos(100));
    let batch = (Duration::from_millis(20).as_nanos() / one.as_nanos()).clamp(1, 100_000) as u32;
    let started = Instant::now();
    let mut best = Duration::MAX;
    let mut batches = 0;
    while batches < 5 || started.elapsed() < budget {
        let t = Instant::now();
        for _ in 0..batch {
            call();
        }
        best = best.min(t.elapsed() / batch);
        batches += 1;
        if batches >= 5 && started.elapsed() > budget * 3 {
            break;
        }
    }
    best
}

fn native_settings(s: &IntegrationSettings) -> native_types::IntegrationSettings {
    let c = &s.commands;
    native_types::IntegrationSettings {
        id: s.id.clone(),
        base_url: s.base_url.clone(),
        commands: native_types::CommandSettings {
            prefix: c.prefix.clone(),
            allow_plan: c.allow_plan,
            allow_apply: c.allow_apply,
            bot_user_id: c.bot_user_id.clone(),
            run_edited_comments: c.run_edited_comments,
            allowed_users: c.allowed_users.clone(),
            require_approval_for_apply: c.require_approval_for_apply,
            require_mergeable_for_apply: c.require_mergeable_for_apply,
        },
        workspaces: s
            .workspaces
            .iter()
            .map(|w| native_types::Workspace {
                name: w.name.clone(),
                vcs_dry_runs: w.vcs_dry_runs,
                directory: w.directory.clone(),
                branch: w.branch.clone(),
            })
            .collect(),
        options: s.options.clone(),
    }
}

fn outcome_kind(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Event(_) => "event",
        Outcome::Ignored(_) => "ignored",
        Outcome::Duplicate => "duplicate",
    }
}

fn native_outcome_kind(outcome: &native_webhooks::Outcome) -> &'static str {
    match outcome {
        native_webhooks::Outcome::Event(_) => "event",
        native_webhooks::Outcome::Ignored(_) => "ignored",
        native_webhooks::Outcome::Duplicate => "duplicate",
    }
}

fn context(integration: &str) -> CallContext {
    let http: Arc<dyn HttpBackend> = Arc::new(LiveHttp::new(HttpConfig::default()));
    CallContext::new(integration, http, Arc::new(MemoryStorage::default()))
}

fn us(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros >= 10_000.0 {
        format!("{:.1} ms", micros / 1e3)
    } else {
        format!("{micros:.1} us")
    }
}

fn kib(bytes: usize) -> String {
    format!("{} KiB", bytes.div_ceil(1024))
}

/// One handle-delivery call through the component; returns the outcome kind and the
/// instance's peak memory.
fn component_delivery(
    provider: &Provider,
    ctx: &CallContext,
    settings: &IntegrationSettings,
    delivery: &Delivery,
) -> anyhow::Result<(&'static str, usize)> {
    let meter = Arc::new(CallMeter::default());
    let handled = provider
        .handle_delivery(
            &ctx.clone().metered(meter.clone()),
            settings,
            None,
            delivery,
        )?
        .map_err(|e| anyhow::anyhow!("the provider refused: {e:?}"))?;
    Ok((outcome_kind(&handled.outcome), meter.peak_memory_bytes()))
}

/// Run the bench and print the table and the last line.
fn run(component: &Path, options: &Options) -> anyhow::Result<()> {
    let budget = Duration::from_millis(options.budget_ms);
    let config = IntegrationConfig::parse(CONFIG)?;
    let settings = config.settings();
    let native_settings = native_settings(&settings);
    let file_size = std::fs::metadata(component)
        .with_context(|| format!("cannot read {}", component.display()))?
        .len();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "bench: {cpu}, {cores} cores; component {} ({})",
        component.display(),
        kib(file_size as usize)
    );

    // Two runtimes: the pooling allocator (the figures below) and on demand (for comparison).
    let on_demand_config = HostConfig {
        cache_dir: cache_dir(),
        ..HostConfig::default()
    };
    let mut pooled_config = on_demand_config.clone();
    pooled_config.pooling.enabled = true;
    let pooled = Runtime::new(pooled_config)?;
    let on_demand = Runtime::new(on_demand_config)?;
    let compile_started = Instant::now();
    let provider = pooled.load(component)?;
    let compile = compile_started.elapsed();
    let provider_on_demand = on_demand.load(component)?;

    // Instantiation alone: a fresh store and instance, no export called.
    let ctx = context("bench");
    let instantiate = |p: &Provider| {
        measure(budget, || {
            p.instantiate(&ctx).expect("instantiate");
        })
    };
    let inst_pooled = instantiate(&provider);
    let inst_on_demand = instantiate(&provider_on_demand);
    let bare_store = {
        let engine = pooled.engine().clone();
        measure(budget, || {
            drop(wasmtime::Store::new(&engine, ()));
        })
    };

    println!();
    println!(
        "{:<18} {:>9} {:>11} {:>11} {:>7} {:>13} {:>10}",
        "workload", "size", "native", "component", "ratio", "of it: inst.", "peak mem"
    );
    let mut parse_ratio = f64::NAN;
    let mut counter = 0u64;
    for payload in payloads()? {
        let mut body = payload.body.clone();
        // Native: the plugin's function over an in-memory host, one host across calls
        // (unique ids: every call records its id, as the component path does).
        let host = MemoryHost::new();
        let mut native_delivery = native_webhooks::Delivery {
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Vec::new(),
        };
        let mut native_kind = "";
        let native_time = measure(budget, || {
            counter += 1;
            stamp(&mut body, payload.id_at, counter);
            native_delivery.body.clone_from(&body);
            let handled =
                native::webhooks::handle_delivery(&host, &native_settings, None, &native_delivery)
                    .expect("the native parse");
            native_kind = native_outcome_kind(&handled.outcome);
        });
        // Component: the same delivery through the host, a fresh instance per call.
        let ctx = context("bench");
        let mut delivery = Delivery {
            headers: native_delivery.headers.clone(),
            body: Vec::new(),
        };
        let mut kind = "";
        let mut peak = 0;
        let component_time = measure(budget, || {
            counter += 1;
            stamp(&mut body, payload.id_at, counter);
            delivery.body.clone_from(&body);
            let (k, p) =
                component_delivery(&provider, &ctx, &settings, &delivery).expect("component");
            kind = k;
            peak = peak.max(p);
        });
        if kind != native_kind || kind != "event" {
            bail!(
                "{}: the component said {kind}, native said {native_kind}; both must be events",
                payload.name
            );
        }
        let ratio = component_time.as_secs_f64() / native_time.as_secs_f64();
        if payload.name.starts_with("PR update") {
            parse_ratio = ratio;
        }
        println!(
            "{:<18} {:>9} {:>11} {:>11} {:>6.2}x {:>13} {:>10}",
            payload.name,
            kib(payload.body.len()),
            us(native_time),
            us(component_time),
            ratio,
            us(inst_pooled),
            kib(peak)
        );
    }

    // Rendering a 5 MB plan.
    let output = five_megabyte_plan();
    let report = RunReport {
        kind: RunKind::Plan,
        run_url: Some("https://scalr.example/v2/e/env-1/runs/run-big/".into()),
        run_id: Some("run-big".into()),
        head_sha: Some("2f36b5091671a29e8f73e18a3723e66714617f9e".into()),
        workspaces: vec![WorkspaceReport {
            name: "prod".into(),
            status: RunStatus::Success,
            add: 20_000,
            change: 0,
            destroy: 0,
            import: 0,
            output: output.clone(),
        }],
    };
    let native_report = native_comments::RunReport {
        kind: native_comments::RunKind::Plan,
        run_url: report.run_url.clone(),
        run_id: report.run_id.clone(),
        head_sha: report.head_sha.clone(),
        workspaces: vec![native_comments::WorkspaceReport {
            name: "prod".into(),
            status: native_comments::RunStatus::Success,
            add: 20_000,
            change: 0,
            destroy: 0,
            import: 0,
            output,
        }],
    };
    let render_options = RenderOptions {
        max_length: Some(150_000),
        commands: Some(settings.commands.clone()),
    };
    let native_render_options = native_comments::RenderOptions {
        max_length: Some(150_000),
        commands: Some(native_settings.commands.clone()),
    };
    let mut native_parts = 0;
    let native_render = measure(budget, || {
        native_parts = native::comments::render(&native_report, &native_render_options)
            .expect("native render")
            .len();
    });
    let mut parts = 0;
    let mut render_peak = 0;
    let mut render_inside = Duration::MAX;
    let component_render = measure(budget, || {
        let meter = Arc::new(CallMeter::default());
        let begun = Instant::now();
        let rendered = provider
            .render(
                &ctx.clone().metered(meter.clone()),
                &report,
                &render_options,
            )
            .expect("render call");
        let inside = begun.elapsed().saturating_sub(meter.instantiation_time());
        parts = rendered.expect("render").len();
        render_peak = render_peak.max(meter.peak_memory_bytes());
        render_inside = render_inside.min(inside);
    });
    if parts != native_parts {
        bail!("render: {parts} parts through the component, {native_parts} natively");
    }
    let render_ratio = component_render.as_secs_f64() / native_render.as_secs_f64();
    println!(
        "{:<18} {:>9} {:>11} {:>11} {:>6.2}x {:>13} {:>10}",
        "render 5 MB plan",
        kib(native_report.workspaces[0].output.len()),
        us(native_render),
        us(component_render),
        render_ratio,
        us(inst_pooled),
        kib(render_peak)
    );

    // Throughput: the 12 KB delivery through the component, on one core and on all.
    let pr = payloads()?.swap_remove(1);
    let throughput = |threads: usize| -> f64 {
        let window = budget.max(Duration::from_millis(500)) * 2;
        let ctx = context("bench-throughput");
        let total: u64 = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (provider, ctx, settings, pr) = (&provider, &ctx, &settings, &pr);
                    scope.spawn(move || {
                        let mut delivery = Delivery {
                            headers: vec![("Content-Type".into(), "application/json".into())],
                            body: pr.body.clone(),
                        };
                        let started = Instant::now();
                        let mut n = 0u64;
                        while started.elapsed() < window {
                            stamp(&mut delivery.body, pr.id_at, ((t as u64) << 40) | n);
                            component_delivery(provider, ctx, settings, &delivery)
                                .expect("throughput call");
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        total as f64 / window.as_secs_f64()
    };
    let one_core = throughput(1);
    let all_cores = throughput(cores);

    println!();
    println!(
        "instantiation      {} pooled, {} on demand (store and call state included; a bare \
         wasmtime Store {})",
        us(inst_pooled),
        us(inst_on_demand),
        us(bare_store)
    );
    println!(
        "render, inside     {} in the call without its instantiation (lowering 5 MB, rendering, lifting {parts} parts)",
        us(render_inside)
    );
    println!(
        "throughput         PR update 12 KB, fresh instance per call: {one_core:.0} calls/s on 1 core, \
         {all_cores:.0} calls/s on {cores} cores ({:.2}x)",
        all_cores / one_core
    );
    println!(
        "component          {} on disk; compiled or loaded from cache in {}",
        kib(file_size as usize),
        us(compile)
    );
    println!(
        "bench: parse ratio {parse_ratio:.2}, instantiate {:.1} us, render ratio {render_ratio:.2}",
        inst_pooled.as_secs_f64() * 1e6
    );
    Ok(())
}
