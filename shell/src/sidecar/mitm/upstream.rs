//! TLS towards the real upstream of an intercepted host (MITM-6): verified
//! against the platform roots plus `extra_upstream_ca_file`, never against
//! the Sidecar's own CA (D8).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::sidecar::log::log;

const TARGET: &str = "firma_sidecar::startup::mitm";

/// Why upstream TLS could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamTlsError {
    /// The extra CA file could not be read or holds no certificate.
    #[error("`sidecar.interceptor.https_mitm.extra_upstream_ca_file` `{path}`: {reason}")]
    ExtraCa {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("cannot configure upstream TLS: {0}")]
    Config(String),
}

/// The client configuration for upstream TLS (ALPN `http/1.1`).
pub fn client_config(
    extra_ca: Option<&Path>,
    sidecar_ca: &CertificateDer<'_>,
) -> Result<Arc<ClientConfig>, UpstreamTlsError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if let Some(path) = extra_ca {
        let fail = |reason: String| UpstreamTlsError::ExtraCa {
            path: path.into(),
            reason,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| fail(format!("cannot read it ({e})")))?
            .collect::<Result<_, _>>()
            .map_err(|e| fail(format!("is not a PEM certificate bundle ({e})")))?;
        if certs.is_empty() {
            return Err(fail("holds no PEM `CERTIFICATE`".into()));
        }
        for (i, cert) in certs.into_iter().enumerate() {
            if cert.as_ref() == sidecar_ca.as_ref() {
                return Err(fail(format!(
                    "certificate {} is the Sidecar's own MITM CA, which is never trusted for upstream TLS",
                    i + 1
                )));
            }
            roots.add(cert).map_err(|e| {
                fail(format!(
                    "certificate {} is not usable as a root ({e})",
                    i + 1
                ))
            })?;
        }
    }
    if roots.is_empty() {
        log!(
            Warn,
            TARGET,
            "no trusted roots for upstream TLS (no platform certificates found, no extra_upstream_ca_file); intercepted requests will fail"
        );
    } else {
        log!(
            Debug,
            TARGET,
            "upstream TLS trusts {added} platform roots and {} in total",
            roots.len()
        );
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| UpstreamTlsError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
