//! Process liveness from `/proc` and signals via `kill(1)`: no unsafe code
//! and no libc binding. A zombie counts as dead (DMN-9).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A signal `stop` and the supervisor send.
#[derive(Debug, Clone, Copy)]
pub enum Signal {
    /// SIGTERM: drain and exit.
    Term,
    /// SIGKILL.
    Kill,
}

/// True when `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) S …`: the state follows the last `)`.
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .unwrap_or("");
    !matches!(state, "Z" | "X" | "x" | "")
}

/// True when `pid` is alive and runs a `firma` command (guards against a
/// recycled pid: a pidfile never makes us signal an unrelated program).
pub fn is_firma(pid: u32) -> bool {
    if !alive(pid) {
        return false;
    }
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let exe = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    exe.contains("firma")
        && args
            .iter()
            .skip(1)
            .any(|a| a == "sidecar" || a == "authority")
}

/// Send `sig` to `pid` with `kill(1)`.
pub fn signal(pid: u32, sig: Signal) -> Result<(), String> {
    let name = match sig {
        Signal::Term => "TERM",
        Signal::Kill => "KILL",
    };
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run `kill -s {name} {pid}`: {e}"))?;
    if status.success() || !alive(pid) {
        Ok(())
    } else {
        Err(format!("`kill -s {name} {pid}` failed ({status})"))
    }
}

/// Poll until none of `pids` is alive (per `is_alive`) or `timeout`
/// passes; true when all are gone.
pub fn wait_gone(pids: &[u32], timeout: Duration, mut is_alive: impl FnMut(u32) -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if pids.iter().all(|p| !is_alive(*p)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DMN-9, DMN-11: this process is alive but not a firma daemon
    /// command; a reaped child is dead.
    #[test]
    fn liveness_from_proc() {
        assert!(alive(std::process::id()));
        assert!(!is_firma(std::process::id()));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!alive(pid));
    }
}
