//! Request normalization (spec `NRM-*`): method + request target + headers → the
//! [`Intent`] that mapping and policy see. Anything ambiguous is [`Malformed`].

mod headers;
mod host;
mod method;
mod path;
mod show;
mod target;

pub use headers::{HeaderFacts, check_headers};
pub use host::{is_ip_literal, normalize_host, normalize_host_name, parse_port};
pub use method::validate_method;
pub use path::{NormalizedPath, normalize_path, normalize_segment, validate_query};

pub(crate) use show::show;
use target::{Target, check_wire_chars, parse_target, reject_userinfo};

/// The request head as the shell received it. Header values are raw bytes.
#[derive(Clone, Copy, Debug)]
pub struct RawRequest<'a> {
    /// Method token exactly as received.
    pub method: &'a str,
    /// Request target exactly as received: absolute-form (`http://h/p?q`) for a
    /// proxied request, authority-form (`h:443`) for CONNECT, origin-form (`/p`)
    /// only inside a MITM tunnel (see `tunnel`).
    pub target: &'a str,
    /// Header fields in arrival order (name as received, raw value).
    pub headers: &'a [(&'a str, &'a [u8])],
    /// For a request decrypted inside a MITM tunnel: the CONNECT authority of the
    /// tunnel (`api.openai.com:443`). The scheme is then `https`.
    pub tunnel: Option<&'a str>,
}

/// URL scheme of the call as the upstream will see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// TLS: CONNECT tunnels and MITM-decrypted requests.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// 80 or 443.
    pub const fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A normalized request: what mapping, Cedar and the audit record see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intent {
    /// Upper-case method token (`GET`, `CONNECT`, …).
    pub method: String,
    /// `http` for absolute-form requests, `https` for CONNECT and MITM.
    pub scheme: Scheme,
    /// True for a CONNECT request (tunnel set-up).
    pub connect: bool,
    /// Normalized host: lower-case DNS name without trailing dot, dotted-quad
    /// IPv4, or bracketed RFC 5952 IPv6 (`[2001:db8::1]`). No port.
    pub host: String,
    /// Effective port (explicit, or the scheme's default).
    pub port: u16,
    /// `host` plus `:port` when the port is not the scheme's default. This is the
    /// host that mapping rules and policies see (`resource.host`).
    pub authority: String,
    /// Normalized path used for matching and as `resource.path`: starts with
    /// `/`, no dot segments, no empty segments, no trailing `/` (except the root),
    /// unreserved percent-escapes decoded, other escapes upper-cased. `/` for CONNECT.
    pub path: String,
    /// Raw query string without the `?`, if any. Never used for matching.
    pub query: Option<String>,
    /// Origin-form target to send upstream: the normalized path (trailing `/`
    /// preserved) plus `?query`. Empty for CONNECT.
    pub forward_target: String,
}

impl Intent {
    /// Cedar resource id: `authority` + `path` (e.g. `paste.rs/`).
    pub fn resource_id(&self) -> String {
        format!("{}{}", self.authority, self.path)
    }
}

/// A request that cannot be interpreted unambiguously.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Malformed {
    /// Human-readable reason, e.g. "Host header `b.example` disagrees with request target authority `a.example`".
    pub detail: String,
}

impl Malformed {
    /// A malformed-request error with the given one-line detail.
    pub fn new(detail: impl Into<String>) -> Malformed {
        Malformed {
            detail: detail.into(),
        }
    }
}

/// `host` plus `:port` when `port` is not `default`.
fn authority_of(host: &str, port: u16, default: u16) -> String {
    if port == default {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    }
}

/// Parse an authority-form `host:port` (CONNECT target or tunnel authority).
/// The port is required unless `default_port` is given.
fn parse_authority_form(
    authority: &str,
    what: &str,
    default_port: Option<u16>,
) -> Result<(String, u16), Malformed> {
    check_wire_chars(authority)?;
    reject_userinfo(authority, authority)?;
    if authority.contains(['/', '?']) {
        return Err(Malformed::new(format!(
            "{what} `{}` is not in authority-form `host:port`",
            show(authority)
        )));
    }
    let (host, port) = normalize_host(authority)?;
    match port.or(default_port) {
        Some(port) => Ok((host, port)),
        None => Err(Malformed::new(format!(
            "{what} `{}` has no port",
            show(authority)
        ))),
    }
}

/// Check that a `Host` header value names `host` and effective `port`.
fn host_header_agrees(value: &str, host: &str, port: u16, default_port: u16) -> bool {
    match normalize_host(value) {
        Ok((h, p)) => h == host && p.unwrap_or(default_port) == port,
        Err(_) => false,
    }
}

/// Normalize a request head into an [`Intent`] (spec `NRM-*`).
///
/// Every input either yields one unambiguous intent or a [`Malformed`] whose
/// detail names the offending value. Never panics.
pub fn normalize(req: &RawRequest<'_>) -> Result<Intent, Malformed> {
    validate_method(req.method)?;
    let facts = check_headers(req.headers)?;
    if req.method == "CONNECT" {
        return normalize_connect(req, &facts);
    }
    let tunnel = match req.tunnel {
        Some(t) => Some(parse_authority_form(t, "tunnel authority", Some(443))?),
        None => None,
    };
    let (scheme, host, port, raw_path, query) = match parse_target(req.target)? {
        Target::Origin { path, query } => {
            let Some((host, port)) = tunnel.clone() else {
                return Err(Malformed::new(format!(
                    "origin-form target `{}` is only valid inside a mitm tunnel",
                    show(req.target)
                )));
            };
            (Scheme::Https, host, port, path, query)
        }
        Target::Absolute {
            scheme,
            authority,
            path,
            query,
        } => {
            let (host, explicit) = normalize_host(authority)?;
            let port = explicit.unwrap_or(scheme.default_port());
            if let Some((t_host, t_port)) = &tunnel {
                if scheme != Scheme::Https {
                    return Err(Malformed::new(format!(
                        "tunneled request target `{}` must use `https`",
                        show(req.target)
                    )));
                }
                if *t_host != host || *t_port != port {
                    return Err(Malformed::new(format!(
                        "tunneled host `{}` does not match connect target `{}`",
                        show(authority),
                        show(req.tunnel.unwrap_or_default())
                    )));
                }
            }
            (scheme, host, port, path, query)
        }
    };
    if let Some(value) = &facts.host
        && !host_header_agrees(value, &host, port, scheme.default_port())
    {
        return Err(Malformed::new(match req.tunnel {
            Some(t) => format!(
                "tunneled host `{}` does not match connect target `{}`",
                show(value),
                show(t)
            ),
            None => format!(
                "host header `{}` disagrees with request target authority `{}`",
                show(value),
                show(&authority_of(&host, port, scheme.default_port()))
            ),
        }));
    }
    let normalized = normalize_path(raw_path)?;
    if let Some(q) = query {
        validate_query(q)?;
    }
    let forward_target = match query {
        Some(q) => format!("{}?{q}", normalized.forward),
        None => normalized.forward,
    };
    Ok(Intent {
        method: req.method.to_owned(),
        scheme,
        connect: false,
        authority: authority_of(&host, port, scheme.default_port()),
        host,
        port,
        path: normalized.path,
        query: query.map(str::to_owned),
        forward_target,
    })
}

fn normalize_connect(req: &RawRequest<'_>, facts: &HeaderFacts) -> Result<Intent, Malformed> {
    if let Some(t) = req.tunnel {
        return Err(Malformed::new(format!(
            "connect request inside the mitm tunnel to `{}`",
            show(t)
        )));
    }
    let (host, port) = parse_authority_form(req.target, "connect target", None)?;
    let default = Scheme::Https.default_port();
    if let Some(value) = &facts.host
        && !host_header_agrees(value, &host, port, default)
    {
        return Err(Malformed::new(format!(
            "host header `{}` disagrees with request target authority `{}`",
            show(value),
            show(req.target)
        )));
    }
    Ok(Intent {
        method: req.method.to_owned(),
        scheme: Scheme::Https,
        connect: true,
        authority: authority_of(&host, port, default),
        host,
        port,
        path: "/".to_owned(),
        query: None,
        forward_target: String::new(),
    })
}

#[cfg(test)]
mod tests;
