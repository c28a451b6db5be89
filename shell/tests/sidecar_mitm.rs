//! HTTPS interception end to end (spec MITM-*, seed 004): a real CA in the
//! workspace, real TLS upstreams whose certificates a test CA signs, real
//! clients (curl, Python `requests`, Python `ssl`, raw sockets) through the
//! `firma` binary, loopback only.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::json;
use support::tls::TestCa;
use support::{Config, Conn, Echo, Mitm, Upstream, Workspace, curl, field};

const RULES: &str = r#"[[rules]]
method = "GET"
host = "api.openai.com"
path = "/v1/models"
action_class = "model.inference.chat"

[[rules]]
method = "GET"
host = "pay.test"
path = "*"
action_class = "payment.read"

[[rules]]
method = "CONNECT"
host = "pinned.test"
action_class = "communication.external.send"

[[rules]]
method = "CONNECT"
host = "echo.test:7000"
action_class = "communication.external.send"

[[rules]]
method = "CONNECT"
host = "strict-echo.test:7000"
action_class = "communication.external.send"
"#;

const PERMIT_ALL: &str = "permit(principal, action, resource);\n";

/// The workspace, its sidecar, the "public" test CA and the upstreams.
struct Env {
    ws: Workspace,
    sc: support::Sidecar,
    public_ca: TestCa,
    openai: Upstream,
    pay: Upstream,
    pinned: Upstream,
    echo: Echo,
    strict_echo: Echo,
}

impl Env {
    fn firma_ca(&self) -> String {
        self.ws.path("firma-ca/firma-ca.crt").display().to_string()
    }

    fn public_ca(&self) -> String {
        self.public_ca.ca_path.display().to_string()
    }

    fn proxy(&self) -> String {
        self.sc.proxy_url()
    }
}

fn env(name: &str) -> Env {
    let ws = Workspace::new(name);
    let public_ca = TestCa::new("Test Public Root", &ws.dir, "public-root.pem");
    let openai = Upstream::tls(public_ca.acceptor(&["api.openai.com"]));
    let pay = Upstream::tls(public_ca.acceptor(&["pay.test"]));
    let pinned = Upstream::tls(public_ca.acceptor(&["pinned.test"]));
    let echo = Echo::start();
    let strict_echo = Echo::start();
    let cfg = Config::default()
        .resolve("api.openai.com:443", openai.addr)
        .resolve("pay.test:443", pay.addr)
        .resolve("pinned.test:443", pinned.addr)
        .resolve("echo.test:7000", echo.addr)
        .resolve("strict-echo.test:7000", strict_echo.addr)
        .mitm(
            "firma-ca",
            Mitm::intercept(&[
                "api.openai.com",
                "pay.test",
                "*.pinned.test",
                "echo.test",
                "strict-echo.test",
            ])
            .strict(&["pay.test", "strict-echo.test"])
            .bypass(&["pinned.test"])
            .extra_ca(&public_ca.ca_path),
        );
    ws.setup(RULES, PERMIT_ALL, &cfg);
    let sc = ws.start();
    Env {
        ws,
        sc,
        public_ca,
        openai,
        pay,
        pinned,
        echo,
        strict_echo,
    }
}

// MITM-8, MITM-9, seed 004 step 1 and 2: the CA is bootstrapped on first
// start, 0600 key, logged; a restart loads it and never rewrites it.
#[test]
fn mitm_8_ca_is_bootstrapped_once_and_never_regenerated() {
    let mut e = env("mitm_ca_once");
    let log = e.sc.stderr_text();
    let dir = e.ws.path("firma-ca");
    assert!(
        log.contains(&format!("bootstrapping CA at {}", dir.display())),
        "{log}"
    );
    assert!(log.contains("wrote firma-ca.crt and firma-ca.key"), "{log}");
    assert!(
        log.contains("https mitm enabled: 5 intercept hosts (2 strict), 1 bypass hosts"),
        "{log}"
    );
    let key_mode = std::fs::metadata(dir.join("firma-ca.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["firma-ca.crt", "firma-ca.key"]);
    let crt = std::fs::read(dir.join("firma-ca.crt")).unwrap();
    let key = std::fs::read(dir.join("firma-ca.key")).unwrap();
    let text = openssl_x509(&dir.join("firma-ca.crt"));
    assert!(
        text.contains("Subject: CN = Firma Sidecar Local CA, O = Firma"),
        "{text}"
    );
    assert!(text.contains("CA:TRUE"), "{text}");

    e.sc.signal("TERM");
    e.sc.wait_exit(std::time::Duration::from_secs(10));
    let again = e.ws.start();
    let log = again.stderr_text();
    assert!(!log.contains("bootstrapping"), "{log}");
    assert!(log.contains("loaded CA"), "{log}");
    assert_eq!(std::fs::read(dir.join("firma-ca.crt")).unwrap(), crt);
    assert_eq!(std::fs::read(dir.join("firma-ca.key")).unwrap(), key);
}

fn openssl_x509(path: &std::path::Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(path)
        .output()
        .expect("run openssl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// MITM-8: half-present, loose, mismatched or garbage CA files refuse to
// start, naming the file, and change nothing on disk.
#[test]
fn mitm_8_a_broken_ca_refuses_to_start() {
    let ws = Workspace::new("mitm_ca_broken");
    let cfg = Config::default().mitm("firma-ca", Mitm::intercept(&["api.openai.com"]));
    ws.setup(RULES, PERMIT_ALL, &cfg);
    drop(ws.start()); // bootstrap
    let dir = ws.path("firma-ca");
    let crt = std::fs::read(dir.join("firma-ca.crt")).unwrap();
    let key = std::fs::read(dir.join("firma-ca.key")).unwrap();
    let restore = || {
        std::fs::write(dir.join("firma-ca.crt"), &crt).unwrap();
        std::fs::write(dir.join("firma-ca.key"), &key).unwrap();
        std::fs::set_permissions(
            dir.join("firma-ca.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    };
    let fails_with = |what: &str, needles: &[&str]| {
        let f = ws.start_failure();
        assert_eq!(f.code, Some(2), "{what}");
        let text = f.stderr_text();
        for n in needles {
            assert!(text.contains(n), "{what}: `{n}` not in:\n{text}");
        }
    };

    std::fs::remove_file(dir.join("firma-ca.crt")).unwrap();
    fails_with(
        "key without certificate",
        &[
            "has `firma-ca.key` but no `firma-ca.crt`",
            "never regenerated",
        ],
    );
    assert!(
        !dir.join("firma-ca.crt").exists(),
        "the certificate was regenerated"
    );
    assert_eq!(std::fs::read(dir.join("firma-ca.key")).unwrap(), key);
    restore();

    std::fs::remove_file(dir.join("firma-ca.key")).unwrap();
    fails_with(
        "certificate without key",
        &["has `firma-ca.crt` but no `firma-ca.key`"],
    );
    restore();

    std::fs::set_permissions(
        dir.join("firma-ca.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    fails_with("loose key", &["firma-ca.key", "mode 0644", "chmod 600"]);
    restore();

    // another CA's certificate next to this key
    let other = TestCa::new("Other", &ws.dir, "other.pem");
    std::fs::copy(&other.ca_path, dir.join("firma-ca.crt")).unwrap();
    fails_with(
        "mismatched pair",
        &["firma-ca.crt", "does not belong to", "firma-ca.key"],
    );
    restore();

    std::fs::write(dir.join("firma-ca.crt"), "not a certificate\n").unwrap();
    fails_with(
        "garbage certificate",
        &["firma-ca.crt", "no PEM `CERTIFICATE`"],
    );
    restore();

    std::fs::write(dir.join("firma-ca.key"), "not a key\n").unwrap();
    fails_with("garbage key", &["firma-ca.key", "private key"]);
    restore();

    // D8: the Sidecar's own CA is never an upstream root.
    let cfg = Config::default().mitm(
        "firma-ca",
        Mitm::intercept(&["api.openai.com"]).extra_ca(dir.join("firma-ca.crt")),
    );
    ws.write("firma.toml", &cfg.render());
    fails_with(
        "own CA as upstream root",
        &["extra_upstream_ca_file", "own MITM CA"],
    );
    assert_eq!(std::fs::read(dir.join("firma-ca.crt")).unwrap(), crt);
}

// CFG-31: no CA is created while interception is inactive.
#[test]
fn mitm_8_no_ca_without_active_interception() {
    let ws = Workspace::new("mitm_inactive");
    let mut m = Mitm::intercept(&["api.openai.com"]);
    m.enabled = false;
    ws.setup(RULES, PERMIT_ALL, &Config::default().mitm("firma-ca", m));
    let sc = ws.start();
    assert!(!ws.path("firma-ca").exists());
    assert!(!sc.stderr_text().contains("https mitm"));
}

// MITM-3, MITM-4, seed 004 step 4: curl trusting the Firma CA sees a leaf it
// issued; the decrypted call is enforced and recorded with L7 details.
#[test]
fn mitm_4_curl_with_cacert_is_intercepted_and_recorded_with_l7_details() {
    let e = env("mitm_curl");
    let r = curl(
        &e.proxy(),
        &[
            "-v",
            "--http1.1",
            "--cacert",
            &e.firma_ca(),
            "https://api.openai.com/v1/models",
        ],
    );
    assert_eq!(r.resp().status, 200, "{}", r.stderr);
    assert_eq!(
        r.resp().text(),
        "upstream saw GET /v1/models host=api.openai.com body=0"
    );
    assert!(
        r.stderr.contains("issuer: CN=Firma Sidecar Local CA"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("subject: CN=api.openai.com"),
        "{}",
        r.stderr
    );

    // an unmapped path inside the same kind of tunnel is denied and never sent
    let r = curl(
        &e.proxy(),
        &[
            "--cacert",
            &e.firma_ca(),
            "https://api.openai.com/v1/files?limit=1",
        ],
    );
    let body = r.resp().assert_deny("MappingNotFound");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("GET api.openai.com/v1/files")
    );
    assert_eq!(
        e.openai.seen().len(),
        1,
        "the denied call reached the upstream"
    );

    let recs = e.ws.audit().expect_records(2);
    assert_eq!(
        field(&recs[0], "envelope.intent"),
        &json!({"action_class": "model.inference.chat", "method": "GET", "scheme": "https",
                "query": null, "resource": {"host": "api.openai.com", "path": "/v1/models", "provider": null}})
    );
    assert_eq!(field(&recs[0], "decision.outcome"), "ALLOW");
    assert_eq!(field(&recs[1], "decision.outcome"), "DENY");
    assert_eq!(
        field(&recs[1], "envelope.intent.resource.path"),
        "/v1/files"
    );
    assert_eq!(field(&recs[1], "envelope.intent.query"), "limit=1");
    assert!(
        e.sc.stderr_text()
            .contains("minted a leaf certificate for api.openai.com (1 since start)")
    );
    e.ws.audit().verify().assert_ok();
}

// MITM-3: HTTP/2 by ALPN, several requests on one connection, one leaf.
#[test]
fn mitm_4_http2_client_multiplexes_inside_the_tunnel() {
    let e = env("mitm_h2");
    let out = Command::new("curl")
        .args(["-sS", "--http2", "--max-time", "20", "--proxy", &e.proxy()])
        .args([
            "--cacert",
            &e.firma_ca(),
            "-w",
            "|%{http_version}|%{num_connects}\n",
        ])
        .args([
            "https://api.openai.com/v1/models",
            "https://api.openai.com/v1/models?x=2",
        ])
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "upstream saw GET /v1/models host=api.openai.com body=0|2|1",
            "upstream saw GET /v1/models?x=2 host=api.openai.com body=0|2|0",
        ],
        "second request must reuse the h2 connection"
    );
    let recs = e.ws.audit().expect_records(2);
    assert_eq!(field(&recs[1], "envelope.intent.query"), "x=2");
    let log = e.sc.stderr_text();
    assert_eq!(log.matches("minted a leaf certificate").count(), 1, "{log}");
}

// MITM-4 with Python requests and REQUESTS_CA_BUNDLE, as seed 004 step 3 says.
#[test]
fn mitm_4_python_requests_with_requests_ca_bundle() {
    let e = env("mitm_requests");
    let script = "import requests\nr = requests.get('https://api.openai.com/v1/models', timeout=20)\nprint(r.status_code, r.text)\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .env("HTTPS_PROXY", e.proxy())
        .env("REQUESTS_CA_BUNDLE", e.firma_ca())
        .env_remove("https_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim(),
        "200 upstream saw GET /v1/models host=api.openai.com body=0"
    );
    let recs = e.ws.audit().expect_records(1);
    assert_eq!(
        field(&recs[0], "envelope.intent.action_class"),
        "model.inference.chat"
    );
}

// MITM-5: a client that does not trust the Firma CA, on a strict host: the
// handshake fails, nothing reaches the upstream, a FailClosed deny is
// recorded with the host.
#[test]
fn mitm_5_strict_host_client_without_the_ca_is_denied_and_audited() {
    let e = env("mitm_strict_untrusted");
    let r = curl(
        &e.proxy(),
        &["--cacert", &e.public_ca(), "https://pay.test/balance"],
    );
    // 60: peer certificate cannot be authenticated with known CA certificates
    assert_eq!(r.exit, Some(60), "{}", r.stderr);
    e.pay
        .assert_untouched("strict host with an untrusting client");
    let recs = e.ws.audit().expect_records(1);
    assert_eq!(field(&recs[0], "decision.outcome"), "DENY");
    assert_eq!(field(&recs[0], "decision.reason"), "FailClosed");
    let detail = field(&recs[0], "decision.detail").as_str().unwrap();
    assert!(detail.starts_with("mitm_handshake_failed: "), "{detail}");
    assert!(detail.ends_with("(strict host)"), "{detail}");
    assert_eq!(
        field(&recs[0], "envelope.intent.resource"),
        &json!({"host": "pay.test:443"})
    );
    assert!(e.sc.stderr_text().contains("mitm_handshake_failed"));
}

// MITM-1, MITM-2: a bypass host (exact entry beating the intercept wildcard)
// gets a blind tunnel: the client sees the real certificate, the CONNECT is
// recorded with the host only.
#[test]
fn mitm_2_bypass_host_gets_a_blind_tunnel() {
    let e = env("mitm_bypass");
    let r = curl(
        &e.proxy(),
        &["-v", "--cacert", &e.public_ca(), "https://pinned.test/x"],
    );
    assert_eq!(r.resp().status, 200, "{}", r.stderr);
    assert!(
        r.stderr.contains("issuer: CN=Test Public Root"),
        "{}",
        r.stderr
    );
    assert_eq!(e.pinned.seen().len(), 1);
    let recs = e.ws.audit().expect_records(1);
    assert_eq!(
        field(&recs[0], "envelope.intent"),
        &json!({"action_class": "communication.external.send", "method": "CONNECT",
                "scheme": "https", "query": null, "resource": {"host": "pinned.test:443"}})
    );
}

// MITM-4, D8: the decrypted request's host must equal the CONNECT target.
#[test]
fn mitm_4_inner_host_must_match_the_connect_target() {
    let e = env("mitm_host_mismatch");
    let r = curl(
        &e.proxy(),
        &[
            "--cacert",
            &e.firma_ca(),
            "-H",
            "Host: evil.test",
            "https://api.openai.com/v1/models",
        ],
    );
    let body = r.resp().assert_deny("MalformedRequest");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("tunneled host `evil.test` does not match connect target"),
        "{body}"
    );
    e.openai.assert_untouched("smuggled host");
}

// MITM-5: an SNI naming another server than the CONNECT target is refused
// before any certificate is presented.
#[test]
fn mitm_5_sni_must_match_the_connect_target() {
    let e = env("mitm_sni");
    let script = r#"
import socket, ssl, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n")
head = b""
while not head.endswith(b"\r\n\r\n"):
    head += s.recv(1)
print(head.split(b"\r\n")[0].decode())
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False
try:
    ctx.wrap_socket(s, server_hostname="evil.test")
    print("handshake completed")
except Exception as exc:
    print("handshake failed")
"#;
    let port = e.sc.addr.port().to_string();
    let out = support::python(script, &[&port, &e.firma_ca()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        "HTTP/1.1 200 OK\nhandshake failed",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = e.ws.audit().expect_records(1);
    assert_eq!(field(&recs[0], "decision.reason"), "FailClosed");
    let detail = field(&recs[0], "decision.detail").as_str().unwrap();
    assert!(detail.starts_with("mitm_sni_mismatch: "), "{detail}");
    assert!(detail.contains("`evil.test`"), "{detail}");
    e.openai.assert_untouched("SNI mismatch");
}

// MITM-5: plain bytes in an intercepted tunnel fall back to a blind tunnel
// on a non-strict host whose CONNECT is allowed, and are refused on a strict
// host.
#[test]
fn mitm_5_non_tls_bytes_fall_back_only_on_non_strict_hosts() {
    let e = env("mitm_not_tls");
    let mut c = Conn::open(e.sc.addr);
    assert_eq!(c.connect_tunnel("echo.test:7000").unwrap().status, 200);
    c.stream.write_all(b"plain text, not TLS\n").unwrap();
    let mut back = vec![0u8; 20];
    c.stream.read_exact(&mut back).unwrap();
    assert_eq!(back, b"plain text, not TLS\n");
    assert_eq!(e.echo.accepts(), 1);
    drop(c);

    let mut c = Conn::open(e.sc.addr);
    assert_eq!(
        c.connect_tunnel("strict-echo.test:7000").unwrap().status,
        200
    );
    c.stream
        .write_all(b"GET / HTTP/1.1\r\nHost: strict-echo.test\r\n\r\n")
        .unwrap();
    let resp = support::client::read_response(&mut c.stream, false).unwrap();
    resp.assert_deny("FailClosed");
    assert_eq!(
        e.strict_echo.accepts(),
        0,
        "a strict host got a blind tunnel"
    );

    let recs = e.ws.audit().expect_records(2);
    let detail = |i: usize| {
        field(&recs[i], "decision.detail")
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(field(&recs[0], "decision.outcome"), "ALLOW");
    assert!(detail(0).starts_with("mitm_not_tls: "), "{}", detail(0));
    assert!(
        detail(0).contains("fell back to a blind tunnel"),
        "{}",
        detail(0)
    );
    assert_eq!(
        field(&recs[0], "envelope.intent.resource.host"),
        "echo.test:7000"
    );
    assert_eq!(field(&recs[1], "decision.reason"), "FailClosed");
    assert!(detail(1).starts_with("mitm_not_tls: "), "{}", detail(1));
}

// MITM-6: the upstream's certificate is verified against the platform roots
// plus extra_upstream_ca_file only: an upstream signed by an unknown CA is an
// ABORT on a non-strict host and a FailClosed deny on a strict one.
#[test]
fn mitm_6_unverifiable_upstream_is_refused() {
    let ws = Workspace::new("mitm_upstream_tls");
    let public_ca = TestCa::new("Test Public Root", &ws.dir, "public-root.pem");
    let rogue = TestCa::new("Rogue Root", &ws.dir, "rogue-root.pem");
    let upstream = Upstream::tls(rogue.acceptor(&["api.openai.com", "pay.test"]));
    let cfg = Config::default()
        .resolve("api.openai.com:443", upstream.addr)
        .resolve("pay.test:443", upstream.addr)
        .mitm(
            "firma-ca",
            Mitm::intercept(&["api.openai.com", "pay.test"])
                .strict(&["pay.test"])
                .extra_ca(&public_ca.ca_path),
        );
    ws.setup(RULES, PERMIT_ALL, &cfg);
    let sc = ws.start();
    let ca = ws.path("firma-ca/firma-ca.crt").display().to_string();
    let r = curl(
        &sc.proxy_url(),
        &["--cacert", &ca, "https://api.openai.com/v1/models"],
    );
    let body = r.resp().assert_abort(502, "UpstreamUnavailable");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("mitm_upstream_tls_failed: "),
        "{body}"
    );
    let r = curl(
        &sc.proxy_url(),
        &["--cacert", &ca, "https://pay.test/balance"],
    );
    let body = r.resp().assert_deny("FailClosed");
    assert!(
        body["detail"].as_str().unwrap().ends_with("(strict host)"),
        "{body}"
    );
    assert!(
        upstream.seen().is_empty(),
        "a request went to an unverified upstream"
    );
    let recs = ws.audit().expect_records(2);
    assert_eq!(field(&recs[0], "decision.outcome"), "ABORT");
    assert_eq!(
        field(&recs[0], "envelope.intent.resource.path"),
        "/v1/models"
    );
    assert_eq!(field(&recs[1], "decision.outcome"), "DENY");
}

// SDC-17 inside an intercepted tunnel: SIGTERM lets the in-flight decrypted
// request finish, then the Sidecar exits 0 with the record on disk.
#[test]
fn mitm_sigterm_drains_an_in_flight_intercepted_request() {
    let ws = Workspace::new("mitm_drain");
    let public_ca = TestCa::new("Test Public Root", &ws.dir, "public-root.pem");
    let upstream = Upstream::tls_with(
        public_ca.acceptor(&["api.openai.com"]),
        support::Behavior::Delay(std::time::Duration::from_millis(1500)),
    );
    let cfg = Config::default()
        .resolve("api.openai.com:443", upstream.addr)
        .mitm(
            "firma-ca",
            Mitm::intercept(&["api.openai.com"]).extra_ca(&public_ca.ca_path),
        );
    ws.setup(RULES, PERMIT_ALL, &cfg);
    let mut sc = ws.start();
    let proxy = sc.proxy_url();
    let ca = ws.path("firma-ca/firma-ca.crt").display().to_string();
    let client = std::thread::spawn(move || {
        curl(
            &proxy,
            &["--cacert", &ca, "https://api.openai.com/v1/models"],
        )
    });
    assert_eq!(
        upstream
            .wait_seen(1, std::time::Duration::from_secs(10))
            .len(),
        1
    );
    sc.signal("TERM");
    let r = client.join().unwrap();
    assert_eq!(r.resp().status, 200, "{}", r.stderr);
    let st = sc
        .wait_exit(std::time::Duration::from_secs(15))
        .expect("did not exit after the drain");
    assert_eq!(st.code(), Some(0), "{}", sc.stderr_text());
    assert_eq!(ws.audit().verify().assert_ok(), 1);
}
