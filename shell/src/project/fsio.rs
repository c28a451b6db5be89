//! File writes for the scaffold (`PRJ-10`): whole files only (a temporary
//! file beside the target, then rename or hard link), exact permission bits,
//! and keys that are created once and never replaced.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use super::ProjectError;

/// True when something (even a dangling symlink) is at `path`.
pub fn exists(path: &Path) -> Result<bool, ProjectError> {
    crate::fsio::exists(path).map_err(io)
}

fn io(f: crate::fsio::IoFailure) -> ProjectError {
    ProjectError::io(&f.path, f.what)(f.source)
}

/// Read a file that may be absent.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, ProjectError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ProjectError::io(path, "read")(e)),
    }
}

/// Create `dir` and its missing parents; a directory this call creates gets
/// exactly `mode` (existing ones are left as they are).
pub fn ensure_dir(dir: &Path, mode: u32) -> Result<bool, ProjectError> {
    if fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Ok(false);
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(ProjectError::io(dir, "create directory"))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
        .map_err(ProjectError::io(dir, "set permissions of"))?;
    Ok(true)
}

/// Replace (or create) `path` atomically with `bytes` and exactly `mode`.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ProjectError> {
    crate::fsio::replace(path, bytes, mode).map_err(io)
}

/// Create `path` with `bytes` and `mode`, complete or not at all; fails if
/// anything exists there (a hard link never replaces a file).
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ProjectError> {
    crate::fsio::create_new(path, bytes, mode).map_err(|f| {
        if f.source.kind() == std::io::ErrorKind::AlreadyExists {
            ProjectError::Invalid {
                path: f.path,
                reason: "appeared while firma was writing it; it was left untouched".to_owned(),
            }
        } else {
            io(f)
        }
    })
}

/// Remove a file.
pub fn remove(path: &Path) -> Result<(), ProjectError> {
    fs::remove_file(path).map_err(ProjectError::io(path, "remove"))?;
    crate::fsio::sync_parent(path);
    Ok(())
}
