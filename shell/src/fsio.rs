//! Whole-file writes shared by every command that creates files (keys,
//! certificates, seeds, configs, revocation lists): a file is written
//! completely under a temporary name beside its target, with exact
//! permission bits, then renamed over the target (`replace`) or hard-linked
//! into place (`create_new`, which never replaces anything). Nobody ever
//! sees half a file.
//!
//! Errors carry the path and what was being done; each command wraps them
//! in its own error type.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A failed file operation.
#[derive(Debug)]
pub struct IoFailure {
    /// The file.
    pub path: PathBuf,
    /// What failed (`create`, `write`, `replace`, …).
    pub what: &'static str,
    /// The OS error; `AlreadyExists` from [`create_new`] means the target
    /// appeared meanwhile and was left untouched.
    pub source: io::Error,
}

fn fail(path: &Path, what: &'static str) -> impl FnOnce(io::Error) -> IoFailure {
    let path = path.to_path_buf();
    move |source| IoFailure { path, what, source }
}

/// True when something (even a dangling symlink) is at `path`.
pub fn exists(path: &Path) -> Result<bool, IoFailure> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(fail(path, "inspect")(e)),
    }
}

/// The directory a path lives in (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Write `bytes` to a new temporary file beside `target` with exactly
/// `mode` (not subject to the umask), synced to disk. The caller renames or
/// links it into place, or removes it.
pub fn write_temp(target: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, IoFailure> {
    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Err(IoFailure {
            path: target.to_path_buf(),
            what: "write",
            source: io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file"),
        });
    };
    let tmp = parent(target).join(format!(".{name}.tmp-{}", std::process::id()));
    // A temporary left by a crashed run of this same pid is ours to reuse.
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => IoFailure {
                path: target.to_path_buf(),
                what: "create (its directory does not exist)",
                source: e,
            },
            _ => fail(&tmp, "create")(e),
        })?;
    let written = f
        .set_permissions(fs::Permissions::from_mode(mode))
        .and_then(|()| f.write_all(bytes))
        .and_then(|()| f.sync_all());
    if let Err(e) = written {
        drop(f);
        let _ = fs::remove_file(&tmp);
        return Err(fail(&tmp, "write")(e));
    }
    Ok(tmp)
}

/// Make a rename or link into `path`'s directory durable (best effort).
pub fn sync_parent(path: &Path) {
    if let Ok(d) = fs::File::open(parent(path)) {
        let _ = d.sync_all();
    }
}

/// Hard-link a finished temporary file to `path`; never replaces anything
/// (`AlreadyExists` when something is there).
pub fn link_new(tmp: &Path, path: &Path) -> Result<(), IoFailure> {
    fs::hard_link(tmp, path).map_err(fail(path, "create"))
}

/// Replace (or create) `path` atomically with `bytes` and exactly `mode`.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IoFailure> {
    let tmp = write_temp(path, bytes, mode)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(fail(path, "replace")(e));
    }
    sync_parent(path);
    Ok(())
}

/// Create `path` with `bytes` and `mode`, complete or not at all; fails
/// with `AlreadyExists` if anything is there.
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IoFailure> {
    let tmp = write_temp(path, bytes, mode)?;
    let linked = link_new(&tmp, path);
    let _ = fs::remove_file(&tmp);
    linked?;
    sync_parent(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("firma-fsio-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn create_new_never_replaces_and_leaves_no_temporary() {
        let d = dir("create");
        let p = d.join("key");
        create_new(&p, b"one", 0o600).expect("first create");
        let e = create_new(&p, b"two", 0o600).expect_err("second create");
        assert_eq!(e.source.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&p).expect("read"), b"one");
        let mode = fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(&d)
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn replace_sets_exact_mode_and_content() {
        let d = dir("replace");
        let p = d.join("list");
        replace(&p, b"a", 0o644).expect("create");
        replace(&p, b"b", 0o600).expect("replace");
        assert_eq!(fs::read(&p).expect("read"), b"b");
        let mode = fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let e = replace(&d.join("missing/x"), b"c", 0o600).expect_err("no directory");
        assert!(e.what.contains("does not exist"), "{}", e.what);
        let _ = fs::remove_dir_all(&d);
    }
}
