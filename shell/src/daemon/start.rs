//! `firma sidecar start [--detach]` (DMN-4..DMN-8): lock the state
//! directory, issue the daemon seed, boot the Authority then the Sidecar
//! (each in its own process group, output appended to its log), probe each
//! for readiness, and either supervise in the foreground or hand over to a
//! detached supervisor. Any failure rolls everything back.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use firma_core::config::Config;

use super::seed::{SeedWriter, reissue_after};
use super::supervise::{self, Member};
use super::{Component, DaemonError, Paths, files, lock, process};
use crate::sidecar::discover::{self, Discovered};
use crate::sidecar::startup;

/// How many log lines a failed step shows.
const TAIL_LINES: usize = 15;

/// `firma sidecar start` arguments (`-c/--config` and `--state-dir` are
/// the `firma sidecar` flags).
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Hand the running daemon to a background supervisor and exit once
    /// both components are ready.
    #[arg(long)]
    pub detach: bool,
    /// How long each component may take to become ready.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub ready_timeout: u64,
}

/// Run `firma sidecar start`: exit 0 when started (foreground: when
/// stopped by a signal), 2 on any error.
pub fn run(args: &StartArgs, config_flag: Option<&Path>, state: &Path) -> ExitCode {
    let paths = Paths {
        dir: state.to_path_buf(),
    };
    match start(args, config_flag, &paths) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("[ERR]  sidecar start: {e}");
            ExitCode::from(2)
        }
    }
}

/// `--config` → `FIRMA_SIDECAR_CONFIG_FILE` → `FIRMA_CONFIG` → the nearest
/// `.firma/firma.toml`; the daemon never runs on the embedded default.
fn config_path(flag: Option<&Path>) -> Result<PathBuf, DaemonError> {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let flag = flag
        .map(Path::to_path_buf)
        .or_else(|| env("FIRMA_SIDECAR_CONFIG_FILE"));
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    match discover::config(flag.as_deref(), env("FIRMA_CONFIG"), &cwd) {
        Discovered::File(p, _) => Ok(std::path::absolute(&p).unwrap_or(p)),
        Discovered::Embedded(_) => Err(DaemonError::Config(format!(
            "no firma.toml found (no --config, FIRMA_SIDECAR_CONFIG_FILE or FIRMA_CONFIG, and no .firma/firma.toml \
             from {} upwards); run `firma init` first",
            cwd.display()
        ))),
    }
}

fn start(
    args: &StartArgs,
    config_flag: Option<&Path>,
    paths: &Paths,
) -> Result<ExitCode, DaemonError> {
    let config_file = config_path(config_flag)?;
    let config =
        startup::read_config(&config_file).map_err(|e| DaemonError::Config(e.to_string()))?;
    for (key, addr) in [
        ("[authority] listen_addr", config.authority.listen_addr),
        (
            "[sidecar.interceptor] listen_addr",
            config.sidecar.interceptor.listen_addr,
        ),
    ] {
        if addr.port() == 0 {
            return Err(DaemonError::Config(format!(
                "`{key}` in `{}` is `{addr}`: the daemon needs a fixed port (the Sidecar and clients must know it)",
                config_file.display()
            )));
        }
    }
    let seed = SeedWriter::new(&config, paths.seed())?;
    files::ensure_dirs(&paths.dir)?;
    let (generation, note) = lock::acquire(paths)?;
    if let Some(note) = note {
        eprintln!("[INFO] {note}");
    }
    // A SIGINT/SIGTERM during start-up aborts it (with a rollback) instead
    // of killing the launcher and orphaning children.
    let abort = Arc::new(AtomicBool::new(false));
    let watcher = signal_watcher(Arc::clone(&abort));
    let mut launch = Launch {
        abort,
        paths: paths.clone(),
        generation,
        config_file,
        members: Vec::new(),
        timeout: Duration::from_secs(args.ready_timeout.max(1)),
    };
    let booted = launch.boot(&config, &seed).and_then(|ttl| {
        if args.detach {
            launch.hand_over(ttl)?;
        }
        Ok(ttl)
    });
    let ttl = match booted {
        Ok(ttl) => ttl,
        Err(e) => {
            launch.rollback();
            return Err(e);
        }
    };
    if let Some(rt) = watcher {
        rt.shutdown_background();
    }
    if args.detach {
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "[OK]   sidecar running in the foreground, state_dir={} (Ctrl-C stops it)",
        paths.dir.display()
    );
    launch.print_members();
    let grace = supervise::Grace::from_config(&config);
    let Launch {
        paths,
        generation,
        members,
        ..
    } = launch;
    Ok(supervise::supervise(
        members,
        &paths,
        &generation,
        &seed,
        ttl,
        grace,
    ))
}

/// A start in progress: what it spawned, so that it can be undone.
struct Launch {
    abort: Arc<AtomicBool>,
    paths: Paths,
    generation: String,
    config_file: PathBuf,
    members: Vec<Member>,
    timeout: Duration,
}

impl Launch {
    /// Seed, Authority, Sidecar, in order; returns the seed's lifetime.
    fn boot(&mut self, config: &Config, seed: &SeedWriter) -> Result<Duration, DaemonError> {
        // The launcher holds the stack until a supervisor takes over, so a
        // second start sees a live owner from the first moment.
        files::write_pid(&self.paths.pid(Component::Supervisor), std::process::id())?;
        let ttl = seed.issue()?;
        self.component(
            Component::Authority,
            "authority ready",
            config.authority.listen_addr,
        )?;
        self.component(
            Component::Sidecar,
            "sidecar ready",
            config.sidecar.interceptor.listen_addr,
        )?;
        Ok(ttl)
    }

    /// Spawn `firma <c> -c <config> --state-dir <state>`, record its pid,
    /// wait for `ready_line` in its log and a TCP accept on `addr`, then
    /// publish `<c>.listen`.
    fn component(
        &mut self,
        c: Component,
        ready_line: &str,
        addr: SocketAddr,
    ) -> Result<(), DaemonError> {
        let log_path = self.paths.log(c);
        let offset = files::len(&log_path);
        let child = spawn_logged(
            &log_path,
            &[
                c.name().as_ref(),
                "-c".as_ref(),
                self.config_file.as_os_str(),
                "--state-dir".as_ref(),
                self.paths.dir.as_os_str(),
            ],
        )
        .map_err(|reason| DaemonError::Step {
            step: format!("starting the {}", c.name()),
            reason,
        })?;
        let pid = child.id();
        self.members.push(Member {
            component: c,
            pid,
            child: Some(child),
        });
        files::write_pid(&self.paths.pid(c), pid)?;
        let member = self.members.last_mut().expect("just pushed");
        wait_ready(
            member,
            &log_path,
            offset,
            ready_line,
            addr,
            self.timeout,
            &self.abort,
        )
        .map_err(|why| DaemonError::Step {
            step: format!("{} readiness", c.name()),
            reason: format!("{why}{}", tail_text(&log_path, offset)),
        })?;
        if let Some(listen) = self.paths.listen(c) {
            files::write_listen(&listen, addr)?;
        }
        Ok(())
    }

    /// Spawn the detached supervisor and wait until it owns `stack.pid`.
    fn hand_over(&mut self, ttl: Duration) -> Result<(), DaemonError> {
        let pid_of = |c: Component| {
            self.members
                .iter()
                .find(|m| m.component == c)
                .map_or(0, |m| m.pid)
                .to_string()
        };
        let log_path = self.paths.log(Component::Supervisor);
        let offset = files::len(&log_path);
        let (authority, sidecar) = (pid_of(Component::Authority), pid_of(Component::Sidecar));
        let reissue = reissue_after(ttl).as_secs().to_string();
        let child = spawn_logged(
            &log_path,
            &[
                "sidecar".as_ref(),
                "__supervise".as_ref(),
                "-c".as_ref(),
                self.config_file.as_os_str(),
                "--state-dir".as_ref(),
                self.paths.dir.as_os_str(),
                "--generation".as_ref(),
                self.generation.as_ref(),
                "--authority-pid".as_ref(),
                authority.as_ref(),
                "--sidecar-pid".as_ref(),
                sidecar.as_ref(),
                "--reissue-secs".as_ref(),
                reissue.as_ref(),
            ],
        )
        .map_err(|reason| DaemonError::Step {
            step: "starting the supervisor".into(),
            reason,
        })?;
        let pid = child.id();
        self.members.push(Member {
            component: Component::Supervisor,
            pid,
            child: Some(child),
        });
        let stack_pid = self.paths.pid(Component::Supervisor);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if files::read_pid(&stack_pid).ok().flatten() == Some(pid) {
                break;
            }
            let member = self.members.last_mut().expect("just pushed");
            let why = if self.abort.load(Ordering::SeqCst) {
                Some("interrupted by a signal".to_owned())
            } else if !member.alive() {
                Some("the supervisor exited before taking over".to_owned())
            } else if Instant::now() >= deadline {
                Some("the supervisor did not take over within 15 s".to_owned())
            } else {
                None
            };
            if let Some(why) = why {
                return Err(DaemonError::Step {
                    step: "handing over to the detached supervisor".into(),
                    reason: format!("{why}{}", tail_text(&log_path, offset)),
                });
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        println!(
            "[OK]   sidecar running, state_dir={}",
            self.paths.dir.display()
        );
        self.print_members();
        // The children outlive this process; their `Child` handles are
        // dropped without killing or waiting.
        self.members.clear();
        Ok(())
    }

    fn print_members(&self) {
        for m in &self.members {
            let listen = self
                .paths
                .listen(m.component)
                .and_then(|l| files::read_listen(&l))
                .map_or_else(|| "-".to_owned(), |a| a.to_string());
            println!(
                "       {:<10} pid {:<8} listen {listen}",
                m.component.name(),
                m.pid
            );
        }
    }

    /// Undo a failed start: signal every spawned child (newest first),
    /// reap it, and remove this generation's files.
    fn rollback(&mut self) {
        while let Some(mut m) = self.members.pop() {
            let _ = process::signal(m.pid, process::Signal::Term);
            if !process::wait_gone(&[m.pid], Duration::from_secs(5), |_| m.alive()) {
                let _ = process::signal(m.pid, process::Signal::Kill);
                let _ = process::wait_gone(&[m.pid], Duration::from_secs(2), |_| m.alive());
            }
        }
        self.paths.cleanup(Some(&self.generation));
        eprintln!(
            "[INFO] rolled back: every started process was stopped and the pid, listen and lock files removed"
        );
    }
}

/// A one-worker runtime whose task raises `abort` on SIGINT or SIGTERM;
/// `None` (signals keep their default action) if it cannot be set up.
fn signal_watcher(abort: Arc<AtomicBool>) -> Option<tokio::runtime::Runtime> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .ok()?;
    let (term, int) = rt.block_on(async {
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    });
    let (Ok(mut term), Ok(mut int)) = (term, int) else {
        return Some(rt);
    };
    rt.spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        abort.store(true, Ordering::SeqCst);
    });
    Some(rt)
}

/// `current_exe <args>` in its own process group, stdin from /dev/null,
/// stdout and stderr appended to `log`.
fn spawn_logged(log: &Path, args: &[&std::ffi::OsStr]) -> Result<Child, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot locate the firma binary: {e}"))?;
    let out = files::open_log(log).map_err(|e| e.to_string())?;
    let err = out
        .try_clone()
        .map_err(|e| format!("`{}`: cannot duplicate the log handle: {e}", log.display()))?;
    Command::new(&exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run `{}`: {e}", exe.display()))
}

/// Poll until `ready_line` appears in the log after `offset` and `addr`
/// accepts a TCP connection, the child exits, or `timeout` passes.
fn wait_ready(
    member: &mut Member,
    log: &Path,
    offset: u64,
    ready_line: &str,
    addr: SocketAddr,
    timeout: Duration,
    abort: &AtomicBool,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut said_ready = false;
    loop {
        if abort.load(Ordering::SeqCst) {
            return Err("interrupted by a signal".to_owned());
        }
        if let Some(Some(status)) = member.child.as_mut().map(|c| c.try_wait().ok().flatten()) {
            return Err(format!(
                "the {} exited during startup ({status})",
                member.component.name()
            ));
        }
        if !said_ready {
            said_ready = files::read_from(log, offset).contains(ready_line);
        }
        if said_ready && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(if said_ready {
                format!(
                    "`{addr}` does not accept connections after {} s",
                    timeout.as_secs()
                )
            } else {
                format!("no `{ready_line}` within {} s", timeout.as_secs())
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last lines a failed component wrote, for the error message.
fn tail_text(log: &Path, offset: u64) -> String {
    let lines = files::tail(log, offset, TAIL_LINES);
    if lines.is_empty() {
        return format!("; `{}` is empty", log.display());
    }
    let mut s = format!("; last lines of `{}`:", log.display());
    for l in lines {
        s.push_str("\n       ");
        s.push_str(&l);
    }
    s
}
