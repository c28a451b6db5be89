//! `[sidecar.authority]` (and the legacy `[sidecar.policy].authority_url`):
//! how the sidecar reaches an Authority.

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::TlsFiles;
use super::error::ConfigError;
use super::fields::{Ctx, flag};
use super::raw::{Opt, RawPolicy, RawSidecarAuthority, Table, section};
use super::url::{AuthorityUrl, UrlScheme};

/// Connection to an Authority. Without a URL the sidecar runs in policy-only
/// mode (bundle from `[sidecar.policy].dir`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SidecarAuthorityConfig {
    /// The Authority endpoint, from `[sidecar.authority].url` or
    /// `[sidecar.policy].authority_url` (CFG-20).
    pub url: Option<AuthorityUrl>,
    /// Permit plain `http://` to a non-loopback host (default `false`).
    pub allow_insecure_remote_authority: bool,
    /// CA that signs the Authority's certificate (required for `https://`).
    pub ca_cert_path: Option<PathBuf>,
    /// Authority public key verifying capability tokens.
    pub public_key_path: Option<PathBuf>,
    /// Client certificate and key for mTLS.
    pub client_tls: Option<TlsFiles>,
    /// Connect timeout (`connect_timeout_ms`, default 10 000).
    pub connect_timeout: Duration,
    /// The agent this sidecar acts for (`agent_id`, `agt_…`): whose
    /// capability tokens `firma sidecar start` requests (CFG-43).
    pub agent_id: Option<String>,
}

const K: &str = "sidecar.authority";
const POLICY_URL: &str = "sidecar.policy.authority_url";
const URL: &str = "sidecar.authority.url";

fn parse_url(ctx: &Ctx<'_>, key: &str, v: &Spanned<String>) -> Result<AuthorityUrl, ConfigError> {
    AuthorityUrl::parse(v.get_ref())
        .map_err(|reason| ctx.invalid(key, &v.span(), v.get_ref(), reason))
}

impl SidecarAuthorityConfig {
    /// Validate the section. `seed_paths` is `[sidecar.capability_seed].paths`
    /// (non-empty seeds need `public_key_path`, CFG-24).
    pub(crate) fn from_raw(
        ctx: &Ctx<'_>,
        raw: Option<&Spanned<Table<RawSidecarAuthority>>>,
        policy: Option<&Spanned<Table<RawPolicy>>>,
        seed_paths: &Opt<Vec<Spanned<String>>>,
    ) -> Result<Self, ConfigError> {
        let default = RawSidecarAuthority::default();
        let r = section(raw, &default);
        let legacy = policy.and_then(|p| p.get_ref().authority_url.as_ref());
        let url = match (&r.url, legacy) {
            (None, None) => None,
            (Some(u), None) => Some((URL, u, parse_url(ctx, URL, u)?)),
            (None, Some(u)) => Some((POLICY_URL, u, parse_url(ctx, POLICY_URL, u)?)),
            (Some(a), Some(b)) => {
                let pa = parse_url(ctx, URL, a)?;
                let pb = parse_url(ctx, POLICY_URL, b)?;
                if !pa.same_endpoint(&pb) {
                    return Err(ctx.conflict(
                        URL,
                        &a.span(),
                        POLICY_URL,
                        format!(
                            "is `{}` but `{POLICY_URL}` is `{}` (set only one of them)",
                            pa, pb
                        ),
                    ));
                }
                Some((URL, a, pa))
            }
        };
        let allow_insecure = flag(&r.allow_insecure_remote_authority, false);
        let ca_cert_path = ctx.opt_path(&format!("{K}.ca_cert_path"), &r.ca_cert_path)?;
        if let Some((key, spanned, url)) = &url {
            match url.scheme() {
                UrlScheme::Http if !url.is_loopback() && !allow_insecure => {
                    return Err(ctx.invalid(
                        key,
                        &spanned.span(),
                        spanned.get_ref(),
                        format!(
                            "uses plain http:// for a non-loopback host (switch to https:// or set `{K}.allow_insecure_remote_authority = true`)"
                        ),
                    ));
                }
                UrlScheme::Https if ca_cert_path.is_none() => {
                    return Err(ctx.missing(
                        &format!("{K}.ca_cert_path"),
                        Some(spanned.span()),
                        format!(
                            "required because `{key}` = `{}` uses https://",
                            spanned.get_ref()
                        ),
                    ));
                }
                _ => {}
            }
        }
        let public_key_path = ctx.opt_path(&format!("{K}.public_key_path"), &r.public_key_path)?;
        if let Some(seeds) = seed_paths
            && !seeds.get_ref().is_empty()
            && public_key_path.is_none()
        {
            return Err(ctx.missing(
                &format!("{K}.public_key_path"),
                Some(seeds.span()),
                "required because `sidecar.capability_seed.paths` is not empty (seed tokens are verified with it)",
            ));
        }
        let agent_id = match &r.agent_id {
            None => None,
            Some(v) => {
                if let Some(why) = crate::token::agent_id_problem(v.get_ref()) {
                    return Err(ctx.invalid(&format!("{K}.agent_id"), &v.span(), v.get_ref(), why));
                }
                Some(v.get_ref().clone())
            }
        };
        Ok(Self {
            url: url.map(|(_, _, u)| u),
            allow_insecure_remote_authority: allow_insecure,
            ca_cert_path,
            public_key_path,
            client_tls: ctx.path_pair(
                (
                    &format!("{K}.tls_client_cert_path"),
                    &r.tls_client_cert_path,
                ),
                (&format!("{K}.tls_client_key_path"), &r.tls_client_key_path),
            )?,
            connect_timeout: Duration::from_millis(ctx.positive(
                &format!("{K}.connect_timeout_ms"),
                &r.connect_timeout_ms,
                10_000,
                u32::MAX.into(),
            )?),
            agent_id,
        })
    }

    /// No Authority: policy-only mode.
    pub(crate) fn none() -> Self {
        Self {
            url: None,
            allow_insecure_remote_authority: false,
            ca_cert_path: None,
            public_key_path: None,
            client_tls: None,
            connect_timeout: Duration::from_millis(10_000),
            agent_id: None,
        }
    }
}
