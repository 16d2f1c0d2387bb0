//! The GitHub provider of the `vcs:provider@0.1.0` world.
//!
//! Built for `wasm32-wasip2` it is a WebAssembly component the host loads; built natively
//! it is an ordinary library, so the logic is unit-tested and benchmarked without a
//! runtime. It is built like the Azure DevOps provider in `plugin/`, against the same
//! unchanged world. Modules follow the world's four exported interfaces ([`auth`], [`webhooks`],
//! [`comments`], [`commands`]) over one small GitHub REST client ([`rest`]); everything reaches
//! the outside world through [`host::Host`].
//!
//! No input may panic the provider: the crate denies `unwrap`, `expect`, `panic!` and
//! unchecked indexing outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod auth;
pub mod bindings;
pub mod commands;
pub mod comments;
pub mod error;
pub mod host;
pub mod rest;
pub mod webhooks;

#[cfg(target_arch = "wasm32")]
mod component;
