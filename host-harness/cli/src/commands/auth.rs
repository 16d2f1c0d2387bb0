//! `auth`: the OAuth app flow (authorization URL, code exchange, refresh) and the
//! credential check.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use vcs_host::json::error_parts;
use vcs_host::types::{Capability, ProviderError, TokenSet};

use super::{Session, load_config};
use crate::{AuthVerb, Common};

/// Run one `auth` verb.
pub fn run(verb: AuthVerb) -> anyhow::Result<ExitCode> {
    match verb {
        AuthVerb::Url { common } => {
            let config = load_config(common.config.as_deref())?;
            let app = config.oauth_app()?;
            let session = Session::open(&with_durable_state(common), &config)?;
            let request = session
                .provider
                .authorization_url(&session.context, &app)?
                .map_err(provider_failure)?;
            println!("{}", request.url);
            session.finish()?;
            Ok(ExitCode::SUCCESS)
        }
        AuthVerb::Exchange {
            common,
            callback,
            code,
            oauth_state,
        } => {
            let (code, state) = match (callback, code, oauth_state) {
                (Some(callback), _, _) => callback_parameters(&callback)?,
                (None, Some(code), Some(state)) => (code, state),
                _ => bail!("give --callback URL, or --code and --oauth-state"),
            };
            let config = load_config(common.config.as_deref())?;
            let app = config.oauth_app()?;
            let session = Session::open(&with_durable_state(common), &config)?;
            let tokens = session
                .provider
                .exchange_code(&session.context, &app, &code, &state)?
                .map_err(provider_failure)?;
            print_tokens(&tokens)?;
            session.finish()?;
            Ok(ExitCode::SUCCESS)
        }
        AuthVerb::Refresh {
            common,
            refresh_token,
        } => {
            let config = load_config(common.config.as_deref())?;
            let app = config.oauth_app()?;
            let session = Session::open(&common, &config)?;
            let tokens = session
                .provider
                .refresh_token(&session.context, &app, &refresh_token)?
                .map_err(provider_failure)?;
            print_tokens(&tokens)?;
            session.finish()?;
            Ok(ExitCode::SUCCESS)
        }
        AuthVerb::Validate { common } => {
            let config = load_config(common.config.as_deref())?;
            let connection = config
                .connection()?
                .context("validate needs a credential: set auth.token or auth.token_env")?;
            let mut required = vec![Capability::ReadCode, Capability::WriteStatuses];
            if config.comments.enabled {
                required.extend([Capability::ReadComments, Capability::WriteComments]);
            }
            let session = Session::open(&common, &config)?;
            let report = session
                .provider
                .validate(&session.context, &connection, &required)?;
            session.finish()?;
            match report {
                Ok(report) => {
                    let checks: Vec<Value> = report
                        .checks
                        .iter()
                        .map(|c| json!({"capability": format!("{:?}", c.capability), "outcome": format!("{:?}", c.outcome), "message": c.message}))
                        .collect();
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&json!({
                            "ok": report.ok,
                            "identity": {"id": report.identity.id, "unique_name": report.identity.unique_name, "display_name": report.identity.display_name},
                            "checks": checks,
                            "summary": report.summary,
                        }))?
                    );
                    Ok(if report.ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    })
                }
                Err(error) => {
                    let (kind, message) = error_parts(&error);
                    println!(
                        "{}",
                        serde_json::to_string_pretty(
                            &json!({"ok": false, "error": {"kind": kind, "message": message}})
                        )?
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// The OAuth flow spans two invocations (url, then exchange): its state must be durable.
fn with_durable_state(mut common: Common) -> Common {
    if common.state.is_none() {
        common.state = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .map(|dir| dir.join("vcs-provider-host"));
    }
    common
}

fn callback_parameters(callback: &str) -> anyhow::Result<(String, String)> {
    let url = url::Url::parse(callback).with_context(|| format!("{callback:?} is not a URL"))?;
    let get = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = get("error") {
        bail!(
            "the identity provider returned an error instead of a code: {error}: {}",
            get("error_description").unwrap_or_default()
        );
    }
    let code = get("code").context("the callback URL has no code parameter")?;
    let state = get("state").context("the callback URL has no state parameter")?;
    Ok((code, state))
}

fn print_tokens(tokens: &TokenSet) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at,
            "scopes": tokens.scopes,
        }))?
    );
    Ok(())
}

fn provider_failure(error: ProviderError) -> anyhow::Error {
    let (kind, message) = error_parts(&error);
    anyhow::anyhow!("{kind}: {message}")
}
