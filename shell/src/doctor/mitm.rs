//! The HTTPS interception CA (DOC-12): when `https_mitm` is active,
//! `[sidecar.ca] dir` holds `firma-ca.crt` and `firma-ca.key` (0600), the
//! pair belongs together, is a CA and is within its validity.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rcgen::PublicKeyData as _;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::Context;
use super::check::{Check, Findings, sh};
use super::keys::NO_CONFIG;

const ID: &str = "mitm-ca";
const TITLE: &str = "MITM CA";
/// The CA certificate file name (as `sidecar::mitm::ca` writes it).
const CERT_FILE: &str = "firma-ca.crt";
/// The CA key file name.
const KEY_FILE: &str = "firma-ca.key";
/// A CA closer than this to its end of validity is a warning.
const EXPIRY_WARNING_SECS: i64 = 30 * 24 * 3600;

/// `mitm-ca`.
pub fn ca(cx: &Context) -> Check {
    let Some(config) = &cx.config else {
        return Check::skip(ID, TITLE, NO_CONFIG);
    };
    let mitm = &config.sidecar.interceptor.https_mitm;
    if !mitm.enabled {
        return Check::skip(ID, TITLE, "HTTPS interception is disabled");
    }
    if !mitm.is_active() {
        return Check::skip(
            ID,
            TITLE,
            "HTTPS interception is enabled but `intercept_hosts` is empty: nothing is intercepted",
        );
    }
    let dir = &config.sidecar.ca_dir;
    let cert = dir.join(CERT_FILE);
    let key = dir.join(KEY_FILE);
    match (cert.exists(), key.exists()) {
        (false, false) => {
            return Check::warn(
                ID,
                TITLE,
                format!(
                    "no CA in {} yet; the Sidecar creates it on its first start",
                    dir.display()
                ),
                format!(
                    "firma sidecar start --detach, then make agents trust {}",
                    cert.display()
                ),
            );
        }
        (true, false) | (false, true) => {
            let (present, missing) = if cert.exists() {
                (&cert, &key)
            } else {
                (&key, &cert)
            };
            return Check::fail(
                ID,
                TITLE,
                format!(
                    "{} exists but {} is missing: the Sidecar refuses to start",
                    present.display(),
                    missing.display()
                ),
                format!(
                    "restore {} from your backup, or move {} aside so a new CA is created (agents must trust the new one)",
                    missing.display(),
                    sh(dir)
                ),
            );
        }
        (true, true) => {}
    }
    let mut found = Findings::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let valid_until = inspect(&cert, &key, now, &mut found);
    found.into_check(
        ID,
        TITLE,
        format!(
            "{} and {} (0600){}",
            cert.display(),
            key.display(),
            valid_until
                .map(|t| format!(", valid until {t}"))
                .unwrap_or_default()
        ),
    )
}

/// Check the pair; returns the end of validity when the certificate parses.
fn inspect(cert: &Path, key: &Path, now: i64, found: &mut Findings) -> Option<String> {
    let renew = format!(
        "mv {0} {0}.old and restart the Sidecar to create a new CA (agents must trust the new {CERT_FILE})",
        sh(cert.parent().unwrap_or(cert))
    );
    if let Ok(meta) = std::fs::metadata(key)
        && meta.mode() & 0o077 != 0
    {
        found.fail(
            format!(
                "{} has mode {:04o}, the CA key must be 0600",
                key.display(),
                meta.mode() & 0o7777
            ),
            format!("chmod 600 {}", sh(key)),
        );
    }
    let key_pair = match std::fs::read_to_string(key)
        .map_err(|e| e.to_string())
        .and_then(|pem| rcgen::KeyPair::from_pem(&pem).map_err(|e| e.to_string()))
    {
        Ok(k) => Some(k),
        Err(e) => {
            found.fail(
                format!("{} is not a usable PEM private key: {e}", key.display()),
                renew.clone(),
            );
            None
        }
    };
    let der = match std::fs::read(cert)
        .map_err(|e| e.to_string())
        .and_then(|pem| CertificateDer::from_pem_slice(&pem).map_err(|e| e.to_string()))
    {
        Ok(d) => d,
        Err(e) => {
            found.fail(
                format!("{} holds no PEM certificate: {e}", cert.display()),
                renew,
            );
            return None;
        }
    };
    let x509 = match x509_parser::parse_x509_certificate(&der) {
        Ok((_, x)) => x,
        Err(e) => {
            found.fail(
                format!("{} is not a valid X.509 certificate: {e}", cert.display()),
                renew,
            );
            return None;
        }
    };
    if let Some(k) = &key_pair
        && x509.public_key().raw != k.subject_public_key_info().as_slice()
    {
        found.fail(
            format!(
                "{} does not belong to {} (their public keys differ)",
                cert.display(),
                key.display()
            ),
            renew.clone(),
        );
    }
    if !x509.is_ca() {
        found.fail(
            format!("{} is not a CA certificate", cert.display()),
            renew.clone(),
        );
    }
    let validity = x509.validity();
    let not_after = validity.not_after.timestamp();
    if now < validity.not_before.timestamp() {
        found.fail(
            format!(
                "{} is not valid before {} (check the system clock)",
                cert.display(),
                validity.not_before
            ),
            "set the system clock right (e.g. `timedatectl set-ntp true`)",
        );
    } else if now >= not_after {
        found.fail(
            format!("{} expired on {}", cert.display(), validity.not_after),
            renew,
        );
    } else if not_after - now < EXPIRY_WARNING_SECS {
        found.warn(
            format!("{} expires on {}", cert.display(), validity.not_after),
            renew,
        );
    }
    Some(validity.not_after.to_string())
}
