//! The wasmtime host for `vcs:provider` components.
//!
//! A platform embeds this library to load a VCS provider component, call it, and supply
//! the capabilities the world imports. Modules follow the capabilities:
//!
//! - [`engine`]: one `Engine` and `Linker` per process, loading and checking components,
//!   a fresh sandboxed instance per call;
//! - [`limits`]: memory, time, stack and host-call budgets of a call;
//! - [`http`]: outbound HTTP behind an egress policy, with record and replay;
//! - [`standin`]: a loopback Azure DevOps stand-in for tests and demos (never production);
//! - [`storage`]: the namespaced key-value store (in memory, redb on disk, or PostgreSQL);
//! - [`serve`]: the webhook server: durable queue, workers, executor, metrics;
//! - [`bindings`]: the generated bindings of the contract in `wit/`;
//! - [`config`], [`contract`], [`webhook`], [`scenario`]: the integration config file, the
//!   CLI's JSON contract, the delivery pipeline (verify, then normalize), and recorded
//!   scenarios.
//!
//! The `host-harness` binary is the CLI over this library.

pub mod bindings;
pub mod config;
pub mod conformance;
pub mod contract;
pub mod demo;
pub mod engine;
pub mod http;
pub mod limits;
pub mod scenario;
pub mod serve;
pub mod standin;
pub mod storage;
pub mod webhook;

pub use engine::{CallContext, CallError, HostConfig, LoadError, Provider, Runtime};

/// The Azure DevOps provider built in this workspace (by `build.rs`).
pub const AZURE_DEVOPS_PROVIDER_WASM: &str = env!("AZURE_DEVOPS_PROVIDER_WASM");

/// The GitHub provider built in this workspace (by `build.rs`): the same world, another VCS.
pub const GITHUB_PROVIDER_WASM: &str = env!("GITHUB_PROVIDER_WASM");
