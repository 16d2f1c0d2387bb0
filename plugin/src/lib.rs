//! The Azure DevOps provider of the `vcs:provider@0.1.0` world.
//!
//! Built for `wasm32-wasip2` it is a WebAssembly component the host loads; built natively
//! it is an ordinary library, so the logic is unit-tested and benchmarked without a
//! runtime. [`AzureDevOps`] implements [`provider_kit::Provider`] and is exported with
//! [`provider_kit::export_provider!`]; the modules follow the world's four exported
//! interfaces ([`auth`], [`webhooks`], [`comments`], [`commands`]) over one small REST
//! client ([`rest`]), and everything reaches the outside world through
//! [`provider_kit::host::Host`].
//!
//! No input may panic the provider: the workspace lints deny `unwrap`, `expect`,
//! `panic!` and unchecked indexing outside tests.

pub mod auth;
pub mod commands;
pub mod comments;
pub mod rest;
pub mod webhooks;

use provider_kit::prelude::*;

/// The Azure DevOps provider (Services and Server 2020/2022).
pub struct AzureDevOps;

impl Provider for AzureDevOps {
    const NAME: &'static str = "azure-devops";
    const DISPLAY_NAME: &'static str = "Azure DevOps";
    const POSSESSIVE: &'static str = "Azure DevOps'";
    /// 150,000 characters, counted in UTF-16 code units.
    const COMMENT_LIMIT: CommentLimits = CommentLimits {
        max_length: comments::MAX_COMMENT_UTF16,
        unit: LengthUnit::Utf16CodeUnits,
    };
    /// 2 MB: anything larger is not a service-hook delivery.
    const MAX_DELIVERY_BYTES: usize = 2 * 1024 * 1024;
    const DELIVERY: &'static str = "a service-hook delivery";
    const PAYLOADS: &'static str = "service-hook payloads";

    /// The Microsoft Entra ID code flow with PKCE; state and verifier kept in storage.
    fn authorization_url(host: &impl Host, app: &OauthApp) -> Result<AuthorizationRequest> {
        auth::oauth::authorization_url(host, app)
    }

    /// The callback's code redeemed at the tenant's token endpoint; the state is consumed.
    fn exchange_code(
        host: &impl Host,
        app: &OauthApp,
        code: &str,
        state: &str,
    ) -> Result<TokenSet> {
        auth::oauth::exchange_code(host, app, code, state)
    }

    /// A refresh token redeemed; Entra ID rotates it.
    fn refresh_token(host: &impl Host, app: &OauthApp, refresh_token: &str) -> Result<TokenSet> {
        auth::oauth::refresh_token(host, app, refresh_token)
    }

    /// `_apis/connectionData` for the identity, then one probe per capability.
    fn validate(
        host: &impl Host,
        conn: &Connection,
        required: &[Capability],
    ) -> Result<ValidationReport> {
        auth::validate::validate(host, conn, required)
    }

    /// Azure DevOps signs nothing: the headers carry the subscription's Basic credentials.
    fn verify_webhook(
        _: &impl Host,
        expected: &WebhookAuth,
        headers: &[(String, String)],
        _: &[u8],
    ) -> Result<()> {
        auth::verify_webhook(expected, headers)
    }

    /// A service-hook delivery (`git.push`, `git.pullrequest.*`, pull-request comments).
    fn handle_delivery(
        host: &impl Host,
        settings: &IntegrationSettings,
        conn: Option<&Connection>,
        delivery: &Delivery,
    ) -> Result<HandledDelivery> {
        webhooks::handle_delivery(host, settings, conn, delivery)
    }

    /// A pull request's last iteration's changes, or a commit range's diff, paged.
    fn changed_files(
        host: &impl Host,
        conn: &Connection,
        source: &ChangeSource,
        cursor: Option<&str>,
    ) -> Result<ChangedFilesPage> {
        webhooks::changes::changed_files(host, conn, source, cursor)
    }

    /// The report as pull-request threads, updated in place on later runs.
    fn publish(
        host: &impl Host,
        conn: &Connection,
        target: &PullRequestRef,
        report: &RunReport,
        options: &PublishOptions,
    ) -> Result<PublishResult> {
        comments::publish::publish(host, conn, target, report, options)
    }

    /// A pull-request iteration status, or a commit status.
    fn set_status(
        host: &impl Host,
        conn: &Connection,
        target: &StatusTarget,
        status: &CommitStatus,
    ) -> Result<()> {
        comments::publish::set_status(host, conn, target, status)
    }

    /// A new thread, or a reply in `thread_id`.
    fn reply(
        host: &impl Host,
        conn: &Connection,
        target: &PullRequestRef,
        thread_id: Option<&str>,
        markdown: &str,
    ) -> Result<PostedComment> {
        comments::publish::reply(host, conn, target, thread_id, markdown)
    }

    /// The shared rules with reviewer votes, merge status and branch policies for apply.
    fn authorize(
        host: &impl Host,
        settings: &CommandSettings,
        workspaces: &[Workspace],
        conn: Option<&Connection>,
        request: &CommandRequest,
    ) -> Result<CommandVerdict> {
        commands::authorize(host, settings, workspaces, conn, request)
    }
}

provider_kit::export_provider!(AzureDevOps);

#[cfg(test)]
mod tests {
    /// The manifest the host reads beside the component says what this crate says.
    #[test]
    fn the_provider_manifest_agrees_with_the_constants() {
        provider_kit::testing::manifest_agrees_with_the_provider::<super::AzureDevOps>(
            include_str!("../provider.toml"),
        );
    }
}
