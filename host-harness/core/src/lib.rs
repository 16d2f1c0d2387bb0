//! The embeddable wasmtime host for `vcs:provider` components.
//!
//! A platform embeds this crate to load a VCS provider component and call it: one
//! [`Runtime`] per process, one [`Provider`] per component, and typed methods
//! (`provider.handle_delivery(&context, &settings, connection, &delivery)`, `publish`,
//! `validate`, …) that each run in a fresh, sandboxed instance under the host's
//! [`Limits`]. The capabilities the provider imports come from the [`CallContext`]: an
//! [`http`] backend behind an egress policy, a [`storage`] backend seen through one
//! integration's namespace, and log lines into `tracing`.
//!
//! Nothing here names a VCS: what differs per provider ([`ProviderInfo`]) comes from the
//! component (or, for contract 0.1.0, its manifest and the integration's config). No
//! async runtime, server, database or build script either: the server, the durable
//! stores, the conformance suite and the CLI are crates of their own over this one.
//!
//! ```no_run
//! use std::sync::Arc;
//! use vcs_host::http::{HttpConfig, LiveHttp};
//! use vcs_host::storage::MemoryStorage;
//! use vcs_host::{CallContext, DeliveryPipeline, HostConfig, IntegrationConfig, Runtime};
//!
//! # fn main() -> anyhow::Result<()> {
//! let runtime = Runtime::new(HostConfig::default())?;
//! let provider = runtime.load("providers/example.wasm".as_ref())?;
//! let config = IntegrationConfig::load("integrations/example.toml".as_ref())?;
//! let egress = config.egress(provider.info());
//! let context = CallContext::new(
//!     config.id.clone(),
//!     Arc::new(LiveHttp::new(egress)),
//!     Arc::new(MemoryStorage::new()),
//! );
//! let pipeline = DeliveryPipeline::new(&provider, &config)?;
//! # let delivery = vcs_host::RecordedDelivery { headers: vec![], body: vec![] };
//! let outcome = pipeline.process(&context, &delivery);
//! println!("{}", vcs_host::json::outcome_line(&outcome));
//! # Ok(()) }
//! ```

mod capability;
mod delivery;
mod engine;
mod info;
mod integration;
pub mod json;
mod limits;
mod wit;

pub use delivery::{DeliveryOutcome, DeliveryPipeline, RecordedDelivery};
pub use engine::{
    CallContext, CallError, CallMeter, ComponentInfo, HostConfig, ImportInfo, InterfaceName,
    LoadError, PACKAGE, PoolingConfig, Provider, Runtime,
};
pub use info::{AuthMethod, DEFAULT_MAX_DELIVERY_BYTES, Manifest, ProviderInfo};
pub use integration::IntegrationConfig;
pub use limits::Limits;
pub use wit::{CallResult, ContractVersion};

/// Outbound HTTP for providers: the backend trait, the live client behind an egress
/// policy, and cassettes to record and replay.
pub mod http {
    pub use crate::capability::http::{
        Body, CallHttp, Cassette, CassetteError, EgressPolicy, HttpBackend, HttpConfig, HttpError,
        InboundResponse, Interaction, LiveHttp, Method, OutboundRequest, REDACTED, RecordedRequest,
        RecordedResponse, Recorder, Replayer, USER_AGENT, redact_headers,
    };
}

/// The key-value capability: the backend trait, one integration's view, limits, and the
/// in-memory backend.
pub mod storage {
    pub use crate::capability::storage::{
        Clock, KvStore, MemoryEntries, MemoryStorage, NamespacedStorage, StorageError,
        StorageLimits, duration_ms, expires_at, is_expired, system_clock,
    };
}

/// The integration file's sections, for code that builds or inspects configs.
pub mod config {
    pub use crate::integration::{
        Auth, AuthSettings, Commands, Comments, Vcs, Webhook, WorkspaceConfig,
    };
}

/// The contract's types, as the typed methods of [`Provider`] take and return them (the
/// newest contract version's; older components are converted).
pub mod types {
    pub use crate::wit::latest::auth::{
        AuthorizationRequest, Capability, CapabilityCheck, CheckOutcome, OauthApp, TokenSet,
        ValidationReport,
    };
    pub use crate::wit::latest::commands::{CommandRequest, InvalidCommand, ParsedCommand};
    pub use crate::wit::latest::comments::{
        CommentLimits, CommitStatus, CommitStatusTarget, LengthUnit, PostedComment, PublishAction,
        PublishOptions, PublishResult, PullRequestStatusTarget, RenderOptions, RunKind, RunReport,
        RunStatus, StatusState, StatusTarget, WorkspaceReport,
    };
    pub use crate::wit::latest::types::{
        BasicCredentials, CommandSettings, Connection, Credential, IntegrationSettings,
        ProviderError, PullRequestRef, RateLimit, Repository, UpstreamError, User, WebhookAuth,
        Workspace,
    };
    pub use crate::wit::latest::webhooks::{
        ChangeKind, ChangeSource, ChangedFile, ChangedFilesPage, CommandVerdict, Comment,
        CommentState, CommitRange, Decision, Delivery, Event, EventKind, HandledDelivery, Outcome,
        PullRequest, PullRequestAction, PullRequestStatus, PushEvent,
    };
}
