//! The capabilities the host grants a provider, one module each, each with its own
//! configuration and limits: outbound [`http`], key-value [`storage`], [`log`] lines,
//! and the empty [`wasi`] context that language runtimes expect.
//! The contract-version modules in `wit/` wire the WIT imports to these.

pub mod http;
pub mod log;
pub mod storage;
pub mod wasi;
