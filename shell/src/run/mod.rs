//! `firma run [OPTIONS] -- <command>…` (spec `RUN-*`): run an agent inside a
//! bubblewrap sandbox with its own network namespace whose only way out is
//! the Sidecar.
//!
//! - `preflight` — bwrap present and network namespaces usable;
//! - `select` — a running daemon's Sidecar, or an autostarted session pair;
//! - `session` — the session pair under `<state>/run/<sandbox_id>/`;
//! - `session_config` — the session's `firma.toml` derived from the project's;
//! - `consent` — the one-time autostart question;
//! - `trust` — the CA files the agent is pointed at;
//! - `profile` — the environment each agent profile gets;
//! - `bridge` — Unix socket ⇄ TCP forwarding (outside and inside);
//! - `sandbox` — the bwrap command line;
//! - `inside` — the hidden `__run-inside` that runs in the sandbox;
//! - `metadata` — sandbox ids and `metadata.toml`;
//! - `signals` — SIGINT/SIGTERM/SIGHUP noted for the wait loops.

mod bridge;
mod consent;
mod inside;
mod launch;
mod metadata;
mod preflight;
mod profile;
mod sandbox;
mod select;
mod session;
mod session_config;
mod signals;
mod trust;

use std::path::PathBuf;
use std::process::ExitCode;

pub use inside::InsideArgs;
pub use metadata::list_runs;
pub use profile::Profile;

/// The exit code of `firma run` when it fails before or around the agent
/// (the agent never started, or the sandbox could not be set up). Chosen
/// outside the range shells use for commands (126, 127, 128+n).
pub const EXIT_RUN_FAILED: u8 = 125;

/// The address the bridge listens on inside the sandbox.
pub const INSIDE_PROXY: &str = "127.0.0.1:18080";

/// `firma run` arguments.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Agent profile: what the agent's environment gets (generic, codex,
    /// claude-code).
    #[arg(long, value_enum, default_value_t = Profile::Generic)]
    pub profile: Profile,
    /// Start a session Authority and Sidecar without asking.
    #[arg(short, long)]
    pub yes: bool,
    /// The firma.toml to use. Default: $FIRMA_CONFIG, else the nearest
    /// .firma/firma.toml above the workspace, else one is scaffolded.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Runtime state directory. Default: $FIRMA_STATE_DIR, else
    /// $XDG_RUNTIME_DIR/firma, else /tmp/firma-$UID.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The directory the agent may write (bound read-write). Default: the
    /// working directory.
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// The agent command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

/// Why `firma run` stopped before (or around) the agent. Every variant exits
/// [`EXIT_RUN_FAILED`] and the agent is never started.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The sandbox cannot be built on this machine.
    #[error("the sandbox cannot start: {reason}\n       fix: {fix}")]
    Sandbox {
        /// What is missing or broken.
        reason: String,
        /// How to fix it.
        fix: String,
    },
    /// No Sidecar could be started or reached.
    #[error("the Sidecar cannot start: {reason}\n       fix: {fix}")]
    Sidecar {
        /// What failed.
        reason: String,
        /// How to fix it.
        fix: String,
    },
    /// A bad argument, environment or answer.
    #[error("{0}")]
    Usage(String),
    /// A file operation failed.
    #[error("`{path}`: cannot {what}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

impl RunError {
    /// A failed file operation on `path`.
    fn io(path: &std::path::Path, what: &'static str) -> impl FnOnce(std::io::Error) -> RunError {
        let path = path.to_path_buf();
        move |source| RunError::Io { path, what, source }
    }
}

/// Run `firma run`: the agent's exit code, or [`EXIT_RUN_FAILED`].
pub fn run(args: RunArgs) -> ExitCode {
    match launch::run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("[ERR]  firma run: {e}");
            eprintln!("       the agent was not started");
            ExitCode::from(EXIT_RUN_FAILED)
        }
    }
}

/// Run the hidden `firma __run-inside` (inside the sandbox).
pub fn run_inside(args: InsideArgs) -> ExitCode {
    inside::run(&args)
}
