//! Plain HTTP forwarding (SDC-5, SDC-6, SDC-11, NRM-15, AUD-6) and real
//! Python clients (`requests`, `urllib`) through the proxy, allowed and denied.

mod support;

use std::process::Command;

use support::{
    Config, Conn, SEED000_MAPPING, SEED000_POLICY, Upstream, Workspace, curl, field, python,
};

fn start(name: &str, up: &Upstream) -> (Workspace, support::Sidecar) {
    let ws = Workspace::new(name);
    let cfg = Config {
        default_protected: false,
        ..Config::default()
    }
    .resolve("wttr.in:80", up.addr)
    .resolve("paste.rs:80", up.addr)
    .resolve("example.org:80", up.addr);
    ws.setup(SEED000_MAPPING, SEED000_POLICY, &cfg);
    let sc = ws.start();
    (ws, sc)
}

// SDC-5: keep-alive across requests; origin form with the normalized path
// (NRM-12, NRM-15); SDC-11: Host unchanged.
#[test]
fn keep_alive_and_normalized_origin_form() {
    let up = Upstream::start();
    let (ws, sc) = start("proxy_keepalive", &up);
    let mut c = Conn::open(sc.addr);
    let r1 = c.get("http://wttr.in/a/./b/../c?format=3").unwrap();
    assert_eq!(r1.status, 200, "{}", r1.text());
    let r2 = c.get("http://wttr.in//x//y/").unwrap();
    assert_eq!(r2.status, 200, "second request on the same connection");
    let r3 = c.get("http://example.org/").unwrap();
    assert_eq!(r3.status, 200, "third request, another host");
    let seen = up.seen();
    assert_eq!(seen[0].target, "/a/c?format=3");
    assert_eq!(seen[1].target, "/x/y/");
    assert_eq!(seen[0].header("host"), Some("wttr.in"));
    assert_eq!(seen[2].header("host"), Some("example.org"));
    ws.audit().expect_records(3);
}

// SDC-5: chunked bodies in both directions, every method proxied.
#[test]
fn chunked_bodies_both_directions() {
    let up = Upstream::start();
    let (_ws, sc) = start("proxy_chunked", &up);
    let mut c = Conn::open(sc.addr);
    let r = c
        .send(b"PUT http://example.org/upload HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.seen()[0].body, b"hello world");
    assert_eq!(up.seen()[0].method, "PUT");
    let r = c.get("http://example.org/chunked").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "chunk-one;chunk-two");
    // A Content-Length body from curl.
    let r = curl(
        &sc.proxy_url(),
        &[
            "-X",
            "PATCH",
            "http://example.org/p",
            "--data-binary",
            "0123456789",
        ],
    );
    assert_eq!(
        r.resp().text(),
        "upstream saw PATCH /p host=example.org body=10"
    );
    assert_eq!(up.seen()[2].body, b"0123456789");
}

// SDC-6: hop-by-hop headers (and those named in Connection) are not forwarded;
// Proxy-Authorization never reaches the upstream.
#[test]
fn hop_by_hop_headers_are_dropped() {
    let up = Upstream::start();
    let (_ws, sc) = start("proxy_hop_by_hop", &up);
    let mut c = Conn::open(sc.addr);
    let r = c
        .send(b"GET http://wttr.in/h HTTP/1.1\r\nHost: wttr.in\r\nProxy-Authorization: Basic c2VjcmV0OnNlY3JldA==\r\nProxy-Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nConnection: X-Hop-Secret, keep-alive\r\nX-Hop-Secret: 1\r\nTE: trailers\r\nUpgrade: websocket\r\nX-End-To-End: kept\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = &up.seen()[0];
    for h in [
        "proxy-authorization",
        "proxy-connection",
        "keep-alive",
        "x-hop-secret",
        "te",
        "upgrade",
    ] {
        assert!(
            seen.header(h).is_none(),
            "{h} was forwarded: {:?}",
            seen.headers
        );
    }
    assert_eq!(seen.header("x-end-to-end"), Some("kept"));
    // curl's own proxy credentials.
    let r = curl(
        &sc.proxy_url(),
        &["--proxy-user", "agent:hunter2", "http://wttr.in/cred"],
    );
    assert_eq!(r.resp().status, 200);
    assert!(up.seen()[1].header("proxy-authorization").is_none());
}

// AUD-6: sensitive query values are redacted in the record, not upstream.
#[test]
fn query_secrets_are_redacted_in_the_audit_only() {
    let up = Upstream::start();
    let (ws, sc) = start("proxy_redaction", &up);
    let r = curl(
        &sc.proxy_url(),
        &["http://wttr.in/q?format=3&API_KEY=abc123&token=t0k"],
    );
    assert_eq!(r.resp().status, 200);
    assert_eq!(up.seen()[0].target, "/q?format=3&API_KEY=abc123&token=t0k");
    let recs = ws.audit().expect_records(1);
    assert_eq!(
        field(&recs[0], "envelope.intent.query"),
        "format=3&API_KEY=<redacted>&token=<redacted>"
    );
    assert!(!ws.audit().text().contains("abc123"));
}

const REQUESTS: &str = r#"
import json, sys, requests
proxy = sys.argv[1]
p = {"http": proxy, "https": proxy}
ok = requests.get("http://wttr.in/london?format=3", proxies=p, timeout=10)
deny = requests.post("http://paste.rs/", data=b"leaked", proxies=p, timeout=10)
print(json.dumps({"ok": [ok.status_code, ok.text],
                  "deny": [deny.status_code, deny.headers.get("content-type"), deny.json()]}))
"#;

const URLLIB: &str = r#"
import json, sys, urllib.request, urllib.error
proxy = sys.argv[1]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy, "https": proxy}))
ok = opener.open("http://wttr.in/london?format=3", timeout=10)
res = {"ok": [ok.status, ok.read().decode()]}
try:
    opener.open(urllib.request.Request("http://paste.rs/", data=b"leaked", method="POST"), timeout=10)
    res["deny"] = "not denied"
except urllib.error.HTTPError as e:
    res["deny"] = [e.code, e.headers.get("content-type"), json.loads(e.read())]
print(json.dumps(res))
"#;

fn run_python(script: &str, name: &str) {
    let up = Upstream::start();
    let (ws, sc) = start(name, &up);
    let out = python(script, &[&sc.proxy_url()]);
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"][0], 200);
    assert_eq!(
        v["ok"][1],
        "upstream saw GET /london?format=3 host=wttr.in body=0"
    );
    assert_eq!(v["deny"][0], 403, "{v}");
    assert_eq!(v["deny"][1], "application/json");
    assert_eq!(v["deny"][2]["denied"], true);
    assert_eq!(v["deny"][2]["reason"], "PolicyDenied");
    assert_eq!(up.seen().len(), 1, "the denied POST reached the upstream");
    let recs = ws.audit().expect_records(2);
    assert_eq!(field(&recs[1], "event_id"), &v["deny"][2]["event_id"]);
}

#[test]
fn python_requests_allowed_and_denied() {
    let probe = Command::new("python3")
        .args(["-c", "import requests"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("SKIP: python3 with `requests` is not installed");
        return;
    }
    run_python(REQUESTS, "proxy_python_requests");
}

#[test]
fn python_urllib_allowed_and_denied() {
    run_python(URLLIB, "proxy_python_urllib");
}
