//! `firma audit`: work with the signed, hash-chained audit log (spec `AUD-21`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use firma_core::audit::{AuditVerifier, verify_log};

use super::{EXIT_FAILED, EXIT_USAGE};

/// `firma audit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check every record's signature and the hash chain of an audit log;
    /// report the first bad line.
    ///
    /// Exit status: 0 when every record verifies (a torn last line left by a
    /// crash is only a warning), 1 when a line fails, 2 when the log or key
    /// cannot be read.
    Verify {
        /// PEM file with the audit key: the public key (`BEGIN PUBLIC KEY`) or
        /// the private key in PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1
        /// (`BEGIN EC PRIVATE KEY`) form.
        #[arg(long, value_name = "PEM")]
        key: PathBuf,
        /// The audit log to verify (JSONL, one signed record per line).
        #[arg(value_name = "AUDIT_LOG")]
        log: PathBuf,
    },
}

/// Run a `firma audit` subcommand.
pub fn run(cmd: AuditCommand) -> ExitCode {
    match cmd {
        AuditCommand::Verify { key, log } => verify(&key, &log),
    }
}

fn verify(key_path: &Path, log_path: &Path) -> ExitCode {
    let verifier = match load_verifier(key_path) {
        Ok(v) => v,
        Err(msg) => return fail(EXIT_USAGE, &msg),
    };
    let log = match std::fs::read(log_path) {
        Ok(bytes) => bytes,
        Err(e) => {
            return fail(
                EXIT_USAGE,
                &format!("{}: cannot read audit log: {e}", log_path.display()),
            );
        }
    };
    let report = verify_log(&log, &verifier);
    let name = log_path.display();
    if let Some(err) = &report.first_error {
        return fail(EXIT_FAILED, &format!("{name}: {err}"));
    }
    if let Some(line) = report.torn_tail {
        eprintln!("warning: {name}: line {line}: torn last line (incomplete write), ignored");
    }
    let noun = if report.verified == 1 {
        "record"
    } else {
        "records"
    };
    println!("ok: {} {noun} verified ({name})", report.verified);
    ExitCode::SUCCESS
}

fn load_verifier(path: &Path) -> Result<AuditVerifier, String> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read key file: {e}", path.display()))?;
    AuditVerifier::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
}

fn fail(code: u8, msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(code)
}
