//! The MITM certificate authority (MITM-8, DECISIONS D8): bootstrapped once
//! in `[sidecar.ca] dir` as `firma-ca.crt` + `firma-ca.key` (0600), then only
//! ever loaded. A half-present, unreadable, loosely-permissioned, expired or
//! mismatched pair refuses to start, naming the file.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::CertificateDer;

pub use crate::ca_pair::unix;
use crate::ca_pair::{self, CaProblem};
use crate::fsio;
use crate::sidecar::log::log;

/// The certificate file in the CA directory.
pub const CERT_FILE: &str = "firma-ca.crt";
/// The private key file in the CA directory.
pub const KEY_FILE: &str = "firma-ca.key";
/// Common name of a bootstrapped CA.
pub const CA_COMMON_NAME: &str = "Firma Sidecar Local CA";
/// Lifetime of a bootstrapped CA.
const CA_LIFETIME_SECS: i64 = 10 * 365 * 24 * 3600;

const TARGET: &str = "firma_sidecar::startup::ca";

/// Why the CA could not be bootstrapped or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A file or the directory could not be read, created or written.
    #[error("MITM CA `{path}`: cannot {what}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Only one of the two files exists.
    #[error(
        "MITM CA directory `{dir}` has `{present}` but no `{missing}`; the CA is never regenerated: restore `{missing}` from your backup, or, if no agent trusts this CA yet, remove `{present}` to bootstrap a new one"
    )]
    HalfPresent {
        /// The CA directory.
        dir: PathBuf,
        /// The file that exists.
        present: &'static str,
        /// The file that does not.
        missing: &'static str,
    },
    /// The key file is readable by group or others.
    #[error(
        "MITM CA key `{path}` has mode {mode:04o}; it must not be readable by group or others (run `chmod 600 {path}`)"
    )]
    LoosePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file's content is not what it must be.
    #[error("MITM CA `{path}`: {reason}")]
    Invalid {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Generating a new CA failed.
    #[error("cannot generate the MITM CA in `{dir}`: {reason}")]
    Generate {
        /// The CA directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A loaded CA: signs leaf certificates; its DER is served after each leaf.
pub struct Ca {
    /// The signing identity (subject, key identifier, key).
    pub issuer: Issuer<'static, KeyPair>,
    /// The certificate exactly as on disk.
    pub cert_der: CertificateDer<'static>,
    /// End of the CA's validity (Unix seconds); leaves never outlive it.
    pub not_after: i64,
}

/// Load the CA from `dir`, or create it if neither file exists. `now` is Unix
/// seconds.
pub fn load_or_bootstrap(dir: &Path, now: i64) -> Result<Ca, CaError> {
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    match (exists(&cert_path)?, exists(&key_path)?) {
        (false, false) => bootstrap(dir, &cert_path, &key_path, now),
        (true, false) => Err(CaError::HalfPresent {
            dir: dir.into(),
            present: CERT_FILE,
            missing: KEY_FILE,
        }),
        (false, true) => Err(CaError::HalfPresent {
            dir: dir.into(),
            present: KEY_FILE,
            missing: CERT_FILE,
        }),
        (true, true) => load(&cert_path, &key_path, now),
    }
}

fn exists(path: &Path) -> Result<bool, CaError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(CaError::Io {
            path: path.into(),
            what: "inspect",
            source,
        }),
    }
}

fn read(path: &Path) -> Result<String, CaError> {
    fs::read_to_string(path).map_err(|source| CaError::Io {
        path: path.into(),
        what: "read",
        source,
    })
}

fn invalid(path: &Path, reason: impl Into<String>) -> CaError {
    CaError::Invalid {
        path: path.into(),
        reason: reason.into(),
    }
}

fn load(cert_path: &Path, key_path: &Path, now: i64) -> Result<Ca, CaError> {
    let meta = fs::metadata(key_path).map_err(|source| CaError::Io {
        path: key_path.into(),
        what: "inspect",
        source,
    })?;
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CaError::LoosePermissions {
            path: key_path.into(),
            mode,
        });
    }
    let key_text = read(key_path)?;
    let cert_text = read(cert_path)?;
    let pair = ca_pair::check(&cert_text, &key_text, now).map_err(|p| match p {
        CaProblem::Key(e) => invalid(
            key_path,
            format!("is not a PKCS#8 PEM private key rcgen can sign with ({e})"),
        ),
        CaProblem::NoPem(e) => invalid(cert_path, format!("holds no PEM `CERTIFICATE` ({e})")),
        CaProblem::NotX509(e) => {
            invalid(cert_path, format!("is not a valid X.509 certificate ({e})"))
        }
        CaProblem::Mismatch => invalid(
            cert_path,
            format!(
                "does not belong to `{}` (their public keys differ); restore the matching pair from your backup",
                key_path.display()
            ),
        ),
        CaProblem::NotCa => invalid(
            cert_path,
            "is not a CA certificate (basicConstraints CA is not set)",
        ),
        CaProblem::NotYetValid(at) => invalid(cert_path, format!("is not valid before {at}")),
        CaProblem::Expired(at) => invalid(
            cert_path,
            format!("expired on {at}; every agent host must be given a new CA"),
        ),
        CaProblem::Unusable(e) => invalid(cert_path, format!("cannot sign with this CA ({e})")),
    })?;
    let subject = &pair.subject;
    log!(
        Info,
        TARGET,
        "loaded CA {subject} from {}",
        cert_path.parent().unwrap_or(cert_path).display()
    );
    Ok(Ca {
        issuer: pair.issuer,
        cert_der: pair.cert_der,
        not_after: pair.not_after,
    })
}

fn bootstrap(dir: &Path, cert_path: &Path, key_path: &Path, now: i64) -> Result<Ca, CaError> {
    log!(Info, TARGET, "bootstrapping CA at {}", dir.display());
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| CaError::Io {
            path: dir.into(),
            what: "create the directory",
            source,
        })?;
    let generate = |reason: rcgen::Error| CaError::Generate {
        dir: dir.into(),
        reason: reason.to_string(),
    };
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(generate)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    dn.push(DnType::OrganizationName, "Firma");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = unix(now.saturating_sub(24 * 3600));
    let not_after = now.saturating_add(CA_LIFETIME_SECS);
    params.not_after = unix(not_after);
    let cert = params.self_signed(&key).map_err(generate)?;

    // Both files are written completely under temporary names, then linked
    // into place without replacing anything (never overwrite, D8).
    let key_tmp = fsio::write_temp(key_path, key.serialize_pem().as_bytes(), 0o600)?;
    let cert_tmp = fsio::write_temp(cert_path, cert.pem().as_bytes(), 0o644);
    let cert_tmp = match cert_tmp {
        Ok(p) => p,
        Err(e) => {
            let _ = fs::remove_file(&key_tmp);
            return Err(e.into());
        }
    };
    let linked = fsio::link_new(&key_tmp, key_path).and_then(|()| {
        fsio::link_new(&cert_tmp, cert_path).inspect_err(|_| {
            let _ = fs::remove_file(key_path);
        })
    });
    let _ = fs::remove_file(&key_tmp);
    let _ = fs::remove_file(&cert_tmp);
    linked?;
    fsio::sync_parent(key_path);
    log!(Info, TARGET, "wrote {CERT_FILE} and {KEY_FILE}");
    Ok(Ca {
        issuer: Issuer::new(params, key),
        cert_der: cert.der().clone(),
        not_after,
    })
}

impl From<fsio::IoFailure> for CaError {
    fn from(f: fsio::IoFailure) -> CaError {
        CaError::Io {
            path: f.path,
            what: f.what,
            source: f.source,
        }
    }
}
