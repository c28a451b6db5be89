//! `firma authority generate-key`: a new Ed25519 token-signing key pair
//! (spec `ISS-11`).

use std::path::PathBuf;
use std::process::ExitCode;

use firma_core::token::SigningKey;
use ring::rand::{SecureRandom, SystemRandom};

use super::Common;
use super::files::{self, CmdError, NewFile};
use crate::sidecar::discover::Discovered;
use crate::sidecar::startup;

/// Key file written when no config is found.
const DEFAULT_KEY_FILE: &str = "firma-authority.key";

/// `firma authority generate-key` arguments.
#[derive(Debug, clap::Args)]
pub struct GenerateKeyArgs {
    /// Secret key file to create (64 raw bytes, mode 0600); the public key
    /// (32 raw bytes, mode 0644) goes beside it with the extension `.pub`.
    /// Default: `[authority] key_file` of the config, or
    /// ./firma-authority.key when there is no config.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// Run `firma authority generate-key`.
pub fn run(common: &Common, args: GenerateKeyArgs) -> ExitCode {
    match generate(common, args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.exit(),
    }
}

fn generate(common: &Common, args: GenerateKeyArgs) -> Result<(), CmdError> {
    let secret_path = match args.output {
        Some(p) => p,
        None => match files::discovered(common) {
            Discovered::File(path, _) => startup::read_config(&path)?.authority.key_file,
            Discovered::Embedded(_) => PathBuf::from(DEFAULT_KEY_FILE),
        },
    };
    let public_path = secret_path.with_extension("pub");
    if public_path == secret_path {
        return Err(CmdError::Usage(format!(
            "`{}` ends in `.pub`, the public key's extension; choose a secret key path such as `authority.key`",
            secret_path.display()
        )));
    }
    let mut seed = [0u8; 32];
    SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| CmdError::Usage("the system random number generator failed".to_owned()))?;
    let key = SigningKey::from_seed(&seed);
    let secret = key.to_keypair_bytes();
    let public = key.public_key().to_bytes();
    files::create_all(&[
        NewFile {
            path: &secret_path,
            bytes: &secret,
            mode: 0o600,
        },
        NewFile {
            path: &public_path,
            bytes: &public,
            mode: 0o644,
        },
    ])?;
    println!(
        "wrote secret key {} (64 bytes, mode 0600)",
        secret_path.display()
    );
    println!(
        "wrote public key {} (32 bytes, mode 0644)",
        public_path.display()
    );
    println!();
    println!("Authority (firma.toml):");
    println!("  [authority]");
    println!("  key_file = {}", files::toml_path(&secret_path));
    println!("Sidecar (firma.toml):");
    println!("  [sidecar.authority]");
    println!("  public_key_path = {}", files::toml_path(&public_path));
    Ok(())
}
