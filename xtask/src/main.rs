//! `cargo xtask <task>`: project automation, in Rust so it needs nothing but cargo.
//!
//! Tasks:
//! - `ci`           — everything CI checks: fmt, clippy, tidy, all tests,
//!   conformance, a 10-second smoke run of every fuzz target
//! - `conformance`  — run the conformance fixtures against firma-core
//! - `tidy`         — architecture checks (firma-core stays sans-IO)
//! - `bench`        — criterion micro-benchmarks (`-- <filter>` passes through)
//! - `bench-proxy`  — loopback load bench: direct, bare proxy, `firma sidecar` (wrk)
//! - `bench-mitm`   — HTTPS MITM bench: `firma sidecar` side by side with mitmproxy
//! - `fuzz`         — seed, build and run every cargo-fuzz target (`fuzz/`)

mod bench_common;
mod bench_mitm;
mod bench_proxy;
mod fuzz;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((t, r)) => (t.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match task {
        "ci" => ci(),
        "conformance" => conformance(rest),
        "tidy" => tidy(),
        "bench" => bench(rest),
        "bench-proxy" => bench_proxy::run(rest),
        "bench-mitm" => bench_mitm::run(rest),
        "fuzz" => fuzz::run(rest),
        "help" | "-h" | "--help" => {
            println!(
                "usage: cargo xtask <task>\n\ntasks:\n  ci            fmt --check, clippy -D warnings, tidy, all tests, conformance, fuzz smoke (10 s per target)\n  conformance   run fixtures/conformance against firma-core\n  tidy          check that firma-core has no I/O dependencies\n  bench         run the criterion benches (extra args go to `cargo bench`)\n  bench-proxy   loopback load bench with wrk: direct, bare proxy, firma sidecar (see benches/README.md)\n  bench-mitm    HTTPS MITM bench: firma sidecar side by side with mitmproxy (see benches/README.md)\n  fuzz          seed, build and run the fuzz targets: [--time SECS] [--sanitizer address|none] [TARGET…] (see fuzz/README.md)"
            );
            Ok(())
        }
        other => Err(format!("unknown task `{other}` (try `cargo xtask help`)")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo(args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    tidy()?;
    cargo(&["test", "--workspace", "--all-targets"])?;
    conformance(&[])?;
    // A bounded smoke run of every fuzz target; cargo-fuzz is installed on
    // first use so that this one command works on a fresh machine.
    ensure_cargo_fuzz()?;
    fuzz::run(&["--time".to_owned(), FUZZ_SMOKE_SECS.to_owned()])
}

/// Seconds each fuzz target runs in `cargo xtask ci`.
const FUZZ_SMOKE_SECS: &str = "10";

fn ensure_cargo_fuzz() -> Result<(), String> {
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let installed = Command::new(&cargo_bin)
        .args(["fuzz", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if installed {
        return Ok(());
    }
    cargo(&["install", "cargo-fuzz", "--locked"])
}

fn conformance(rest: &[String]) -> Result<(), String> {
    let mut args = vec![
        "run",
        "--quiet",
        "--package",
        "firma-conformance",
        "--bin",
        "conformance",
        "--",
    ];
    args.extend(rest.iter().map(String::as_str));
    cargo(&args)
}

fn bench(rest: &[String]) -> Result<(), String> {
    let mut args = vec!["bench", "--package", "firma-benches"];
    args.extend(rest.iter().map(String::as_str));
    cargo(&args)
}

/// firma-core must stay sans-IO: none of these may appear in its dependency tree.
const FORBIDDEN_IN_CORE: &[&str] = &[
    "tokio",
    "hyper",
    "rustls",
    "tonic",
    "mio",
    "rand",
    "getrandom",
    "socket2",
];

fn tidy() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--package",
            "firma-core",
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(root())
        .output()
        .map_err(|e| format!("cannot run cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let tree = String::from_utf8_lossy(&out.stdout);
    let bad: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| FORBIDDEN_IN_CORE.contains(name))
        .collect();
    if !bad.is_empty() {
        return Err(format!(
            "firma-core must stay sans-IO but depends on: {}",
            bad.join(", ")
        ));
    }
    eprintln!("xtask: tidy ok (firma-core has no I/O dependencies)");
    Ok(())
}
