//! `[sidecar.interceptor.https_mitm]`: which CONNECT targets are
//! TLS-terminated.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use toml::Spanned;

use super::error::ConfigError;
use super::fields::{Ctx, flag};
use super::host::HostPattern;
use super::raw::{RawHttpsMitm, StrList, Table, section};

/// HTTPS interception settings. Interception is active only when `enabled`
/// and `intercept_hosts` is non-empty (CFG-31).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MitmConfig {
    /// Master switch (default `false`).
    pub enabled: bool,
    /// Hosts whose tunnels are TLS-terminated and inspected.
    pub intercept_hosts: Vec<HostPattern>,
    /// Hosts that always get a blind tunnel (an exact entry here overrides a
    /// matching wildcard in `intercept_hosts`).
    pub bypass_hosts: Vec<HostPattern>,
    /// Intercepted hosts for which a failed interception denies instead of
    /// falling back to a tunnel.
    pub strict_hosts: Vec<HostPattern>,
    /// Extra PEM CA bundle trusted for upstream TLS (besides the real roots).
    pub extra_upstream_ca_file: Option<PathBuf>,
    /// Minted leaf certificates kept in memory (default 1024).
    pub cert_cache_capacity: NonZeroUsize,
}

impl MitmConfig {
    /// Whether any tunnel can be intercepted.
    pub fn is_active(&self) -> bool {
        self.enabled && !self.intercept_hosts.is_empty()
    }

    /// What happens to a CONNECT to `host` (MITM-1): bypassed and unlisted
    /// hosts get a blind tunnel; intercepted hosts are TLS-terminated.
    /// Exact entries win over wildcards, and at the same specificity
    /// `bypass_hosts` wins over `intercept_hosts`.
    pub fn plan(&self, host: &str) -> TunnelPlan {
        if !self.is_active() {
            return TunnelPlan::Tunnel;
        }
        let exact = |list: &[HostPattern]| {
            list.iter()
                .any(|p| matches!(p, HostPattern::Exact(_)) && p.matches(host))
        };
        let any = |list: &[HostPattern]| list.iter().any(|p| p.matches(host));
        let intercept = if exact(&self.bypass_hosts) {
            false
        } else if exact(&self.intercept_hosts) {
            true
        } else {
            !any(&self.bypass_hosts) && any(&self.intercept_hosts)
        };
        if intercept {
            TunnelPlan::Intercept {
                strict: any(&self.strict_hosts),
            }
        } else {
            TunnelPlan::Tunnel
        }
    }

    /// Defaults: disabled, empty lists.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            intercept_hosts: Vec::new(),
            bypass_hosts: Vec::new(),
            strict_hosts: Vec::new(),
            extra_upstream_ca_file: None,
            cert_cache_capacity: DEFAULT_CERT_CACHE,
        }
    }
}

/// How the Sidecar carries a CONNECT tunnel (MITM-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelPlan {
    /// Relay bytes blindly; the CONNECT itself is classified and enforced.
    Tunnel,
    /// Terminate TLS and enforce every request inside. `strict`: any
    /// interception failure denies instead of falling back to a tunnel.
    Intercept {
        /// The host is in `strict_hosts`.
        strict: bool,
    },
}

const DEFAULT_CERT_CACHE: NonZeroUsize = match NonZeroUsize::new(1024) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};

const K: &str = "sidecar.interceptor.https_mitm";

/// A parsed list keeping each item's span and key for later cross-checks.
struct Listed {
    key: String,
    span: std::ops::Range<usize>,
    pattern: HostPattern,
}

fn host_list(ctx: &Ctx<'_>, name: &str, list: &StrList) -> Result<Vec<Listed>, ConfigError> {
    let Some(items) = list else {
        return Ok(Vec::new());
    };
    let mut out: Vec<Listed> = Vec::new();
    for (i, item) in items.get_ref().iter().enumerate() {
        let key = format!("{K}.{name}[{i}]");
        let pattern = HostPattern::parse(item.get_ref())
            .map_err(|reason| ctx.invalid(&key, &item.span(), item.get_ref(), reason))?;
        if let Some(first) = out.iter().find(|l| l.pattern == pattern) {
            return Err(ctx.conflict(
                &key,
                &item.span(),
                &first.key,
                format!("repeats `{pattern}` (already listed as `{}`)", first.key),
            ));
        }
        out.push(Listed {
            key,
            span: item.span(),
            pattern,
        });
    }
    Ok(out)
}

impl MitmConfig {
    pub(crate) fn from_raw(
        ctx: &Ctx<'_>,
        raw: Option<&Spanned<Table<RawHttpsMitm>>>,
    ) -> Result<Self, ConfigError> {
        let default = RawHttpsMitm::default();
        let r = section(raw, &default);
        let intercept = host_list(ctx, "intercept_hosts", &r.intercept_hosts)?;
        let bypass = host_list(ctx, "bypass_hosts", &r.bypass_hosts)?;
        let strict = host_list(ctx, "strict_hosts", &r.strict_hosts)?;
        // CFG-32: one pattern cannot be both intercepted and bypassed.
        for b in &bypass {
            if let Some(i) = intercept.iter().find(|i| i.pattern == b.pattern) {
                return Err(ctx.conflict(
                    &b.key,
                    &b.span,
                    &i.key,
                    format!(
                        "lists `{}`, which is also in `{}` (a host is either intercepted or bypassed)",
                        b.pattern, i.key
                    ),
                ));
            }
        }
        // CFG-33: strict hosts must be intercepted and not bypassed.
        for s in &strict {
            if let Some(b) = bypass.iter().find(|b| b.pattern == s.pattern) {
                return Err(ctx.conflict(
                    &s.key,
                    &s.span,
                    &b.key,
                    format!(
                        "lists `{}`, which is also in `{}` (a strict host must be intercepted)",
                        s.pattern, b.key
                    ),
                ));
            }
            if !intercept.iter().any(|i| covers(&i.pattern, &s.pattern)) {
                return Err(ctx.conflict(
                    &s.key,
                    &s.span,
                    &format!("{K}.intercept_hosts"),
                    format!(
                        "lists `{}`, which is not in `{K}.intercept_hosts` (a strict host must be intercepted)",
                        s.pattern
                    ),
                ));
            }
        }
        let capacity = ctx.positive(
            &format!("{K}.cert_cache_capacity"),
            &r.cert_cache_capacity,
            DEFAULT_CERT_CACHE.get() as u64,
            usize::MAX as u64,
        )?;
        Ok(Self {
            enabled: flag(&r.enabled, false),
            intercept_hosts: intercept.into_iter().map(|l| l.pattern).collect(),
            bypass_hosts: bypass.into_iter().map(|l| l.pattern).collect(),
            strict_hosts: strict.into_iter().map(|l| l.pattern).collect(),
            extra_upstream_ca_file: ctx.opt_path(
                &format!("{K}.extra_upstream_ca_file"),
                &r.extra_upstream_ca_file,
            )?,
            cert_cache_capacity: usize::try_from(capacity)
                .ok()
                .and_then(NonZeroUsize::new)
                .unwrap_or(DEFAULT_CERT_CACHE),
        })
    }
}

/// Whether every host `inner` matches is also matched by `outer`.
fn covers(outer: &HostPattern, inner: &HostPattern) -> bool {
    match (outer, inner) {
        (a, b) if a == b => true,
        (HostPattern::Wildcard(_), HostPattern::Exact(name)) => outer.matches(name),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        HostPattern::parse(s).unwrap()
    }

    #[test]
    fn cfg33_coverage() {
        assert!(covers(&p("*.stripe.com"), &p("api.stripe.com")));
        assert!(covers(&p("*.stripe.com"), &p("*.stripe.com")));
        assert!(!covers(&p("api.stripe.com"), &p("*.stripe.com")));
        assert!(!covers(&p("*.stripe.com"), &p("a.b.stripe.com")));
    }

    fn mitm(intercept: &[&str], bypass: &[&str], strict: &[&str]) -> MitmConfig {
        MitmConfig {
            enabled: true,
            intercept_hosts: intercept.iter().map(|h| p(h)).collect(),
            bypass_hosts: bypass.iter().map(|h| p(h)).collect(),
            strict_hosts: strict.iter().map(|h| p(h)).collect(),
            ..MitmConfig::disabled()
        }
    }

    #[test]
    fn mitm1_plan() {
        let m = mitm(
            &["*.anthropic.com", "api.openai.com", "api.stripe.com"],
            &["downloads.anthropic.com"],
            &["api.stripe.com"],
        );
        let strict = TunnelPlan::Intercept { strict: true };
        let lax = TunnelPlan::Intercept { strict: false };
        assert_eq!(m.plan("api.anthropic.com"), lax);
        assert_eq!(m.plan("API.Anthropic.com."), lax);
        assert_eq!(m.plan("api.dev.anthropic.com"), TunnelPlan::Tunnel);
        assert_eq!(m.plan("downloads.anthropic.com"), TunnelPlan::Tunnel);
        assert_eq!(m.plan("api.openai.com"), lax);
        assert_eq!(m.plan("api.stripe.com"), strict);
        assert_eq!(m.plan("example.com"), TunnelPlan::Tunnel);
        // an exact intercept entry beats a bypass wildcard
        let m = mitm(&["api.example.com"], &["*.example.com"], &[]);
        assert_eq!(m.plan("api.example.com"), lax);
        assert_eq!(m.plan("www.example.com"), TunnelPlan::Tunnel);
        // inactive: everything is a tunnel
        let mut off = mitm(&["api.openai.com"], &[], &[]);
        off.enabled = false;
        assert_eq!(off.plan("api.openai.com"), TunnelPlan::Tunnel);
    }

    #[test]
    fn cfg31_active_only_when_enabled_with_hosts() {
        let mut m = MitmConfig::disabled();
        assert!(!m.is_active());
        m.enabled = true;
        assert!(!m.is_active());
        m.intercept_hosts.push(p("api.openai.com"));
        assert!(m.is_active());
    }
}
