//! Host and port normalization (spec `NRM-8`..`NRM-11`), shared by request
//! authorities, `Host` headers and mapping-rule hosts.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::Malformed;
use super::show::show;

/// Longest DNS name accepted, without the trailing dot.
const MAX_NAME_LEN: usize = 253;
/// Longest DNS label accepted.
const MAX_LABEL_LEN: usize = 63;

/// Normalize an authority `host[:port]` (no userinfo).
///
/// Returns the normalized host (lower-case DNS name without trailing dot,
/// dotted-quad IPv4, or bracketed RFC 5952 IPv6) and the explicit port, if
/// one was written. `host:` (empty port) yields `None`, like no port at all.
/// The same function normalizes mapping-rule hosts, so rules and requests
/// always agree on spelling.
pub fn normalize_host(input: &str) -> Result<(String, Option<u16>), Malformed> {
    if input.is_empty() {
        return Err(Malformed::new("host is empty"));
    }
    if let Some(rest) = input.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err(Malformed::new(format!(
                "ipv6 host `{}` has no closing `]`",
                show(input)
            )));
        };
        let host = normalize_ipv6(inside)?;
        let port = if after.is_empty() {
            None
        } else if let Some(port) = after.strip_prefix(':') {
            parse_port(port)?
        } else {
            return Err(Malformed::new(format!(
                "unexpected text after ipv6 host in `{}`",
                show(input)
            )));
        };
        return Ok((host, port));
    }
    let (name, port) = match input.split_once(':') {
        Some((name, port)) => (name, parse_port(port)?),
        None => (input, None),
    };
    Ok((normalize_host_name(name)?, port))
}

/// Normalize a host without a port: a DNS name or an IPv4 address in any
/// WHATWG spelling (`2852039166`, `0xA9FEA9FE`, `0251.0376.0251.0376`,
/// `127.1`). Brackets (IPv6) are not accepted here; see [`normalize_host`].
pub fn normalize_host_name(name: &str) -> Result<String, Malformed> {
    if name.is_empty() {
        return Err(Malformed::new("host is empty"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        let what = if bad == '%' {
            "a percent-escape".to_owned()
        } else if bad.is_whitespace() {
            "whitespace".to_owned()
        } else if !bad.is_ascii() {
            "a non-ascii character".to_owned()
        } else {
            format!("the character `{}`", show(&bad.to_string()))
        };
        return Err(Malformed::new(format!(
            "host `{}` contains {what}",
            show(name)
        )));
    }
    let lower = name.to_ascii_lowercase();
    let trimmed = lower.strip_suffix('.').unwrap_or(&lower);
    if trimmed.is_empty() {
        return Err(Malformed::new(format!("host `{}` is empty", show(name))));
    }
    let last = trimmed.rsplit('.').next().unwrap_or(trimmed);
    if ends_in_number(last) {
        return parse_ipv4(trimmed).map(|ip| ip.to_string()).ok_or_else(|| {
            Malformed::new(format!("host `{}` is not a valid ipv4 address", show(name)))
        });
    }
    if trimmed.len() > MAX_NAME_LEN {
        return Err(Malformed::new(format!(
            "host `{}` is longer than {MAX_NAME_LEN} characters",
            show(name)
        )));
    }
    for label in trimmed.split('.') {
        if label.is_empty() {
            return Err(Malformed::new(format!(
                "host `{}` has an empty label",
                show(name)
            )));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(Malformed::new(format!(
                "host `{}` has a label longer than {MAX_LABEL_LEN} characters",
                show(name)
            )));
        }
    }
    Ok(trimmed.to_owned())
}

/// True when a normalized host is an IP literal (dotted quad or `[v6]`).
pub fn is_ip_literal(host: &str) -> bool {
    host.starts_with('[') || host.parse::<Ipv4Addr>().is_ok()
}

/// Parse a port: digits only, leading zeros allowed, 1..=65535. Empty means
/// "no explicit port".
pub fn parse_port(port: &str) -> Result<Option<u16>, Malformed> {
    if port.is_empty() {
        return Ok(None);
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Malformed::new(format!(
            "port `{}` is not a number",
            show(port)
        )));
    }
    let significant = port.trim_start_matches('0');
    let value = if significant.len() > 5 {
        None
    } else {
        significant.parse::<u32>().ok().or(Some(0))
    };
    match value.and_then(|v| u16::try_from(v).ok()) {
        Some(0) => Err(Malformed::new(format!("port `{}` is zero", show(port)))),
        Some(p) => Ok(Some(p)),
        None => Err(Malformed::new(format!(
            "port `{}` is out of range",
            show(port)
        ))),
    }
}

fn normalize_ipv6(inside: &str) -> Result<String, Malformed> {
    if inside.contains('%') {
        return Err(Malformed::new(format!(
            "ipv6 host `[{}]` has a zone id, which is not supported",
            show(inside)
        )));
    }
    let addr: Ipv6Addr = inside.parse().map_err(|_| {
        Malformed::new(format!(
            "host `[{}]` is not a valid ipv6 address",
            show(inside)
        ))
    })?;
    Ok(match addr.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => format!("[{addr}]"),
    })
}

/// WHATWG "ends in a number": the last label is all digits or a `0x` number.
fn ends_in_number(last: &str) -> bool {
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    last.strip_prefix("0x")
        .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// WHATWG IPv4 parser (inet_aton semantics) on a lower-cased name without a
/// trailing dot. `None` means "not a valid address".
fn parse_ipv4(name: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let numbers = parts
        .iter()
        .map(|p| parse_ipv4_number(p))
        .collect::<Option<Vec<u64>>>()?;
    let (last, init) = numbers.split_last()?;
    let mut value: u64 = 0;
    for (i, n) in init.iter().enumerate() {
        if *n > 255 {
            return None;
        }
        let shift = 8 * (3 - u32::try_from(i).ok()?);
        value |= n << shift;
    }
    let remaining_bits = 8 * (5 - u32::try_from(numbers.len()).ok()?);
    if *last >= 1u64 << remaining_bits {
        return None;
    }
    value |= last;
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

fn parse_ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x") {
        (hex, 16)
    } else if let Some(octal) = part.strip_prefix('0').filter(|o| !o.is_empty()) {
        (octal, 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        return Some(0);
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 12 {
        return None; // far beyond 2^32 in any radix
    }
    if significant.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(significant, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(s: &str) -> String {
        normalize_host(s).unwrap().0
    }

    // NRM-8
    #[test]
    fn dns_names_are_lowercased_and_lose_one_trailing_dot() {
        assert_eq!(host("API.GitHub.COM"), "api.github.com");
        assert_eq!(host("a.com."), "a.com");
        assert_eq!(host("under_score.example"), "under_score.example");
        assert!(normalize_host("a.com..").is_err());
        assert!(normalize_host(".").is_err());
        assert!(normalize_host("a..com").is_err());
        assert!(normalize_host(".a.com").is_err());
    }

    // NRM-8
    #[test]
    fn junk_hosts_are_malformed() {
        for bad in [
            "",
            " a.com",
            "a.com ",
            "a com",
            "ex%61mple.com",
            "bücher.de",
            "a/b",
            "a@b",
            "a\tb",
            "*.a.com",
        ] {
            assert!(normalize_host(bad).is_err(), "{bad:?}");
        }
        let label = "a".repeat(64);
        assert!(normalize_host(&format!("{label}.com")).is_err());
        let long = vec!["a".repeat(60); 5].join(".");
        assert!(normalize_host(&long).is_err());
        assert_eq!(
            normalize_host("ex%61mple.com").unwrap_err().detail,
            "host `ex%61mple.com` contains a percent-escape"
        );
    }

    // NRM-9
    #[test]
    fn every_ipv4_spelling_is_a_dotted_quad() {
        for s in [
            "169.254.169.254",
            "2852039166",
            "0xA9FEA9FE",
            "0xa9fea9fe",
            "0251.0376.0251.0376",
            "0xa9.0xfe.0xa9.0xfe",
            "169.254.43518",
            "169.16689662",
            "169.254.169.254.",
            "0251.254.0xa9.254",
        ] {
            assert_eq!(host(s), "169.254.169.254", "{s}");
        }
        assert_eq!(host("127.1"), "127.0.0.1");
        assert_eq!(host("0x7f.1"), "127.0.0.1");
        assert_eq!(host("0"), "0.0.0.0");
        assert_eq!(host("0x"), "0.0.0.0");
    }

    // NRM-9
    #[test]
    fn bad_ipv4_is_malformed() {
        for bad in [
            "256.1.1.1",
            "1.2.3.4.5",
            "4294967296",
            "1.2.3.256",
            "1.2.65536",
            "08.1.1.1",
            "0x1g.1",
            "foo.123",
            "1..2",
            "99999999999999999999999",
        ] {
            assert!(normalize_host(bad).is_err(), "{bad:?}");
        }
    }

    // NRM-10
    #[test]
    fn ipv6_is_rfc5952_and_mapped_v4_is_unwrapped() {
        assert_eq!(host("[2001:DB8:0:0:0:0:0:1]"), "[2001:db8::1]");
        assert_eq!(host("[::1]"), "[::1]");
        assert_eq!(host("[::ffff:169.254.169.254]"), "169.254.169.254");
        assert_eq!(host("[::ffff:a9fe:a9fe]"), "169.254.169.254");
        assert_eq!(
            normalize_host("[::1]:8080").unwrap(),
            ("[::1]".into(), Some(8080))
        );
        for bad in [
            "[fe80::1%25eth0]",
            "[fe80::1%eth0]",
            "[::1",
            "[::1]x",
            "[nope]",
            "[]",
        ] {
            assert!(normalize_host(bad).is_err(), "{bad:?}");
        }
    }

    // NRM-11
    #[test]
    fn ports() {
        assert_eq!(
            normalize_host("a.com:0080").unwrap(),
            ("a.com".into(), Some(80))
        );
        assert_eq!(normalize_host("a.com:").unwrap(), ("a.com".into(), None));
        assert_eq!(normalize_host("a.com:65535").unwrap().1, Some(65535));
        assert_eq!(normalize_host("a.com:000000000443").unwrap().1, Some(443));
        for bad in [
            "a.com:0",
            "a.com:65536",
            "a.com:+80",
            "a.com:8o",
            "a.com:1:2",
            "a.com:999999",
        ] {
            assert!(normalize_host(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            normalize_host("a.com:0").unwrap_err().detail,
            "port `0` is zero"
        );
    }

    #[test]
    fn ip_literal_detection() {
        assert!(is_ip_literal("1.2.3.4"));
        assert!(is_ip_literal("[::1]"));
        assert!(!is_ip_literal("a.com"));
    }
}
