//! Which URLs a guest may reach.
//!
//! The policy is checked on the parsed URL, and the live client sends exactly the URL the
//! check returns, so what was checked is what is requested.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use super::HttpError;
use super::config::HttpConfig;

/// The egress rules of an [`HttpConfig`], prepared for checking URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Exact host names, lower case ASCII (IDNA), without trailing dot.
    exact: Vec<String>,
    /// `*.suffix` patterns, stored as `suffix`.
    suffixes: Vec<String>,
    /// IP literals listed in the allowlist; internal ones are still refused.
    ips: Vec<IpAddr>,
    allow_loopback: bool,
}

/// Why an IP address may not be reached even when allowlisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddressClass {
    Public,
    Loopback,
    Private,
    LinkLocal,
    Unspecified,
    Multicast,
    Broadcast,
    SharedNat,
    Reserved,
}

impl AddressClass {
    fn describe(self) -> &'static str {
        match self {
            AddressClass::Public => "a public address",
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::Unspecified => "an unspecified address",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Broadcast => "a broadcast address",
            AddressClass::SharedNat => "a shared (carrier-grade NAT) address",
            AddressClass::Reserved => "a reserved address",
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_private() {
        AddressClass::Private
    } else if ip.is_link_local() {
        AddressClass::LinkLocal
    } else if a == 0 {
        // 0.0.0.0/8 means "this host/network"; connecting to it reaches the local machine.
        AddressClass::Unspecified
    } else if ip.is_multicast() {
        AddressClass::Multicast
    } else if ip.is_broadcast() {
        AddressClass::Broadcast
    } else if a == 100 && (64..128).contains(&b) {
        AddressClass::SharedNat
    } else if a >= 240 {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let segments = ip.segments();
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_unspecified() {
        AddressClass::Unspecified
    } else if let Some(v4) = ip.to_ipv4_mapped() {
        // ::ffff:a.b.c.d reaches the IPv4 address a.b.c.d.
        classify_v4(v4)
    } else if segments[0] == 0x64 && segments[1] == 0xff9b && segments[2..6] == [0; 4] {
        // NAT64 (64:ff9b::/96) reaches the embedded IPv4 address too.
        let [.., hi, lo] = segments;
        classify_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)))
    } else if segments[0] & 0xfe00 == 0xfc00 || segments[0] & 0xffc0 == 0xfec0 {
        // Unique local (fc00::/7) and the old site-local (fec0::/10).
        AddressClass::Private
    } else if segments[0] & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if ip.is_multicast() {
        AddressClass::Multicast
    } else {
        AddressClass::Public
    }
}

fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// `localhost` and its subdomains resolve to loopback (RFC 6761).
fn is_loopback_name(domain: &str) -> bool {
    domain == "localhost" || domain.ends_with(".localhost")
}

/// At most 200 characters of `text`, for error messages about input we could not parse.
fn shorten(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

/// One allowlist entry, normalised the way URL hosts are.
enum Entry {
    Exact(String),
    Suffix(String),
    Ip(IpAddr),
}

fn parse_entry(raw: &str) -> Option<Entry> {
    let text = raw.trim().to_ascii_lowercase();
    let text = text.strip_suffix('.').unwrap_or(&text);
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(Entry::Ip(ip));
    }
    let (wildcard, name) = match text.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if name.is_empty() || name.contains('*') {
        return None;
    }
    // Host::parse applies IDNA and IPv4 number forms, as the URL parser does for hosts.
    match Host::parse(name).ok()? {
        Host::Domain(d) if d.split('.').any(str::is_empty) => None,
        Host::Domain(d) if wildcard => Some(Entry::Suffix(d)),
        Host::Domain(d) => Some(Entry::Exact(d)),
        Host::Ipv4(ip) if !wildcard => Some(Entry::Ip(IpAddr::V4(ip))),
        Host::Ipv6(ip) if !wildcard => Some(Entry::Ip(IpAddr::V6(ip))),
        Host::Ipv4(_) | Host::Ipv6(_) => None,
    }
}

impl EgressPolicy {
    /// Prepare the rules of `config`. Entries that are not host names or `*.suffix`
    /// patterns (a bare `*`, URLs, `host:port`) are ignored with a warning, since they
    /// can never match and a broad reading would be unsafe.
    pub fn new(config: &HttpConfig) -> Self {
        let mut policy = Self {
            exact: Vec::new(),
            suffixes: Vec::new(),
            ips: Vec::new(),
            allow_loopback: config.allow_loopback,
        };
        for raw in &config.allow_hosts {
            match parse_entry(raw) {
                Some(Entry::Exact(d)) => policy.exact.push(d),
                Some(Entry::Suffix(d)) => policy.suffixes.push(d),
                Some(Entry::Ip(ip)) => policy.ips.push(ip),
                None => tracing::warn!(
                    entry = %raw,
                    "ignoring http.allow_hosts entry: not a host name or *.suffix pattern"
                ),
            }
        }
        policy
    }

    /// Parse `url` and decide whether the guest may reach it; the parsed URL is what
    /// should then be requested.
    pub fn check(&self, url: &str) -> Result<Url, HttpError> {
        let parsed = Url::parse(url).map_err(|e| {
            HttpError::InvalidRequest(format!(
                "invalid request: {:?} is not a valid absolute URL ({e})",
                shorten(url)
            ))
        })?;
        let scheme = parsed.scheme();
        let host = parsed.host().map(|h| h.to_owned());
        let host_text = host.as_ref().map(ToString::to_string).unwrap_or_default();

        if scheme != "https" && scheme != "http" {
            return Err(HttpError::Denied(format!(
                "egress denied: scheme {scheme:?} of {:?} is not allowed; only https is",
                shorten(url)
            )));
        }
        let Some(host) = host else {
            return Err(HttpError::InvalidRequest(format!(
                "invalid request: URL {:?} has no host",
                shorten(url)
            )));
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(HttpError::Denied(format!(
                "egress denied: the URL for host {host_text:?} carries user info; credentials \
                 in a URL leak into logs, send them in an Authorization header instead"
            )));
        }

        let (loopback, name) = match &host {
            Host::Ipv4(ip) => (self.check_ip(IpAddr::V4(*ip), &host_text)?, None),
            Host::Ipv6(ip) => (self.check_ip(IpAddr::V6(*ip), &host_text)?, None),
            Host::Domain(d) => {
                let d = d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase();
                if d.is_empty() || d.split('.').any(str::is_empty) {
                    return Err(HttpError::InvalidRequest(format!(
                        "invalid request: host {host_text:?} has an empty label"
                    )));
                }
                if is_loopback_name(&d) {
                    if !self.allow_loopback {
                        return Err(HttpError::Denied(format!(
                            "egress denied: host {host_text:?} is a loopback name and \
                             allow_loopback is off"
                        )));
                    }
                    (true, None)
                } else {
                    (false, Some(d))
                }
            }
        };

        if scheme == "http" && !loopback {
            return Err(HttpError::Denied(format!(
                "egress denied: plain http to host {host_text:?} is not allowed, use https \
                 (http is only allowed to loopback hosts with allow_loopback)"
            )));
        }
        if loopback {
            // Only reachable with allow_loopback: check_ip and the name check refuse otherwise.
            return Ok(parsed);
        }
        let allowed = match (&host, &name) {
            (_, Some(d)) => self.domain_allowed(d),
            (Host::Ipv4(ip), None) => self.ips.contains(&IpAddr::V4(*ip)),
            (Host::Ipv6(ip), None) => self.ips.contains(&IpAddr::V6(*ip)),
            (Host::Domain(_), None) => false,
        };
        if allowed {
            Ok(parsed)
        } else {
            Err(HttpError::Denied(format!(
                "egress denied: host {host_text:?} is not in the allowlist (http.allow_hosts)"
            )))
        }
    }

    /// Whether a domain (normalised) matches an exact entry or a `*.suffix` pattern.
    fn domain_allowed(&self, domain: &str) -> bool {
        self.exact.iter().any(|e| e == domain)
            || self.suffixes.iter().any(|suffix| {
                domain
                    .strip_suffix(suffix.as_str())
                    .and_then(|label| label.strip_suffix('.'))
                    .is_some_and(|label| !label.is_empty())
            })
    }

    /// Refuse internal addresses whatever the allowlist says; `Ok(true)` for a permitted
    /// loopback address.
    fn check_ip(&self, ip: IpAddr, host_text: &str) -> Result<bool, HttpError> {
        match classify(ip) {
            AddressClass::Public => Ok(false),
            AddressClass::Loopback if self.allow_loopback => Ok(true),
            AddressClass::Loopback => Err(HttpError::Denied(format!(
                "egress denied: host {host_text:?} is a loopback address and allow_loopback is off"
            ))),
            AddressClass::LinkLocal => Err(HttpError::Denied(format!(
                "egress denied: host {host_text:?} is a link-local address (this range holds \
                 cloud metadata services)"
            ))),
            class => Err(HttpError::Denied(format!(
                "egress denied: host {host_text:?} is {}",
                class.describe()
            ))),
        }
    }
}

impl From<&HttpConfig> for EgressPolicy {
    fn from(config: &HttpConfig) -> Self {
        Self::new(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], allow_loopback: bool) -> EgressPolicy {
        EgressPolicy::new(&HttpConfig {
            allow_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            allow_loopback,
            ..HttpConfig::default()
        })
    }

    /// `None` expects the URL to pass; `Some((kind, fragment))` expects that error.
    type Expect = Option<(&'static str, &'static str)>;

    fn kind(e: &HttpError) -> &'static str {
        match e {
            HttpError::Denied(_) => "denied",
            HttpError::InvalidRequest(_) => "invalid",
            HttpError::Timeout(_) => "timeout",
            HttpError::TooLarge(_) => "too-large",
            HttpError::Connection(_) => "connection",
            HttpError::NoRecording(_) => "no-recording",
        }
    }

    fn run(policy: &EgressPolicy, cases: &[(&str, Expect)]) {
        for (url, expect) in cases {
            match (policy.check(url), expect) {
                (Ok(_), None) => {}
                (Ok(u), Some(e)) => panic!("{url}: expected {e:?}, was allowed as {u}"),
                (Err(err), None) => panic!("{url}: expected allowed, got {err}"),
                (Err(err), Some((k, fragment))) => {
                    assert_eq!(kind(&err), *k, "{url}: {err}");
                    assert!(
                        err.to_string().contains(fragment),
                        "{url}: {err:?} lacks {fragment:?}"
                    );
                }
            }
        }
    }

    const NOT_LISTED: &str = "is not in the allowlist";

    /// The hosts the Azure DevOps provider asks for: a realistic list to test against.
    fn azure_devops_hosts() -> HttpConfig {
        HttpConfig {
            allow_hosts: [
                "dev.azure.com",
                "*.visualstudio.com",
                "login.microsoftonline.com",
                "app.vssps.visualstudio.com",
                "vssps.dev.azure.com",
            ]
            .map(str::to_owned)
            .to_vec(),
            ..HttpConfig::default()
        }
    }

    #[test]
    fn a_providers_allowlist() {
        let p = EgressPolicy::new(&azure_devops_hosts());
        run(
            &p,
            &[
                ("https://dev.azure.com/org/_apis/projects", None),
                ("https://DEV.Azure.COM/org", None),
                ("https://dev.azure.com./org", None),
                ("https://dev.azure.com:8443/org", None),
                ("https://contoso.visualstudio.com/_apis", None),
                ("https://a.b.visualstudio.com/", None),
                ("https://app.vssps.visualstudio.com/_apis/profile", None),
                (
                    "https://login.microsoftonline.com/common/oauth2/v2.0/token",
                    None,
                ),
                ("https://vssps.dev.azure.com/org", None),
                (
                    "https://visualstudio.com/",
                    Some((
                        "denied",
                        "egress denied: host \"visualstudio.com\" is not in the allowlist",
                    )),
                ),
                (
                    "https://evilvisualstudio.com/",
                    Some(("denied", NOT_LISTED)),
                ),
                (
                    "https://visualstudio.com.evil.com/",
                    Some(("denied", NOT_LISTED)),
                ),
                ("https://azure.com/", Some(("denied", NOT_LISTED))),
                ("https://x.dev.azure.com/", Some(("denied", NOT_LISTED))),
                ("https://dev.azure.com../", Some(("invalid", "empty label"))),
                (
                    "https://example.com/",
                    Some(("denied", "host \"example.com\"")),
                ),
                (
                    "http://dev.azure.com/org",
                    Some((
                        "denied",
                        "plain http to host \"dev.azure.com\" is not allowed",
                    )),
                ),
                ("ftp://dev.azure.com/", Some(("denied", "scheme \"ftp\""))),
                ("file:///etc/passwd", Some(("denied", "scheme \"file\""))),
                ("data:text/plain,hello", Some(("denied", "scheme \"data\""))),
                (
                    "https://user:pw@dev.azure.com/",
                    Some(("denied", "host \"dev.azure.com\" carries user info")),
                ),
                (
                    "https://pat@dev.azure.com/",
                    Some(("denied", "carries user info")),
                ),
                (
                    "https://localhost/",
                    Some(("denied", "host \"localhost\" is a loopback name")),
                ),
                (
                    "https://127.0.0.1/",
                    Some((
                        "denied",
                        "host \"127.0.0.1\" is a loopback address and allow_loopback is off",
                    )),
                ),
                (
                    "http://127.0.0.1:8080/",
                    Some(("denied", "loopback address")),
                ),
                (
                    "https://[::1]/",
                    Some(("denied", "host \"[::1]\" is a loopback address")),
                ),
                (
                    "https://169.254.169.254/latest/meta-data/",
                    Some((
                        "denied",
                        "egress denied: host \"169.254.169.254\" is a link-local address",
                    )),
                ),
                (
                    "https://10.1.2.3/",
                    Some(("denied", "host \"10.1.2.3\" is a private address")),
                ),
                (
                    "https://192.168.0.1/",
                    Some(("denied", "is a private address")),
                ),
                (
                    "https://172.16.0.1/",
                    Some(("denied", "is a private address")),
                ),
                ("https://0.0.0.0/", Some(("denied", "unspecified address"))),
                ("https://[::]/", Some(("denied", "unspecified address"))),
                ("https://224.0.0.1/", Some(("denied", "multicast address"))),
                ("https://[ff02::1]/", Some(("denied", "multicast address"))),
                ("https://[fe80::1]/", Some(("denied", "link-local address"))),
                ("https://[fd00::1]/", Some(("denied", "private address"))),
                (
                    "https://[::ffff:169.254.169.254]/",
                    Some(("denied", "link-local address")),
                ),
                (
                    "https://[64:ff9b::a9fe:a9fe]/",
                    Some(("denied", "link-local address")),
                ),
                // Other spellings of 169.254.169.254 and 127.0.0.1 the URL parser normalises.
                (
                    "https://0xa9fea9fe/",
                    Some(("denied", "host \"169.254.169.254\" is a link-local")),
                ),
                (
                    "https://2852039166/",
                    Some(("denied", "link-local address")),
                ),
                ("https://127.1/", Some(("denied", "loopback address"))),
                ("https://100.64.0.1/", Some(("denied", "carrier-grade NAT"))),
                (
                    "https://8.8.8.8/",
                    Some(("denied", "host \"8.8.8.8\" is not in the allowlist")),
                ),
                ("not a url", Some(("invalid", "not a valid absolute URL"))),
                ("", Some(("invalid", "not a valid absolute URL"))),
                (
                    "/relative/path",
                    Some(("invalid", "not a valid absolute URL")),
                ),
                ("https://", Some(("invalid", "not a valid absolute URL"))),
                (
                    "https://dev.azure.com:99999/",
                    Some(("invalid", "not a valid absolute URL")),
                ),
                (
                    "https://[::1/",
                    Some(("invalid", "not a valid absolute URL")),
                ),
                (
                    "https://exa mple.com/",
                    Some(("invalid", "not a valid absolute URL")),
                ),
            ],
        );
    }

    #[test]
    fn loopback_needs_permission_and_internal_ips_stay_denied_when_listed() {
        let listed = [
            "127.0.0.1",
            "10.0.0.5",
            "169.254.169.254",
            "[fd00::1]",
            "8.8.8.8",
        ];
        let without = policy(&listed, false);
        run(
            &without,
            &[
                (
                    "https://127.0.0.1/",
                    Some(("denied", "allow_loopback is off")),
                ),
                ("https://10.0.0.5/", Some(("denied", "private address"))),
                (
                    "https://169.254.169.254/",
                    Some(("denied", "link-local address")),
                ),
                ("https://[fd00::1]/", Some(("denied", "private address"))),
                ("https://8.8.8.8/", None),
                ("https://8.8.4.4/", Some(("denied", NOT_LISTED))),
            ],
        );
        let with = policy(&[], true);
        run(
            &with,
            &[
                ("http://127.0.0.1:8080/x", None),
                ("https://127.0.0.1/", None),
                ("http://127.9.9.9/", None),
                ("http://localhost:3000/", None),
                ("http://LOCALHOST./", None),
                ("http://api.localhost/", None),
                ("http://[::1]:8080/", None),
                ("http://[::ffff:127.0.0.1]/", None),
                ("http://dev.azure.com/", Some(("denied", "plain http"))),
                ("https://10.0.0.1/", Some(("denied", "private address"))),
                (
                    "https://169.254.169.254/",
                    Some(("denied", "link-local address")),
                ),
                (
                    "http://user:pw@127.0.0.1/",
                    Some(("denied", "carries user info")),
                ),
                ("https://example.com/", Some(("denied", NOT_LISTED))),
            ],
        );
    }

    #[test]
    fn allowlist_entries_are_normalised_and_bad_ones_ignored() {
        let p = policy(
            &[
                "  Example.COM. ",
                "*.Example.org",
                "*",
                "",
                "*.",
                "https://x.com/",
                "x.net:443",
                "bücher.de",
            ],
            false,
        );
        run(
            &p,
            &[
                ("https://example.com/", None),
                ("https://EXAMPLE.com./", None),
                ("https://www.example.com/", Some(("denied", NOT_LISTED))),
                ("https://a.example.org/", None),
                ("https://example.org/", Some(("denied", NOT_LISTED))),
                ("https://anything.test/", Some(("denied", NOT_LISTED))),
                ("https://x.com/", Some(("denied", NOT_LISTED))),
                ("https://x.net/", Some(("denied", NOT_LISTED))),
                ("https://bücher.de/", None),
                ("https://xn--bcher-kva.de/", None),
            ],
        );
    }

    #[test]
    fn check_returns_the_normalised_url() {
        let p = EgressPolicy::new(&azure_devops_hosts());
        let url = p.check("https://DEV.azure.com/org/_apis?x=1").unwrap();
        assert_eq!(url.as_str(), "https://dev.azure.com/org/_apis?x=1");
    }
}
