//! `[authority]`: the local Mini Authority (used by `firma authority`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::TlsFiles;
use super::error::ConfigError;
use super::fields::Ctx;
use super::raw::{RawAuthority, Table, section};

/// Settings of the local Mini Authority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorityConfig {
    /// gRPC listen address (default `127.0.0.1:50051`; port 0 = ephemeral).
    pub listen_addr: SocketAddr,
    /// Enforcement policies streamed to sidecars (default `policies`).
    pub policy_dir: PathBuf,
    /// Policies gating token issuance (default `issuance-policies`).
    pub issuance_policy_dir: PathBuf,
    /// Cedar schema override.
    pub schema_path: Option<PathBuf>,
    /// Revoked token ids, one per line (default `revocations.txt`).
    pub revocation_file: PathBuf,
    /// Token signing key (default `authority.key`).
    pub key_file: PathBuf,
    /// Longest lifetime of an issued token (`max_ttl_seconds`, default 3600).
    pub max_ttl: Duration,
    /// Lifetime advertised in each streamed bundle (`bundle_ttl_seconds`,
    /// default 30).
    pub bundle_ttl: Duration,
    /// Server certificate and key (`tls_cert_path` + `tls_key_path`).
    pub tls: Option<TlsFiles>,
    /// CA that signs sidecar client certificates (mTLS).
    pub mtls_client_ca_cert_path: Option<PathBuf>,
    /// Key of that CA (read only when issuing client certificates).
    pub mtls_client_ca_key_path: Option<PathBuf>,
    /// Allow-list of client certificate names.
    pub authorized_clients_path: Option<PathBuf>,
}

/// Default `[authority].listen_addr`.
pub const DEFAULT_AUTHORITY_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 50051);

const K: &str = "authority";

impl AuthorityConfig {
    /// All defaults, relative paths joined onto `dir` (the config directory,
    /// or the state directory for the embedded default).
    pub fn defaults_in(dir: &std::path::Path) -> Self {
        Self {
            listen_addr: DEFAULT_AUTHORITY_LISTEN,
            policy_dir: dir.join("policies"),
            issuance_policy_dir: dir.join("issuance-policies"),
            schema_path: None,
            revocation_file: dir.join("revocations.txt"),
            key_file: dir.join("authority.key"),
            max_ttl: Duration::from_secs(3600),
            bundle_ttl: Duration::from_secs(30),
            tls: None,
            mtls_client_ca_cert_path: None,
            mtls_client_ca_key_path: None,
            authorized_clients_path: None,
        }
    }

    /// Validate `[authority]` (absent = all defaults). Relative paths are
    /// joined onto `ctx.base`.
    pub(crate) fn from_raw(
        ctx: &Ctx<'_>,
        raw: Option<&Spanned<Table<RawAuthority>>>,
    ) -> Result<Self, ConfigError> {
        let default = RawAuthority::default();
        let r = section(raw, &default);
        let key = |k: &str| format!("{K}.{k}");
        let tls = ctx.path_pair(
            (&key("tls_cert_path"), &r.tls_cert_path),
            (&key("tls_key_path"), &r.tls_key_path),
        )?;
        if let Some(mtls) = &r.mtls_client_ca_cert_path {
            if tls.is_none() {
                return Err(ctx.conflict(
                    &key("mtls_client_ca_cert_path"),
                    &mtls.span(),
                    &key("tls_cert_path"),
                    format!(
                        "is set but `{}` and `{}` are not (mtls needs tls)",
                        key("tls_cert_path"),
                        key("tls_key_path")
                    ),
                ));
            }
            if r.authorized_clients_path.is_none() {
                return Err(ctx.conflict(
                    &key("mtls_client_ca_cert_path"),
                    &mtls.span(),
                    &key("authorized_clients_path"),
                    format!(
                        "is set but `{}` is not (mtls needs the allow-list of client certificates)",
                        key("authorized_clients_path")
                    ),
                ));
            }
        }
        Ok(Self {
            listen_addr: ctx.socket_addr_or(
                &key("listen_addr"),
                &r.listen_addr,
                DEFAULT_AUTHORITY_LISTEN,
            )?,
            policy_dir: ctx.path_or(&key("policy_dir"), &r.policy_dir, "policies")?,
            issuance_policy_dir: ctx.path_or(
                &key("issuance_policy_dir"),
                &r.issuance_policy_dir,
                "issuance-policies",
            )?,
            schema_path: ctx.opt_path(&key("schema_path"), &r.schema_path)?,
            revocation_file: ctx.path_or(
                &key("revocation_file"),
                &r.revocation_file,
                "revocations.txt",
            )?,
            key_file: ctx.path_or(&key("key_file"), &r.key_file, "authority.key")?,
            max_ttl: Duration::from_secs(ctx.positive(
                &key("max_ttl_seconds"),
                &r.max_ttl_seconds,
                3600,
                u32::MAX.into(),
            )?),
            bundle_ttl: Duration::from_secs(ctx.positive(
                &key("bundle_ttl_seconds"),
                &r.bundle_ttl_seconds,
                30,
                u32::MAX.into(),
            )?),
            tls,
            mtls_client_ca_cert_path: ctx.opt_path(
                &key("mtls_client_ca_cert_path"),
                &r.mtls_client_ca_cert_path,
            )?,
            mtls_client_ca_key_path: ctx
                .opt_path(&key("mtls_client_ca_key_path"), &r.mtls_client_ca_key_path)?,
            authorized_clients_path: ctx
                .opt_path(&key("authorized_clients_path"), &r.authorized_clients_path)?,
        })
    }
}
