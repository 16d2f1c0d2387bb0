//! The guest SDK of the `vcs:provider@0.1.0` world, and the logic every VCS provider
//! shares, written once.
//!
//! A provider is a crate with `impl Provider for X` and `export_provider!(X)`, plus its
//! platform's own code (its REST client, its webhook payloads, its apply rules):
//!
//! ```ignore
//! use provider_kit::prelude::*;
//!
//! pub struct Forge;
//!
//! impl Provider for Forge {
//!     const NAME: &'static str = "forge";
//!     const DISPLAY_NAME: &'static str = "Forge";
//!     const POSSESSIVE: &'static str = "Forge's";
//!     const COMMENT_LIMIT: CommentLimits = CommentLimits {
//!         max_length: 65_536,
//!         unit: LengthUnit::UnicodeScalars,
//!     };
//!     const MAX_DELIVERY_BYTES: usize = 1024 * 1024;
//!     // Every function of the world has a default; override the ones the platform has.
//! }
//!
//! provider_kit::export_provider!(Forge);
//! ```
//!
//! What the crate holds:
//!
//! - the WIT world's only generated bindings, private to the crate, with the types
//!   re-exported deliberately: [`types`] (the shared records and `provider-error`) and one
//!   module per exported interface ([`auth`], [`webhooks`], [`comments`], [`commands`]);
//! - [`Provider`], one function per exported WIT function, each with a default, and
//!   [`export_provider!`], the only glue a provider writes;
//! - [`host`]: the seam to the host's imports ([`host::Host`], [`host::ComponentHost`],
//!   and [`host::MemoryHost`] for native runs), and behind the `test-support` feature
//!   the scripted [`fake::FakeHost`] and the shared test suites of `testing`;
//! - [`error`]: `provider-error` helpers and the conversions of host and kit errors;
//! - [`rest`]: what every REST client does alike (headers, Retry-After, JSON, URLs);
//! - [`views`]: the WIT records as the plain views the shared logic reads, and the
//!   record-level entry points of that logic (render, parse, authorize);
//! - [`delivery`] and [`publish`]: pieces of the webhook and publish flows (the dedupe
//!   claim, a comment's command verdict, the comment state in storage, reply checks);
//! - the plain logic, which knows nothing of WIT: [`command_parser`] (a comment's
//!   command line), [`json`] (size and depth guards of webhook bodies, a path-aware
//!   reader), [`render`] and [`split`] (a run report as Markdown bodies within the
//!   platform's [`split::CommentLimit`]), [`reply`] (the Markdown answered to commands)
//!   and [`authorize`] (the rules deciding whether a comment's command may run).

/// The generated bindings of the `vcs-provider` world. Not part of the API: providers
/// use the curated modules ([`types`], [`auth`], [`webhooks`], [`comments`],
/// [`commands`], [`host`]) and [`export_provider!`]. Public only because the export
/// macro's expansion names it from the provider's crate.
#[doc(hidden)]
#[allow(missing_docs, clippy::all, unsafe_code)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "vcs-provider",
        path: "../wit/since_v0.1.0",
        pub_export_macro: true,
        default_bindings_module: "provider_kit::bindings",
    });
}

pub mod authorize;
pub mod command_parser;
mod component;
pub mod delivery;
pub mod error;
#[cfg(feature = "test-support")]
pub mod fake;
pub mod host;
pub mod json;
mod kit_error;
mod provider;
pub mod publish;
pub mod render;
pub mod reply;
pub mod rest;
pub mod split;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod views;

#[doc(hidden)]
pub use component::Component;
pub use kit_error::{Error, Result};
pub use provider::Provider;

/// The records, variants and aliases every interface of the world shares
/// (`vcs:provider/types`): connections, repositories, settings and `provider-error`.
pub mod types {
    pub use crate::bindings::vcs::provider::types::{
        BasicCredentials, CommandSettings, Connection, Credential, Fields, IntegrationSettings,
        ProviderError, PullRequestRef, RateLimit, Repository, Timestamp, UpstreamError, User,
        WebhookAuth, Workspace,
    };
}

/// The types of the exported `auth` interface: OAuth apps, tokens, validation reports.
pub mod auth {
    pub use crate::bindings::exports::vcs::provider::auth::{
        AuthorizationRequest, Capability, CapabilityCheck, CheckOutcome, OauthApp, TokenSet,
        ValidationReport,
    };
}

/// The types of the exported `webhooks` interface: deliveries, events, changed files.
pub mod webhooks {
    pub use crate::bindings::exports::vcs::provider::webhooks::{
        ChangeKind, ChangeSource, ChangedFile, ChangedFilesPage, CommandVerdict, Comment,
        CommentState, CommitRange, Decision, Delivery, Event, EventKind, HandledDelivery, Outcome,
        PullRequest, PullRequestAction, PullRequestStatus, PushEvent,
    };
}

/// The types of the exported `comments` interface: run reports, rendering and
/// publishing options, statuses.
pub mod comments {
    pub use crate::bindings::exports::vcs::provider::comments::{
        CommentLimits, CommitStatus, CommitStatusTarget, LengthUnit, PostedComment, PublishAction,
        PublishOptions, PublishResult, PullRequestStatusTarget, RenderOptions, RunKind, RunReport,
        RunStatus, StatusState, StatusTarget, WorkspaceReport,
    };
}

/// The types of the exported `commands` interface: parsed commands and what
/// `authorize` judges.
pub mod commands {
    pub use crate::bindings::exports::vcs::provider::commands::{
        CommandRequest, InvalidCommand, ParsedCommand,
    };
}

/// What a provider's `lib.rs` usually imports: the trait, the host seam, the error
/// type and the records its [`Provider`] functions take.
pub mod prelude {
    pub use crate::Provider;
    pub use crate::auth::{AuthorizationRequest, Capability, OauthApp, TokenSet, ValidationReport};
    pub use crate::commands::{CommandRequest, ParsedCommand};
    pub use crate::comments::{
        CommentLimits, CommitStatus, LengthUnit, PostedComment, PublishOptions, PublishResult,
        RenderOptions, RunReport, StatusTarget,
    };
    pub use crate::error::Result;
    pub use crate::host::Host;
    pub use crate::types::{
        CommandSettings, Connection, IntegrationSettings, ProviderError, PullRequestRef,
        WebhookAuth, Workspace,
    };
    pub use crate::webhooks::{
        ChangeSource, ChangedFilesPage, CommandVerdict, Delivery, HandledDelivery,
    };
}
