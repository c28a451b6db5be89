//! Seed 000 ("Run the sidecar standalone") step by step against the real
//! binary: the seed's config, key, rules and policy; the start-up log
//! (SDC-1, SDC-2); an ALLOW, a DENY and a PASSTHROUGH through the proxy
//! (SDC-5, SDC-7, SDC-11, DEC-4, DEC-8, DEC-13); the audit records the seed
//! describes and `firma audit verify` with the private and the public key
//! (SDC-14, SDC-15, AUD-3, AUD-7, AUD-11, AUD-12, AUD-14, AUD-21).

mod support;

use std::process::Command;

use firma_core::UnixTime;
use serde_json::{Value, json};
use support::audit::{by_event, verify_with};
use support::sidecar::log_message;
use support::{AuditLog, SEED000_MAPPING, SEED000_POLICY, Upstream, Workspace, curl, field};

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The seed's step 5 config with the workspace's paths, an ephemeral port and
/// `resolve` entries so the seed's hosts reach the local upstream.
fn seed_config(ws: &Workspace, up: &Upstream) -> String {
    let d = ws.dir.display();
    format!(
        r#"[sidecar.interceptor]
mode = "http_proxy"
listen_addr = "127.0.0.1:0"
drain_timeout_secs = 5

[sidecar.mapping]
rules_path = "{d}/config/mapping-rules.toml"
default_protected = false

[sidecar.policy]
dir = "{d}/config/policies"

[sidecar.constraint_enforcement]
bundle_ttl_seconds = 3600
enforcement_timeout_ms = 50

[sidecar.audit]
sink = "file"
file_path = "{d}/logs/audit.jsonl"
signing_key_path = "{d}/audit.key"

[sidecar.log]
level = "info"

[sidecar.upstream]
resolve = {{ "wttr.in:80" = "{a}", "paste.rs:80" = "{a}", "example.org:80" = "{a}" }}
"#,
        a = up.addr
    )
}

#[test]
fn seed000_standalone_walkthrough() {
    let up = Upstream::start();
    let ws = Workspace::new("seed000_walkthrough");
    let d = ws.dir.to_str().unwrap().to_owned();

    // Step 2: generate the audit signing key exactly as the seed does.
    std::fs::remove_file(ws.path("audit.key")).unwrap();
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &format!("{d}/audit.key"),
    ]);
    openssl(&[
        "pkey",
        "-in",
        &format!("{d}/audit.key"),
        "-pubout",
        "-out",
        &format!("{d}/audit.pub.pem"),
    ]);
    // Steps 3-5: rules, policy, the demo schema, config.
    ws.write("config/mapping-rules.toml", SEED000_MAPPING);
    ws.write("config/policies/default.cedar", SEED000_POLICY);
    std::fs::copy(
        support::fixtures().join("../examples/demo/policies/schema.cedarschema"),
        ws.path("config/policies/schema.cedarschema"),
    )
    .unwrap();
    let config = ws.write("config/firma.toml", &seed_config(&ws, &up));

    // Step 6: start; SDC-2 start-up lines in order, `sidecar ready` last.
    let sc = support::Sidecar::start(&config, &ws.path("state"));
    let lines = sc.stderr_lines();
    let expected = [
        "loading mapping rules".to_owned(),
        "loaded 2 mapping rules".to_owned(),
        format!("loading policy bundle from {d}/config/policies"),
        "bundle compiled (1 file, 2 policies)".to_owned(),
        format!("listening on {}", sc.addr),
        format!("file sink ready {d}/logs/audit.jsonl"),
        "sidecar ready".to_owned(),
    ];
    let messages: Vec<&str> = lines.iter().map(|l| log_message(l)).collect();
    let mut at = 0;
    for want in &expected {
        match messages[at..].iter().position(|m| m == want) {
            Some(i) => at += i + 1,
            None => panic!(
                "start-up log lacks {want:?} (in order); stderr:\n{}",
                lines.join("\n")
            ),
        }
    }
    assert_eq!(
        messages.last(),
        Some(&"sidecar ready"),
        "ready is the last line"
    );
    // `<RFC 3339 time> <LEVEL> <target>: <message>`
    for line in &lines {
        let mut parts = line.split_whitespace();
        let time = parts.next().unwrap_or_default();
        assert!(
            UnixTime::parse_rfc3339(time).is_some(),
            "log time {time:?} in {line:?}"
        );
        assert_eq!(parts.next(), Some("INFO"), "level in {line:?}");
        let target = parts.next().unwrap_or_default();
        assert!(
            target.starts_with("firma") && target.ends_with(':'),
            "target in {line:?}"
        );
    }
    assert!(sc.addr.ip().is_loopback() && sc.addr.port() != 0);

    // Step 7: ALLOW.
    let proxy = sc.proxy_url();
    let r = curl(&proxy, &["http://wttr.in/london?format=3"]);
    let resp = r.resp();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.text(),
        "upstream saw GET /london?format=3 host=wttr.in body=0"
    );
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(
        seen[0].target, "/london?format=3",
        "origin form upstream (SDC-5)"
    );
    assert_eq!(seen[0].header("host"), Some("wttr.in"));

    // Step 7: DENY, answered by the sidecar alone (SDC-7, DEC-13).
    let r = curl(&proxy, &["-X", "POST", "http://paste.rs/", "-d", "leaked"]);
    let deny = r.resp().assert_deny("PolicyDenied");
    assert_eq!(up.seen().len(), 1, "the denied POST reached the upstream");
    assert_eq!(up.accepts(), 1, "the deny opened an upstream connection");

    // Unmapped with default_protected = false: PASSTHROUGH (DEC-4).
    let r = curl(&proxy, &["http://example.org/hello"]);
    assert_eq!(r.resp().status, 200);
    assert_eq!(
        r.resp().text(),
        "upstream saw GET /hello host=example.org body=0"
    );

    // Step 8: the audit log.
    let log = AuditLog::new(ws.path("logs/audit.jsonl"), ws.path("audit.key"));
    let recs = log.expect_records(3);
    let class = "communication.external.send";
    let allow = &recs[0];
    assert_eq!(field(allow, "schema"), "firma.audit.v1");
    assert_eq!(field(allow, "seq"), 0);
    assert_eq!(field(allow, "prev_hash"), &json!("0".repeat(64)));
    assert_eq!(field(allow, "decision.outcome"), "ALLOW");
    assert_eq!(field(allow, "decision.reason"), &Value::Null);
    assert_eq!(field(allow, "decision.stage"), "policy");
    assert_eq!(
        field(allow, "decision.matched_policies"),
        &json!(["default.cedar#0"])
    );
    let bv = field(allow, "decision.bundle_version").as_str().unwrap();
    assert!(
        bv.len() == 64 && bv.bytes().all(|b| b.is_ascii_hexdigit()),
        "{bv}"
    );
    assert_eq!(
        field(allow, "envelope.intent"),
        &json!({"action_class": class, "method": "GET", "query": "format=3", "scheme": "http",
                "resource": {"host": "wttr.in", "path": "/london", "provider": null}})
    );
    for k in ["session_id", "agent_id", "token_id"] {
        assert_eq!(
            field(allow, k),
            &Value::Null,
            "{k} in policy-only mode (DEC-7)"
        );
    }

    let denied = by_event(&recs, deny["event_id"].as_str().unwrap());
    assert_eq!(field(denied, "seq"), 1);
    assert_eq!(field(denied, "decision.outcome"), "DENY");
    assert_eq!(field(denied, "decision.reason"), "PolicyDenied");
    assert_eq!(field(denied, "decision.detail"), &deny["detail"]);
    assert_eq!(
        field(denied, "decision.matched_policies"),
        &json!(["default.cedar#1"])
    );
    assert_eq!(field(denied, "envelope.intent.action_class"), class);
    assert_eq!(field(denied, "envelope.intent.method"), "POST");
    assert_eq!(field(denied, "envelope.intent.resource.host"), "paste.rs");
    assert_eq!(field(denied, "envelope.intent.resource.path"), "/");

    let pass = &recs[2];
    assert_eq!(field(pass, "seq"), 2);
    assert_eq!(field(pass, "decision.outcome"), "PASSTHROUGH");
    assert_eq!(field(pass, "decision.reason"), &Value::Null);
    assert_eq!(field(pass, "decision.stage"), "mapping");
    assert_eq!(field(pass, "decision.matched_policies"), &json!([]));
    assert_eq!(field(pass, "envelope.intent.action_class"), &Value::Null);
    assert_eq!(field(pass, "envelope.intent.resource.host"), "example.org");

    // The signature block names the key: sha256 of the SPKI DER (AUD-12).
    let der = openssl(&[
        "pkey",
        "-in",
        &format!("{d}/audit.key"),
        "-pubout",
        "-outform",
        "DER",
    ]);
    let digest = openssl_sha256(&der);
    for r in &recs {
        assert_eq!(field(r, "signature.alg"), "ES256");
        assert_eq!(
            field(r, "signature.key_id"),
            &json!(format!("sha256:{digest}"))
        );
    }

    // `firma audit verify` accepts the log with the private and the public key.
    assert_eq!(log.verify().assert_ok(), 3);
    assert_eq!(
        verify_with(&ws.path("audit.pub.pem"), &log.path).assert_ok(),
        3
    );

    // The classifying rule is `<file name>#<1-based index>` (MAP-1, AUD-7):
    // the file's name, not the path it was loaded from.
    assert_eq!(field(allow, "decision.rule"), "mapping-rules.toml#1");
    assert_eq!(field(denied, "decision.rule"), "mapping-rules.toml#2");
    assert_eq!(field(pass, "decision.rule"), &Value::Null);
}

fn openssl_sha256(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}
