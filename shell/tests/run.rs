//! `firma run` (spec `RUN-*`), black-box with real bubblewrap: a project
//! written by `firma init --yes` in a temporary directory, a session
//! Authority and Sidecar autostarted by `firma run --yes`, real `curl` and
//! `python3` inside the sandbox, loopback upstreams outside it. Every wait is
//! bounded; a Drop guard kills whatever a test left behind.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::tls::TestCa;
use support::{Upstream, field};

/// Maps the three test hosts to one action class.
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

[[rules]]
method = "GET"
host = "secure.test"
path = "*"
action_class = "communication.external.send"
"#;

/// Permits the mapped calls, forbids `denied.test`.
const POSTURE: &str = r#"permit (principal, action == Firma::Action::"communication.external.send", resource);
forbid (principal, action == Firma::Action::"communication.external.send", resource == Firma::Resource::"denied.test/");
"#;

fn firma() -> &'static str {
    env!("CARGO_BIN_EXE_firma")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A project scaffolded by `firma init --yes` in `<dir>/ws`, with HOME,
/// XDG_DATA_HOME and FIRMA_STATE_DIR inside `<dir>`.
struct Project {
    dir: PathBuf,
    plain: Upstream,
    secure: Upstream,
}

impl Project {
    fn new(name: &str) -> Project {
        Project::with_init(name, &[])
    }

    /// A project whose `firma init --yes` also gets `init_args`.
    fn with_init(name: &str, init_args: &[&str]) -> Project {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("run")
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("ws")).unwrap();
        let public_ca = TestCa::new("Test Public Root", &dir, "public-root.pem");
        let p = Project {
            plain: Upstream::start(),
            secure: Upstream::tls(public_ca.acceptor(&["secure.test"])),
            dir,
        };
        let mut init = vec!["init", "--yes"];
        init.extend_from_slice(init_args);
        let out = p.firma(&init, Duration::from_secs(60));
        assert!(out.status.success(), "init: {}", text(&out.stderr));
        let cfg = p.ws().join(".firma");
        std::fs::write(cfg.join("mapping-rules.toml"), MAPPING).unwrap();
        for e in std::fs::read_dir(cfg.join("policies")).unwrap().flatten() {
            std::fs::remove_file(e.path()).unwrap();
        }
        std::fs::write(cfg.join("policies/posture.cedar"), POSTURE).unwrap();
        let file = cfg.join("firma.toml");
        let mut doc: toml::Table = std::fs::read_to_string(&file).unwrap().parse().unwrap();
        let sidecar = doc["sidecar"].as_table_mut().unwrap();
        let mut resolve = toml::Table::new();
        for (k, v) in [
            ("allowed.test:80", p.plain.addr_str()),
            ("denied.test:80", p.plain.addr_str()),
            ("secure.test:443", p.secure.addr_str()),
        ] {
            resolve.insert(k.into(), v.into());
        }
        let mut upstream = toml::Table::new();
        upstream.insert("resolve".into(), resolve.into());
        sidecar.insert("upstream".into(), upstream.into());
        let interceptor = sidecar["interceptor"].as_table_mut().unwrap();
        interceptor.insert("drain_timeout_secs".into(), 1.into());
        let mut mitm = toml::Table::new();
        mitm.insert(
            "extra_upstream_ca_file".into(),
            public_ca.ca_path.display().to_string().into(),
        );
        interceptor.insert("https_mitm".into(), mitm.into());
        std::fs::write(&file, toml::to_string(&doc).unwrap()).unwrap();
        p
    }

    fn ws(&self) -> PathBuf {
        self.dir.join("ws")
    }

    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(firma());
        c.args(args)
            .current_dir(self.ws())
            .env("HOME", self.dir.join("home"))
            .env("XDG_DATA_HOME", self.dir.join("home/data"))
            .env("FIRMA_STATE_DIR", self.state())
            .env_remove("FIRMA_CONFIG")
            .env_remove("FIRMA_SIDECAR_CONFIG_FILE")
            .env_remove("FIRMA_RUN_SANDBOX_ID")
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn firma(&self, args: &[&str], timeout: Duration) -> Output {
        wait_output(
            self.command(args).spawn().unwrap(),
            timeout,
            &args.join(" "),
        )
    }

    /// `firma run --yes -- sh -c <script>`, bounded by 120 s.
    fn run_sh(&self, script: &str) -> Output {
        self.firma(
            &["run", "--yes", "--", "sh", "-c", script],
            Duration::from_secs(120),
        )
    }

    /// Every audit record of the project.
    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn outcome_for(&self, host: &str) -> Vec<String> {
        self.audit()
            .iter()
            .filter(|r| field(r, "envelope.intent.resource.host") == host)
            .map(|r| {
                field(r, "decision.outcome")
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    }

    /// Run directories left under `<state>/run/`.
    fn run_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.state().join("run"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// Session config files left next to firma.toml.
    fn session_configs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.ws().join(".firma"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("run-"))
            .collect()
    }

    /// Asserts nothing of a finished run is left: no process mentioning the
    /// project (every sandbox and session process names its paths) or
    /// `marker`, no run directory, no session config.
    fn assert_clean(&self, marker: Option<&str>) {
        let dir = self.dir.display().to_string();
        let mut needles = vec![dir.as_str()];
        needles.extend(marker);
        let left = live_processes_matching(&needles);
        assert!(left.is_empty(), "processes left: {left:?}");
        assert!(
            self.run_dirs().is_empty(),
            "run dirs left: {:?}",
            self.run_dirs()
        );
        assert!(
            self.session_configs().is_empty(),
            "{:?}",
            self.session_configs()
        );
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        for (pid, _) in live_processes_matching(&[&self.dir.display().to_string()]) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
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

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        let state = s
            .rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .unwrap_or("");
        !matches!(state, "Z" | "X" | "")
    })
}

/// Live processes (other than this test) whose command line contains one
/// of `needles`.
fn live_processes_matching(needles: &[&str]) -> Vec<(u32, String)> {
    let me = std::process::id();
    let mut out = Vec::new();
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
        let cmd = text(&cmd).replace('\0', " ");
        if pid != me && needles.iter().any(|n| cmd.contains(n)) && alive(pid) {
            out.push((pid, cmd));
        }
    }
    out
}

fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// RUN-1, RUN-3, RUN-4, RUN-6, RUN-8, RUN-9: `firma run --yes -- …`
/// autostarts a session pair; inside the sandbox an allowed call reaches
/// the upstream and a denied one gets 403, both audited; clients that
/// ignore the proxy variables (`curl --noproxy '*'`, `env -u HTTP_PROXY`,
/// a raw Python socket) reach nothing; HTTPS to a mapped host is
/// intercepted and verifies with the injected CA variables alone; the
/// project's keys, policies and state are hidden from the agent; the
/// agent's exit code passes through and nothing is left afterwards.
#[test]
fn run_confines_the_agent_to_the_sidecar() {
    let p = Project::new("confine");
    let port = p.plain.addr.port();
    let script = format!(
        r#"out="$PWD/out"; mkdir -p "$out"
curl -s -o "$out/allowed.body" -w '%{{http_code}}' --max-time 20 http://allowed.test/hello > "$out/allowed.code"
curl -s -o /dev/null -w '%{{http_code}}' --max-time 20 http://denied.test/ > "$out/denied.code"
curl -s -o /dev/null --max-time 5 --noproxy '*' http://127.0.0.1:{port}/noproxy; echo $? > "$out/noproxy.exit"
env -u HTTP_PROXY -u http_proxy -u ALL_PROXY -u all_proxy curl -s -o /dev/null --max-time 5 http://127.0.0.1:{port}/unset; echo $? > "$out/unset.exit"
python3 -c '
import socket
s = socket.socket(); s.settimeout(5)
try:
    s.connect(("127.0.0.1", {port})); print("connected")
except OSError as e:
    print("blocked", type(e).__name__)
' > "$out/raw.txt"
curl -s -o /dev/null -w '%{{http_code}}' --max-time 20 https://secure.test/tls > "$out/secure.code" 2> "$out/secure.err"
echo "$FIRMA_RUN_SANDBOX_ID" > "$out/sandbox_id"
ls -A "$PWD/.firma" | wc -l > "$out/config_entries"
ls -A "$FIRMA_STATE_DIR" > "$out/state_entries"
exit 7"#
    );
    let out = p.run_sh(&script);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "exit code: {stderr}");
    let read = |f: &str| {
        std::fs::read_to_string(p.ws().join("out").join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}; firma run stderr:\n{stderr}"))
            .trim()
            .to_owned()
    };
    assert_eq!(read("allowed.code"), "200", "{stderr}");
    assert_eq!(read("denied.code"), "403", "{stderr}");
    // curl exit 7: could not connect; nothing listens on that port inside.
    assert_eq!(read("noproxy.exit"), "7");
    assert_eq!(read("unset.exit"), "7");
    assert_eq!(read("raw.txt"), "blocked ConnectionRefusedError");
    assert_eq!(read("secure.code"), "200", "{}", read("secure.err"));
    assert!(read("sandbox_id").starts_with("sbx_"));
    // Keys, policies, the audit log and the CA key are hidden from the agent;
    // of the state directory only the run directory is visible.
    assert_eq!(read("config_entries"), "0");
    assert_eq!(read("state_entries"), "run");
    // The plain upstream saw exactly the allowed call, the TLS one the
    // intercepted call; nothing else reached them.
    let seen = p.plain.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "/hello");
    assert_eq!(p.plain.accepts(), 1);
    let seen = p.secure.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "/tls");
    assert_eq!(p.outcome_for("allowed.test"), ["ALLOW"]);
    assert_eq!(p.outcome_for("denied.test"), ["DENY"]);
    assert_eq!(p.outcome_for("secure.test"), ["ALLOW"]);
    p.assert_clean(None);
}

/// RUN-2: without bwrap on PATH the agent never runs and the message names
/// bwrap and how to install it.
#[test]
fn run_without_bwrap_never_starts_the_agent() {
    let p = Project::new("no_bwrap");
    let marker = p.dir.join("agent-ran");
    let script = format!("touch {}", marker.display());
    let out = p
        .command(&["run", "--yes", "--", "/bin/sh", "-c", &script])
        .env("PATH", p.dir.join("empty-path"))
        .spawn()
        .unwrap();
    let out = wait_output(out, Duration::from_secs(60), "run without bwrap");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("bwrap"), "{stderr}");
    assert!(stderr.contains("apt-get install bubblewrap"), "{stderr}");
    assert!(stderr.contains("the agent was not started"), "{stderr}");
    assert!(!marker.exists());
    p.assert_clean(None);
}

/// RUN-7, RUN-9: while the agent runs, `firma sidecar status` lists the
/// run; SIGTERM to `firma run` stops the agent and the session (exit 143)
/// and leaves nothing; an agent killed by a signal gives 128+n.
#[test]
fn run_is_listed_and_torn_down_on_sigterm_and_agent_kill() {
    let p = Project::new("sigterm");
    let started = p.ws().join("started");
    let script = format!("echo up > {}; exec sleep 60.7121", started.display());
    let child = p
        .command(&["run", "--yes", "--", "sh", "-c", &script])
        .spawn()
        .unwrap();
    let pid = child.id();
    poll("the agent to start", Duration::from_secs(60), || {
        started.exists().then_some(())
    });
    let status = p.firma(&["sidecar", "status", "--json"], Duration::from_secs(30));
    let v: Value = serde_json::from_slice(&status.stdout).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{v}");
    assert_eq!(runs[0]["state"], "running");
    assert_eq!(runs[0]["pid"], pid);
    assert_eq!(runs[0]["autostarted"], true);
    assert!(runs[0]["sandbox_id"].as_str().unwrap().starts_with("sbx_"));
    assert_eq!(runs[0]["command"][0], "sh");
    let table = p.firma(&["sidecar", "status"], Duration::from_secs(30));
    assert!(text(&table.stdout).contains(runs[0]["sandbox_id"].as_str().unwrap()));
    assert!(!live_processes_matching(&["60.7121"]).is_empty());
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let out = wait_output(child, Duration::from_secs(60), "run (SIGTERM)");
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
    p.assert_clean(Some("60.7121"));

    let out = p.run_sh("kill -9 $$");
    assert_eq!(out.status.code(), Some(137), "{}", text(&out.stderr));
    p.assert_clean(None);
}

/// A free loopback port: bound on port 0, then released.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// RUN-6: with the project's daemon running, `firma run` uses its Sidecar
/// (no session pair), and the daemon keeps running after the agent exits.
#[test]
fn run_uses_the_running_daemon() {
    let (ap, sp) = (free_port(), free_port());
    let (a, s) = (format!("127.0.0.1:{ap}"), format!("127.0.0.1:{sp}"));
    let p = Project::with_init(
        "daemon",
        &["--authority-listen", &a, "--sidecar-listen", &s],
    );
    let out = p.firma(&["sidecar", "start", "--detach"], Duration::from_secs(90));
    assert!(out.status.success(), "start: {}", text(&out.stderr));
    let out = p.run_sh(
        "curl -s -o /dev/null -w '%{http_code}' --max-time 20 http://allowed.test/d > \"$PWD/code\"",
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("using the running Sidecar at {s}")),
        "{stderr}"
    );
    assert!(!stderr.contains("session Authority"), "{stderr}");
    let code = std::fs::read_to_string(p.ws().join("code")).unwrap();
    assert_eq!(code.trim(), "200", "{stderr}");
    assert_eq!(p.plain.seen().len(), 1);
    assert_eq!(p.outcome_for("allowed.test"), ["ALLOW"]);
    assert!(p.run_dirs().is_empty());
    let status = p.firma(&["sidecar", "status", "--json"], Duration::from_secs(30));
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stdout));
    let v: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["runs"], serde_json::json!([]));
    let out = p.firma(&["sidecar", "stop"], Duration::from_secs(60));
    assert!(out.status.success(), "stop: {}", text(&out.stderr));
    p.assert_clean(None);
}
