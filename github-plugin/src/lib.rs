//! The GitHub provider of the `vcs:provider@0.1.0` world.
//!
//! Built for `wasm32-wasip2` it is a WebAssembly component the host loads; built natively
//! it is an ordinary library, so the logic is unit-tested without a runtime. It is built
//! like the Azure DevOps provider in `plugin/`, on the same kit and against the same
//! unchanged world: [`GitHub`] implements [`provider_kit::Provider`] and is exported with
//! [`provider_kit::export_provider!`]. Modules follow the world's four exported
//! interfaces ([`auth`], [`webhooks`], [`comments`], [`commands`]) over one small GitHub
//! REST client ([`rest`]); everything reaches the outside world through
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

/// The GitHub provider (github.com and GitHub Enterprise Server), for personal access
/// tokens and installation tokens; the OAuth flow answers `unsupported`.
pub struct GitHub;

impl Provider for GitHub {
    const NAME: &'static str = "github";
    const DISPLAY_NAME: &'static str = "GitHub";
    const POSSESSIVE: &'static str = "GitHub's";
    /// 65,536 characters (Unicode scalar values).
    const COMMENT_LIMIT: CommentLimits = CommentLimits {
        max_length: comments::MAX_COMMENT_CHARS,
        unit: LengthUnit::UnicodeScalars,
    };
    /// GitHub caps payloads at 25 MB; anything larger is not a webhook delivery.
    const MAX_DELIVERY_BYTES: usize = 25 * 1024 * 1024;
    const DELIVERY: &'static str = "a GitHub webhook delivery";
    const PAYLOADS: &'static str = "GitHub payloads";

    /// Not in this version: GitHub Apps and OAuth apps are not implemented.
    fn authorization_url(_: &impl Host, _: &OauthApp) -> Result<AuthorizationRequest> {
        Err(auth::no_oauth())
    }

    fn exchange_code(_: &impl Host, _: &OauthApp, _: &str, _: &str) -> Result<TokenSet> {
        Err(auth::no_oauth())
    }

    fn refresh_token(_: &impl Host, _: &OauthApp, _: &str) -> Result<TokenSet> {
        Err(auth::no_oauth())
    }

    /// `GET /user` for the identity; classic tokens' `x-oauth-scopes` decide capabilities.
    fn validate(
        host: &impl Host,
        connection: &Connection,
        required: &[Capability],
    ) -> Result<ValidationReport> {
        auth::validate(host, connection, required)
    }

    /// The `X-Hub-Signature-256` HMAC of the raw body, with the shared secret.
    fn verify_webhook(
        _: &impl Host,
        expected: &WebhookAuth,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<()> {
        auth::verify_webhook(expected, headers, body)
    }

    /// A webhook delivery by `X-GitHub-Event`: `push`, `pull_request`, `issue_comment`.
    fn handle_delivery(
        host: &impl Host,
        settings: &IntegrationSettings,
        connection: Option<&Connection>,
        delivery: &Delivery,
    ) -> Result<HandledDelivery> {
        webhooks::handle_delivery(host, settings, connection, delivery)
    }

    /// `pulls/{n}/files` 100 a page, or one page of `compare/{base}...{head}`.
    fn changed_files(
        host: &impl Host,
        connection: &Connection,
        source: &ChangeSource,
        cursor: Option<&str>,
    ) -> Result<ChangedFilesPage> {
        webhooks::changed_files(host, connection, source, cursor)
    }

    /// The report as issue comments on the pull request, updated in place on later runs.
    fn publish(
        host: &impl Host,
        connection: &Connection,
        target: &PullRequestRef,
        report: &RunReport,
        options: &PublishOptions,
    ) -> Result<PublishResult> {
        comments::publish(host, connection, target, report, options)
    }

    /// A commit status on the head commit (pull requests have no statuses of their own).
    fn set_status(
        host: &impl Host,
        connection: &Connection,
        target: &StatusTarget,
        status: &CommitStatus,
    ) -> Result<()> {
        comments::set_status(host, connection, target, status)
    }

    /// GitHub's conversation has no threads: `thread_id` is logged, the reply is a new
    /// comment.
    fn reply(
        host: &impl Host,
        connection: &Connection,
        target: &PullRequestRef,
        thread_id: Option<&str>,
        markdown: &str,
    ) -> Result<PostedComment> {
        comments::reply(host, connection, target, thread_id, markdown)
    }

    /// The shared rules with each reviewer's latest review and mergeability for apply.
    fn authorize(
        host: &impl Host,
        settings: &CommandSettings,
        workspaces: &[Workspace],
        connection: Option<&Connection>,
        request: &CommandRequest,
    ) -> Result<CommandVerdict> {
        commands::authorize(host, settings, workspaces, connection, request)
    }
}

provider_kit::export_provider!(GitHub);

#[cfg(test)]
mod tests {
    /// The manifest the host reads beside the component says what this crate says.
    #[test]
    fn the_provider_manifest_agrees_with_the_constants() {
        provider_kit::testing::manifest_agrees_with_the_provider::<super::GitHub>(include_str!(
            "../provider.toml"
        ));
    }
}
