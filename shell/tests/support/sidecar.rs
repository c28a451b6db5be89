//! The `firma sidecar` process under test: a temporary workspace holding its
//! config, rules, policies and key, and the running child process.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long start-up may take before the test fails.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The test-only audit key (PKCS#8) and its public key.
const TEST_KEY: &str = "keys/TEST-ONLY-audit-p256-pkcs8.key.pem";
const TEST_PUB: &str = "keys/TEST-ONLY-audit-p256-pkcs8.pub.pem";

/// A fresh directory for one test: `<target tmp>/sidecar/<name>`.
pub struct Workspace {
    /// The directory.
    pub dir: PathBuf,
}

impl Workspace {
    /// Creates (after wiping) the directory of test `name`, with the test
    /// audit key copied to `audit.key` and its public key to `audit.pub.pem`,
    /// an empty `state/` and `logs/`.
    pub fn new(name: &str) -> Workspace {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("sidecar")
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).unwrap();
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let fx = super::fixtures();
        std::fs::copy(fx.join(TEST_KEY), dir.join("audit.key")).unwrap();
        std::fs::copy(fx.join(TEST_PUB), dir.join("audit.pub.pem")).unwrap();
        Workspace { dir }
    }

    /// Absolute path of `rel` inside the workspace.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Writes `text` to `rel` (creating parent directories); returns the path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Writes the mapping file `mapping-rules.toml` and the policy
    /// `policies/default.cedar`, and `firma.toml` rendered from `config`;
    /// returns the config path.
    pub fn setup(&self, mapping: &str, policy: &str, config: &Config) -> PathBuf {
        self.write("mapping-rules.toml", mapping);
        self.write("policies/default.cedar", policy);
        self.write("firma.toml", &config.render())
    }

    /// The default audit log path (`logs/audit.jsonl`).
    pub fn audit_path(&self) -> PathBuf {
        self.path("logs/audit.jsonl")
    }

    /// The audit log of this workspace.
    pub fn audit(&self) -> super::AuditLog {
        super::AuditLog::new(self.audit_path(), self.path("audit.key"))
    }

    /// Starts `firma sidecar -c firma.toml --state-dir state`, waiting for
    /// `sidecar ready`.
    pub fn start(&self) -> Sidecar {
        Sidecar::start(&self.path("firma.toml"), &self.path("state"))
    }

    /// Runs a start that must fail; returns its exit code and stderr.
    pub fn start_failure(&self) -> StartFailure {
        match Sidecar::try_start(&self.path("firma.toml"), &self.path("state")) {
            Ok(s) => panic!(
                "sidecar started although it should have failed; stderr:\n{}",
                s.stderr_text()
            ),
            Err(f) => f,
        }
    }
}

/// Where audit records go.
#[derive(Debug, Clone)]
pub enum Sink {
    /// `sink = "file"`, `file_path = <path>` (relative to the config file).
    File(String),
    /// `sink = "stdout"`.
    Stdout,
}

/// The keys of `firma.toml` the tests vary; [`Config::render`] writes them.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sidecar.interceptor.listen_addr`.
    pub listen: String,
    /// `sidecar.interceptor.drain_timeout_secs`.
    pub drain_timeout_secs: u32,
    /// `sidecar.interceptor.upstream_connect_timeout_ms`.
    pub upstream_connect_timeout_ms: Option<u32>,
    /// `sidecar.interceptor.upstream_read_timeout_ms`.
    pub upstream_read_timeout_ms: Option<u32>,
    /// `sidecar.mapping.rules_path`.
    pub rules_path: String,
    /// `sidecar.mapping.rules_paths`.
    pub rules_paths: Vec<String>,
    /// `sidecar.mapping.default_protected`.
    pub default_protected: bool,
    /// `sidecar.policy.dir`.
    pub policy_dir: String,
    /// `sidecar.constraint_enforcement.bundle_ttl_seconds`.
    pub bundle_ttl_seconds: u32,
    /// `sidecar.constraint_enforcement.enforcement_timeout_ms`.
    pub enforcement_timeout_ms: u32,
    /// `sidecar.audit.sink` / `file_path`.
    pub sink: Sink,
    /// `sidecar.audit.signing_key_path`.
    pub signing_key_path: String,
    /// `sidecar.log.level`.
    pub log_level: String,
    /// `sidecar.upstream.resolve`, `("host:port", "ip:port")`.
    pub resolve: Vec<(String, String)>,
    /// `sidecar.ca.dir`.
    pub ca_dir: Option<String>,
    /// `[sidecar.interceptor.https_mitm]`.
    pub mitm: Option<Mitm>,
    /// `[sidecar.authority]` (Authority mode when set).
    pub authority: Option<AuthorityLink>,
    /// `[sidecar.capability_seed].paths`.
    pub capability_seeds: Vec<String>,
}

/// `[sidecar.authority]` keys.
#[derive(Debug, Clone, Default)]
pub struct AuthorityLink {
    /// `url` (not written when empty: policy-only mode).
    pub url: String,
    /// `ca_cert_path`.
    pub ca_cert_path: Option<String>,
    /// `public_key_path`.
    pub public_key_path: Option<String>,
    /// `tls_client_cert_path` and `tls_client_key_path`.
    pub client_tls: Option<(String, String)>,
    /// `connect_timeout_ms`.
    pub connect_timeout_ms: Option<u32>,
}

impl AuthorityLink {
    /// An Authority at `url` whose tokens verify with `public_key_path`.
    pub fn new(url: impl ToString, public_key_path: impl AsRef<Path>) -> AuthorityLink {
        AuthorityLink {
            url: url.to_string(),
            public_key_path: Some(public_key_path.as_ref().display().to_string()),
            ..AuthorityLink::default()
        }
    }

    /// Sets `ca_cert_path`.
    pub fn ca(mut self, path: impl AsRef<Path>) -> AuthorityLink {
        self.ca_cert_path = Some(path.as_ref().display().to_string());
        self
    }

    /// Sets the client certificate and key (mTLS).
    pub fn client(mut self, cert: impl AsRef<Path>, key: impl AsRef<Path>) -> AuthorityLink {
        self.client_tls = Some((
            cert.as_ref().display().to_string(),
            key.as_ref().display().to_string(),
        ));
        self
    }
}

/// `[sidecar.interceptor.https_mitm]` keys.
#[derive(Debug, Clone, Default)]
pub struct Mitm {
    /// `enabled`.
    pub enabled: bool,
    /// `intercept_hosts`.
    pub intercept: Vec<String>,
    /// `bypass_hosts`.
    pub bypass: Vec<String>,
    /// `strict_hosts`.
    pub strict: Vec<String>,
    /// `extra_upstream_ca_file`.
    pub extra_ca: Option<String>,
}

impl Mitm {
    /// Enabled, intercepting `hosts`.
    pub fn intercept(hosts: &[&str]) -> Mitm {
        Mitm {
            enabled: true,
            intercept: hosts.iter().map(|h| h.to_string()).collect(),
            ..Mitm::default()
        }
    }

    /// Adds `strict_hosts`.
    pub fn strict(mut self, hosts: &[&str]) -> Mitm {
        self.strict = hosts.iter().map(|h| h.to_string()).collect();
        self
    }

    /// Adds `bypass_hosts`.
    pub fn bypass(mut self, hosts: &[&str]) -> Mitm {
        self.bypass = hosts.iter().map(|h| h.to_string()).collect();
        self
    }

    /// Sets `extra_upstream_ca_file`.
    pub fn extra_ca(mut self, path: impl AsRef<Path>) -> Mitm {
        self.extra_ca = Some(path.as_ref().display().to_string());
        self
    }
}

impl Default for Config {
    /// Listens on an ephemeral loopback port, rules in `mapping-rules.toml`,
    /// policies in `policies/`, audit file `logs/audit.jsonl` signed with
    /// `audit.key`, `default_protected = true`. The enforcement budget is
    /// generous (2 s) so that a loaded 2-core test machine does not turn
    /// allows into `EnforcementTimeout`; tests of the seed use its 50 ms.
    fn default() -> Config {
        Config {
            listen: "127.0.0.1:0".into(),
            drain_timeout_secs: 5,
            upstream_connect_timeout_ms: None,
            upstream_read_timeout_ms: None,
            rules_path: "mapping-rules.toml".into(),
            rules_paths: Vec::new(),
            default_protected: true,
            policy_dir: "policies".into(),
            bundle_ttl_seconds: 3600,
            enforcement_timeout_ms: 2000,
            sink: Sink::File("logs/audit.jsonl".into()),
            signing_key_path: "audit.key".into(),
            log_level: "info".into(),
            resolve: Vec::new(),
            ca_dir: None,
            mitm: None,
            authority: None,
            capability_seeds: Vec::new(),
        }
    }
}

impl Config {
    /// Adds a `resolve` entry `host_port` → `addr`.
    pub fn resolve(mut self, host_port: &str, addr: impl ToString) -> Config {
        self.resolve.push((host_port.into(), addr.to_string()));
        self
    }

    /// Sets `[sidecar.ca] dir` and `[sidecar.interceptor.https_mitm]`.
    pub fn mitm(mut self, ca_dir: &str, mitm: Mitm) -> Config {
        self.ca_dir = Some(ca_dir.into());
        self.mitm = Some(mitm);
        self
    }

    /// Sets `[sidecar.authority]`.
    pub fn authority(mut self, link: AuthorityLink) -> Config {
        self.authority = Some(link);
        self
    }

    /// Sets `[sidecar.capability_seed].paths`.
    pub fn capability_seeds(mut self, paths: &[impl AsRef<Path>]) -> Config {
        self.capability_seeds = paths
            .iter()
            .map(|p| p.as_ref().display().to_string())
            .collect();
        self
    }

    /// The `firma.toml` text.
    pub fn render(&self) -> String {
        let q = |s: &str| format!("{s:?}");
        let mut t = String::new();
        t.push_str("[sidecar.interceptor]\nmode = \"http_proxy\"\n");
        t.push_str(&format!("listen_addr = {}\n", q(&self.listen)));
        t.push_str(&format!(
            "drain_timeout_secs = {}\n",
            self.drain_timeout_secs
        ));
        if let Some(ms) = self.upstream_connect_timeout_ms {
            t.push_str(&format!("upstream_connect_timeout_ms = {ms}\n"));
        }
        if let Some(ms) = self.upstream_read_timeout_ms {
            t.push_str(&format!("upstream_read_timeout_ms = {ms}\n"));
        }
        t.push_str("\n[sidecar.mapping]\n");
        t.push_str(&format!("rules_path = {}\n", q(&self.rules_path)));
        if !self.rules_paths.is_empty() {
            let items: Vec<String> = self.rules_paths.iter().map(|p| q(p)).collect();
            t.push_str(&format!("rules_paths = [{}]\n", items.join(", ")));
        }
        t.push_str(&format!("default_protected = {}\n", self.default_protected));
        t.push_str(&format!(
            "\n[sidecar.policy]\ndir = {}\n",
            q(&self.policy_dir)
        ));
        t.push_str(&format!(
            "\n[sidecar.constraint_enforcement]\nbundle_ttl_seconds = {}\nenforcement_timeout_ms = {}\n",
            self.bundle_ttl_seconds, self.enforcement_timeout_ms
        ));
        t.push_str("\n[sidecar.audit]\n");
        match &self.sink {
            Sink::File(p) => t.push_str(&format!("sink = \"file\"\nfile_path = {}\n", q(p))),
            Sink::Stdout => t.push_str("sink = \"stdout\"\n"),
        }
        t.push_str(&format!(
            "signing_key_path = {}\n",
            q(&self.signing_key_path)
        ));
        t.push_str(&format!(
            "\n[sidecar.log]\nlevel = {}\n",
            q(&self.log_level)
        ));
        if !self.resolve.is_empty() {
            let items: Vec<String> = self
                .resolve
                .iter()
                .map(|(k, v)| format!("{} = {}", q(k), q(v)))
                .collect();
            t.push_str(&format!(
                "\n[sidecar.upstream]\nresolve = {{ {} }}\n",
                items.join(", ")
            ));
        }
        if let Some(dir) = &self.ca_dir {
            t.push_str(&format!("\n[sidecar.ca]\ndir = {}\n", q(dir)));
        }
        if let Some(m) = &self.mitm {
            let list = |v: &[String]| {
                let items: Vec<String> = v.iter().map(|h| q(h)).collect();
                format!("[{}]", items.join(", "))
            };
            t.push_str(&format!(
                "\n[sidecar.interceptor.https_mitm]\nenabled = {}\nintercept_hosts = {}\nbypass_hosts = {}\nstrict_hosts = {}\n",
                m.enabled,
                list(&m.intercept),
                list(&m.bypass),
                list(&m.strict)
            ));
            if let Some(ca) = &m.extra_ca {
                t.push_str(&format!("extra_upstream_ca_file = {}\n", q(ca)));
            }
        }
        if let Some(a) = &self.authority {
            t.push_str("\n[sidecar.authority]\n");
            if !a.url.is_empty() {
                t.push_str(&format!("url = {}\n", q(&a.url)));
            }
            if let Some(p) = &a.ca_cert_path {
                t.push_str(&format!("ca_cert_path = {}\n", q(p)));
            }
            if let Some(p) = &a.public_key_path {
                t.push_str(&format!("public_key_path = {}\n", q(p)));
            }
            if let Some((cert, key)) = &a.client_tls {
                t.push_str(&format!(
                    "tls_client_cert_path = {}\ntls_client_key_path = {}\n",
                    q(cert),
                    q(key)
                ));
            }
            if let Some(ms) = a.connect_timeout_ms {
                t.push_str(&format!("connect_timeout_ms = {ms}\n"));
            }
        }
        if !self.capability_seeds.is_empty() {
            let items: Vec<String> = self.capability_seeds.iter().map(|p| q(p)).collect();
            t.push_str(&format!(
                "\n[sidecar.capability_seed]\npaths = [{}]\n",
                items.join(", ")
            ));
        }
        t
    }
}

/// A start-up that ended before `sidecar ready`.
#[derive(Debug)]
pub struct StartFailure {
    /// Exit code (None if killed by a signal or still running at timeout).
    pub code: Option<i32>,
    /// Captured stderr lines.
    pub stderr: Vec<String>,
    /// Captured stdout lines.
    pub stdout: Vec<String>,
}

impl StartFailure {
    /// The stderr text.
    pub fn stderr_text(&self) -> String {
        self.stderr.join("\n")
    }
}

/// A running `firma sidecar`; SIGKILLed on drop.
pub struct Sidecar {
    child: Child,
    /// The bound proxy address (from the `listening on <addr>` log line).
    pub addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<Vec<String>>>,
    exit: Option<ExitStatus>,
}

/// Spawns a thread that collects the lines of `r` into `store` and sends
/// each one on the returned channel.
fn collect_lines(
    r: impl Read + Send + 'static,
    store: Arc<Mutex<Vec<String>>>,
) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let reader = BufReader::new(r);
        for line in reader.split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).into_owned();
            store.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
    rx
}

/// The message part of a log line `<time> <LEVEL> <target>: <message>`.
pub fn log_message(line: &str) -> &str {
    line.split_once(": ").map(|(_, m)| m).unwrap_or(line)
}

impl Sidecar {
    /// The command line used for every start.
    pub fn command(config: &Path, state_dir: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_firma"));
        cmd.arg("sidecar")
            .arg("-c")
            .arg(config)
            .arg("--state-dir")
            .arg(state_dir)
            .env_remove("FIRMA_CONFIG")
            .env_remove("FIRMA_STATE_DIR")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Starts the sidecar and waits for `sidecar ready`; panics with the
    /// captured stderr when start-up fails or times out.
    pub fn start(config: &Path, state_dir: &Path) -> Sidecar {
        match Sidecar::try_start(config, state_dir) {
            Ok(s) => s,
            Err(f) => panic!(
                "sidecar did not become ready (exit {:?}); stderr:\n{}",
                f.code,
                f.stderr_text()
            ),
        }
    }

    /// Starts the sidecar; `Err` when it exits (or times out) before `sidecar ready`.
    pub fn try_start(config: &Path, state_dir: &Path) -> Result<Sidecar, StartFailure> {
        Sidecar::try_spawn(Sidecar::command(config, state_dir))
    }

    /// Spawns `cmd` (a sidecar command line) and waits for `sidecar ready`.
    pub fn try_spawn(mut cmd: Command) -> Result<Sidecar, StartFailure> {
        let mut child = cmd.spawn().expect("spawn firma");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let err_rx = collect_lines(child.stderr.take().unwrap(), stderr.clone());
        let _out_rx = collect_lines(child.stdout.take().unwrap(), stdout.clone());
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut addr: Option<SocketAddr> = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match err_rx.recv_timeout(left) {
                Ok(line) => {
                    let msg = log_message(&line);
                    if let Some(a) = msg.strip_prefix("listening on ") {
                        addr = a.trim().parse().ok();
                    }
                    if msg.trim_end() == "sidecar ready" {
                        let Some(addr) = addr else {
                            let _ = child.kill();
                            let _ = child.wait();
                            panic!(
                                "`sidecar ready` without a parsable `listening on <addr>` line; stderr:\n{}",
                                stderr.lock().unwrap().join("\n")
                            );
                        };
                        return Ok(Sidecar {
                            child,
                            addr,
                            stderr,
                            stdout,
                            exit: None,
                        });
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // stderr closed: the process is exiting.
                    let status = wait_timeout(&mut child, Duration::from_secs(10));
                    if status.is_none() {
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                    // Give the stdout reader a moment to drain.
                    std::thread::sleep(Duration::from_millis(50));
                    return Err(StartFailure {
                        code: status.and_then(|s| s.code()),
                        stderr: stderr.lock().unwrap().clone(),
                        stdout: stdout.lock().unwrap().clone(),
                    });
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(StartFailure {
                        code: None,
                        stderr: stderr.lock().unwrap().clone(),
                        stdout: stdout.lock().unwrap().clone(),
                    });
                }
            }
        }
    }

    /// `http://<addr>`, for `--proxy`.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// stderr lines so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// stderr so far as one string.
    pub fn stderr_text(&self) -> String {
        self.stderr_lines().join("\n")
    }

    /// stdout lines so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Waits (bounded) until stdout has at least `n` lines.
    pub fn wait_stdout_lines(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.stdout_lines();
            if lines.len() >= n || Instant::now() >= deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`) with `kill(1)`.
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{sig} failed");
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) -> ExitStatus {
        let _ = self.child.kill();
        let st = self.child.wait().expect("wait");
        self.exit = Some(st);
        st
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(st) = self.exit {
            return Some(st);
        }
        let st = wait_timeout(&mut self.child, timeout);
        self.exit = st;
        st
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `child` until it exits or `timeout` passes.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
