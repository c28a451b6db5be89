//! Why `firma authority` did not start (AUT-1). Every variant names the file
//! or address at fault.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::sidecar::startup::StartupError;

/// A start-up failure of the Authority server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Config discovery, reading or parsing, or the state directory.
    #[error(transparent)]
    Config(#[from] StartupError),
    /// The signing key named by the config does not exist.
    #[error(
        "signing key `{path}` does not exist (`authority.key_file`); create it with `firma authority generate-key`"
    )]
    KeyMissing {
        /// `[authority] key_file`.
        path: PathBuf,
    },
    /// The development key could not be created.
    #[error("cannot create the development signing key `{path}`: {what}: {source}")]
    KeyCreate {
        /// The key (or `.pub`) file.
        path: PathBuf,
        /// What failed.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The system random generator failed.
    #[error("cannot generate a signing key: the system random generator failed")]
    Random,
    /// The issuer (key, issuance policies) could not be loaded.
    #[error("{0}")]
    Issuer(String),
    /// The enforcement policy bundle could not be read or compiled.
    #[error("policy bundle `{dir}`: {message}")]
    Bundle {
        /// The policy directory.
        dir: String,
        /// Why.
        message: String,
    },
    /// A TLS file (certificate, key, client CA, allow-list) is unusable.
    #[error("{key} `{path}`: {message}")]
    Tls {
        /// The config key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on `{addr}` (`authority.listen_addr`): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A watcher thread could not be started.
    #[error("cannot start a watcher thread: {0}")]
    Thread(std::io::Error),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}
