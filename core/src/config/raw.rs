//! The serde image of `firma.toml`: every table denies unknown keys, every
//! leaf keeps its span so validation can point at it. Integers are read as
//! `i64` (TOML's integer type) and range-checked during validation.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// An optional spanned value.
pub(crate) type Opt<T> = Option<Spanned<T>>;
/// An optional spanned array of spanned strings.
pub(crate) type StrList = Opt<Vec<Spanned<String>>>;
/// An optional spanned sub-table.
pub(crate) type Section<T> = Option<Spanned<Table<T>>>;

/// A TOML table deserialized into `T`. Unlike a bare derived struct, it
/// accepts only a table: serde's derive would otherwise also fill a struct
/// positionally from an array (`interceptor = ["http_proxy"]`).
#[derive(Debug, Default)]
pub(crate) struct Table<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Table<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TableVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for TableVisitor<T> {
            type Value = Table<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Table)
            }
        }
        d.deserialize_map(TableVisitor(PhantomData))
    }
}

impl<T> std::ops::Deref for Table<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The value inside an optional section, or `default` when it is absent.
pub(crate) fn section<'a, T>(s: Option<&'a Spanned<Table<T>>>, default: &'a T) -> &'a T {
    s.map_or(default, |t| &t.get_ref().0)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub project: Section<RawProject>,
    pub authority: Section<RawAuthority>,
    pub sidecar: Section<RawSidecar>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProject {
    pub name: Opt<String>,
    pub agent: Opt<String>,
    pub provider: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuthority {
    pub listen_addr: Opt<String>,
    pub policy_dir: Opt<String>,
    pub issuance_policy_dir: Opt<String>,
    pub schema_path: Opt<String>,
    pub revocation_file: Opt<String>,
    pub key_file: Opt<String>,
    pub max_ttl_seconds: Opt<i64>,
    pub bundle_ttl_seconds: Opt<i64>,
    pub tls_cert_path: Opt<String>,
    pub tls_key_path: Opt<String>,
    pub mtls_client_ca_cert_path: Opt<String>,
    pub mtls_client_ca_key_path: Opt<String>,
    pub authorized_clients_path: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSidecar {
    pub mode: Opt<String>,
    pub interceptor: Section<RawInterceptor>,
    pub mapping: Section<RawMapping>,
    pub policy: Section<RawPolicy>,
    pub authority: Section<RawSidecarAuthority>,
    pub constraint_enforcement: Section<RawConstraintEnforcement>,
    pub capability_seed: Section<RawCapabilitySeed>,
    pub audit: Section<RawAudit>,
    pub log: Section<RawLog>,
    pub ca: Section<RawCa>,
    pub upstream: Section<RawUpstream>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInterceptor {
    pub mode: Opt<String>,
    pub listen_addr: Opt<String>,
    pub drain_timeout_secs: Opt<i64>,
    pub max_request_body_bytes: Opt<i64>,
    pub upstream_connect_timeout_ms: Opt<i64>,
    pub upstream_read_timeout_ms: Opt<i64>,
    pub https_mitm: Section<RawHttpsMitm>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttpsMitm {
    pub enabled: Opt<bool>,
    pub intercept_hosts: StrList,
    pub bypass_hosts: StrList,
    pub strict_hosts: StrList,
    pub extra_upstream_ca_file: Opt<String>,
    pub cert_cache_capacity: Opt<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMapping {
    pub rules_path: Opt<String>,
    pub rules_paths: StrList,
    pub default_protected: Opt<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub dir: Opt<String>,
    pub authority_url: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSidecarAuthority {
    pub url: Opt<String>,
    pub allow_insecure_remote_authority: Opt<bool>,
    pub ca_cert_path: Opt<String>,
    pub public_key_path: Opt<String>,
    pub tls_client_cert_path: Opt<String>,
    pub tls_client_key_path: Opt<String>,
    pub connect_timeout_ms: Opt<i64>,
    pub agent_id: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConstraintEnforcement {
    pub bundle_ttl_seconds: Opt<i64>,
    pub enforcement_timeout_ms: Opt<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCapabilitySeed {
    pub paths: StrList,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAudit {
    pub sink: Opt<String>,
    pub file_path: Opt<String>,
    pub signing_key_path: Opt<String>,
    pub redact_query_params: StrList,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    pub level: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCa {
    pub dir: Opt<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstream {
    pub resolve: Opt<BTreeMap<Spanned<String>, Spanned<String>>>,
}
