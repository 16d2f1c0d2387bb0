//! The integration's configuration file (TOML), as DESIGN.md lays it out, and its
//! translation into the contract's records.
//!
//! Secrets may be given inline or, better, by the name of an environment variable
//! (`client_secret_env`, `token_env`, `password_env`); they are resolved here, passed to
//! the provider per call, and never logged.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::bindings::exports::vcs::provider::auth::OauthApp;
use crate::bindings::vcs::provider::types::{
    BasicCredentials, CommandSettings, Connection, Credential, IntegrationSettings, WebhookAuth,
    Workspace,
};
use crate::engine::HostConfig;

/// One integration: where the organization is, how to authenticate, and its switches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationConfig {
    /// The platform's id of the integration; the storage namespace. Defaults to `default`.
    #[serde(default = "default_id")]
    pub id: String,
    /// The Azure DevOps organization or collection. Another provider's config may call the
    /// section `[vcs]` and the URL `base_url` (e.g. `https://api.github.com/`).
    #[serde(alias = "vcs")]
    pub azure_devops: AzureDevOps,
    /// How the integration authenticates to Azure DevOps.
    pub auth: Option<Auth>,
    /// Credentials deliveries must carry; without this section deliveries are unauthenticated.
    pub webhook: Option<Webhook>,
    /// PR comment switches.
    #[serde(default)]
    pub comments: Comments,
    /// Comment-command switches.
    #[serde(default)]
    pub commands: Commands,
    /// Workspaces linked to the integration's repositories.
    #[serde(default)]
    pub workspaces: Vec<WorkspaceConfig>,
    /// Host limits and egress policy for this integration's calls.
    #[serde(default)]
    pub host: HostConfig,
}

fn default_id() -> String {
    "default".into()
}

/// `[azure_devops]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureDevOps {
    /// `https://dev.azure.com/{org}/`, `https://{org}.visualstudio.com/`, or an Azure
    /// DevOps Server collection URL.
    #[serde(alias = "base_url")]
    pub organization_url: String,
    /// REST api-version override (Azure DevOps Server 2022: "7.0", 2020: "6.0").
    pub api_version: Option<String>,
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// `oauth_app` (Microsoft Entra ID app registration) or `pat`.
    pub method: AuthMethod,
    /// Entra ID tenant (directory) id or domain.
    pub tenant_id: Option<String>,
    /// App registration's client id.
    pub client_id: Option<String>,
    /// App registration's client secret (prefer `client_secret_env`).
    pub client_secret: Option<String>,
    /// Environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// The platform's callback URL, matched exactly.
    pub redirect_uri: Option<String>,
    /// Scopes to request; empty uses the provider's default.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Personal access token (prefer `token_env`), or the current OAuth access token.
    pub token: Option<String>,
    /// Environment variable holding the token.
    pub token_env: Option<String>,
}

/// The two ways to connect.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Microsoft Entra ID app registration, OAuth authorization-code flow.
    OauthApp,
    /// Personal access token.
    Pat,
}

/// `[webhook]`: Basic credentials (Azure DevOps service hooks), or a shared secret that
/// signs the body (GitHub's `X-Hub-Signature-256`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Basic user name set on the service-hook subscription.
    pub username: Option<String>,
    /// Basic password (prefer `password_env`).
    pub password: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// Shared secret that signs deliveries (prefer `secret_env`).
    pub secret: Option<String>,
    /// Environment variable holding the shared secret.
    pub secret_env: Option<String>,
}

/// `[comments]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Comments {
    /// Post plan results as PR comments.
    pub enabled: bool,
    /// "Send the apply summary back to PR comments".
    pub apply_summary: bool,
    /// Post a new comment for each new head commit instead of updating the first one.
    pub new_comment_per_head: bool,
    /// Status of the threads the integration creates (`closed` by default, so they do not
    /// block the comment-resolution policy; `active` to require resolution).
    pub thread_status: Option<String>,
}

/// `[commands]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Commands {
    /// Command prefix.
    pub prefix: String,
    /// "Allow triggering plan-only runs from the PR comments".
    pub allow_plan: bool,
    /// "Allow triggering plan & apply runs from the PR comments".
    pub allow_apply: bool,
    /// The integration's own identity id; its comments are ignored.
    pub bot_user_id: Option<String>,
    /// Let edited comments run their new command.
    pub run_edited_comments: bool,
    /// Only these users (ids or unique names) may run commands, when not empty.
    pub allowed_users: Vec<String>,
    /// Apply only when a reviewer approved.
    pub require_approval_for_apply: bool,
    /// Apply only when the PR is mergeable.
    pub require_mergeable_for_apply: bool,
}

impl Default for Commands {
    fn default() -> Self {
        Self {
            prefix: "/scalr".into(),
            allow_plan: false,
            allow_apply: false,
            bot_user_id: None,
            run_edited_comments: false,
            allowed_users: vec![],
            require_approval_for_apply: false,
            require_mergeable_for_apply: false,
        }
    }
}

/// `[[workspaces]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceConfig {
    /// Workspace name.
    pub name: String,
    /// "Enabled VCS-driven dry runs".
    #[serde(default)]
    pub vcs_dry_runs: bool,
    /// Working directory in the repository.
    pub directory: Option<String>,
    /// Tracked branch (default branch when absent).
    pub branch: Option<String>,
}

impl IntegrationConfig {
    /// Read and check a config file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid config {}", path.display()))
    }

    /// Parse and check config text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut config: Self = toml::from_str(text)?;
        let url = url::Url::parse(&config.azure_devops.organization_url).with_context(|| {
            format!(
                "azure_devops.organization_url {:?} is not a URL",
                config.azure_devops.organization_url
            )
        })?;
        if !config.azure_devops.organization_url.ends_with('/') {
            config.azure_devops.organization_url.push('/');
        }
        // The configured organization's host (an Azure DevOps Server, say) is reachable
        // in addition to the Azure DevOps Services hosts.
        if let Some(host) = url.host_str() {
            let host = host.to_ascii_lowercase();
            if !config.host.http.allow_hosts.iter().any(|h| h == &host) {
                config.host.http.allow_hosts.push(host);
            }
        }
        if config.commands.prefix.trim().is_empty() {
            bail!("commands.prefix must not be empty");
        }
        Ok(config)
    }

    /// The settings record the provider receives.
    pub fn settings(&self) -> IntegrationSettings {
        let c = &self.commands;
        IntegrationSettings {
            id: self.id.clone(),
            base_url: self.azure_devops.organization_url.clone(),
            commands: CommandSettings {
                prefix: c.prefix.clone(),
                allow_plan: c.allow_plan,
                allow_apply: c.allow_apply,
                bot_user_id: c.bot_user_id.clone(),
                run_edited_comments: c.run_edited_comments,
                allowed_users: c.allowed_users.clone(),
                require_approval_for_apply: c.require_approval_for_apply,
                require_mergeable_for_apply: c.require_mergeable_for_apply,
            },
            workspaces: self
                .workspaces
                .iter()
                .map(|w| Workspace {
                    name: w.name.clone(),
                    vcs_dry_runs: w.vcs_dry_runs,
                    directory: w.directory.clone(),
                    branch: w.branch.clone(),
                })
                .collect(),
            options: self.options(),
        }
    }

    fn options(&self) -> Vec<(String, String)> {
        let mut options = BTreeMap::new();
        if let Some(version) = &self.azure_devops.api_version {
            options.insert("api-version".to_string(), version.clone());
        }
        if let Some(status) = &self.comments.thread_status {
            options.insert("thread-status".to_string(), status.clone());
        }
        options.into_iter().collect()
    }

    /// The webhook verification the provider applies.
    pub fn webhook_auth(&self) -> anyhow::Result<WebhookAuth> {
        let Some(webhook) = &self.webhook else {
            return Ok(WebhookAuth::None);
        };
        if let Some(shared) = secret("webhook.secret", &webhook.secret, &webhook.secret_env)? {
            if webhook.username.is_some() {
                bail!(
                    "[webhook] takes either username/password (Basic) or secret (signatures), not both"
                );
            }
            return Ok(WebhookAuth::SharedSecret(shared));
        }
        let username = webhook
            .username
            .clone()
            .context("[webhook] needs username and password (Basic), or secret (signatures)")?;
        let password = secret("webhook.password", &webhook.password, &webhook.password_env)?
            .context("webhook.password or webhook.password_env is required with [webhook]")?;
        Ok(WebhookAuth::Basic(BasicCredentials { username, password }))
    }

    /// The connection for REST calls, when a token is configured.
    pub fn connection(&self) -> anyhow::Result<Option<Connection>> {
        let Some(auth) = &self.auth else {
            return Ok(None);
        };
        let Some(token) = secret("auth.token", &auth.token, &auth.token_env)? else {
            return Ok(None);
        };
        let credential = match auth.method {
            AuthMethod::Pat => Credential::PersonalAccessToken(token),
            AuthMethod::OauthApp => Credential::OauthAccessToken(token),
        };
        Ok(Some(Connection {
            base_url: self.azure_devops.organization_url.clone(),
            credential,
            options: self.options(),
        }))
    }

    /// The OAuth app registration, for `auth url|exchange|refresh`.
    pub fn oauth_app(&self) -> anyhow::Result<OauthApp> {
        let auth = self
            .auth
            .as_ref()
            .context("the config has no [auth] section")?;
        if auth.method != AuthMethod::OauthApp {
            bail!("auth.method is \"pat\"; the OAuth flow needs method = \"oauth_app\"");
        }
        let need = |field: &str, value: &Option<String>| {
            value
                .clone()
                .filter(|v| !v.trim().is_empty())
                .with_context(|| format!("auth.{field} is required for method = \"oauth_app\""))
        };
        Ok(OauthApp {
            client_id: need("client_id", &auth.client_id)?,
            client_secret: secret("auth.client_secret", &auth.client_secret, &auth.client_secret_env)?
                .context("auth.client_secret or auth.client_secret_env is required for method = \"oauth_app\"")?,
            redirect_uri: need("redirect_uri", &auth.redirect_uri)?,
            tenant: Some(need("tenant_id", &auth.tenant_id)?),
            scopes: auth.scopes.clone(),
            options: vec![],
        })
    }

    /// Every secret value of the config, for scrubbing recordings and checking outputs.
    pub fn secrets(&self) -> Vec<String> {
        let mut found = Vec::new();
        if let Some(auth) = &self.auth {
            found.extend(
                secret("", &auth.client_secret, &auth.client_secret_env)
                    .ok()
                    .flatten(),
            );
            found.extend(secret("", &auth.token, &auth.token_env).ok().flatten());
        }
        if let Some(webhook) = &self.webhook {
            found.extend(
                secret("", &webhook.password, &webhook.password_env)
                    .ok()
                    .flatten(),
            );
            found.extend(
                secret("", &webhook.secret, &webhook.secret_env)
                    .ok()
                    .flatten(),
            );
        }
        found.retain(|s| !s.is_empty());
        found
    }
}

/// A secret given inline or by environment variable (the variable wins when both are set).
fn secret(
    field: &str,
    inline: &Option<String>,
    env: &Option<String>,
) -> anyhow::Result<Option<String>> {
    if let Some(name) = env {
        return match std::env::var(name) {
            Ok(value) if !value.is_empty() => Ok(Some(value)),
            _ => bail!("{field}_env names the environment variable {name}, which is not set"),
        };
    }
    Ok(inline.clone().filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[azure_devops]
organization_url = "https://tfs.contoso.local:8443/tfs/DefaultCollection"
api_version = "7.0"
[auth]
method = "pat"
token = "pat-secret"
[webhook]
username = "hook"
password = "hook-secret"
[comments]
enabled = true
apply_summary = true
[commands]
allow_plan = true
bot_user_id = "b0b"
[[workspaces]]
name = "prod"
vcs_dry_runs = true
"#;

    #[test]
    fn a_full_config_translates_to_the_contract() {
        let config = IntegrationConfig::parse(FULL).unwrap();
        assert_eq!(
            config.azure_devops.organization_url,
            "https://tfs.contoso.local:8443/tfs/DefaultCollection/"
        );
        assert!(
            config
                .host
                .http
                .allow_hosts
                .contains(&"tfs.contoso.local".to_string())
        );
        let settings = config.settings();
        assert_eq!(settings.commands.prefix, "/scalr");
        assert!(settings.commands.allow_plan && !settings.commands.allow_apply);
        assert_eq!(settings.workspaces.len(), 1);
        assert_eq!(
            settings.options,
            vec![("api-version".to_string(), "7.0".to_string())]
        );
        assert!(
            matches!(config.webhook_auth().unwrap(), WebhookAuth::Basic(b) if b.password == "hook-secret")
        );
        let conn = config.connection().unwrap().unwrap();
        assert!(matches!(conn.credential, Credential::PersonalAccessToken(t) if t == "pat-secret"));
        let mut secrets = config.secrets();
        secrets.sort();
        assert_eq!(secrets, vec!["hook-secret", "pat-secret"]);
        assert!(
            config
                .oauth_app()
                .unwrap_err()
                .to_string()
                .contains("oauth_app")
        );
    }

    #[test]
    fn another_provider_uses_the_neutral_names_and_a_signing_secret() {
        let config = IntegrationConfig::parse(
            "[vcs]\nbase_url = \"https://api.github.com/\"\n[webhook]\nsecret = \"s3\"",
        )
        .unwrap();
        assert_eq!(config.settings().base_url, "https://api.github.com/");
        assert!(
            matches!(config.webhook_auth().unwrap(), WebhookAuth::SharedSecret(s) if s == "s3")
        );
        assert_eq!(config.secrets(), vec!["s3".to_string()]);
        let both = IntegrationConfig::parse(
            "[vcs]\nbase_url = \"https://api.github.com/\"\n[webhook]\nsecret = \"s3\"\nusername = \"u\"",
        )
        .unwrap();
        assert!(
            both.webhook_auth()
                .unwrap_err()
                .to_string()
                .contains("not both")
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err =
            IntegrationConfig::parse("[azure_devops]\norganization_url = \"nope\"").unwrap_err();
        assert!(format!("{err:#}").contains("not a URL"), "{err:#}");
        let err = IntegrationConfig::parse("[azure_devops]\norganization_url = \"https://dev.azure.com/x\"\n[commands]\nallow_plna = true").unwrap_err();
        assert!(format!("{err:#}").contains("allow_plna"), "{err:#}");
        let config = IntegrationConfig::parse(
            "[azure_devops]\norganization_url = \"https://dev.azure.com/x/\"\n[webhook]\nusername = \"u\"\npassword_env = \"HOST_HARNESS_TEST_UNSET_VAR\"",
        )
        .unwrap();
        let err = config.webhook_auth().unwrap_err().to_string();
        assert!(
            err.contains("HOST_HARNESS_TEST_UNSET_VAR") && err.contains("not set"),
            "{err}"
        );
        let config = IntegrationConfig::parse(
            "[azure_devops]\norganization_url = \"https://dev.azure.com/x/\"\n[auth]\nmethod = \"oauth_app\"\nclient_id = \"c\"\nclient_secret = \"s\"\nredirect_uri = \"https://p/cb\"",
        )
        .unwrap();
        assert!(
            config
                .oauth_app()
                .unwrap_err()
                .to_string()
                .contains("tenant_id")
        );
    }
}
