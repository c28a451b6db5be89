//! `firma doctor [--json]`: diagnose an install, a project and its daemon
//! (spec `DOC-*`). Every check is data — id, title, status, detail and, for
//! anything not ok, the command or edit that fixes it. Checks run in a fixed
//! order; a check whose input an earlier one could not provide is skipped
//! with the reason.

mod check;
mod config;
mod daemon;
mod enforce;
mod install;
mod keys;
mod mitm;
mod policy;
mod ports;
mod report;
mod seed;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use firma_core::config::{Config, LogLevel};

pub use self::check::{Check, Status};

/// `firma doctor` arguments.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The firma.toml to check. Default: $FIRMA_SIDECAR_CONFIG_FILE, else
    /// $FIRMA_CONFIG, else the nearest .firma/firma.toml above the working
    /// directory, else the built-in default.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Runtime state directory of the daemon. Default: $FIRMA_STATE_DIR,
    /// else $XDG_RUNTIME_DIR/firma, else /tmp/firma-$UID.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print one JSON object `{"ok":bool,"checks":[…]}` instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Time allowed for each network probe (TCP connect, gRPC health, test call).
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub timeout_ms: u64,
}

/// What the checks share: the resolved state directory, the config (when it
/// loaded) and the daemon's processes as the pidfiles say.
pub(crate) struct Context {
    /// The state directory (absolute).
    pub state_dir: PathBuf,
    /// The loaded config, `None` when discovery or parsing failed.
    pub config: Option<Config>,
    /// Per-probe timeout.
    pub timeout: Duration,
    /// What the daemon check found (read by the port checks).
    pub daemon: daemon::Liveness,
}

/// Run `firma doctor`: exit 0 when no check failed, 1 when any did.
pub fn run(args: DoctorArgs) -> ExitCode {
    // The sidecar start-up helpers the checks reuse log at info level;
    // only the report goes to the terminal.
    crate::sidecar::log::set_level(LogLevel::Error);
    let checks = run_checks(&args);
    if args.json {
        println!("{}", report::json(&checks));
    } else {
        print!("{}", report::human(&checks));
    }
    if checks.iter().any(|c| c.status == Status::Fail) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Every check, in order (DOC-2).
fn run_checks(args: &DoctorArgs) -> Vec<Check> {
    let mut checks = Vec::new();
    checks.push(install::binary());
    checks.push(install::tools());
    let state_dir = state::resolve(args.state_dir.as_deref());
    let (config_check, config) = config::discover(args.config.as_deref(), &state_dir);
    checks.push(config_check);
    let mut cx = Context {
        state_dir,
        config,
        timeout: Duration::from_millis(args.timeout_ms),
        daemon: daemon::Liveness::default(),
    };
    checks.push(keys::authority_key(&cx));
    checks.push(keys::audit_key(&cx));
    checks.push(policy::policies(&cx));
    checks.push(policy::mapping(&cx));
    checks.push(state::state_dir(&cx));
    let (daemon_check, liveness) = daemon::check(&cx);
    checks.push(daemon_check);
    cx.daemon = liveness;
    checks.push(seed::check(&cx));
    checks.push(ports::authority(&cx));
    let (sidecar_check, sidecar_addr) = ports::sidecar(&cx);
    checks.push(sidecar_check);
    checks.push(mitm::ca(&cx));
    checks.push(enforce::test_call(&cx, sidecar_addr));
    checks
}
