//! The daemon's liveness from its pidfiles and `/proc` (DOC-9), read with
//! the daemon's own readers, as `firma sidecar status` reads them (DMN-3,
//! DMN-10, DMN-11).

use std::net::SocketAddr;
use std::path::Path;

use super::Context;
use super::check::{Check, sh};
use crate::daemon::{Component, Paths, files, process};

const ID: &str = "daemon";
const TITLE: &str = "daemon";

/// A live daemon component.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    /// Its pid.
    pub pid: u32,
    /// Its `*.listen` address, when written.
    pub listen: Option<SocketAddr>,
}

/// What the pidfiles say, for the port checks.
#[derive(Debug, Default)]
pub struct Liveness {
    /// The live Authority.
    pub authority: Option<Live>,
    /// The live Sidecar.
    pub sidecar: Option<Live>,
}

/// What one pidfile holds.
enum Pidfile {
    Missing,
    /// Unreadable, or not a positive integer (the message names the file).
    Broken(String),
    Live(u32),
    Stale(u32),
}

/// `daemon`: the check and what it found.
pub fn check(cx: &Context) -> (Check, Liveness) {
    let paths = Paths {
        dir: cx.state_dir.clone(),
    };
    let mut liveness = Liveness::default();
    let mut live = Vec::new();
    let mut stale = Vec::new();
    let mut broken = Vec::new();
    for c in Component::ALL {
        let pid_path = paths.pid(c);
        match read(&pid_path) {
            Pidfile::Missing => {}
            Pidfile::Live(pid) => {
                let listen = paths.listen(c).and_then(|l| files::read_listen(&l));
                live.push(format!("{} pid {pid}", c.name()));
                let entry = Some(Live { pid, listen });
                match c {
                    Component::Authority => liveness.authority = entry,
                    Component::Sidecar => liveness.sidecar = entry,
                    Component::Supervisor => {}
                }
            }
            Pidfile::Stale(pid) => stale.push(format!(
                "{} names pid {pid}, which is not a running firma process",
                pid_path.display()
            )),
            Pidfile::Broken(e) => broken.push((e, pid_path)),
        }
    }
    let state = sh(&cx.state_dir);
    let check = if !broken.is_empty() {
        let detail: Vec<&str> = broken.iter().map(|(e, _)| e.as_str()).collect();
        let files: Vec<String> = broken.iter().map(|(_, p)| sh(p)).collect();
        Check::fail(
            ID,
            TITLE,
            detail.join("; "),
            format!(
                "make sure no daemon runs (`ps -C firma -o pid,args`), then `rm {}`",
                files.join(" ")
            ),
        )
    } else if !stale.is_empty() {
        let mut detail = stale.join("; ");
        if !live.is_empty() {
            detail = format!("{detail}; still running: {}", live.join(", "));
        }
        Check::warn(
            ID,
            TITLE,
            format!("stale pidfile: {detail}"),
            format!(
                "firma sidecar stop --state-dir {state} (removes the stale files), then `firma sidecar start --detach --state-dir {state}`"
            ),
        )
    } else if live.is_empty() {
        Check::warn(
            ID,
            TITLE,
            format!("not running (no pidfiles in {})", cx.state_dir.display()),
            format!("firma sidecar start --detach --state-dir {state}"),
        )
    } else if liveness.sidecar.is_none() {
        Check::warn(
            ID,
            TITLE,
            format!("the Sidecar is not running ({} running)", live.join(", ")),
            format!(
                "firma sidecar stop --state-dir {state} && firma sidecar start --detach --state-dir {state}"
            ),
        )
    } else {
        Check::ok(ID, TITLE, format!("running: {}", live.join(", ")))
    };
    (check, liveness)
}

fn read(path: &Path) -> Pidfile {
    match files::read_pid(path) {
        Ok(None) => Pidfile::Missing,
        Ok(Some(pid)) if process::is_firma(pid) => Pidfile::Live(pid),
        Ok(Some(pid)) => Pidfile::Stale(pid),
        Err(e) => Pidfile::Broken(e.to_string()),
    }
}
