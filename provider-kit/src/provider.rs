//! [`Provider`]: what a VCS provider implements, and [`export_provider!`], which makes
//! it the component's exports.

use crate::auth::{AuthorizationRequest, Capability, OauthApp, TokenSet, ValidationReport};
use crate::commands::{CommandRequest, ParsedCommand};
use crate::comments::{
    CommentLimits, CommitStatus, PostedComment, PublishOptions, PublishResult, RenderOptions,
    RunReport, StatusTarget,
};
use crate::error::{Result, unsupported};
use crate::host::Host;
use crate::types::{
    CommandSettings, Connection, IntegrationSettings, PullRequestRef, WebhookAuth, Workspace,
};
use crate::webhooks::{ChangeSource, ChangedFilesPage, CommandVerdict, Delivery, HandledDelivery};

/// A VCS provider of the `vcs:provider@0.1.0` world: one function per exported WIT
/// function, each with a default.
///
/// Every function takes the host seam first ([`Host`]: inside the component the WIT
/// imports, in native tests a fake) and then the WIT arguments, borrowed. The defaults
/// answer `unsupported` ("auth.validate is not implemented by this version of the Forge
/// provider"), except where the kit has a shared answer:
///
/// - [`Provider::limits`] answers [`Provider::COMMENT_LIMIT`];
/// - [`Provider::render`] runs the shared renderer ([`crate::render`]) under that limit;
/// - [`Provider::parse`] runs the shared command grammar ([`crate::command_parser`]).
///
/// The functions are associated functions (no `self`): the host creates a fresh instance
/// per call, so a provider keeps no state between calls except in the host's storage.
/// [`export_provider!`] turns an implementation into the component's exports.
pub trait Provider: 'static {
    /// A short machine name, e.g. `azure-devops` or `github`.
    const NAME: &'static str;
    /// The platform as people name it, e.g. `Azure DevOps` or `GitHub`: used in every
    /// message the kit words for the provider.
    const DISPLAY_NAME: &'static str;
    /// [`Provider::DISPLAY_NAME`]'s possessive, e.g. `Azure DevOps'` or `GitHub's`.
    const POSSESSIVE: &'static str;
    /// The largest comment the platform accepts, and the unit it counts in; what
    /// `comments.limits` answers and the default renderer splits to.
    const COMMENT_LIMIT: CommentLimits;
    /// The largest webhook body the platform ever sends, in bytes; larger bodies are
    /// refused before they are parsed ([`crate::views::parse_delivery_body`]).
    const MAX_DELIVERY_BYTES: usize;
    /// A delivery, with its article, for messages: `a service-hook delivery`.
    const DELIVERY: &'static str = "a webhook delivery";
    /// Deliveries' bodies, plural, for messages: `service-hook payloads`.
    const PAYLOADS: &'static str = "webhook payloads";

    /// `auth.authorization-url`: the authorization URL of the OAuth code flow.
    fn authorization_url(host: &impl Host, app: &OauthApp) -> Result<AuthorizationRequest> {
        let _ = (host, app);
        Err(unsupported::<Self>("auth.authorization-url"))
    }

    /// `auth.exchange-code`: the callback's code exchanged for tokens.
    fn exchange_code(
        host: &impl Host,
        app: &OauthApp,
        code: &str,
        state: &str,
    ) -> Result<TokenSet> {
        let _ = (host, app, code, state);
        Err(unsupported::<Self>("auth.exchange-code"))
    }

    /// `auth.refresh-token`: a refresh token redeemed.
    fn refresh_token(host: &impl Host, app: &OauthApp, refresh_token: &str) -> Result<TokenSet> {
        let _ = (host, app, refresh_token);
        Err(unsupported::<Self>("auth.refresh-token"))
    }

    /// `auth.validate`: who the credential acts as, and a probe per capability.
    fn validate(
        host: &impl Host,
        connection: &Connection,
        required: &[Capability],
    ) -> Result<ValidationReport> {
        let _ = (host, connection, required);
        Err(unsupported::<Self>("auth.validate"))
    }

    /// `auth.verify-webhook`: whether a delivery comes from the platform.
    fn verify_webhook(
        host: &impl Host,
        expected: &WebhookAuth,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<()> {
        let _ = (host, expected, headers, body);
        Err(unsupported::<Self>("auth.verify-webhook"))
    }

    /// `webhooks.handle-delivery`: one delivery turned into an event.
    fn handle_delivery(
        host: &impl Host,
        settings: &IntegrationSettings,
        connection: Option<&Connection>,
        delivery: &Delivery,
    ) -> Result<HandledDelivery> {
        let _ = (host, settings, connection, delivery);
        Err(unsupported::<Self>("webhooks.handle-delivery"))
    }

    /// `webhooks.changed-files`: one page of a pull request's or a range's changed files.
    fn changed_files(
        host: &impl Host,
        connection: &Connection,
        source: &ChangeSource,
        cursor: Option<&str>,
    ) -> Result<ChangedFilesPage> {
        let _ = (host, connection, source, cursor);
        Err(unsupported::<Self>("webhooks.changed-files"))
    }

    /// `comments.limits`: by default [`Provider::COMMENT_LIMIT`].
    fn limits(host: &impl Host) -> CommentLimits {
        let _ = host;
        Self::COMMENT_LIMIT
    }

    /// `comments.render`: by default the shared renderer under
    /// [`Provider::COMMENT_LIMIT`] ([`crate::views::render`]).
    fn render(
        host: &impl Host,
        report: &RunReport,
        options: &RenderOptions,
    ) -> Result<Vec<String>> {
        let _ = host;
        crate::views::render::<Self>(report, options)
    }

    /// `comments.publish`: a report posted on a pull request, or the earlier comment
    /// updated.
    fn publish(
        host: &impl Host,
        connection: &Connection,
        target: &PullRequestRef,
        report: &RunReport,
        options: &PublishOptions,
    ) -> Result<PublishResult> {
        let _ = (host, connection, target, report, options);
        Err(unsupported::<Self>("comments.publish"))
    }

    /// `comments.set-status`: a status on a pull request or a commit.
    fn set_status(
        host: &impl Host,
        connection: &Connection,
        target: &StatusTarget,
        status: &CommitStatus,
    ) -> Result<()> {
        let _ = (host, connection, target, status);
        Err(unsupported::<Self>("comments.set-status"))
    }

    /// `comments.reply`: a plain reply on a pull request.
    fn reply(
        host: &impl Host,
        connection: &Connection,
        target: &PullRequestRef,
        thread_id: Option<&str>,
        markdown: &str,
    ) -> Result<PostedComment> {
        let _ = (host, connection, target, thread_id, markdown);
        Err(unsupported::<Self>("comments.reply"))
    }

    /// `commands.parse`: by default the shared grammar ([`crate::views::parse_command`]).
    fn parse(host: &impl Host, body: &str, prefix: &str) -> Result<ParsedCommand> {
        let _ = host;
        crate::views::parse_command(body, prefix)
    }

    /// `commands.authorize`: whether a comment's command may run. The shared rules with
    /// the platform's apply checks are one call: [`crate::views::authorize_command`].
    fn authorize(
        host: &impl Host,
        settings: &CommandSettings,
        workspaces: &[Workspace],
        connection: Option<&Connection>,
        request: &CommandRequest,
    ) -> Result<CommandVerdict> {
        let _ = (host, settings, workspaces, connection, request);
        Err(unsupported::<Self>("commands.authorize"))
    }
}

/// Export a [`Provider`] as the component's `auth`, `webhooks`, `comments` and
/// `commands` interfaces: the only glue a provider writes, once, in its `lib.rs`.
///
/// ```ignore
/// provider_kit::export_provider!(Forge);
/// ```
///
/// Each WIT function calls the [`Provider`] function of the same name with the WIT
/// imports as the host ([`host::ComponentHost`](crate::host::ComponentHost)). The macro
/// expands to nothing except on `wasm32`, so the provider's crate stays an ordinary
/// library natively (unit tests, benchmarks).
#[macro_export]
macro_rules! export_provider {
    ($provider:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __ProviderKitComponent = $crate::Component<$provider>;
    $crate::bindings::export!(__ProviderKitComponent with_types_in $crate::bindings);
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comments::{LengthUnit, RunKind, RunStatus, StatusState, WorkspaceReport};
    use crate::host::MemoryHost;
    use crate::types::{Credential, ProviderError, Repository};

    /// A provider that writes nothing but its constants.
    struct Forge;

    impl Provider for Forge {
        const NAME: &'static str = "forge";
        const DISPLAY_NAME: &'static str = "Forge";
        const POSSESSIVE: &'static str = "Forge's";
        const COMMENT_LIMIT: CommentLimits = CommentLimits {
            max_length: 1_000,
            unit: LengthUnit::UnicodeScalars,
        };
        const MAX_DELIVERY_BYTES: usize = 1024;
    }

    /// Counts in UTF-8 bytes, which the shared renderer does not measure.
    struct Bytes;

    impl Provider for Bytes {
        const NAME: &'static str = "bytes";
        const DISPLAY_NAME: &'static str = "Bytes";
        const POSSESSIVE: &'static str = "Bytes'";
        const COMMENT_LIMIT: CommentLimits = CommentLimits {
            max_length: 1_000,
            unit: LengthUnit::Utf8Bytes,
        };
        const MAX_DELIVERY_BYTES: usize = 1024;
    }

    fn connection() -> Connection {
        Connection {
            base_url: "https://forge.example/".into(),
            credential: Credential::PersonalAccessToken("t".into()),
            options: vec![],
        }
    }

    fn repository() -> Repository {
        Repository {
            id: "1".into(),
            name: "r".into(),
            project: None,
            project_id: None,
            organization: "o".into(),
            web_url: None,
            clone_url: None,
            api_url: "https://forge.example/".into(),
            default_branch: None,
        }
    }

    #[test]
    fn defaults_answer_unsupported_with_the_providers_name() {
        let host = MemoryHost::new();
        let target = PullRequestRef {
            repository: repository(),
            number: 1,
        };
        let Err(ProviderError::Unsupported(m)) =
            Forge::reply(&host, &connection(), &target, None, "hi")
        else {
            panic!("reply has no default")
        };
        assert_eq!(
            m,
            "comments.reply is not implemented by this version of the Forge provider"
        );
        let status = CommitStatus {
            state: StatusState::Pending,
            context_name: "plan".into(),
            context_genre: None,
            description: "d".into(),
            target_url: None,
        };
        let target = StatusTarget::Commit(crate::comments::CommitStatusTarget {
            repository: repository(),
            sha: "a".repeat(40),
        });
        let Err(ProviderError::Unsupported(m)) =
            Forge::set_status(&host, &connection(), &target, &status)
        else {
            panic!("set-status has no default")
        };
        assert!(
            m.starts_with("comments.set-status is not implemented"),
            "{m}"
        );
        assert!(host.is_empty() && host.log_lines() == 0);
    }

    #[test]
    fn limits_render_and_parse_have_shared_defaults() {
        let host = MemoryHost::new();
        assert_eq!(Forge::limits(&host).max_length, 1_000);
        let report = RunReport {
            kind: RunKind::Plan,
            run_url: None,
            run_id: None,
            head_sha: None,
            workspaces: vec![WorkspaceReport {
                name: "prod".into(),
                status: RunStatus::Success,
                add: 1,
                change: 0,
                destroy: 0,
                import: 0,
                output: "+ x\n".repeat(500),
            }],
        };
        let options = RenderOptions {
            max_length: None,
            commands: None,
        };
        let parts = Forge::render(&host, &report, &options).unwrap();
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| p.chars().count() <= 1_000));
        assert!(matches!(
            Forge::parse(&host, "/scalr plan -w prod", "/scalr").unwrap(),
            ParsedCommand::Plan(names) if names == ["prod"]
        ));
        let Err(ProviderError::InvalidConfig(m)) = Bytes::render(&host, &report, &options) else {
            panic!("UTF-8 bytes are refused")
        };
        assert!(
            m.contains("the Bytes provider counts comments in UTF-8 bytes"),
            "{m}"
        );
    }
}
