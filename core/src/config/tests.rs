//! Behaviour of [`Config::parse`] key by key (ids refer to `spec/config.md`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;

use super::*;

const ORIGIN: &str = "/etc/firma/firma.toml";
const SIGNED: &str = "[sidecar.audit]\nsigning_key_path = \"audit.key\"\n";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new(ORIGIN), text)
}

/// Parse `text` plus the required signing key.
fn parse_signed(text: &str) -> Result<Config, ConfigError> {
    parse(&format!("{text}\n{SIGNED}"))
}

fn err(text: &str) -> ConfigError {
    match parse_signed(text) {
        Ok(c) => panic!("expected an error for {text:?}, got {c:?}"),
        Err(e) => e,
    }
}

fn etc(p: &str) -> PathBuf {
    Path::new("/etc/firma").join(p)
}

#[test]
fn cfg1_minimal_config_takes_every_default() {
    let c = parse(SIGNED).unwrap();
    assert_eq!(c.origin, ConfigOrigin::File(PathBuf::from(ORIGIN)));
    assert_eq!(c.project, ProjectConfig::default());
    assert_eq!(
        c.authority,
        AuthorityConfig::defaults_in(Path::new("/etc/firma"))
    );
    let s = &c.sidecar;
    assert_eq!(s.mode, SidecarMode::Enforce);
    assert_eq!(s.interceptor, InterceptorConfig::defaults());
    assert_eq!(
        s.interceptor.listen_addr,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(s.interceptor.drain_timeout, Duration::from_secs(30));
    assert_eq!(s.interceptor.max_request_body_bytes.get(), 4 * 1024 * 1024);
    assert_eq!(
        s.interceptor.upstream_connect_timeout,
        Duration::from_millis(10_000)
    );
    assert_eq!(
        s.interceptor.upstream_read_timeout,
        Duration::from_millis(30_000)
    );
    assert_eq!(s.interceptor.https_mitm, MitmConfig::disabled());
    assert_eq!(s.interceptor.https_mitm.cert_cache_capacity.get(), 1024);
    assert_eq!(
        s.mapping.rules,
        RulesSource::Files(vec![etc("mapping-rules.toml")])
    );
    assert!(s.mapping.default_protected);
    assert_eq!(s.policy.source, PolicySource::Dir(etc("policies")));
    assert_eq!(s.authority, SidecarAuthorityConfig::none());
    assert_eq!(
        s.constraint_enforcement.bundle_ttl,
        Duration::from_secs(3600)
    );
    assert_eq!(
        s.constraint_enforcement.enforcement_timeout,
        Duration::from_millis(50)
    );
    assert!(s.capability_seed_paths.is_empty());
    assert_eq!(s.audit.sink, AuditSink::Stdout);
    assert_eq!(s.audit.signing_key, SigningKey::File(etc("audit.key")));
    assert!(s.audit.redact_query_params.is_empty());
    assert_eq!(s.log_level, LogLevel::Info);
    assert_eq!(s.ca_dir, etc("firma-ca"));
    assert!(s.upstream_resolve.is_empty());
}

#[test]
fn cfg14_authority_defaults() {
    let a = AuthorityConfig::defaults_in(Path::new("/d"));
    assert_eq!(
        a.listen_addr,
        "127.0.0.1:50051".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(a.policy_dir, PathBuf::from("/d/policies"));
    assert_eq!(a.issuance_policy_dir, PathBuf::from("/d/issuance-policies"));
    assert_eq!(a.revocation_file, PathBuf::from("/d/revocations.txt"));
    assert_eq!(a.key_file, PathBuf::from("/d/authority.key"));
    assert_eq!(a.max_ttl, Duration::from_secs(3600));
    assert_eq!(a.bundle_ttl, Duration::from_secs(30));
    assert_eq!(a.tls, None);
}

#[test]
fn cfg13_project_keys() {
    let c = parse_signed("[project]\nname = \"acme\"\nagent = \"codex\"\nprovider = \"openai\"")
        .unwrap();
    assert_eq!(c.project.name.as_deref(), Some("acme"));
    assert_eq!(c.project.agent.as_deref(), Some("codex"));
    assert_eq!(c.project.provider.as_deref(), Some("openai"));
    assert_eq!(err("[project]\nmodel = \"x\"").key(), Some("project.model"));
}

#[test]
fn cfg2_syntax_errors_keep_the_parser_position() {
    let e = parse("a = 1\n[sidecar\n").unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e:?}");
    assert_eq!(e.line(), Some(2));
    assert_eq!(e.key(), None);
    assert!(e.to_string().starts_with("/etc/firma/firma.toml:2:"), "{e}");
}

#[test]
fn cfg3_unknown_keys_name_the_full_path_and_suggest() {
    let e = err("[sidecar.mapping]\nrule_path = \"x\"");
    assert_eq!(e.key(), Some("sidecar.mapping.rule_path"));
    assert_eq!((e.line(), e.column()), (Some(2), Some(1)));
    assert!(
        e.to_string().ends_with("(did you mean `rules_path`?)"),
        "{e}"
    );

    // dotted and inline forms resolve to the same path
    let e = err("sidecar.mapping.rule_path = \"x\"");
    assert_eq!(e.key(), Some("sidecar.mapping.rule_path"));
    let e = err("[sidecar]\nmapping = { rule_path = \"x\" }");
    assert_eq!(e.key(), Some("sidecar.mapping.rule_path"));

    let e = err("[run]\nprofile = \"x\"");
    assert_eq!(e.key(), Some("run"));
    assert!(!e.to_string().contains("did you mean"), "{e}");

    let e = err("[sidecar.interceptor.https_mitm]\nintercept_host = []");
    assert_eq!(
        e.key(),
        Some("sidecar.interceptor.https_mitm.intercept_host")
    );
    assert!(
        e.to_string().contains("did you mean `intercept_hosts`"),
        "{e}"
    );

    let e = err("[sidecar]\n\"a.b\" = 1");
    assert_eq!(e.key(), Some("sidecar.\"a.b\""));
}

#[test]
fn cfg4_wrong_types_name_expected_found_and_value() {
    let e = err("[sidecar.mapping]\ndefault_protected = \"false\"");
    assert_eq!(
        e,
        ConfigError::WrongType {
            at: Box::new(Location {
                file: PathBuf::from(ORIGIN),
                position: Some(Position {
                    line: 2,
                    column: 21
                }),
            }),
            key: "sidecar.mapping.default_protected".into(),
            expected: "a boolean".into(),
            found: "string".into(),
            value: "\"false\"".into(),
        }
    );
    let e = err("[sidecar.interceptor]\ndrain_timeout_secs = \"5s\"");
    assert!(
        e.to_string()
            .contains("expected an integer, found string `\"5s\"`"),
        "{e}"
    );
    let e = err("[sidecar.mapping]\nrules_paths = \"a.toml\"");
    assert!(e.to_string().contains("expected an array"), "{e}");
    let e = parse("sidecar = 3").unwrap_err();
    assert!(
        e.to_string()
            .contains("`sidecar`: expected a table, found integer `3`"),
        "{e}"
    );
    let e = err("[sidecar]\ninterceptor = [\"http_proxy\"]");
    assert_eq!(e.key(), Some("sidecar.interceptor"));
    let e = err("[[sidecar.log]]\nlevel = \"info\"");
    assert_eq!(e.key(), Some("sidecar.log"));
    let e = err("[sidecar.upstream]\nresolve = { \"a:1\" = 1 }");
    assert_eq!(e.key(), Some("sidecar.upstream.resolve.\"a:1\""));
}

#[test]
fn cfg5_messages_are_one_line_and_escape_values() {
    let e = err("[sidecar.log]\nlevel = \"in\\nfo`\"");
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    assert!(msg.contains("`in\\nfo\\``"), "{msg}");
    let e = err("[sidecar.mapping]\nrules_paths = [\n  1,\n]");
    assert!(!e.to_string().contains('\n'), "{e}");
}

#[test]
fn cfg6_relative_paths_follow_the_config_directory() {
    let c = Config::parse(Path::new("firma.toml"), SIGNED).unwrap();
    assert_eq!(c.sidecar.audit.signing_key.path(), Path::new("audit.key"));
    let c = Config::parse(Path::new("proj/.firma/firma.toml"), SIGNED).unwrap();
    assert_eq!(
        c.sidecar.audit.signing_key.path(),
        Path::new("proj/.firma/audit.key")
    );
    assert_eq!(c.sidecar.ca_dir, Path::new("proj/.firma/firma-ca"));
    let c = parse_signed("[sidecar.ca]\ndir = \"/var/lib/firma-ca\"").unwrap();
    assert_eq!(c.sidecar.ca_dir, Path::new("/var/lib/firma-ca"));
}

/// Every path-valued key, as (table, key, extra text needed for it to parse).
const PATH_KEYS: &[(&str, &str)] = &[
    ("authority", "policy_dir"),
    ("authority", "issuance_policy_dir"),
    ("authority", "schema_path"),
    ("authority", "revocation_file"),
    ("authority", "key_file"),
    ("authority", "mtls_client_ca_key_path"),
    ("authority", "authorized_clients_path"),
    ("sidecar.interceptor.https_mitm", "extra_upstream_ca_file"),
    ("sidecar.mapping", "rules_path"),
    ("sidecar.policy", "dir"),
    ("sidecar.authority", "ca_cert_path"),
    ("sidecar.authority", "public_key_path"),
    ("sidecar.ca", "dir"),
];

#[test]
fn cfg7_every_path_key_rejects_the_empty_string() {
    for (table, key) in PATH_KEYS {
        let e = err(&format!("[{table}]\n{key} = \"\""));
        assert_eq!(e.key(), Some(format!("{table}.{key}").as_str()), "{e}");
        assert!(e.to_string().contains("is an empty path"), "{e}");
    }
    let e = parse("[sidecar.audit]\nsigning_key_path = \"\"").unwrap_err();
    assert_eq!(e.key(), Some("sidecar.audit.signing_key_path"));
    let e = parse("[sidecar.audit]\nsink = \"file\"\nfile_path = \"\"\nsigning_key_path = \"k\"")
        .unwrap_err();
    assert_eq!(e.key(), Some("sidecar.audit.file_path"));
    let e = err(
        "[sidecar.capability_seed]\npaths = [\"\"]\n[sidecar.authority]\npublic_key_path = \"k\"",
    );
    assert_eq!(e.key(), Some("sidecar.capability_seed.paths[0]"));
    let e = err("[authority]\ntls_cert_path = \"\"\ntls_key_path = \"k\"");
    assert_eq!(e.key(), Some("authority.tls_cert_path"));
}

#[test]
fn cfg8_listen_addresses() {
    for (table, key) in [
        ("authority", "listen_addr"),
        ("sidecar.interceptor", "listen_addr"),
    ] {
        let e = err(&format!("[{table}]\n{key} = \"127.0.0.1:99999\""));
        assert_eq!(e.key(), Some(format!("{table}.{key}").as_str()));
        assert!(
            e.to_string()
                .ends_with("`127.0.0.1:99999` is not a socket address (expected `host:port`)"),
            "{e}"
        );
    }
    let c = parse_signed("[sidecar.interceptor]\nlisten_addr = \"0.0.0.0:0\"").unwrap();
    assert_eq!(c.sidecar.interceptor.listen_addr.port(), 0);
}

/// Every integer key, as (table, key, max).
const INT_KEYS: &[(&str, &str, u64)] = &[
    ("authority", "max_ttl_seconds", u32::MAX as u64),
    ("authority", "bundle_ttl_seconds", u32::MAX as u64),
    ("sidecar.interceptor", "drain_timeout_secs", u32::MAX as u64),
    (
        "sidecar.interceptor",
        "max_request_body_bytes",
        i64::MAX as u64,
    ),
    (
        "sidecar.interceptor",
        "upstream_connect_timeout_ms",
        u32::MAX as u64,
    ),
    (
        "sidecar.interceptor",
        "upstream_read_timeout_ms",
        u32::MAX as u64,
    ),
    (
        "sidecar.interceptor.https_mitm",
        "cert_cache_capacity",
        i64::MAX as u64,
    ),
    ("sidecar.authority", "connect_timeout_ms", u32::MAX as u64),
    (
        "sidecar.constraint_enforcement",
        "bundle_ttl_seconds",
        u32::MAX as u64,
    ),
    (
        "sidecar.constraint_enforcement",
        "enforcement_timeout_ms",
        u32::MAX as u64,
    ),
];

#[test]
fn cfg9_integer_keys_are_positive_and_bounded() {
    for (table, key, max) in INT_KEYS {
        let dotted = format!("{table}.{key}");
        for bad in [
            "0".to_string(),
            "-1".to_string(),
            (u64::from(u32::MAX) + 1).to_string(),
        ] {
            if bad != "0" && bad != "-1" && *max > u64::from(u32::MAX) {
                continue;
            }
            let e = err(&format!("[{table}]\n{key} = {bad}"));
            assert_eq!(e.key(), Some(dotted.as_str()), "{e}");
            assert!(e.to_string().contains(&format!("`{bad}`")), "{e}");
        }
        assert!(
            parse_signed(&format!("[{table}]\n{key} = 1")).is_ok(),
            "{dotted} = 1"
        );
        assert!(
            parse_signed(&format!("[{table}]\n{key} = {max}")).is_ok(),
            "{dotted} = {max}"
        );
    }
}

#[test]
fn cfg9_integer_keys_convert_to_typed_values() {
    let c = parse_signed(
        "[sidecar.interceptor]\ndrain_timeout_secs = 5\nupstream_connect_timeout_ms = 250\n\
         [sidecar.constraint_enforcement]\nbundle_ttl_seconds = 7\nenforcement_timeout_ms = 9\n\
         [authority]\nmax_ttl_seconds = 60\nbundle_ttl_seconds = 2",
    )
    .unwrap();
    assert_eq!(c.sidecar.interceptor.drain_timeout, Duration::from_secs(5));
    assert_eq!(
        c.sidecar.interceptor.upstream_connect_timeout,
        Duration::from_millis(250)
    );
    assert_eq!(
        c.sidecar.constraint_enforcement.bundle_ttl,
        Duration::from_secs(7)
    );
    assert_eq!(
        c.sidecar.constraint_enforcement.enforcement_timeout,
        Duration::from_millis(9)
    );
    assert_eq!(c.authority.max_ttl, Duration::from_secs(60));
    assert_eq!(c.authority.bundle_ttl, Duration::from_secs(2));
}

#[test]
fn cfg10_closed_value_sets() {
    for (table, key, bad) in [
        ("sidecar", "mode", "monitor"),
        ("sidecar.interceptor", "mode", "grpc"),
        ("sidecar.log", "level", "verbose"),
    ] {
        let e = err(&format!("[{table}]\n{key} = \"{bad}\""));
        assert_eq!(e.key(), Some(format!("{table}.{key}").as_str()));
        assert!(
            e.to_string().contains(&format!("`{bad}` is not supported")),
            "{e}"
        );
    }
    let e = parse("[sidecar.audit]\nsink = \"wal\"\nsigning_key_path = \"k\"").unwrap_err();
    assert_eq!(e.key(), Some("sidecar.audit.sink"));
    assert!(
        e.to_string()
            .contains("`wal` is not supported (expected one of `stdout`, `file`)"),
        "{e}"
    );
    for (level, want) in [
        ("error", LogLevel::Error),
        ("warn", LogLevel::Warn),
        ("debug", LogLevel::Debug),
        ("trace", LogLevel::Trace),
    ] {
        let c = parse_signed(&format!("[sidecar.log]\nlevel = \"{level}\"")).unwrap();
        assert_eq!(c.sidecar.log_level, want);
        assert_eq!(want.as_str(), level);
    }
}

#[test]
fn cfg11_certificate_pairs_are_both_or_neither() {
    let e = err("[sidecar.authority]\ntls_client_key_path = \"k\"");
    assert_eq!(e.key(), Some("sidecar.authority.tls_client_key_path"));
    assert!(
        e.to_string()
            .contains("is set but `sidecar.authority.tls_client_cert_path` is not"),
        "{e}"
    );
    let c = parse_signed(
        "[sidecar.authority]\ntls_client_cert_path = \"c\"\ntls_client_key_path = \"k\"",
    )
    .unwrap();
    assert_eq!(
        c.sidecar.authority.client_tls,
        Some(TlsFiles {
            cert_path: etc("c"),
            key_path: etc("k")
        })
    );
}

#[test]
fn cfg12_authority_mtls_needs_tls_and_allow_list() {
    let e = err("[authority]\nmtls_client_ca_cert_path = \"ca\"\nauthorized_clients_path = \"a\"");
    assert_eq!(e.key(), Some("authority.mtls_client_ca_cert_path"));
    assert!(e.to_string().contains("mtls needs tls"), "{e}");
    let e = err(
        "[authority]\ntls_cert_path = \"c\"\ntls_key_path = \"k\"\nmtls_client_ca_cert_path = \"ca\"",
    );
    assert!(
        e.to_string().contains("authority.authorized_clients_path"),
        "{e}"
    );
    let c = parse_signed(
        "[authority]\ntls_cert_path = \"c\"\ntls_key_path = \"k\"\nmtls_client_ca_cert_path = \"ca\"\nauthorized_clients_path = \"a\"",
    )
    .unwrap();
    assert_eq!(c.authority.mtls_client_ca_cert_path, Some(etc("ca")));
}

#[test]
fn cfg16_rules_files_merge_in_order() {
    let c = parse_signed(
        "[sidecar.mapping]\nrules_path = \"base.toml\"\nrules_paths = [\"b.toml\", \"/abs/a.toml\"]\ndefault_protected = false",
    )
    .unwrap();
    assert_eq!(
        c.sidecar.mapping.rules,
        RulesSource::Files(vec![
            etc("base.toml"),
            etc("b.toml"),
            PathBuf::from("/abs/a.toml")
        ])
    );
    assert!(!c.sidecar.mapping.default_protected);
    // rules_paths alone keeps the default primary file
    let c = parse_signed("[sidecar.mapping]\nrules_paths = [\"x.toml\"]").unwrap();
    assert_eq!(
        c.sidecar.mapping.rules,
        RulesSource::Files(vec![etc("mapping-rules.toml"), etc("x.toml")])
    );
}

#[test]
fn cfg20_authority_url_from_either_location() {
    let c = parse_signed("[sidecar.policy]\nauthority_url = \"http://127.0.0.1:50051\"").unwrap();
    assert_eq!(
        c.sidecar.authority.url.as_ref().map(AuthorityUrl::port),
        Some(50051)
    );
    let c = parse_signed("[sidecar.authority]\nurl = \"http://localhost:50051\"").unwrap();
    assert_eq!(
        c.sidecar.authority.url.as_ref().map(AuthorityUrl::host),
        Some("localhost")
    );
    // same endpoint spelled differently is not a conflict
    let c = parse_signed(
        "[sidecar.policy]\nauthority_url = \"http://LOCALHOST:50051/\"\n[sidecar.authority]\nurl = \"http://localhost:50051\"",
    )
    .unwrap();
    assert_eq!(
        c.sidecar.authority.url.map(|u| u.to_string()).as_deref(),
        Some("http://localhost:50051")
    );
    let e = err(
        "[sidecar.policy]\nauthority_url = \"http://127.0.0.1:1\"\n[sidecar.authority]\nurl = \"http://127.0.0.1:2\"",
    );
    assert_eq!(e.key(), Some("sidecar.authority.url"));
    assert!(
        matches!(e, ConfigError::Conflict { ref other_key, .. } if other_key == "sidecar.policy.authority_url")
    );
}

#[test]
fn cfg21_authority_url_grammar() {
    let e = err("[sidecar.authority]\nurl = \"127.0.0.1:50051\"");
    assert!(e.to_string().contains("is not a url"), "{e}");
    let e = err("[sidecar.policy]\nauthority_url = \"ftp://127.0.0.1\"");
    assert_eq!(e.key(), Some("sidecar.policy.authority_url"));
}

#[test]
fn cfg22_plain_http_only_to_loopback_unless_allowed() {
    for ok in [
        "http://127.0.0.1:50051",
        "http://localhost",
        "http://[::1]:50051",
        "http://127.1.2.3:1",
    ] {
        assert!(
            parse_signed(&format!("[sidecar.authority]\nurl = \"{ok}\"")).is_ok(),
            "{ok}"
        );
    }
    let e = err("[sidecar.authority]\nurl = \"http://10.0.0.5:50051\"");
    assert!(
        e.to_string()
            .contains("allow_insecure_remote_authority = true"),
        "{e}"
    );
    let c = parse_signed(
        "[sidecar.authority]\nurl = \"http://10.0.0.5:50051\"\nallow_insecure_remote_authority = true",
    )
    .unwrap();
    assert!(c.sidecar.authority.allow_insecure_remote_authority);
}

#[test]
fn cfg23_https_needs_ca_cert() {
    let e = err("[sidecar.authority]\nurl = \"https://a.example.com\"");
    assert_eq!(e.key(), Some("sidecar.authority.ca_cert_path"));
    assert!(matches!(e, ConfigError::MissingKey { .. }));
    assert_eq!(e.line(), Some(2));
    let c = parse_signed(
        "[sidecar.authority]\nurl = \"https://a.example.com\"\nca_cert_path = \"ca.crt\"",
    )
    .unwrap();
    let url = c.sidecar.authority.url.unwrap();
    assert_eq!((url.scheme(), url.port()), (UrlScheme::Https, 443));
    assert_eq!(c.sidecar.authority.ca_cert_path, Some(etc("ca.crt")));
}

#[test]
fn cfg24_capability_seeds_need_the_public_key() {
    let e = err("[sidecar.capability_seed]\npaths = [\"t.paseto\"]");
    assert_eq!(e.key(), Some("sidecar.authority.public_key_path"));
    let c = parse_signed(
        "[sidecar.capability_seed]\npaths = [\"t.paseto\"]\n[sidecar.authority]\npublic_key_path = \"a.pub\"\nconnect_timeout_ms = 7",
    )
    .unwrap();
    assert_eq!(c.sidecar.capability_seed_paths, vec![etc("t.paseto")]);
    assert_eq!(c.sidecar.authority.public_key_path, Some(etc("a.pub")));
    assert_eq!(
        c.sidecar.authority.connect_timeout,
        Duration::from_millis(7)
    );
    assert!(parse_signed("[sidecar.capability_seed]\npaths = []").is_ok());
}

#[test]
fn cfg43_agent_id() {
    let ok =
        parse_signed("[sidecar.authority]\nagent_id = \"agt_01j0000000e008000000000001\"").unwrap();
    assert_eq!(
        ok.sidecar.authority.agent_id.as_deref(),
        Some("agt_01j0000000e008000000000001")
    );
    let e = parse_signed("[sidecar.authority]\nagent_id = \"codex\"").unwrap_err();
    assert_eq!(e.key(), Some("sidecar.authority.agent_id"));
    assert_eq!(e.line(), Some(2));
}

#[test]
fn cfg26_signing_key_is_required() {
    for text in [
        "",
        "[sidecar]\n",
        "[sidecar.audit]\nsink = \"stdout\"",
        "[authority]\n",
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(e.key(), Some("sidecar.audit.signing_key_path"), "{text:?}");
        assert!(matches!(e, ConfigError::MissingKey { .. }));
    }
    assert_eq!(parse("").unwrap_err().line(), None);
    assert_eq!(
        parse("\n[sidecar.audit]\nsink = \"stdout\"")
            .unwrap_err()
            .line(),
        Some(2)
    );
}

#[test]
fn cfg27_file_sink_and_file_path_go_together() {
    let c = parse(
        "[sidecar.audit]\nsink = \"file\"\nfile_path = \"a.jsonl\"\nsigning_key_path = \"k\"",
    )
    .unwrap();
    assert_eq!(c.sidecar.audit.sink, AuditSink::File(etc("a.jsonl")));
    let e = parse("[sidecar.audit]\nsink = \"file\"\nsigning_key_path = \"k\"").unwrap_err();
    assert_eq!(e.key(), Some("sidecar.audit.file_path"));
    assert!(
        e.to_string().contains("`sidecar.audit.sink` is `file`"),
        "{e}"
    );
    let e = parse("[sidecar.audit]\nfile_path = \"a\"\nsigning_key_path = \"k\"").unwrap_err();
    assert_eq!(e.key(), Some("sidecar.audit.file_path"));
}

#[test]
fn cfg28_redacted_params_are_kept_as_written() {
    let c = parse(
        "[sidecar.audit]\nsigning_key_path = \"k\"\nredact_query_params = [\"Session\", \"x\"]",
    )
    .unwrap();
    assert_eq!(
        c.sidecar.audit.redact_query_params,
        vec!["Session".to_string(), "x".to_string()]
    );
}

#[test]
fn cfg31_mitm_lists_parse_and_normalize() {
    let c = parse_signed(
        "[sidecar.interceptor.https_mitm]\nenabled = true\nintercept_hosts = [\"API.openai.com.\", \"*.anthropic.com\"]\n\
         bypass_hosts = [\"downloads.anthropic.com\"]\nstrict_hosts = [\"api.anthropic.com\"]\ncert_cache_capacity = 8\n\
         extra_upstream_ca_file = \"corp.pem\"",
    )
    .unwrap();
    let m = &c.sidecar.interceptor.https_mitm;
    assert!(m.is_active());
    assert_eq!(
        m.intercept_hosts,
        vec![
            HostPattern::Exact("api.openai.com".into()),
            HostPattern::Wildcard("anthropic.com".into())
        ]
    );
    assert_eq!(
        m.bypass_hosts,
        vec![HostPattern::Exact("downloads.anthropic.com".into())]
    );
    assert_eq!(
        m.strict_hosts,
        vec![HostPattern::Exact("api.anthropic.com".into())]
    );
    assert_eq!(m.cert_cache_capacity.get(), 8);
    assert_eq!(m.extra_upstream_ca_file, Some(etc("corp.pem")));
    // enabled with no hosts is valid but inactive
    let c = parse_signed("[sidecar.interceptor.https_mitm]\nenabled = true").unwrap();
    assert!(!c.sidecar.interceptor.https_mitm.is_active());
}

#[test]
fn cfg30_bad_host_patterns_point_at_the_item() {
    let e = err("[sidecar.interceptor.https_mitm]\nbypass_hosts = [\"ok.example.com\", \"*\"]");
    assert_eq!(
        e.key(),
        Some("sidecar.interceptor.https_mitm.bypass_hosts[1]")
    );
    assert_eq!((e.line(), e.column()), (Some(2), Some(35)));
}

#[test]
fn cfg32_cfg33_host_list_cross_checks() {
    let e = err(
        "[sidecar.interceptor.https_mitm]\nintercept_hosts = [\"a.example.com\"]\nbypass_hosts = [\"A.example.com\"]",
    );
    assert_eq!(
        e.key(),
        Some("sidecar.interceptor.https_mitm.bypass_hosts[0]")
    );
    let e = err(
        "[sidecar.interceptor.https_mitm]\nintercept_hosts = [\"a.example.com\"]\nstrict_hosts = [\"*.example.com\"]",
    );
    assert_eq!(
        e.key(),
        Some("sidecar.interceptor.https_mitm.strict_hosts[0]")
    );
    assert!(
        e.to_string()
            .contains("not in `sidecar.interceptor.https_mitm.intercept_hosts`"),
        "{e}"
    );
}

#[test]
fn cfg41_upstream_resolve_normalizes_hosts() {
    let c = parse_signed(
        "[sidecar.upstream]\nresolve = { \"API.example.com.:443\" = \"10.0.0.7:8443\" }",
    )
    .unwrap();
    let want = HostPort {
        host: "api.example.com".into(),
        port: 443,
    };
    assert_eq!(
        c.sidecar.upstream_resolve.get(&want),
        Some(&"10.0.0.7:8443".parse::<SocketAddr>().unwrap())
    );
}

#[test]
fn cfg40_embedded_default() {
    let c = Config::embedded_default(Path::new("/run/firma"));
    assert_eq!(c.origin, ConfigOrigin::Embedded);
    let s = &c.sidecar;
    assert_eq!(
        s.interceptor.listen_addr,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(s.mapping.rules, RulesSource::Embedded);
    assert!(!s.mapping.default_protected);
    assert_eq!(s.policy.source, PolicySource::Embedded);
    assert_eq!(s.authority.url, None);
    assert_eq!(
        s.audit.sink,
        AuditSink::File(PathBuf::from("/run/firma/audit.jsonl"))
    );
    assert_eq!(
        s.audit.signing_key,
        SigningKey::GenerateIfMissing(PathBuf::from("/run/firma/audit.key"))
    );
    assert_eq!(
        s.constraint_enforcement.bundle_ttl,
        Duration::from_secs(3600)
    );
    assert_eq!(
        s.constraint_enforcement.enforcement_timeout,
        Duration::from_millis(50)
    );
    assert_eq!(s.log_level, LogLevel::Info);
    assert_eq!(s.ca_dir, PathBuf::from("/run/firma/generated-firma-ca"));
    assert!(!s.interceptor.https_mitm.is_active());
}

/// Checks every error must satisfy (CFG-5, CFG-42).
fn check_error(text: &str, e: &ConfigError) {
    let msg = e.to_string();
    assert!(
        !msg.contains('\n') && !msg.contains('\r'),
        "multi-line: {msg:?}"
    );
    assert_eq!(e.file(), Path::new(ORIGIN));
    assert!(msg.starts_with(ORIGIN), "{msg}");
    if !matches!(e, ConfigError::Syntax { .. }) {
        assert!(e.key().is_some_and(|k| !k.is_empty()), "no key: {msg}");
    }
    if let Some(line) = e.line() {
        assert!(
            line >= 1 && line <= text.lines().count() + 1,
            "line {line} out of range: {msg}"
        );
        assert!(e.column().is_some_and(|c| c >= 1));
    }
}

const VALID: &[&str] = &[
    include_str!("../../../fixtures/configs/standalone.toml"),
    include_str!("../../../fixtures/configs/mapping-merge.toml"),
    include_str!("../../../fixtures/configs/mitm.toml"),
    include_str!("../../../fixtures/configs/full.toml"),
];

#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, String),
    Delete(usize, usize),
    Replace(usize, usize, String),
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let len = chars.len().max(1);
        match edit {
            Edit::Insert(at, s) => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, s.chars());
            }
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(chars.len());
                if at < end {
                    chars.drain(at..end);
                }
            }
            Edit::Replace(at, n, s) => {
                let at = at % len;
                let end = (at + n).min(chars.len());
                if at <= end {
                    chars.splice(at..end, s.chars());
                }
            }
        }
    }
    chars.into_iter().collect()
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("=".to_string()),
        Just("\"".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("\n".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("*".to_string()),
        Just(".".to_string()),
        Just(":".to_string()),
        Just("true".to_string()),
        Just("{".to_string()),
        Just("https://".to_string()),
        "[a-z_]{1,12}",
        "\\PC{0,6}",
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), token()).prop_map(|(a, s)| Edit::Insert(a, s)),
        (any::<usize>(), 1usize..20).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), 0usize..8, token()).prop_map(|(a, n, s)| Edit::Replace(a, n, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// CFG-42: arbitrary text never panics; errors are well-formed.
    #[test]
    fn cfg42_arbitrary_text_never_panics(text in "\\PC{0,200}") {
        if let Err(e) = parse(&text) {
            check_error(&text, &e);
        }
    }

    /// CFG-42: mutations of valid configs never panic; errors are well-formed.
    #[test]
    fn cfg42_mutated_configs_never_panic(which in 0..VALID.len(), edits in prop::collection::vec(edit(), 1..4)) {
        let base = VALID.get(which).copied().unwrap_or("");
        let text = apply(base, &edits);
        if let Err(e) = parse(&text) {
            check_error(&text, &e);
        }
    }
}
