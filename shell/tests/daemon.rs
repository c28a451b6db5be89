//! `firma sidecar start|stop|status` (spec `DMN-*`), black-box: the real
//! binary boots a real Authority and Sidecar from a project written into a
//! temporary directory, real `curl` goes through the proxy to a loopback
//! upstream, and every process is checked through `/proc`. Every wait is
//! bounded; a Drop guard stops and kills whatever a test started.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Upstream, curl};

/// The agent the daemon's capability seed is issued for.
const AGENT: &str = "agt_01jdaemontest0000000000000";

/// Maps `allowed.test` and `denied.test` to one action class.
const MAPPING: &str = r#"[[rules]]
method = "GET"
host = "allowed.test"
path = "*"
action_class = "communication.external.send"

[[rules]]
method = "GET"
host = "denied.test"
path = "*"
action_class = "communication.external.send"
"#;

/// Permits the mapped call, forbids `denied.test`.
const POSTURE: &str = r#"permit (principal, action == Firma::Action::"communication.external.send", resource);
forbid (principal, action == Firma::Action::"communication.external.send", resource == Firma::Resource::"denied.test/");
"#;

/// [`POSTURE`] that also forbids `allowed.test`.
const POSTURE_STRICT: &str = r#"permit (principal, action == Firma::Action::"communication.external.send", resource);
forbid (principal, action == Firma::Action::"communication.external.send", resource == Firma::Resource::"denied.test/");
forbid (principal, action == Firma::Action::"communication.external.send", resource == Firma::Resource::"allowed.test/");
"#;

fn firma() -> &'static str {
    env!("CARGO_BIN_EXE_firma")
}

/// A free loopback port: bound on port 0, then released.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A project: `<dir>/.firma/…`, data dir, state dir; stops and kills
/// everything it started on drop.
struct Project {
    dir: PathBuf,
    authority_port: u16,
    sidecar_port: u16,
}

impl Project {
    fn new(name: &str, upstream: &Upstream) -> Project {
        Project::with_authority(name, upstream, "")
    }

    /// A project whose `[authority]` section ends with `extra`.
    fn with_authority(name: &str, upstream: &Upstream, extra: &str) -> Project {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("daemon")
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let fx = support::fixtures();
        let cfg = dir.join(".firma");
        for d in ["policies", "issuance-policies"] {
            std::fs::create_dir_all(cfg.join(d)).unwrap();
        }
        std::fs::create_dir_all(dir.join("home/data/firma")).unwrap();
        std::fs::copy(
            fx.join("keys/TEST-ONLY-audit-p256-pkcs8.key.pem"),
            cfg.join("audit.key"),
        )
        .unwrap();
        std::fs::write(cfg.join("mapping-rules.toml"), MAPPING).unwrap();
        std::fs::write(cfg.join("policies/posture.cedar"), POSTURE).unwrap();
        std::fs::write(
            cfg.join("issuance-policies/issue.cedar"),
            "permit(principal, action, resource);\n",
        )
        .unwrap();
        let p = Project {
            dir,
            authority_port: free_port(),
            sidecar_port: free_port(),
        };
        let state = p.state();
        let data = p.dir.join("home/data/firma");
        let up = upstream.addr_str();
        let toml = format!(
            r#"[authority]
listen_addr = "127.0.0.1:{ap}"
policy_dir = "policies"
issuance_policy_dir = "issuance-policies"
key_file = "authority.key"
revocation_file = "{data}/revocations.txt"
{extra}

[sidecar.interceptor]
mode = "http_proxy"
listen_addr = "127.0.0.1:{sp}"
drain_timeout_secs = 1

[sidecar.authority]
url = "http://127.0.0.1:{ap}"
public_key_path = "authority.pub"
agent_id = "{AGENT}"

[sidecar.capability_seed]
paths = ["{state}/capabilities/daemon.toml"]

[sidecar.mapping]
rules_path = "mapping-rules.toml"
default_protected = true

[sidecar.policy]
dir = "policies"

[sidecar.constraint_enforcement]
enforcement_timeout_ms = 2000

[sidecar.audit]
sink = "file"
file_path = "{state}/audit.jsonl"
signing_key_path = "audit.key"

[sidecar.ca]
dir = "{data}/generated-firma-ca"

[sidecar.upstream]
resolve = {{ "allowed.test:80" = "{up}", "denied.test:80" = "{up}" }}
"#,
            ap = p.authority_port,
            sp = p.sidecar_port,
            state = state.display(),
            data = data.display(),
        );
        std::fs::write(cfg.join("firma.toml"), toml).unwrap();
        let out = p.firma(&["authority", "generate-key"]);
        assert!(out.status.success(), "generate-key: {}", text(&out.stderr));
        p
    }

    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    fn proxy(&self) -> String {
        format!("http://127.0.0.1:{}", self.sidecar_port)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(firma());
        c.args(args)
            .current_dir(&self.dir)
            .env("HOME", self.dir.join("home"))
            .env("XDG_DATA_HOME", self.dir.join("home/data"))
            .env("FIRMA_STATE_DIR", self.state())
            .env_remove("FIRMA_CONFIG")
            .env_remove("FIRMA_SIDECAR_CONFIG_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::null());
        c
    }

    /// Runs `firma <args>` to completion, bounded by 60 s.
    fn firma(&self, args: &[&str]) -> Output {
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_output(child, Duration::from_secs(60), &args.join(" "))
    }

    fn status_json(&self) -> (i32, Value) {
        let out = self.firma(&["sidecar", "status", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("status --json: {e}: {}", text(&out.stdout)));
        (out.status.code().unwrap(), v)
    }

    fn start_detached(&self) -> Output {
        let out = self.firma(&["sidecar", "start", "--detach"]);
        assert!(
            out.status.success(),
            "start --detach: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    }

    /// The daemon files that must be gone after stop or rollback.
    fn leftover_files(&self) -> Vec<String> {
        [
            "authority.pid",
            "authority.listen",
            "sidecar.pid",
            "sidecar.listen",
            "stack.pid",
            "stack.lock",
            "capabilities/daemon.toml",
        ]
        .iter()
        .filter(|f| self.state().join(f).exists())
        .map(|f| (*f).to_owned())
        .collect()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.firma(&["sidecar", "stop", "--timeout", "1"]);
        for pid in live_processes_under(&self.dir) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Waits for `child` with a deadline (killed and failed when it passes).
fn wait_output(mut child: Child, timeout: Duration, what: &str) -> Output {
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "`firma {what}` did not finish within {timeout:?}: {}\n{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
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

/// Live processes whose command line mentions `dir` (every daemon process
/// of a project gets its config or state path as an argument).
fn live_processes_under(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if text(&cmd).replace('\0', " ").contains(&needle) && alive(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `timeout`.
fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn component<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == name)
        .unwrap_or_else(|| panic!("no {name} in {status}"))
}

fn pid_of(status: &Value, name: &str) -> u32 {
    let pid = component(status, name)["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} has no pid: {status}"));
    u32::try_from(pid).unwrap()
}

fn get(proxy: &str, host: &str) -> (u16, String) {
    let r = curl(proxy, &[&format!("http://{host}/")]);
    let resp = r
        .response
        .unwrap_or_else(|| panic!("no response from the proxy for {host}: {}", r.stderr));
    (resp.status, text(&resp.body))
}

/// DMN-1, DMN-2, DMN-3, DMN-4, DMN-5, DMN-6, DMN-7, DMN-9, DMN-10, DMN-11:
/// `start --detach` boots the
/// pair; an allowed call reaches the upstream, a forbidden one is denied
/// PolicyDenied; `status --json` shows three running pids; a second start
/// fails fast on the lock; a policy edit is enforced within seconds;
/// `stop` leaves no process and no daemon file.
#[test]
fn detached_flow_start_enforce_edit_stop() {
    let upstream = Upstream::start();
    let p = Project::new("flow", &upstream);
    let out = p.start_detached();
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[OK]   sidecar running, state_dir="),
        "{stdout}"
    );

    let (code, status) = p.status_json();
    assert_eq!(code, 0, "{status}");
    assert_eq!(status["running"], true);
    for c in ["authority", "sidecar", "supervisor"] {
        assert_eq!(component(&status, c)["state"], "running", "{status}");
        assert!(alive(pid_of(&status, c)), "{c} is not alive: {status}");
    }
    assert_eq!(
        component(&status, "sidecar")["listen"],
        format!("127.0.0.1:{}", p.sidecar_port)
    );
    let daemon = p.firma(&["sidecar", "status", "--daemon"]);
    assert_eq!(daemon.status.code(), Some(0));
    assert_eq!(
        text(&daemon.stdout).trim(),
        pid_of(&status, "supervisor").to_string()
    );
    let table = text(&p.firma(&["sidecar", "status"]).stdout);
    assert!(table.starts_with("COMPONENT"), "{table}");

    // The seed is a 0600 file in the state dir.
    let seed = p.state().join("capabilities/daemon.toml");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&seed).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    let (st, body) = get(&p.proxy(), "allowed.test");
    assert_eq!(st, 200, "{body}");
    assert!(body.starts_with("upstream saw GET / "), "{body}");
    let seen_before = upstream.seen().len();
    let (st, body) = get(&p.proxy(), "denied.test");
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("PolicyDenied"), "{body}");
    assert_eq!(
        upstream.seen().len(),
        seen_before,
        "a denied call reached the upstream"
    );

    // A second start on the same state dir fails fast on the lock.
    let started = Instant::now();
    let second = p.firma(&["sidecar", "start", "--detach"]);
    assert_eq!(second.status.code(), Some(2));
    let err = text(&second.stderr);
    assert!(err.contains("stack.lock"), "{err}");
    assert!(
        err.contains(&pid_of(&status, "supervisor").to_string()),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let (code, after) = p.status_json();
    assert_eq!(
        code, 0,
        "the failed second start disturbed the daemon: {after}"
    );
    assert_eq!(pid_of(&after, "sidecar"), pid_of(&status, "sidecar"));

    // Edit the posture: the next calls get the new decision.
    std::fs::write(p.dir.join(".firma/policies/posture.cedar"), POSTURE_STRICT).unwrap();
    poll(
        "the edited policy to deny allowed.test",
        Duration::from_secs(15),
        || {
            let (st, body) = get(&p.proxy(), "allowed.test");
            (st == 403 && body.contains("PolicyDenied")).then_some(())
        },
    );

    let stop = p.firma(&["sidecar", "stop"]);
    assert_eq!(stop.status.code(), Some(0), "{}", text(&stop.stderr));
    for c in ["authority", "sidecar", "supervisor"] {
        assert!(!alive(pid_of(&status, c)), "{c} survived stop");
    }
    assert!(live_processes_under(&p.dir).is_empty());
    assert_eq!(p.leftover_files(), Vec::<String>::new());
    let (code, stopped) = p.status_json();
    assert_eq!(code, 1);
    assert_eq!(stopped["running"], false);
    for c in ["authority", "sidecar", "supervisor"] {
        assert_eq!(component(&stopped, c)["state"], "stopped");
        assert!(component(&stopped, c)["pid"].is_null());
    }
    assert_eq!(
        p.firma(&["sidecar", "status", "--daemon"]).status.code(),
        Some(1)
    );
    // Stopping again: nothing was running, still exit 0.
    let again = p.firma(&["sidecar", "stop"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again.stdout).contains("no daemon was running"));
}

/// DMN-8, DMN-10, DMN-4: after `kill -9` of the Sidecar, `status` reports
/// it stopped with a stale pidfile (exit 1); `stop` clears the state and a
/// new `start` works.
#[test]
fn killed_sidecar_is_reported_stale_and_start_works_again() {
    let upstream = Upstream::start();
    let p = Project::new("kill9", &upstream);
    p.start_detached();
    let (_, status) = p.status_json();
    let sidecar = pid_of(&status, "sidecar");
    assert!(
        Command::new("kill")
            .args(["-9", &sidecar.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let stale = poll(
        "status to report the sidecar stale",
        Duration::from_secs(10),
        || {
            let (code, s) = p.status_json();
            (code == 1 && component(&s, "sidecar")["stale_pidfile"] == true).then_some(s)
        },
    );
    assert_eq!(component(&stale, "sidecar")["state"], "stopped");
    assert_eq!(pid_of(&stale, "sidecar"), sidecar);
    let table = text(&p.firma(&["sidecar", "status"]).stdout);
    assert!(table.contains("stopped (stale pidfile)"), "{table}");
    // DMN-8: the supervisor stops the Authority and exits, leaving the
    // pidfiles for `status`.
    let (authority, supervisor) = (pid_of(&status, "authority"), pid_of(&status, "supervisor"));
    poll(
        "the supervisor to stop the authority and exit",
        Duration::from_secs(30),
        || (!alive(authority) && !alive(supervisor)).then_some(()),
    );
    let log = std::fs::read_to_string(p.state().join("supervisor.log")).unwrap();
    assert!(log.contains("exited unexpectedly"), "{log}");
    assert!(p.state().join("sidecar.pid").exists());

    let stop = p.firma(&["sidecar", "stop"]);
    assert_eq!(stop.status.code(), Some(0), "{}", text(&stop.stderr));
    assert!(live_processes_under(&p.dir).is_empty());
    assert_eq!(p.leftover_files(), Vec::<String>::new());

    p.start_detached();
    let (code, again) = p.status_json();
    assert_eq!(code, 0, "{again}");
    assert_ne!(pid_of(&again, "sidecar"), sidecar);
    let (st, _) = get(&p.proxy(), "allowed.test");
    assert_eq!(st, 200);
}

/// DMN-4, DMN-11: a lock left by a daemon whose processes are all gone is stale:
/// the next start reclaims it with a note.
#[test]
fn stale_lock_is_reclaimed() {
    let upstream = Upstream::start();
    let p = Project::new("stale_lock", &upstream);
    std::fs::create_dir_all(p.state()).unwrap();
    std::fs::write(
        p.state().join("stack.lock"),
        "6f1c8d3e-0000-4000-8000-000000000000\n",
    )
    .unwrap();
    // A pid that is certainly not a running firma process.
    // DMN-11: a live process that is not firma (a recycled pid) is not an
    // owner, and is never signalled.
    let mut stranger = Command::new("sleep").arg("60").spawn().unwrap();
    std::fs::write(p.state().join("stack.pid"), format!("{}\n", stranger.id())).unwrap();
    std::fs::write(p.state().join("sidecar.pid"), "999999999\n").unwrap();
    let (code, status) = p.status_json();
    assert_eq!(code, 1);
    assert_eq!(
        component(&status, "supervisor")["stale_pidfile"],
        true,
        "{status}"
    );
    let out = p.start_detached();
    assert!(
        text(&out.stderr).contains("reclaimed stale"),
        "{}",
        text(&out.stderr)
    );
    let lock = std::fs::read_to_string(p.state().join("stack.lock")).unwrap();
    assert_ne!(lock.trim(), "6f1c8d3e-0000-4000-8000-000000000000");
    assert_eq!(lock.len(), 37, "{lock:?}");
    let stop = p.firma(&["sidecar", "stop"]);
    assert_eq!(stop.status.code(), Some(0));
    assert!(
        alive(stranger.id()),
        "stop signalled a process that is not firma"
    );
    let _ = stranger.kill();
    let _ = stranger.wait();
}

/// DMN-5: a Sidecar that cannot bind its port makes `start` roll back:
/// exit 2 naming the step and showing the Sidecar's log, no process left,
/// no pid, listen, lock or seed file.
#[test]
fn sidecar_bind_failure_rolls_back() {
    let upstream = Upstream::start();
    let p = Project::new("rollback", &upstream);
    let _taken = TcpListener::bind(("127.0.0.1", p.sidecar_port)).unwrap();
    let out = p.firma(&["sidecar", "start", "--detach"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("sidecar readiness failed"), "{err}");
    assert!(err.contains("sidecar.log"), "{err}");
    assert!(err.to_lowercase().contains("in use"), "{err}");
    assert!(
        live_processes_under(&p.dir).is_empty(),
        "processes left behind"
    );
    assert_eq!(p.leftover_files(), Vec::<String>::new());
    let (code, status) = p.status_json();
    assert_eq!(code, 1);
    assert_eq!(status["running"], false);
}

/// DMN-7: without `--detach`, `start` supervises in the foreground;
/// SIGTERM stops the Sidecar and the Authority, removes the state files
/// and exits 0.
#[test]
fn foreground_start_stops_on_sigterm() {
    let upstream = Upstream::start();
    let p = Project::new("foreground", &upstream);
    let child = p
        .command(&["sidecar", "start"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let status = poll(
        "the foreground daemon to be running",
        Duration::from_secs(60),
        || {
            let (code, s) = p.status_json();
            (code == 0).then_some(s)
        },
    );
    assert_eq!(pid_of(&status, "supervisor"), pid);
    let (st, _) = get(&p.proxy(), "allowed.test");
    assert_eq!(st, 200);
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = wait_output(child, Duration::from_secs(30), "sidecar start");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for c in ["authority", "sidecar"] {
        assert!(!alive(pid_of(&status, c)), "{c} survived");
    }
    assert!(live_processes_under(&p.dir).is_empty());
    assert_eq!(p.leftover_files(), Vec::<String>::new());
}

/// DMN-6, DMN-7: the supervisor re-issues the daemon seed at half its
/// lifetime, so calls stay allowed after the first token has expired.
#[test]
fn seed_is_reissued_before_it_expires() {
    let upstream = Upstream::start();
    let p = Project::with_authority("reissue", &upstream, "max_ttl_seconds = 3");
    p.start_detached();
    let started = Instant::now();
    let seed = p.state().join("capabilities/daemon.toml");
    let first = std::fs::read_to_string(&seed).unwrap();
    poll("the seed to be re-issued", Duration::from_secs(10), || {
        let now = std::fs::read_to_string(&seed).ok()?;
        (now != first && now.contains("raw_token")).then_some(())
    });
    // Past the first token's expiry, calls are still allowed.
    let wait = Duration::from_secs(4).saturating_sub(started.elapsed());
    std::thread::sleep(wait);
    let (st, body) = get(&p.proxy(), "allowed.test");
    assert_eq!(st, 200, "{body}");
    let log = std::fs::read_to_string(p.state().join("supervisor.log")).unwrap();
    assert!(log.contains("capability seed re-issued"), "{log}");
}

/// DMN-2: with no config anywhere `start` refuses (exit 2, pointing at
/// `firma init`) and leaves nothing; `FIRMA_SIDECAR_CONFIG_FILE` selects the
/// config from any working directory.
#[test]
fn config_resolution() {
    let upstream = Upstream::start();
    let p = Project::new("config_env", &upstream);
    let run = |cmd: &mut Command| {
        let child = cmd
            .current_dir("/")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_output(child, Duration::from_secs(60), "sidecar start --detach")
    };
    let out = run(&mut p.command(&["sidecar", "start", "--detach"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("firma init"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(p.leftover_files(), Vec::<String>::new());
    assert!(live_processes_under(&p.dir).is_empty());

    let out = run(p
        .command(&["sidecar", "start", "--detach"])
        .env("FIRMA_SIDECAR_CONFIG_FILE", p.dir.join(".firma/firma.toml")));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (code, status) = p.status_json();
    assert_eq!(code, 0, "{status}");
}
