//! Snapshots of every config startup error message (one test per fixture in
//! `fixtures/configs/bad/`) and the typed values of every sample config in
//! `fixtures/configs/`. Ids refer to `spec/config.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use firma_core::config::{
    AuditSink, Config, HostPattern, LogLevel, PolicySource, RulesSource, SigningKey,
};

/// Parse a bad fixture as `firma.toml`, check the error's accessors, and
/// return its message.
fn reject(text: &str, key: Option<&str>) -> String {
    let err = match Config::parse(Path::new("firma.toml"), text) {
        Ok(c) => panic!("fixture parsed: {c:?}"),
        Err(e) => e,
    };
    assert_eq!(err.file(), Path::new("firma.toml"));
    assert_eq!(err.key(), key, "{err}");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    match (err.line(), err.column()) {
        (Some(line), Some(col)) => {
            assert!(
                msg.starts_with(&format!("firma.toml:{line}:{col}: ")),
                "{msg}"
            )
        }
        _ => assert!(msg.starts_with("firma.toml: "), "{msg}"),
    }
    if let Some(key) = key {
        assert!(
            msg.contains(&format!("`{key}`")),
            "message must name the key: {msg}"
        );
    }
    msg
}

/// One snapshot test per bad fixture: `name => expected key, "proved ids";`.
macro_rules! bad {
    ($($name:ident => $key:expr, $ids:literal;)*) => {
        $(
            #[test]
            #[doc = concat!("Proves ", $ids, ".")]
            fn $name() {
                let text = include_str!(concat!(
                    "../../fixtures/configs/bad/",
                    stringify!($name),
                    ".toml"
                ));
                insta::assert_snapshot!(reject(text, $key));
            }
        )*

        /// The fixtures covered above.
        const BAD_FIXTURES: &[&str] = &[$(stringify!($name)),*];
    };
}

bad! {
    syntax => None, "CFG-2";
    duplicate_key => None, "CFG-2";
    unknown_key => Some("sidecar.mapping.rule_path"), "CFG-3";
    unknown_section => Some("run"), "CFG-1, CFG-3";
    removed_key => Some("sidecar.interceptor.drain_timeout"), "CFG-3, CFG-9";
    wrong_type => Some("sidecar.mapping.default_protected"), "CFG-4";
    duration_string => Some("sidecar.constraint_enforcement.bundle_ttl_seconds"), "CFG-4, CFG-9";
    table_as_array => Some("sidecar.interceptor"), "CFG-4";
    array_item_type => Some("sidecar.mapping.rules_paths[1]"), "CFG-4";
    empty_path => Some("sidecar.mapping.rules_paths[1]"), "CFG-7";
    listen_addr => Some("sidecar.interceptor.listen_addr"), "CFG-8";
    listen_addr_hostname => Some("authority.listen_addr"), "CFG-8";
    zero_duration => Some("sidecar.interceptor.drain_timeout_secs"), "CFG-9";
    negative_integer => Some("sidecar.constraint_enforcement.enforcement_timeout_ms"), "CFG-9";
    integer_too_large => Some("authority.max_ttl_seconds"), "CFG-9";
    mitm_cert_cache_zero => Some("sidecar.interceptor.https_mitm.cert_cache_capacity"), "CFG-9";
    sidecar_mode => Some("sidecar.mode"), "CFG-10";
    interceptor_mode => Some("sidecar.interceptor.mode"), "CFG-10";
    log_level => Some("sidecar.log.level"), "CFG-10";
    audit_sink => Some("sidecar.audit.sink"), "CFG-10";
    tls_half_pair => Some("sidecar.authority.tls_client_cert_path"), "CFG-11";
    authority_tls_half_pair => Some("authority.tls_key_path"), "CFG-11";
    authority_mtls_without_tls => Some("authority.mtls_client_ca_cert_path"), "CFG-12";
    authority_mtls_without_allow_list => Some("authority.mtls_client_ca_cert_path"), "CFG-12";
    authority_url_conflict => Some("sidecar.authority.url"), "CFG-20";
    authority_url_scheme => Some("sidecar.authority.url"), "CFG-21";
    authority_url_path => Some("sidecar.policy.authority_url"), "CFG-21";
    authority_url_insecure => Some("sidecar.policy.authority_url"), "CFG-22";
    authority_url_https_without_ca => Some("sidecar.authority.ca_cert_path"), "CFG-23";
    capability_seed_without_public_key => Some("sidecar.authority.public_key_path"), "CFG-24";
    audit_missing_signing_key => Some("sidecar.audit.signing_key_path"), "CFG-26";
    audit_file_sink_without_path => Some("sidecar.audit.file_path"), "CFG-27";
    audit_file_path_with_stdout => Some("sidecar.audit.file_path"), "CFG-27";
    audit_redact_empty => Some("sidecar.audit.redact_query_params[1]"), "CFG-28";
    mitm_wildcard_all => Some("sidecar.interceptor.https_mitm.intercept_hosts[0]"), "CFG-30";
    mitm_wildcard_single_label => Some("sidecar.interceptor.https_mitm.intercept_hosts[1]"), "CFG-30";
    mitm_inner_wildcard => Some("sidecar.interceptor.https_mitm.intercept_hosts[0]"), "CFG-30";
    mitm_port => Some("sidecar.interceptor.https_mitm.intercept_hosts[0]"), "CFG-30";
    mitm_duplicate => Some("sidecar.interceptor.https_mitm.intercept_hosts[1]"), "CFG-30";
    mitm_intercept_and_bypass => Some("sidecar.interceptor.https_mitm.bypass_hosts[0]"), "CFG-32";
    mitm_strict_not_intercepted => Some("sidecar.interceptor.https_mitm.strict_hosts[0]"), "CFG-33";
    mitm_strict_bypassed => Some("sidecar.interceptor.https_mitm.strict_hosts[0]"), "CFG-33";
    upstream_resolve_key => Some("sidecar.upstream.resolve.\"api.example.com\""), "CFG-41";
    upstream_resolve_value => Some("sidecar.upstream.resolve.\"api.example.com:443\""), "CFG-41";
    upstream_resolve_duplicate => Some("sidecar.upstream.resolve.\"API.example.com:443\""), "CFG-41";
}

#[test]
fn every_bad_fixture_has_a_snapshot_test() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/configs/bad");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".toml").map(str::to_owned))
        .collect();
    on_disk.sort();
    let mut tested: Vec<String> = BAD_FIXTURES.iter().map(|s| s.to_string()).collect();
    tested.sort();
    assert_eq!(on_disk, tested);
}

fn sample(name: &str, text: &str) -> Config {
    let origin = Path::new("/srv/proj/.firma").join(name);
    Config::parse(&origin, text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// CFG-15..19, CFG-25: seed 000's config, line by line.
#[test]
fn standalone_seed_000_config() {
    let c = sample(
        "firma.toml",
        include_str!("../../fixtures/configs/standalone.toml"),
    );
    let s = &c.sidecar;
    assert_eq!(s.interceptor.listen_addr, addr("127.0.0.1:8080"));
    assert_eq!(s.interceptor.drain_timeout, Duration::from_secs(5));
    assert_eq!(
        s.mapping.rules,
        RulesSource::Files(vec![PathBuf::from(
            "/tmp/firma-standalone/config/mapping-rules.toml"
        )])
    );
    assert!(!s.mapping.default_protected);
    assert_eq!(
        s.policy.source,
        PolicySource::Dir(PathBuf::from("/tmp/firma-standalone/config/policies"))
    );
    assert_eq!(s.authority.url, None, "policy-only mode");
    assert_eq!(
        s.constraint_enforcement.bundle_ttl,
        Duration::from_secs(3600)
    );
    assert_eq!(
        s.constraint_enforcement.enforcement_timeout,
        Duration::from_millis(50)
    );
    assert_eq!(
        s.audit.sink,
        AuditSink::File(PathBuf::from("/tmp/firma-standalone/logs/audit.jsonl"))
    );
    assert_eq!(
        s.audit.signing_key,
        SigningKey::File(PathBuf::from("/tmp/firma-standalone/audit.key"))
    );
    assert_eq!(s.log_level, LogLevel::Info);
    assert!(!s.interceptor.https_mitm.is_active());
}

/// CFG-6, CFG-16: seed 003's merge, relative paths against the config dir.
#[test]
fn mapping_merge_seed_003_config() {
    let c = sample(
        "firma.toml",
        include_str!("../../fixtures/configs/mapping-merge.toml"),
    );
    let base = Path::new("/srv/proj/.firma");
    assert_eq!(
        c.sidecar.mapping.rules,
        RulesSource::Files(vec![
            base.join("default-mapping.toml"),
            base.join("mappings/github.toml"),
            base.join("mappings/stripe.toml"),
            base.join("mappings/gmail.toml"),
            PathBuf::from("/srv/firma/acme-saas.toml"),
        ])
    );
    assert!(c.sidecar.mapping.default_protected);
    assert_eq!(
        c.sidecar.policy.source,
        PolicySource::Dir(base.join("policies"))
    );
    assert_eq!(
        c.sidecar.audit.sink,
        AuditSink::File(base.join("logs/audit.jsonl"))
    );
}

/// CFG-19, CFG-31: seed 004's MITM config.
#[test]
fn mitm_seed_004_config() {
    let c = sample(
        "firma.toml",
        include_str!("../../fixtures/configs/mitm.toml"),
    );
    let m = &c.sidecar.interceptor.https_mitm;
    assert!(m.is_active());
    let exact = |h: &str| HostPattern::Exact(h.into());
    assert_eq!(
        m.intercept_hosts,
        vec![
            exact("api.openai.com"),
            exact("api.anthropic.com"),
            exact("api.stripe.com")
        ]
    );
    assert!(m.bypass_hosts.is_empty());
    assert_eq!(m.strict_hosts, vec![exact("api.stripe.com")]);
    assert_eq!(
        c.sidecar.ca_dir,
        PathBuf::from("/tmp/firma-standalone/firma-ca")
    );
}

/// CFG-1, CFG-26: the smallest valid config.
#[test]
fn minimal_config() {
    let c = sample(
        "firma.toml",
        include_str!("../../fixtures/configs/minimal.toml"),
    );
    assert_eq!(
        c.sidecar.audit.signing_key,
        SigningKey::File(PathBuf::from("/srv/proj/.firma/audit.key"))
    );
    assert_eq!(c.sidecar.audit.sink, AuditSink::Stdout);
    assert!(c.sidecar.mapping.default_protected);
}

/// CFG-13..41: every key set.
#[test]
fn full_config_sets_every_key() {
    let c = sample(
        "firma.toml",
        include_str!("../../fixtures/configs/full.toml"),
    );
    let base = Path::new("/srv/proj/.firma");
    assert_eq!(c.project.name.as_deref(), Some("acme-agent"));
    let a = &c.authority;
    assert_eq!(a.listen_addr, addr("127.0.0.1:50052"));
    assert_eq!(
        a.revocation_file,
        PathBuf::from("/var/lib/firma/revocations.txt")
    );
    assert_eq!(
        a.schema_path,
        Some(base.join("authority/schema.cedarschema"))
    );
    assert_eq!(a.max_ttl, Duration::from_secs(7200));
    assert_eq!(a.bundle_ttl, Duration::from_secs(60));
    assert_eq!(
        a.tls.as_ref().map(|t| t.key_path.clone()),
        Some(base.join("tls/authority.key"))
    );
    let s = &c.sidecar;
    assert_eq!(s.interceptor.listen_addr, addr("[::1]:18080"));
    assert_eq!(s.interceptor.max_request_body_bytes.get(), 1_048_576);
    assert_eq!(
        s.interceptor.upstream_read_timeout,
        Duration::from_millis(60_000)
    );
    assert_eq!(s.interceptor.https_mitm.cert_cache_capacity.get(), 256);
    let url = s.authority.url.as_ref().unwrap();
    assert_eq!((url.host(), url.port()), ("authority.internal", 50051));
    assert_eq!(s.authority.connect_timeout, Duration::from_millis(5000));
    assert_eq!(
        s.authority.client_tls.as_ref().map(|t| t.cert_path.clone()),
        Some(base.join("tls/sidecar.crt"))
    );
    assert_eq!(
        s.capability_seed_paths,
        vec![base.join("tokens/seed.paseto")]
    );
    assert_eq!(
        s.audit.redact_query_params,
        vec!["session".to_string(), "X-Trace".to_string()]
    );
    assert_eq!(s.log_level, LogLevel::Debug);
    assert_eq!(s.upstream_resolve.len(), 2);
    assert_eq!(
        s.upstream_resolve
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
        vec!["[::1]:9000=[::1]:9001", "api.example.com:443=10.0.0.7:8443"]
    );
}
