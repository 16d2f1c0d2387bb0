//! The component's exports for any [`Provider`]: each generated `Guest` function calls
//! the provider's function of the same name with the WIT imports as the host.
//! [`export_provider!`](crate::export_provider) exports `Component<P>`.

use std::marker::PhantomData;

use crate::Provider;
use crate::bindings::exports::vcs::provider::{auth, commands, comments, webhooks};
use crate::host::ComponentHost;
use crate::types::{
    CommandSettings, Connection, IntegrationSettings, ProviderError, PullRequestRef, WebhookAuth,
    Workspace,
};

/// The exported component of provider `P`. Not constructed: the generated exports only
/// name its type.
pub struct Component<P>(PhantomData<P>);

impl<P: Provider> auth::Guest for Component<P> {
    fn authorization_url(app: auth::OauthApp) -> Result<auth::AuthorizationRequest, ProviderError> {
        P::authorization_url(&ComponentHost, &app)
    }
    fn exchange_code(
        app: auth::OauthApp,
        code: String,
        state: String,
    ) -> Result<auth::TokenSet, ProviderError> {
        P::exchange_code(&ComponentHost, &app, &code, &state)
    }
    fn refresh_token(
        app: auth::OauthApp,
        refresh_token: String,
    ) -> Result<auth::TokenSet, ProviderError> {
        P::refresh_token(&ComponentHost, &app, &refresh_token)
    }
    fn validate(
        conn: Connection,
        required: Vec<auth::Capability>,
    ) -> Result<auth::ValidationReport, ProviderError> {
        P::validate(&ComponentHost, &conn, &required)
    }
    fn verify_webhook(
        expected: WebhookAuth,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<(), ProviderError> {
        P::verify_webhook(&ComponentHost, &expected, &headers, &body)
    }
}

impl<P: Provider> webhooks::Guest for Component<P> {
    fn handle_delivery(
        settings: IntegrationSettings,
        conn: Option<Connection>,
        delivery: webhooks::Delivery,
    ) -> Result<webhooks::HandledDelivery, ProviderError> {
        P::handle_delivery(&ComponentHost, &settings, conn.as_ref(), &delivery)
    }
    fn changed_files(
        conn: Connection,
        source: webhooks::ChangeSource,
        cursor: Option<String>,
    ) -> Result<webhooks::ChangedFilesPage, ProviderError> {
        P::changed_files(&ComponentHost, &conn, &source, cursor.as_deref())
    }
}

impl<P: Provider> comments::Guest for Component<P> {
    fn limits() -> comments::CommentLimits {
        P::limits(&ComponentHost)
    }
    fn render(
        report: comments::RunReport,
        options: comments::RenderOptions,
    ) -> Result<Vec<String>, ProviderError> {
        P::render(&ComponentHost, &report, &options)
    }
    fn publish(
        conn: Connection,
        target: PullRequestRef,
        report: comments::RunReport,
        options: comments::PublishOptions,
    ) -> Result<comments::PublishResult, ProviderError> {
        P::publish(&ComponentHost, &conn, &target, &report, &options)
    }
    fn set_status(
        conn: Connection,
        target: comments::StatusTarget,
        status: comments::CommitStatus,
    ) -> Result<(), ProviderError> {
        P::set_status(&ComponentHost, &conn, &target, &status)
    }
    fn reply(
        conn: Connection,
        target: PullRequestRef,
        thread_id: Option<String>,
        markdown: String,
    ) -> Result<comments::PostedComment, ProviderError> {
        P::reply(
            &ComponentHost,
            &conn,
            &target,
            thread_id.as_deref(),
            &markdown,
        )
    }
}

impl<P: Provider> commands::Guest for Component<P> {
    fn parse(body: String, prefix: String) -> Result<commands::ParsedCommand, ProviderError> {
        P::parse(&ComponentHost, &body, &prefix)
    }
    fn authorize(
        settings: CommandSettings,
        workspaces: Vec<Workspace>,
        conn: Option<Connection>,
        request: commands::CommandRequest,
    ) -> Result<webhooks::CommandVerdict, ProviderError> {
        P::authorize(
            &ComponentHost,
            &settings,
            &workspaces,
            conn.as_ref(),
            &request,
        )
    }
}
