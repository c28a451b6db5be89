//! `firma sidecar stop [--timeout SECS]` (DMN-9): SIGTERM the Sidecar,
//! then the supervisor and the Authority; SIGKILL survivors after the
//! timeout; remove the state files once every process is proven gone.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::{Component, DaemonError, Paths, files, process};

/// How long survivors of SIGKILL may take to disappear.
const SETTLE: Duration = Duration::from_secs(2);

/// `firma sidecar stop` arguments.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// Seconds to wait after SIGTERM before SIGKILL.
    #[arg(long, value_name = "SECS", default_value_t = 2)]
    pub timeout: u64,
}

/// Run `firma sidecar stop`: exit 0 when nothing is left running
/// (gracefully, forced, or because nothing ran), 2 on error.
pub fn run(args: &StopArgs, state: &Path) -> ExitCode {
    let paths = Paths {
        dir: state.to_path_buf(),
    };
    match stop(args, &paths) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[ERR]  sidecar stop: {e}");
            ExitCode::from(2)
        }
    }
}

fn stop(args: &StopArgs, paths: &Paths) -> Result<(), DaemonError> {
    // Soft-signal order: the Sidecar first so its Authority streams close.
    let order = [
        Component::Sidecar,
        Component::Supervisor,
        Component::Authority,
    ];
    let mut targets = Vec::new();
    for c in order {
        if let Some(pid) = files::read_pid(&paths.pid(c))?
            && process::is_firma(pid)
        {
            targets.push((c, pid));
        }
    }
    if targets.is_empty() {
        let had_files =
            Component::ALL.iter().any(|c| paths.pid(*c).exists()) || paths.lock().exists();
        paths.cleanup(None);
        if had_files {
            println!(
                "[OK]   no daemon was running in {}; removed its stale pid/lock files",
                paths.dir.display()
            );
        } else {
            println!("[OK]   no daemon was running in {}", paths.dir.display());
        }
        return Ok(());
    }
    for (c, pid) in &targets {
        if let Err(e) = process::signal(*pid, process::Signal::Term) {
            eprintln!("[WARN] {} (pid {pid}): {e}", c.name());
        }
    }
    let pids: Vec<u32> = targets.iter().map(|(_, p)| *p).collect();
    let timeout = Duration::from_secs(args.timeout);
    let mut forced = false;
    if !process::wait_gone(&pids, timeout, process::alive) {
        forced = true;
        // Hard-kill order: supervisor (so it cannot restart anything),
        // then the Authority, then the Sidecar.
        for c in [
            Component::Supervisor,
            Component::Authority,
            Component::Sidecar,
        ] {
            if let Some((_, pid)) = targets.iter().find(|(t, p)| *t == c && process::alive(*p)) {
                eprintln!(
                    "[WARN] the {} (pid {pid}) did not stop within {} s: sending SIGKILL",
                    c.name(),
                    args.timeout
                );
                if let Err(e) = process::signal(*pid, process::Signal::Kill) {
                    eprintln!("[WARN] {e}");
                }
            }
        }
        if !process::wait_gone(&pids, SETTLE, process::alive) {
            let left: Vec<String> = targets
                .iter()
                .filter(|(_, p)| process::alive(*p))
                .map(|(c, p)| format!("{} (pid {p})", c.name()))
                .collect();
            return Err(DaemonError::Process(format!(
                "still running after SIGKILL: {}; the state files in {} are kept",
                left.join(", "),
                paths.dir.display()
            )));
        }
    }
    paths.cleanup(None);
    let list: Vec<String> = targets
        .iter()
        .map(|(c, p)| format!("{} (pid {p})", c.name()))
        .collect();
    println!(
        "[OK]   stopped {}{}; state files removed from {}",
        list.join(", "),
        if forced { " (forced)" } else { "" },
        paths.dir.display()
    );
    Ok(())
}
