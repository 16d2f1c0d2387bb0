//! The component's exports: each WIT function delegates to its module with the
//! host's imports as the [`Host`](crate::host::Host).

use crate::bindings::exports::vcs::provider::{auth, commands, comments, webhooks};
use crate::bindings::vcs::provider::types::{
    CommandSettings, Connection, IntegrationSettings, ProviderError, PullRequestRef, WebhookAuth,
    Workspace,
};
use crate::host::ComponentHost;

/// The GitHub provider, as exported to the host.
pub struct GitHub;

impl auth::Guest for GitHub {
    fn authorization_url(app: auth::OauthApp) -> Result<auth::AuthorizationRequest, ProviderError> {
        crate::auth::authorization_url(&ComponentHost, &app)
    }
    fn exchange_code(
        app: auth::OauthApp,
        code: String,
        state: String,
    ) -> Result<auth::TokenSet, ProviderError> {
        crate::auth::exchange_code(&ComponentHost, &app, &code, &state)
    }
    fn refresh_token(
        app: auth::OauthApp,
        refresh_token: String,
    ) -> Result<auth::TokenSet, ProviderError> {
        crate::auth::refresh_token(&ComponentHost, &app, &refresh_token)
    }
    fn validate(
        conn: Connection,
        required: Vec<auth::Capability>,
    ) -> Result<auth::ValidationReport, ProviderError> {
        crate::auth::validate(&ComponentHost, &conn, &required)
    }
    fn verify_webhook(
        expected: WebhookAuth,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<(), ProviderError> {
        crate::auth::verify_webhook(&expected, &headers, &body)
    }
}

impl webhooks::Guest for GitHub {
    fn handle_delivery(
        settings: IntegrationSettings,
        conn: Option<Connection>,
        delivery: webhooks::Delivery,
    ) -> Result<webhooks::HandledDelivery, ProviderError> {
        crate::webhooks::handle_delivery(&ComponentHost, &settings, conn.as_ref(), &delivery)
    }
    fn changed_files(
        conn: Connection,
        source: webhooks::ChangeSource,
        cursor: Option<String>,
    ) -> Result<webhooks::ChangedFilesPage, ProviderError> {
        crate::webhooks::changed_files(&ComponentHost, &conn, &source, cursor.as_deref())
    }
}

impl comments::Guest for GitHub {
    fn limits() -> comments::CommentLimits {
        crate::comments::limits()
    }
    fn render(
        report: comments::RunReport,
        options: comments::RenderOptions,
    ) -> Result<Vec<String>, ProviderError> {
        crate::comments::render(&report, &options)
    }
    fn publish(
        conn: Connection,
        target: PullRequestRef,
        report: comments::RunReport,
        options: comments::PublishOptions,
    ) -> Result<comments::PublishResult, ProviderError> {
        crate::comments::publish(&ComponentHost, &conn, &target, &report, &options)
    }
    fn set_status(
        conn: Connection,
        target: comments::StatusTarget,
        status: comments::CommitStatus,
    ) -> Result<(), ProviderError> {
        crate::comments::set_status(&ComponentHost, &conn, &target, &status)
    }
    fn reply(
        conn: Connection,
        target: PullRequestRef,
        thread_id: Option<String>,
        markdown: String,
    ) -> Result<comments::PostedComment, ProviderError> {
        crate::comments::reply(
            &ComponentHost,
            &conn,
            &target,
            thread_id.as_deref(),
            &markdown,
        )
    }
}

impl commands::Guest for GitHub {
    fn parse(body: String, prefix: String) -> Result<commands::ParsedCommand, ProviderError> {
        crate::commands::parse(&body, &prefix)
    }
    fn authorize(
        settings: CommandSettings,
        workspaces: Vec<Workspace>,
        conn: Option<Connection>,
        request: commands::CommandRequest,
    ) -> Result<webhooks::CommandVerdict, ProviderError> {
        crate::commands::authorize(
            &ComponentHost,
            &settings,
            &workspaces,
            conn.as_ref(),
            &request,
        )
    }
}

crate::bindings::export!(GitHub with_types_in crate::bindings);
