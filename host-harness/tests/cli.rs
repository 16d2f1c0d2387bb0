//! The CLI contract of `host-harness`, run as a user would run it.

use std::process::{Command, Output};

fn host_harness(args: &[&str]) -> Output {
    let cache = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_host-harness"))
        .args(args)
        // Keep the test's compiled-component cache out of the user's home.
        .env("XDG_CACHE_HOME", cache.path())
        .output()
        .expect("run host-harness")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_documents_every_verb() {
    let output = host_harness(&["--help"]);
    assert!(output.status.success());
    let text = stdout(&output);
    for verb in ["inspect", "webhook", "replay", "render", "auth"] {
        assert!(text.contains(verb), "--help lacks {verb}:\n{text}");
    }
}

#[test]
fn inspect_accepts_the_built_provider() {
    let output = host_harness(&["inspect"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("package    vcs:provider@0.1.0"), "{text}");
    for iface in ["auth", "webhooks", "comments", "commands"] {
        assert!(
            text.contains(&format!("vcs:provider/{iface}@0.1.0")),
            "{text}"
        );
    }
    assert!(text.contains("verdict    accepted"), "{text}");
    assert!(!text.contains("REFUSED"), "{text}");
}

#[test]
fn inspect_json_is_machine_readable() {
    let output = host_harness(&[
        "inspect",
        "--json",
        host_harness::AZURE_DEVOPS_PROVIDER_WASM,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(value["package"], "vcs:provider@0.1.0");
    assert_eq!(value["accepted"], true);
    assert!(value["size_bytes"].as_u64().unwrap() > 1000);
    assert!(
        value["imports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| !i["granted"].is_null())
    );
}

#[test]
fn inspect_explains_files_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("module.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    let output = host_harness(&["inspect", module.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("core WebAssembly module, not a component"),
        "{}",
        stderr(&output)
    );

    let output = host_harness(&["inspect", "/nonexistent/provider.wasm"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot read component /nonexistent/provider.wasm"),
        "{}",
        stderr(&output)
    );
}
