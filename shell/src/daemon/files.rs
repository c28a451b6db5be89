//! State-directory file formats (DMN-3): pidfiles and listen files are one
//! line, written to a temp file in the same directory, fsynced and renamed
//! over the target; logs are appended to and read back in tails.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::SystemTime;

use super::DaemonError;

/// Create the state directory (mode 0700 when new) and `capabilities/`.
pub fn ensure_dirs(dir: &Path) -> Result<(), DaemonError> {
    for d in [dir.to_path_buf(), dir.join("capabilities")] {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&d)
            .map_err(DaemonError::io(&d, "create the directory"))?;
    }
    Ok(())
}

/// Write `bytes` to `path` atomically (`crate::fsio::replace`: temporary
/// file with exactly `mode`, fsync, rename over `path`, fsync the directory).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DaemonError> {
    crate::fsio::replace(path, bytes, mode).map_err(|f| DaemonError::io(&f.path, "write")(f.source))
}

/// Write a pidfile: decimal pid + `\n`.
pub fn write_pid(path: &Path, pid: u32) -> Result<(), DaemonError> {
    write_atomic(path, format!("{pid}\n").as_bytes(), 0o644)
}

/// Write a listen file: socket address + `\n`.
pub fn write_listen(path: &Path, addr: SocketAddr) -> Result<(), DaemonError> {
    write_atomic(path, format!("{addr}\n").as_bytes(), 0o644)
}

/// Read a pidfile: `None` when missing; an error names the file when the
/// content is not a positive integer.
pub fn read_pid(path: &Path) -> Result<Option<u32>, DaemonError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DaemonError::io(path, "read")(e)),
    };
    match text.trim().parse::<u32>() {
        Ok(pid) if pid > 0 => Ok(Some(pid)),
        _ => Err(DaemonError::Process(format!(
            "pidfile `{}` does not hold a process id (found {:?}); remove it if no daemon is running",
            path.display(),
            text.trim()
        ))),
    }
}

/// Read a listen file; `None` when missing or unparsable.
pub fn read_listen(path: &Path) -> Option<SocketAddr> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// When `path` was last modified.
pub fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).ok()?.modified().ok()
}

/// Remove `path`, ignoring a missing file.
pub fn remove_quiet(path: &Path) {
    let _ = fs::remove_file(path);
}

/// Open a log for appending (created 0600).
pub fn open_log(path: &Path) -> Result<File, DaemonError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(DaemonError::io(path, "open the log"))
}

/// The current length of `path` (0 when missing).
pub fn len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// What was appended to `path` after byte `offset` (at most 1 MiB).
pub fn read_from(path: &Path, offset: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    if f.seek(SeekFrom::Start(offset)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.take(1 << 20).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last `n` lines appended to `path` after `offset`.
pub fn tail(path: &Path, offset: u64, n: usize) -> Vec<String> {
    let text = read_from(path, offset);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}
