//! Supervision (DMN-7, DMN-8): watch the Authority and the Sidecar,
//! re-issue the daemon seed at half its lifetime, and on SIGTERM/SIGINT stop
//! the Sidecar, then the Authority, and remove the state files. The
//! foreground `start` runs this loop itself; `start --detach` hands over to
//! the hidden `firma sidecar __supervise`.

use std::path::Path;
use std::process::{Child, ExitCode};
use std::time::{Duration, Instant};

use firma_core::config::Config;
use tokio::signal::unix::{SignalKind, signal};

use super::seed::{SeedWriter, reissue_after};
use super::{Component, DaemonError, Paths, files, lock, process};
use crate::sidecar::log::log;
use crate::sidecar::startup;

const TARGET: &str = "firma_supervisor";

/// How often liveness is checked.
const TICK: Duration = Duration::from_millis(250);

/// Retry delay after a failed seed re-issue.
const REISSUE_RETRY: Duration = Duration::from_secs(5);

/// `firma sidecar __supervise` arguments (internal, passed by `start`).
#[derive(Debug, clap::Args)]
pub struct SuperviseArgs {
    /// The `stack.lock` generation this supervisor takes over.
    #[arg(long)]
    pub generation: String,
    /// The running Authority.
    #[arg(long)]
    pub authority_pid: u32,
    /// The running Sidecar.
    #[arg(long)]
    pub sidecar_pid: u32,
    /// Re-issue the daemon seed after this many seconds (then at half of
    /// each new token's lifetime).
    #[arg(long)]
    pub reissue_secs: u64,
}

/// A supervised process.
#[derive(Debug)]
pub struct Member {
    /// Which component.
    pub component: Component,
    /// Its pid.
    pub pid: u32,
    /// The handle when we are its parent (then we reap it).
    pub child: Option<Child>,
}

impl Member {
    /// True while the process runs (a zombie is dead; our own child is
    /// reaped).
    pub fn alive(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => process::alive(self.pid),
        }
    }
}

/// How long each component may drain after SIGTERM before SIGKILL.
#[derive(Debug, Clone, Copy)]
pub struct Grace {
    sidecar: Duration,
    authority: Duration,
}

impl Grace {
    /// The Sidecar's `drain_timeout` plus slack; the Authority's drain.
    pub fn from_config(config: &Config) -> Grace {
        Grace {
            sidecar: config.sidecar.interceptor.drain_timeout + Duration::from_secs(3),
            authority: Duration::from_secs(12),
        }
    }
}

/// Why supervision ended.
enum Ended {
    Signal(&'static str),
    Died(Component, u32),
}

/// Run `firma sidecar __supervise`: take over `stack.pid` for the
/// generation, then supervise the given pids.
pub fn run_detached(args: &SuperviseArgs, config: Option<&Path>, state: &Path) -> ExitCode {
    let paths = Paths {
        dir: state.to_path_buf(),
    };
    match take_over(args, config, &paths) {
        Ok((seed, grace)) => {
            let members = vec![
                Member {
                    component: Component::Authority,
                    pid: args.authority_pid,
                    child: None,
                },
                Member {
                    component: Component::Sidecar,
                    pid: args.sidecar_pid,
                    child: None,
                },
            ];
            supervise_for(
                members,
                &paths,
                &args.generation,
                &seed,
                Duration::from_secs(args.reissue_secs.max(1)),
                grace,
            )
        }
        Err(e) => {
            log!(Error, TARGET, "cannot take over: {e}");
            ExitCode::from(2)
        }
    }
}

fn take_over(
    args: &SuperviseArgs,
    config: Option<&Path>,
    paths: &Paths,
) -> Result<(SeedWriter, Grace), DaemonError> {
    let config_file =
        config.ok_or_else(|| DaemonError::Config("__supervise needs --config".into()))?;
    let config =
        startup::read_config(config_file).map_err(|e| DaemonError::Config(e.to_string()))?;
    let held = lock::read(&paths.lock())?;
    if held.as_deref() != Some(args.generation.as_str()) {
        return Err(DaemonError::Process(format!(
            "`{}` holds generation {:?}, not {}",
            paths.lock().display(),
            held,
            args.generation
        )));
    }
    let seed = SeedWriter::new(&config, paths.seed())?;
    files::write_pid(&paths.pid(Component::Supervisor), std::process::id())?;
    log!(
        Info,
        TARGET,
        "supervising authority pid {} and sidecar pid {} (generation {})",
        args.authority_pid,
        args.sidecar_pid,
        args.generation
    );
    Ok((seed, Grace::from_config(&config)))
}

/// Supervise `members` with a seed of lifetime `ttl`: re-issue at half of
/// it. Returns the process exit code.
pub fn supervise(
    members: Vec<Member>,
    paths: &Paths,
    generation: &str,
    seed: &SeedWriter,
    ttl: Duration,
    grace: Grace,
) -> ExitCode {
    supervise_for(members, paths, generation, seed, reissue_after(ttl), grace)
}

fn supervise_for(
    mut members: Vec<Member>,
    paths: &Paths,
    generation: &str,
    seed: &SeedWriter,
    first_reissue: Duration,
    grace: Grace,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log!(
                Error,
                TARGET,
                "cannot start the async runtime: {e}; stopping the daemon"
            );
            teardown(&mut members, grace);
            paths.cleanup(Some(generation));
            return ExitCode::from(2);
        }
    };
    let ended = runtime.block_on(watch(&mut members, seed, first_reissue));
    match ended {
        Ok(Ended::Signal(name)) => {
            log!(
                Info,
                TARGET,
                "{name} received: stopping the sidecar, then the authority"
            );
            teardown(&mut members, grace);
            paths.cleanup(Some(generation));
            log!(Info, TARGET, "daemon stopped; state files removed");
            ExitCode::SUCCESS
        }
        Ok(Ended::Died(c, pid)) => {
            log!(
                Error,
                TARGET,
                "the {} (pid {pid}) exited unexpectedly: stopping the rest; the pidfiles stay for `firma sidecar status` \
                 (clear them with `firma sidecar stop`)",
                c.name()
            );
            teardown(&mut members, grace);
            ExitCode::from(2)
        }
        Err(e) => {
            log!(
                Error,
                TARGET,
                "cannot watch signals: {e}; stopping the daemon"
            );
            teardown(&mut members, grace);
            paths.cleanup(Some(generation));
            ExitCode::from(2)
        }
    }
}

async fn watch(
    members: &mut [Member],
    seed: &SeedWriter,
    first_reissue: Duration,
) -> std::io::Result<Ended> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut next_issue = Instant::now() + first_reissue;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(Ended::Signal("SIGTERM")),
            _ = int.recv() => return Ok(Ended::Signal("SIGINT")),
            _ = hup.recv() => log!(Info, TARGET, "SIGHUP ignored (stop the daemon with `firma sidecar stop`)"),
            () = tokio::time::sleep(TICK) => {}
        }
        for m in members.iter_mut() {
            if !m.alive() {
                return Ok(Ended::Died(m.component, m.pid));
            }
        }
        if Instant::now() >= next_issue {
            next_issue = match seed.issue() {
                Ok(ttl) => {
                    log!(
                        Info,
                        TARGET,
                        "capability seed re-issued (lifetime {} s)",
                        ttl.as_secs()
                    );
                    Instant::now() + reissue_after(ttl)
                }
                Err(e) => {
                    log!(
                        Warn,
                        TARGET,
                        "{e}; retrying in {} s",
                        REISSUE_RETRY.as_secs()
                    );
                    Instant::now() + REISSUE_RETRY
                }
            };
        }
    }
}

/// Stop the Sidecar first (its Authority streams close), then the
/// Authority: SIGTERM, wait out the grace, then SIGKILL.
fn teardown(members: &mut [Member], grace: Grace) {
    for (c, wait) in [
        (Component::Sidecar, grace.sidecar),
        (Component::Authority, grace.authority),
    ] {
        let Some(m) = members.iter_mut().find(|m| m.component == c) else {
            continue;
        };
        if !m.alive() {
            continue;
        }
        if let Err(e) = process::signal(m.pid, process::Signal::Term) {
            log!(Warn, TARGET, "{e}");
        }
        if !process::wait_gone(&[m.pid], wait, |_| m.alive()) {
            log!(
                Warn,
                TARGET,
                "the {} (pid {}) did not stop within {} s: killing it",
                c.name(),
                m.pid,
                wait.as_secs()
            );
            let _ = process::signal(m.pid, process::Signal::Kill);
            let _ = process::wait_gone(&[m.pid], Duration::from_secs(2), |_| m.alive());
        }
    }
}
