//! `cargo xtask bench-mitm`: the HTTPS MITM bench (issue 4), `firma sidecar`
//! side by side with mitmproxy on this machine.
//!
//! One bounded run starts a TLS origin for `bench.test` (`bench-tls-upstream`,
//! its own throwaway CA), `firma sidecar` intercepting `bench.test`, and
//! `mitmdump` (from PyPI, installed into a venv under the target dir on first
//! use) doing the same interception. The load client (`mitm-client`) then
//! measures, against each proxy in turn: full MITM handshakes (new TCP
//! connection, `CONNECT`, TLS handshake verified against the proxy's CA, one
//! `GET`, close) at 1 and N loops, and requests over kept-alive intercepted
//! connections at 1 and N connections, plus the keep-alive runs straight to
//! the origin as a baseline; every scenario `--rounds` times, interleaved,
//! reporting medians. It reports rates, latencies, CPU per operation of the
//! proxy, client and origin, peak RSS, the first (cold) handshake against the
//! steady-state median, the leaves minted, firma's audit completeness, and the
//! issue's goal (≥ 10× mitmproxy's keep-alive req/s). See `benches/README.md`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::bench_common::{
    Server, TempDir, children_cpu_ticks, clk_tck, count_lines, cpu_ticks, first_line,
    gen_audit_key, goal, hwm_kib, machine, mib, ms, per_req, require_tool, start_sidecar,
    target_dir, toml_str, vendor_packs,
};

/// The intercepted host; both proxies pin it to the TLS origin.
const HOST: &str = "bench.test";
/// The line firma logs for every leaf it mints.
const MINT_LOG: &str = "minted a leaf certificate for";
/// The label of the baseline without a proxy.
const DIRECT: &str = "direct (no proxy)";
/// How long mitmproxy may take to listen.
const MITM_STARTUP: Duration = Duration::from_secs(40);
/// The PyPI package, pinned so runs stay comparable.
const MITMPROXY_REQ: &str = "mitmproxy==11.0.2";

/// Command-line options.
struct Options {
    /// Seconds per client run.
    duration: u64,
    /// Interleaved rounds of all scenarios (medians are reported).
    rounds: usize,
    /// Connections (keep-alive) or loops (handshake) of the loaded runs.
    conns: usize,
    /// Build the release binaries first.
    build: bool,
    /// Keep the temp dir (configs, CA, audit log, mitmproxy log).
    keep: bool,
}

const USAGE: &str = "usage: cargo xtask bench-mitm [--duration SECS] [--rounds N] [--conns N] [--no-build] [--keep]";

fn parse_options(rest: &[String]) -> Result<Options, String> {
    let mut o = Options {
        duration: 3,
        rounds: 3,
        conns: 8,
        build: true,
        keep: false,
    };
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let raw = it
                .next()
                .ok_or_else(|| format!("`{name}` needs a value; {USAGE}"))?;
            raw.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("`{name}` value `{raw}` is not a positive integer"))
        };
        match arg.as_str() {
            "--duration" => o.duration = number("--duration")?,
            "--rounds" => {
                o.rounds = usize::try_from(number("--rounds")?).map_err(|e| e.to_string())?
            }
            "--conns" => {
                o.conns = usize::try_from(number("--conns")?).map_err(|e| e.to_string())?
            }
            "--no-build" => o.build = false,
            "--keep" => o.keep = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown option `{other}`; {USAGE}")),
        }
    }
    Ok(o)
}

/// One measured scenario.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Handshake,
    KeepAlive,
}

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Self::Handshake => "handshake",
            Self::KeepAlive => "keepalive",
        }
    }
}

/// Runs the whole bench and prints the report.
pub fn run(rest: &[String]) -> Result<(), String> {
    let opts = parse_options(rest)?;
    if opts.build {
        super::cargo(&[
            "build",
            "--release",
            "-p",
            "firma",
            "-p",
            "firma-benches",
            "--bins",
        ])?;
    }
    require_tool("openssl", "install openssl: apt-get install -y openssl")?;
    let root = super::root();
    let target = target_dir(&root);
    let bin = target.join("release");
    for b in ["firma", "bench-tls-upstream", "mitm-client"] {
        if !bin.join(b).is_file() {
            return Err(format!(
                "`{}` is missing; run without `--no-build`",
                bin.join(b).display()
            ));
        }
    }
    let mitmdump = ensure_mitmproxy(&target)?;
    let tmp = TempDir::create("firma-bench-mitm", opts.keep)?;
    let upstream_ca = tmp.path().join("upstream-ca.pem");

    let upstream = Server::spawn_printing_addr(
        "bench-tls-upstream",
        &bin.join("bench-tls-upstream"),
        &[
            "--ca-out".into(),
            upstream_ca.display().to_string(),
            "--host".into(),
            HOST.into(),
        ],
    )?;
    let mut firma = Firma::start(&root, &bin, tmp.path(), upstream.addr, &upstream_ca)?;
    let mitm = Mitmproxy::start(&mitmdump, tmp.path(), upstream.addr, &upstream_ca)?;

    let mut proxies = [
        Proxy::new(
            "firma sidecar",
            firma.server.addr,
            Some(firma.server.pid()),
            &firma.ca_cert,
        ),
        Proxy::new("mitmproxy", mitm.addr, Some(mitm.child.id()), &mitm.ca_cert),
        // The floor: the client straight to the origin (keep-alive only).
        Proxy::new(DIRECT, upstream.addr, None, &upstream_ca),
    ];
    let client = bin.join("mitm-client");
    let scenarios = [
        (Mode::Handshake, 1),
        (Mode::Handshake, opts.conns),
        (Mode::KeepAlive, 1),
        (Mode::KeepAlive, opts.conns),
    ];
    // Interleaved: each scenario runs against firma, then mitmproxy, round
    // after round, so a slow minute of the shared machine hits both. The
    // first run's first iteration is each proxy's first handshake for
    // `bench.test` (cold).
    for round in 1..=opts.rounds {
        for (mode, conns) in scenarios {
            for p in proxies.iter_mut() {
                if p.pid.is_none() && mode == Mode::Handshake {
                    continue;
                }
                eprintln!(
                    "xtask: bench-mitm: round {round}/{}: {} {} × {conns}, {} s",
                    opts.rounds,
                    p.label,
                    mode.arg(),
                    opts.duration
                );
                let r = p
                    .run(&client, upstream.pid(), mode, conns, opts.duration)
                    .map_err(|e| match (&p.label[..], &firma.server.log) {
                        ("firma sidecar", Some(log)) => {
                            format!("{e}\nlast sidecar log lines:\n{}", log.last_lines())
                        }
                        ("mitmproxy", _) => format!("{e}\nmitmproxy log: {}", mitm.log.display()),
                        _ => e,
                    })?;
                p.results.push(r);
            }
        }
    }
    for p in proxies.iter_mut() {
        p.peak_kib = p.pid.and_then(hwm_kib);
    }
    let minted = firma.server.log.as_ref().map_or(0, |l| l.watched());
    let firma_after_ready = firma.server.log.as_ref().map_or(0, |l| l.after_ready());
    let audit_lines = firma.stop_and_count()?;
    drop(mitm);
    drop(upstream);

    report(&opts, &scenarios, &proxies, &mitmdump);
    let f = &proxies[0];
    let completed: u64 = f.results.iter().map(|r| r.requests).sum();
    let in_flight: u64 = f.results.iter().map(|r| r.conns as u64).sum();
    let verdict = if audit_lines >= completed && audit_lines <= completed + in_flight {
        "ok"
    } else {
        "MISMATCH"
    };
    println!(
        "\nfirma audit log after SIGTERM: {audit_lines} records for {completed} requests the \
         client completed (+ at most {in_flight} in flight at run ends): {verdict}; \
         {firma_after_ready} stderr lines after `sidecar ready`."
    );
    println!(
        "firma minted {minted} leaf certificate(s) over {} handshakes (log lines `{MINT_LOG}`).",
        f.handshakes()
    );
    print_goals(&proxies, minted, opts.conns);
    if opts.keep {
        println!("\ntemp dir kept: {}", tmp.path().display());
    }
    Ok(())
}

// ---------------------------------------------------------------- load runs

/// A proxy under test and its results.
struct Proxy {
    label: String,
    addr: SocketAddr,
    /// The proxy process; `None` for the direct baseline.
    pid: Option<u32>,
    /// The CA the client trusts for this proxy's minted leaves.
    ca_cert: PathBuf,
    results: Vec<RunResult>,
    peak_kib: Option<u64>,
}

impl Proxy {
    fn new(label: &str, addr: SocketAddr, pid: Option<u32>, ca_cert: &Path) -> Self {
        Self {
            label: label.to_owned(),
            addr,
            pid,
            ca_cert: ca_cert.to_path_buf(),
            results: Vec::new(),
            peak_kib: None,
        }
    }

    /// One `mitm-client` run; its errors (any failed request) end the bench.
    fn run(
        &self,
        client: &Path,
        origin_pid: u32,
        mode: Mode,
        conns: usize,
        secs: u64,
    ) -> Result<RunResult, String> {
        let before = self.pid.and_then(cpu_ticks);
        let origin_before = cpu_ticks(origin_pid);
        let client_before = children_cpu_ticks();
        let out = Command::new(client)
            .arg("--proxy")
            .arg(self.addr.to_string())
            .args(["--host", HOST, "--ca"])
            .arg(&self.ca_cert)
            .args(["--mode", mode.arg(), "--conns"])
            .arg(conns.to_string())
            .arg("--duration")
            .arg(secs.to_string())
            .args(self.pid.is_none().then_some("--direct"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run mitm-client: {e}"))?;
        let after = self.pid.and_then(cpu_ticks);
        let origin_after = cpu_ticks(origin_pid);
        let client_after = children_cpu_ticks();
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!(
                "mitm-client {} × {conns} through {} ({}) failed ({}):\n{text}{err}",
                mode.arg(),
                self.label,
                self.addr,
                out.status
            ));
        }
        let mut r = RunResult::parse(&text)?;
        r.mode = mode;
        let delta = |b: Option<u64>, a: Option<u64>| b.zip(a).map(|(b, a)| a.saturating_sub(b));
        r.proxy_ticks = delta(before, after);
        r.origin_ticks = delta(origin_before, origin_after);
        r.client_ticks = delta(client_before, client_after);
        Ok(r)
    }

    /// The per-figure medians of a scenario's runs.
    fn find(&self, mode: Mode, conns: usize) -> Option<Row> {
        let runs: Vec<&RunResult> = self
            .results
            .iter()
            .filter(|r| r.mode == mode && r.conns == conns)
            .collect();
        let first = runs.first()?;
        let tick_us = 1_000_000.0 / clk_tck() as f64;
        let figure = |f: &dyn Fn(&RunResult) -> f64| median(runs.iter().map(|r| f(r)).collect());
        let cpu = |f: &dyn Fn(&RunResult) -> Option<u64>| {
            let v: Vec<f64> = runs
                .iter()
                .filter_map(|r| f(r).map(|t| per_req(t, r.requests, tick_us)))
                .collect();
            (!v.is_empty()).then(|| median(v))
        };
        Some(Row {
            mode,
            conns,
            runs: runs.len(),
            rps: figure(&|r| r.rps),
            p50_us: figure(&|r| r.p50_us),
            p99_us: figure(&|r| r.p99_us),
            first_us: first.first_us,
            proxy_cpu: cpu(&|r| r.proxy_ticks),
            client_cpu: cpu(&|r| r.client_ticks),
            origin_cpu: cpu(&|r| r.origin_ticks),
            leaves: runs.iter().map(|r| r.distinct_leaves).max().unwrap_or(0),
        })
    }

    /// Full handshakes over all runs (one per handshake iteration, one per
    /// keep-alive connection opened, roughly `conns`).
    fn handshakes(&self) -> u64 {
        self.results
            .iter()
            .map(|r| match r.mode {
                Mode::Handshake => r.requests,
                Mode::KeepAlive => r.conns as u64,
            })
            .sum()
    }
}

/// A scenario's figures: medians over its runs, except `first_us` (the first
/// run's first iteration) and `leaves` (the most seen in one run).
struct Row {
    mode: Mode,
    conns: usize,
    runs: usize,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    first_us: f64,
    /// CPU µs per iteration of the proxy, the client and the origin.
    proxy_cpu: Option<f64>,
    client_cpu: Option<f64>,
    origin_cpu: Option<f64>,
    leaves: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The client's `MITM_BENCH` line.
struct RunResult {
    mode: Mode,
    conns: usize,
    requests: u64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    first_us: f64,
    setup_p50_us: f64,
    distinct_leaves: u64,
    /// CPU ticks of the proxy, the origin and the client during the run.
    proxy_ticks: Option<u64>,
    origin_ticks: Option<u64>,
    client_ticks: Option<u64>,
}

impl RunResult {
    fn parse(stdout: &str) -> Result<Self, String> {
        let line = stdout
            .lines()
            .find(|l| l.starts_with("MITM_BENCH "))
            .ok_or_else(|| format!("mitm-client printed no `MITM_BENCH` line: {stdout}"))?;
        let mut r = Self {
            mode: Mode::Handshake,
            conns: 0,
            requests: 0,
            rps: 0.0,
            p50_us: 0.0,
            p99_us: 0.0,
            first_us: 0.0,
            setup_p50_us: 0.0,
            distinct_leaves: 0,
            proxy_ticks: None,
            origin_ticks: None,
            client_ticks: None,
        };
        for kv in line.split_whitespace().skip(1) {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let num = || {
                v.parse::<f64>()
                    .map_err(|_| format!("mitm-client: bad value in `{kv}` of `{line}`"))
            };
            match k {
                "conns" => r.conns = num()? as usize,
                "requests" => r.requests = num()? as u64,
                "rps" => r.rps = num()?,
                "p50_us" => r.p50_us = num()?,
                "p99_us" => r.p99_us = num()?,
                "first_us" => r.first_us = num()?,
                "setup_p50_us" => r.setup_p50_us = num()?,
                "distinct_leaves" => r.distinct_leaves = num()? as u64,
                _ => {}
            }
        }
        Ok(r)
    }
}

// ---------------------------------------------------------------- firma

/// `firma sidecar` intercepting `bench.test`.
struct Firma {
    server: Server,
    audit_file: PathBuf,
    /// `<ca dir>/firma-ca.crt`, created by the sidecar on first start.
    ca_cert: PathBuf,
}

impl Firma {
    /// Writes its config, rules and key into `tmp/firma` and starts it.
    fn start(
        root: &Path,
        bin: &Path,
        tmp: &Path,
        upstream: SocketAddr,
        upstream_ca: &Path,
    ) -> Result<Self, String> {
        let dir = tmp.join("firma");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let key = dir.join("audit.key");
        gen_audit_key(&key)?;
        let rules = dir.join("mapping-rules.toml");
        std::fs::write(
            &rules,
            format!(
                "# Every decrypted GET to the bench origin is an external send, which\n\
                 # benches/fixtures/policies-15 permits.\n\
                 [[rules]]\nmethod = \"GET\"\nhost = \"{HOST}\"\npath = \"*\"\n\
                 action_class = \"communication.external.send\"\n"
            ),
        )
        .map_err(|e| format!("{}: {e}", rules.display()))?;
        let ca_dir = dir.join("ca");
        let audit_file = dir.join("audit.jsonl");
        let config = format!(
            r#"# `firma sidecar` config of `cargo xtask bench-mitm` (written by the xtask).

[sidecar.interceptor]
mode = "http_proxy"
listen_addr = "127.0.0.1:0"
drain_timeout_secs = 2

[sidecar.interceptor.https_mitm]
enabled = true
intercept_hosts = ["{HOST}"]
extra_upstream_ca_file = {upstream_ca}

[sidecar.ca]
dir = {ca_dir}

[sidecar.mapping]
rules_path = {rules}
rules_paths = [{packs}]
default_protected = true

[sidecar.policy]
dir = {policies}

[sidecar.constraint_enforcement]
bundle_ttl_seconds = 3600
enforcement_timeout_ms = 50

[sidecar.audit]
sink = "file"
file_path = {audit}
signing_key_path = {key}

[sidecar.log]
level = "info"

[sidecar.upstream]
resolve = {{ "{HOST}:443" = "{upstream}" }}
"#,
            upstream_ca = toml_str(upstream_ca),
            ca_dir = toml_str(&ca_dir),
            rules = toml_str(&rules),
            packs = vendor_packs(root)?,
            policies = toml_str(&root.join("benches/fixtures/policies-15")),
            audit = toml_str(&audit_file),
            key = toml_str(&key),
        );
        let config_path = dir.join("firma.toml");
        std::fs::write(&config_path, config)
            .map_err(|e| format!("{}: {e}", config_path.display()))?;
        let server = start_sidecar(
            &bin.join("firma"),
            &config_path,
            &dir.join("state"),
            "https_mitm",
            Some(MINT_LOG),
        )?;
        let ca_cert = ca_dir.join("firma-ca.crt");
        if !ca_cert.is_file() {
            return Err(format!(
                "firma sidecar is ready but `{}` does not exist",
                ca_cert.display()
            ));
        }
        Ok(Self {
            server,
            audit_file,
            ca_cert,
        })
    }

    /// SIGTERM, wait for the drain, then count the audit log's records.
    fn stop_and_count(&mut self) -> Result<u64, String> {
        self.server.terminate(Duration::from_secs(10));
        count_lines(&self.audit_file)
    }
}

// ---------------------------------------------------------------- mitmproxy

/// `mitmdump` in a venv under the target dir, installed on first use.
fn ensure_mitmproxy(target: &Path) -> Result<PathBuf, String> {
    let venv = target.join("bench-mitm/venv");
    let mitmdump = venv.join("bin/mitmdump");
    if mitmdump.is_file() {
        return Ok(mitmdump);
    }
    require_tool(
        "python3",
        "install Python 3 with venv: apt-get install -y python3-venv",
    )?;
    eprintln!(
        "xtask: bench-mitm: installing {MITMPROXY_REQ} into {}",
        venv.display()
    );
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !status.success() {
        return Err(format!(
            "`python3 -m venv {}` failed ({status})",
            venv.display()
        ));
    }
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", MITMPROXY_REQ])
        .status()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if !status.success() || !mitmdump.is_file() {
        return Err(format!("`pip install {MITMPROXY_REQ}` failed ({status})"));
    }
    Ok(mitmdump)
}

/// The addon that pins `bench.test` to the origin: requests go to the
/// origin's address (so every request of a connection matches the same
/// upstream connection and it is reused), and the upstream TLS keeps
/// `bench.test` as SNI and verified name.
const ADDON: &str = r#"# Pins bench.test to the bench origin (written by `cargo xtask bench-mitm`).
HOST = "@HOST@"
UPSTREAM = ("127.0.0.1", @PORT@)


def request(flow):
    if flow.request.host == HOST:
        flow.request.host, flow.request.port = UPSTREAM


def server_connect(data):
    if data.server.address == UPSTREAM:
        data.server.sni = HOST
"#;

/// `mitmdump` intercepting every CONNECT (so `bench.test` too).
struct Mitmproxy {
    child: Child,
    addr: SocketAddr,
    ca_cert: PathBuf,
    log: PathBuf,
}

impl Mitmproxy {
    fn start(
        mitmdump: &Path,
        tmp: &Path,
        upstream: SocketAddr,
        upstream_ca: &Path,
    ) -> Result<Self, String> {
        let dir = tmp.join("mitmproxy");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let addon = dir.join("pin_upstream.py");
        std::fs::write(
            &addon,
            ADDON
                .replace("@HOST@", HOST)
                .replace("@PORT@", &upstream.port().to_string()),
        )
        .map_err(|e| format!("{}: {e}", addon.display()))?;
        // mitmdump takes a port, not port 0: ask the kernel for a free one.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        let confdir = dir.join("conf");
        let log = dir.join("mitmdump.log");
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let set = |k: &str, v: &str| ["--set".to_owned(), format!("{k}={v}")];
        let child = Command::new(mitmdump)
            .args(["--listen-host", "127.0.0.1", "--listen-port"])
            .arg(port.to_string())
            .args(set("confdir", &confdir.display().to_string()))
            .args(set("connection_strategy", "lazy"))
            .args(set("upstream_cert", "false"))
            .args(set(
                "ssl_verify_upstream_trusted_ca",
                &upstream_ca.display().to_string(),
            ))
            .args(set("termlog_verbosity", "warn"))
            .args(set("flow_detail", "0"))
            .arg("-s")
            .arg(&addon)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", mitmdump.display()))?;
        let mut m = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            ca_cert: confdir.join("mitmproxy-ca-cert.pem"),
            log,
        };
        let deadline = Instant::now() + MITM_STARTUP;
        loop {
            if let Ok(Some(status)) = m.child.try_wait() {
                return Err(format!(
                    "mitmdump exited during start-up ({status}): {}",
                    std::fs::read_to_string(&m.log).unwrap_or_default()
                ));
            }
            if m.ca_cert.is_file()
                && TcpStream::connect_timeout(&m.addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(m);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "mitmdump did not listen on {} within {} s: {}",
                    m.addr,
                    MITM_STARTUP.as_secs(),
                    std::fs::read_to_string(&m.log).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Mitmproxy {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- report

fn report(opts: &Options, scenarios: &[(Mode, usize)], proxies: &[Proxy], mitmdump: &Path) {
    println!("\n## firma bench-mitm");
    println!(
        "\nmachine: {}; {}; release profile of the workspace Cargo.toml",
        machine(),
        first_line(&mitmdump.display().to_string(), "--version")
    );
    println!(
        "\nPer-figure medians of {} interleaved {} s runs (firma, mitmproxy, scenario by scenario). \
         handshake = new TCP + CONNECT + full TLS handshake (no resumption, leaf verified against \
         the proxy's CA for `{HOST}`) + one GET + close, per loop; keep-alive = one CONNECT + \
         handshake per connection, then GETs back to back. Latencies are the client's (per \
         handshake iteration, per request). first = the first run's first iteration (in the \
         first row: the proxy's very first handshake, cold leaf). CPU µs/op = user + system time \
         of that process during the run ÷ iterations (handshakes or requests); the three share \
         the machine's cores.\n",
        opts.rounds, opts.duration
    );
    println!(
        "| proxy | mode | conns | rate/s | p50 ms | p99 ms | first ms | CPU µs/op proxy | client | origin | leaves seen |"
    );
    println!("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    let cpu = |c: Option<f64>| c.map_or("—".into(), |c| format!("{c:.0}"));
    for &(mode, conns) in scenarios {
        for p in proxies {
            let Some(r) = p.find(mode, conns) else {
                continue;
            };
            println!(
                "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
                p.label,
                r.mode.arg(),
                r.conns,
                r.rps,
                ms(r.p50_us),
                ms(r.p99_us),
                ms(r.first_us),
                cpu(r.proxy_cpu),
                cpu(r.client_cpu),
                cpu(r.origin_cpu),
                r.leaves
            );
        }
    }

    println!(
        "\nSummary (handshakes/s at {c} loops, handshake p50 at 1 loop; keep-alive over one \
         connection, and req/s at {c} connections):\n",
        c = opts.conns
    );
    println!(
        "| proxy | handshakes/s | handshake p50 ms | req/s (keep-alive, 1 conn) | p50 ms | p99 ms | req/s ({} conns) | RSS peak |",
        opts.conns
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|");
    for p in proxies {
        let hs_n = p.find(Mode::Handshake, opts.conns);
        let hs_1 = p.find(Mode::Handshake, 1);
        let ka = p.find(Mode::KeepAlive, 1);
        let ka_n = p.find(Mode::KeepAlive, opts.conns);
        let f = |v: Option<f64>, fmt: &dyn Fn(f64) -> String| v.map_or("—".into(), fmt);
        let (hs_n, hs_1, ka, ka_n) = (hs_n.as_ref(), hs_1.as_ref(), ka.as_ref(), ka_n.as_ref());
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            p.label,
            f(hs_n.map(|r| r.rps), &|v| format!("{v:.0}")),
            f(hs_1.map(|r| r.p50_us), &ms),
            f(ka.map(|r| r.rps), &|v| format!("{v:.0}")),
            f(ka.map(|r| r.p50_us), &ms),
            f(ka.map(|r| r.p99_us), &ms),
            f(ka_n.map(|r| r.rps), &|v| format!("{v:.0}")),
            mib(p.peak_kib),
        );
    }
    if let [f, m, ..] = proxies {
        let ratio = |mode: Mode, conns: usize| {
            f.find(mode, conns)
                .zip(m.find(mode, conns))
                .map_or("—".into(), |(a, b)| {
                    format!("{:.1}×", a.rps / b.rps.max(1e-9))
                })
        };
        println!(
            "\nfirma / mitmproxy: handshakes/s {} (1 loop), {} ({} loops); keep-alive req/s {} \
             (1 conn), {} ({} conns).",
            ratio(Mode::Handshake, 1),
            ratio(Mode::Handshake, opts.conns),
            opts.conns,
            ratio(Mode::KeepAlive, 1),
            ratio(Mode::KeepAlive, opts.conns),
            opts.conns
        );
    }
}

fn print_goals(proxies: &[Proxy], minted: u64, conns: usize) {
    println!("\nGoals (issue 4; informational):");
    if let [f, m, ..] = proxies {
        for c in [1, conns] {
            if let (Some(a), Some(b)) = (f.find(Mode::KeepAlive, c), m.find(Mode::KeepAlive, c)) {
                let x = a.rps / b.rps.max(1e-9);
                goal(
                    x >= 10.0,
                    &format!(
                        "≥ 10× mitmproxy's keep-alive req/s at {c} conn(s): {x:.1}× ({:.0} vs {:.0} req/s, medians of {} runs)",
                        a.rps, b.rps, a.runs
                    ),
                );
            }
        }
        let direct = proxies.iter().find(|p| p.label == DIRECT);
        if let (Some(a), Some(d)) = (
            f.find(Mode::KeepAlive, 1),
            direct.and_then(|d| d.find(Mode::KeepAlive, 1)),
        ) {
            println!(
                "  (one connection is bound by round-trip latency: firma adds {} ms p50 over the \
                 direct TLS baseline's {} ms ({:.0} req/s) on this machine now)",
                ms(a.p50_us - d.p50_us),
                ms(d.p50_us),
                d.rps
            );
        }
        goal(
            minted == 1,
            &format!(
                "leaf minting off the steady-state path: firma minted {minted} leaf for {} handshakes \
                 to one host",
                f.handshakes()
            ),
        );
        if let Some(h) = f.find(Mode::Handshake, 1) {
            println!(
                "  (firma's first handshake {} ms vs steady-state p50 {} ms; every handshake \
                 presented {} distinct leaf/leaves)",
                ms(h.first_us),
                ms(h.p50_us),
                h.leaves
            );
        }
        if let Some(h) = m.find(Mode::Handshake, 1) {
            println!(
                "  (mitmproxy's first handshake {} ms vs steady-state p50 {} ms)",
                ms(h.first_us),
                ms(h.p50_us)
            );
        }
    }
}
