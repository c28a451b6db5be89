//! The sidecar's audit sinks (SDC-14, SDC-15, SDC-16, AUD-14, AUD-15,
//! AUD-17, AUD-21): one record per decision, stdout and file sinks, a chain
//! that continues across restarts, torn tails cut off, a new key starting a
//! new chain.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::audit::verify_with;
use support::sidecar::Sink;
use support::{
    AuditLog, Config, Conn, SEED000_MAPPING, SEED000_POLICY, Upstream, Workspace, field,
};

fn config(up: &Upstream) -> Config {
    Config {
        default_protected: false,
        ..Config::default()
    }
    .resolve("wttr.in:80", up.addr)
    .resolve("paste.rs:80", up.addr)
    .resolve("example.org:80", up.addr)
}

/// Sends `n` requests cycling ALLOW / DENY / PASSTHROUGH; returns the statuses.
fn traffic(sc: &support::Sidecar, n: usize) -> Vec<u16> {
    let mut c = Conn::open(sc.addr);
    (0..n)
        .map(|i| {
            let r = match i % 3 {
                0 => c.get(&format!("http://wttr.in/city{i}")),
                1 => c.send(
                    b"POST http://paste.rs/ HTTP/1.1\r\nHost: paste.rs\r\nContent-Length: 2\r\n\r\nhi",
                ),
                _ => c.get(&format!("http://example.org/p{i}")),
            };
            r.unwrap().status
        })
        .collect()
}

fn seqs(log: &AuditLog) -> Vec<u64> {
    log.records()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect()
}

// SDC-16: one JSON line per request on stdout; logs stay on stderr.
#[test]
fn stdout_sink_prints_one_line_per_request() {
    let up = Upstream::start();
    let ws = Workspace::new("audit_stdout");
    let cfg = Config {
        sink: Sink::Stdout,
        ..config(&up)
    };
    ws.setup(SEED000_MAPPING, SEED000_POLICY, &cfg);
    let sc = ws.start();
    assert!(
        sc.stderr_lines()
            .iter()
            .any(|l| l.ends_with("stdout sink ready"))
    );
    let statuses = traffic(&sc, 6);
    assert_eq!(statuses, [200, 403, 200, 200, 403, 200]);
    let lines = sc.wait_stdout_lines(6, support::audit::AUDIT_WAIT);
    assert_eq!(lines.len(), 6, "stdout:\n{}", lines.join("\n"));
    for (i, l) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert_eq!(v["seq"], i as u64);
    }
    assert!(
        sc.stderr_lines().iter().all(|l| !l.contains("\"schema\"")),
        "records leaked to stderr"
    );
    // The captured stdout is a valid log.
    let file = ws.write("stdout.jsonl", &(lines.join("\n") + "\n"));
    assert_eq!(verify_with(&ws.path("audit.key"), &file).assert_ok(), 6);
}

// SDC-14, SDC-15: N requests → N lines, created 0600, verifies.
#[test]
fn file_sink_one_record_per_request() {
    let up = Upstream::start();
    let ws = Workspace::new("audit_file");
    ws.setup(SEED000_MAPPING, SEED000_POLICY, &config(&up));
    let sc = ws.start();
    let statuses = traffic(&sc, 30);
    assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 10);
    let log = ws.audit();
    let recs = log.expect_records(30);
    let outcomes: Vec<&str> = recs
        .iter()
        .map(|r| field(r, "decision.outcome").as_str().unwrap())
        .collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "ALLOW").count(), 10);
    assert_eq!(outcomes.iter().filter(|o| **o == "DENY").count(), 10);
    assert_eq!(outcomes.iter().filter(|o| **o == "PASSTHROUGH").count(), 10);
    assert_eq!(seqs(&log), (0..30).collect::<Vec<u64>>());
    assert_eq!(log.verify().assert_ok(), 30);
    let mode = std::fs::metadata(&log.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "audit file mode {mode:o}");
}

// SDC-15, AUD-15: a restart on the same file continues the chain.
#[test]
fn restart_continues_the_chain() {
    let up = Upstream::start();
    let ws = Workspace::new("audit_restart");
    ws.setup(SEED000_MAPPING, SEED000_POLICY, &config(&up));
    let log = ws.audit();
    {
        let sc = ws.start();
        traffic(&sc, 4);
        log.expect_records(4);
    }
    {
        let sc = ws.start();
        traffic(&sc, 3);
        log.expect_records(7);
    }
    assert_eq!(seqs(&log), (0..7).collect::<Vec<u64>>());
    assert_eq!(log.verify().assert_ok(), 7);
}

// SDC-15, AUD-15, AUD-17: a torn tail is moved aside and cut off on start.
#[test]
fn torn_tail_is_moved_aside_on_start() {
    let up = Upstream::start();
    let ws = Workspace::new("audit_torn");
    ws.setup(SEED000_MAPPING, SEED000_POLICY, &config(&up));
    let log = ws.audit();
    {
        let sc = ws.start();
        traffic(&sc, 3);
        log.expect_records(3);
    }
    let torn = "{\"schema\":\"firma.audit.v1\",\"seq\":3,\"event_";
    let mut text = log.text();
    text.push_str(torn);
    std::fs::write(&log.path, &text).unwrap();
    let v = log.verify();
    assert_eq!(v.assert_ok(), 3);
    assert!(v.stderr.contains("torn last line"), "{}", v.stderr);
    {
        let sc = ws.start();
        traffic(&sc, 2);
        log.expect_records(5);
    }
    assert_eq!(seqs(&log), (0..5).collect::<Vec<u64>>());
    let v = log.verify();
    assert_eq!(v.assert_ok(), 5);
    assert!(v.stderr.is_empty(), "warnings after the cut: {}", v.stderr);
    let aside: Vec<_> = std::fs::read_dir(ws.path("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("audit.jsonl.torn-"))
        .collect();
    assert_eq!(aside.len(), 1, "torn tail not moved aside: {aside:?}");
    let suffix = aside[0].trim_start_matches("audit.jsonl.torn-");
    assert!(suffix.parse::<u64>().is_ok(), "unix time suffix {suffix:?}");
    let kept = std::fs::read_to_string(ws.path(&format!("logs/{}", aside[0]))).unwrap();
    assert_eq!(kept, torn);
}

// SDC-15: a log signed by another key is renamed; the new key starts a new chain.
#[test]
fn new_key_starts_a_new_chain() {
    let up = Upstream::start();
    let ws = Workspace::new("audit_rekey");
    ws.setup(SEED000_MAPPING, SEED000_POLICY, &config(&up));
    let log = ws.audit();
    {
        let sc = ws.start();
        traffic(&sc, 2);
        log.expect_records(2);
    }
    let old = log.text();
    std::fs::copy(
        support::fixtures().join("keys/TEST-ONLY-audit-p256-sec1.key.pem"),
        ws.path("audit.key"),
    )
    .unwrap();
    {
        let sc = ws.start();
        traffic(&sc, 3);
        log.expect_records(3);
    }
    assert_eq!(seqs(&log), [0, 1, 2], "the new key starts at seq 0");
    assert_eq!(log.verify().assert_ok(), 3);
    let renamed: Vec<_> = std::fs::read_dir(ws.path("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| {
            n.strip_prefix("audit.jsonl.")
                .is_some_and(|s| s.parse::<u64>().is_ok())
        })
        .collect();
    assert_eq!(
        renamed.len(),
        1,
        "old log not renamed to <file>.<unix time>"
    );
    let moved = ws.path(&format!("logs/{}", renamed[0]));
    assert_eq!(std::fs::read_to_string(&moved).unwrap(), old);
    let old_pub = support::fixtures().join("keys/TEST-ONLY-audit-p256-pkcs8.pub.pem");
    assert_eq!(verify_with(&old_pub, &moved).assert_ok(), 2);
}

// SDC-14: the ALLOW record is written before any byte of the request is sent,
// so it is on disk by the time the upstream has the request (read at once,
// without waiting; the upstream holds its answer for a second).
#[test]
fn allow_record_is_written_before_forwarding() {
    let up = Upstream::with(support::Behavior::Delay(std::time::Duration::from_secs(1)));
    let ws = Workspace::new("audit_before_forwarding");
    ws.setup(SEED000_MAPPING, SEED000_POLICY, &config(&up));
    let sc = ws.start();
    let addr = sc.addr;
    let client = std::thread::spawn(move || {
        Conn::open(addr)
            .get("http://wttr.in/first")
            .map(|r| r.status)
    });
    assert_eq!(up.wait_seen(1, std::time::Duration::from_secs(10)).len(), 1);
    let recs = ws.audit().records();
    assert_eq!(
        recs.len(),
        1,
        "no record on disk while the upstream holds the request"
    );
    assert_eq!(field(&recs[0], "decision.outcome"), "ALLOW");
    assert_eq!(field(&recs[0], "envelope.intent.resource.path"), "/first");
    assert_eq!(client.join().unwrap().unwrap(), 200);
}
