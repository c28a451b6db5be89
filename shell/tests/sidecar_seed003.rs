//! Seed 003 ("Extend the action-class mapping") against the real binary:
//! `rules_path` + `rules_paths` merged at start-up (SDC-2, CFG-16), a call
//! classified by the extension (MAP-1, AUD-3), duplicate rules across files
//! and a mistyped action class stopping start-up (SDC-4, MAP-3, MAP-9), and
//! the one-label wildcard host (MAP-5).

mod support;

use serde_json::{Value, json};
use support::sidecar::log_message;
use support::{Config, PERMIT_ALL, Upstream, Workspace, curl, field};

/// Base rules (the project's general mappings).
const BASE: &str = r#"[[rules]]
method = "GET"
host = "wttr.in"
path = "*"
action_class = "communication.external.send"

[[rules]]
method = "POST"
host = "paste.rs"
path = "*"
action_class = "communication.external.send"
"#;

/// The seed's `acme-saas.toml`, verbatim.
const ACME: &str = r#"# Mappings for acme-saas.com.
[[rules]]
method = "GET"
host = "api.acme-saas.com"
path = "/api/v1/users/*"
action_class = "credential.read"
[[rules]]
method = "POST"
host = "api.acme-saas.com"
path = "/api/v1/users/*/notify"
action_class = "communication.external.send"
[[rules]]
method = "POST"
host = "api.acme-saas.com"
path = "/api/v1/transfers"
action_class = "payment.transfer"
"#;

fn config(up: &Upstream) -> Config {
    let mut c = Config {
        rules_path: "default-mapping.toml".into(),
        rules_paths: vec!["acme-saas.toml".into()],
        default_protected: true,
        ..Config::default()
    };
    for h in [
        "api.acme-saas.com:80",
        "auth.acme-saas.com:80",
        "api.dev.acme-saas.com:80",
        "acme-saas.com:80",
    ] {
        c = c.resolve(h, up.addr);
    }
    c
}

fn workspace(name: &str, base: &str, ext: &str, up: &Upstream) -> Workspace {
    let ws = Workspace::new(name);
    ws.write("default-mapping.toml", base);
    ws.write("acme-saas.toml", ext);
    ws.write("policies/default.cedar", PERMIT_ALL);
    ws.write("firma.toml", &config(up).render());
    ws
}

// SDC-2, CFG-16, MAP-1, AUD-3, MAP-12 (provider null for own hosts)
#[test]
fn seed003_extension_is_merged_and_classifies() {
    let up = Upstream::start();
    let ws = workspace("seed003_merged", BASE, ACME, &up);
    let sc = ws.start();
    let lines = sc.stderr_lines();
    let msgs: Vec<&str> = lines.iter().map(|l| log_message(l)).collect();
    let i = msgs.iter().position(|m| *m == "loaded 2 mapping files");
    let j = msgs
        .iter()
        .position(|m| *m == "5 total rules (2 base + 3 extension)");
    assert!(
        matches!((i, j), (Some(i), Some(j)) if i < j),
        "start-up log lacks the merge lines; stderr:\n{}",
        lines.join("\n")
    );

    let r = curl(
        &sc.proxy_url(),
        &["http://api.acme-saas.com/api/v1/users/42"],
    );
    assert_eq!(r.resp().status, 200, "{}", r.resp().text());
    assert_eq!(up.seen()[0].target, "/api/v1/users/42");

    let recs = ws.audit().expect_records(1);
    let rec = &recs[0];
    assert_eq!(field(rec, "decision.outcome"), "ALLOW");
    assert_eq!(
        field(rec, "envelope.intent"),
        &json!({"action_class": "credential.read", "method": "GET", "query": null, "scheme": "http",
                "resource": {"host": "api.acme-saas.com", "path": "/api/v1/users/42", "provider": null}})
    );
    assert!(
        field(rec, "decision.rule")
            .as_str()
            .is_some_and(|r| r.ends_with("acme-saas.toml#1")),
        "rule {}",
        field(rec, "decision.rule")
    );
    ws.audit().verify().assert_ok();
}

// SDC-4, MAP-9: a duplicate across files stops start-up naming both files.
#[test]
fn seed003_duplicate_rule_across_files_fails_startup() {
    let up = Upstream::start();
    let base = format!(
        "{BASE}\n[[rules]]\nmethod = \"POST\"\nhost = \"api.acme-saas.com\"\npath = \"/api/v1/users/*/notify\"\naction_class = \"communication.external.send\"\n"
    );
    let ws = workspace("seed003_duplicate", &base, ACME, &up);
    let f = ws.start_failure();
    assert_eq!(f.code, Some(2), "stderr:\n{}", f.stderr_text());
    let err = f.stderr_text();
    for want in [
        "duplicate",
        "default-mapping.toml",
        "acme-saas.toml",
        "POST api.acme-saas.com /api/v1/users/*/notify",
    ] {
        assert!(err.contains(want), "stderr lacks {want:?}:\n{err}");
    }
    assert!(
        !err.contains("sidecar ready"),
        "a failed start said ready:\n{err}"
    );
    assert!(
        ws.audit().text().is_empty(),
        "a failed start wrote audit records"
    );
}

// SDC-4, MAP-3: the seed's typo stops start-up naming the class.
#[test]
fn seed003_unknown_action_class_fails_startup() {
    let up = Upstream::start();
    let ext = ACME.replacen(
        "action_class = \"communication.external.send\"",
        "action_class = \"communications.external.send\"",
        1,
    );
    let ws = workspace("seed003_typo", BASE, &ext, &up);
    let f = ws.start_failure();
    assert_eq!(f.code, Some(2), "stderr:\n{}", f.stderr_text());
    let err = f.stderr_text();
    for want in [
        "acme-saas.toml",
        "unknown action class `communications.external.send`",
        "did you mean `communication.external.send`",
    ] {
        assert!(err.contains(want), "stderr lacks {want:?}:\n{err}");
    }
    assert!(ws.audit().text().is_empty());
}

// MAP-5: `*.acme-saas.com` matches one label: api. and auth., not api.dev. or
// the bare domain (those are unmapped and, protected, denied).
#[test]
fn seed003_wildcard_matches_exactly_one_label() {
    let up = Upstream::start();
    let ext = "[[rules]]\nmethod = \"GET\"\nhost = \"*.acme-saas.com\"\npath = \"*\"\naction_class = \"credential.read\"\n";
    let ws = workspace("seed003_wildcard", BASE, ext, &up);
    let sc = ws.start();
    let proxy = sc.proxy_url();
    for host in ["api.acme-saas.com", "auth.acme-saas.com"] {
        let r = curl(&proxy, &[&format!("http://{host}/x")]);
        assert_eq!(r.resp().status, 200, "{host}: {}", r.resp().text());
    }
    for host in ["api.dev.acme-saas.com", "acme-saas.com"] {
        let r = curl(&proxy, &[&format!("http://{host}/x")]);
        r.resp().assert_deny("MappingNotFound");
    }
    assert_eq!(
        up.seen().len(),
        2,
        "only the two matching hosts reached upstream"
    );
    let recs = ws.audit().expect_records(4);
    let classes: Vec<&Value> = recs
        .iter()
        .map(|r| field(r, "envelope.intent.action_class"))
        .collect();
    assert_eq!(
        classes,
        [
            &json!("credential.read"),
            &json!("credential.read"),
            &Value::Null,
            &Value::Null
        ]
    );
}
