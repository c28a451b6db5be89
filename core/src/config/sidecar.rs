//! `[sidecar]` and its sub-tables.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::audit::AuditConfig;
use super::error::ConfigError;
use super::fields::{Ctx, flag, parse_socket_addr};
use super::host::HostPort;
use super::link::SidecarAuthorityConfig;
use super::location::push_segment;
use super::mitm::MitmConfig;
use super::raw::{RawInterceptor, RawSidecar, RawUpstream, Table, section};

/// Everything the enforcement sidecar reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SidecarConfig {
    /// `mode`: only `enforce` is supported.
    pub mode: SidecarMode,
    /// `[sidecar.interceptor]` (+ `https_mitm`).
    pub interceptor: InterceptorConfig,
    /// `[sidecar.mapping]`.
    pub mapping: MappingConfig,
    /// `[sidecar.policy]`.
    pub policy: PolicyConfig,
    /// `[sidecar.authority]`.
    pub authority: SidecarAuthorityConfig,
    /// `[sidecar.constraint_enforcement]`.
    pub constraint_enforcement: ConstraintEnforcementConfig,
    /// `[sidecar.capability_seed].paths`: capability token files loaded at
    /// startup.
    pub capability_seed_paths: Vec<PathBuf>,
    /// `[sidecar.audit]`.
    pub audit: AuditConfig,
    /// `[sidecar.log].level`.
    pub log_level: LogLevel,
    /// `[sidecar.ca].dir`: the MITM CA directory (`firma-ca.crt`,
    /// `firma-ca.key`).
    pub ca_dir: PathBuf,
    /// `[sidecar.upstream].resolve`: fixed upstream addresses, like
    /// `curl --resolve`.
    pub upstream_resolve: BTreeMap<HostPort, SocketAddr>,
}

/// `[sidecar].mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SidecarMode {
    /// Decisions are enforced (the only mode).
    Enforce,
}

/// `[sidecar.interceptor].mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterceptorMode {
    /// HTTP forward proxy (plain requests and CONNECT).
    HttpProxy,
}

/// `[sidecar.interceptor]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterceptorConfig {
    /// How agents reach the sidecar.
    pub mode: InterceptorMode,
    /// Proxy listen address (default `127.0.0.1:8080`).
    pub listen_addr: SocketAddr,
    /// Grace period for in-flight requests on shutdown (`drain_timeout_secs`,
    /// default 30).
    pub drain_timeout: Duration,
    /// Largest request body buffered for inspection (default 4 MiB).
    pub max_request_body_bytes: NonZeroU64,
    /// Upstream TCP/TLS connect timeout (`upstream_connect_timeout_ms`,
    /// default 10 000).
    pub upstream_connect_timeout: Duration,
    /// Upstream response read timeout (`upstream_read_timeout_ms`, default
    /// 30 000).
    pub upstream_read_timeout: Duration,
    /// `[sidecar.interceptor.https_mitm]`.
    pub https_mitm: MitmConfig,
}

/// Where mapping rules come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RulesSource {
    /// The packs built into the binary (embedded default only).
    Embedded,
    /// These files, merged in order: `rules_path` first, then `rules_paths`.
    Files(Vec<PathBuf>),
}

/// `[sidecar.mapping]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingConfig {
    /// Rule files.
    pub rules: RulesSource,
    /// Deny unmapped requests (`true`, default) or let them pass through.
    pub default_protected: bool,
}

/// Where Cedar policies come from in policy-only mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySource {
    /// The posture built into the binary (embedded default only).
    Embedded,
    /// `*.cedar` files (and an optional `*.cedarschema`) in this directory.
    Dir(PathBuf),
}

/// `[sidecar.policy]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Policy bundle source.
    pub source: PolicySource,
}

/// `[sidecar.constraint_enforcement]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConstraintEnforcementConfig {
    /// Lifetime of a bundle loaded from `[sidecar.policy].dir`
    /// (`bundle_ttl_seconds`, default 3600).
    pub bundle_ttl: Duration,
    /// Budget for one enforcement decision (`enforcement_timeout_ms`, default
    /// 50).
    pub enforcement_timeout: Duration,
}

impl Default for ConstraintEnforcementConfig {
    fn default() -> Self {
        Self {
            bundle_ttl: Duration::from_secs(3600),
            enforcement_timeout: Duration::from_millis(50),
        }
    }
}

/// `[sidecar.log].level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Default.
    Info,
    /// Verbose.
    Debug,
    /// Very verbose.
    Trace,
}

impl LogLevel {
    /// The config spelling (`info`, …), also a `tracing` filter directive.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// Default proxy listen address.
pub const DEFAULT_SIDECAR_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

const MIB: u64 = 1024 * 1024;

impl InterceptorConfig {
    /// All defaults.
    pub(crate) fn defaults() -> Self {
        Self {
            mode: InterceptorMode::HttpProxy,
            listen_addr: DEFAULT_SIDECAR_LISTEN,
            drain_timeout: Duration::from_secs(30),
            max_request_body_bytes: NonZeroU64::MIN.saturating_add(4 * MIB - 1),
            upstream_connect_timeout: Duration::from_millis(10_000),
            upstream_read_timeout: Duration::from_millis(30_000),
            https_mitm: MitmConfig::disabled(),
        }
    }

    fn from_raw(
        ctx: &Ctx<'_>,
        raw: Option<&Spanned<Table<RawInterceptor>>>,
    ) -> Result<Self, ConfigError> {
        const K: &str = "sidecar.interceptor";
        let default = RawInterceptor::default();
        let r = section(raw, &default);
        let key = |k: &str| format!("{K}.{k}");
        let d = Self::defaults();
        let u32_max = u64::from(u32::MAX);
        let body = ctx.positive(
            &key("max_request_body_bytes"),
            &r.max_request_body_bytes,
            d.max_request_body_bytes.get(),
            u64::MAX,
        )?;
        Ok(Self {
            mode: ctx.choice(
                &key("mode"),
                &r.mode,
                &[("http_proxy", InterceptorMode::HttpProxy)],
                d.mode,
            )?,
            listen_addr: ctx.socket_addr_or(&key("listen_addr"), &r.listen_addr, d.listen_addr)?,
            drain_timeout: Duration::from_secs(ctx.positive(
                &key("drain_timeout_secs"),
                &r.drain_timeout_secs,
                30,
                u32_max,
            )?),
            max_request_body_bytes: NonZeroU64::new(body).unwrap_or(d.max_request_body_bytes),
            upstream_connect_timeout: Duration::from_millis(ctx.positive(
                &key("upstream_connect_timeout_ms"),
                &r.upstream_connect_timeout_ms,
                10_000,
                u32_max,
            )?),
            upstream_read_timeout: Duration::from_millis(ctx.positive(
                &key("upstream_read_timeout_ms"),
                &r.upstream_read_timeout_ms,
                30_000,
                u32_max,
            )?),
            https_mitm: MitmConfig::from_raw(ctx, r.https_mitm.as_ref())?,
        })
    }
}

fn upstream_resolve(
    ctx: &Ctx<'_>,
    raw: Option<&Spanned<Table<RawUpstream>>>,
) -> Result<BTreeMap<HostPort, SocketAddr>, ConfigError> {
    let mut out = BTreeMap::new();
    let Some(map) = raw.and_then(|r| r.get_ref().resolve.as_ref()) else {
        return Ok(out);
    };
    // Report in file order, not in the map's sorted order.
    let mut entries: Vec<_> = map.get_ref().iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    let mut seen: BTreeMap<HostPort, String> = BTreeMap::new();
    for (k, v) in entries {
        let mut key = String::from("sidecar.upstream.resolve");
        push_segment(&mut key, k.get_ref());
        let target = HostPort::parse(k.get_ref())
            .map_err(|reason| ctx.invalid(&key, &k.span(), k.get_ref(), reason))?;
        if let Some(first) = seen.get(&target) {
            return Err(ctx.conflict(
                &key,
                &k.span(),
                first,
                format!("names the same target as `{first}` (host names are case-insensitive)"),
            ));
        }
        let addr = parse_socket_addr(v.get_ref())
            .map_err(|reason| ctx.invalid(&key, &v.span(), v.get_ref(), reason))?;
        seen.insert(target.clone(), key);
        out.insert(target, addr);
    }
    Ok(out)
}

impl SidecarConfig {
    pub(crate) fn from_raw(
        ctx: &Ctx<'_>,
        raw: Option<&Spanned<Table<RawSidecar>>>,
    ) -> Result<Self, ConfigError> {
        let default = RawSidecar::default();
        let r = section(raw, &default);
        let mode = ctx.choice(
            "sidecar.mode",
            &r.mode,
            &[("enforce", SidecarMode::Enforce)],
            SidecarMode::Enforce,
        )?;
        let interceptor = InterceptorConfig::from_raw(ctx, r.interceptor.as_ref())?;

        let mapping = r.mapping.as_ref().map(|m| m.get_ref());
        let mut files = vec![ctx.path_or(
            "sidecar.mapping.rules_path",
            &mapping.and_then(|m| m.rules_path.clone()),
            "mapping-rules.toml",
        )?];
        if let Some(m) = mapping {
            files.extend(ctx.path_list("sidecar.mapping.rules_paths", &m.rules_paths)?);
        }
        let mapping = MappingConfig {
            rules: RulesSource::Files(files),
            default_protected: mapping.is_none_or(|m| flag(&m.default_protected, true)),
        };

        let policy_dir = r.policy.as_ref().and_then(|p| p.get_ref().dir.clone());
        let policy = PolicyConfig {
            source: PolicySource::Dir(ctx.path_or(
                "sidecar.policy.dir",
                &policy_dir,
                "policies",
            )?),
        };

        let seed = r
            .capability_seed
            .as_ref()
            .and_then(|s| s.get_ref().paths.clone());
        let authority =
            SidecarAuthorityConfig::from_raw(ctx, r.authority.as_ref(), r.policy.as_ref(), &seed)?;
        let capability_seed_paths = ctx.path_list("sidecar.capability_seed.paths", &seed)?;

        let ce = r.constraint_enforcement.as_ref().map(|c| c.get_ref());
        let u32_max = u64::from(u32::MAX);
        let constraint_enforcement = ConstraintEnforcementConfig {
            bundle_ttl: Duration::from_secs(ctx.positive(
                "sidecar.constraint_enforcement.bundle_ttl_seconds",
                &ce.and_then(|c| c.bundle_ttl_seconds.clone()),
                3600,
                u32_max,
            )?),
            enforcement_timeout: Duration::from_millis(ctx.positive(
                "sidecar.constraint_enforcement.enforcement_timeout_ms",
                &ce.and_then(|c| c.enforcement_timeout_ms.clone()),
                50,
                u32_max,
            )?),
        };

        let level = r.log.as_ref().and_then(|l| l.get_ref().level.clone());
        let log_level = ctx.choice(
            "sidecar.log.level",
            &level,
            &[
                ("error", LogLevel::Error),
                ("warn", LogLevel::Warn),
                ("info", LogLevel::Info),
                ("debug", LogLevel::Debug),
                ("trace", LogLevel::Trace),
            ],
            LogLevel::Info,
        )?;
        let ca_dir = ctx.path_or(
            "sidecar.ca.dir",
            &r.ca.as_ref().and_then(|c| c.get_ref().dir.clone()),
            "firma-ca",
        )?;
        let upstream_resolve = upstream_resolve(ctx, r.upstream.as_ref())?;
        // Last: a missing signing key is reported only once every value given
        // is known to be valid.
        let audit = AuditConfig::from_raw(ctx, r.audit.as_ref(), raw.map(|s| s.span()))?;
        Ok(Self {
            mode,
            interceptor,
            mapping,
            policy,
            authority,
            constraint_enforcement,
            capability_seed_paths,
            audit,
            log_level,
            ca_dir,
            upstream_resolve,
        })
    }
}
