//! Logic that every VCS provider in this workspace shares, written once.
//!
//! The crate knows nothing of WIT bindings or I/O, so each provider keeps its own
//! generated types and converts at the edge: it lends its records to the kit's plain
//! types, passes what differs between platforms (limits, units, wording) as parameters,
//! and maps [`Error`] and [`command_parser::PrefixError`] to its `provider-error`.
//!
//! - [`command_parser`]: finding and parsing a comment's command line;
//! - [`json`]: the size and depth guards of webhook bodies, and a path-aware reader;
//! - [`render`] and [`split`]: a run report as Markdown comment bodies, each within the
//!   platform's [`split::CommentLimit`];
//! - [`reply`]: the Markdown answered to commands (help, parse problems, denials);
//! - [`authorize`]: the rules deciding whether a comment's command may run, around the
//!   provider's own steps (the claim in storage, the platform's apply rules).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod authorize;
pub mod command_parser;
mod error;
pub mod json;
pub mod render;
pub mod reply;
pub mod split;

pub use error::{Error, Result};
