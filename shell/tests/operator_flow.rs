//! The operator flow of seed `001` end to end, black-box (issue 6, "Tests"):
//! from an empty directory, `firma init --yes` → `firma config` adds a
//! mapping pack → `firma sidecar start --detach` → real `curl --proxy` calls,
//! one allowed by the scaffolded `dev` posture and one denied by it →
//! `firma monitor --no-follow --format json --decision deny` prints exactly
//! the denials → `firma sidecar status --json` → a policy edit is enforced →
//! a second `start` fails on the lock → `kill -9` of the Sidecar is reported
//! stale, `stop` clears it and `start` works again → `stop` leaves nothing.
//!
//! Everything is the real `firma` binary with HOME, XDG_DATA_HOME,
//! XDG_RUNTIME_DIR and FIRMA_STATE_DIR inside a scratch directory, a real
//! loopback upstream and real `curl`. Every wait is bounded; a Drop guard
//! SIGKILLs every firma process of the test (pidfiles, pids seen, and any
//! process whose command line names the scratch directory). Failure messages
//! carry the tails of `sidecar.log`, `authority.log` and `supervisor.log`.

mod support;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Upstream, curl};

/// How long one `firma` command may take (start includes both readiness
/// probes).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a policy edit may take to be enforced through the proxy.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(15);
/// How long records may take to reach `audit.jsonl`.
const AUDIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Lines of each component log quoted in a failure message.
const LOG_TAIL: usize = 40;

/// The daemon's pidfiles, supervisor first (the order the guard kills in).
const PIDFILES: [&str; 3] = ["stack.pid", "sidecar.pid", "authority.pid"];
/// The files `stop` must remove (DMN-9).
const DAEMON_FILES: [&str; 7] = [
    "authority.pid",
    "authority.listen",
    "sidecar.pid",
    "sidecar.listen",
    "stack.pid",
    "stack.lock",
    "capabilities/daemon.toml",
];

/// The allowed call: the `anthropic` pack (init's default for the
/// `generic` agent) maps it to `model.inference.chat`, which `dev` permits.
const ALLOWED_URL: &str = "http://api.anthropic.com/v1/messages";
/// The denied call: the `stripe` pack maps it to `payment.transfer`, which
/// every posture forbids (`dev-forbid-high-risk`).
const DENIED_URL: &str = "http://api.stripe.com/v1/payment_intents";

/// Appended to `policies/dev.cedar` in step 6: forbids LLM calls, so the
/// allowed call becomes denied.
const FORBID_LLM: &str = r#"
// Added by the operator: no LLM calls from this project for now.
@id("operator-forbid-llm")
forbid (principal, action == Firma::Action::"model.inference.chat", resource);
"#;

/// Fails the test with `msg` and the component logs when `cond` is false.
macro_rules! ensure {
    ($flow:expr, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            $flow.fail(&format!($($fmt)+));
        }
    };
}

/// The scratch directory of one run and everything started in it.
struct Flow {
    /// The empty directory everything lives in.
    root: PathBuf,
    authority_port: u16,
    sidecar_port: u16,
    /// Every daemon pid this test has seen (pidfiles, status output).
    pids: RefCell<BTreeSet<u32>>,
}

impl Flow {
    fn new(name: &str) -> Flow {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("operator_flow")
            .join(name);
        let _ = std::fs::remove_dir_all(&root);
        // HOME and XDG_RUNTIME_DIR exist on a real machine; nothing else does.
        for d in ["home", "run"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let (authority_port, sidecar_port) = two_free_ports();
        Flow {
            root,
            authority_port,
            sidecar_port,
            pids: RefCell::new(BTreeSet::new()),
        }
    }

    /// The workspace `firma init --workspace` creates.
    fn ws(&self) -> PathBuf {
        self.root.join("proj")
    }

    fn cfg(&self, rel: &str) -> PathBuf {
        self.ws().join(".firma").join(rel)
    }

    /// `$XDG_DATA_HOME/firma`.
    fn data(&self) -> PathBuf {
        self.root.join("data/firma")
    }

    /// `FIRMA_STATE_DIR`.
    fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    fn proxy(&self) -> String {
        format!("http://127.0.0.1:{}", self.sidecar_port)
    }

    /// `firma <args>` in `cwd` with the scratch environment.
    fn command(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_firma"));
        c.args(args)
            .current_dir(cwd)
            .env("HOME", self.root.join("home"))
            .env("XDG_DATA_HOME", self.root.join("data"))
            .env("XDG_RUNTIME_DIR", self.root.join("run"))
            .env("FIRMA_STATE_DIR", self.state())
            .env("NO_COLOR", "1")
            .env_remove("FIRMA_CONFIG")
            .env_remove("FIRMA_SIDECAR_CONFIG_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs `firma <args>` in the workspace, bounded by [`COMMAND_TIMEOUT`].
    fn firma(&self, args: &[&str]) -> Output {
        self.firma_in(&self.ws(), args)
    }

    /// Runs `firma <args>` in `cwd`, bounded by [`COMMAND_TIMEOUT`]; records
    /// the daemon pids afterwards.
    fn firma_in(&self, cwd: &Path, args: &[&str]) -> Output {
        let what = format!("firma {}", args.join(" "));
        let out = match run_bounded(self.command(cwd, args), COMMAND_TIMEOUT) {
            Ok(out) => out,
            Err(e) => self.fail(&format!("`{what}`: {e}")),
        };
        self.record_pids();
        out
    }

    /// Runs `firma <args>` in the workspace and fails unless it exits with
    /// `code`.
    fn expect(&self, code: i32, args: &[&str]) -> Output {
        let out = self.firma(args);
        ensure!(
            self,
            out.status.code() == Some(code),
            "`firma {}` exited {:?}, expected {code}\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.status.code(),
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    }

    /// `firma sidecar status --json`: exit code and document.
    fn status(&self) -> (i32, Value) {
        let out = self.firma(&["sidecar", "status", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            self.fail(&format!(
                "status --json is not JSON ({e}): {}\n{}",
                text(&out.stdout),
                text(&out.stderr)
            ))
        });
        for c in v["components"].as_array().into_iter().flatten() {
            if let Some(pid) = c["pid"].as_u64() {
                self.pids.borrow_mut().insert(u32::try_from(pid).unwrap());
            }
        }
        (out.status.code().unwrap_or(-1), v)
    }

    /// The component `name` of a status document.
    fn component<'a>(&self, status: &'a Value, name: &str) -> &'a Value {
        status["components"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["component"] == name))
            .unwrap_or_else(|| self.fail(&format!("no component {name} in {status}")))
    }

    /// The pid a status document gives `name`.
    fn pid_in(&self, status: &Value, name: &str) -> u32 {
        self.component(status, name)["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or_else(|| self.fail(&format!("{name} has no pid in {status}")))
    }

    /// The pid in `<state>/<file>`, if the file holds one.
    fn pidfile(&self, file: &str) -> Option<u32> {
        std::fs::read_to_string(self.state().join(file))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Adds the pids of the current pidfiles to the recorded set.
    fn record_pids(&self) {
        for f in PIDFILES {
            if let Some(pid) = self.pidfile(f) {
                self.pids.borrow_mut().insert(pid);
            }
        }
    }

    /// Recorded pids that are still live `firma` processes.
    fn live_recorded(&self) -> Vec<u32> {
        self.pids
            .borrow()
            .iter()
            .copied()
            .filter(|&p| is_firma(p))
            .collect()
    }

    /// Daemon files still present in the state directory.
    fn leftover_files(&self) -> Vec<&'static str> {
        DAEMON_FILES
            .into_iter()
            .filter(|f| self.state().join(f).exists())
            .collect()
    }

    /// The last lines of each component log, for failure messages.
    fn logs(&self) -> String {
        let mut s = String::new();
        for f in ["sidecar.log", "authority.log", "supervisor.log"] {
            let path = self.state().join(f);
            let _ = writeln!(s, "---- tail of {} ----", path.display());
            match std::fs::read(&path) {
                Ok(b) => {
                    let t = text(&b);
                    let lines: Vec<&str> = t.lines().collect();
                    for l in &lines[lines.len().saturating_sub(LOG_TAIL)..] {
                        let _ = writeln!(s, "{l}");
                    }
                }
                Err(e) => {
                    let _ = writeln!(s, "({e})");
                }
            }
        }
        s
    }

    /// Panics with `msg` followed by the component logs.
    fn fail(&self, msg: &str) -> ! {
        panic!("{msg}\n{}", self.logs())
    }

    /// Sends `curl -X POST <url>` through the proxy; returns status and
    /// body (fails when there is no HTTP answer).
    fn post(&self, url: &str, body: &str) -> (u16, String) {
        let r = curl(&self.proxy(), &["-X", "POST", "--data", body, url]);
        match r.response {
            Some(resp) => (resp.status, text(&resp.body)),
            None => self.fail(&format!(
                "no answer from the proxy for POST {url} (curl exit {:?}): {}",
                r.exit, r.stderr
            )),
        }
    }

    /// Asserts a DEC-13 PolicyDenied answer (403, JSON body) and returns
    /// its `event_id`.
    fn assert_denied(&self, what: &str, status: u16, body: &str) -> String {
        ensure!(
            self,
            status == 403,
            "{what}: expected 403, got {status}: {body}"
        );
        let v: Value = serde_json::from_str(body)
            .unwrap_or_else(|e| self.fail(&format!("{what}: 403 body is not JSON ({e}): {body}")));
        ensure!(
            self,
            v["denied"] == true && v["reason"] == "PolicyDenied",
            "{what}: expected a PolicyDenied body, got {body}"
        );
        v["event_id"]
            .as_str()
            .filter(|id| id.starts_with("aevt_"))
            .unwrap_or_else(|| self.fail(&format!("{what}: no event_id in {body}")))
            .to_owned()
    }

    /// The complete lines of `audit.jsonl`, each with its `\n`.
    fn audit_lines(&self) -> Vec<String> {
        let t = std::fs::read_to_string(self.state().join("audit.jsonl")).unwrap_or_default();
        t.split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .map(str::to_owned)
            .collect()
    }

    /// Polls `f` every 100 ms until it returns `Some`, for at most `timeout`.
    fn poll<T>(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("timed out after {timeout:?} waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILLs every firma process of this test.
    fn kill_all(&self) {
        self.record_pids();
        let mut pids: Vec<u32> = self.pids.borrow().iter().copied().collect();
        pids.extend(processes_naming(&self.root));
        for pid in pids {
            if is_firma(pid) {
                sigkill(pid);
            }
        }
    }
}

impl Drop for Flow {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Two distinct free loopback ports: both bound on port 0 at once, then
/// released.
fn two_free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `cmd` (stdout and stderr piped) to completion within `timeout`;
/// kills it when the deadline passes. The pipes are drained on threads so a
/// chatty child never blocks, and a grandchild that kept them open cannot
/// hang the test.
fn run_bounded(mut cmd: Command, timeout: Duration) -> Result<Output, String> {
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            let _ = tx.send(buf);
        });
        rx
    };
    let out_rx = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err_rx = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = err_rx
                .recv_timeout(Duration::from_secs(1))
                .unwrap_or_default();
            return Err(format!(
                "did not finish within {timeout:?}; stderr:\n{}",
                text(&err)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let grace = Duration::from_secs(5);
    let stdout = out_rx
        .recv_timeout(grace)
        .map_err(|_| "stdout stayed open after exit (inherited by a grandchild?)".to_owned())?;
    let stderr = err_rx
        .recv_timeout(grace)
        .map_err(|_| "stderr stayed open after exit (inherited by a grandchild?)".to_owned())?;
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// True when `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        let state = s
            .rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .unwrap_or("");
        !matches!(state, "Z" | "X" | "")
    })
}

/// True when `pid` is a live process running the `firma` binary under test
/// (so a recycled pid is never signalled).
fn is_firma(pid: u32) -> bool {
    let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let argv0 = cmd.split(|&b| b == 0).next().unwrap_or_default();
    alive(pid)
        && Path::new(&*text(argv0)).file_name()
            == Path::new(env!("CARGO_BIN_EXE_firma")).file_name()
}

/// Live processes whose command line names `dir` (every daemon process gets
/// the project's config path as an argument).
fn processes_naming(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|&pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| text(&c).replace('\0', " ").contains(&needle))
                && alive(pid)
        })
        .collect()
}

fn sigkill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn mode(p: &Path) -> Option<u32> {
    std::fs::metadata(p)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

/// Issue 6 "Tests", seed 001 end to end. Proves, through the real binary:
/// PRJ-1, PRJ-2, PRJ-7, PRJ-9, PRJ-11, PRJ-12 (init, config, policy list);
/// DMN-2, DMN-3, DMN-4, DMN-5, DMN-7, DMN-9, DMN-10 (start, lock, status,
/// stale pidfile, stop); SDC-7, SDC-11 (a deny never reaches the upstream);
/// MON-2, MON-7, MON-9 (monitor prints exactly the denials, byte for byte).
#[test]
fn operator_flow_seed001() {
    let upstream = Upstream::start();
    let flow = Flow::new("seed001");
    let root = flow.root.clone();

    // ---- 1. `firma init --yes` from an empty directory -------------------
    let ws = flow.ws();
    let init = flow.firma_in(
        &root,
        &[
            "init",
            "--yes",
            "--workspace",
            ws.to_str().unwrap(),
            "--authority-listen",
            &format!("127.0.0.1:{}", flow.authority_port),
            "--sidecar-listen",
            &format!("127.0.0.1:{}", flow.sidecar_port),
        ],
    );
    ensure!(
        flow,
        init.status.code() == Some(0),
        "init exited {:?}: {}\n{}",
        init.status.code(),
        text(&init.stdout),
        text(&init.stderr)
    );
    for (path, want) in [
        (flow.cfg(""), 0o700),
        (flow.cfg("firma.toml"), 0o644),
        (flow.cfg("authority.key"), 0o600),
        (flow.cfg("authority.pub"), 0o644),
        (flow.cfg("audit.key"), 0o600),
        (flow.cfg("mapping-rules.toml"), 0o644),
        (flow.cfg("policies"), 0o700),
        (flow.cfg("policies/dev.cedar"), 0o644),
        (flow.cfg("issuance-policies"), 0o700),
        (flow.cfg("issuance-policies/default.cedar"), 0o644),
        (flow.data(), 0o700),
        (flow.data().join("revocations.txt"), 0o644),
        (flow.data().join("generated-firma-ca"), 0o700),
        (flow.state(), 0o700),
        (flow.state().join("capabilities"), 0o700),
    ] {
        assert_eq!(mode(&path), Some(want), "mode of {}", path.display());
    }
    let toml = std::fs::read_to_string(flow.cfg("firma.toml")).unwrap();
    for want in [
        format!("listen_addr = \"127.0.0.1:{}\"", flow.authority_port),
        format!("listen_addr = \"127.0.0.1:{}\"", flow.sidecar_port),
        format!(
            "file_path = \"{}\"",
            flow.state().join("audit.jsonl").display()
        ),
    ] {
        assert!(toml.contains(&want), "firma.toml lacks {want:?}:\n{toml}");
    }
    assert!(
        text(&init.stdout).contains("firma sidecar start --detach"),
        "init does not say what to run next: {}",
        text(&init.stdout)
    );
    // FIRMA_STATE_DIR wins over XDG_RUNTIME_DIR: nothing went there.
    assert!(
        !root.join("run/firma").exists(),
        "init used XDG_RUNTIME_DIR"
    );

    // `firma policy list` names the packs used below.
    let list = text(&flow.expect(0, &["policy", "list"]).stdout);
    for pack in ["  dev ", "  anthropic ", "  stripe "] {
        assert!(list.contains(pack), "policy list lacks {pack:?}:\n{list}");
    }

    // ---- 2. One allowed and one denied call under the scaffolded posture --
    // The scaffold (agent `generic` → provider `anthropic`) maps the
    // Anthropic API and keeps the `dev` posture. As an operator would, add
    // the `stripe` pack with `firma config`, keeping `anthropic`:
    //   allowed: POST api.anthropic.com/v1/messages → model.inference.chat,
    //            permitted by `dev-permit-everyday`;
    //   denied:  POST api.stripe.com/v1/payment_intents → payment.transfer,
    //            forbidden by `dev-forbid-high-risk`.
    // Neither policy file is touched here: the decisions are the scaffold's.
    flow.expect(
        0,
        &["config", "--mapping", "anthropic", "--mapping", "stripe"],
    );
    let rules = std::fs::read_to_string(flow.cfg("mapping-rules.toml")).unwrap();
    assert!(
        rules.contains("# firma-packs: anthropic, stripe\n"),
        "mapping-rules.toml header:\n{rules}"
    );
    // Both hosts are fake here: point them at the local upstream with
    // `[sidecar.upstream] resolve` (SDC-11, like `curl --resolve`), the one
    // hand edit of firma.toml (init writes no such section).
    assert!(!toml.contains("[sidecar.upstream]"), "{toml}");
    let up = upstream.addr_str();
    std::fs::write(
        flow.cfg("firma.toml"),
        format!(
            "{toml}\n# Added by the test operator: both APIs are served locally.\n\
             [sidecar.upstream]\n\
             resolve = {{ \"api.anthropic.com:80\" = \"{up}\", \"api.stripe.com:80\" = \"{up}\" }}\n"
        ),
    )
    .unwrap();

    // ---- 3. `firma sidecar start --detach`, then calls through the proxy --
    let started = flow.expect(0, &["sidecar", "start", "--detach"]);
    let out = text(&started.stdout);
    ensure!(
        flow,
        out.contains(&format!(
            "[OK]   sidecar running, state_dir={}",
            flow.state().display()
        )),
        "start --detach output: {out}"
    );

    // Denied first, so "not contacted" also means "no connection at all".
    let (st, body) = flow.post(DENIED_URL, "amount=100&currency=eur");
    let deny1 = flow.assert_denied("POST stripe (scaffolded posture)", st, &body);
    ensure!(
        flow,
        upstream.seen().is_empty() && upstream.accepts() == 0,
        "the denied call reached the upstream: {:?}",
        upstream.seen()
    );
    let (st, body) = flow.post(ALLOWED_URL, r#"{"model":"m","messages":[]}"#);
    ensure!(
        flow,
        st == 200 && body.starts_with("upstream saw POST /v1/messages host=api.anthropic.com"),
        "the allowed call: {st} {body}"
    );
    let seen = upstream.seen().len();
    let accepts = upstream.accepts();
    let (st, body) = flow.post(DENIED_URL, "amount=200&currency=eur");
    let deny2 = flow.assert_denied("POST stripe again", st, &body);
    ensure!(
        flow,
        upstream.seen().len() == seen && upstream.accepts() == accepts,
        "the second denied call reached the upstream: {:?}",
        upstream.seen()
    );
    ensure!(flow, seen == 1, "upstream saw {:?}", upstream.seen());

    // ---- 4. `firma monitor … --decision deny` prints exactly the denials --
    let lines = flow.poll("3 records in audit.jsonl", AUDIT_TIMEOUT, || {
        let l = flow.audit_lines();
        (l.len() >= 3).then_some(l)
    });
    ensure!(
        flow,
        lines.len() == 3,
        "expected 3 audit records:\n{}",
        lines.concat()
    );
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
        .collect();
    let outcomes: Vec<&str> = records
        .iter()
        .map(|r| r["decision"]["outcome"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(outcomes, ["DENY", "ALLOW", "DENY"], "{}", lines.concat());
    assert_eq!(records[0]["event_id"], deny1.as_str());
    assert_eq!(records[2]["event_id"], deny2.as_str());
    assert_eq!(
        records[1]["envelope"]["intent"]["action_class"],
        "model.inference.chat"
    );
    let denials = format!("{}{}", lines[0], lines[2]);

    // The seed's form: only the audit source, so only the denials.
    let mon = flow.expect(
        0,
        &[
            "monitor",
            "--no-follow",
            "--format",
            "json",
            "--decision",
            "deny",
            "--source",
            "audit",
        ],
    );
    ensure!(
        flow,
        text(&mon.stdout) == denials,
        "monitor --source audit printed:\n{}\nexpected exactly:\n{denials}",
        text(&mon.stdout)
    );
    // Without --source (= all), `--decision` does not filter the component
    // logs (MON-7): their lines are `{"source":…,"raw":…}` objects; every
    // other line is exactly the denials, byte for byte.
    let mon = flow.expect(
        0,
        &[
            "monitor",
            "--no-follow",
            "--format",
            "json",
            "--decision",
            "deny",
        ],
    );
    let all = text(&mon.stdout);
    let audit_part: String = all
        .split_inclusive('\n')
        .filter(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or(Value::Null);
            !(v.as_object().is_some_and(|o| o.len() == 2) && v["source"].is_string())
        })
        .collect();
    ensure!(
        flow,
        audit_part == denials,
        "monitor (all sources) audit lines:\n{audit_part}\nexpected exactly:\n{denials}"
    );
    ensure!(
        flow,
        all.contains(r#"{"source":"sidecar","raw":"#),
        "monitor (all sources) shows no sidecar log line:\n{all}"
    );

    // ---- 5. `firma sidecar status --json`: running, pids alive ------------
    let (code, status) = flow.status();
    ensure!(flow, code == 0, "status exit {code}: {status}");
    ensure!(flow, status["running"] == true, "{status}");
    ensure!(
        flow,
        status["state_dir"] == flow.state().display().to_string(),
        "{status}"
    );
    for (name, pidfile, listen) in [
        ("authority", "authority.pid", Some(flow.authority_port)),
        ("sidecar", "sidecar.pid", Some(flow.sidecar_port)),
        ("supervisor", "stack.pid", None),
    ] {
        let c = flow.component(&status, name);
        let pid = flow.pid_in(&status, name);
        ensure!(flow, c["state"] == "running", "{name}: {status}");
        ensure!(flow, c["stale_pidfile"] == false, "{name}: {status}");
        ensure!(flow, alive(pid), "{name} pid {pid} is not alive");
        ensure!(
            flow,
            flow.pidfile(pidfile) == Some(pid),
            "{pidfile} does not hold {pid}"
        );
        let want = listen.map(|p| Value::String(format!("127.0.0.1:{p}")));
        ensure!(
            flow,
            c["listen"] == want.unwrap_or(Value::Null),
            "{name} listen: {status}"
        );
    }
    let first_gen = status.clone();

    // ---- 6. Edit the posture: the allowed call becomes denied -------------
    let dev = flow.cfg("policies/dev.cedar");
    let posture = std::fs::read_to_string(&dev).unwrap();
    std::fs::write(&dev, format!("{posture}{FORBID_LLM}")).unwrap();
    // Calls answered 200 by the upstream so far (one in step 3).
    let mut allowed = 1;
    flow.poll(
        "the edited posture to deny the LLM call",
        RELOAD_TIMEOUT,
        || {
            let before = upstream.seen().len();
            let (st, body) = flow.post(ALLOWED_URL, r#"{"model":"m","messages":[]}"#);
            if st == 200 {
                // Not reloaded yet: this call legitimately reached the upstream.
                allowed += 1;
                return None;
            }
            flow.assert_denied("POST anthropic after the edit", st, &body);
            ensure!(
                flow,
                body.contains("operator-forbid-llm"),
                "denied by another policy: {body}"
            );
            ensure!(
                flow,
                upstream.seen().len() == before,
                "the call denied after the edit reached the upstream"
            );
            Some(())
        },
    );

    // ---- 7. A second start on the same state dir fails fast on the lock ---
    let t = Instant::now();
    let second = flow.expect(2, &["sidecar", "start", "--detach"]);
    let err = text(&second.stderr);
    let supervisor = flow.pid_in(&first_gen, "supervisor");
    ensure!(
        flow,
        err.contains("stack.lock") && err.contains(&supervisor.to_string()),
        "second start does not name the lock and its owner {supervisor}: {err}"
    );
    ensure!(
        flow,
        t.elapsed() < Duration::from_secs(10),
        "second start took {:?}",
        t.elapsed()
    );
    let (code, after) = flow.status();
    ensure!(
        flow,
        code == 0
            && ["authority", "sidecar", "supervisor"]
                .iter()
                .all(|c| flow.pid_in(&after, c) == flow.pid_in(&first_gen, c)),
        "the failed second start disturbed the daemon: {after}"
    );

    // ---- 8. kill -9 the Sidecar: stale; stop; start again; stop -----------
    let sidecar = flow
        .pidfile("sidecar.pid")
        .unwrap_or_else(|| flow.fail("no sidecar.pid"));
    sigkill(sidecar);
    let stale = flow.poll(
        "status to report the killed sidecar stale",
        Duration::from_secs(10),
        || {
            let (code, s) = flow.status();
            let c = flow.component(&s, "sidecar");
            (code == 1 && c["state"] == "stopped" && c["stale_pidfile"] == true).then_some(s)
        },
    );
    ensure!(flow, stale["running"] == false, "{stale}");
    ensure!(
        flow,
        flow.pid_in(&stale, "sidecar") == sidecar,
        "stale pid: {stale}"
    );
    let stop = flow.expect(0, &["sidecar", "stop"]);
    ensure!(
        flow,
        flow.live_recorded().is_empty(),
        "alive after stop: {:?}\n{}",
        flow.live_recorded(),
        text(&stop.stdout)
    );
    ensure!(
        flow,
        flow.leftover_files().is_empty(),
        "left after stop: {:?}",
        flow.leftover_files()
    );

    flow.expect(0, &["sidecar", "start", "--detach"]);
    let (code, second_gen) = flow.status();
    ensure!(flow, code == 0, "status after restart: {second_gen}");
    ensure!(
        flow,
        flow.pid_in(&second_gen, "sidecar") != sidecar,
        "{second_gen}"
    );
    // The restarted daemon enforces the edited posture: both calls denied.
    let (st, body) = flow.post(ALLOWED_URL, "{}");
    flow.assert_denied("POST anthropic after restart", st, &body);
    let (st, body) = flow.post(DENIED_URL, "amount=300");
    flow.assert_denied("POST stripe after restart", st, &body);
    ensure!(
        flow,
        upstream.seen().len() == allowed,
        "upstream saw {} requests, {allowed} were allowed: {:?}",
        upstream.seen().len(),
        upstream.seen()
    );

    flow.expect(0, &["sidecar", "stop"]);
    let recorded: Vec<u32> = flow.pids.borrow().iter().copied().collect();
    ensure!(
        flow,
        recorded.len() >= 6,
        "expected two generations of three pids, recorded {recorded:?}"
    );
    ensure!(
        flow,
        flow.live_recorded().is_empty(),
        "firma processes left: {:?} of {recorded:?}",
        flow.live_recorded()
    );
    ensure!(
        flow,
        processes_naming(&root).is_empty(),
        "processes naming {} left: {:?}",
        root.display(),
        processes_naming(&root)
    );
    ensure!(
        flow,
        flow.leftover_files().is_empty(),
        "left after the final stop: {:?}",
        flow.leftover_files()
    );
    let (code, stopped) = flow.status();
    ensure!(
        flow,
        code == 1 && stopped["running"] == false,
        "status after stop: {stopped}"
    );
    for c in ["authority", "sidecar", "supervisor"] {
        let comp = flow.component(&stopped, c);
        ensure!(
            flow,
            comp["state"] == "stopped" && comp["pid"].is_null(),
            "{c} after stop: {stopped}"
        );
    }
    assert!(
        !root.join("run/firma").exists(),
        "the daemon used XDG_RUNTIME_DIR"
    );
}
