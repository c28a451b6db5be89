//! The Authority URL: `http://` or `https://`, a host and an optional port.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Transport of the Authority connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlScheme {
    /// Plain-text gRPC (loopback only unless explicitly allowed, CFG-22).
    Http,
    /// gRPC over TLS (needs `ca_cert_path`, CFG-23).
    Https,
}

impl UrlScheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

/// A validated Authority endpoint URL (CFG-21).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorityUrl {
    text: String,
    scheme: UrlScheme,
    host: String,
    port: u16,
}

impl AuthorityUrl {
    /// Parse `scheme://host[:port][/]`. The host is lower-cased; IPv6 hosts are
    /// written in brackets. User info, paths, queries and fragments are
    /// rejected. The error is a reason phrase starting with a verb.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err("is not a url (expected `http://host:port` or `https://host:port`)".into());
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => UrlScheme::Http,
            "https" => UrlScheme::Https,
            _ => {
                return Err("has an unsupported scheme (expected `http://` or `https://`)".into());
            }
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if !tail.is_empty() && tail != "/" {
            return Err("must not have a path, query or fragment".into());
        }
        if authority.contains('@') {
            return Err("must not contain user credentials".into());
        }
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            None => scheme.default_port(),
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err("has an invalid port (expected 1 to 65535)".into()),
            },
        };
        Ok(Self {
            text: raw.to_owned(),
            scheme,
            host,
            port,
        })
    }

    /// The URL as written in the config.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> UrlScheme {
        self.scheme
    }

    /// Lower-case host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Explicit port, or 80 / 443 by scheme.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the host is `localhost`, in `127.0.0.0/8`, or `::1` (also as an
    /// IPv4-mapped address).
    pub fn is_loopback(&self) -> bool {
        let host = self.host.strip_suffix('.').unwrap_or(&self.host);
        if host == "localhost" {
            return true;
        }
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => v4.is_loopback(),
            Ok(IpAddr::V6(v6)) => {
                v6.is_loopback()
                    || v6
                        .to_ipv4_mapped()
                        .is_some_and(|v4: Ipv4Addr| v4.is_loopback())
            }
            Err(_) => false,
        }
    }

    /// Same endpoint: scheme, host and port equal.
    pub fn same_endpoint(&self, other: &Self) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }
}

impl fmt::Display for AuthorityUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<&str>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err("has an unclosed `[` in the host".into());
        };
        let ip: Ipv6Addr = v6
            .parse()
            .map_err(|_| "has an invalid ipv6 address".to_owned())?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| "has text after the ipv6 address".to_owned())?,
            ),
        };
        return Ok((ip.to_string(), port));
    }
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err("has no host".into());
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err("has an invalid host (letters, digits, `-` and `.` only)".into());
    }
    Ok((host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfg21_parses_scheme_host_port() {
        let u = AuthorityUrl::parse("https://Authority.Example.com:8443/").unwrap();
        assert_eq!(u.scheme(), UrlScheme::Https);
        assert_eq!(u.host(), "authority.example.com");
        assert_eq!(u.port(), 8443);
        let u = AuthorityUrl::parse("http://127.0.0.1").unwrap();
        assert_eq!(u.port(), 80);
        let u = AuthorityUrl::parse("http://[::1]:50051").unwrap();
        assert_eq!((u.host(), u.port()), ("::1", 50051));
    }

    #[test]
    fn cfg21_rejects_malformed() {
        for bad in [
            "127.0.0.1:50051",
            "ftp://a",
            "grpc://a:1",
            "http://",
            "http://:80",
            "http://a:0",
            "http://a:99999",
            "http://a:+1",
            "http://u:p@a",
            "http://a/v1",
            "http://a?x",
            "http://[::1",
            "http://[zz]:1",
            "http://a b",
        ] {
            assert!(
                AuthorityUrl::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn cfg22_loopback_hosts() {
        for lo in [
            "http://localhost:1",
            "http://LOCALHOST",
            "http://127.0.0.1:1",
            "http://127.8.9.10",
            "http://[::1]:1",
            "http://[::ffff:127.0.0.1]",
        ] {
            assert!(AuthorityUrl::parse(lo).unwrap().is_loopback(), "{lo}");
        }
        for remote in [
            "http://10.0.0.1",
            "http://authority.internal",
            "http://[::2]",
            "http://localhost.evil.com",
        ] {
            assert!(
                !AuthorityUrl::parse(remote).unwrap().is_loopback(),
                "{remote}"
            );
        }
    }
}
