//! `cargo xtask bench-proxy`: the loopback load bench (issue 3).
//!
//! One bounded run on this machine measures, with `wrk` as the load generator:
//! the origin directly, the bare pass-through proxy (`bare-proxy`), and
//! `firma sidecar` with 15 and with 100 policies, each at 1 and at 16
//! connections, plus the deny path of both sidecars. It reports req/s,
//! p50/p99, the latency each proxy adds over the direct run, the proxy's CPU
//! time per request, the sidecar's RSS when idle and at peak, the audit
//! log's line count against wrk's request count, and the issue's goals as
//! informational pass/fail lines. See `benches/README.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::bench_common::{
    Server, TempDir, clk_tck, count_lines, cpu_ticks, first_line, gen_audit_key, goal, hwm_kib,
    machine, mib, ms, per_req, require_tool, start_sidecar, status_kib, target_dir, toml_str,
    vendor_packs,
};

/// Policy bundle sizes, one sidecar each (`benches/fixtures/policies-N`).
const BUNDLES: [usize; 2] = [15, 100];
/// The host the load asks for; the proxies pin it to the origin.
const UPSTREAM_HOST: &str = "bench.upstream";
/// A host the bundles forbid (the deny scenario).
const DENIED_HOST: &str = "bench.denied";

/// Command-line options.
struct Options {
    /// Seconds per 16-connection run.
    duration: u64,
    /// Seconds per 1-connection run.
    c1_duration: u64,
    /// Interleaved 1-connection rounds (medians are reported).
    rounds: usize,
    /// Build the release binaries first.
    build: bool,
    /// Keep the temp dir (configs, audit logs) for inspection.
    keep: bool,
}

const USAGE: &str = "usage: cargo xtask bench-proxy [--duration SECS] [--c1-duration SECS] [--rounds N] [--no-build] [--keep]";

fn parse_options(rest: &[String]) -> Result<Options, String> {
    let mut o = Options {
        duration: 5,
        c1_duration: 2,
        rounds: 5,
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
            "--c1-duration" => o.c1_duration = number("--c1-duration")?,
            "--rounds" => {
                o.rounds = usize::try_from(number("--rounds")?).map_err(|e| e.to_string())?
            }
            "--no-build" => o.build = false,
            "--keep" => o.keep = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown option `{other}`; {USAGE}")),
        }
    }
    Ok(o)
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
    require_tool("wrk", "install wrk: apt-get install -y wrk")?;
    require_tool("openssl", "install openssl: apt-get install -y openssl")?;

    let root = super::root();
    let bin = target_dir(&root).join("release");
    for b in ["firma", "bench-upstream", "bare-proxy"] {
        if !bin.join(b).is_file() {
            return Err(format!(
                "`{}` is missing; run without `--no-build`",
                bin.join(b).display()
            ));
        }
    }
    let tmp = TempDir::create("firma-bench-proxy", opts.keep)?;
    let started = Instant::now();

    // Servers.
    let upstream =
        Server::spawn_printing_addr("bench-upstream", &bin.join("bench-upstream"), &["0".into()])?;
    let pin = format!("{UPSTREAM_HOST}:80={}", upstream.addr);
    let bare =
        Server::spawn_printing_addr("bare-proxy", &bin.join("bare-proxy"), &["0".into(), pin])?;
    let mut sidecars = Vec::new();
    for n in BUNDLES {
        sidecars.push(Sidecar::start(&root, &bin, tmp.path(), n, upstream.addr)?);
    }

    // wrk scripts.
    let direct_lua = tmp.write("direct.lua", &lua_script(None, None))?;
    let proxy_lua = tmp.write("proxy.lua", &lua_script(Some(UPSTREAM_HOST), None))?;
    let deny_lua = tmp.write("deny.lua", &lua_script(Some(DENIED_HOST), Some(403)))?;

    let mut targets = vec![
        Target::new(
            "direct",
            &direct_lua,
            format!("http://{}/bench", upstream.addr),
            None,
        ),
        Target::new("bare proxy", &proxy_lua, url(bare.addr), Some(bare.pid())),
    ];
    for (j, s) in sidecars.iter().enumerate() {
        let mut t = Target::new(
            &format!("sidecar {} policies", s.policies),
            &proxy_lua,
            url(s.server.addr),
            Some(s.server.pid()),
        );
        t.sidecar = Some(j);
        targets.push(t);
    }
    // Loaded at 16 connections too; the deny targets after them only at 1.
    let loaded = targets.len();
    for (j, s) in sidecars.iter().enumerate() {
        let mut t = Target::new(
            &format!("deny, sidecar {} policies", s.policies),
            &deny_lua,
            url(s.server.addr),
            Some(s.server.pid()),
        );
        t.sidecar = Some(j);
        t.deny = true;
        targets.push(t);
    }

    eprintln!("xtask: bench-proxy: warming up");
    for t in &mut targets[..loaded] {
        t.run(16, 1)?;
    }
    eprintln!(
        "xtask: bench-proxy: 1 connection, {} interleaved rounds of {} s",
        opts.rounds, opts.c1_duration
    );
    let mut c1: Vec<Vec<WrkResult>> = vec![Vec::new(); targets.len()];
    let mut c1_cpu = vec![(0u64, 0u64); targets.len()];
    for _ in 0..opts.rounds {
        for (i, t) in targets.iter_mut().enumerate() {
            let (r, ticks) = t.run(1, opts.c1_duration)?;
            c1_cpu[i].0 += ticks.unwrap_or(0);
            c1_cpu[i].1 += r.requests;
            c1[i].push(r);
        }
    }
    let c1_hwm: Vec<Option<u64>> = targets.iter().map(|t| t.pid.and_then(hwm_kib)).collect();

    eprintln!(
        "xtask: bench-proxy: 16 connections, {} s each",
        opts.duration
    );
    let mut c16 = Vec::new();
    for t in &mut targets[..loaded] {
        let (r, ticks) = t.run(16, opts.duration)?;
        let hwm = t.pid.and_then(hwm_kib);
        c16.push((r, ticks, hwm));
    }
    let load_secs = started.elapsed().as_secs_f64();

    // Sidecar request totals (every wrk run against it, warm-up included).
    let mut sent = Vec::new();
    for (j, s) in sidecars.iter().enumerate() {
        let mine = targets.iter().filter(|t| t.sidecar == Some(j));
        let (completed, in_flight) =
            mine.fold((0, 0), |(c, f), t| (c + t.completed, f + t.max_in_flight));
        sent.push((
            completed,
            in_flight,
            s.server.log.as_ref().map_or(0, |l| l.after_ready()),
        ));
    }
    let mut audit = Vec::new();
    for s in sidecars.iter_mut() {
        audit.push(s.stop_and_count()?);
    }
    drop(bare);
    drop(upstream);

    // Report: c=1 loaded targets, c=16 loaded targets, then the deny rows.
    let tick_us = 1_000_000.0 / clk_tck() as f64;
    let direct1 = median_of(&c1[0]);
    let direct16 = Percentiles::of(&c16[0].0);
    let idle = |t: &Target| t.sidecar.and_then(|j| sidecars[j].idle_kib);
    let c1_row = |i: usize| {
        let t = &targets[i];
        let m = median_of(&c1[i]);
        Row {
            scenario: t.label.clone(),
            conns: 1,
            rps: m.rps,
            p50: m.p50,
            p99: m.p99,
            added: t.pid.map(|_| (m.p50 - direct1.p50, m.p99 - direct1.p99)),
            cpu_per_req: t.pid.map(|_| per_req(c1_cpu[i].0, c1_cpu[i].1, tick_us)),
            idle_kib: idle(t),
            peak_kib: c1_hwm[i],
            errors: c1[i].iter().map(|r| r.failures(t.deny)).sum(),
        }
    };
    let mut rows: Vec<Row> = (0..loaded).map(c1_row).collect();
    for (i, t) in targets[..loaded].iter().enumerate() {
        let (r, ticks, hwm) = &c16[i];
        let p = Percentiles::of(r);
        rows.push(Row {
            scenario: t.label.clone(),
            conns: 16,
            rps: p.rps,
            p50: p.p50,
            p99: p.p99,
            added: t.pid.map(|_| (p.p50 - direct16.p50, p.p99 - direct16.p99)),
            cpu_per_req: ticks.map(|tk| per_req(tk, r.requests, tick_us)),
            idle_kib: idle(t),
            peak_kib: *hwm,
            errors: r.failures(t.deny),
        });
    }
    rows.extend((loaded..targets.len()).map(c1_row));

    print_machine();
    println!(
        "\nc=1 rows: per-figure median of {} interleaved {} s runs; c=16 rows: one {} s run; wrk -t1; \
         added = scenario − direct at the same connection count; \
         RSS peak = VmHWM after that phase; load phase took {load_secs:.0} s.\n",
        opts.rounds, opts.c1_duration, opts.duration
    );
    print_table(&rows);

    println!("\nAudit completeness (lines in the sidecar's audit log after SIGTERM vs wrk):");
    for (i, s) in sidecars.iter().enumerate() {
        let (completed, in_flight, log_lines) = sent[i];
        let lines = audit[i];
        let verdict = if lines >= completed && lines <= completed + in_flight {
            "ok"
        } else {
            "MISMATCH"
        };
        println!(
            "- sidecar {} policies: {lines} audit records, wrk completed {completed} \
             (+ at most {in_flight} in flight at run ends): {verdict}; \
             {log_lines} stderr lines after `sidecar ready`",
            s.policies
        );
    }

    let find = |label: &str, conns: u32| {
        rows.iter()
            .find(|r| r.scenario == label && r.conns == conns)
    };
    let s100 = format!("sidecar {} policies", BUNDLES[1]);
    println!("\nGoals (issue 3; informational):");
    if let (Some(s), Some(b)) = (find(&s100, 16), find("bare proxy", 16)) {
        goal(
            s.rps >= 8000.0,
            &format!(
                "≥ 8,000 req/s at c=16 with 100 policies: {:.0} req/s",
                s.rps
            ),
        );
        goal(
            s.rps >= 0.5 * b.rps,
            &format!(
                "≥ 50 % of the bare proxy at c=16: {:.0} % ({:.0} of {:.0} req/s)",
                100.0 * s.rps / b.rps,
                s.rps,
                b.rps
            ),
        );
    }
    for n in BUNDLES {
        if let Some(s) = find(&format!("sidecar {n} policies"), 1) {
            let (a50, _) = s.added.unwrap_or((0.0, 0.0));
            goal(
                a50 <= 500.0,
                &format!("added p50 ≤ 0.5 ms at c=1, {n} policies: {} ms", ms(a50)),
            );
        }
    }
    if let Some(d) = rows
        .iter()
        .find(|r| r.scenario == format!("deny, sidecar {} policies", BUNDLES[1]))
    {
        goal(
            d.p99 <= 1000.0,
            &format!(
                "deny answered in ≤ 1 ms p99 (100 policies): {} ms",
                ms(d.p99)
            ),
        );
    }
    for s in &sidecars {
        goal(
            s.idle_kib.is_some_and(|k| k <= 20 * 1024),
            &format!(
                "RSS ≤ 20 MiB idle, {} policies: {}",
                s.policies,
                mib(s.idle_kib)
            ),
        );
        goal(
            s.final_hwm_kib.is_some_and(|k| k <= 50 * 1024),
            &format!(
                "RSS ≤ 50 MiB under load, {} policies: {}",
                s.policies,
                mib(s.final_hwm_kib)
            ),
        );
    }
    if opts.keep {
        println!("\ntemp dir kept: {}", tmp.path().display());
    }
    Ok(())
}

// ---------------------------------------------------------------- load runs

/// One thing wrk is pointed at.
struct Target {
    label: String,
    script: PathBuf,
    url: String,
    /// The proxy process (for CPU and RSS), `None` for the direct runs.
    pid: Option<u32>,
    /// Requests wrk completed against it over all runs.
    completed: u64,
    /// Upper bound of requests in flight when runs ended (sum of connections).
    max_in_flight: u64,
    /// Index of the sidecar under test, if it is one.
    sidecar: Option<usize>,
    /// The deny scenario: every answer must be `403`.
    deny: bool,
}

impl Target {
    fn new(label: &str, script: &Path, url: String, pid: Option<u32>) -> Self {
        Self {
            label: label.to_owned(),
            script: script.to_path_buf(),
            url,
            pid,
            completed: 0,
            max_in_flight: 0,
            sidecar: None,
            deny: false,
        }
    }

    /// Runs wrk once; returns its result and the proxy's CPU ticks during it.
    fn run(&mut self, conns: u32, secs: u64) -> Result<(WrkResult, Option<u64>), String> {
        let before = self.pid.and_then(cpu_ticks);
        let r = wrk(&self.script, &self.url, conns, secs)?;
        let after = self.pid.and_then(cpu_ticks);
        self.completed += r.requests;
        self.max_in_flight += u64::from(conns);
        let ticks = before.zip(after).map(|(b, a)| a.saturating_sub(b));
        Ok((r, ticks))
    }
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// What one wrk run reports through the script's `done` hook.
#[derive(Clone, Debug, Default)]
struct WrkResult {
    requests: u64,
    duration_us: u64,
    p50_us: u64,
    p99_us: u64,
    connect: u64,
    read: u64,
    write: u64,
    timeout: u64,
    /// Responses with status ≥ 400.
    status_errors: u64,
    /// Responses whose status differs from the script's expected one.
    unexpected: u64,
}

impl WrkResult {
    fn rps(&self) -> f64 {
        self.requests as f64 * 1e6 / self.duration_us.max(1) as f64
    }

    /// Transport errors plus wrong answers: any status ≥ 400, or for the
    /// deny scenario any status but `403` (which wrk counts as an error).
    fn failures(&self, deny: bool) -> u64 {
        let transport = self.connect + self.read + self.write + self.timeout;
        transport
            + if deny {
                self.unexpected
            } else {
                self.status_errors
            }
    }
}

/// The marker of the `done` hook's line in wrk's output.
const MARKER: &str = "FIRMA_BENCH";

/// A wrk script: absolute-form request line and `Host` for proxies (`host`
/// set), origin form for the direct runs; `done` prints one parsable line.
/// With `expect_status`, responses with another status are counted as
/// `unexpected` (a per-response Lua hook, so only used for the deny runs).
fn lua_script(host: Option<&str>, expect_status: Option<u16>) -> String {
    let mut s = String::new();
    if let Some(h) = host {
        s.push_str(&format!(
            "wrk.path = \"http://{h}/bench\"\nwrk.headers[\"Host\"] = \"{h}\"\n"
        ));
    }
    s.push_str(
        "local threads = {}\nsetup = function(thread) table.insert(threads, thread) end\n\
         init = function(args) unexpected = 0 end\n",
    );
    if let Some(code) = expect_status {
        s.push_str(&format!(
            "response = function(status, headers, body)\n  \
             if status ~= {code} then unexpected = unexpected + 1 end\nend\n"
        ));
    }
    s.push_str(&format!(
        r#"done = function(summary, latency, requests)
  local e = summary.errors
  local u = 0
  for _, t in ipairs(threads) do u = u + (t:get("unexpected") or 0) end
  io.write(string.format("{MARKER} requests=%.0f duration_us=%.0f p50_us=%.0f p99_us=%.0f connect=%.0f read=%.0f write=%.0f timeout=%.0f status=%.0f unexpected=%.0f\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status, u))
end
"#
    ));
    s
}

fn wrk(script: &Path, url: &str, conns: u32, secs: u64) -> Result<WrkResult, String> {
    let out = Command::new("wrk")
        .args(["-t1", &format!("-c{conns}"), &format!("-d{secs}s"), "-s"])
        .arg(script)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk against `{url}` failed ({}): {}{}",
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let line = text
        .lines()
        .find(|l| l.starts_with(MARKER))
        .ok_or_else(|| format!("wrk against `{url}` printed no `{MARKER}` line: {text}"))?;
    let mut r = WrkResult::default();
    for kv in line.split_whitespace().skip(1) {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let v: u64 = v
            .parse()
            .map_err(|_| format!("wrk: bad value in `{kv}` of `{line}`"))?;
        match k {
            "requests" => r.requests = v,
            "duration_us" => r.duration_us = v,
            "p50_us" => r.p50_us = v,
            "p99_us" => r.p99_us = v,
            "connect" => r.connect = v,
            "read" => r.read = v,
            "write" => r.write = v,
            "timeout" => r.timeout = v,
            "status" => r.status_errors = v,
            "unexpected" => r.unexpected = v,
            _ => {}
        }
    }
    Ok(r)
}

/// The figures a row reports (µs, req/s).
struct Percentiles {
    rps: f64,
    p50: f64,
    p99: f64,
}

impl Percentiles {
    fn of(r: &WrkResult) -> Self {
        Self {
            rps: r.rps(),
            p50: r.p50_us as f64,
            p99: r.p99_us as f64,
        }
    }
}

/// Per-figure medians over repeated runs.
fn median_of(runs: &[WrkResult]) -> Percentiles {
    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => 0.0,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }
    Percentiles {
        rps: median(runs.iter().map(WrkResult::rps).collect()),
        p50: median(runs.iter().map(|r| r.p50_us as f64).collect()),
        p99: median(runs.iter().map(|r| r.p99_us as f64).collect()),
    }
}

// ---------------------------------------------------------------- processes

/// One `firma sidecar` under test.
struct Sidecar {
    policies: usize,
    server: Server,
    audit_file: PathBuf,
    idle_kib: Option<u64>,
    final_hwm_kib: Option<u64>,
}

impl Sidecar {
    /// Writes its config and key into `tmp/sidecar-N` and starts it.
    fn start(
        root: &Path,
        bin: &Path,
        tmp: &Path,
        policies: usize,
        upstream: SocketAddr,
    ) -> Result<Self, String> {
        let dir = tmp.join(format!("sidecar-{policies}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let key = dir.join("audit.key");
        gen_audit_key(&key)?;

        let fixtures = root.join("benches/fixtures");
        let packs = vendor_packs(root)?;
        let template_path = fixtures.join("firma.toml.in");
        let template = std::fs::read_to_string(&template_path)
            .map_err(|e| format!("{}: {e}", template_path.display()))?;
        let audit_file = dir.join("audit.jsonl");
        let config = template
            .replace(
                "\"@MAPPING_RULES@\"",
                &toml_str(&fixtures.join("mapping-rules.toml")),
            )
            .replace("@VENDOR_PACKS@", &packs)
            .replace(
                "\"@POLICY_DIR@\"",
                &toml_str(&fixtures.join(format!("policies-{policies}"))),
            )
            .replace("\"@AUDIT_FILE@\"", &toml_str(&audit_file))
            .replace("\"@AUDIT_KEY@\"", &toml_str(&key))
            .replace("@UPSTREAM_ADDR@", &upstream.to_string());
        let config_path = dir.join("firma.toml");
        std::fs::write(&config_path, config)
            .map_err(|e| format!("{}: {e}", config_path.display()))?;

        let server = start_sidecar(
            &bin.join("firma"),
            &config_path,
            &dir.join("state"),
            &format!("{policies} policies"),
            None,
        )?;
        let idle_kib = status_kib(server.pid(), "VmRSS:");
        Ok(Self {
            policies,
            server,
            audit_file,
            idle_kib,
            final_hwm_kib: None,
        })
    }

    /// SIGTERM, wait for the drain, then count the audit log's records.
    fn stop_and_count(&mut self) -> Result<u64, String> {
        self.final_hwm_kib = hwm_kib(self.server.pid());
        self.server.terminate(Duration::from_secs(10));
        count_lines(&self.audit_file)
    }
}

// ---------------------------------------------------------------- report

struct Row {
    scenario: String,
    conns: u32,
    rps: f64,
    /// µs.
    p50: f64,
    /// µs.
    p99: f64,
    /// (p50, p99) over direct, µs.
    added: Option<(f64, f64)>,
    /// Proxy CPU µs per request.
    cpu_per_req: Option<f64>,
    idle_kib: Option<u64>,
    peak_kib: Option<u64>,
    errors: u64,
}

fn print_table(rows: &[Row]) {
    println!(
        "| scenario | conns | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | proxy CPU µs/req | RSS idle | RSS peak | errors |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let (a50, a99) = r
            .added
            .map_or((String::from("—"), String::from("—")), |(a, b)| {
                (signed_ms(a), signed_ms(b))
            });
        println!(
            "| {} | {} | {:.0} | {} | {} | {a50} | {a99} | {} | {} | {} | {} |",
            r.scenario,
            r.conns,
            r.rps,
            ms(r.p50),
            ms(r.p99),
            r.cpu_per_req.map_or("—".into(), |c| format!("{c:.0}")),
            mib(r.idle_kib),
            mib(r.peak_kib),
            r.errors
        );
    }
}

fn signed_ms(us: f64) -> String {
    format!("{:+.3}", us / 1000.0)
}

fn print_machine() {
    println!("\n## firma bench-proxy");
    println!(
        "\nmachine: {}; {}; release profile of the workspace Cargo.toml",
        machine(),
        first_line("wrk", "-v")
            .split(" [")
            .next()
            .unwrap_or_default()
    );
}
