//! `firma authority`: the Mini Authority (spec `AUT-*`). Bare, it serves
//! `AuthorityService` over gRPC; its subcommands manage keys, tokens,
//! revocations and TLS material offline.

mod files;
mod issue;
pub(crate) mod issuer;
mod keys;
mod pki;
mod revocations;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

/// `firma authority` arguments.
#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = false,
    subcommand_negates_reqs = true
)]
pub struct AuthorityArgs {
    /// The firma.toml to use. Default: $FIRMA_CONFIG, else the nearest
    /// .firma/firma.toml above the working directory, else the built-in default.
    #[arg(short, long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Runtime state directory (used with the built-in default). Default:
    /// $FIRMA_STATE_DIR, else $XDG_RUNTIME_DIR/firma, else /tmp/firma-$UID.
    #[arg(long, value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<AuthorityCommand>,
}

/// `firma authority <subcommand>`.
#[derive(Debug, Subcommand)]
pub enum AuthorityCommand {
    /// Generate a new Ed25519 signing key pair.
    GenerateKey(keys::GenerateKeyArgs),
    /// Sign and emit a capability token to a TOML seed.
    Issue(issue::IssueArgs),
    /// Manage the revocation list.
    #[command(subcommand, visible_aliases = ["revoke", "rev"])]
    Revocations(revocations::RevocationsCommand),
    /// Bootstrap a local CA and Authority server certificate.
    InitTls(pki::InitTlsArgs),
    /// Generate a new mTLS client CA key pair.
    GenerateClientCa(pki::GenerateClientCaArgs),
    /// Sign an mTLS client certificate for a Sidecar.
    IssueClientCert(pki::IssueClientCertArgs),
}

/// Run `firma authority …`.
pub fn run(args: AuthorityArgs) -> ExitCode {
    let common = Common {
        config: args.config,
        state_dir: args.state_dir,
    };
    match args.command {
        None => serve::run(&common),
        Some(AuthorityCommand::GenerateKey(a)) => keys::run(&common, a),
        Some(AuthorityCommand::Issue(a)) => issue::run(&common, a),
        Some(AuthorityCommand::Revocations(c)) => revocations::run(&common, c),
        Some(AuthorityCommand::InitTls(a)) => pki::init_tls(&common, a),
        Some(AuthorityCommand::GenerateClientCa(a)) => pki::generate_client_ca(&common, a),
        Some(AuthorityCommand::IssueClientCert(a)) => pki::issue_client_cert(&common, a),
    }
}

/// Options every `firma authority` form accepts.
#[derive(Debug)]
pub struct Common {
    /// `-c/--config`.
    pub config: Option<PathBuf>,
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
}
