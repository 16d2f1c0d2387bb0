//! What the neutral host needs to know about a provider without naming it: its name, the
//! name people see, how large a delivery it accepts, the hosts it talks to, how it
//! authenticates.
//!
//! A component of contract 0.1.0 cannot say this itself, so it comes from a *provider
//! manifest* beside the component file (`NAME.wasm` + `NAME.toml`), each key optional:
//!
//! ```toml
//! name = "example"                          # the file stem when absent
//! display_name = "Example VCS"              # the name when absent
//! max_delivery_bytes = 2097152              # 2 MiB when absent
//! default_allow_hosts = ["api.example.com", "*.example.net"]   # none when absent
//! auth_methods = ["pat"]                    # "oauth_app", "pat"; ["pat"] when absent
//! ```
//!
//! An integration may override any of them in its `[vcs]` section
//! ([`crate::IntegrationConfig::provider_info`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The largest delivery body accepted when neither the provider nor the integration says.
pub const DEFAULT_MAX_DELIVERY_BYTES: u64 = 2 * 1024 * 1024;

/// How an integration may connect to the provider's service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// An OAuth 2.0 app registration (authorization code with PKCE, refresh).
    OauthApp,
    /// A personal access token or another static token.
    Pat,
}

impl AuthMethod {
    /// The config spelling (`oauth_app`, `pat`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::OauthApp => "oauth_app",
            AuthMethod::Pat => "pat",
        }
    }
}

/// What the host knows about a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// The provider's name: lower case, `-` between words; what integrations name in
    /// `[vcs] provider` and the path segment of `/webhooks/{provider}/{integration}`.
    pub name: String,
    /// The name people see.
    pub display_name: String,
    /// The largest delivery body the provider accepts; larger ones are refused before
    /// the provider is called.
    pub max_delivery_bytes: u64,
    /// Hosts the provider needs to reach (exact names or `*.suffix`), used when an
    /// integration does not list its own.
    pub default_allow_hosts: Vec<String>,
    /// How an integration may authenticate.
    pub auth_methods: Vec<AuthMethod>,
}

impl ProviderInfo {
    /// What is assumed of a provider called `name` that says nothing about itself.
    pub fn assumed(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            display_name: name.to_owned(),
            max_delivery_bytes: DEFAULT_MAX_DELIVERY_BYTES,
            default_allow_hosts: Vec::new(),
            auth_methods: vec![AuthMethod::Pat],
        }
    }

    /// The info of the component at `component`: its manifest (`NAME.toml` beside
    /// `NAME.wasm`) over what is assumed of a provider named after the file.
    pub fn for_component_file(component: &Path) -> anyhow::Result<Self> {
        let stem = component
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("provider");
        let mut info = Self::assumed(stem);
        let manifest_path = component.with_extension("toml");
        if manifest_path.is_file() {
            let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read provider manifest {}: {e}",
                    manifest_path.display()
                )
            })?;
            let manifest: Manifest = toml::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "provider manifest {} is not valid: {e}",
                    manifest_path.display()
                )
            })?;
            manifest.apply_to(&mut info);
        }
        Ok(info)
    }
}

/// The keys of a provider manifest or an integration's `[vcs]` overrides; each optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// See [`ProviderInfo::name`].
    pub name: Option<String>,
    /// See [`ProviderInfo::display_name`].
    pub display_name: Option<String>,
    /// See [`ProviderInfo::max_delivery_bytes`].
    pub max_delivery_bytes: Option<u64>,
    /// See [`ProviderInfo::default_allow_hosts`].
    pub default_allow_hosts: Option<Vec<String>>,
    /// See [`ProviderInfo::auth_methods`].
    pub auth_methods: Option<Vec<AuthMethod>>,
}

impl Manifest {
    /// Overwrite what this manifest says in `info`.
    pub fn apply_to(&self, info: &mut ProviderInfo) {
        if let Some(name) = &self.name {
            info.name.clone_from(name);
        }
        if let Some(display_name) = &self.display_name {
            info.display_name.clone_from(display_name);
        }
        if let Some(bytes) = self.max_delivery_bytes {
            info.max_delivery_bytes = bytes;
        }
        if let Some(hosts) = &self.default_allow_hosts {
            info.default_allow_hosts.clone_from(hosts);
        }
        if let Some(methods) = &self.auth_methods {
            info.auth_methods.clone_from(methods);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_beside_the_component_describes_it() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("example.wasm");
        std::fs::write(&wasm, b"").unwrap();
        let bare = ProviderInfo::for_component_file(&wasm).unwrap();
        assert_eq!(bare, ProviderInfo::assumed("example"));
        std::fs::write(
            dir.path().join("example.toml"),
            "display_name = \"Example VCS\"\nmax_delivery_bytes = 1024\ndefault_allow_hosts = [\"api.example.com\"]\nauth_methods = [\"oauth_app\", \"pat\"]\n",
        )
        .unwrap();
        let info = ProviderInfo::for_component_file(&wasm).unwrap();
        assert_eq!(info.name, "example");
        assert_eq!(info.display_name, "Example VCS");
        assert_eq!(info.max_delivery_bytes, 1024);
        assert_eq!(info.default_allow_hosts, vec!["api.example.com"]);
        assert_eq!(
            info.auth_methods,
            vec![AuthMethod::OauthApp, AuthMethod::Pat]
        );
        std::fs::write(dir.path().join("example.toml"), "max_bytes = 1\n").unwrap();
        let error = ProviderInfo::for_component_file(&wasm)
            .unwrap_err()
            .to_string();
        assert!(error.contains("max_bytes"), "{error}");
    }
}
