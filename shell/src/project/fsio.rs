//! File writes for the scaffold (`PRJ-10`): whole files only (a temporary
//! file beside the target, then rename or hard link), exact permission bits,
//! and keys that are created once and never replaced.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::ProjectError;

/// True when something (even a dangling symlink) is at `path`.
pub fn exists(path: &Path) -> Result<bool, ProjectError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(ProjectError::io(path, "inspect")(e)),
    }
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

fn write_temp(target: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, ProjectError> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            ProjectError::Usage(format!("`{}` does not name a file", target.display()))
        })?;
    let dir = target.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(ProjectError::io(&tmp, "create"))?;
    let written = f
        .set_permissions(fs::Permissions::from_mode(mode))
        .and_then(|()| f.write_all(bytes))
        .and_then(|()| f.sync_all());
    if let Err(e) = written {
        drop(f);
        let _ = fs::remove_file(&tmp);
        return Err(ProjectError::io(&tmp, "write")(e));
    }
    Ok(tmp)
}

fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// Replace (or create) `path` atomically with `bytes` and exactly `mode`.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ProjectError> {
    let tmp = write_temp(path, bytes, mode)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(ProjectError::io(path, "replace")(e));
    }
    sync_parent(path);
    Ok(())
}

/// Create `path` with `bytes` and `mode`, complete or not at all; fails if
/// anything exists there (a hard link never replaces a file).
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ProjectError> {
    let tmp = write_temp(path, bytes, mode)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    linked.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            ProjectError::Invalid {
                path: path.to_path_buf(),
                reason: "appeared while firma was writing it; it was left untouched".to_owned(),
            }
        } else {
            ProjectError::io(path, "create")(e)
        }
    })?;
    sync_parent(path);
    Ok(())
}

/// Remove a file.
pub fn remove(path: &Path) -> Result<(), ProjectError> {
    fs::remove_file(path).map_err(ProjectError::io(path, "remove"))?;
    sync_parent(path);
    Ok(())
}
