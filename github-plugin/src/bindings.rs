//! Guest bindings of the `vcs:provider@0.1.0` world, generated from `wit/`.
//!
//! Generated on every target so the provider's logic can use the WIT types natively in
//! unit tests; the imports are only callable inside a component (see `host.rs`).
#![allow(missing_docs, clippy::all, unsafe_code)]

wit_bindgen::generate!({
    world: "vcs-provider",
    path: "../wit/since_v0.1.0",
    pub_export_macro: true,
    default_bindings_module: "github_provider::bindings",
});
