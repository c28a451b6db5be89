//! `firma doctor` (spec `DOC-*`), black-box: the real binary diagnoses a
//! project written by hand into a temporary directory — with a real
//! `firma sidecar` running in policy-only mode for the healthy case, and a
//! real HTTP server squatting the proxy port for the unenforced case. Every
//! probe is bounded by `--timeout-ms`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::sidecar::AuthorityLink;
use support::{Config, Mitm, Upstream, Workspace, closed_port, field};

fn firma() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firma"));
    cmd.env_remove("FIRMA_CONFIG")
        .env_remove("FIRMA_SIDECAR_CONFIG_FILE")
        .env_remove("FIRMA_STATE_DIR")
        .env_remove("XDG_RUNTIME_DIR")
        .stdin(Stdio::null());
    cmd
}

/// `firma doctor -c <config> --state-dir <state> [extra…]`.
fn doctor(config: &Path, state: &Path, extra: &[&str]) -> Output {
    firma()
        .arg("doctor")
        .arg("-c")
        .arg(config)
        .arg("--state-dir")
        .arg(state)
        .args(["--timeout-ms", "3000"])
        .args(extra)
        .output()
        .expect("run firma doctor")
}

/// The `--json` report, with the exit code.
fn doctor_json(config: &Path, state: &Path) -> (i32, Value) {
    let out = doctor(config, state, &["--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "doctor --json is not one JSON object ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(stdout.trim().lines().count(), 1, "one line: {stdout}");
    (out.status.code().unwrap_or(-1), v)
}

/// The check with `id`.
fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check `{id}` in {report:#}"))
}

/// Asserts the status of check `id`; returns its detail.
fn expect(report: &Value, id: &str, status: &str) -> String {
    let c = check(report, id);
    assert_eq!(
        c["status"], status,
        "check `{id}`: {c:#}\nreport: {report:#}"
    );
    let fix = c["fix"].as_array().unwrap();
    if status == "warn" || status == "fail" {
        assert!(!fix.is_empty(), "a {status} check has a fix: {c:#}");
    } else {
        assert!(fix.is_empty(), "an {status} check has no fix: {c:#}");
    }
    c["detail"].as_str().unwrap().to_owned()
}

/// The fixes of check `id`, joined.
fn fixes(report: &Value, id: &str) -> String {
    check(report, id)["fix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `firma authority generate-key -o <path>` (64-byte secret 0600 + `.pub`).
fn generate_key(path: &Path) {
    let out = firma()
        .args(["authority", "generate-key", "-o"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "generate-key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A workspace whose state directory is 0700 and audit key 0600, with an
/// Authority key pair.
fn workspace(name: &str) -> Workspace {
    let ws = Workspace::new(&format!("doctor-{name}"));
    chmod(&ws.path("state"), 0o700);
    chmod(&ws.path("audit.key"), 0o600);
    generate_key(&ws.path("authority.key"));
    ws
}

/// Writes `config` plus an `[authority]` table listening on `authority`.
fn write_config(ws: &Workspace, config: &Config, authority: &str) -> PathBuf {
    ws.write("mapping-rules.toml", support::SEED000_MAPPING);
    let text = format!(
        "{}\n[authority]\nlisten_addr = \"{authority}\"\n",
        config.render()
    );
    ws.write("firma.toml", &text)
}

/// A pid that no process has any more.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// DOC-2, DOC-3, DOC-4, DOC-5, DOC-6, DOC-7, DOC-8, DOC-9, DOC-11, DOC-12,
/// DOC-13, DOC-14, DOC-15, DOC-16: a healthy project with a real Sidecar
/// running (policy-only mode, HTTPS interception on) passes every check
/// that applies, and the test call is denied by the Sidecar itself.
#[test]
fn healthy_project_passes_every_check_and_the_test_call_is_enforced() {
    let ws = workspace("healthy");
    let listen = closed_port();
    let cfg = Config {
        listen: listen.to_string(),
        ..Config::default()
    }
    .mitm("ca", Mitm::intercept(&["intercepted.test"]))
    .authority(AuthorityLink {
        public_key_path: Some(ws.path("authority.pub").display().to_string()),
        ..AuthorityLink::default()
    });
    ws.write("policies/default.cedar", support::SEED000_POLICY);
    let config = write_config(&ws, &cfg, &closed_port().to_string());
    let state = ws.path("state");
    let sidecar = ws.start();
    assert_eq!(sidecar.addr, listen);
    // The daemon's files, as `firma sidecar start` writes them (DMN-3).
    std::fs::write(state.join("sidecar.pid"), format!("{}\n", sidecar.pid())).unwrap();
    std::fs::write(state.join("sidecar.listen"), format!("{listen}\n")).unwrap();

    let (code, report) = doctor_json(&config, &state);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["ok"], true);
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "binary",
            "tools",
            "config",
            "authority-key",
            "audit-key",
            "policies",
            "mapping",
            "state-dir",
            "daemon",
            "capability-seed",
            "authority-port",
            "sidecar-port",
            "mitm-ca",
            "enforcement"
        ]
    );
    let binary = expect(&report, "binary", "ok");
    assert!(
        binary.contains(env!("CARGO_PKG_VERSION")) && binary.contains("firma"),
        "{binary}"
    );
    assert_ne!(check(&report, "tools")["status"], "fail");
    let detail = expect(&report, "config", "ok");
    assert!(
        detail.contains(&config.display().to_string()) && detail.contains("--config"),
        "{detail}"
    );
    let detail = expect(&report, "authority-key", "ok");
    assert!(detail.contains("authority.key"), "{detail}");
    expect(&report, "audit-key", "ok");
    let detail = expect(&report, "policies", "ok");
    assert!(detail.contains("2 policies in 1 file"), "{detail}");
    let detail = expect(&report, "mapping", "ok");
    assert!(detail.starts_with("2 rules"), "{detail}");
    expect(&report, "state-dir", "ok");
    let detail = expect(&report, "daemon", "ok");
    assert!(
        detail.contains(&format!("sidecar pid {}", sidecar.pid())),
        "{detail}"
    );
    // Policy-only mode: no Authority in use and none listening, no token needed.
    expect(&report, "capability-seed", "skip");
    expect(&report, "authority-port", "skip");
    let detail = expect(&report, "sidecar-port", "ok");
    assert!(detail.contains(&listen.to_string()), "{detail}");
    let detail = expect(&report, "mitm-ca", "ok");
    assert!(detail.contains("firma-ca.crt"), "{detail}");
    let detail = expect(&report, "enforcement", "ok");
    assert!(detail.contains("403 ProtectedEndpoint"), "{detail}");

    // The test call was decided by the Sidecar: one DENY record.
    let event = detail
        .rsplit("(event ")
        .next()
        .unwrap()
        .trim_end_matches(')');
    let recs = ws.audit().wait_records(1);
    let rec = support::audit::by_event(&recs, event);
    assert_eq!(field(rec, "decision.outcome"), "DENY");
    assert_eq!(field(rec, "decision.reason"), "ProtectedEndpoint");

    // The table: one line per check, a summary, exit 0.
    let out = doctor(&config, &state, &[]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("firma doctor\n"), "{text}");
    assert!(
        text.contains("[ok]   test call enforced — GET http://"),
        "{text}"
    );
    assert!(
        text.contains("[skip] authority port — policy-only mode"),
        "{text}"
    );
    let summary = text.lines().last().unwrap();
    assert!(
        summary.starts_with("14 checks: ") && summary.contains(" 0 failed, 2 skipped"),
        "{summary}"
    );
}

/// DOC-3, DOC-6, DOC-7, DOC-8, DOC-9, DOC-10, DOC-11, DOC-13, DOC-15,
/// DOC-16, DOC-17: a broken project — audit key 0644, a policy with a
/// syntax error, a missing policy directory, a public key that is not the
/// Authority's, a 0755 state directory, a stale pidfile, no capability seed,
/// nothing on either port — names every problem with its fix, and exits 1.
#[test]
fn broken_project_names_each_problem_with_its_fix() {
    let ws = workspace("broken");
    generate_key(&ws.path("other.key"));
    let authority = closed_port();
    let listen = closed_port();
    let cfg = Config {
        listen: listen.to_string(),
        ..Config::default()
    }
    .authority(AuthorityLink::new(
        format!("http://{authority}"),
        ws.path("other.pub"),
    ));
    let bad = ws.write(
        "policies/bad.cedar",
        "// a comment\n\npermit (principal action, resource);\n",
    );
    let config = write_config(&ws, &cfg, &authority.to_string());
    // The Authority's policy directory does not exist.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("policy_dir = \"authority-policies\"\n");
    std::fs::write(&config, text).unwrap();
    let audit_key = ws.path("audit.key");
    chmod(&audit_key, 0o644);
    let state = ws.path("state");
    chmod(&state, 0o755);
    let stale = dead_pid();
    std::fs::write(state.join("sidecar.pid"), format!("{stale}\n")).unwrap();

    let (code, report) = doctor_json(&config, &state);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["ok"], false);
    expect(&report, "config", "ok");

    let detail = expect(&report, "audit-key", "fail");
    assert!(detail.contains("mode 0644"), "{detail}");
    assert_eq!(
        fixes(&report, "audit-key"),
        format!("chmod 600 {}", audit_key.display())
    );

    let detail = expect(&report, "policies", "fail");
    assert!(
        detail.contains(&format!("{}:3:", bad.display())),
        "the syntax error is named with file:line: {detail}"
    );
    assert!(
        detail.contains(&format!(
            "{} does not exist",
            ws.path("authority-policies").display()
        )),
        "{detail}"
    );
    assert!(
        fixes(&report, "policies").contains(&format!("edit {} at line 3", bad.display())),
        "{}",
        fixes(&report, "policies")
    );

    let detail = expect(&report, "authority-key", "fail");
    assert!(
        detail.contains("other.pub") && detail.contains("is not the public half"),
        "{detail}"
    );
    assert!(
        fixes(&report, "authority-key").contains(&format!(
            "public_key_path = \"{}\"",
            ws.path("authority.pub").display()
        )),
        "{}",
        fixes(&report, "authority-key")
    );

    let detail = expect(&report, "state-dir", "fail");
    assert!(detail.contains("mode 0755"), "{detail}");
    assert_eq!(
        fixes(&report, "state-dir"),
        format!("chmod 700 {}", state.display())
    );

    let detail = expect(&report, "daemon", "warn");
    assert!(
        detail.contains("stale pidfile") && detail.contains(&format!("pid {stale}")),
        "{detail}"
    );
    assert!(
        fixes(&report, "daemon").contains(&format!(
            "firma sidecar stop --state-dir {}",
            state.display()
        )),
        "{}",
        fixes(&report, "daemon")
    );

    let detail = expect(&report, "capability-seed", "fail");
    assert!(detail.contains("paths` is empty"), "{detail}");
    assert!(
        fixes(&report, "capability-seed")
            .contains(&state.join("capabilities/daemon.toml").display().to_string()),
        "{}",
        fixes(&report, "capability-seed")
    );
    let detail = expect(&report, "authority-port", "fail");
    assert!(detail.contains(&authority.to_string()), "{detail}");
    let detail = expect(&report, "sidecar-port", "fail");
    assert!(
        detail.contains(&listen.to_string()) && detail.contains("nothing listens"),
        "{detail}"
    );
    assert!(
        fixes(&report, "sidecar-port").contains("firma sidecar start --detach"),
        "{}",
        fixes(&report, "sidecar-port")
    );
    let detail = expect(&report, "enforcement", "skip");
    assert!(detail.contains("sidecar-port"), "{detail}");
    expect(&report, "mitm-ca", "skip");

    // The table says the same, with indented fix lines; exit 1.
    let out = doctor(&config, &state, &[]);
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("[FAIL] audit signing key — ")
            && table.contains(&format!("       fix: chmod 600 {}", audit_key.display())),
        "{table}"
    );
    assert!(table.contains("[warn] daemon — stale pidfile"), "{table}");
}

/// DOC-2, DOC-5, DOC-9, DOC-16: a config core rejects is a failure naming the file
/// and line; the checks that need the config are skipped, the others run.
#[test]
fn config_parse_error_names_file_and_line_and_skips_dependents() {
    let ws = workspace("parse-error");
    let config = ws.write(
        "firma.toml",
        "[sidecar.interceptor]\nmode = \"http_proxy\"\nlisten_adr = \"127.0.0.1:8080\"\n",
    );
    let (code, report) = doctor_json(&config, &ws.path("state"));
    assert_eq!(code, 1, "{report:#}");
    let detail = expect(&report, "config", "fail");
    assert!(
        detail.contains(&format!("{}:3:", config.display())) && detail.contains("listen_adr"),
        "{detail}"
    );
    assert!(
        fixes(&report, "config").contains(&format!("edit {} at line 3", config.display())),
        "{}",
        fixes(&report, "config")
    );
    for id in [
        "authority-key",
        "audit-key",
        "policies",
        "mapping",
        "capability-seed",
        "authority-port",
        "sidecar-port",
        "mitm-ca",
        "enforcement",
    ] {
        let detail = expect(&report, id, "skip");
        assert!(
            detail.contains("config") || detail.contains("sidecar-port"),
            "{id}: {detail}"
        );
    }
    expect(&report, "binary", "ok");
    expect(&report, "state-dir", "ok");
    let detail = expect(&report, "daemon", "warn");
    assert!(detail.starts_with("not running"), "{detail}");

    // DOC-9: a pidfile that holds no pid is a failure naming the file.
    let stack = ws.path("state/stack.pid");
    std::fs::write(&stack, "not-a-pid\n").unwrap();
    let (code, report) = doctor_json(&config, &ws.path("state"));
    assert_eq!(code, 1);
    let detail = expect(&report, "daemon", "fail");
    assert!(
        detail.contains(&stack.display().to_string()) && detail.contains("not-a-pid"),
        "{detail}"
    );
    assert!(
        fixes(&report, "daemon").ends_with(&format!("`rm {}`", stack.display())),
        "{}",
        fixes(&report, "daemon")
    );
}

/// DOC-13: a port that answers 200 instead of the Sidecar's deny means calls
/// are not enforced — a failure.
#[test]
fn an_answer_other_than_the_deny_body_is_not_enforced() {
    let ws = workspace("not-enforced");
    let squatter = Upstream::start();
    let cfg = Config {
        listen: squatter.addr.to_string(),
        ..Config::default()
    };
    ws.write("policies/default.cedar", support::PERMIT_ALL);
    let config = write_config(&ws, &cfg, &closed_port().to_string());
    let (code, report) = doctor_json(&config, &ws.path("state"));
    assert_eq!(code, 1, "{report:#}");
    expect(&report, "sidecar-port", "ok");
    let detail = expect(&report, "enforcement", "fail");
    assert!(
        detail.contains("calls are NOT being enforced") && detail.contains("answered 200"),
        "{detail}"
    );
    assert_eq!(
        squatter
            .wait_seen(1, std::time::Duration::from_secs(5))
            .len(),
        1
    );
}

/// DOC-16: usage errors exit 2.
#[test]
fn usage_errors_exit_2() {
    for args in [
        &["doctor", "--bogus"][..],
        &["doctor", "--timeout-ms", "0"],
        &["doctor", "--json", "extra"],
    ] {
        let out = firma().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// A daemon started by `firma init --yes` + `firma sidecar start --detach`
/// in a directory of its own; stopped (and its processes gone) on drop.
struct Daemon {
    dir: PathBuf,
}

impl Daemon {
    fn cmd(&self) -> Command {
        let mut cmd = firma();
        cmd.current_dir(self.dir.join("ws"))
            .env("HOME", self.dir.join("home"))
            .env("XDG_DATA_HOME", self.dir.join("home/data"));
        cmd
    }

    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    fn config(&self) -> PathBuf {
        self.dir.join("ws/.firma/firma.toml")
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "firma {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn start(name: &str) -> Daemon {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("doctor")
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("ws")).unwrap();
        std::fs::create_dir_all(dir.join("home/data")).unwrap();
        let d = Daemon { dir };
        let state = d.state().display().to_string();
        let authority = closed_port().to_string();
        let sidecar = closed_port().to_string();
        d.run(&[
            "init",
            "--yes",
            "--authority-listen",
            &authority,
            "--sidecar-listen",
            &sidecar,
            "--state-dir",
            &state,
        ]);
        d.run(&[
            "sidecar",
            "start",
            "--detach",
            "--ready-timeout",
            "30",
            "--state-dir",
            &state,
        ]);
        d
    }

    /// The pid in the pidfile of `component` (`stack.pid` for the supervisor).
    fn pid(&self, component: &str) -> u32 {
        let file = if component == "supervisor" {
            "stack"
        } else {
            component
        };
        std::fs::read_to_string(self.state().join(format!("{file}.pid")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self
            .cmd()
            .args(["sidecar", "stop", "--timeout", "5", "--state-dir"])
            .arg(self.state())
            .output();
    }
}

/// DOC-9, DOC-10, DOC-11, DOC-13, DOC-17: the daemon of `firma init --yes`
/// and `firma sidecar start --detach` passes every check — the Authority
/// answers the gRPC health check, the daemon seed verifies, the test call is
/// denied — and after `kill -9` of the Sidecar doctor reports the stale
/// pidfile and the closed port.
#[test]
fn daemon_from_init_is_healthy_and_a_killed_sidecar_is_reported() {
    let daemon = Daemon::start("daemon");
    let (code, report) = doctor_json(&daemon.config(), &daemon.state());
    assert_eq!(code, 0, "{report:#}");
    for c in report["checks"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let expected = match id {
            "mitm-ca" => "skip",
            "tools" => continue,
            _ => "ok",
        };
        expect(&report, id, expected);
    }
    let detail = expect(&report, "authority-port", "ok");
    assert!(detail.contains("gRPC health: SERVING"), "{detail}");
    let detail = expect(&report, "capability-seed", "ok");
    assert!(detail.contains("capabilities/daemon.toml"), "{detail}");
    let detail = expect(&report, "daemon", "ok");
    for c in ["authority", "sidecar", "supervisor"] {
        assert!(
            detail.contains(&format!("{c} pid {}", daemon.pid(c))),
            "{detail}"
        );
    }

    // DOC-1, DOC-5: without --config, the project is found from the
    // working directory, as `firma sidecar start` finds it.
    let out = daemon
        .cmd()
        .args(["doctor", "--json", "--state-dir"])
        .arg(daemon.state())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    let detail = expect(&found, "config", "ok");
    assert_eq!(
        detail,
        format!(
            "{} (found via .firma/firma.toml)",
            daemon.config().display()
        )
    );

    let sidecar = daemon.pid("sidecar");
    let killed = Command::new("kill")
        .args(["-s", "KILL", &sidecar.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The supervisor notices, stops the Authority and leaves the pidfiles
    // (DMN-8); poll until the port is closed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let report = loop {
        let (code, report) = doctor_json(&daemon.config(), &daemon.state());
        if check(&report, "sidecar-port")["status"] == "fail" {
            assert_eq!(code, 1);
            break report;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sidecar port stayed open after kill -9: {report:#}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let detail = check(&report, "daemon")["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("sidecar.pid names pid {sidecar}")),
        "{report:#}"
    );
    expect(&report, "enforcement", "skip");
}
