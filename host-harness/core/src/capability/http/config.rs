//! The host's outbound HTTP settings, as they sit in the host's TOML config (`[http]`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the guest may reach and how long/large answers may be.
///
/// In a config file every field is optional (missing ones take the defaults below) and
/// durations are whole milliseconds, because TOML has no duration type:
///
/// ```toml
/// [http]
/// allow_hosts = ["api.example.com", "*.example.net"]
/// allow_loopback = false
/// connect_timeout_ms = 10000
/// request_timeout_ms = 30000
/// max_response_bytes = 16777216
/// max_request_bytes = 4194304
/// ```
///
/// Unknown keys are refused, so a misspelt `allow_host` cannot silently fall back to the
/// defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Host names the guest may reach: exact names (case-insensitive, a trailing dot is
    /// ignored) or `*.suffix`, which matches any subdomain of `suffix` but not `suffix`
    /// itself. Names only, no ports: any port of an allowed host is allowed.
    pub allow_hosts: Vec<String>,
    /// Allow loopback hosts (127.0.0.0/8, `::1`, `localhost`), over plain `http` too.
    /// Meant for tests against local servers; off in production.
    pub allow_loopback: bool,
    /// How long DNS, TCP and TLS setup may take (`connect_timeout_ms`).
    #[serde(rename = "connect_timeout_ms", with = "duration_ms")]
    pub connect_timeout: Duration,
    /// How long one whole exchange may take, body included (`request_timeout_ms`).
    /// A request's own timeout can only shorten it.
    #[serde(rename = "request_timeout_ms", with = "duration_ms")]
    pub request_timeout: Duration,
    /// The largest response body read; a larger one is an error, never truncated.
    pub max_response_bytes: u64,
    /// The largest request body sent.
    pub max_request_bytes: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            // The provider says which hosts it needs (`ProviderInfo::default_allow_hosts`);
            // an integration's egress is those, or this list when it names hosts itself.
            allow_hosts: Vec::new(),
            allow_loopback: false,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 16 * 1024 * 1024,
            max_request_bytes: 4 * 1024 * 1024,
        }
    }
}

/// `Duration` as an integer number of milliseconds.
mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_name_no_host() {
        // The hosts come from the provider (or the integration), never from the host.
        let c = HttpConfig::default();
        assert!(c.allow_hosts.is_empty());
        assert!(!c.allow_loopback);
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(c.max_response_bytes, 16 << 20);
        assert_eq!(c.max_request_bytes, 4 << 20);
    }

    #[test]
    fn partial_config_keeps_defaults_and_reads_milliseconds() {
        let c: HttpConfig =
            serde_json::from_str(r#"{"allow_loopback":true,"connect_timeout_ms":250}"#).unwrap();
        assert!(c.allow_loopback);
        assert_eq!(c.connect_timeout, Duration::from_millis(250));
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(c.allow_hosts, HttpConfig::default().allow_hosts);
        let back: HttpConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn misspelt_keys_are_refused() {
        let err = serde_json::from_str::<HttpConfig>(r#"{"allow_host":["x"]}"#).unwrap_err();
        assert!(err.to_string().contains("allow_host"), "{err}");
    }
}
