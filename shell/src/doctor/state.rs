//! The runtime state directory: exists, ours, 0700, writable (DOC-8).

use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::Context;
use super::check::{Check, Findings, sh};
use crate::sidecar::discover;

const ID: &str = "state-dir";
const TITLE: &str = "state directory";

/// `--state-dir` → `FIRMA_STATE_DIR` → `$XDG_RUNTIME_DIR/firma` →
/// `/tmp/firma-$UID`, made absolute (as `firma sidecar start` resolves it).
pub fn resolve(flag: Option<&Path>) -> PathBuf {
    let dir = discover::state_dir(
        flag,
        std::env::var_os("FIRMA_STATE_DIR").map(PathBuf::from),
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        discover::current_uid(),
    );
    std::path::absolute(&dir).unwrap_or(dir)
}

/// `state-dir`.
pub fn state_dir(cx: &Context) -> Check {
    let dir = &cx.state_dir;
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::warn(
                ID,
                TITLE,
                format!(
                    "{} does not exist yet (the daemon has never started here)",
                    dir.display()
                ),
                format!(
                    "firma sidecar start --detach --state-dir {} (creates it 0700)",
                    sh(dir)
                ),
            );
        }
        Err(e) => {
            return Check::fail(
                ID,
                TITLE,
                format!("cannot inspect {}: {e}", dir.display()),
                format!(
                    "make its parent searchable: `chmod u+x {}`",
                    sh(dir.parent().unwrap_or(dir))
                ),
            );
        }
    };
    if !meta.is_dir() {
        return Check::fail(
            ID,
            TITLE,
            format!("{} is not a directory", dir.display()),
            format!(
                "move the file away (`mv {0} {0}.bak`) or choose another --state-dir",
                sh(dir)
            ),
        );
    }
    let mut found = Findings::default();
    let uid = discover::current_uid();
    if meta.uid() != uid {
        found.fail(
            format!(
                "{} is owned by uid {}, not by us (uid {uid})",
                dir.display(),
                meta.uid()
            ),
            format!(
                "use a directory of your own (`--state-dir` / FIRMA_STATE_DIR), or `sudo chown {uid} {}`",
                sh(dir)
            ),
        );
    }
    let mode = meta.mode() & 0o7777;
    if mode != 0o700 {
        found.fail(
            format!("{} has mode {mode:04o}, expected 0700", dir.display()),
            format!("chmod 700 {}", sh(dir)),
        );
    }
    if let Err(e) = probe_write(dir) {
        found.fail(
            format!("{} is not writable: {e}", dir.display()),
            format!("chmod u+rwx {}", sh(dir)),
        );
    }
    found.into_check(
        ID,
        TITLE,
        format!("{} (owner uid {uid}, mode 0700, writable)", dir.display()),
    )
}

/// Create and remove an empty file in `dir`.
fn probe_write(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".doctor.{}.probe", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}
