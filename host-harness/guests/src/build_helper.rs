//! Builds guest components for wasm32-wasip2 from a build script, the way wasmtime's
//! `crates/test-programs/artifacts/build.rs` does, so `cargo build`/`cargo test` alone
//! produce them on a fresh machine. Used by this crate's own build script and, through
//! the library, by other crates' build scripts (the tests' hostile guests).
//!
//! A build script that cannot build its guests cannot do its job: these functions panic
//! with the reason, which cargo prints as the build failure.
#![allow(clippy::panic, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target guests are built for: it makes components directly.
pub const TARGET: &str = "wasm32-wasip2";
/// The cargo profile of guest builds (the root `Cargo.toml`'s `[profile.component]`).
pub const PROFILE: &str = "component";

/// The workspace root (this crate lives in `host-harness/guests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

/// A target directory of its own, beside the outer one: the outer cargo holds the lock
/// of its own directory while build scripts run.
pub fn guest_target_dir() -> PathBuf {
    let outer = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let outer = if outer.is_absolute() {
        outer
    } else {
        workspace_root().join(outer)
    };
    outer.join("guests")
}

/// Make sure the wasm32-wasip2 standard library is installed (rustup reads
/// rust-toolchain.toml's `targets`, but only when it installs the toolchain).
pub fn ensure_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()));
    if libdir.as_ref().is_some_and(|d| {
        d.join("libstd.rlib").exists()
            || std::fs::read_dir(d)
                .map(|mut r| r.next().is_some())
                .unwrap_or(false)
    }) {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        panic!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed; install it by hand"
        );
    }
}

/// Build `package` (with `features`) for wasm32-wasip2 and return the component's path.
pub fn build(package: &str, features: &[&str]) -> PathBuf {
    let target_dir = guest_target_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args([
            "build",
            "--locked",
            "-p",
            package,
            "--target",
            TARGET,
            "--profile",
            PROFILE,
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    if !features.is_empty() {
        command.arg("--features").arg(features.join(","));
    }
    // The outer build's flags and wrappers (clippy, coverage) are for the host, not guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_PROFILE_RELEASE_DEBUG",
        "__CARGO_FIX_PLZ",
    ] {
        command.env_remove(var);
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build {package}: {e}"));
    if !output.status.success() {
        panic!(
            "building the guest component {package} ({}) failed:\n{}",
            features.join(","),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let artifact = target_dir
        .join(TARGET)
        .join(PROFILE)
        .join(format!("{}.wasm", package.replace('-', "_")));
    assert!(
        artifact.exists(),
        "cargo built {package} but {} is missing",
        artifact.display()
    );
    artifact
}

/// Ask cargo to rerun the build script when any of these paths change.
pub fn rerun_if_changed(paths: &[&str]) {
    let root = workspace_root();
    for path in paths {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
}
