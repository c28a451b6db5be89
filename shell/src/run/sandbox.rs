//! The bwrap command line (RUN-3, RUN-8): a new network namespace (only
//! `lo`), a new pid namespace and session, the root read-only, `/tmp` empty,
//! the workspace read-write, firma's keys, state and CA material hidden, and
//! the run directory (Unix socket, CA files) read-only. `--die-with-parent`
//! ties the sandbox to `firma run`: when it goes, everything inside goes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::INSIDE_PROXY;

/// What goes into one sandbox.
#[derive(Debug)]
pub struct Plan<'a> {
    /// The `bwrap` binary.
    pub bwrap: &'a Path,
    /// The `firma` binary (runs `__run-inside`).
    pub exe: &'a Path,
    /// Bound read-write.
    pub workspace: &'a Path,
    /// The working directory inside.
    pub chdir: &'a Path,
    /// Bound read-only (socket, CA files, resolv.conf).
    pub run_dir: &'a Path,
    /// The Unix socket to the Sidecar.
    pub socket: &'a Path,
    /// Directories hidden behind an empty tmpfs.
    pub masks: Vec<PathBuf>,
    /// A resolver config mounted over the host's (points at nothing).
    pub resolv: Option<(PathBuf, PathBuf)>,
    /// Variables set inside.
    pub env: Vec<(String, OsString)>,
    /// The agent command.
    pub command: &'a [OsString],
}

impl Plan<'_> {
    /// The bwrap argument vector (without the program).
    pub fn args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push =
            |items: &[&std::ffi::OsStr]| a.extend(items.iter().map(|s| s.to_os_string()));
        push(&[
            "--die-with-parent".as_ref(),
            "--unshare-net".as_ref(),
            "--unshare-pid".as_ref(),
            "--new-session".as_ref(),
            "--ro-bind".as_ref(),
            "/".as_ref(),
            "/".as_ref(),
            "--dev".as_ref(),
            "/dev".as_ref(),
            "--proc".as_ref(),
            "/proc".as_ref(),
            "--tmpfs".as_ref(),
            "/tmp".as_ref(),
        ]);
        if let Some((src, dst)) = &self.resolv {
            push(&["--ro-bind".as_ref(), src.as_os_str(), dst.as_os_str()]);
        }
        push(&[
            "--bind".as_ref(),
            self.workspace.as_os_str(),
            self.workspace.as_os_str(),
        ]);
        for m in &self.masks {
            push(&["--tmpfs".as_ref(), m.as_os_str()]);
        }
        push(&[
            "--ro-bind".as_ref(),
            self.run_dir.as_os_str(),
            self.run_dir.as_os_str(),
            "--ro-bind".as_ref(),
            self.exe.as_os_str(),
            self.exe.as_os_str(),
            "--chdir".as_ref(),
            self.chdir.as_os_str(),
        ]);
        for (k, v) in &self.env {
            push(&["--setenv".as_ref(), k.as_ref(), v.as_os_str()]);
        }
        push(&[
            "--".as_ref(),
            self.exe.as_os_str(),
            "__run-inside".as_ref(),
            "--socket".as_ref(),
            self.socket.as_os_str(),
            "--listen".as_ref(),
            INSIDE_PROXY.as_ref(),
            "--".as_ref(),
        ]);
        a.extend(self.command.iter().cloned());
        a
    }

    /// The command ready to spawn.
    pub fn command(&self) -> Command {
        let mut c = Command::new(self.bwrap);
        c.args(self.args());
        c
    }
}

/// Keep the masks that exist as directories and do not contain the
/// workspace (hiding an ancestor would hide the workspace too).
pub fn usable_masks(candidates: Vec<PathBuf>, workspace: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for m in candidates {
        let Ok(m) = std::fs::canonicalize(&m) else {
            continue;
        };
        if m.is_dir() && !workspace.starts_with(&m) && !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RUN-3, RUN-8: the network is unshared, the workspace is the only
    /// read-write bind, masks come after it and the run dir after them.
    #[test]
    fn argument_order() {
        let command = vec![OsString::from("curl"), OsString::from("-v")];
        let plan = Plan {
            bwrap: Path::new("/usr/bin/bwrap"),
            exe: Path::new("/bin/firma"),
            workspace: Path::new("/w"),
            chdir: Path::new("/w"),
            run_dir: Path::new("/s/run/sbx_a"),
            socket: Path::new("/s/run/sbx_a/sidecar.sock"),
            masks: vec![PathBuf::from("/w/.firma"), PathBuf::from("/s")],
            resolv: None,
            env: vec![("HTTP_PROXY".into(), "http://127.0.0.1:18080".into())],
            command: &command,
        };
        let args: Vec<String> = plan
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let pos = |s: &str| args.iter().position(|a| a == s).unwrap();
        assert!(args.contains(&"--unshare-net".to_owned()));
        assert_eq!(args.iter().filter(|a| *a == "--bind").count(), 1);
        assert!(pos("/w/.firma") > pos("--bind"));
        assert!(pos("/s/run/sbx_a") > pos("/s"));
        assert_eq!(&args[args.len() - 3..], ["--", "curl", "-v"]);
    }
}
