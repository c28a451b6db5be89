//! Every reason code the Sidecar can produce without an Authority, through the
//! real binary: status, DEC-13 JSON body, audit record, and — for denies — an
//! upstream that saw nothing (SDC-7, SDC-9, SDC-10, SDC-12, SDC-13, SDC-14,
//! DEC-2, DEC-3, DEC-8, DEC-12, DEC-13, DEC-15, TTL-1, TTL-2).
//!
//! `EnforcementTimeout` is reached for real with a deliberately expensive
//! bundle and a 1 ms budget. Not reached here: `FailClosed` (the Cedar
//! request cannot be built) has no trigger from the wire; the Authority
//! reasons (`PolicyBundleNotReady`, `RevocationCacheNotReady`, `Token*`,
//! `ScopeViolation`) need an Authority.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use serde_json::{Value, json};
use support::audit::by_event;
use support::{
    Behavior, Config, Conn, PERMIT_ALL, SEED000_MAPPING, SEED000_POLICY, Upstream, Workspace,
    closed_port, curl, field, raw_exchange,
};

const WTTR_RULE: &str = "[[rules]]\nmethod = \"GET\"\nhost = \"wttr.in\"\npath = \"*\"\naction_class = \"communication.external.send\"\n";

/// Asserts the audit record of a deny body.
fn assert_record(recs: &[Value], body: &Value, outcome: &str, reason: &str, stage: &str) -> Value {
    let rec = by_event(recs, body["event_id"].as_str().unwrap());
    assert_eq!(field(rec, "decision.outcome"), outcome, "{rec}");
    assert_eq!(field(rec, "decision.reason"), reason, "{rec}");
    assert_eq!(field(rec, "decision.stage"), stage, "{rec}");
    assert_eq!(field(rec, "decision.detail"), &body["detail"], "{rec}");
    rec.clone()
}

/// AUD-5: a malformed request has no intent.
fn assert_no_intent(rec: &Value) {
    assert_eq!(
        field(rec, "envelope.intent"),
        &json!({"action_class": null, "method": null, "scheme": null, "query": null,
                "resource": {"host": null, "path": null, "provider": null}}),
        "{rec}"
    );
}

// DEC-3: unmapped + default_protected = true.
#[test]
fn mapping_not_found() {
    let up = Upstream::start();
    let ws = Workspace::new("reasons_mapping_not_found");
    ws.setup(
        WTTR_RULE,
        PERMIT_ALL,
        &Config::default().resolve("example.org:80", up.addr),
    );
    let sc = ws.start();
    let r = curl(&sc.proxy_url(), &["http://example.org/secret"]);
    let body = r.resp().assert_deny("MappingNotFound");
    up.assert_untouched("MappingNotFound");
    let recs = ws.audit().expect_records(1);
    let rec = assert_record(&recs, &body, "DENY", "MappingNotFound", "mapping");
    assert_eq!(field(&rec, "envelope.intent.action_class"), &Value::Null);
    assert_eq!(field(&rec, "envelope.intent.resource.host"), "example.org");
    assert_eq!(field(&rec, "decision.matched_policies"), &json!([]));
}

// DEC-8: Cedar forbid.
#[test]
fn policy_denied() {
    let up = Upstream::start();
    let ws = Workspace::new("reasons_policy_denied");
    ws.setup(
        SEED000_MAPPING,
        SEED000_POLICY,
        &Config::default().resolve("paste.rs:80", up.addr),
    );
    let sc = ws.start();
    let r = curl(
        &sc.proxy_url(),
        &["-X", "POST", "http://paste.rs/", "-d", "x"],
    );
    let body = r.resp().assert_deny("PolicyDenied");
    up.assert_untouched("PolicyDenied");
    let recs = ws.audit().expect_records(1);
    let rec = assert_record(&recs, &body, "DENY", "PolicyDenied", "policy");
    assert_eq!(
        field(&rec, "decision.matched_policies"),
        &json!(["default.cedar#1"])
    );
}

// SDC-12, TTL-1, TTL-2: a 1 s bundle goes stale; mapped calls are denied,
// unmapped PASSTHROUGH is unaffected.
#[test]
fn policy_bundle_stale() {
    let up = Upstream::start();
    let ws = Workspace::new("reasons_bundle_stale");
    let cfg = Config {
        bundle_ttl_seconds: 1,
        default_protected: false,
        ..Config::default()
    }
    .resolve("wttr.in:80", up.addr)
    .resolve("example.org:80", up.addr);
    ws.setup(WTTR_RULE, PERMIT_ALL, &cfg);
    let sc = ws.start();
    // Behaviour wait: let the 1 s lifetime run out (counted from load time).
    std::thread::sleep(Duration::from_millis(1300));
    let r = curl(&sc.proxy_url(), &["http://wttr.in/london"]);
    let body = r.resp().assert_deny("PolicyBundleStale");
    up.assert_untouched("stale bundle");
    let r = curl(&sc.proxy_url(), &["http://example.org/"]);
    assert_eq!(r.resp().status, 200, "unmapped passthrough after staleness");
    let recs = ws.audit().expect_records(2);
    assert_record(&recs, &body, "DENY", "PolicyBundleStale", "policy");
    assert_eq!(field(&recs[1], "decision.outcome"), "PASSTHROUGH");
}

// DEC-2, NRM-1, NRM-4, NRM-5, NRM-6 via raw bytes: either the 403 JSON deny
// (parsed but ambiguous) or, for heads the HTTP layer rejects, 400 (SDC-13);
// both are audited as DENY MalformedRequest with no intent, nothing forwarded.
#[test]
fn malformed_requests() {
    let up = Upstream::start();
    let ws = Workspace::new("reasons_malformed");
    let cfg = Config {
        default_protected: false,
        ..Config::default()
    }
    .resolve("wttr.in:80", up.addr)
    .resolve("paste.rs:80", up.addr);
    ws.setup(WTTR_RULE, PERMIT_ALL, &cfg);
    let sc = ws.start();
    let cases: [(&str, &[u8], bool); 6] = [
        (
            "host header disagrees with target",
            b"GET http://wttr.in/ HTTP/1.1\r\nHost: paste.rs\r\n\r\n",
            false,
        ),
        (
            "userinfo",
            b"GET http://wttr.in@paste.rs/ HTTP/1.1\r\nHost: paste.rs\r\n\r\n",
            false,
        ),
        (
            "lower-case method",
            b"get http://wttr.in/ HTTP/1.1\r\nHost: wttr.in\r\n\r\n",
            false,
        ),
        (
            "Content-Length then Transfer-Encoding",
            b"POST http://wttr.in/ HTTP/1.1\r\nHost: wttr.in\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            true,
        ),
        (
            "Transfer-Encoding then Content-Length",
            b"POST http://wttr.in/ HTTP/1.1\r\nHost: wttr.in\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
            true,
        ),
        (
            "two Host headers",
            b"GET http://wttr.in/ HTTP/1.1\r\nHost: wttr.in\r\nHost: paste.rs\r\n\r\n",
            false,
        ),
    ];
    let mut expected_records = 0;
    let mut failures = Vec::new();
    for (name, bytes, may_400) in cases {
        let resp = raw_exchange(sc.addr, bytes).unwrap();
        expected_records += 1;
        let Some(resp) = resp else {
            failures.push(format!("{name}: connection closed without an answer"));
            continue;
        };
        if may_400 && resp.status == 400 {
            continue;
        }
        if resp.status != 403 || resp.json()["reason"] != "MalformedRequest" {
            failures.push(format!(
                "{name}: got {} {:?}, expected 403 MalformedRequest",
                resp.status,
                resp.text()
            ));
            continue;
        }
        let body = resp.assert_deny("MalformedRequest");
        let recs = ws.audit().wait_records(expected_records);
        let rec = by_event(&recs, body["event_id"].as_str().unwrap());
        assert_eq!(field(rec, "decision.stage"), "normalization", "{name}");
        assert_no_intent(rec);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(up.seen().is_empty(), "forwarded: {:?}", up.seen());
    assert_eq!(
        up.accepts(),
        0,
        "a malformed request opened an upstream connection"
    );
    let recs = ws.audit().expect_records(expected_records);
    for rec in &recs {
        assert_eq!(field(rec, "decision.outcome"), "DENY", "{rec}");
        assert_eq!(field(rec, "decision.reason"), "MalformedRequest", "{rec}");
        assert_no_intent(rec);
    }
}

// SDC-13: a head the HTTP parser cannot parse gets 400, the connection is
// closed, and one DENY MalformedRequest record is still written.
#[test]
fn unparsable_head_is_400_and_audited() {
    let up = Upstream::start();
    let ws = Workspace::new("reasons_unparsable");
    ws.setup(
        WTTR_RULE,
        PERMIT_ALL,
        &Config::default().resolve("wttr.in:80", up.addr),
    );
    let sc = ws.start();
    let mut c = Conn::open(sc.addr);
    let resp = c
        .send(b"GET http://wttr.in/ HTTP/1.1\r\nHost: wttr.in\r\nthis is not a header\r\n\r\n")
        .unwrap();
    assert_eq!(resp.status, 400);
    // The connection is closed after the 400.
    let mut buf = [0u8; 1];
    let n = std::io::Read::read(&mut c.stream, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "connection still open after 400");
    up.assert_untouched("unparsable head");
    let recs = ws.audit().expect_records(1);
    assert_eq!(field(&recs[0], "decision.outcome"), "DENY");
    assert_eq!(field(&recs[0], "decision.reason"), "MalformedRequest");
    assert_no_intent(&recs[0]);
}

// SDC-9, DEC-15: the sidecar's own listener, in every loopback spelling, for
// plain HTTP and CONNECT, is denied before mapping (default_protected = false
// proves it is not MappingNotFound).
#[test]
fn protected_endpoint_own_listener() {
    let ws = Workspace::new("reasons_protected");
    ws.setup(
        WTTR_RULE,
        PERMIT_ALL,
        &Config {
            default_protected: false,
            ..Config::default()
        },
    );
    let sc = ws.start();
    let p = sc.addr.port();
    let gets = [
        format!("http://127.0.0.1:{p}/"),
        format!("http://localhost:{p}/status"),
        format!("http://127.1:{p}/"),
        format!("http://[::1]:{p}/"),
        format!("http://[::ffff:127.0.0.1]:{p}/"),
        format!("http://127.0.0.2:{p}/"),
    ];
    let mut n = 0;
    for url in &gets {
        let authority = url.trim_start_matches("http://").split('/').next().unwrap();
        let req = format!("GET {url} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
        let resp = raw_exchange(sc.addr, req.as_bytes()).unwrap().expect(url);
        let body = resp.assert_deny("ProtectedEndpoint");
        n += 1;
        let recs = ws.audit().wait_records(n);
        let rec = by_event(&recs, body["event_id"].as_str().unwrap());
        assert_eq!(field(rec, "decision.stage"), "normalization", "{url}");
        assert_eq!(field(rec, "decision.outcome"), "DENY");
    }
    for authority in [format!("127.0.0.1:{p}"), format!("localhost:{p}")] {
        let mut c = Conn::open(sc.addr);
        let resp = c.connect_tunnel(&authority).unwrap();
        resp.assert_deny("ProtectedEndpoint");
        n += 1;
    }
    // SDC-9: the local Authority's listener (`[authority] listen_addr`,
    // default 127.0.0.1:50051) is protected too, even when nothing runs there.
    for authority in ["127.0.0.1:50051", "localhost:50051"] {
        let mut c = Conn::open(sc.addr);
        let resp = c.connect_tunnel(authority).unwrap();
        resp.assert_deny("ProtectedEndpoint");
        n += 1;
    }
    ws.audit().expect_records(n);
}

// SDC-9, DEC-15: a name that *resolves* to the listener is denied too.
#[test]
fn protected_endpoint_after_resolution() {
    // Pick the listen port first so that a resolve entry can point at it.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ws = Workspace::new("reasons_protected_resolved");
    let cfg = Config {
        listen: format!("127.0.0.1:{port}"),
        default_protected: false,
        ..Config::default()
    }
    .resolve("sneaky.test:80", format!("127.0.0.1:{port}"))
    .resolve("sneaky.test:443", format!("127.0.0.1:{port}"));
    ws.setup(WTTR_RULE, PERMIT_ALL, &cfg);
    let sc = ws.start();
    assert_eq!(sc.addr.port(), port);
    let r = curl(&sc.proxy_url(), &["http://sneaky.test/"]);
    r.resp().assert_deny("ProtectedEndpoint");
    let mut c = Conn::open(sc.addr);
    c.connect_tunnel("sneaky.test:443")
        .unwrap()
        .assert_deny("ProtectedEndpoint");
    let recs = ws.audit().expect_records(2);
    for rec in &recs {
        assert_eq!(field(rec, "decision.reason"), "ProtectedEndpoint", "{rec}");
    }
}

// SDC-10, SDC-14, DEC-12: connection refused → 502 ABORT, one record.
#[test]
fn upstream_unavailable() {
    let ws = Workspace::new("reasons_upstream_unavailable");
    ws.setup(
        WTTR_RULE,
        PERMIT_ALL,
        &Config::default().resolve("wttr.in:80", closed_port()),
    );
    let sc = ws.start();
    let r = curl(&sc.proxy_url(), &["http://wttr.in/london"]);
    let body = r.resp().assert_abort(502, "UpstreamUnavailable");
    let recs = ws.audit().expect_records(1);
    let rec = assert_record(&recs, &body, "ABORT", "UpstreamUnavailable", "dispatch");
    assert_eq!(
        field(&rec, "envelope.intent.action_class"),
        "communication.external.send"
    );
    ws.audit().verify().assert_ok();
}

// SDC-10, SDC-14, DEC-12: no response head within upstream_read_timeout_ms →
// 504; the ALLOW record was written before sending, plus an ABORT record at
// stage dispatch naming the forwarded call's event id.
#[test]
fn upstream_timeout() {
    let up = Upstream::with(Behavior::Silent);
    let ws = Workspace::new("reasons_upstream_timeout");
    let cfg = Config {
        upstream_read_timeout_ms: Some(300),
        ..Config::default()
    }
    .resolve("wttr.in:80", up.addr);
    ws.setup(WTTR_RULE, PERMIT_ALL, &cfg);
    let sc = ws.start();
    let r = curl(&sc.proxy_url(), &["http://wttr.in/slow"]);
    let body = r.resp().assert_abort(504, "UpstreamTimeout");
    assert_eq!(up.seen().len(), 1, "the request was sent upstream");
    let recs = ws.audit().expect_records(2);
    assert_eq!(field(&recs[0], "decision.outcome"), "ALLOW");
    let abort = assert_record(&recs, &body, "ABORT", "UpstreamTimeout", "dispatch");
    assert_eq!(field(&abort, "seq"), 1);
    let allow_id = recs[0]["event_id"].as_str().unwrap();
    assert!(
        field(&abort, "decision.detail")
            .as_str()
            .unwrap()
            .contains(allow_id),
        "ABORT detail does not name {allow_id}: {abort}"
    );
    ws.audit().verify().assert_ok();
}

// SDC-12, DEC-11: an enforcement that really takes longer than the budget.
// The bundle holds 5000 policies with glob conditions that Cedar must all
// evaluate (about 5 ms per decision in a debug build on the reference
// machine) plus one permit that matches, so the decision would be ALLOW; with
// `enforcement_timeout_ms = 1` it must become DENY EnforcementTimeout and
// nothing is forwarded. Nothing is faked: the sidecar measures its own time.
#[test]
fn enforcement_timeout_with_an_expensive_bundle() {
    let up = Upstream::start();
    let ws = Workspace::new("reasons_enforcement_timeout");
    let mut policy = String::new();
    for _ in 0..5000 {
        policy.push_str(
            "permit(principal, action, resource) when { context.method like \"*a*b*c*d*e*f*g*h*\" && resource.path like \"*x*y*z*w*v*u*\" };\n",
        );
    }
    policy.push_str("permit(principal, action, resource) when { resource.host == \"wttr.in\" };\n");
    let cfg = Config {
        enforcement_timeout_ms: 1,
        ..Config::default()
    }
    .resolve("wttr.in:80", up.addr);
    ws.setup(WTTR_RULE, &policy, &cfg);
    let sc = ws.start();
    let r = curl(&sc.proxy_url(), &["http://wttr.in/london"]);
    let body = r.resp().assert_deny("EnforcementTimeout");
    up.assert_untouched("EnforcementTimeout");
    let recs = ws.audit().expect_records(1);
    let rec = by_event(&recs, body["event_id"].as_str().unwrap());
    assert_eq!(field(rec, "decision.outcome"), "DENY");
    assert_eq!(field(rec, "decision.reason"), "EnforcementTimeout");
    assert!(
        field(rec, "latency_us").as_u64().unwrap() > 1000,
        "latency_us must show the overrun: {rec}"
    );
}
