//! Which Sidecar the sandbox leads to (RUN-6): the project's daemon when
//! `<state>/sidecar.listen` names a live, accepting Sidecar; otherwise a
//! session pair started for this run (after consent).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use firma_core::config::Config;

use super::consent;
use super::session::Session;
use super::signals::Caught;
use super::{RunArgs, RunError};
use crate::daemon::{Component, Paths, files, process};

/// TCP probe of a running daemon.
const PROBE: Duration = Duration::from_millis(500);

/// The Sidecar this run uses.
#[derive(Debug)]
pub struct Selected {
    /// Its listen address.
    pub sidecar: SocketAddr,
    /// The Authority URL (empty when unknown).
    pub authority_url: String,
    /// Its MITM CA certificate, when it has one.
    pub ca: Option<PathBuf>,
    /// The autostarted pair, stopped on drop.
    pub session: Option<Session>,
}

/// A running daemon's Sidecar in `state`, if any.
pub fn running_daemon(state: &Path) -> Option<SocketAddr> {
    let paths = Paths {
        dir: state.to_path_buf(),
    };
    let addr = files::read_listen(&paths.listen(Component::Sidecar)?)?;
    let pid = files::read_pid(&paths.pid(Component::Sidecar))
        .ok()
        .flatten()?;
    (process::is_firma(pid) && TcpStream::connect_timeout(&addr, PROBE).is_ok()).then_some(addr)
}

/// Use the daemon or start a session pair.
pub fn select(
    args: &RunArgs,
    config_file: &Path,
    config: &Config,
    state: &Path,
    run_dir: &Path,
    sandbox_id: &str,
    caught: &Caught,
) -> Result<Selected, RunError> {
    if let Some(sidecar) = running_daemon(state) {
        let authority_url = files::read_listen(&state.join("authority.listen"))
            .map(|a| format!("http://{a}"))
            .unwrap_or_default();
        let ca = config.sidecar.ca_dir.join("firma-ca.crt");
        eprintln!(
            "[INFO] firma run: using the running Sidecar at {sidecar} (state dir {})",
            state.display()
        );
        return Ok(Selected {
            sidecar,
            authority_url,
            ca: ca.is_file().then_some(ca),
            session: None,
        });
    }
    consent::obtain(args.yes)?;
    eprintln!(
        "[INFO] firma run: starting a session Authority and Sidecar in {}",
        run_dir.display()
    );
    let session = Session::start(config_file, config, run_dir, sandbox_id, caught)?;
    eprintln!(
        "[OK]   firma run: session Sidecar ready at {} (Authority {})",
        session.sidecar, session.authority_url
    );
    Ok(Selected {
        sidecar: session.sidecar,
        authority_url: session.authority_url.clone(),
        ca: session.ca.clone(),
        session: Some(session),
    })
}
