//! Network-shaped values: hostnames, URLs, proxies, IP addresses.

use super::{check_chars, show, InvalidValue};
use schemars::gen::SchemaGenerator;
use schemars::schema::Schema;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Rules for the labels of a DNS name.
#[derive(Clone, Copy)]
pub(crate) struct DnsRules {
    /// Whether `A-Z` is accepted (Linux hostnames are lowercase).
    pub uppercase: bool,
    /// Whether `_` is accepted (seen in real-world host names, e.g. behind proxies).
    pub underscore: bool,
}

/// Lowercase `[a-z0-9-]` labels.
pub(crate) const LOWERCASE_DNS: DnsRules = DnsRules {
    uppercase: false,
    underscore: false,
};

/// What hosts inside URLs and `host:port` values may look like.
const LENIENT_DNS: DnsRules = DnsRules {
    uppercase: true,
    underscore: true,
};

/// Checks a DNS name: 1–253 characters, dot-separated labels of 1–63 characters that neither
/// start nor end with `-`.
pub(crate) fn check_dns_name(name: &str, rules: DnsRules) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".to_owned());
    }
    if name.len() > 253 {
        return Err(format!(
            "it is {} characters long, more than 253",
            name.len()
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("it has an empty label (a leading, trailing or doubled dot)".to_owned());
        }
        if label.len() > 63 {
            return Err(format!(
                "label {} is {} characters long, more than 63",
                show(label),
                label.len()
            ));
        }
        check_chars(label, |c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || c == '-'
                || (rules.uppercase && c.is_ascii_uppercase())
                || (rules.underscore && c == '_')
        })?;
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {} starts or ends with '-'", show(label)));
        }
    }
    Ok(())
}

/// Checks a host (DNS name or IPv4 address, or an IPv6 address when `bare_ipv6`) optionally
/// followed by `:port`; an IPv6 address with a port is written `[addr]:port`.
pub(crate) fn check_host_port(value: &str, bare_ipv6: bool) -> Result<(), String> {
    if let Some(rest) = value.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return Err("it has '[' without a closing ']'".to_owned());
        };
        if Ipv6Addr::from_str(addr).is_err() {
            return Err(format!("{} is not a valid IPv6 address", show(addr)));
        }
        return match after {
            "" => Ok(()),
            _ => match after.strip_prefix(':') {
                Some(port) => check_port(port),
                None => Err(format!("unexpected {} after ']'", show(after))),
            },
        };
    }
    if value.matches(':').count() > 1 {
        return if bare_ipv6 && Ipv6Addr::from_str(value).is_ok() {
            Ok(())
        } else {
            Err("it has more than one ':' (write IPv6 addresses as `[addr]:port`)".to_owned())
        };
    }
    let (host, port) = match value.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (value, None),
    };
    check_host(host)?;
    match port {
        Some(port) => check_port(port),
        None => Ok(()),
    }
}

/// Checks a DNS name or IPv4 address.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the host is empty".to_owned());
    }
    if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return match Ipv4Addr::from_str(host) {
            Ok(_) => Ok(()),
            Err(_) => Err(format!("{} is not a valid IPv4 address", show(host))),
        };
    }
    check_dns_name(host, LENIENT_DNS).map_err(|problem| format!("host {}: {problem}", show(host)))
}

/// Checks a TCP/UDP port number, 1–65535.
fn check_port(port: &str) -> Result<(), String> {
    match port.parse::<u16>() {
        Ok(number) if number > 0 && port.chars().all(|c| c.is_ascii_digit()) => Ok(()),
        _ => Err(format!(
            "port {} is not a number from 1 to 65535",
            show(port)
        )),
    }
}

/// Rejects whitespace and control characters, which never belong in an address.
fn check_no_space(value: &str) -> Result<(), String> {
    match value.chars().find(|c| c.is_whitespace() || c.is_control()) {
        Some(c) => Err(format!("it contains {c:?}")),
        None => Ok(()),
    }
}

/// Checks an absolute URL: `scheme://[user@]host[:port][/path][?query][#fragment]` (the host may
/// only be empty for `file://`).
pub(crate) fn check_url(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("it is empty".to_owned());
    }
    check_no_space(value)?;
    let Some((scheme, rest)) = value.split_once("://") else {
        return Err("it has no scheme such as `https://`".to_owned());
    };
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(format!("scheme {} is not valid", show(scheme)));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    if host_port.is_empty() {
        return if scheme.eq_ignore_ascii_case("file") {
            Ok(())
        } else {
            Err("it has no host".to_owned())
        };
    }
    check_host_port(host_port, false)
}

fn check_host_or_url(value: &str) -> Result<(), String> {
    if value.contains("://") {
        check_url(value)
    } else {
        check_no_space(value)?;
        check_host_port(value, true)
    }
}

fn check_proxy(value: &str) -> Result<(), String> {
    if let Some((scheme, _)) = value.split_once("://") {
        if !matches!(
            scheme.to_ascii_lowercase().as_str(),
            "http" | "https" | "socks5" | "socks5h"
        ) {
            return Err(format!(
                "scheme {} is not one of http, https, socks5, socks5h",
                show(scheme)
            ));
        }
        check_url(value)
    } else {
        check_no_space(value)?;
        check_host_port(value, false)
    }
}

fn check_no_proxy(value: &str) -> Result<(), String> {
    if value == "*" {
        return Ok(());
    }
    check_no_space(value)?;
    if let Some((addr, prefix)) = value.split_once('/') {
        let max = match IpAddr::from_str(addr) {
            Ok(IpAddr::V4(_)) => 32,
            Ok(IpAddr::V6(_)) => 128,
            Err(_) => return Err(format!("{} is not an IP address", show(addr))),
        };
        return match prefix.parse::<u8>() {
            Ok(bits) if bits <= max && prefix.chars().all(|c| c.is_ascii_digit()) => Ok(()),
            _ => Err(format!(
                "prefix length {} is not a number from 0 to {max}",
                show(prefix)
            )),
        };
    }
    let host = value
        .strip_prefix("*.")
        .or_else(|| value.strip_prefix('.'))
        .unwrap_or(value);
    check_host_port(host, true)
}

fn check_registry_host(value: &str) -> Result<(), String> {
    if value == "*" {
        return Ok(());
    }
    check_no_space(value)?;
    check_host_port(value, false)
}

fn check_linux_hostname(value: &str) -> Result<(), String> {
    check_dns_name(value, LOWERCASE_DNS)
}

fn check_dns_domain(value: &str) -> Result<(), String> {
    check_dns_name(
        value,
        DnsRules {
            uppercase: true,
            underscore: false,
        },
    )
}

validated_string! {
    /// A Linux hostname (see hostname(7)) or fully qualified domain name.
    pub struct ValidLinuxHostname {
        thing: "hostname",
        expected: "1-253 characters of dot-separated labels, each 1-63 characters of `[a-z0-9-]` \
                   that neither start nor end with '-' (e.g. `ip-10-0-0-1.example.internal`)",
        max_length: 253,
        check: check_linux_hostname,
    }
}

validated_string! {
    /// A DNS domain name such as `cluster.local`.
    pub struct DnsDomain {
        thing: "DNS domain name",
        expected: "1-253 characters of dot-separated labels, each 1-63 characters of \
                   `[A-Za-z0-9-]` that neither start nor end with '-' (e.g. `cluster.local`)",
        max_length: 253,
        check: check_dns_domain,
    }
}

validated_string! {
    /// An absolute URL with a scheme and a host.
    pub struct Url {
        thing: "URL",
        expected: "an absolute URL `scheme://host[:port][/path]` such as \
                   `https://updates.example.com/metadata`",
        check: check_url,
    }
}

validated_string! {
    /// A server given either as a URL or as `host[:port]` (DNS name, IPv4 or IPv6 address).
    pub struct HostOrUrl {
        thing: "server address",
        expected: "a host name or IP address with an optional `:port` (e.g. \
                   `time.example.com`, `169.254.169.123`), or a URL such as `ntp://time.example.com`",
        check: check_host_or_url,
    }
}

validated_string! {
    /// A proxy given as an `http`, `https` or `socks5` URL or as `host[:port]`.
    pub struct ProxyAddress {
        thing: "proxy address",
        expected: "a proxy URL such as `http://proxy.example.com:3128` (http, https, socks5 or \
                   socks5h) or `host:port` such as `proxy.example.com:3128`",
        check: check_proxy,
    }
}

validated_string! {
    /// One entry of a no-proxy list: `*`, a host or domain (optionally with a leading `.` or
    /// `*.`, and a `:port`), an IP address or a CIDR block.
    pub struct NoProxyEntry {
        thing: "no-proxy entry",
        expected: "`*`, a host or domain such as `example.com` or `.example.com` (optionally \
                   with `:port`), an IP address, or a CIDR block such as `10.0.0.0/8`",
        check: check_no_proxy,
    }
}

validated_string! {
    /// A container registry host, `host[:port]`, or `*` for every registry.
    pub struct RegistryHost {
        thing: "registry host",
        expected: "`*` or a registry host with an optional port, such as `docker.io` or \
                   `registry.example.com:5000`",
        check: check_registry_host,
    }
}

/// An IPv4 or IPv6 address, written as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpAddress(pub IpAddr);

impl IpAddress {
    /// What a valid value looks like.
    pub const EXPECTED: &'static str =
        "an IPv4 address such as `10.100.0.10` or an IPv6 address such as `fd00::a`";
}

impl TryFrom<&str> for IpAddress {
    type Error = InvalidValue;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        IpAddr::from_str(value).map(IpAddress).map_err(|_| {
            InvalidValue::new("IP address", value, "not an IP address", Self::EXPECTED)
        })
    }
}

impl TryFrom<String> for IpAddress {
    type Error = InvalidValue;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::try_from(value.as_str())
    }
}

impl FromStr for IpAddress {
    type Err = InvalidValue;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::try_from(value)
    }
}

impl fmt::Display for IpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for IpAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for IpAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Self::try_from(value.as_str()).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for IpAddress {
    fn schema_name() -> String {
        "IpAddress".to_owned()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        crate::schema::string_schema(&format!("IP address: {}.", Self::EXPECTED)).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        for ok in [
            "a",
            "ip-10-0-0-1.us-west-2.compute.internal",
            &"a".repeat(63),
        ] {
            ValidLinuxHostname::try_from(ok).unwrap();
        }
        let long = [&"a".repeat(63)[..]; 4].join(".");
        for bad in [
            "",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a.",
            "UPPER",
            "a_b",
            &"a".repeat(64),
            &long,
        ] {
            assert!(ValidLinuxHostname::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        for ok in [
            "https://example.com",
            "http://10.0.0.1:8080/path?q=1",
            "https://user:pw@[fd00::1]:443/x",
            "file:///var/lib/repo",
            "https://updates.bottlerocket.aws/2020-07-07/aws-k8s-1.31/x86_64/",
        ] {
            Url::try_from(ok).unwrap();
        }
        for bad in [
            "",
            "example.com",
            "https://",
            "https://exa mple.com",
            "https://host:99999",
            "https://host:",
            "1http://x",
            "https://-bad-.com",
            "https://300.1.1.1",
        ] {
            assert!(Url::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn proxies_and_no_proxy() {
        for ok in ["proxy:3128", "http://proxy.example.com:3128", "10.0.0.1:80"] {
            ProxyAddress::try_from(ok).unwrap();
        }
        for bad in ["ftp://proxy", "proxy:abc", "proxy server"] {
            assert!(ProxyAddress::try_from(bad).is_err(), "{bad}");
        }
        for ok in [
            "*",
            ".example.com",
            "*.example.com",
            "10.0.0.0/8",
            "fd00::/8",
            "::1",
            "h:80",
        ] {
            NoProxyEntry::try_from(ok).unwrap();
        }
        for bad in ["10.0.0.0/33", "a b", "x/8", ""] {
            assert!(NoProxyEntry::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts_or_urls() {
        for ok in [
            "169.254.169.123",
            "2.amazon.pool.ntp.org",
            "fd00::123",
            "ntp://x.org",
        ] {
            HostOrUrl::try_from(ok).unwrap();
        }
        for bad in ["", "bad host", "host:0", "[fd00::1"] {
            assert!(HostOrUrl::try_from(bad).is_err(), "{bad}");
        }
    }
}
