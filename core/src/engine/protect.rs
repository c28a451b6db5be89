//! Destinations the proxy must never reach (spec `DEC-15`): its own listener
//! (a request loop) and the Authority.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A set of protected `host:port` endpoints. A loopback or unspecified
/// address stands for every loopback spelling (`127.0.0.0/8`, `[::1]`,
/// `localhost`) on that port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProtectedEndpoints {
    addrs: Vec<SocketAddr>,
    names: Vec<(String, u16)>,
}

impl ProtectedEndpoints {
    /// No protected endpoints.
    pub fn new() -> Self {
        Self::default()
    }

    /// Protect a socket address (e.g. the listener's bound address).
    pub fn add_addr(&mut self, addr: SocketAddr) {
        self.addrs.push(addr);
    }

    /// Protect a host name and port (e.g. the Authority's URL host). The name
    /// must already be normalized (lower case, no trailing dot).
    pub fn add_name(&mut self, host: &str, port: u16) {
        match host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => self.addrs.push(SocketAddr::new(ip, port)),
            Err(_) => self.names.push((host.to_owned(), port)),
        }
    }

    /// True when no endpoint is protected.
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty() && self.names.is_empty()
    }

    /// Does a normalized intent host (`Intent::host`) and port hit an endpoint?
    pub fn contains(&self, host: &str, port: u16) -> bool {
        if self.names.iter().any(|(h, p)| h == host && *p == port) {
            return true;
        }
        let ip = if host == "localhost" || host.ends_with(".localhost") {
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        } else {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok()
        };
        ip.is_some_and(|ip| self.contains_addr(SocketAddr::new(ip, port)))
    }

    /// Does a resolved socket address hit an endpoint?
    pub fn contains_addr(&self, addr: SocketAddr) -> bool {
        let ip = canonical(addr.ip());
        self.addrs.iter().any(|p| {
            p.port() == addr.port() && {
                let pip = canonical(p.ip());
                pip == ip || (is_local(pip) && is_local(ip))
            }
        })
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Loopback or unspecified (a listener on `0.0.0.0` is reachable on loopback).
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || ip == IpAddr::V6(Ipv6Addr::LOCALHOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_spellings_hit_a_loopback_listener() {
        let mut p = ProtectedEndpoints::new();
        p.add_addr("127.0.0.1:8080".parse().unwrap());
        for (h, port) in [
            ("127.0.0.1", 8080),
            ("127.0.0.2", 8080),
            ("localhost", 8080),
            ("[::1]", 8080),
        ] {
            assert!(p.contains(h, port), "{h}:{port}");
        }
        assert!(!p.contains("127.0.0.1", 8081));
        assert!(!p.contains("example.com", 8080));
        assert!(p.contains_addr("[::ffff:127.0.0.1]:8080".parse().unwrap()));
        assert!(!p.contains_addr("10.0.0.1:8080".parse().unwrap()));
    }

    #[test]
    fn names_match_exactly() {
        let mut p = ProtectedEndpoints::new();
        p.add_name("authority.internal", 50051);
        assert!(p.contains("authority.internal", 50051));
        assert!(!p.contains("authority.internal", 443));
        p.add_name("[::1]", 50051);
        assert!(p.contains("localhost", 50051));
    }
}
