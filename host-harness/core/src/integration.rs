//! The integration's configuration file (TOML) and its translation into the contract's
//! records.
//!
//! ```toml
//! id = "contoso-terraform"            # the storage namespace; "default" when absent
//! [vcs]
//! provider = "example"                # a component of that name in the components folder
//! # component = "providers/x.wasm"    # …or a component file (relative to this file)
//! base_url = "https://vcs.example.com/contoso/"
//! api_version = "7.0"                 # optional, passed to the provider as an option
//! # display_name, max_delivery_bytes: override what the provider says of itself
//! [auth]                              # method = "oauth_app" | "pat", see `Auth`
//! [webhook]                           # Basic credentials or a shared secret
//! [comments]  [commands]  [[workspaces]]  [host]
//! ```
//!
//! Files written before the host was provider-neutral name the provider in the section
//! itself (`[example_vcs] organization_url = …`): such a section is read as
//! `[vcs] provider = "example-vcs"`, with a warning saying what to write instead.
//!
//! Secrets may be given inline or, better, by the name of an environment variable
//! (`client_secret_env`, `token_env`, `password_env`, `secret_env`); they are resolved
//! here, passed to the provider per call, and never logged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::capability::http::HttpConfig;
use crate::engine::HostConfig;
use crate::info::{AuthMethod, ProviderInfo};
use crate::wit::latest::auth::OauthApp;
use crate::wit::latest::types::{
    BasicCredentials, CommandSettings, Connection, Credential, IntegrationSettings, WebhookAuth,
    Workspace,
};

/// The top-level keys of an integration file; any other table is the old spelling of
/// `[vcs]` (see the module docs).
const SECTIONS: [&str; 8] = [
    "id",
    "vcs",
    "auth",
    "webhook",
    "comments",
    "commands",
    "workspaces",
    "host",
];

/// One integration: which provider, where its organization is, how to authenticate, and
/// its switches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationConfig {
    /// The platform's id of the integration; the storage namespace. Defaults to `default`.
    #[serde(default = "default_id")]
    pub id: String,
    /// The provider and the organization or collection it serves.
    pub vcs: Vcs,
    /// How the integration authenticates to the provider's service.
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
    /// Things a person should change in the file (old spellings); printed or logged by
    /// whoever loaded it.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

fn default_id() -> String {
    "default".into()
}

/// `[vcs]`: the provider and the organization.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vcs {
    /// The provider by name: the component `NAME.wasm` of the host's components folder.
    pub provider: Option<String>,
    /// The provider by file, relative to the integration file (wins over `provider`).
    pub component: Option<PathBuf>,
    /// The organization or collection base URL the integration is bound to (ends with
    /// `/` once loaded).
    #[serde(alias = "organization_url")]
    pub base_url: String,
    /// REST api-version override, passed to the provider as the option `api-version`.
    pub api_version: Option<String>,
    /// The name people see, instead of the provider's own.
    pub display_name: Option<String>,
    /// The largest delivery accepted, instead of the provider's own limit.
    pub max_delivery_bytes: Option<u64>,
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// `oauth_app` (an OAuth app registration) or `pat`.
    pub method: AuthMethod,
    /// The identity provider's tenant (directory) id or domain, for providers whose
    /// sign-in has tenants.
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

/// The `[auth]` section's settings other than the method, as the provider calls them.
pub type AuthSettings = Auth;

/// `[webhook]`: Basic credentials the service sends with each delivery, or a shared
/// secret that signs the body.
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
    /// Status of the threads the integration creates, passed to the provider as the
    /// option `thread-status` (for a provider whose comments open resolvable threads).
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
    /// Read and check a config file; a relative `[vcs] component` is resolved against
    /// the file's directory.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let mut config =
            Self::parse(&text).with_context(|| format!("invalid config {}", path.display()))?;
        if let Some(component) = &mut config.vcs.component
            && component.is_relative()
        {
            *component = path.parent().unwrap_or(Path::new(".")).join(&*component);
        }
        for warning in &mut config.warnings {
            *warning = format!("{}: {warning}", path.display());
        }
        Ok(config)
    }

    /// Parse and check config text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut table: toml::Table = toml::from_str(text)?;
        let warnings = adopt_old_vcs_section(&mut table)?;
        let mut config: Self = toml::Value::Table(table).try_into()?;
        config.warnings = warnings;
        url::Url::parse(&config.vcs.base_url)
            .with_context(|| format!("vcs.base_url {:?} is not a URL", config.vcs.base_url))?;
        if !config.vcs.base_url.ends_with('/') {
            config.vcs.base_url.push('/');
        }
        if config.commands.prefix.trim().is_empty() {
            bail!("commands.prefix must not be empty");
        }
        Ok(config)
    }

    /// What the host knows of the integration's provider: the provider's own info with
    /// this integration's `[vcs]` overrides.
    pub fn provider_info(&self, provider: &ProviderInfo) -> ProviderInfo {
        let mut info = provider.clone();
        if let Some(name) = &self.vcs.display_name {
            info.display_name.clone_from(name);
        }
        if let Some(bytes) = self.vcs.max_delivery_bytes {
            info.max_delivery_bytes = bytes;
        }
        info
    }

    /// The egress policy of this integration's calls: `[host.http]` with its
    /// `allow_hosts`, or the provider's default hosts when it lists none, plus the host
    /// of `[vcs] base_url` (an on-premises server, say).
    pub fn egress(&self, provider: &ProviderInfo) -> HttpConfig {
        let mut http = self.host.http.clone();
        if http.allow_hosts.is_empty() {
            http.allow_hosts.clone_from(&provider.default_allow_hosts);
        }
        if let Some(host) = url::Url::parse(&self.vcs.base_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            && !http.allow_hosts.iter().any(|h| h == &host)
        {
            http.allow_hosts.push(host);
        }
        http
    }

    /// The settings record the provider receives.
    pub fn settings(&self) -> IntegrationSettings {
        let c = &self.commands;
        IntegrationSettings {
            id: self.id.clone(),
            base_url: self.vcs.base_url.clone(),
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
        if let Some(version) = &self.vcs.api_version {
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
            base_url: self.vcs.base_url.clone(),
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
            // Whether a tenant is needed is the provider's to say (its sign-in may have none).
            tenant: auth.tenant_id.clone().filter(|t| !t.trim().is_empty()),
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

/// Read an old-style provider section (`[name] organization_url = …`) as `[vcs]`
/// naming that provider; returns what to tell the person.
fn adopt_old_vcs_section(table: &mut toml::Table) -> anyhow::Result<Vec<String>> {
    let old: Vec<String> = table
        .iter()
        .filter(|(key, value)| {
            !SECTIONS.contains(&key.as_str())
                && value.as_table().is_some_and(|t| {
                    t.contains_key("organization_url") || t.contains_key("base_url")
                })
        })
        .map(|(key, _)| key.clone())
        .collect();
    let [name] = old.as_slice() else {
        if old.len() > 1 {
            bail!(
                "sections [{}] each name a provider; an integration has one: write [vcs]",
                old.join("], [")
            );
        }
        return Ok(Vec::new());
    };
    if table.contains_key("vcs") {
        bail!("the file has both [vcs] and [{name}]; keep [vcs]");
    }
    let Some(toml::Value::Table(mut section)) = table.remove(name) else {
        return Ok(Vec::new());
    };
    let provider = name.replace('_', "-");
    section
        .entry("provider")
        .or_insert_with(|| toml::Value::String(provider.clone()));
    if let Some(url) = section.remove("organization_url") {
        section.insert("base_url".into(), url);
    }
    let base_url = section
        .get("base_url")
        .and_then(toml::Value::as_str)
        .unwrap_or("…")
        .to_owned();
    table.insert("vcs".into(), toml::Value::Table(section));
    Ok(vec![format!(
        "[{name}] is the old spelling of this section: write [vcs] with provider = \"{provider}\" \
         and base_url = \"{base_url}\" instead"
    )])
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
[vcs]
provider = "example"
base_url = "https://tfs.contoso.local:8443/tfs/DefaultCollection"
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

    fn example_provider() -> ProviderInfo {
        ProviderInfo {
            default_allow_hosts: vec!["api.example.com".into(), "*.example.net".into()],
            ..ProviderInfo::assumed("example")
        }
    }

    #[test]
    fn a_full_config_translates_to_the_contract() {
        let config = IntegrationConfig::parse(FULL).unwrap();
        assert!(config.warnings.is_empty());
        assert_eq!(config.vcs.provider.as_deref(), Some("example"));
        assert_eq!(
            config.vcs.base_url,
            "https://tfs.contoso.local:8443/tfs/DefaultCollection/"
        );
        let egress = config.egress(&example_provider());
        assert_eq!(
            egress.allow_hosts,
            vec!["api.example.com", "*.example.net", "tfs.contoso.local"]
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
    fn the_old_provider_section_still_loads_with_a_warning() {
        let config = IntegrationConfig::parse(
            "[azure_devops]\norganization_url = \"https://dev.azure.com/contoso\"\napi_version = \"7.0\"\n",
        )
        .unwrap();
        assert_eq!(config.vcs.provider.as_deref(), Some("azure-devops"));
        assert_eq!(config.vcs.base_url, "https://dev.azure.com/contoso/");
        assert_eq!(config.vcs.api_version.as_deref(), Some("7.0"));
        assert_eq!(config.warnings.len(), 1);
        let warning = &config.warnings[0];
        assert!(
            warning.contains("[azure_devops] is the old spelling")
                && warning.contains("provider = \"azure-devops\"")
                && warning.contains("base_url = \"https://dev.azure.com/contoso\""),
            "{warning}"
        );
        let both = IntegrationConfig::parse(
            "[vcs]\nbase_url = \"https://a.example/\"\n[old_vcs]\norganization_url = \"https://b.example/\"\n",
        )
        .unwrap_err();
        assert!(
            both.to_string().contains("both [vcs] and [old_vcs]"),
            "{both}"
        );
    }

    #[test]
    fn integration_overrides_and_its_own_hosts() {
        let config = IntegrationConfig::parse(
            "[vcs]\nbase_url = \"https://git.example.org/\"\ndisplay_name = \"Our Git\"\nmax_delivery_bytes = 100\n[host.http]\nallow_hosts = [\"only.example.org\"]\n",
        )
        .unwrap();
        let info = config.provider_info(&example_provider());
        assert_eq!(info.display_name, "Our Git");
        assert_eq!(info.max_delivery_bytes, 100);
        assert_eq!(info.name, "example");
        assert_eq!(
            config.egress(&example_provider()).allow_hosts,
            vec!["only.example.org", "git.example.org"]
        );
    }

    #[test]
    fn a_signing_secret_instead_of_basic_credentials() {
        let config = IntegrationConfig::parse(
            "[vcs]\nbase_url = \"https://api.example.com/\"\n[webhook]\nsecret = \"s3\"",
        )
        .unwrap();
        assert_eq!(config.settings().base_url, "https://api.example.com/");
        assert!(
            matches!(config.webhook_auth().unwrap(), WebhookAuth::SharedSecret(s) if s == "s3")
        );
        assert_eq!(config.secrets(), vec!["s3".to_string()]);
        let both = IntegrationConfig::parse(
            "[vcs]\nbase_url = \"https://api.example.com/\"\n[webhook]\nsecret = \"s3\"\nusername = \"u\"",
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
        let err = IntegrationConfig::parse("[vcs]\nbase_url = \"nope\"").unwrap_err();
        assert!(format!("{err:#}").contains("not a URL"), "{err:#}");
        let err = IntegrationConfig::parse(
            "[vcs]\nbase_url = \"https://git.example.org/x\"\n[commands]\nallow_plna = true",
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("allow_plna"), "{err:#}");
        let config = IntegrationConfig::parse(
            "[vcs]\nbase_url = \"https://git.example.org/x/\"\n[webhook]\nusername = \"u\"\npassword_env = \"HOST_HARNESS_TEST_UNSET_VAR\"",
        )
        .unwrap();
        let err = config.webhook_auth().unwrap_err().to_string();
        assert!(
            err.contains("HOST_HARNESS_TEST_UNSET_VAR") && err.contains("not set"),
            "{err}"
        );
        let config = IntegrationConfig::parse(
            "[vcs]\nbase_url = \"https://git.example.org/x/\"\n[auth]\nmethod = \"oauth_app\"\nclient_id = \"c\"\nclient_secret = \"s\"",
        )
        .unwrap();
        assert!(
            config
                .oauth_app()
                .unwrap_err()
                .to_string()
                .contains("redirect_uri")
        );
        // No tenant is fine for the host: whether one is needed is the provider's call.
        let config = IntegrationConfig::parse(
            "[vcs]\nbase_url = \"https://git.example.org/x/\"\n[auth]\nmethod = \"oauth_app\"\nclient_id = \"c\"\nclient_secret = \"s\"\nredirect_uri = \"https://p/cb\"",
        )
        .unwrap();
        assert_eq!(config.oauth_app().unwrap().tenant, None);
    }
}
