//! The project scaffold (spec `PRJ-*`): `firma init` writes a workspace's
//! `.firma/` directory, keys and user data files; `firma config` changes its
//! posture and mapping packs; `firma policy list` prints the pack catalogue.
//!
//! - `packs` — the posture and mapping packs compiled into the binary;
//! - `paths` — workspace, config, data and state directories;
//! - `fsio` — atomic writes, private directories, never-overwritten keys;
//! - `keys` — fresh Authority and audit signing keys;
//! - `render` — the text of `firma.toml` and the issuance policy;
//! - `scaffold` — the plan of files and how existing ones are treated;
//! - `init`, `config_cmd` — the two commands.

mod config_cmd;
mod fsio;
mod init;
mod keys;
pub(crate) mod packs;
mod paths;
mod render;
mod scaffold;

use std::path::PathBuf;
use std::process::ExitCode;

pub use config_cmd::ConfigArgs;
pub use init::InitArgs;

/// Why `firma init` or `firma config` stopped. Nothing is written after
/// the first error; every variant names what is at fault.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// A bad flag value or answer.
    #[error("{0}")]
    Usage(String),
    /// A file operation failed.
    #[error("`{path}`: cannot {what}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// An existing file is unusable.
    #[error("`{path}`: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The chosen mapping packs (with the project's other rule files) do
    /// not compile together, e.g. two of them hold the same rule.
    #[error("the chosen mapping packs cannot be combined: {0}; nothing was written")]
    Rules(String),
    /// The policy directory would not compile with the chosen posture.
    #[error("the policy directory would not compile: {0}; nothing was written")]
    Policies(String),
    /// The generated `firma.toml` does not parse (a bad listen address…).
    #[error("the generated firma.toml is invalid: {0}; nothing was written")]
    Config(String),
    /// A generated file was edited by hand and `--force` was not given.
    #[error(
        "`{0}` was edited by hand (it differs from every pack firma generates); rerun with --force to replace it (nothing was written)"
    )]
    Edited(PathBuf),
}

impl ProjectError {
    /// A failed file operation on `path`.
    pub fn io(path: &std::path::Path, what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| ProjectError::Io { path, what, source }
    }
}

/// Print an error and return exit code 2 (usage, input or file error).
fn fail(e: &ProjectError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(crate::cmd::EXIT_USAGE)
}

/// Run `firma init`.
pub fn run_init(args: InitArgs) -> ExitCode {
    match init::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Run `firma config`.
pub fn run_config(args: ConfigArgs) -> ExitCode {
    match config_cmd::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}
