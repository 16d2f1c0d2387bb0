//! Builds the Azure DevOps provider component, the CLI's default `--component`.

#[path = "build_guest.rs"]
mod build_guest;

fn main() {
    build_guest::rerun_if_changed(&[
        "plugin/src",
        "plugin/Cargo.toml",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
    ]);
    build_guest::ensure_target();
    let wasm = build_guest::build("azure-devops-provider", &[]);
    println!(
        "cargo:rustc-env=AZURE_DEVOPS_PROVIDER_WASM={}",
        wasm.display()
    );
}
