//! The guest components of this workspace, built for tests and tools (wasmtime's
//! `test-programs` artifacts pattern): the build script compiles each provider for
//! `wasm32-wasip2` and this crate exports where they are. Nothing here is linked into a
//! host: the crates that depend on this one get file paths, not code.
//!
//! [`build`] is the build helper itself, for other build scripts (the tests' hostile
//! guests) that add this crate as a build-dependency.

include!(concat!(env!("OUT_DIR"), "/components.rs"));

#[path = "build_helper.rs"]
pub mod build;
