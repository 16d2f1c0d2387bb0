//! The command grammar shared by every provider: see
//! [`provider_kit::command_parser`]. Prefix problems are this provider's
//! `invalid-config` errors (`From<PrefixError> for ProviderError` in `error.rs`).

pub use provider_kit::command_parser::*;
