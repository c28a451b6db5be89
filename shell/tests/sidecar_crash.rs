//! `kill -9` under load (SDC-14, SDC-15, AUD-17): the log left behind
//! verifies (at most a torn last line), and every call a client got an answer
//! for was recorded — the record is written before the answer.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Config, Conn, SEED000_MAPPING, SEED000_POLICY, Upstream, Workspace};

#[test]
fn kill9_mid_load_leaves_a_verifiable_complete_log() {
    let up = Upstream::start();
    let ws = Workspace::new("crash_kill9");
    let cfg = Config::default()
        .resolve("wttr.in:80", up.addr)
        .resolve("paste.rs:80", up.addr);
    ws.setup(SEED000_MAPPING, SEED000_POLICY, &cfg);
    let mut sc = ws.start();

    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let deny_ids = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..8)
        .map(|t| {
            let mut c = Conn::open(sc.addr);
            let (answered, stop, deny_ids) = (answered.clone(), stop.clone(), deny_ids.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let r = if i.is_multiple_of(2) {
                        c.get(&format!("http://wttr.in/t{t}/{i}"))
                    } else {
                        c.send(b"POST http://paste.rs/ HTTP/1.1\r\nHost: paste.rs\r\nContent-Length: 6\r\n\r\nleaked")
                    };
                    let Ok(r) = r else { break };
                    assert!(r.status == 200 || r.status == 403, "status {}", r.status);
                    if r.status == 403 {
                        let id = r.json()["event_id"].as_str().unwrap().to_owned();
                        deny_ids.lock().unwrap().push(id);
                    }
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();

    // Let load build up (bounded), then SIGKILL mid-stream.
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < 400 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    sc.kill9();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().expect("client thread");
    }
    let answered = answered.load(Ordering::SeqCst);
    assert!(answered >= 400, "load never built up: {answered} answers");

    let log = ws.audit();
    let v = log.verify();
    let verified = v.assert_ok();
    let complete = log.records().len();
    assert_eq!(
        verified, complete,
        "verify counted {verified} of {complete} complete lines"
    );
    assert!(
        complete >= answered,
        "{answered} calls were answered but only {complete} records are on disk"
    );
    let ids: HashSet<String> = log
        .records()
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_owned())
        .collect();
    for id in deny_ids.lock().unwrap().iter() {
        assert!(ids.contains(id), "answered deny {id} has no record");
    }
}
