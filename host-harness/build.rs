//! Builds the provider components of this workspace: the Azure DevOps provider (the
//! CLI's default `--component`) and the GitHub provider.

#[path = "build_guest.rs"]
mod build_guest;

fn main() {
    build_guest::rerun_if_changed(&[
        "plugin/src",
        "github-plugin/src",
        "github-plugin/Cargo.toml",
        "provider-kit",
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
    let github = build_guest::build("github-provider", &[]);
    println!("cargo:rustc-env=GITHUB_PROVIDER_WASM={}", github.display());
}
