//! Host names, host patterns (the D2 grammar used by the MITM host lists) and
//! `host:port` keys.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// A host pattern: an exact DNS name, or `*.suffix` matching exactly one
/// extra label in front of a suffix of at least two labels (CFG-30).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostPattern {
    /// Matches this (lower-case, no trailing dot) name only.
    Exact(String),
    /// `*.<suffix>`: matches `<label>.<suffix>` for one label.
    Wildcard(String),
}

impl HostPattern {
    /// Parse and normalize (lower-case, one trailing dot removed). The error is
    /// a reason phrase starting with a verb.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let lower = raw.to_ascii_lowercase();
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        if name.is_empty() {
            return Err("is empty (expected a host name such as `api.example.com`)".into());
        }
        if name.contains(':') {
            return Err("must not contain a port (list the host name only)".into());
        }
        if name == "*" {
            return Err(
                "would match every host (list host names or `*.suffix` with at least two labels)"
                    .into(),
            );
        }
        if let Some(suffix) = name.strip_prefix("*.") {
            if suffix.contains('*') {
                return Err(wildcard_placement());
            }
            check_dns_name(suffix)?;
            if suffix.split('.').count() < 2 {
                return Err(
                    "has a wildcard suffix with one label (expected at least two, e.g. `*.example.com`)"
                        .into(),
                );
            }
            return Ok(Self::Wildcard(suffix.to_owned()));
        }
        if name.contains('*') {
            return Err(wildcard_placement());
        }
        check_dns_name(name)?;
        Ok(Self::Exact(name.to_owned()))
    }

    /// Whether `host` (a name without port) matches this pattern; `host` is
    /// compared case-insensitively and may carry one trailing dot.
    pub fn matches(&self, host: &str) -> bool {
        let lower = host.to_ascii_lowercase();
        let host = lower.strip_suffix('.').unwrap_or(&lower);
        match self {
            Self::Exact(name) => host == name,
            Self::Wildcard(suffix) => host
                .strip_suffix(suffix.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(name) => f.write_str(name),
            Self::Wildcard(suffix) => write!(f, "*.{suffix}"),
        }
    }
}

fn wildcard_placement() -> String {
    "has a wildcard that is not a whole leading label (only `*.suffix` is allowed)".into()
}

/// Check a lower-case DNS name: labels of 1..=63 characters from `a-z`,
/// `0-9`, `-`, `_`, not starting or ending with `-`; at most 253 characters.
fn check_dns_name(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err("is too long for a host name (at most 253 characters)".into());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("has an empty label".into());
        }
        if label.len() > 63 {
            return Err("has a label longer than 63 characters".into());
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err("is not a valid host name (letters, digits, `-` and `.` only)".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("has a label starting or ending with `-`".into());
        }
    }
    Ok(())
}

/// A `host:port` pair as used by `[sidecar.upstream].resolve` keys: the host
/// is a lower-case DNS name or an IP address (IPv6 without brackets).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPort {
    /// Lower-case host name or IP address text.
    pub host: String,
    /// Port, 1..=65535.
    pub port: u16,
}

impl HostPort {
    /// Parse `host:port` or `[v6]:port`; the host is lower-cased and one
    /// trailing dot is removed.
    pub fn parse(raw: &str) -> Result<Self, String> {
        const EXPECTED: &str = "is not `host:port` (e.g. `api.example.com:443`)";
        let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
            let (v6, port) = rest.split_once("]:").ok_or_else(|| EXPECTED.to_owned())?;
            let ip: Ipv6Addr = v6.parse().map_err(|_| EXPECTED.to_owned())?;
            (ip.to_string(), port)
        } else {
            let (host, port) = raw.rsplit_once(':').ok_or_else(|| EXPECTED.to_owned())?;
            let lower = host.to_ascii_lowercase();
            let host = lower.strip_suffix('.').unwrap_or(&lower).to_owned();
            if host.parse::<IpAddr>().is_err() {
                check_dns_name(&host)?;
            }
            (host, port)
        };
        let port = match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => p,
            _ => return Err("has an invalid port (expected 1 to 65535)".into()),
        };
        Ok(Self { host, port })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfg30_accepts_exact_and_two_label_wildcards() {
        assert_eq!(
            HostPattern::parse("API.OpenAI.com.").unwrap(),
            HostPattern::Exact("api.openai.com".into())
        );
        assert_eq!(
            HostPattern::parse("*.anthropic.com").unwrap(),
            HostPattern::Wildcard("anthropic.com".into())
        );
        assert_eq!(
            HostPattern::parse("*.supabase.co").unwrap().to_string(),
            "*.supabase.co"
        );
    }

    #[test]
    fn cfg30_rejects_bad_patterns() {
        for bad in [
            "",
            "*",
            "*.com",
            "api.*.com",
            "*api.com",
            "api.openai.com:443",
            "a..b",
            "-a.com",
            "*.*.com",
            "a b.com",
            "[::1]",
        ] {
            assert!(
                HostPattern::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn cfg30_wildcard_matches_exactly_one_label() {
        let p = HostPattern::parse("*.anthropic.com").unwrap();
        assert!(p.matches("api.anthropic.com"));
        assert!(p.matches("API.anthropic.com."));
        assert!(!p.matches("anthropic.com"));
        assert!(!p.matches("api.dev.anthropic.com"));
        assert!(!p.matches("xanthropic.com"));
        let e = HostPattern::parse("api.stripe.com").unwrap();
        assert!(e.matches("Api.Stripe.Com"));
        assert!(!e.matches("x.api.stripe.com"));
    }

    #[test]
    fn cfg41_host_port_keys() {
        assert_eq!(
            HostPort::parse("API.Example.com:443").unwrap(),
            HostPort {
                host: "api.example.com".into(),
                port: 443
            }
        );
        assert_eq!(
            HostPort::parse("[::1]:8443").unwrap().to_string(),
            "[::1]:8443"
        );
        assert_eq!(HostPort::parse("10.0.0.1:80").unwrap().host, "10.0.0.1");
        for bad in [
            "api.example.com",
            "api.example.com:0",
            "a:+1",
            ":443",
            "a:70000",
            "[::1]443",
            "a b:1",
        ] {
            assert!(HostPort::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
