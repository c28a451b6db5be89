//! CONNECT without interception (SDC-8, MAP-8, AUD-4): an allowed tunnel
//! relays bytes both ways; a denied one gets the 403 JSON body and nothing is
//! dialed; CONNECT is only ever granted by a `method = "CONNECT"` rule.

mod support;

use std::io::{Read, Write};

use serde_json::json;
use support::audit::by_event;
use support::{Config, Conn, Echo, Upstream, Workspace, curl, field};

const RULES: &str = r#"[[rules]]
method = "CONNECT"
host = "echo.test:7000"
action_class = "communication.external.send"

[[rules]]
method = "CONNECT"
host = "web.test:9000"
action_class = "communication.external.send"

[[rules]]
method = "CONNECT"
host = "blocked.test:7000"
action_class = "communication.external.send"

[[rules]]
host = "plain-only.test"
action_class = "communication.external.send"
"#;

const POLICY: &str = "permit(principal, action, resource);\nforbid(principal, action, resource) when { resource.host == \"blocked.test:7000\" };\n";

struct Env {
    echo: Echo,
    up: Upstream,
    blocked: Echo,
    plain_only: Echo,
    ws: Workspace,
    sc: support::Sidecar,
}

fn env(name: &str) -> Env {
    let echo = Echo::start();
    let up = Upstream::start();
    let blocked = Echo::start();
    let plain_only = Echo::start();
    let ws = Workspace::new(name);
    let cfg = Config::default()
        .resolve("echo.test:7000", echo.addr)
        .resolve("web.test:9000", up.addr)
        .resolve("blocked.test:7000", blocked.addr)
        .resolve("plain-only.test:443", plain_only.addr);
    ws.setup(RULES, POLICY, &cfg);
    let sc = ws.start();
    Env {
        echo,
        up,
        blocked,
        plain_only,
        ws,
        sc,
    }
}

// SDC-8, AUD-4: 200, then bytes round-trip through the tunnel.
#[test]
fn allowed_connect_relays_bytes_both_ways() {
    let e = env("connect_allowed");
    let mut c = Conn::open(e.sc.addr);
    let resp = c.connect_tunnel("echo.test:7000").unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    for msg in [
        &b"hello through the tunnel\n"[..],
        &[0u8, 1, 2, 255, 254][..],
    ] {
        c.stream.write_all(msg).unwrap();
        let mut back = vec![0u8; msg.len()];
        c.stream.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    }
    assert_eq!(e.echo.accepts(), 1);
    // Closing our side ends the tunnel: the relay closes its side too.
    c.shutdown_write();
    let mut rest = Vec::new();
    c.stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());

    let recs = e.ws.audit().expect_records(1);
    assert_eq!(field(&recs[0], "decision.outcome"), "ALLOW");
    assert_eq!(
        field(&recs[0], "envelope.intent"),
        &json!({"action_class": "communication.external.send", "method": "CONNECT",
                "scheme": "https", "query": null, "resource": {"host": "echo.test:7000"}})
    );
}

// SDC-8 with a real client: `curl -p` tunnels an HTTP request to the upstream.
#[test]
fn curl_proxytunnel_reaches_the_origin() {
    let e = env("connect_curl");
    let r = curl(
        &e.sc.proxy_url(),
        &["-p", "http://web.test:9000/inside?q=1"],
    );
    assert_eq!(r.resp().status, 200, "{}", r.stderr);
    assert_eq!(
        r.resp().text(),
        "upstream saw GET /inside?q=1 host=web.test:9000 body=0"
    );
    assert_eq!(e.up.seen().len(), 1);
    let recs = e.ws.audit().expect_records(1);
    assert_eq!(field(&recs[0], "envelope.intent.method"), "CONNECT");
    assert_eq!(
        field(&recs[0], "envelope.intent.resource.host"),
        "web.test:9000"
    );
}

// SDC-8, SDC-7: a denied CONNECT is answered 403 JSON and never dialed.
#[test]
fn denied_connect_is_403_and_not_dialed() {
    let e = env("connect_denied");
    let mut c = Conn::open(e.sc.addr);
    let body = c
        .connect_tunnel("blocked.test:7000")
        .unwrap()
        .assert_deny("PolicyDenied");
    assert_eq!(e.blocked.accepts(), 0, "the denied tunnel was dialed");
    let recs = e.ws.audit().expect_records(1);
    let rec = by_event(&recs, body["event_id"].as_str().unwrap());
    assert_eq!(field(rec, "decision.outcome"), "DENY");
    assert_eq!(field(rec, "envelope.intent.method"), "CONNECT");
}

// MAP-8: a rule without `method` never grants a blind tunnel, and an
// unmapped CONNECT is MappingNotFound under default_protected.
#[test]
fn connect_needs_a_connect_rule() {
    let e = env("connect_needs_rule");
    let mut c = Conn::open(e.sc.addr);
    c.connect_tunnel("plain-only.test:443")
        .unwrap()
        .assert_deny("MappingNotFound");
    let mut c = Conn::open(e.sc.addr);
    c.connect_tunnel("echo.test:7001")
        .unwrap()
        .assert_deny("MappingNotFound");
    assert_eq!(e.plain_only.accepts(), 0);
    assert_eq!(e.echo.accepts(), 0);
    e.ws.audit().expect_records(2);
}

// NRM-3: CONNECT without a port is malformed.
#[test]
fn connect_without_port_is_malformed() {
    let e = env("connect_no_port");
    let resp = support::raw_exchange(
        e.sc.addr,
        b"CONNECT echo.test HTTP/1.1\r\nHost: echo.test\r\n\r\n",
    )
    .unwrap()
    .expect("an answer");
    assert!(
        resp.status == 400 || (resp.status == 403 && resp.json()["reason"] == "MalformedRequest"),
        "got {} {}",
        resp.status,
        resp.text()
    );
    assert_eq!(e.echo.accepts(), 0);
    let recs = e.ws.audit().expect_records(1);
    assert_eq!(field(&recs[0], "decision.reason"), "MalformedRequest");
}
