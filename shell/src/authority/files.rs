//! What the offline `firma authority` subcommands share: finding the config,
//! the error type, and file writes that never overwrite and never leave a
//! half-written file (spec `ISS-10`).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use firma_core::config::Config;

use super::Common;
use super::issuer::IssuerError;
use crate::fsio;
use crate::sidecar::discover::{self, Discovered};
use crate::sidecar::startup::{self, StartupError};

/// Why an offline subcommand failed. Every variant exits 2 and names the
/// file at fault.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// The config could not be read or is invalid.
    #[error(transparent)]
    Config(#[from] StartupError),
    /// The signing key or the policies could not be loaded.
    #[error(transparent)]
    Issuer(#[from] IssuerError),
    /// A file operation failed.
    #[error("`{path}`: cannot {what}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file to be created already exists.
    #[error(
        "`{0}` already exists; firma never overwrites it: move it away or choose another path (nothing was written)"
    )]
    Exists(PathBuf),
    /// A file's content is unusable.
    #[error("`{path}`: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The command line or the config does not allow the command.
    #[error("{0}")]
    Usage(String),
}

impl From<fsio::IoFailure> for CmdError {
    fn from(f: fsio::IoFailure) -> CmdError {
        if f.source.kind() == std::io::ErrorKind::AlreadyExists {
            return CmdError::Exists(f.path);
        }
        CmdError::Io {
            path: f.path,
            what: f.what,
            source: f.source,
        }
    }
}

impl CmdError {
    /// A failed file operation on `path`.
    pub fn io(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> CmdError {
        let path = path.to_path_buf();
        move |source| CmdError::Io { path, what, source }
    }

    /// Print the error and return exit code 2.
    pub fn exit(&self) -> ExitCode {
        eprintln!("error: {self}");
        ExitCode::from(2)
    }
}

/// The config the subcommand runs on, and where it came from.
pub struct Loaded {
    /// The parsed config.
    pub config: Config,
    /// The config file, or `None` for the embedded default.
    pub file: Option<PathBuf>,
}

/// Find the config like `firma sidecar` does: `-c` → `FIRMA_CONFIG` →
/// nearest `.firma/firma.toml` → the embedded default (in the state
/// directory, announced on stderr).
pub fn load_config(common: &Common) -> Result<Loaded, CmdError> {
    match discovered(common) {
        Discovered::File(path, _) => Ok(Loaded {
            config: startup::read_config(&path)?,
            file: Some(path),
        }),
        Discovered::Embedded(_) => {
            let state_dir = state_dir(common);
            let config = Config::embedded_default(&state_dir);
            eprintln!(
                "firma: no firma.toml found (no --config, no FIRMA_CONFIG, no .firma/firma.toml above the working \
                 directory); using the built-in [authority] defaults in {}",
                state_dir.display()
            );
            startup::ensure_state_dir(&state_dir)?;
            Ok(Loaded { config, file: None })
        }
    }
}

/// Where the config would come from, without reading it.
pub fn discovered(common: &Common) -> Discovered {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    discover::config(
        common.config.as_deref(),
        std::env::var_os("FIRMA_CONFIG").map(PathBuf::from),
        &cwd,
    )
}

fn state_dir(common: &Common) -> PathBuf {
    discover::state_dir(
        common.state_dir.as_deref(),
        std::env::var_os("FIRMA_STATE_DIR").map(PathBuf::from),
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        discover::current_uid(),
    )
}

/// `path` made absolute against the working directory (for printed config
/// lines), without touching the filesystem.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A TOML basic string holding `path`.
pub fn toml_path(path: &Path) -> String {
    serde_json::Value::String(absolute(path).display().to_string()).to_string()
}

/// One file to create.
pub struct NewFile<'a> {
    /// Where.
    pub path: &'a Path,
    /// The complete content.
    pub bytes: &'a [u8],
    /// Permission bits, set exactly (not subject to the umask).
    pub mode: u32,
}

/// True when something (even a dangling symlink) is at `path`.
pub fn exists(path: &Path) -> Result<bool, CmdError> {
    Ok(fsio::exists(path)?)
}

/// Create every file or none: refuse if any target exists, write each one
/// completely under a temporary name beside it, then hard-link them into
/// place (a link never replaces an existing file). If a link fails, the
/// files already linked by this call are removed again.
pub fn create_all(files: &[NewFile<'_>]) -> Result<(), CmdError> {
    for (i, f) in files.iter().enumerate() {
        if exists(f.path)? {
            return Err(CmdError::Exists(f.path.to_path_buf()));
        }
        if files.iter().take(i).any(|g| g.path == f.path) {
            return Err(CmdError::Usage(format!(
                "`{}` is given for two different files",
                f.path.display()
            )));
        }
    }
    let mut temps: Vec<PathBuf> = Vec::with_capacity(files.len());
    let result = write_and_link(files, &mut temps);
    for t in &temps {
        let _ = fs::remove_file(t);
    }
    result
}

fn write_and_link(files: &[NewFile<'_>], temps: &mut Vec<PathBuf>) -> Result<(), CmdError> {
    for f in files {
        temps.push(fsio::write_temp(f.path, f.bytes, f.mode)?);
    }
    let mut linked: Vec<&Path> = Vec::with_capacity(files.len());
    for (f, tmp) in files.iter().zip(temps.iter()) {
        if let Err(e) = fsio::link_new(tmp, f.path) {
            for done in linked {
                let _ = fs::remove_file(done);
            }
            return Err(e.into());
        }
        linked.push(f.path);
    }
    for f in files {
        fsio::sync_parent(f.path);
    }
    Ok(())
}

/// Replace `path` atomically (temporary file beside it, then rename).
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CmdError> {
    Ok(fsio::replace(path, bytes, mode)?)
}

/// Append one line (a single write of `line` and `\n`) to `path`, creating
/// it with `mode` if missing.
pub fn append_line(path: &Path, line: &str, mode: u32) -> Result<(), CmdError> {
    let mut f = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .open(path)
        .map_err(CmdError::io(path, "open for appending"))?;
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .map_err(CmdError::io(path, "append to"))
}

/// Read a file that may be absent (`None`).
pub fn read_optional(path: &Path) -> Result<Option<String>, CmdError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CmdError::io(path, "read")(e)),
    }
}

pub use crate::sidecar::clock::wall_now;
