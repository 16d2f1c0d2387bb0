//! Host bindings of the `vcs:provider@0.1.0` world, generated from `wit/`.
//!
//! One set of bindings per contract version, as Zed does per `since_v*` folder: a new
//! minor version gets its own module and linker, and older providers keep loading.
#![allow(missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    world: "vcs-provider",
    path: "../wit/since_v0.1.0",
});

/// The contract version these bindings implement.
pub const CONTRACT_VERSION: &str = "0.1.0";
