//! The install: which binary runs, its version, and the external tools the
//! features use (DOC-4).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::check::Check;

/// `binary`: the running executable and its version.
pub fn binary() -> Check {
    const ID: &str = "binary";
    const TITLE: &str = "firma binary";
    let version = env!("CARGO_PKG_VERSION");
    match std::env::current_exe() {
        Ok(path) => Check::ok(ID, TITLE, format!("{} (firma {version})", path.display())),
        Err(e) => Check::warn(
            ID,
            TITLE,
            format!("firma {version}, but its path cannot be read: {e}"),
            "check that /proc is mounted (`mount -t proc proc /proc`)",
        ),
    }
}

/// `tools`: `kill` (required: `firma sidecar stop` and the supervisor signal
/// with it) and `curl` (optional: the guides' test calls).
pub fn tools() -> Check {
    const ID: &str = "tools";
    const TITLE: &str = "external tools";
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    let kill = find(&dirs, "kill");
    let curl = find(&dirs, "curl");
    let shown = |p: &Option<PathBuf>| {
        p.as_ref()
            .map_or_else(|| "missing".to_owned(), |p| p.display().to_string())
    };
    let detail = format!("kill: {}, curl: {}", shown(&kill), shown(&curl));
    match (kill, curl) {
        (Some(_), Some(_)) => Check::ok(ID, TITLE, detail),
        (None, _) => Check::fail(
            ID,
            TITLE,
            format!("{detail}; `firma sidecar stop` signals the daemon with kill(1)"),
            "install procps/util-linux so that `kill` is on PATH (e.g. `apt-get install procps`)",
        ),
        (Some(_), None) => Check::warn(
            ID,
            TITLE,
            format!("{detail}; curl is optional (used by the guides to send test calls)"),
            "install curl (e.g. `apt-get install curl`)",
        ),
    }
}

/// The first executable file `name` in `dirs`.
fn find(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter()
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
