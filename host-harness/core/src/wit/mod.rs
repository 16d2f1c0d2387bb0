//! The contract versions this host links, and the typed calls over them.
//!
//! One module per version (`since_v0_1_0`, …), each with its own bindings and linker, as
//! Zed's `wasm_host/wit.rs` does. A component is matched to the version whose package it
//! exports ([`ContractVersion`]); the typed methods of [`Provider`] take and return the
//! latest version's types ([`latest`]) and convert for older components, so the `match`
//! on versions lives here and nowhere else. Adding a version is a new module, a new
//! [`ContractVersion`] case and one arm per method.

pub mod since_v0_1_0;

/// The newest contract version: the types of the host's public API.
pub use since_v0_1_0 as latest;

use std::fmt;

use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use self::latest::auth::{AuthorizationRequest, Capability, OauthApp, TokenSet, ValidationReport};
use self::latest::commands::{CommandRequest, ParsedCommand};
use self::latest::comments::{
    CommentLimits, CommitStatus, PostedComment, PublishOptions, PublishResult, RenderOptions,
    RunReport, StatusTarget,
};
use self::latest::types::{
    CommandSettings, Connection, IntegrationSettings, ProviderError, PullRequestRef, WebhookAuth,
    Workspace,
};
use self::latest::webhooks::{
    ChangeSource, ChangedFilesPage, CommandVerdict, Delivery, HandledDelivery,
};
use crate::engine::{CallContext, CallError, CallState, LoadError, Provider};

/// What a call returns: the provider's own answer (a value or a typed
/// [`ProviderError`]), or a [`CallError`] when the call did not return (a trap, the
/// deadline, the memory limit).
pub type CallResult<T> = Result<Result<T, ProviderError>, CallError>;

/// A version of the `vcs:provider` contract this host supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContractVersion {
    /// `vcs:provider@0.1.x` (`wit/since_v0.1.0`).
    V0_1,
}

impl ContractVersion {
    /// Every supported version, oldest first.
    pub const ALL: [ContractVersion; 1] = [ContractVersion::V0_1];

    /// The newest supported version.
    pub const LATEST: ContractVersion = ContractVersion::V0_1;

    /// The version's `(major, minor)` line: components of any patch (and of later
    /// patches than this host knows) fit it.
    pub fn line(self) -> (u64, u64) {
        let (major, minor, _) = self.min_version();
        (major, minor)
    }

    /// The first release of the line, as the WIT folder names it.
    pub fn min_version(self) -> (u64, u64, u64) {
        match self {
            ContractVersion::V0_1 => since_v0_1_0::MIN_VERSION,
        }
    }

    /// The interfaces a component of this version must export.
    pub fn required_exports(self) -> &'static [&'static str] {
        match self {
            ContractVersion::V0_1 => &["auth", "webhooks", "comments", "commands"],
        }
    }

    /// The world's own imports a component of this version may use.
    pub fn world_imports(self) -> &'static [&'static str] {
        match self {
            ContractVersion::V0_1 => &["types", "http", "storage", "log"],
        }
    }

    /// The version whose line `(major, minor)` is.
    pub fn from_line(major: u64, minor: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.line() == (major, minor))
    }
}

impl fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (major, minor, patch) = self.min_version();
        write!(f, "{major}.{minor}.{patch}")
    }
}

/// One linker per supported version, built once per [`crate::Runtime`].
pub(crate) struct Linkers {
    v0_1: Linker<CallState>,
}

impl Linkers {
    pub(crate) fn new(engine: &Engine) -> wasmtime::Result<Self> {
        Ok(Self {
            v0_1: since_v0_1_0::linker(engine)?,
        })
    }

    /// Prepare `component`'s instantiation with the linker of its version.
    pub(crate) fn prepare(
        &self,
        version: ContractVersion,
        component: &Component,
    ) -> Result<ProviderPre, LoadError> {
        let link = |e: wasmtime::Error| LoadError::Link {
            version,
            message: format!("{e:#}"),
        };
        match version {
            ContractVersion::V0_1 => {
                let mut linker = self.v0_1.clone();
                crate::capability::wasi::deny_the_rest(&mut linker, component).map_err(link)?;
                let pre = linker.instantiate_pre(component).map_err(link)?;
                since_v0_1_0::VcsProviderPre::new(pre)
                    .map(ProviderPre::V0_1)
                    .map_err(link)
            }
        }
    }
}

/// A component prepared for instantiation, by version.
#[derive(Clone)]
pub(crate) enum ProviderPre {
    V0_1(since_v0_1_0::VcsProviderPre<CallState>),
}

impl ProviderPre {
    pub(crate) fn engine(&self) -> &Engine {
        match self {
            ProviderPre::V0_1(pre) => pre.engine(),
        }
    }

    pub(crate) fn instantiate(&self, store: &mut Store<CallState>) -> wasmtime::Result<Instance> {
        match self {
            ProviderPre::V0_1(pre) => pre.instantiate(store).map(Instance::V0_1),
        }
    }
}

/// A live instance, by version.
pub(crate) enum Instance {
    V0_1(since_v0_1_0::VcsProvider),
}

/// The provider's exports as typed methods. Each call runs in a fresh, sandboxed
/// instance under the host's limits (see [`Provider`]); every method answers a
/// [`CallResult`].
impl Provider {
    /// `auth.authorization-url`: the URL of the OAuth app flow, with a single-use state.
    pub fn authorization_url(
        &self,
        context: &CallContext,
        app: &OauthApp,
    ) -> CallResult<AuthorizationRequest> {
        self.call(context, |instance, store| match instance {
            Instance::V0_1(p) => p.vcs_provider_auth().call_authorization_url(store, app),
        })
    }

    /// `auth.exchange-code`: the callback's code for tokens.
    pub fn exchange_code(
        &self,
        context: &CallContext,
        app: &OauthApp,
        code: &str,
        state: &str,
    ) -> CallResult<TokenSet> {
        self.call(context, |instance, store| match instance {
            Instance::V0_1(p) => p
                .vcs_provider_auth()
                .call_exchange_code(store, app, code, state),
        })
    }

    /// `auth.refresh-token`: a refresh token for new tokens (keep the rotated one).
    pub fn refresh_token(
        &self,
        context: &CallContext,
        app: &OauthApp,
        refresh_token: &str,
    ) -> CallResult<TokenSet> {
        self.call(context, |instance, store| match instance {
            Instance::V0_1(p) => {
                p.vcs_provider_auth()
                    .call_refresh_token(store, app, refresh_token)
            }
        })
    }

    /// `auth.validate`: who the credential acts as and whether it may do what is needed.
    pub fn validate(
        &self,
        context: &CallContext,
        connection: &Connection,
        required: &[Capability],
    ) -> CallResult<ValidationReport> {
        self.call(context, |instance, store| match instance {
            Instance::V0_1(p) => p
                .vcs_provider_auth()
                .call_validate(store, connection, required),
        })
    }

    /// `auth.verify-webhook`: whether a delivery carries the configured credentials.
    pub fn verify_webhook(
        &self,
        context: &CallContext,
        expected: &WebhookAuth,
        headers: &[(String, String)],
        body: &[u8],
    ) -> CallResult<()> {
        self.call(context, |instance, store| match instance {
            Instance::V0_1(p) => {
                p.vcs_provider_auth()
                    .call_verify_webhook(store, expected, &headers.to_vec(), body)
            }
        })
    }

    /// `webhooks.handle-delivery`: one delivery into a normalized event, `ignored` or
    /// `duplicate`.
    pub fn handle_delivery(
        &self,
        context: &CallContext,
        settings: &IntegrationSettings,
        connection: Option<&Connection>,
        delivery: &Delivery,
    ) -> CallResult<HandledDelivery> {
        self.call(context, |instance, store| match instance {
            Instance::V0_1(p) => p
                .vcs_provider_webhooks()
                .call_handle_delivery(store, settings, connection, delivery),
        })
    }

    /// `webhooks.changed-files`: one page of the files a pull request or a commit range
    /// changed.
    pub fn changed_files(
        &self,
        context: &CallContext,
        connection: &Connection,
        source: &ChangeSource,
        cursor: Option<&str>,
    ) -> CallResult<ChangedFilesPage> {
        self.call(context, |instance, store| match instance {
            Instance::V0_1(p) => p
                .vcs_provider_webhooks()
                .call_changed_files(store, connection, source, cursor),
        })
    }

    /// `comments.limits`: the longest comment and the unit it is counted in.
    pub fn comment_limits(&self, context: &CallContext) -> Result<CommentLimits, CallError> {
        self.call(context, |instance, store| match instance {
            Instance::V0_1(p) => p.vcs_provider_comments().call_limits(store),
        })
    }

    /// `comments.render`: a run report as comment bodies, in posting order.
    pub fn render(
        &self,
        context: &CallContext,
        report: &RunReport,
        options: &RenderOptions,
    ) -> CallResult<Vec<String>> {
        self.call(context, |instance, store| match instance {
            Instance::V0_1(p) => p
                .vcs_provider_comments()
                .call_render(store, report, options),
        })
    }

    /// `comments.publish`: post or update the report's comments on the pull request.
    pub fn publish(
        &self,
        context: &CallContext,
        connection: &Connection,
        target: &PullRequestRef,
        report: &RunReport,
        options: &PublishOptions,
    ) -> CallResult<PublishResult> {
        self.call(context, |instance, store| match instance {
            Instance::V0_1(p) => p
                .vcs_provider_comments()
                .call_publish(store, connection, target, report, options),
        })
    }

    /// `comments.set-status`: a pull-request or commit status.
    pub fn set_status(
        &self,
        context: &CallContext,
        connection: &Connection,
        target: &StatusTarget,
        status: &CommitStatus,
    ) -> CallResult<()> {
        self.call(context, |instance, store| match instance {
            Instance::V0_1(p) => p
                .vcs_provider_comments()
                .call_set_status(store, connection, target, status),
        })
    }

    /// `comments.reply`: answer in a comment's thread (or a new one).
    pub fn reply(
        &self,
        context: &CallContext,
        connection: &Connection,
        target: &PullRequestRef,
        thread_id: Option<&str>,
        markdown: &str,
    ) -> CallResult<PostedComment> {
        self.call(context, |instance, store| match instance {
            Instance::V0_1(p) => p
                .vcs_provider_comments()
                .call_reply(store, connection, target, thread_id, markdown),
        })
    }

    /// `commands.parse`: a comment's command, if it has one.
    pub fn parse_command(
        &self,
        context: &CallContext,
        body: &str,
        prefix: &str,
    ) -> CallResult<ParsedCommand> {
        self.call(context, |instance, store| match instance {
            Instance::V0_1(p) => p.vcs_provider_commands().call_parse(store, body, prefix),
        })
    }

    /// `commands.authorize`: whether a comment's command may run, and what to reply.
    pub fn authorize_command(
        &self,
        context: &CallContext,
        settings: &CommandSettings,
        workspaces: &[Workspace],
        connection: Option<&Connection>,
        request: &CommandRequest,
    ) -> CallResult<CommandVerdict> {
        self.call(context, |instance, store| match instance {
            Instance::V0_1(p) => p
                .vcs_provider_commands()
                .call_authorize(store, settings, workspaces, connection, request),
        })
    }
}
