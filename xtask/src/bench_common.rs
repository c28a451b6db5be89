//! Helpers shared by the load benches (`bench-proxy`, `bench-mitm`): child
//! processes killed on drop, starting `firma sidecar` and waiting for it,
//! `/proc` figures, the machine line, and small formatting helpers.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How long a sidecar may take to print `sidecar ready`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- processes

/// A child process that is killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Option<Arc<LogTail>>,
}

impl Server {
    /// Starts a bench binary that prints its bound address on stdout.
    pub fn spawn_printing_addr(name: &str, exe: &Path, args: &[String]) -> Result<Self, String> {
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", exe.display()))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let addr = line.trim().parse::<SocketAddr>();
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log: None,
        };
        match addr {
            Ok(a) => server.addr = a,
            Err(_) => return Err(format!("{name} did not print its address (got `{line}`)")),
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits up to `timeout` for the process to exit.
    pub fn terminate(&mut self, timeout: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// What a sidecar printed on stderr after `sidecar ready`: a count, the
/// count of lines holding a watched text, and the last lines (for error
/// messages).
#[derive(Default)]
pub struct LogTail {
    after_ready: AtomicUsize,
    watch: Option<String>,
    watched: AtomicUsize,
    last: Mutex<VecDeque<String>>,
}

impl LogTail {
    /// Lines (before or after `sidecar ready`) that held the watched text.
    pub fn watched(&self) -> u64 {
        self.watched.load(Ordering::Relaxed) as u64
    }

    pub fn after_ready(&self) -> u64 {
        self.after_ready.load(Ordering::Relaxed) as u64
    }

    pub fn last_lines(&self) -> String {
        self.last
            .lock()
            .map(|l| l.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }
}

/// Starts `firma sidecar -c config --state-dir state_dir` and waits for
/// `sidecar ready`; the server's address is the one it logs as
/// `listening on <addr>`. `label` names it in error messages; stderr lines
/// holding `watch` are counted ([`LogTail::watched`]).
pub fn start_sidecar(
    firma: &Path,
    config: &Path,
    state_dir: &Path,
    label: &str,
    watch: Option<&str>,
) -> Result<Server, String> {
    let mut child = Command::new(firma)
        .arg("sidecar")
        .arg("-c")
        .arg(config)
        .arg("--state-dir")
        .arg(state_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start firma sidecar: {e}"))?;
    let tail = Arc::new(LogTail {
        watch: watch.map(str::to_owned),
        ..LogTail::default()
    });
    let (tx, rx) = mpsc::channel::<String>();
    if let Some(err) = child.stderr.take() {
        let tail = Arc::clone(&tail);
        std::thread::spawn(move || drain_stderr(err, &tx, &tail));
    }
    let mut server = Server {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        log: Some(Arc::clone(&tail)),
    };
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut listening = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    listening = rest
                        .split_whitespace()
                        .next()
                        .and_then(|a| a.parse::<SocketAddr>().ok());
                }
                if line.contains("sidecar ready") {
                    break;
                }
            }
            Err(_) => {
                return Err(format!(
                    "firma sidecar ({label}) did not become ready:\n{}",
                    tail.last_lines()
                ));
            }
        }
    }
    server.addr = listening.ok_or_else(|| {
        format!(
            "firma sidecar ({label}) printed no `listening on <addr>`:\n{}",
            tail.last_lines()
        )
    })?;
    Ok(server)
}

/// Forwards start-up lines to `tx` until `sidecar ready`, then only counts.
fn drain_stderr(err: impl std::io::Read, tx: &mpsc::Sender<String>, tail: &LogTail) {
    let mut ready = false;
    for line in BufReader::new(err).lines() {
        let Ok(line) = line else { break };
        if tail.watch.as_deref().is_some_and(|w| line.contains(w)) {
            tail.watched.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut last) = tail.last.lock() {
            if last.len() == 20 {
                last.pop_front();
            }
            last.push_back(line.clone());
        }
        if ready {
            tail.after_ready.fetch_add(1, Ordering::Relaxed);
        } else {
            ready = line.contains("sidecar ready");
            let _ = tx.send(line);
        }
    }
}

/// Writes a fresh P-256 audit signing key (PKCS#8 PEM, mode 0600) with openssl.
pub fn gen_audit_key(key: &Path) -> Result<(), String> {
    let status = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(key)
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    if !status.success() {
        return Err(format!("openssl genpkey failed ({status})"));
    }
    set_mode_0600(key)
}

/// The vendor mapping packs (`fixtures/packs/mappings/*.toml`) as a TOML
/// array body of path strings, sorted.
pub fn vendor_packs(root: &Path) -> Result<String, String> {
    let packs_dir = root.join("fixtures/packs/mappings");
    let mut packs: Vec<PathBuf> = std::fs::read_dir(&packs_dir)
        .map_err(|e| format!("{}: {e}", packs_dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    packs.sort();
    Ok(packs
        .iter()
        .map(|p| toml_str(p))
        .collect::<Vec<_>>()
        .join(", "))
}

/// Lines in a file (audit records).
pub fn count_lines(p: &Path) -> Result<u64, String> {
    let text = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(text.iter().filter(|b| **b == b'\n').count() as u64)
}

// ---------------------------------------------------------------- /proc

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`).
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

pub fn hwm_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// utime + stime of a process (all threads), in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = text.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // After the comm: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// cutime + cstime of this process: CPU time of its children that have been
/// waited for, in clock ticks.
pub fn children_cpu_ticks() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_comm = text.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // cutime is field 16, cstime field 17.
    let cutime: u64 = fields.get(13)?.parse().ok()?;
    let cstime: u64 = fields.get(14)?.parse().ok()?;
    Some(cutime + cstime)
}

pub fn clk_tck() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

pub fn per_req(ticks: u64, requests: u64, tick_us: f64) -> f64 {
    ticks as f64 * tick_us / requests.max(1) as f64
}

// ---------------------------------------------------------------- report

pub fn ms(us: f64) -> String {
    format!("{:.3}", us / 1000.0)
}

pub fn mib(kib: Option<u64>) -> String {
    kib.map_or("—".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

pub fn goal(ok: bool, what: &str) {
    println!("- {} {what}", if ok { "PASS" } else { "FAIL" });
}

/// The first line a command prints (stdout, then stderr), or empty.
pub fn first_line(cmd: &str, arg: &str) -> String {
    Command::new(cmd)
        .arg(arg)
        .output()
        .ok()
        .and_then(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.lines().next().map(str::to_owned)
        })
        .unwrap_or_default()
}

/// `N cores, <CPU model>, Linux <release>; rustc <version>`.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    format!(
        "{cores} cores, {cpu}, Linux {kernel}; {}",
        first_line("rustc", "-V")
    )
}

// ---------------------------------------------------------------- helpers

pub fn require_tool(name: &str, hint: &str) -> Result<(), String> {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()));
    if found {
        Ok(())
    } else {
        Err(format!("`{name}` not found on PATH; {hint}"))
    }
}

pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => root.join(d),
        None => root.join("target"),
    }
}

/// A TOML basic string holding a path.
pub fn toml_str(p: &Path) -> String {
    let s = p.display().to_string();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub fn set_mode_0600(p: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", p.display()))
}

/// A scratch directory removed on drop (unless kept).
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    /// `$TMPDIR/<prefix>-<pid>`.
    pub fn create(prefix: &str, keep: bool) -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self { path, keep })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&self, name: &str, text: &str) -> Result<PathBuf, String> {
        let p = self.path.join(name);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
