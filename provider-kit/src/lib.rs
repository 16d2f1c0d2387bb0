//! Logic that every VCS provider in this workspace shares, written once.
//!
//! The crate knows nothing of WIT bindings or I/O, so each provider keeps its own
//! generated types and converts at the edge: [`command_parser::PrefixError`] becomes the
//! provider's `invalid-config` error. Candidates to move here next (now copied between
//! `plugin/` and `github-plugin/`): the comment renderer and splitter, the JSON guards of
//! webhook parsing, and the command authorization rules.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod command_parser;
