//! The rule grammar (spec `MAP-4`..`MAP-9`): methods, host patterns, path
//! patterns, and the precedence order between rules.

use std::cmp::Ordering;

use crate::normalize::{is_ip_literal, normalize_host, normalize_segment, show};

/// Methods a rule may name.
pub(crate) const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT",
];

/// `CONNECT`, the tunnel set-up method.
pub(crate) const CONNECT: &str = "CONNECT";

/// Parse a rule's `method`: one of [`METHODS`], exactly as written.
pub(crate) fn parse_method(value: &str) -> Option<&'static str> {
    METHODS.iter().copied().find(|m| *m == value)
}

/// A compiled host pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum HostPattern {
    /// Exact authority: normalized host, plus `:port` for a non-default port.
    Exact(String),
    /// `*.suffix`: exactly one extra DNS label before `suffix` (which may end
    /// in `:port`).
    Wildcard(String),
}

impl HostPattern {
    /// Canonical spelling (`api.acme.com`, `*.acme.com`, `h.test:8443`).
    pub(crate) fn display(&self) -> String {
        match self {
            HostPattern::Exact(a) => a.clone(),
            HostPattern::Wildcard(s) => format!("*.{s}"),
        }
    }

    /// Does this pattern match a request's normalized host and authority?
    pub(crate) fn matches(&self, host: &str, authority: &str) -> bool {
        match self {
            HostPattern::Exact(a) => a == authority,
            HostPattern::Wildcard(s) => wildcard_key(host, authority).is_some_and(|k| k == *s),
        }
    }
}

/// The key a request host is looked up under among wildcard rules: the host
/// without its first label, plus the authority's `:port` if any. `None` for IP
/// literals and single-label hosts.
pub(crate) fn wildcard_key(host: &str, authority: &str) -> Option<String> {
    if is_ip_literal(host) {
        return None;
    }
    let (_, rest) = host.split_once('.')?;
    let port_part = authority.strip_prefix(host).unwrap_or_default();
    Some(format!("{rest}{port_part}"))
}

/// Host normalized as a rule key: default ports 80 and 443 dropped.
fn rule_authority(input: &str) -> Result<(String, String), String> {
    let (host, port) =
        normalize_host(input).map_err(|m| format!("is not a valid host: {}", m.detail))?;
    let key = match port {
        Some(p) if p != 80 && p != 443 => format!("{host}:{p}"),
        _ => host.clone(),
    };
    Ok((host, key))
}

/// Parse a rule's `host`. The error is the reason text after the value.
pub(crate) fn parse_host(value: &str) -> Result<HostPattern, String> {
    if !value.contains('*') {
        return rule_authority(value).map(|(_, key)| HostPattern::Exact(key));
    }
    let Some(suffix) = value.strip_prefix("*.") else {
        return Err(if value.contains(":*") {
            "has a port wildcard; ports must be written out".to_owned()
        } else {
            "uses `*` outside a leading `*.` label; write `*.suffix` to match exactly one label"
                .to_owned()
        });
    };
    if suffix.contains('*') {
        return Err(if suffix.contains(":*") {
            "has a port wildcard; ports must be written out".to_owned()
        } else {
            "has more than one `*`; write `*.suffix` to match exactly one label".to_owned()
        });
    }
    if suffix.is_empty() || suffix.starts_with(':') {
        return Err("has no suffix after `*.`".to_owned());
    }
    let (host, key) = rule_authority(suffix)?;
    if is_ip_literal(&host) {
        return Err("has a wildcard over an ip address; wildcards need a dns suffix".to_owned());
    }
    if host.split('.').count() < 2 {
        return Err(format!(
            "is too broad: the suffix after `*.` needs at least two labels, got `{}`",
            show(&host)
        ));
    }
    Ok(HostPattern::Wildcard(key))
}

/// One segment of a path pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Segment {
    /// Matches itself exactly (after percent-normalization).
    Literal(String),
    /// `*`: matches exactly one segment.
    Star,
}

/// A compiled path pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PathPattern {
    /// `*` or absent: every path, including `/`.
    Any,
    /// Fixed number of segments (`/` is the empty list).
    Fixed(Vec<Segment>),
    /// These segments, then a trailing `*`: one or more further segments.
    Trailing(Vec<Segment>),
}

impl PathPattern {
    /// Canonical spelling (`*`, `/`, `/v1/*/x`, `/v1/*`).
    pub(crate) fn display(&self) -> String {
        let join = |segs: &[Segment]| {
            segs.iter()
                .map(|s| match s {
                    Segment::Literal(l) => format!("/{l}"),
                    Segment::Star => "/*".to_owned(),
                })
                .collect::<String>()
        };
        match self {
            PathPattern::Any => "*".to_owned(),
            PathPattern::Fixed(s) if s.is_empty() => "/".to_owned(),
            PathPattern::Fixed(s) => join(s),
            PathPattern::Trailing(s) => format!("{}/*", join(s)),
        }
    }

    /// Precedence kinds per position: literal 0, `*` 1, trailing `*` 2,
    /// any-path 3. Lexicographically smaller is more specific.
    pub(crate) fn kinds(&self) -> Vec<u8> {
        let kind = |s: &Segment| match s {
            Segment::Literal(_) => 0,
            Segment::Star => 1,
        };
        match self {
            PathPattern::Any => vec![3],
            PathPattern::Fixed(s) => s.iter().map(kind).collect(),
            PathPattern::Trailing(s) => s.iter().map(kind).chain([2]).collect(),
        }
    }

    /// Does this pattern match the segments of a normalized request path?
    pub(crate) fn matches(&self, request: &[&str]) -> bool {
        let fits = |pattern: &[Segment], segs: &[&str]| {
            pattern.iter().zip(segs).all(|(p, s)| match p {
                Segment::Literal(l) => l == s,
                Segment::Star => true,
            })
        };
        match self {
            PathPattern::Any => true,
            PathPattern::Fixed(p) => p.len() == request.len() && fits(p, request),
            PathPattern::Trailing(p) => request.len() > p.len() && fits(p, request),
        }
    }
}

/// Parse a rule's `path` (absent is [`PathPattern::Any`]). The error is the
/// reason text after the value.
pub(crate) fn parse_path(value: &str) -> Result<PathPattern, String> {
    if value == "*" {
        return Ok(PathPattern::Any);
    }
    if value.contains('?') {
        return Err("contains `?`; query strings are not part of matching".to_owned());
    }
    if value.contains('#') {
        return Err("contains `#`; fragments are never sent".to_owned());
    }
    let Some(body) = value.strip_prefix('/') else {
        return Err("must start with `/` or be `*`".to_owned());
    };
    let body = body.strip_suffix('/').unwrap_or(body);
    if body.is_empty() {
        return Ok(PathPattern::Fixed(Vec::new()));
    }
    let raw: Vec<&str> = body.split('/').collect();
    let mut segments = Vec::with_capacity(raw.len());
    for seg in &raw {
        if seg.is_empty() {
            return Err("has an empty segment (`//`)".to_owned());
        }
        if *seg == "*" {
            segments.push(Segment::Star);
            continue;
        }
        if seg.contains('*') {
            return Err(format!(
                "has a partial-segment wildcard `{}`; use `*` for a whole segment",
                show(seg)
            ));
        }
        let literal =
            normalize_segment(seg, value).map_err(|m| format!("is invalid: {}", m.detail))?;
        if literal == "." || literal == ".." {
            return Err(format!(
                "has a dot segment `{}`; write the resolved path",
                show(seg)
            ));
        }
        segments.push(Segment::Literal(literal));
    }
    if segments.last() == Some(&Segment::Star) {
        segments.pop();
        return Ok(PathPattern::Trailing(segments));
    }
    Ok(PathPattern::Fixed(segments))
}

/// Total precedence order: `Less` means `a` wins over `b` (spec `MAP-10`).
///
/// Exact host beats wildcard; then path kinds compared position by position
/// (literal < `*` < trailing `*` < any-path, a shorter fixed pattern before a
/// longer one); then explicit method beats absent; then canonical text.
pub(crate) fn precedence(
    a: (&Option<&'static str>, &HostPattern, &PathPattern),
    b: (&Option<&'static str>, &HostPattern, &PathPattern),
) -> Ordering {
    let host_kind = |h: &HostPattern| u8::from(matches!(h, HostPattern::Wildcard(_)));
    host_kind(a.1)
        .cmp(&host_kind(b.1))
        .then_with(|| a.2.kinds().cmp(&b.2.kinds()))
        .then_with(|| a.0.is_none().cmp(&b.0.is_none()))
        .then_with(|| a.1.display().cmp(&b.1.display()))
        .then_with(|| a.2.display().cmp(&b.2.display()))
        .then_with(|| a.0.cmp(b.0))
}
