//! `firma sidecar start|stop|status`: the Authority and the Sidecar run as
//! one supervised daemon pair whose state lives in the runtime state
//! directory (spec `DMN-*`). Bare `firma sidecar` stays the foreground proxy.

pub(crate) mod files;
mod lock;
pub(crate) mod process;
mod seed;
mod start;
mod status;
mod stop;
mod supervise;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::sidecar::discover;

/// `firma sidecar <subcommand>`.
#[derive(Debug, clap::Subcommand)]
pub enum DaemonCommand {
    /// Start the Authority and the Sidecar as one supervised daemon.
    Start(start::StartArgs),
    /// Stop the daemon (Sidecar first, then supervisor and Authority).
    Stop(stop::StopArgs),
    /// Show the daemon's components (docker-ps style).
    Status(status::StatusArgs),
    /// Internal: the detached supervisor `start --detach` hands over to.
    #[command(name = "__supervise", hide = true)]
    Supervise(supervise::SuperviseArgs),
}

/// Run a daemon subcommand. `config` and `state_dir` are the global
/// `firma sidecar -c/--config` and `--state-dir` flags.
pub fn run(
    command: DaemonCommand,
    config: Option<PathBuf>,
    state_dir: Option<PathBuf>,
) -> ExitCode {
    let state = resolve_state_dir(state_dir.as_deref());
    match command {
        DaemonCommand::Start(a) => start::run(&a, config.as_deref(), &state),
        DaemonCommand::Stop(a) => stop::run(&a, &state),
        DaemonCommand::Status(a) => status::run(&a, &state),
        DaemonCommand::Supervise(a) => supervise::run_detached(&a, config.as_deref(), &state),
    }
}

/// `--state-dir` → `FIRMA_STATE_DIR` → `$XDG_RUNTIME_DIR/firma` →
/// `/tmp/firma-$UID`, made absolute (DMN-2).
fn resolve_state_dir(flag: Option<&Path>) -> PathBuf {
    let dir = discover::state_dir(
        flag,
        std::env::var_os("FIRMA_STATE_DIR").map(PathBuf::from),
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        discover::current_uid(),
    );
    std::path::absolute(&dir).unwrap_or(dir)
}

/// Why a daemon command failed. Every variant exits 2.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// No usable config.
    #[error("config: {0}")]
    Config(String),
    /// A file operation failed.
    #[error("`{path}`: cannot {what}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another live daemon owns the state directory.
    #[error(
        "the state directory is in use: `{lock}` (generation {generation}) is held by live process {pid} ({component}); \
         stop it first with `firma sidecar stop --state-dir {state}`"
    )]
    Locked {
        /// The lock file.
        lock: PathBuf,
        /// Its generation.
        generation: String,
        /// The live pid.
        pid: u32,
        /// Which component's pidfile names it.
        component: &'static str,
        /// The state directory.
        state: String,
    },
    /// A start step failed.
    #[error("{step} failed: {reason}")]
    Step {
        /// The step.
        step: String,
        /// Why.
        reason: String,
    },
    /// A process could not be signalled or did not go away.
    #[error("{0}")]
    Process(String),
}

impl DaemonError {
    /// A failed file operation on `path`.
    fn io(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> DaemonError {
        let path = path.to_path_buf();
        move |source| DaemonError::Io { path, what, source }
    }
}

/// A member of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// `firma authority`.
    Authority,
    /// `firma sidecar`.
    Sidecar,
    /// The supervising process (`stack.pid`).
    Supervisor,
}

impl Component {
    /// Every component, in the order `status` lists them.
    pub const ALL: [Component; 3] = [
        Component::Authority,
        Component::Sidecar,
        Component::Supervisor,
    ];

    /// The name used in file names and output.
    pub const fn name(self) -> &'static str {
        match self {
            Component::Authority => "authority",
            Component::Sidecar => "sidecar",
            Component::Supervisor => "supervisor",
        }
    }
}

/// The files of the state directory (DMN-3).
#[derive(Debug, Clone)]
pub struct Paths {
    /// The state directory (absolute).
    pub dir: PathBuf,
}

impl Paths {
    /// The pidfile of `c` (`stack.pid` for the supervisor).
    pub fn pid(&self, c: Component) -> PathBuf {
        match c {
            Component::Supervisor => self.dir.join("stack.pid"),
            _ => self.dir.join(format!("{}.pid", c.name())),
        }
    }

    /// The log of `c`.
    pub fn log(&self, c: Component) -> PathBuf {
        self.dir.join(format!("{}.log", c.name()))
    }

    /// The listen file of `c` (none for the supervisor).
    pub fn listen(&self, c: Component) -> Option<PathBuf> {
        match c {
            Component::Supervisor => None,
            _ => Some(self.dir.join(format!("{}.listen", c.name()))),
        }
    }

    /// `stack.lock`.
    pub fn lock(&self) -> PathBuf {
        self.dir.join("stack.lock")
    }

    /// `capabilities/daemon.toml`, the daemon's capability seed.
    pub fn seed(&self) -> PathBuf {
        self.dir.join("capabilities").join("daemon.toml")
    }

    /// Remove the pid, listen and lock files and the daemon seed. With
    /// `generation`, only when `stack.lock` still holds that generation
    /// (a later start owns them otherwise). Missing files are fine.
    pub fn cleanup(&self, generation: Option<&str>) {
        if let Some(g) = generation
            && lock::read(&self.lock()).ok().flatten().as_deref() != Some(g)
        {
            return;
        }
        for c in Component::ALL {
            files::remove_quiet(&self.pid(c));
            if let Some(l) = self.listen(c) {
                files::remove_quiet(&l);
            }
        }
        files::remove_quiet(&self.seed());
        files::remove_quiet(&self.lock());
    }
}
