//! The host's sandbox: load checks, limits, egress, and that the host keeps serving
//! after a guest misbehaves. Every test goes through real components.

// A failing test is the point: tests may unwrap, expect, panic and index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use provider_tests::{AZURE_DEVOPS, context, guests, load, runtime, test_limits};
use vcs_host::storage::MemoryStorage;
use vcs_host::types::LengthUnit;
use vcs_host::types::{CommandSettings, IntegrationSettings, ProviderError};
use vcs_host::types::{Delivery, HandledDelivery, Outcome};
use vcs_host::{CallContext, CallError, LoadError, Provider};
use vcs_host_store::TxStore;

fn settings() -> IntegrationSettings {
    IntegrationSettings {
        id: "integration-1".into(),
        base_url: "https://dev.azure.com/contoso/".into(),
        commands: CommandSettings {
            prefix: "/scalr".into(),
            allow_plan: true,
            allow_apply: false,
            bot_user_id: None,
            run_edited_comments: false,
            allowed_users: vec![],
            require_approval_for_apply: false,
            require_mergeable_for_apply: false,
        },
        workspaces: vec![],
        options: vec![],
    }
}

fn deliver(
    provider: &Provider,
    ctx: &CallContext,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Result<HandledDelivery, ProviderError>, CallError> {
    let delivery = Delivery {
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    };
    provider.handle_delivery(ctx, &settings(), None, &delivery)
}

/// After any misbehaviour, the same runtime still serves a well-behaved provider.
fn assert_host_still_serves() {
    let probe = load(guests::MINIMAL);
    let ctx = context("after-misbehaviour");
    let key = format!("still-serving-{:?}", Instant::now());
    let handled = deliver(&probe, &ctx, &[], &key)
        .expect("call")
        .expect("handled");
    assert!(
        matches!(handled.outcome, Outcome::Ignored(_)),
        "{handled:?}"
    );
    let azure = load(AZURE_DEVOPS);
    let limits = azure.comment_limits(&ctx).expect("limits");
    assert_eq!(limits.max_length, 150_000);
}

#[test]
fn the_azure_devops_provider_loads_and_answers() {
    let provider = load(AZURE_DEVOPS);
    let info = provider.component();
    for iface in ["auth", "webhooks", "comments", "commands"] {
        let name = format!("vcs:provider/{iface}@0.1.0");
        assert!(
            info.exports.contains(&name),
            "missing {name} in {:?}",
            info.exports
        );
    }
    assert!(
        info.imports.iter().all(|i| i.granted.is_some()),
        "{:?}",
        info.imports
    );
    assert!(
        !info
            .imports
            .iter()
            .any(|i| i.name.starts_with("wasi:sockets"))
    );

    let ctx = context("integration-1");
    let limits = provider.comment_limits(&ctx).unwrap();
    assert_eq!(limits.max_length, 150_000);
    assert!(matches!(limits.unit, LengthUnit::Utf16CodeUnits));

    // Malformed input is a typed error, not a trap.
    let err = deliver(&provider, &ctx, &[], "{}").unwrap().unwrap_err();
    assert!(matches!(err, ProviderError::InvalidPayload(_)), "{err:?}");
}

#[test]
fn a_runaway_loop_is_stopped_at_the_deadline() {
    let provider = load(guests::LOOP_FOREVER);
    let started = Instant::now();
    let err = deliver(&provider, &context("loop"), &[], "{}").unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(err, CallError::Deadline { budget_ms } if budget_ms == test_limits().call_timeout_ms),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("ran longer than its 1500 ms budget"),
        "{err}"
    );
    assert!(
        elapsed >= Duration::from_millis(1_400) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert_host_still_serves();
}

#[test]
fn a_memory_bomb_is_stopped_at_the_cap() {
    let provider = load(guests::GROW_MEMORY);
    let err = deliver(&provider, &context("memory"), &[], "{}").unwrap_err();
    assert!(
        matches!(err, CallError::MemoryLimit { limit_bytes, .. } if limit_bytes == 32 << 20),
        "{err}"
    );
    assert!(err.to_string().contains("beyond 33554432 bytes"), "{err}");
    assert_host_still_serves();
}

#[test]
fn unbounded_recursion_overflows_the_bounded_stack() {
    let provider = load(guests::DEEP_RECURSION);
    let err = deliver(&provider, &context("stack"), &[], "{}").unwrap_err();
    assert!(matches!(err, CallError::StackOverflow { .. }), "{err}");
    assert_host_still_serves();
}

#[test]
fn a_panic_is_a_trap_with_the_guest_message() {
    let provider = load(guests::PANIC);
    let err = deliver(&provider, &context("panic"), &[], "{}").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, CallError::Trap { .. }), "{text}");
    assert!(
        text.contains("hostile provider panicked on purpose"),
        "{text}"
    );
    assert_host_still_serves();
}

#[test]
fn egress_outside_the_allowlist_is_denied() {
    let provider = load(guests::EGRESS);
    let err = deliver(&provider, &context("egress"), &[], "{}")
        .unwrap()
        .unwrap_err();
    let ProviderError::Transport(report) = err else {
        panic!("expected the guest's transport report, got {err:?}");
    };
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 4, "{report}");
    for line in &lines {
        assert!(line.contains("-> denied:"), "not denied: {line}");
    }
    assert!(lines[0].contains("169.254.169.254"), "{report}");
    assert!(lines[2].contains("localhost"), "{report}");
    assert_host_still_serves();
}

#[test]
fn a_component_importing_sockets_is_rejected_at_load_time() {
    let err = runtime().load(Path::new(guests::SOCKETS)).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LoadError::Rejected { .. }), "{text}");
    assert!(text.contains("wasi:sockets/"), "{text}");
    assert!(text.contains("does not grant"), "{text}");
    assert_host_still_serves();
}

#[test]
fn files_that_are_not_components_are_rejected_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("module.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    let err = runtime().load(&module).unwrap_err().to_string();
    assert!(
        err.contains("core WebAssembly module, not a component"),
        "{err}"
    );

    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, b"hello").unwrap();
    let err = runtime().load(&text).unwrap_err().to_string();
    assert!(err.contains("not a WebAssembly file"), "{err}");

    let truncated = dir.path().join("truncated.wasm");
    let bytes = std::fs::read(AZURE_DEVOPS).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = runtime().load(&truncated).unwrap_err();
    assert!(matches!(err, LoadError::Compile { .. }), "{err}");

    let err = runtime()
        .load(&dir.path().join("missing.wasm"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot read component") && err.contains("missing.wasm"),
        "{err}"
    );
}

#[test]
fn storage_is_namespaced_per_integration_through_the_component() {
    let probe = load(guests::MINIMAL);
    let shared: Arc<dyn TxStore> = Arc::new(MemoryStorage::default());
    let http = vcs_host::http::HttpConfig::default();
    let tenant_a = provider_tests::context_with("tenant-a", shared.clone(), http.clone());
    let tenant_b = provider_tests::context_with("tenant-b", shared.clone(), http);

    let first_a = deliver(&probe, &tenant_a, &[], "event-1").unwrap().unwrap();
    let again_a = deliver(&probe, &tenant_a, &[], "event-1").unwrap().unwrap();
    let first_b = deliver(&probe, &tenant_b, &[], "event-1").unwrap().unwrap();
    assert!(
        matches!(first_a.outcome, Outcome::Ignored(_)),
        "{first_a:?}"
    );
    assert!(matches!(again_a.outcome, Outcome::Duplicate), "{again_a:?}");
    assert!(
        matches!(first_b.outcome, Outcome::Ignored(_)),
        "tenant b saw tenant a's key: {first_b:?}"
    );
    assert_eq!(
        shared.keys("tenant-a").unwrap(),
        vec!["seen:event-1".to_string()]
    );
    assert_eq!(
        shared.keys("tenant-b").unwrap(),
        vec!["seen:event-1".to_string()]
    );
}

#[test]
fn a_runaway_call_does_not_block_other_calls() {
    let looping = load(guests::LOOP_FOREVER);
    let runaway = std::thread::spawn(move || deliver(&looping, &context("slow"), &[], "{}"));
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let probe = load(guests::MINIMAL);
    for i in 0..20 {
        let handled = deliver(&probe, &context("fast"), &[], &format!("k{i}"))
            .unwrap()
            .unwrap();
        assert!(matches!(handled.outcome, Outcome::Ignored(_)));
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(
        runaway.join().unwrap(),
        Err(CallError::Deadline { .. })
    ));
}
