//! Start-up of the real binary: config discovery (SDC-1) and every start-up
//! failure of SDC-4 — exit 2, one error line naming the file or address and
//! the problem (snapshotted with the temporary paths redacted), no
//! `sidecar ready`, nothing written to the audit log.

mod support;

use std::net::TcpListener;
use std::process::Command;

use support::sidecar::{Sink, log_message};
use support::{Config, PERMIT_ALL, SEED000_MAPPING, SEED000_POLICY, Sidecar, Workspace, curl};

/// Runs a start that must fail and returns its error output with the
/// workspace path replaced by `[WS]`. Log lines (`<time> <LEVEL> …`) before
/// the error are dropped, so the snapshot holds what the user must read.
fn failure(ws: &Workspace, replace: &[(&str, &str)]) -> String {
    let f = ws.start_failure();
    let all = f.stderr_text();
    assert_eq!(f.code, Some(2), "exit code; stderr:\n{all}");
    assert!(!all.contains("sidecar ready"), "said ready:\n{all}");
    assert!(
        !ws.audit_path().exists() || ws.audit().text().is_empty(),
        "a failed start wrote to the audit log"
    );
    let errors: Vec<&str> = f
        .stderr
        .iter()
        .map(String::as_str)
        .filter(|l| !is_log_line(l))
        .collect();
    assert_eq!(errors.len(), 1, "expected one error line, got:\n{all}");
    let mut text = errors[0].replace(ws.dir.to_str().unwrap(), "[WS]");
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    text
}

/// `<RFC 3339 time> <LEVEL> <target>: …`
fn is_log_line(l: &str) -> bool {
    let mut p = l.split_whitespace();
    let time_ok = p
        .next()
        .is_some_and(|t| firma_core::UnixTime::parse_rfc3339(t).is_some());
    time_ok
        && p.next()
            .is_some_and(|lvl| ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&lvl))
}

fn good(name: &str) -> (Workspace, Config) {
    let ws = Workspace::new(name);
    let cfg = Config::default();
    ws.setup(SEED000_MAPPING, SEED000_POLICY, &cfg);
    (ws, cfg)
}

#[test]
fn missing_audit_key() {
    let (ws, _) = good("startup_missing_key");
    std::fs::remove_file(ws.path("audit.key")).unwrap();
    let e = failure(&ws, &[]);
    assert!(e.contains("[WS]/audit.key"), "{e}");
    insta::assert_snapshot!("missing_key", e);
}

#[test]
fn unreadable_audit_key() {
    // Root reads any file, so "unreadable" is a directory in the key's place.
    let (ws, _) = good("startup_unreadable_key");
    std::fs::remove_file(ws.path("audit.key")).unwrap();
    std::fs::create_dir(ws.path("audit.key")).unwrap();
    let e = failure(&ws, &[]);
    assert!(e.contains("[WS]/audit.key"), "{e}");
    insta::assert_snapshot!("unreadable_key", e);
}

#[test]
fn malformed_audit_key() {
    let (ws, _) = good("startup_malformed_key");
    ws.write("audit.key", "this is not a PEM key\n");
    let e = failure(&ws, &[]);
    assert!(e.contains("[WS]/audit.key"), "{e}");
    insta::assert_snapshot!("malformed_key", e);
}

#[test]
fn audit_key_not_p256() {
    let (ws, _) = good("startup_p384_key");
    std::fs::copy(
        support::fixtures().join("keys/TEST-ONLY-p384.key.pem"),
        ws.path("audit.key"),
    )
    .unwrap();
    let e = failure(&ws, &[]);
    assert!(e.contains("[WS]/audit.key"), "{e}");
    insta::assert_snapshot!("p384_key", e);
}

#[test]
fn bad_config_key() {
    let (ws, cfg) = good("startup_bad_config_key");
    let text = cfg.render().replace("rules_path = ", "rule_path = ");
    ws.write("firma.toml", &text);
    let e = failure(&ws, &[]);
    assert!(e.contains("[WS]/firma.toml"), "{e}");
    assert!(e.contains("sidecar.mapping.rule_path"), "{e}");
    insta::assert_snapshot!("bad_config_key", e);
}

#[test]
fn duplicate_mapping_rules() {
    let (ws, cfg) = good("startup_duplicate_rules");
    ws.write("extra.toml", "[[rules]]\nmethod = \"POST\"\nhost = \"paste.rs\"\naction_class = \"communication.external.send\"\n");
    let cfg = Config {
        rules_paths: vec!["extra.toml".into()],
        ..cfg
    };
    ws.write("firma.toml", &cfg.render());
    let e = failure(&ws, &[]);
    assert!(
        e.contains("mapping-rules.toml") && e.contains("extra.toml"),
        "{e}"
    );
    insta::assert_snapshot!("duplicate_rules", e);
}

#[test]
fn unknown_action_class() {
    let (ws, _) = good("startup_unknown_class");
    ws.write(
        "mapping-rules.toml",
        &SEED000_MAPPING.replacen(
            "communication.external.send",
            "communications.external.send",
            1,
        ),
    );
    let e = failure(&ws, &[]);
    assert!(e.contains("communications.external.send"), "{e}");
    insta::assert_snapshot!("unknown_class", e);
}

#[test]
fn empty_mapping_file() {
    let (ws, _) = good("startup_empty_mapping");
    ws.write("mapping-rules.toml", "# nothing here\n");
    let e = failure(&ws, &[]);
    assert!(e.contains("mapping-rules.toml"), "{e}");
    insta::assert_snapshot!("empty_mapping", e);
}

#[test]
fn missing_mapping_file() {
    let (ws, _) = good("startup_missing_mapping");
    std::fs::remove_file(ws.path("mapping-rules.toml")).unwrap();
    let e = failure(&ws, &[]);
    assert!(e.contains("[WS]/mapping-rules.toml"), "{e}");
    insta::assert_snapshot!("missing_mapping", e);
}

#[test]
fn invalid_policy() {
    let (ws, _) = good("startup_invalid_policy");
    ws.write(
        "policies/default.cedar",
        "permit(principal, action, resource) when { ;\n",
    );
    let e = failure(&ws, &[]);
    assert!(e.contains("default.cedar"), "{e}");
    insta::assert_snapshot!("invalid_policy", e);
}

#[test]
fn policy_dir_without_policies() {
    let (ws, _) = good("startup_no_policies");
    std::fs::remove_file(ws.path("policies/default.cedar")).unwrap();
    let e = failure(&ws, &[]);
    insta::assert_snapshot!("no_policies", e);
}

#[test]
fn listen_address_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let ws = Workspace::new("startup_addr_in_use");
    let cfg = Config {
        listen: addr.to_string(),
        ..Config::default()
    };
    ws.setup(SEED000_MAPPING, SEED000_POLICY, &cfg);
    let e = failure(&ws, &[(&addr.to_string(), "[ADDR]")]);
    assert!(e.contains("[ADDR]"), "{e}");
    insta::assert_snapshot!("addr_in_use", e);
    drop(taken);
}

#[test]
fn audit_file_cannot_be_opened() {
    let ws = Workspace::new("startup_audit_file");
    let cfg = Config {
        sink: Sink::File("no-such-dir/audit.jsonl".into()),
        ..Config::default()
    };
    ws.setup(SEED000_MAPPING, SEED000_POLICY, &cfg);
    let e = failure(&ws, &[]);
    assert!(e.contains("[WS]/no-such-dir/audit.jsonl"), "{e}");
    insta::assert_snapshot!("audit_file", e);
}

// SDC-1: `FIRMA_CONFIG` is used without `-c`; relative paths follow the
// config file (CFG-6).
#[test]
fn config_from_firma_config_env() {
    let ws = Workspace::new("startup_env_config");
    ws.setup(SEED000_MAPPING, PERMIT_ALL, &Config::default());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firma"));
    cmd.arg("sidecar")
        .arg("--state-dir")
        .arg(ws.path("state"))
        .env("FIRMA_CONFIG", ws.path("firma.toml"))
        .env_remove("FIRMA_STATE_DIR")
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let sc = Sidecar::try_spawn(cmd).unwrap_or_else(|f| panic!("{}", f.stderr_text()));
    let msgs = sc.stderr_lines();
    assert!(
        msgs.iter()
            .any(|l| log_message(l) == "loaded 2 mapping rules"),
        "{}",
        msgs.join("\n")
    );
    let r = curl(&sc.proxy_url(), &["http://127.0.0.9:1/"]);
    // Unmapped under default_protected = true: the config file was read.
    r.resp().assert_deny("MappingNotFound");
    assert_eq!(ws.audit().expect_records(1).len(), 1);
}

// SDC-1: the nearest `.firma/firma.toml` walking up from the working directory.
#[test]
fn config_discovered_walking_up() {
    let ws = Workspace::new("startup_discovered_config");
    let cfg = Config {
        rules_path: "../mapping-rules.toml".into(),
        policy_dir: "../policies".into(),
        sink: Sink::File("../logs/audit.jsonl".into()),
        signing_key_path: "../audit.key".into(),
        ..Config::default()
    };
    ws.setup(SEED000_MAPPING, PERMIT_ALL, &cfg);
    ws.write(".firma/firma.toml", &cfg.render());
    std::fs::create_dir_all(ws.path("project/src/deep")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firma"));
    cmd.arg("sidecar")
        .arg("--state-dir")
        .arg(ws.path("state"))
        .env_remove("FIRMA_CONFIG")
        .env_remove("FIRMA_STATE_DIR")
        .current_dir(ws.path("project/src/deep"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let sc = Sidecar::try_spawn(cmd).unwrap_or_else(|f| panic!("{}", f.stderr_text()));
    let r = curl(&sc.proxy_url(), &["http://127.0.0.9:1/"]);
    r.resp().assert_deny("MappingNotFound");
    assert_eq!(ws.audit().expect_records(1).len(), 1);
}
