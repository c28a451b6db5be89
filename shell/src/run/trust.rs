//! CA trust for the agent (RUN-4, seed 004 "Inside firma run"): the
//! Sidecar CA is copied into the run directory, and a bundle of the system
//! roots plus the Sidecar CA is written next to it, so intercepted hosts
//! verify against the Sidecar CA and blind-tunnelled hosts against the real
//! roots.

use std::path::{Path, PathBuf};

use super::RunError;

/// System CA bundles, first existing wins.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The CA files written for one run.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The Sidecar CA alone (`NODE_EXTRA_CA_CERTS`, which adds to Node's
    /// built-in roots).
    pub ca: PathBuf,
    /// System roots plus the Sidecar CA (every variable that replaces the
    /// trust store).
    pub bundle: PathBuf,
}

impl Trust {
    /// Copy `sidecar_ca` into `run_dir` and write the bundle.
    pub fn write(sidecar_ca: &Path, run_dir: &Path) -> Result<Trust, RunError> {
        let ca_pem = std::fs::read(sidecar_ca).map_err(RunError::io(sidecar_ca, "read"))?;
        if !String::from_utf8_lossy(&ca_pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(RunError::Sidecar {
                reason: format!(
                    "`{}` holds no PEM certificate",
                    sidecar_ca.display()
                ),
                fix: "remove the broken CA directory so the Sidecar generates a new CA, or restore it from a backup"
                    .into(),
            });
        }
        let ca = run_dir.join("firma-ca.crt");
        std::fs::write(&ca, &ca_pem).map_err(RunError::io(&ca, "write"))?;
        let mut bundle_pem = SYSTEM_BUNDLES
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .unwrap_or_default();
        if !bundle_pem.is_empty() && !bundle_pem.ends_with(b"\n") {
            bundle_pem.push(b'\n');
        }
        bundle_pem.extend_from_slice(&ca_pem);
        let bundle = run_dir.join("firma-ca-bundle.crt");
        std::fs::write(&bundle, &bundle_pem).map_err(RunError::io(&bundle, "write"))?;
        Ok(Trust { ca, bundle })
    }

    /// The CA variables the agent gets.
    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("SSL_CERT_FILE", self.bundle.clone()),
            ("REQUESTS_CA_BUNDLE", self.bundle.clone()),
            ("CURL_CA_BUNDLE", self.bundle.clone()),
            ("GIT_SSL_CAINFO", self.bundle.clone()),
            ("NODE_EXTRA_CA_CERTS", self.ca.clone()),
            ("FIRMA_SIDECAR_CA_CERT_PATH", self.ca.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RUN-4: the bundle ends with the Sidecar CA; a file without a
    /// certificate is refused.
    #[test]
    fn bundle_and_refusal() {
        let dir = std::env::temp_dir().join(format!("firma-run-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("src.crt");
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        std::fs::write(&src, pem).unwrap();
        let t = Trust::write(&src, &dir).unwrap();
        assert_eq!(std::fs::read_to_string(&t.ca).unwrap(), pem);
        let bundle = std::fs::read_to_string(&t.bundle).unwrap();
        assert!(bundle.ends_with(pem));
        let env = t.env();
        assert!(env.contains(&("NODE_EXTRA_CA_CERTS", t.ca.clone())));
        assert!(env.contains(&("SSL_CERT_FILE", t.bundle.clone())));
        std::fs::write(&src, "garbage").unwrap();
        assert!(Trust::write(&src, &dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
