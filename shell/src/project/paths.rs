//! Where a project's files go (`PRJ-1`): the workspace's `.firma/`, the
//! user data directory and the runtime state directory.

use std::path::{Path, PathBuf};

use super::ProjectError;
use crate::sidecar::discover;

/// Every directory of one project, absolute.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// The workspace.
    pub workspace: PathBuf,
    /// `<workspace>/.firma`.
    pub config: PathBuf,
    /// `$XDG_DATA_HOME/firma`, else `$HOME/.local/share/firma`.
    pub data: PathBuf,
    /// `--state-dir` → `FIRMA_STATE_DIR` → `$XDG_RUNTIME_DIR/firma` →
    /// `/tmp/firma-$UID`.
    pub state: PathBuf,
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `path` made absolute against the working directory.
pub fn absolute(path: &Path) -> Result<PathBuf, ProjectError> {
    std::path::absolute(path).map_err(ProjectError::io(path, "resolve"))
}

/// The user data directory: `$XDG_DATA_HOME/firma` when that variable is an
/// absolute path, else `$HOME/.local/share/firma`.
pub fn data_dir() -> Result<PathBuf, ProjectError> {
    if let Some(x) = env_path("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return Ok(x.join("firma"));
    }
    match env_path("HOME") {
        Some(h) => Ok(h.join(".local/share/firma")),
        None => Err(ProjectError::Usage(
            "cannot find the user data directory: neither XDG_DATA_HOME nor HOME is set".to_owned(),
        )),
    }
}

impl Dirs {
    /// Resolve every directory for `workspace` (made absolute).
    pub fn resolve(workspace: &Path, state_flag: Option<&Path>) -> Result<Dirs, ProjectError> {
        let workspace = absolute(workspace)?;
        let state = discover::state_dir(
            state_flag,
            env_path("FIRMA_STATE_DIR"),
            env_path("XDG_RUNTIME_DIR"),
            discover::current_uid(),
        );
        Ok(Dirs {
            config: workspace.join(".firma"),
            workspace,
            data: data_dir()?,
            state: absolute(&state)?,
        })
    }

    /// `<config>/firma.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.config.join("firma.toml")
    }
}
