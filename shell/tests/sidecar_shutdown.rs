//! Graceful shutdown (SDC-17): on SIGTERM/SIGINT the sidecar stops accepting,
//! lets in-flight calls finish within `drain_timeout_secs`, flushes the audit
//! sink and exits 0.

mod support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{Behavior, Config, Conn, PERMIT_ALL, Upstream, Workspace, field};

const RULE: &str =
    "[[rules]]\nhost = \"wttr.in\"\naction_class = \"communication.external.send\"\n";

fn drain_config(up: &Upstream) -> Config {
    Config {
        drain_timeout_secs: 5,
        ..Config::default()
    }
    .resolve("wttr.in:80", up.addr)
}

// SDC-17: an in-flight slow call completes after SIGTERM; new connections
// are refused during the drain; exit 0; the record is on disk.
#[test]
fn sigterm_drains_in_flight_calls() {
    let up = Upstream::with(Behavior::Delay(Duration::from_millis(1500)));
    let ws = Workspace::new("shutdown_sigterm");
    ws.setup(RULE, PERMIT_ALL, &drain_config(&up));
    let mut sc = ws.start();
    let addr = sc.addr;
    let client = std::thread::spawn(move || {
        let mut c = Conn::open(addr);
        c.get("http://wttr.in/slow").map(|r| (r.status, r.text()))
    });
    // Behaviour wait: the call is in flight once the upstream has it.
    assert_eq!(up.wait_seen(1, Duration::from_secs(10)).len(), 1);
    sc.signal("TERM");

    // Stops accepting: a new connection is refused (bounded poll while the
    // slow call is still being served).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut refused = false;
    while Instant::now() < deadline && !client.is_finished() {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let answer = client.join().unwrap();
    let (status, text) = answer.expect("the in-flight call was cut off");
    assert_eq!(status, 200);
    assert_eq!(text, "upstream saw GET /slow host=wttr.in body=0");
    let st = sc
        .wait_exit(Duration::from_secs(5 + 10))
        .expect("did not exit after the drain");
    assert_eq!(st.code(), Some(0), "stderr:\n{}", sc.stderr_text());
    assert!(
        refused,
        "new connections were still accepted during the drain"
    );
    let log = ws.audit();
    let recs = log.records();
    assert_eq!(recs.len(), 1);
    assert_eq!(field(&recs[0], "envelope.intent.resource.path"), "/slow");
    assert_eq!(log.verify().assert_ok(), 1);
}

// SDC-17: SIGINT on an idle sidecar exits 0 with the log flushed.
#[test]
fn sigint_idle_exits_zero() {
    let up = Upstream::start();
    let ws = Workspace::new("shutdown_sigint");
    ws.setup(RULE, PERMIT_ALL, &drain_config(&up));
    let mut sc = ws.start();
    let mut c = Conn::open(sc.addr);
    assert_eq!(c.get("http://wttr.in/x").unwrap().status, 200);
    drop(c);
    sc.signal("INT");
    let st = sc
        .wait_exit(Duration::from_secs(15))
        .expect("no exit on SIGINT");
    assert_eq!(st.code(), Some(0), "stderr:\n{}", sc.stderr_text());
    assert_eq!(ws.audit().verify().assert_ok(), 1);
}

// SDC-17: a call still running after drain_timeout_secs is closed and the
// process still exits 0 (upstream slower than the 1 s drain).
#[test]
fn drain_timeout_bounds_the_shutdown() {
    let up = Upstream::with(Behavior::Silent);
    let ws = Workspace::new("shutdown_drain_timeout");
    let cfg = Config {
        drain_timeout_secs: 1,
        ..Config::default()
    }
    .resolve("wttr.in:80", up.addr);
    ws.setup(RULE, PERMIT_ALL, &cfg);
    let mut sc = ws.start();
    let addr = sc.addr;
    let client = std::thread::spawn(move || {
        let mut c = Conn::open(addr);
        c.get("http://wttr.in/forever").map(|r| r.status)
    });
    assert_eq!(up.wait_seen(1, Duration::from_secs(10)).len(), 1);
    sc.signal("TERM");
    let st = sc
        .wait_exit(Duration::from_secs(1 + 10))
        .expect("drain_timeout_secs did not bound the shutdown");
    assert_eq!(st.code(), Some(0), "stderr:\n{}", sc.stderr_text());
    // The client is released (answered or closed), not left hanging.
    let _ = client.join().unwrap();
    ws.audit().verify().assert_ok();
}
