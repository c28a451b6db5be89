//! Bypass families from the peers' test ideas (perf-testing-peers §2.5),
//! through the real binary. Every destination is `resolve`d to a local
//! listener, so "not forwarded" is observed (the listener saw nothing), not
//! assumed. B8 (MAP-4, MAP-6), B20 (NRM-9, NRM-10, CED-4), B23 (SDC-8), B25
//! (NRM-5), B26 (NRM-1, NRM-6, NRM-7, SDC-13), B27 (SDC-7, DEC-13).

mod support;

use serde_json::Value;
use support::audit::by_event;
use support::{Config, Conn, Echo, PERMIT_ALL, Upstream, Workspace, curl, field, raw_exchange};

// B8: look-alike hosts and path prefixes never get api.acme.com's allow.
#[test]
fn b8_lookalike_hosts_and_paths_do_not_match() {
    let up = Upstream::start();
    let ws = Workspace::new("bypass_b8");
    let rules = "[[rules]]\nmethod = \"GET\"\nhost = \"api.acme.com\"\npath = \"/v1/*\"\naction_class = \"credential.read\"\n";
    let mut cfg = Config::default();
    for h in [
        "api.acme.com:80",
        "api.acme.com.evil.com:80",
        "evilapi.acme.com:80",
    ] {
        cfg = cfg.resolve(h, up.addr);
    }
    ws.setup(rules, PERMIT_ALL, &cfg);
    let sc = ws.start();
    let proxy = sc.proxy_url();
    // Control: the real host is allowed and forwarded.
    let r = curl(&proxy, &["http://api.acme.com/v1/users"]);
    assert_eq!(r.resp().status, 200, "{}", r.resp().text());
    assert_eq!(up.seen().len(), 1);
    for url in [
        "http://api.acme.com.evil.com/v1/users",
        "http://evilapi.acme.com/v1/users",
        "http://api.acme.com/v1alpha/users",
        "http://api.acme.com/v1",
    ] {
        let r = curl(&proxy, &[url]);
        r.resp().assert_deny("MappingNotFound");
    }
    assert_eq!(
        up.seen().len(),
        1,
        "a look-alike reached the upstream: {:?}",
        up.seen()
    );
    ws.audit().expect_records(5);
}

// B20: the IMDS address in every spelling is the same host for rules and
// policies, and its forbid holds; nothing is dialed.
#[test]
fn b20_imds_spellings_are_all_denied() {
    let up = Upstream::start();
    let ws = Workspace::new("bypass_b20");
    let rules = "[[rules]]\nhost = \"169.254.169.254\"\naction_class = \"credential.read\"\n\n[[rules]]\nhost = \"wttr.in\"\naction_class = \"credential.read\"\n";
    let policy = "permit(principal, action, resource);\n\nforbid(principal, action, resource) when { resource.host == \"169.254.169.254\" };\n";
    let cfg = Config::default()
        .resolve("169.254.169.254:80", up.addr)
        .resolve("wttr.in:80", up.addr);
    ws.setup(rules, policy, &cfg);
    let sc = ws.start();
    // Control: a permitted host reaches the upstream.
    let r = curl(&sc.proxy_url(), &["http://wttr.in/"]);
    assert_eq!(r.resp().status, 200);
    let accepts = up.accepts();
    let spellings = [
        "169.254.169.254",
        "2852039166",
        "0xA9FEA9FE",
        "0xa9.0xfe.0xa9.0xfe",
        "0251.0376.0251.0376",
        "169.254.43518",
        "[::ffff:169.254.169.254]",
        "[::ffff:a9fe:a9fe]",
        "169.254.169.254.",
    ];
    let mut failures = Vec::new();
    for (i, host) in spellings.into_iter().enumerate() {
        let req = format!("GET http://{host}/latest/meta-data HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let resp = raw_exchange(sc.addr, req.as_bytes()).unwrap();
        match resp {
            Some(r) if r.status == 403 && r.json()["reason"] == "PolicyDenied" => {
                let body = r.assert_deny("PolicyDenied");
                let recs = ws.audit().wait_records(2 + i);
                let rec = by_event(&recs, body["event_id"].as_str().unwrap());
                assert_eq!(
                    field(rec, "envelope.intent.resource.host"),
                    "169.254.169.254",
                    "{host}"
                );
            }
            other => failures.push(format!(
                "{host}: expected 403 PolicyDenied, got {:?}",
                other.map(|r| (r.status, r.text()))
            )),
        }
    }
    assert_eq!(up.seen().len(), 1, "IMDS reached: {:?}", up.seen());
    assert_eq!(up.accepts(), accepts, "an IMDS spelling was dialed");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// B23: plain HTTP and CONNECT to the same host get the same decision.
#[test]
fn b23_plain_http_and_connect_agree() {
    let rules = "[[rules]]\nmethod = \"GET\"\nhost = \"wttr.in\"\naction_class = \"communication.external.send\"\n\n[[rules]]\nmethod = \"CONNECT\"\nhost = \"wttr.in\"\naction_class = \"communication.external.send\"\n";
    for (name, policy, allowed) in [
        (
            "forbid",
            "permit(principal, action, resource);\nforbid(principal, action, resource) when { resource.host == \"wttr.in\" };\n",
            false,
        ),
        ("allow", PERMIT_ALL, true),
    ] {
        let up = Upstream::start();
        let echo = Echo::start();
        let ws = Workspace::new(&format!("bypass_b23_{name}"));
        let cfg = Config::default()
            .resolve("wttr.in:80", up.addr)
            .resolve("wttr.in:443", echo.addr);
        ws.setup(rules, policy, &cfg);
        let sc = ws.start();
        let plain = curl(&sc.proxy_url(), &["http://wttr.in/london"]);
        let mut c = Conn::open(sc.addr);
        let tunnel = c.connect_tunnel("wttr.in:443").unwrap();
        if allowed {
            assert_eq!(plain.resp().status, 200, "{name}: plain");
            assert_eq!(tunnel.status, 200, "{name}: CONNECT {}", tunnel.text());
            assert_eq!(up.seen().len(), 1);
            assert_eq!(echo.accepts(), 1);
        } else {
            plain.resp().assert_deny("PolicyDenied");
            tunnel.assert_deny("PolicyDenied");
            up.assert_untouched("B23 plain");
            assert_eq!(echo.accepts(), 0, "denied CONNECT was dialed");
        }
        let recs = ws.audit().expect_records(2);
        let outcomes: Vec<&Value> = recs.iter().map(|r| field(r, "decision.outcome")).collect();
        assert_eq!(
            outcomes[0], outcomes[1],
            "{name}: plain and CONNECT disagree"
        );
        assert_eq!(field(&recs[1], "envelope.intent.method"), "CONNECT");
    }
}

// B25: Host header vs absolute URI / CONNECT authority (domain fronting).
#[test]
fn b25_host_mismatch_is_malformed() {
    let up = Upstream::start();
    let echo = Echo::start();
    let ws = Workspace::new("bypass_b25");
    let rules = "[[rules]]\nhost = \"wttr.in\"\naction_class = \"communication.external.send\"\n\n[[rules]]\nhost = \"paste.rs\"\naction_class = \"communication.external.send\"\n\n[[rules]]\nmethod = \"CONNECT\"\nhost = \"wttr.in\"\naction_class = \"communication.external.send\"\n";
    let cfg = Config::default()
        .resolve("wttr.in:80", up.addr)
        .resolve("paste.rs:80", up.addr)
        .resolve("wttr.in:443", echo.addr);
    ws.setup(rules, PERMIT_ALL, &cfg);
    let sc = ws.start();
    let cases: [&[u8]; 4] = [
        b"GET http://wttr.in/ HTTP/1.1\r\nHost: paste.rs\r\n\r\n",
        b"GET http://wttr.in/ HTTP/1.1\r\nHost: wttr.in:8080\r\n\r\n",
        b"GET http://wttr.in:80/ HTTP/1.1\r\nHost: wttr.in.evil.com\r\n\r\n",
        b"CONNECT wttr.in:443 HTTP/1.1\r\nHost: paste.rs:443\r\n\r\n",
    ];
    for bytes in cases {
        let resp = raw_exchange(sc.addr, bytes)
            .unwrap()
            .unwrap_or_else(|| panic!("no answer to {:?}", String::from_utf8_lossy(bytes)));
        assert_eq!(
            (resp.status, resp.json()["reason"].clone()),
            (403, Value::from("MalformedRequest")),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
        resp.assert_deny("MalformedRequest");
    }
    up.assert_untouched("B25");
    assert_eq!(echo.accepts(), 0);
    // Control: a matching Host is fine (explicit default port included).
    let resp = raw_exchange(
        sc.addr,
        b"GET http://wttr.in/ HTTP/1.1\r\nHost: WTTR.in:80\r\n\r\n",
    )
    .unwrap()
    .unwrap();
    assert_eq!(resp.status, 200);
}

// B26: smuggling shapes are never forwarded (403 MalformedRequest, or 400 from
// the HTTP layer per SDC-13), and each is audited as MalformedRequest.
#[test]
fn b26_smuggling_is_never_forwarded() {
    let up = Upstream::start();
    let ws = Workspace::new("bypass_b26");
    let cfg = Config {
        default_protected: false,
        ..Config::default()
    }
    .resolve("wttr.in:80", up.addr);
    ws.setup(
        "[[rules]]\nhost = \"wttr.in\"\naction_class = \"communication.external.send\"\n",
        PERMIT_ALL,
        &cfg,
    );
    let sc = ws.start();
    let cases: [(&str, &[u8]); 8] = [
        (
            "CL+TE",
            b"POST http://wttr.in/a HTTP/1.1\r\nHost: wttr.in\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "TE+CL",
            b"POST http://wttr.in/a HTTP/1.1\r\nHost: wttr.in\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
        ),
        (
            "differing Content-Length",
            b"POST http://wttr.in/a HTTP/1.1\r\nHost: wttr.in\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        ),
        (
            "Content-Length list",
            b"POST http://wttr.in/a HTTP/1.1\r\nHost: wttr.in\r\nContent-Length: 5, 5\r\n\r\nabcde",
        ),
        (
            "TE not ending in chunked",
            b"POST http://wttr.in/a HTTP/1.1\r\nHost: wttr.in\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        ),
        (
            "obs-fold",
            b"GET http://wttr.in/a HTTP/1.1\r\nHost: wttr.in\r\nX-Folded: a\r\n b\r\n\r\n",
        ),
        (
            "mixed-case method",
            b"Get http://wttr.in/a HTTP/1.1\r\nHost: wttr.in\r\n\r\n",
        ),
        (
            "chunked twice",
            b"POST http://wttr.in/a HTTP/1.1\r\nHost: wttr.in\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
    ];
    let mut failures = Vec::new();
    for (name, bytes) in cases {
        match raw_exchange(sc.addr, bytes).unwrap() {
            Some(r) if r.status == 400 => {}
            Some(r) if r.status == 403 && r.json()["reason"] == "MalformedRequest" => {
                r.assert_deny("MalformedRequest");
            }
            other => failures.push(format!(
                "{name}: got {:?}",
                other.map(|r| (r.status, r.text()))
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "forwarded or misanswered:\n{}",
        failures.join("\n")
    );
    up.assert_untouched("B26");
    let recs = ws.audit().expect_records(cases.len());
    for rec in &recs {
        assert_eq!(field(rec, "decision.reason"), "MalformedRequest", "{rec}");
    }
}

// B27: a deny is answered without any upstream connect, with a
// machine-readable body.
#[test]
fn b27_deny_never_dials() {
    let echo = Echo::start();
    let up = Upstream::start();
    let ws = Workspace::new("bypass_b27");
    let cfg = Config::default()
        .resolve("paste.rs:80", up.addr)
        .resolve("paste.rs:443", echo.addr);
    ws.setup(
        "[[rules]]\nhost = \"paste.rs\"\naction_class = \"communication.external.send\"\n\n[[rules]]\nmethod = \"CONNECT\"\nhost = \"paste.rs\"\naction_class = \"communication.external.send\"\n",
        "forbid(principal, action, resource);\n",
        &cfg,
    );
    let sc = ws.start();
    let r = curl(
        &sc.proxy_url(),
        &["-X", "POST", "http://paste.rs/", "-d", "x"],
    );
    let body = r.resp().assert_deny("PolicyDenied");
    assert!(!body["detail"].as_str().unwrap().is_empty());
    let mut c = Conn::open(sc.addr);
    c.connect_tunnel("paste.rs:443")
        .unwrap()
        .assert_deny("PolicyDenied");
    up.assert_untouched("B27 plain");
    assert_eq!(echo.accepts(), 0, "B27 CONNECT dialed");
    ws.audit().expect_records(2);
}
