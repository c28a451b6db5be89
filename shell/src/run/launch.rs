//! The `firma run` sequence (RUN-1..RUN-9): preflight, project, Sidecar,
//! trust, bridge, sandbox, wait, teardown. Everything it starts is owned by
//! a guard, so every exit path — the agent's exit, a signal to `firma run`,
//! an error — stops the session pair and removes the run directory.

use std::ffi::OsString;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::inside::exit_code;
use super::metadata::{self, Metadata};
use super::select::{self, Selected};
use super::signals::{self, Caught};
use super::trust::Trust;
use super::{INSIDE_PROXY, RunArgs, RunError, consent, preflight, sandbox};
use crate::daemon::process;
use crate::sidecar::discover::{self, Discovered};
use crate::sidecar::startup;

/// How long the sandbox may take to exit after SIGTERM before SIGKILL.
const KILL_AFTER: Duration = Duration::from_secs(5);

/// Run the agent; its exit code.
pub fn run(args: &RunArgs) -> Result<u8, RunError> {
    if std::env::var_os("FIRMA_RUN_SANDBOX_ID").is_some() {
        return Err(RunError::Usage(
            "FIRMA_RUN_SANDBOX_ID is set: it is reserved for the sandbox firma run creates (is this already \
             inside `firma run`?); unset it"
                .into(),
        ));
    }
    let bwrap = preflight::check()?;
    let cwd = std::env::current_dir()
        .map_err(RunError::io(Path::new("."), "read the working directory"))?;
    let workspace =
        std::fs::canonicalize(args.workspace.as_deref().unwrap_or(&cwd)).map_err(RunError::io(
            args.workspace.as_deref().unwrap_or(&cwd),
            "resolve the workspace",
        ))?;
    if !workspace.is_dir() {
        return Err(RunError::Usage(format!(
            "the workspace `{}` is not a directory",
            workspace.display()
        )));
    }
    let config_file = project_config(args, &workspace)?;
    let config = startup::read_config(&config_file).map_err(|e| RunError::Sidecar {
        reason: e.to_string(),
        fix: format!("fix `{}` (`firma doctor` checks it)", config_file.display()),
    })?;
    let state = state_dir(args.state_dir.as_deref());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| RunError::Usage(format!("cannot start the async runtime: {e}")))?;
    let caught = signals::install(&rt)
        .map_err(|e| RunError::Usage(format!("cannot install signal handlers: {e}")))?;
    let sandbox_id = metadata::sandbox_id()?;
    let run_dir = RunDir::create(&state, &sandbox_id)?;
    let selected = select::select(
        args,
        &config_file,
        &config,
        &state,
        &run_dir.0,
        &sandbox_id,
        &caught,
    )?;
    let code = sandboxed(
        args,
        &bwrap,
        &workspace,
        &cwd,
        &config_file,
        &config,
        &state,
        &run_dir.0,
        &sandbox_id,
        &selected,
        &rt,
        &caught,
    );
    // Teardown order: the bridge, the session pair, the run directory.
    rt.shutdown_background();
    drop(selected);
    drop(run_dir);
    code
}

/// Everything from the trust files to the agent's exit.
#[allow(clippy::too_many_arguments)]
fn sandboxed(
    args: &RunArgs,
    bwrap: &Path,
    workspace: &Path,
    cwd: &Path,
    config_file: &Path,
    config: &firma_core::config::Config,
    state: &Path,
    run_dir: &Path,
    sandbox_id: &str,
    selected: &Selected,
    rt: &tokio::runtime::Runtime,
    caught: &Caught,
) -> Result<u8, RunError> {
    let trust = match &selected.ca {
        Some(ca) => Some(Trust::write(ca, run_dir)?),
        None => {
            eprintln!(
                "[INFO] firma run: the Sidecar has no MITM CA (HTTPS interception is off): HTTPS goes through \
                 as blind tunnels and the agent keeps the system trust store"
            );
            None
        }
    };
    let socket = run_dir.join("sidecar.sock");
    let listener = {
        let _guard = rt.enter();
        tokio::net::UnixListener::bind(&socket).map_err(RunError::io(&socket, "listen on"))?
    };
    rt.spawn(super::bridge::unix_to_tcp(listener, selected.sidecar));
    metadata::write(
        run_dir,
        &Metadata {
            sandbox_id: sandbox_id.to_owned(),
            command: args
                .command
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            pid: std::process::id(),
            listen: selected.sidecar.to_string(),
            authority_url: selected.authority_url.clone(),
            autostarted: selected.session.is_some(),
            profile: args.profile.name().to_owned(),
        },
    )?;
    let exe = std::env::current_exe().map_err(|e| RunError::Sandbox {
        reason: format!("cannot locate the firma binary: {e}"),
        fix: "run firma from an existing path".into(),
    })?;
    let env = environment(args, sandbox_id, trust.as_ref());
    let mut masks: Vec<PathBuf> = vec![state.to_path_buf(), config.sidecar.ca_dir.clone()];
    if let Some(dir) = config_file.parent() {
        masks.push(dir.to_path_buf());
    }
    if let Some(d) = consent::data_dir() {
        masks.push(d);
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        let home = PathBuf::from(home);
        masks.extend(
            args.profile
                .masked_home_paths()
                .iter()
                .map(|p| home.join(p)),
        );
    }
    let resolv = resolv_conf(run_dir)?;
    let chdir = if cwd.starts_with(workspace) {
        cwd
    } else {
        workspace
    };
    let plan = sandbox::Plan {
        bwrap,
        exe: &exe,
        workspace,
        chdir,
        run_dir,
        socket: &socket,
        masks: sandbox::usable_masks(masks, workspace),
        resolv,
        env,
        command: &args.command,
    };
    if let Some(n) = caught.get() {
        eprintln!("[INFO] firma run: signal {n} received before the agent started; stopping");
        return Ok(128 + u8::try_from(n).unwrap_or(0));
    }
    let child = plan
        .command()
        .stdin(Stdio::inherit())
        .spawn()
        .map_err(|e| RunError::Sandbox {
            reason: format!("cannot run `{}`: {e}", bwrap.display()),
            fix: "check the bubblewrap installation (`apt-get install bubblewrap`)".into(),
        })?;
    Ok(wait(child, caught))
}

/// Wait for the sandbox; on a signal to `firma run`, stop it and return
/// 128+n.
fn wait(mut child: Child, caught: &Caught) -> u8 {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return exit_code(status),
            Ok(None) => {}
            Err(e) => {
                eprintln!("[ERR]  firma run: cannot wait for the sandbox: {e}");
                let _ = child.kill();
                let _ = child.wait();
                return super::EXIT_RUN_FAILED;
            }
        }
        if let Some(n) = caught.get() {
            eprintln!("[INFO] firma run: signal {n} received: stopping the agent and the session");
            let pid = child.id();
            let _ = process::signal(pid, process::Signal::Term);
            let deadline = Instant::now() + KILL_AFTER;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
            return 128 + u8::try_from(n).unwrap_or(0);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The variables set inside the sandbox.
fn environment(args: &RunArgs, sandbox_id: &str, trust: Option<&Trust>) -> Vec<(String, OsString)> {
    let proxy = format!("http://{INSIDE_PROXY}");
    let mut env: Vec<(String, OsString)> = [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), OsString::from(&proxy)))
    .collect();
    env.push(("NO_PROXY".into(), OsString::new()));
    env.push(("no_proxy".into(), OsString::new()));
    env.push(("FIRMA_RUN_SANDBOX_ID".into(), sandbox_id.into()));
    env.extend(
        args.profile
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), OsString::from(v))),
    );
    if let Some(t) = trust {
        env.extend(
            t.env()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.into_os_string())),
        );
    }
    env
}

/// A resolver config naming only 127.0.0.1:53 (where nothing listens),
/// mounted over the host's `/etc/resolv.conf` (its real target when that is
/// a symlink): names resolve at the Sidecar, never inside.
fn resolv_conf(run_dir: &Path) -> Result<Option<(PathBuf, PathBuf)>, RunError> {
    let Ok(target) = std::fs::canonicalize("/etc/resolv.conf") else {
        return Ok(None);
    };
    if target.starts_with("/tmp") {
        return Ok(None);
    }
    let file = run_dir.join("resolv.conf");
    std::fs::write(
        &file,
        "nameserver 127.0.0.1\noptions ndots:0 timeout:1 attempts:1\n",
    )
    .map_err(RunError::io(&file, "write"))?;
    Ok(Some((file, target)))
}

/// The project's firma.toml: `--config`, `FIRMA_CONFIG`, the nearest
/// `.firma/firma.toml` above the workspace, else one scaffolded there as
/// `firma init --yes` would.
fn project_config(args: &RunArgs, workspace: &Path) -> Result<PathBuf, RunError> {
    let env = std::env::var_os("FIRMA_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    if let Discovered::File(p, _) = discover::config(args.config.as_deref(), env, workspace) {
        if !p.is_file() {
            return Err(RunError::Usage(format!(
                "the config `{}` does not exist",
                p.display()
            )));
        }
        return Ok(std::path::absolute(&p).unwrap_or(p));
    }
    eprintln!(
        "[INFO] firma run: no firma.toml found from {} upwards: scaffolding a project there as `firma init --yes` would",
        workspace.display()
    );
    let exe = std::env::current_exe()
        .map_err(|e| RunError::Usage(format!("cannot locate the firma binary: {e}")))?;
    let mut init = Command::new(&exe);
    init.args(["init", "--yes", "--workspace"]).arg(workspace);
    if let Some(s) = &args.state_dir {
        init.arg("--state-dir").arg(s);
    }
    let status = init
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .status()
        .map_err(|e| RunError::Usage(format!("cannot run `firma init`: {e}")))?;
    let file = workspace.join(".firma").join("firma.toml");
    if !status.success() || !file.is_file() {
        return Err(RunError::Usage(format!(
            "`firma init --yes --workspace {}` failed ({status}); see its message above",
            workspace.display()
        )));
    }
    eprintln!("[OK]   firma run: scaffolded `{}`", file.display());
    Ok(file)
}

/// `--state-dir` → `FIRMA_STATE_DIR` → `$XDG_RUNTIME_DIR/firma` →
/// `/tmp/firma-$UID`, absolute.
fn state_dir(flag: Option<&Path>) -> PathBuf {
    let env = |n: &str| {
        std::env::var_os(n)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = discover::state_dir(
        flag,
        env("FIRMA_STATE_DIR"),
        env("XDG_RUNTIME_DIR"),
        discover::current_uid(),
    );
    std::path::absolute(&dir).unwrap_or(dir)
}

/// `<state>/run/<sandbox_id>/`, private, removed with everything in it on
/// drop.
struct RunDir(PathBuf);

impl RunDir {
    fn create(state: &Path, sandbox_id: &str) -> Result<RunDir, RunError> {
        let parent = state.join("run");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&parent)
            .map_err(RunError::io(&parent, "create"))?;
        let dir = parent.join(sandbox_id);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(RunError::io(&dir, "create"))?;
        Ok(RunDir(dir))
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!(
                "[WARN] firma run: cannot remove `{}`: {e}",
                self.0.display()
            );
        }
    }
}
