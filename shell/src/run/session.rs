//! The session pair (RUN-6, RUN-9): a `firma sidecar start` in the
//! foreground whose state directory is the run directory and whose config
//! is derived from the project's, started before the agent and stopped
//! (SIGTERM: it stops the Sidecar, then the Authority, and removes its
//! files) after it, whatever the agent's exit.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use firma_core::config::Config;

use super::RunError;
use super::session_config::{self, SessionValues};
use super::signals::Caught;
use crate::daemon::{Component, Paths, files, process};

/// How long the pair may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the pair may take to stop after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Log lines shown when the pair fails.
const TAIL: usize = 15;

/// A running session pair.
#[derive(Debug)]
pub struct Session {
    child: Option<Child>,
    paths: Paths,
    config_file: PathBuf,
    /// The session Sidecar.
    pub sidecar: SocketAddr,
    /// The session Authority's URL.
    pub authority_url: String,
    /// The Sidecar's MITM CA certificate, when interception is active.
    pub ca: Option<PathBuf>,
}

impl Session {
    /// Derive the session config next to `project_file`, start the pair with
    /// `run_dir` as its state directory, and wait until the Sidecar is
    /// ready.
    pub fn start(
        project_file: &Path,
        project: &Config,
        run_dir: &Path,
        sandbox_id: &str,
        caught: &Caught,
    ) -> Result<Session, RunError> {
        let text =
            std::fs::read_to_string(project_file).map_err(RunError::io(project_file, "read"))?;
        let (authority, sidecar) = free_ports()?;
        let paths = Paths {
            dir: run_dir.to_path_buf(),
        };
        let values = SessionValues {
            authority,
            sidecar,
            seed: paths.seed(),
        };
        let derived = session_config::derive(project_file, &text, project, &values)?;
        let dir = project_file.parent().unwrap_or(Path::new("."));
        let config_file = dir.join(format!("run-{sandbox_id}.toml"));
        std::fs::write(&config_file, derived).map_err(RunError::io(&config_file, "write"))?;
        let session_cfg = crate::sidecar::startup::read_config(&config_file);
        let mut session = Session {
            child: None,
            paths,
            config_file,
            sidecar,
            authority_url: format!("http://{authority}"),
            ca: None,
        };
        let session_cfg = session_cfg.map_err(|e| RunError::Sidecar {
            reason: format!("the derived session config does not load: {e}"),
            fix: format!("fix `{}`", project_file.display()),
        })?;
        let log = run_dir.join("session.log");
        session.spawn(&log)?;
        session.wait_ready(&log, caught)?;
        if session_cfg.sidecar.interceptor.https_mitm.is_active() {
            let ca = session_cfg.sidecar.ca_dir.join("firma-ca.crt");
            session.ca = ca.is_file().then_some(ca);
        }
        Ok(session)
    }

    fn spawn(&mut self, log: &Path) -> Result<(), RunError> {
        let exe = std::env::current_exe().map_err(|e| RunError::Sidecar {
            reason: format!("cannot locate the firma binary: {e}"),
            fix: "run firma from an existing path".into(),
        })?;
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(RunError::io(log, "open"))?;
        let err = out.try_clone().map_err(RunError::io(log, "duplicate"))?;
        let child = Command::new(&exe)
            .arg("sidecar")
            .arg("-c")
            .arg(&self.config_file)
            .arg("--state-dir")
            .arg(&self.paths.dir)
            .args(["start", "--ready-timeout", "60"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| RunError::Sidecar {
                reason: format!("cannot run `{} sidecar start`: {e}", exe.display()),
                fix: "check the firma installation".into(),
            })?;
        self.child = Some(child);
        Ok(())
    }

    fn wait_ready(&mut self, log: &Path, caught: &Caught) -> Result<(), RunError> {
        let listen = self
            .paths
            .listen(Component::Sidecar)
            .unwrap_or_else(|| self.paths.dir.join("sidecar.listen"));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if files::read_listen(&listen).is_some() {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            let why = if let Some(status) = exited {
                Some(format!(
                    "the session Authority/Sidecar exited during start-up ({status})"
                ))
            } else if let Some(n) = caught.get() {
                Some(format!("interrupted by signal {n}"))
            } else if Instant::now() >= deadline {
                Some(format!("not ready within {} s", READY_TIMEOUT.as_secs()))
            } else {
                None
            };
            if let Some(why) = why {
                return Err(RunError::Sidecar {
                    reason: format!("{why}{}", tail(log)),
                    fix: "fix the cause shown above (`firma doctor` checks the project), or start the daemon \
                          yourself with `firma sidecar start --detach`"
                        .into(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the pair and remove the session config. Idempotent.
    pub fn stop(&mut self) {
        let members: Vec<u32> = [Component::Sidecar, Component::Authority]
            .iter()
            .filter_map(|c| files::read_pid(&self.paths.pid(*c)).ok().flatten())
            .collect();
        if let Some(mut child) = self.child.take() {
            let pid = child.id();
            if matches!(child.try_wait(), Ok(None)) {
                let _ = process::signal(pid, process::Signal::Term);
                let mut alive = |_| matches!(child.try_wait(), Ok(None));
                if !process::wait_gone(&[pid], STOP_TIMEOUT, &mut alive) {
                    eprintln!(
                        "[WARN] firma run: the session pair did not stop within {} s: killing it",
                        STOP_TIMEOUT.as_secs()
                    );
                    let _ = process::signal(pid, process::Signal::Kill);
                }
            }
            let _ = child.wait();
        }
        // Whatever the launcher left (it was killed, or died): the members.
        let left: Vec<u32> = members
            .into_iter()
            .filter(|p| process::is_firma(*p))
            .collect();
        for p in &left {
            let _ = process::signal(*p, process::Signal::Term);
        }
        if !process::wait_gone(&left, Duration::from_secs(5), process::alive) {
            for p in &left {
                let _ = process::signal(*p, process::Signal::Kill);
            }
            let _ = process::wait_gone(&left, Duration::from_secs(2), process::alive);
        }
        self.paths.cleanup(None);
        files::remove_quiet(&self.config_file);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Two distinct free loopback ports: bound on port 0 together, then
/// released (the daemon needs fixed ports).
fn free_ports() -> Result<(SocketAddr, SocketAddr), RunError> {
    let bind = || TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr().map(|a| (l, a)));
    let fail = |e: std::io::Error| RunError::Sidecar {
        reason: format!("cannot find a free loopback port: {e}"),
        fix: "check that 127.0.0.1 is configured".into(),
    };
    let (_a, a) = bind().map_err(fail)?;
    let (_b, b) = bind().map_err(fail)?;
    Ok((a, b))
}

/// The session log's last lines, for an error message.
fn tail(log: &Path) -> String {
    let lines = files::tail(log, 0, TAIL);
    if lines.is_empty() {
        return String::new();
    }
    let mut s = format!("; last lines of `{}`:", log.display());
    for l in lines {
        s.push_str("\n       ");
        s.push_str(&l);
    }
    s
}
