//! `firma monitor` against real files (MON-*): an audit log written by a real
//! sidecar serving real requests, the sidecar's own log lines, and the real
//! `firma` binary as the monitor. Every wait is bounded.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::sidecar::wait_timeout;
use support::{Config, Conn, SEED000_MAPPING, SEED000_POLICY, Upstream, Workspace};

/// How long a follower may take to show a line or a message.
const SEEN: Duration = Duration::from_secs(10);
/// How long a one-shot run may take.
const ONE_SHOT: Duration = Duration::from_secs(20);

/// Seed 000's rules plus a second class for `example.org`.
fn mapping() -> String {
    format!(
        "{SEED000_MAPPING}\n[[rules]]\nmethod = \"GET\"\nhost = \"example.org\"\npath = \"*\"\naction_class = \"code.read\"\n"
    )
}

fn policy() -> String {
    format!(
        "{SEED000_POLICY}\npermit (principal, action == Firma::Action::\"code.read\", resource);\n"
    )
}

/// A state directory holding the audit log of a real sidecar that served
/// ALLOW, DENY, ALLOW (code.read), PASSTHROUGH, DENY, and its log lines as
/// `sidecar.log`.
struct Recorded {
    ws: Workspace,
    /// `<ws>/state`.
    state: PathBuf,
    /// The audit lines, in file order, without `\n`.
    lines: Vec<String>,
    /// The sidecar's log lines.
    log: Vec<String>,
}

impl Recorded {
    fn new(name: &str) -> Recorded {
        let up = Upstream::start();
        let ws = Workspace::new(&format!("monitor_{name}"));
        let cfg = Config {
            default_protected: false,
            ..Config::default()
        }
        .resolve("wttr.in:80", up.addr)
        .resolve("paste.rs:80", up.addr)
        .resolve("example.org:80", up.addr)
        .resolve("unmapped.test:80", up.addr);
        ws.setup(&mapping(), &policy(), &cfg);
        let sc = ws.start();
        let mut c = Conn::open(sc.addr);
        let paste =
            b"POST http://paste.rs/ HTTP/1.1\r\nHost: paste.rs\r\nContent-Length: 2\r\n\r\nhi";
        let statuses = [
            c.get("http://wttr.in/london?format=3").unwrap().status,
            c.send(paste).unwrap().status,
            c.get("http://example.org/src/lib.rs").unwrap().status,
            c.get("http://unmapped.test/p").unwrap().status,
            c.send(paste).unwrap().status,
        ];
        assert_eq!(statuses, [200, 403, 200, 200, 403]);
        ws.audit().expect_records(5);
        let log = sc.stderr_lines();
        drop(sc);
        let text = std::fs::read_to_string(ws.audit_path()).unwrap();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 5);
        let state = ws.path("state");
        std::fs::write(state.join("audit.jsonl"), &text).unwrap();
        std::fs::write(state.join("sidecar.log"), log.join("\n") + "\n").unwrap();
        Recorded {
            ws,
            state,
            lines,
            log,
        }
    }

    fn record(&self, i: usize) -> serde_json::Value {
        serde_json::from_str(&self.lines[i]).unwrap()
    }

    /// `firma monitor --state-dir <state> <args>`, one shot.
    fn once(&self, args: &[&str]) -> Output {
        let mut all = vec!["--state-dir", self.state.to_str().unwrap(), "--no-follow"];
        all.extend_from_slice(args);
        run(&all)
    }

    /// The audit lines `idx`, joined as the file has them.
    fn pick(&self, idx: &[usize]) -> String {
        idx.iter()
            .map(|&i| format!("{}\n", self.lines[i]))
            .collect()
    }
}

fn monitor_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firma"));
    cmd.arg("monitor")
        .args(args)
        .env_remove("FIRMA_CONFIG")
        .env_remove("FIRMA_STATE_DIR")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    cmd
}

/// Runs a monitor to completion (bounded).
fn run(args: &[&str]) -> Output {
    let mut child = monitor_cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).unwrap();
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        err.read_to_end(&mut v).unwrap();
        v
    });
    let Some(status) = wait_timeout(&mut child, ONE_SHOT) else {
        let _ = child.kill();
        panic!("firma monitor {args:?} did not exit within {ONE_SHOT:?}");
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// A following monitor; killed when dropped.
struct Follower {
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Follower {
    fn spawn(args: &[&str]) -> Follower {
        let mut child = monitor_cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let store = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines() {
                let Ok(l) = l else { break };
                store.lock().unwrap().push(l);
            }
        });
        Follower {
            child,
            lines,
            stderr,
        }
    }

    /// Waits until the monitor holds `path` open and is positioned at its
    /// end (it reads /proc/<pid>/fd and fdinfo), so that what is appended
    /// next is new to it.
    fn wait_open(&self, path: &Path) {
        let want = std::fs::canonicalize(path).unwrap();
        let pid = self.child.id();
        let deadline = Instant::now() + SEEN;
        while Instant::now() < deadline {
            let len = std::fs::metadata(&want).unwrap().len();
            if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
                let at_end = rd.flatten().any(|e| {
                    std::fs::read_link(e.path()).is_ok_and(|p| p == want)
                        && std::fs::read_to_string(format!(
                            "/proc/{pid}/fdinfo/{}",
                            e.file_name().to_string_lossy()
                        ))
                        .is_ok_and(|info| {
                            info.lines()
                                .any(|l| l.split_whitespace().eq(["pos:", &len.to_string()]))
                        })
                });
                if at_end {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("monitor never opened {} at its end", path.display());
    }

    fn next(&self) -> String {
        self.lines
            .recv_timeout(SEEN)
            .unwrap_or_else(|e| panic!("no monitor output within {SEEN:?}: {e}"))
    }

    /// Asserts nothing more arrives for a short while.
    fn quiet(&self, d: Duration) {
        if let Ok(l) = self.lines.recv_timeout(d) {
            panic!("unexpected monitor output: {l}");
        }
    }

    fn wait_stderr(&self, want: &str) {
        let deadline = Instant::now() + SEEN;
        while Instant::now() < deadline {
            if self.stderr.lock().unwrap().iter().any(|l| l == want) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "stderr never showed {want:?}; got {:?}",
            self.stderr.lock().unwrap()
        );
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
}

/// MON-7, MON-9: `--decision deny` in JSON prints exactly the denied records,
/// byte for byte; the other outcomes select theirs.
#[test]
fn mon_decision_filter_json_is_byte_for_byte() {
    let r = Recorded::new("decision");
    let out = r.once(&[
        "--source",
        "audit",
        "--format",
        "json",
        "--decision",
        "deny",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), r.pick(&[1, 4]));
    for (d, idx) in [
        ("allow", &[0usize, 2][..]),
        ("passthrough", &[3][..]),
        ("abort", &[][..]),
    ] {
        let out = r.once(&["--source", "audit", "--format", "json", "--decision", d]);
        assert_eq!(text(&out.stdout), r.pick(idx), "--decision {d}");
    }
    // No filter: the whole log as written.
    let out = r.once(&["--source", "audit", "--format", "json"]);
    assert_eq!(
        out.stdout,
        std::fs::read(r.state.join("audit.jsonl")).unwrap()
    );
}

/// MON-7: `--action-class` is an exact match on `envelope.intent.action_class`.
#[test]
fn mon_action_class_filter() {
    let r = Recorded::new("class");
    let json = ["--source", "audit", "--format", "json"];
    let run_class = |c: &str| {
        let mut a = json.to_vec();
        a.extend(["--action-class", c]);
        text(&r.once(&a).stdout)
    };
    assert_eq!(run_class("code.read"), r.pick(&[2]));
    assert_eq!(run_class("communication.external.send"), r.pick(&[0, 1, 4]));
    assert_eq!(run_class("communication.external"), "");
    // Combined with --decision.
    let mut a = json.to_vec();
    a.extend([
        "--action-class",
        "communication.external.send",
        "--decision",
        "allow",
    ]);
    assert_eq!(text(&r.once(&a).stdout), r.pick(&[0]));
}

/// MON-6, MON-11: `--since` with an RFC 3339 time and with a relative window; a bad
/// value exits 2 naming the flag.
#[test]
fn mon_since_absolute_relative_and_invalid() {
    let r = Recorded::new("since");
    let ts: Vec<String> = (0..5)
        .map(|i| r.record(i)["timestamp"].as_str().unwrap().to_owned())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
    let json = ["--source", "audit", "--format", "json", "--since"];
    let with = |s: &str| {
        let mut a = json.to_vec();
        a.push(s);
        let out = r.once(&a);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(with(&ts[2]), r.pick(&[2, 3, 4]));
    assert_eq!(with(&ts[4]), r.pick(&[4]));
    assert_eq!(with("2500-01-01T00:00:00+01:00"), "");
    assert_eq!(with("1h"), r.pick(&[0, 1, 2, 3, 4]));
    assert_eq!(with("1d"), r.pick(&[0, 1, 2, 3, 4]));

    // Relative windows on component logs: an old line (and its continuation)
    // is left out, the sidecar's fresh lines are kept.
    let log = r.state.join("authority.log");
    std::fs::write(
        &log,
        "2020-01-01T00:00:00.000000Z  INFO old: long ago\n  continued\n",
    )
    .unwrap();
    append(&log, &r.log[0]);
    let out = r.once(&["--source", "authority", "--since", "30m"]);
    assert_eq!(text(&out.stdout), format!("[authority] {}\n", r.log[0]));
    let out = r.once(&["--source", "authority"]);
    assert_eq!(text(&out.stdout).lines().count(), 3);

    for bad in ["15x", "yesterday", "2026-13-01T00:00:00Z"] {
        let out = r.once(&["--since", bad]);
        assert_eq!(out.status.code(), Some(2), "--since {bad}");
        let err = text(&out.stderr);
        assert!(err.starts_with("monitor: --since: "), "{err}");
        assert!(err.contains(bad), "{err}");
        assert!(out.stdout.is_empty());
    }
}

/// MON-8: pretty output to a pipe is plain text with one line per record
/// carrying time, decision, method, target, class, agent and reason.
#[test]
fn mon_pretty_plain_when_piped() {
    let r = Recorded::new("pretty");
    let out = r.once(&["--source", "audit"]);
    assert!(out.status.success());
    let s = text(&out.stdout);
    assert!(!s.contains('\x1b'), "ANSI escapes in piped output: {s:?}");
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 5, "{s}");
    for (i, l) in lines.iter().enumerate() {
        let ts = r.record(i)["timestamp"].as_str().unwrap().to_owned();
        assert!(l.starts_with(&format!("{}Z  ", &ts[..19])), "{l}");
    }
    let fields = |l: &str| -> Vec<String> {
        l.split("  ")
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        fields(lines[0])[1..],
        [
            "ALLOW",
            "GET",
            "wttr.in/london",
            "class=communication.external.send",
            "agent=-"
        ]
    );
    let deny = fields(lines[1]);
    assert_eq!(
        deny[1..6],
        [
            "DENY",
            "POST",
            "paste.rs/",
            "class=communication.external.send",
            "agent=-"
        ]
    );
    let reason = r.record(1)["decision"]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(deny[6], format!("reason={reason}"));
    assert_eq!(
        fields(lines[3])[1..],
        [
            "PASSTHROUGH",
            "GET",
            "unmapped.test/p",
            "class=-",
            "agent=-"
        ]
    );
    // The decision column is padded to one width.
    assert_eq!(lines[0].find("GET"), lines[3].find("GET"));
    // NO_COLOR and a pipe both keep it plain; a terminal is needed for colour.
    let mut cmd = monitor_cmd(&[
        "--state-dir",
        r.state.to_str().unwrap(),
        "--no-follow",
        "--source",
        "audit",
    ]);
    let out = cmd.env("NO_COLOR", "1").output().unwrap();
    assert_eq!(out.stdout, s.as_bytes());

    // On a terminal (a pty from `script`), the decision is coloured, unless
    // NO_COLOR is set.
    let on_tty = |no_color: bool| {
        let line = format!(
            "'{}' monitor --state-dir '{}' --no-follow --source audit",
            env!("CARGO_BIN_EXE_firma"),
            r.state.display()
        );
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .env_remove("FIRMA_CONFIG")
            .env_remove("FIRMA_STATE_DIR")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        text(&cmd.output().unwrap().stdout)
    };
    let tty = on_tty(false);
    assert!(tty.contains("\x1b[31mDENY       \x1b[0m"), "{tty:?}");
    assert!(tty.contains("\x1b[32mALLOW      \x1b[0m"), "{tty:?}");
    assert!(!on_tty(true).contains('\x1b'));
}

/// MON-2, MON-3: a follower starts at the end and shows lines appended later; with
/// `--config` and no `--state-dir` it follows the config's audit file while
/// a real sidecar writes to it.
#[test]
fn mon_follow_shows_new_records_live() {
    let r = Recorded::new("follow");
    let audit = r.state.join("audit.jsonl");
    let f = Follower::spawn(&[
        "--state-dir",
        r.state.to_str().unwrap(),
        "--source",
        "audit",
        "--format",
        "json",
    ]);
    f.wait_open(&audit);
    append(&audit, &r.lines[3]);
    assert_eq!(f.next(), r.lines[3], "old lines must not be replayed");
    f.quiet(Duration::from_millis(300));

    // Live: the sidecar writes, the monitor shows it.
    let up = Upstream::start();
    let cfg = Config {
        default_protected: false,
        ..Config::default()
    }
    .resolve("paste.rs:80", up.addr);
    let config = r.ws.setup(&mapping(), &policy(), &cfg);
    let sc = r.ws.start();
    let live = Follower::spawn(&[
        "--config",
        config.to_str().unwrap(),
        "--source",
        "audit",
        "--format",
        "json",
        "--decision",
        "deny",
    ]);
    live.wait_open(&r.ws.audit_path());
    let mut c = Conn::open(sc.addr);
    let resp = c
        .send(b"POST http://paste.rs/ HTTP/1.1\r\nHost: paste.rs\r\nContent-Length: 2\r\n\r\nhi")
        .unwrap();
    assert_eq!(resp.status, 403);
    let got = live.next();
    let last = r.ws.audit().expect_records(6);
    let v: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!(v, last[5]);
    assert_eq!(v["decision"]["outcome"], "DENY");
}

/// MON-4: rotation by rename + new file, and truncation in place,
/// are followed from the start of the new content.
#[test]
fn mon_follow_survives_rotation_and_truncation() {
    let r = Recorded::new("rotate");
    let audit = r.state.join("audit.jsonl");
    let f = Follower::spawn(&[
        "--state-dir",
        r.state.to_str().unwrap(),
        "--source",
        "audit",
        "--format",
        "json",
    ]);
    f.wait_open(&audit);
    append(&audit, &r.lines[0]);
    assert_eq!(f.next(), r.lines[0]);
    std::fs::rename(&audit, r.state.join("audit.jsonl.1")).unwrap();
    std::fs::write(&audit, format!("{}\n{}\n", r.lines[1], r.lines[2])).unwrap();
    assert_eq!(f.next(), r.lines[1]);
    assert_eq!(f.next(), r.lines[2]);
    append(&audit, &r.lines[3]);
    assert_eq!(f.next(), r.lines[3]);
    // Truncate in place and write something shorter.
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&audit)
        .unwrap();
    // The shorter content makes the shrink visible even if the monitor
    // looks only after this append.
    append(&audit, &r.lines[4]);
    assert_eq!(f.next(), r.lines[4]);
    f.quiet(Duration::from_millis(300));
}

/// MON-2, MON-5, MON-7, MON-9: component logs; `--decision` does not apply to them; JSON
/// wraps them.
#[test]
fn mon_component_logs() {
    let r = Recorded::new("component");
    let out = r.once(&["--source", "sidecar", "--decision", "deny"]);
    assert!(out.status.success());
    let want: String = r.log.iter().map(|l| format!("[sidecar] {l}\n")).collect();
    assert!(!r.log.is_empty());
    assert_eq!(text(&out.stdout), want);
    let out = r.once(&["--source", "sidecar", "--format", "json"]);
    let got: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want: Vec<serde_json::Value> = r
        .log
        .iter()
        .map(|l| serde_json::json!({"source": "sidecar", "raw": l}))
        .collect();
    assert_eq!(got, want);
    assert!(text(&out.stdout).starts_with("{\"source\":\"sidecar\",\"raw\":"));

    // `all`, one shot: audit first, then the component logs; a missing
    // authority.log is reported on stderr and the run still succeeds.
    let out = r.once(&["--format", "json", "--decision", "deny"]);
    assert!(out.status.success());
    let s = text(&out.stdout);
    assert!(s.starts_with(&r.pick(&[1, 4])), "{s}");
    assert_eq!(s.lines().count(), 2 + r.log.len());
    let err = text(&out.stderr);
    assert_eq!(
        err,
        format!(
            "monitor: no authority log at {}\n",
            r.state.join("authority.log").display()
        )
    );

    // Following all sources: a sidecar.log line shows up wrapped.
    let f = Follower::spawn(&["--state-dir", r.state.to_str().unwrap(), "--format", "json"]);
    f.wait_open(&r.state.join("sidecar.log"));
    append(&r.state.join("sidecar.log"), "hello \"there\"");
    assert_eq!(f.next(), r#"{"source":"sidecar","raw":"hello \"there\""}"#);
}

/// MON-10: two monitors at once both see a new line.
#[test]
fn mon_two_monitors_both_see_a_line() {
    let r = Recorded::new("two");
    let audit = r.state.join("audit.jsonl");
    let args = [
        "--state-dir",
        r.state.to_str().unwrap(),
        "--source",
        "audit",
        "--format",
        "json",
    ];
    let a = Follower::spawn(&args);
    let b = Follower::spawn(&args);
    a.wait_open(&audit);
    b.wait_open(&audit);
    append(&audit, &r.lines[1]);
    assert_eq!(a.next(), r.lines[1]);
    assert_eq!(b.next(), r.lines[1]);
}

/// MON-5, MON-11: following a missing file says so once on stderr, then
/// shows the file from its start once it appears. Ctrl-C ends it with 0.
#[test]
fn mon_missing_file_waits_then_follows() {
    let ws = Workspace::new("monitor_missing");
    let state = ws.path("state");
    let audit = state.join("audit.jsonl");
    let mut f = Follower::spawn(&[
        "--state-dir",
        state.to_str().unwrap(),
        "--source",
        "audit",
        "--format",
        "json",
    ]);
    f.wait_stderr(&format!(
        "monitor: waiting for audit log at {} (start `firma sidecar start` first)",
        audit.display()
    ));
    std::fs::write(&audit, "{\"a\":1}\n{\"a\":2}\n").unwrap();
    assert_eq!(f.next(), "{\"a\":1}");
    assert_eq!(f.next(), "{\"a\":2}");
    assert_eq!(f.stderr.lock().unwrap().len(), 1);
    f.signal("-INT");
    let status = wait_timeout(&mut f.child, SEEN).expect("monitor did not stop on SIGINT");
    assert_eq!(status.code(), Some(0));
}

/// MON-11: a reader that goes away ends the monitor quietly with 0.
#[test]
fn mon_broken_pipe_exits_zero_quietly() {
    let r = Recorded::new("pipe");
    // Enough lines to fill any pipe buffer.
    let big: String = (0..20_000)
        .map(|i| format!("{}\n", r.lines[i % 5]))
        .collect();
    std::fs::write(r.state.join("audit.jsonl"), big).unwrap();
    let mut child = monitor_cmd(&[
        "--state-dir",
        r.state.to_str().unwrap(),
        "--no-follow",
        "--source",
        "audit",
        "--format",
        "json",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first.trim_end(), r.lines[0]);
    drop(out);
    let status = wait_timeout(&mut child, ONE_SHOT).expect("monitor did not exit");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err, "");
}

/// MON-2, MON-11: without --state-dir the audit log comes from the config;
/// an invalid config exits 2 naming the file.
#[test]
fn mon_config_decides_the_audit_path() {
    let r = Recorded::new("config");
    let config = r.ws.path("firma.toml");
    // The config's file sink is logs/audit.jsonl, not <state>/audit.jsonl.
    std::fs::write(r.state.join("audit.jsonl"), "").unwrap();
    let out = run(&[
        "--config",
        config.to_str().unwrap(),
        "--no-follow",
        "--source",
        "audit",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), r.pick(&[0, 1, 2, 3, 4]));
    let bad = r.ws.write("bad.toml", "[sidecar.audit]\nsink = 3\n");
    let out = run(&["--config", bad.to_str().unwrap(), "--no-follow"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("monitor: ") && err.contains("bad.toml"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
