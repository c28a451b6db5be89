//! The Sidecar in Authority mode, end to end with real processes: the real
//! `firma authority` (gRPC over h2c, TLS or mTLS), the real `firma sidecar`,
//! a recording upstream and `curl` through the proxy (spec `SDC-30`..`SDC-36`,
//! `DEC-6`, `DEC-7`, `TTL-2`, `TOK-2`, `TOK-8`, `TOK-16`..`TOK-20`).
//!
//! Capability tokens are minted in the test with the checked-in test key
//! (`fixtures/tokens/authority-test.key`); the Sidecar verifies them with
//! its public half. Waits for functional deadlines ("within ~1 s") poll for
//! a few seconds and never assert a timing.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use firma_core::ActionClass;
use firma_core::UnixTime;
use firma_core::token::{CLAIM_NAMES, Capability, Claims, HEADER, ResourceScope, Seed, SigningKey};
use serde_json::Value;
use support::audit::by_event;
use support::authority::{AuthorityOpts, AuthorityProc, TestCa, Transport, now};
use support::sidecar::{AuthorityLink, log_message};
use support::{Config, HttpResponse, Upstream, Workspace, curl, field, fixtures};

const MAPPING: &str = r#"
[[rules]]
method = "GET"
host = "wttr.in"
path = "*"
action_class = "communication.external.send"

[[rules]]
method = "POST"
host = "paste.rs"
path = "*"
action_class = "communication.external.send"

[[rules]]
method = "GET"
host = "api.github.com"
path = "*"
action_class = "code.read"
"#;

const PERMIT_ALL: &str = "permit(principal, action, resource);\n";

/// How long a "within ~1 s" effect may take on a loaded machine.
const EFFECT: Duration = Duration::from_secs(6);

const SEND: &str = "communication.external.send";
const READ: &str = "code.read";

// ---------------------------------------------------------------- tokens

fn test_key() -> SigningKey {
    SigningKey::from_bytes(&std::fs::read(fixtures().join("tokens/authority-test.key")).unwrap())
        .unwrap()
}

fn test_pub() -> PathBuf {
    fixtures().join("tokens/authority-test.pub")
}

fn secs_from_now(offset: i64) -> UnixTime {
    let now = i64::try_from(now().as_nanos() / 1_000_000_000).unwrap();
    UnixTime::from_secs(u64::try_from(now + offset).unwrap())
}

/// A token `ctok_…<n>` for `agt_<agent>` granting `actions` on `scope`,
/// issued `iat` and expiring `exp` seconds from now.
fn mint(n: u8, agent: &str, actions: &[&str], scope: &str, iat: i64, exp: i64) -> Capability {
    let claims = Claims {
        token_id: format!("ctok_01j0000000e0080000000001{n:02}"),
        agent_id: format!("agt_{agent}"),
        session_id: format!("sess_{agent}"),
        action_set: actions
            .iter()
            .map(|a| a.parse::<ActionClass>().unwrap())
            .collect(),
        resource_scope: ResourceScope::parse(scope).unwrap(),
        issued_at: secs_from_now(iat),
        expiry: secs_from_now(exp),
        context_hash: "0".repeat(64),
    };
    Capability::issue(&test_key(), claims).unwrap()
}

/// A valid token for the next hour.
fn token(n: u8, agent: &str, actions: &[&str], scope: &str) -> Capability {
    mint(n, agent, actions, scope, -60, 3600)
}

fn seed_text(cap: &Capability) -> String {
    Seed {
        capability: cap.clone(),
        budget_ceiling: None,
    }
    .to_toml()
}

/// Replaces `path` in one rename, so the watcher never reads half a file.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// `cap`'s token with one bit flipped inside the value of `claim` in the
/// signed payload, re-encoded (TOK-2: the signature no longer matches).
fn forged(cap: &Capability, claim: &str) -> String {
    let body = URL_SAFE_NO_PAD
        .decode(cap.token().strip_prefix(HEADER).unwrap())
        .unwrap();
    let json = std::str::from_utf8(&body[..body.len() - 64]).unwrap();
    let key_at = json.find(&format!("\"{claim}\":")).unwrap();
    let value_at = key_at + claim.len() + 3;
    let mut bytes = body.clone();
    bytes[value_at + 1] ^= 0x01;
    format!("{HEADER}{}", URL_SAFE_NO_PAD.encode(&bytes))
}

/// The seed file of `cap` with `raw_token` replaced by `token`.
fn seed_with_token(cap: &Capability, token: &str) -> String {
    seed_text(cap).replace(cap.token(), token)
}

// ---------------------------------------------------------------- helpers

/// A loopback port nothing listens on (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The sidecar config: the test mapping, upstream hosts resolved to `up`,
/// the Authority link, and `seeds`.
fn config(up: &Upstream, link: AuthorityLink, seeds: &[PathBuf]) -> Config {
    Config::default()
        .resolve("wttr.in:80", up.addr)
        .resolve("paste.rs:80", up.addr)
        .resolve("api.github.com:80", up.addr)
        .authority(link)
        .capability_seeds(seeds)
}

/// Writes the workspace; the seed files `(name, cap)` go to `seeds/`.
fn workspace(name: &str, seeds: &[(&str, &Capability)]) -> (Workspace, Vec<PathBuf>) {
    let ws = Workspace::new(name);
    let paths = seeds
        .iter()
        .map(|(n, cap)| ws.write(&format!("seeds/{n}"), &seed_text(cap)))
        .collect();
    (ws, paths)
}

fn get_wttr(proxy: &str) -> HttpResponse {
    curl(proxy, &["http://wttr.in/london"]).resp().clone()
}

/// Polls `call` until it returns `Some`, for at most `timeout`.
fn poll<T>(what: &str, timeout: Duration, mut call: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = call() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls wttr.in through `proxy` until the answer has `status` and, for a
/// deny, `reason`; returns its body.
fn poll_wttr(proxy: &str, status: u16, reason: Option<&str>) -> HttpResponse {
    poll(
        &format!("wttr.in answering {status} {reason:?}"),
        EFFECT,
        || {
            let r = get_wttr(proxy);
            let hit = r.status == status
                && reason.is_none_or(|want| r.json()["reason"].as_str() == Some(want));
            hit.then_some(r)
        },
    )
}

/// The audit record of a deny body.
fn record_of(ws: &Workspace, body: &Value) -> Value {
    let id = body["event_id"].as_str().unwrap().to_owned();
    let recs = poll("the deny's audit record", EFFECT, || {
        let recs = ws.audit().records();
        recs.iter()
            .any(|r| r["event_id"] == id.as_str())
            .then_some(recs)
    });
    by_event(&recs, &id).clone()
}

/// The newest audit record (after at least `n` exist).
fn last_record(ws: &Workspace, n: usize) -> Value {
    let recs = ws.audit().wait_records(n);
    assert!(
        recs.len() >= n,
        "fewer than {n} records:\n{}",
        ws.audit().text()
    );
    recs.last().unwrap().clone()
}

fn count_lines(stderr: &str, needle: &str) -> usize {
    stderr.lines().filter(|l| l.contains(needle)).count()
}

/// A sidecar that has bound its listener but may not be ready: for the
/// cases where `sidecar ready` must not (yet) appear. SIGKILLed on drop.
struct Starting {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
}

fn wait_in(store: &Mutex<Vec<String>>, needle: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(l) = store.lock().unwrap().iter().find(|l| l.contains(needle)) {
            return Some(l.clone());
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Starting {
    fn spawn(ws: &Workspace) -> Starting {
        let mut cmd: Command = support::Sidecar::command(&ws.path("firma.toml"), &ws.path("state"));
        let mut child = cmd.spawn().expect("spawn firma sidecar");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stderr.take().unwrap();
        let store = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).split(b'\n') {
                let Ok(line) = line else { break };
                store
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&line).into_owned());
            }
        });
        let Some(line) = wait_in(&stderr, "listening on ", Duration::from_secs(20)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sidecar never listened; stderr:\n{}",
                stderr.lock().unwrap().join("\n")
            );
        };
        let addr = log_message(&line)
            .strip_prefix("listening on ")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        Starting {
            child,
            addr,
            stderr,
        }
    }

    fn proxy_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    fn wait_log(&self, needle: &str, timeout: Duration) -> Option<String> {
        wait_in(&self.stderr, needle, timeout)
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- tests

/// SDC-35, DEC-6, SDC-31: the listener answers before the Authority is
/// there, denying `PolicyBundleNotReady`; `sidecar ready` appears only after
/// the streams hydrate, after `authority stream connected`, and calls are
/// then decided by the streamed bundle.
#[test]
fn not_ready_until_the_authority_streams() {
    let up = Upstream::start();
    let cap = token(1, "ready", &[SEND], "*");
    let (ws, seeds) = workspace("authority_readiness", &[("a.toml", &cap)]);
    let port = free_port();
    let link = AuthorityLink::new(format!("http://127.0.0.1:{port}"), test_pub());
    ws.setup(MAPPING, PERMIT_ALL, &config(&up, link, &seeds));
    let sc = Starting::spawn(&ws);

    let r = get_wttr(&sc.proxy_url());
    let body = r.assert_deny("PolicyBundleNotReady");
    let rec = record_of(&ws, &body);
    assert_eq!(field(&rec, "decision.stage"), "readiness", "{rec}");
    assert_eq!(field(&rec, "token_id"), &Value::Null, "{rec}");
    up.assert_untouched("PolicyBundleNotReady");
    assert!(
        sc.wait_log("authority stream unavailable endpoint=", EFFECT)
            .is_some(),
        "the failed connection is logged:\n{}",
        sc.text()
    );
    assert!(!sc.text().contains("sidecar ready"), "{}", sc.text());

    let dir = support::authority::workspace("sidecar_readiness");
    let _auth = AuthorityProc::start(
        &dir,
        AuthorityOpts {
            listen: format!("127.0.0.1:{port}"),
            ..AuthorityOpts::default()
        },
    );
    // The backoff has grown to a few seconds by now.
    assert!(
        sc.wait_log("sidecar ready", Duration::from_secs(20))
            .is_some(),
        "never ready:\n{}",
        sc.text()
    );
    let text = sc.text();
    let connected = text
        .find(&format!(
            "authority stream connected endpoint=http://127.0.0.1:{port}"
        ))
        .unwrap_or_else(|| panic!("no connected line:\n{text}"));
    let updated = text.find("policy bundle updated version=").unwrap();
    let ready = text.find("sidecar ready").unwrap();
    assert!(connected < ready && updated < ready, "{text}");
    assert_eq!(count_lines(&text, "sidecar ready"), 1, "{text}");

    let r = get_wttr(&sc.proxy_url());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.wait_seen(1, EFFECT).len(), 1);
}

/// SDC-32, TTL-3: a policy edit on the Authority decides the next calls
/// through the Sidecar; the policy ids keep the Authority's file names.
#[test]
fn policy_edit_reaches_the_sidecar() {
    let up = Upstream::start();
    let dir = support::authority::workspace("sidecar_policy_edit");
    let auth = AuthorityProc::start(&dir, AuthorityOpts::default());
    let cap = token(2, "edit", &[SEND], "*");
    let (ws, seeds) = workspace("authority_policy_edit", &[("a.toml", &cap)]);
    let link = AuthorityLink::new(auth.url(), test_pub());
    ws.setup(MAPPING, PERMIT_ALL, &config(&up, link, &seeds));
    let sc = ws.start();

    let r = get_wttr(&sc.proxy_url());
    assert_eq!(r.status, 200, "{}", r.text());
    let rec = last_record(&ws, 1);
    assert_eq!(field(&rec, "decision.outcome"), "ALLOW", "{rec}");
    assert_eq!(
        field(&rec, "decision.matched_policies"),
        &serde_json::json!(["default.cedar#0"]),
        "{rec}"
    );

    auth.write_policy(
        "default.cedar",
        &format!(
            "{PERMIT_ALL}forbid (principal, action == Firma::Action::\"{SEND}\", resource == Firma::Resource::\"wttr.in/london\");\n"
        ),
    );
    let denied = poll_wttr(&sc.proxy_url(), 403, Some("PolicyDenied"));
    let body = denied.json();
    let rec = record_of(&ws, &body);
    assert_eq!(field(&rec, "decision.reason"), "PolicyDenied", "{rec}");
    assert_eq!(
        field(&rec, "decision.matched_policies"),
        &serde_json::json!(["default.cedar#1"]),
        "{rec}"
    );
    assert!(
        count_lines(&sc.stderr_text(), "policy bundle updated version=") >= 2,
        "{}",
        sc.stderr_text()
    );
    ws.audit().verify().assert_ok();
}

/// SDC-33, TOK-20: `firma authority revocations add` denies the token's
/// next calls `TokenRevoked`; before that the record's ids are the token's,
/// not the request headers'.
#[test]
fn revocation_reaches_the_sidecar() {
    let up = Upstream::start();
    let dir = support::authority::workspace("sidecar_revocation");
    let auth = AuthorityProc::start(&dir, AuthorityOpts::default());
    let cap = token(3, "revoked", &[SEND], "*");
    let (ws, seeds) = workspace("authority_revocation", &[("a.toml", &cap)]);
    let link = AuthorityLink::new(auth.url(), test_pub());
    ws.setup(MAPPING, PERMIT_ALL, &config(&up, link, &seeds));
    let sc = ws.start();

    let r = curl(
        &sc.proxy_url(),
        &[
            "-H",
            "x-firma-agent-id: agt_spoofed",
            "-H",
            "x-firma-token-id: ctok_01j0000000e008000000000999",
            "-H",
            "x-firma-session-id: sess_spoofed",
            "http://wttr.in/london",
        ],
    );
    assert_eq!(r.resp().status, 200, "{}", r.resp().text());
    let rec = last_record(&ws, 1);
    assert_eq!(field(&rec, "agent_id"), "agt_revoked", "{rec}");
    assert_eq!(
        field(&rec, "token_id"),
        cap.claims().token_id.as_str(),
        "{rec}"
    );
    assert_eq!(field(&rec, "session_id"), "sess_revoked", "{rec}");

    let out = Command::new(env!("CARGO_BIN_EXE_firma"))
        .args(["authority", "-c"])
        .arg(auth.config_path())
        .args([
            "revocations",
            "add",
            &cap.claims().token_id,
            "--reason",
            "leaked",
        ])
        .env_remove("FIRMA_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "revocations add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let denied = poll_wttr(&sc.proxy_url(), 403, Some("TokenRevoked"));
    let body = denied.json();
    assert!(
        body["detail"].as_str().unwrap().contains("leaked"),
        "{body}"
    );
    let rec = record_of(&ws, &body);
    assert_eq!(field(&rec, "decision.reason"), "TokenRevoked", "{rec}");
    assert_eq!(field(&rec, "decision.stage"), "capability", "{rec}");
    assert_eq!(field(&rec, "token_id"), &Value::Null, "{rec}");
    assert!(
        sc.stderr_text()
            .contains(&format!("token revoked token_id={}", cap.claims().token_id)),
        "{}",
        sc.stderr_text()
    );
}

/// SDC-36, TTL-2, SDC-31: with the Authority killed the last bundle keeps
/// deciding until its 2 s TTL, then calls are denied `PolicyBundleStale`;
/// an Authority restarted on the same port restores service.
#[test]
fn authority_outage_then_recovery() {
    let up = Upstream::start();
    let dir = support::authority::workspace("sidecar_outage");
    let mut auth = AuthorityProc::start(&dir, AuthorityOpts::default().bundle_ttl(2));
    let cap = token(4, "outage", &[SEND], "*");
    let (ws, seeds) = workspace("authority_outage", &[("a.toml", &cap)]);
    let link = AuthorityLink::new(auth.url(), test_pub());
    ws.setup(MAPPING, PERMIT_ALL, &config(&up, link, &seeds));
    let sc = ws.start();
    let url = auth.url();

    // Kill right after a refresh, so the bundle has its whole TTL left.
    let refreshes = count_lines(&sc.stderr_text(), "policy bundle updated");
    poll("a periodic bundle refresh", EFFECT, || {
        (count_lines(&sc.stderr_text(), "policy bundle updated") > refreshes).then_some(())
    });
    auth.kill();
    let r = get_wttr(&sc.proxy_url());
    assert_eq!(r.status, 200, "the last bundle still decides: {}", r.text());

    let stale = poll_wttr(&sc.proxy_url(), 403, Some("PolicyBundleStale"));
    let rec = record_of(&ws, &stale.json());
    assert_eq!(field(&rec, "decision.stage"), "policy", "{rec}");
    let log = sc.stderr_text();
    assert!(
        log.contains(&format!("authority stream disconnected endpoint={url}")),
        "{log}"
    );
    assert!(log.contains("is stale"), "{log}");

    auth.restart();
    poll_wttr(&sc.proxy_url(), 200, None);
    let log = sc.stderr_text();
    assert_eq!(
        count_lines(&log, &format!("authority stream connected endpoint={url}")),
        2,
        "{log}"
    );
    assert_eq!(count_lines(&log, "sidecar ready"), 1, "{log}");
    ws.audit().verify().assert_ok();
}

/// SDC-31: over mTLS a Sidecar with an allow-listed client certificate
/// becomes ready; without one, with one the Authority does not list, or with
/// one from another CA, it never does, logs the rejection and keeps denying
/// `PolicyBundleNotReady`.
#[test]
fn mtls_client_certificates() {
    let up = Upstream::start();
    let dir = support::authority::workspace("sidecar_mtls");
    let auth = AuthorityProc::start(
        &dir,
        AuthorityOpts::default().transport(Transport::Mtls(vec!["sidecar-good".into()])),
    );
    let ca = auth.server_ca_path().unwrap();
    let cap = token(5, "mtls", &[SEND], "*");

    let good = auth.client_cert("sidecar-good", None);
    let (ws, seeds) = workspace("authority_mtls_good", &[("a.toml", &cap)]);
    let link = AuthorityLink::new(auth.url(), test_pub())
        .ca(&ca)
        .client(&good.cert_path, &good.key_path);
    ws.setup(MAPPING, PERMIT_ALL, &config(&up, link, &seeds));
    let sc = ws.start();
    let r = get_wttr(&sc.proxy_url());
    assert_eq!(r.status, 200, "{}", r.text());
    drop(sc);

    let unlisted = auth.client_cert("sidecar-evil", None);
    let other_ca = TestCa::new("Other CA", &dir.join("other-ca.crt"));
    let foreign = other_ca.client_cert("sidecar-good", None, &dir, "foreign");
    let cases = [
        ("authority_mtls_none", None),
        (
            "authority_mtls_unlisted",
            Some((unlisted.cert_path, unlisted.key_path)),
        ),
        (
            "authority_mtls_foreign",
            Some((foreign.cert_path, foreign.key_path)),
        ),
    ];
    for (name, client) in cases {
        let (ws, seeds) = workspace(name, &[("a.toml", &cap)]);
        let mut link = AuthorityLink::new(auth.url(), test_pub()).ca(&ca);
        if let Some((cert, key)) = &client {
            link = link.client(cert, key);
        }
        ws.setup(MAPPING, PERMIT_ALL, &config(&up, link, &seeds));
        let sc = Starting::spawn(&ws);
        let line = sc
            .wait_log("authority stream unavailable endpoint=", EFFECT)
            .unwrap_or_else(|| panic!("{name}: no rejection logged:\n{}", sc.text()));
        assert!(line.contains(&auth.url()), "{name}: {line}");
        let r = get_wttr(&sc.proxy_url());
        r.assert_deny("PolicyBundleNotReady");
        // Give a wrongly accepted stream time to hydrate before asserting.
        std::thread::sleep(Duration::from_secs(1));
        let text = sc.text();
        assert!(!text.contains("sidecar ready"), "{name}:\n{text}");
        assert!(
            !text.contains("authority stream connected"),
            "{name}:\n{text}"
        );
    }
    assert_eq!(up.seen().len(), 1, "only the good sidecar's call went out");
}

/// DEC-7, TOK-16..TOK-18, TOK-20: expired and out-of-scope tokens through
/// the real proxy, with reasons in the body and the record; an in-scope
/// call is allowed with the token's identity.
#[test]
fn stage1_reasons_through_the_proxy() {
    let up = Upstream::start();
    let dir = support::authority::workspace("sidecar_stage1");
    let auth = AuthorityProc::start(&dir, AuthorityOpts::default());
    let expired = mint(6, "expired", &[SEND], "*", -7200, -3600);
    let scoped = token(7, "scoped", &[READ], "api.github.com/repos/*");
    let (ws, seeds) = workspace(
        "authority_stage1",
        &[("expired.toml", &expired), ("scoped.toml", &scoped)],
    );
    let link = AuthorityLink::new(auth.url(), test_pub());
    ws.setup(MAPPING, PERMIT_ALL, &config(&up, link, &seeds));
    let sc = ws.start();
    let proxy = sc.proxy_url();

    let r = curl(&proxy, &["-X", "POST", "http://paste.rs/", "-d", "x"]);
    let body = r.resp().assert_deny("TokenExpired");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains(&expired.claims().token_id),
        "{body}"
    );
    let rec = record_of(&ws, &body);
    assert_eq!(field(&rec, "decision.reason"), "TokenExpired", "{rec}");
    assert_eq!(field(&rec, "decision.stage"), "capability", "{rec}");
    assert_eq!(field(&rec, "agent_id"), &Value::Null, "{rec}");

    let r = curl(&proxy, &["http://api.github.com/users/octocat"]);
    let body = r.resp().assert_deny("ScopeViolation");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("api.github.com/repos/*"),
        "{body}"
    );
    let rec = record_of(&ws, &body);
    assert_eq!(field(&rec, "decision.reason"), "ScopeViolation", "{rec}");
    up.assert_untouched("Stage 1 denies");

    let r = curl(&proxy, &["http://api.github.com/repos/o/r"]);
    assert_eq!(r.resp().status, 200, "{}", r.resp().text());
    let rec = last_record(&ws, 3);
    assert_eq!(field(&rec, "decision.outcome"), "ALLOW", "{rec}");
    assert_eq!(field(&rec, "agent_id"), "agt_scoped", "{rec}");
    assert_eq!(
        field(&rec, "token_id"),
        scoped.claims().token_id.as_str(),
        "{rec}"
    );
    ws.audit().verify().assert_ok();
}

/// SDC-34, TOK-2, TOK-8: a seed whose token has one flipped byte inside
/// any claim refuses the start naming the file; while running, such a seed
/// is dropped (`TokenInvalid` from the next call on, the other seed stays),
/// and the repaired seed is picked up again.
#[test]
fn forged_seeds() {
    let cap = token(8, "forged", &[SEND], "*");
    let other = token(9, "other", &[READ], "*");

    // At start-up: refused, naming the file.
    let (ws, _) = workspace("authority_forged_start", &[]);
    let bad = ws.write(
        "seeds/bad.toml",
        &seed_with_token(&cap, &forged(&cap, "exp")),
    );
    let up = Upstream::start();
    let link = AuthorityLink::new(format!("http://127.0.0.1:{}", free_port()), test_pub());
    ws.setup(
        MAPPING,
        PERMIT_ALL,
        &config(&up, link, std::slice::from_ref(&bad)),
    );
    let f = ws.start_failure();
    assert_eq!(f.code, Some(2), "{}", f.stderr_text());
    let err = f.stderr_text();
    assert!(err.contains(&bad.display().to_string()), "{err}");
    assert!(err.contains("raw_token"), "{err}");

    // While running: each forged claim is dropped, then repaired.
    let dir = support::authority::workspace("sidecar_forged");
    let auth = AuthorityProc::start(&dir, AuthorityOpts::default());
    let (ws, seeds) = workspace(
        "authority_forged_running",
        &[("a.toml", &cap), ("b.toml", &other)],
    );
    let link = AuthorityLink::new(auth.url(), test_pub());
    ws.setup(MAPPING, PERMIT_ALL, &config(&up, link, &seeds));
    let sc = ws.start();
    let proxy = sc.proxy_url();
    assert_eq!(get_wttr(&proxy).status, 200);
    for claim in CLAIM_NAMES {
        write_atomically(&seeds[0], &seed_with_token(&cap, &forged(&cap, claim)));
        let denied = poll_wttr(&proxy, 403, Some("TokenInvalid"));
        let rec = record_of(&ws, &denied.json());
        assert_eq!(
            field(&rec, "decision.reason"),
            "TokenInvalid",
            "{claim}: {rec}"
        );
        assert_eq!(field(&rec, "token_id"), &Value::Null, "{claim}: {rec}");
        // The other seed is untouched.
        let r = curl(&proxy, &["http://api.github.com/repos/o/r"]);
        assert_eq!(r.resp().status, 200, "{claim}: {}", r.resp().text());
        write_atomically(&seeds[0], &seed_text(&cap));
        poll_wttr(&proxy, 200, None);
    }
    let log = sc.stderr_text();
    assert!(
        count_lines(&log, "capability seed rejected") >= CLAIM_NAMES.len(),
        "{log}"
    );
}

/// SDC-34, TOK-19: a seed file replaced while running swaps in the new
/// token for the next calls; a deleted seed grants nothing.
#[test]
fn seed_replaced_while_running() {
    let up = Upstream::start();
    let dir = support::authority::workspace("sidecar_seed_swap");
    let auth = AuthorityProc::start(&dir, AuthorityOpts::default());
    let first = token(10, "first", &[SEND], "*");
    let second = token(11, "second", &[SEND], "wttr.in");
    let (ws, seeds) = workspace("authority_seed_swap", &[("a.toml", &first)]);
    let link = AuthorityLink::new(auth.url(), test_pub());
    ws.setup(MAPPING, PERMIT_ALL, &config(&up, link, &seeds));
    let sc = ws.start();
    let proxy = sc.proxy_url();

    assert_eq!(get_wttr(&proxy).status, 200);
    assert_eq!(field(&last_record(&ws, 1), "agent_id"), "agt_first");

    write_atomically(&seeds[0], &seed_text(&second));
    let rec = poll("the new token in the audit record", EFFECT, || {
        assert_eq!(get_wttr(&proxy).status, 200);
        let rec = ws.audit().records().last().cloned()?;
        (field(&rec, "agent_id") == "agt_second").then_some(rec)
    });
    assert_eq!(
        field(&rec, "token_id"),
        second.claims().token_id.as_str(),
        "{rec}"
    );
    // The new token's narrower scope applies.
    let r = curl(&proxy, &["-X", "POST", "http://paste.rs/", "-d", "x"]);
    r.resp().assert_deny("ScopeViolation");

    std::fs::remove_file(&seeds[0]).unwrap();
    poll_wttr(&proxy, 403, Some("TokenInvalid"));
    assert!(
        sc.stderr_text().contains("cannot be read"),
        "{}",
        sc.stderr_text()
    );
}

/// SDC-31, SDC-34: unusable link files refuse the start with exit 2, naming
/// the config key and the file; in policy-only mode seeds are not read and
/// a warning says so.
#[test]
fn unusable_link_files_refuse_the_start() {
    let up = Upstream::start();
    let cap = token(12, "files", &[SEND], "*");
    let url = format!("http://127.0.0.1:{}", free_port());

    let (ws, seeds) = workspace("authority_bad_public_key", &[("a.toml", &cap)]);
    let key = fixtures().join("tokens/authority-test.key");
    let link = AuthorityLink::new(&url, &key);
    ws.setup(MAPPING, PERMIT_ALL, &config(&up, link, &seeds));
    let f = ws.start_failure();
    assert_eq!(f.code, Some(2), "{}", f.stderr_text());
    let err = f.stderr_text();
    assert!(err.contains("sidecar.authority.public_key_path"), "{err}");
    assert!(err.contains(&key.display().to_string()), "{err}");
    assert!(err.contains("64 bytes"), "{err}");

    let (ws, seeds) = workspace("authority_missing_ca", &[("a.toml", &cap)]);
    let missing = ws.path("no-such-ca.crt");
    let link = AuthorityLink::new("https://localhost:1", test_pub()).ca(&missing);
    ws.setup(MAPPING, PERMIT_ALL, &config(&up, link, &seeds));
    let f = ws.start_failure();
    assert_eq!(f.code, Some(2), "{}", f.stderr_text());
    let err = f.stderr_text();
    assert!(err.contains("sidecar.authority.ca_cert_path"), "{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");

    let (ws, seeds) = workspace("authority_bad_client_key", &[("a.toml", &cap)]);
    let ca = ws.write("ca.crt", "not a certificate\n");
    let link = AuthorityLink::new("https://localhost:1", test_pub())
        .ca(&ca)
        .client(&ca, &ca);
    ws.setup(MAPPING, PERMIT_ALL, &config(&up, link, &seeds));
    let f = ws.start_failure();
    assert_eq!(f.code, Some(2), "{}", f.stderr_text());
    assert!(
        f.stderr_text().contains("holds no PEM `CERTIFICATE`"),
        "{}",
        f.stderr_text()
    );

    // Policy-only mode: the seed is not consulted (DEC-7), even a broken one.
    let (ws, _) = workspace("authority_policy_only_seeds", &[]);
    let broken = ws.write("seeds/broken.toml", "not a seed\n");
    let cfg = Config::default()
        .resolve("wttr.in:80", up.addr)
        .capability_seeds(std::slice::from_ref(&broken));
    let cfg = Config {
        authority: Some(AuthorityLink {
            public_key_path: Some(test_pub().display().to_string()),
            ..AuthorityLink::default()
        }),
        ..cfg
    };
    ws.setup(MAPPING, PERMIT_ALL, &cfg);
    let sc = ws.start();
    assert!(
        sc.stderr_text()
            .contains("`sidecar.capability_seed.paths` is ignored"),
        "{}",
        sc.stderr_text()
    );
    let r = get_wttr(&sc.proxy_url());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(field(&last_record(&ws, 1), "agent_id"), &Value::Null);
}
