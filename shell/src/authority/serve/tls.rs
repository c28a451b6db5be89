//! Server TLS and mTLS for the Authority (AUT-10, AUT-11): rustls with the
//! ring provider, ALPN `h2`, and for mTLS a client verifier that checks the
//! chain against the client CA bundle and then the certificate identity
//! against the allow-list.

use std::path::Path;
use std::sync::Arc;

use firma_core::config::AuthorityConfig;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use super::allow_list::AllowList;
use super::error::ServeError;
use crate::sidecar::log::log;

const TARGET: &str = "firma_authority::tls";

/// The server TLS configuration for `config`, or `None` for plain h2c.
pub(super) fn server_config(
    config: &AuthorityConfig,
) -> Result<Option<Arc<ServerConfig>>, ServeError> {
    let Some(files) = &config.tls else {
        return Ok(None);
    };
    let chain = read_certs("authority.tls_cert_path", &files.cert_path)?;
    let key = PrivateKeyDer::from_pem_file(&files.key_path).map_err(|e| ServeError::Tls {
        key: "authority.tls_key_path",
        path: files.key_path.clone(),
        message: format!("no usable PEM private key: {e}"),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls {
            key: "authority.tls_cert_path",
            path: files.cert_path.clone(),
            message: e.to_string(),
        })?;
    let builder = match (
        &config.mtls_client_ca_cert_path,
        &config.authorized_clients_path,
    ) {
        (Some(ca_path), Some(list_path)) => {
            let verifier = AllowListVerifier::load(ca_path, list_path, provider)?;
            builder.with_client_cert_verifier(Arc::new(verifier))
        }
        _ => builder.with_no_client_auth(),
    };
    let mut server = builder
        .with_single_cert(chain, key)
        .map_err(|e| ServeError::Tls {
            key: "authority.tls_key_path",
            path: files.key_path.clone(),
            message: format!(
                "does not fit the certificate `{}`: {e}",
                files.cert_path.display()
            ),
        })?;
    server.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Some(Arc::new(server)))
}

fn read_certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ServeError> {
    let err = |message: String| ServeError::Tls {
        key,
        path: path.to_path_buf(),
        message,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(format!("cannot read PEM certificates: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(format!("invalid PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(err("contains no PEM certificate".to_owned()));
    }
    Ok(certs)
}

/// The identity of a client certificate: its first DNS SAN, else its
/// subject CN (AUT-11).
pub(super) fn identity(cert: &CertificateDer<'_>) -> Result<String, String> {
    let (_, x509) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| format!("client certificate does not parse: {e}"))?;
    if let Ok(Some(san)) = x509.subject_alternative_name() {
        let dns = san.value.general_names.iter().find_map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
            _ => None,
        });
        if let Some(d) = dns {
            return Ok(d);
        }
    }
    x509.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| "client certificate has neither a DNS SAN nor a subject CN".to_owned())
}

/// Why a client certificate was refused; carried through rustls as
/// [`rustls::Error::Other`] so the accept loop can log it.
#[derive(Debug, thiserror::Error)]
#[error("{why}")]
pub(super) struct Rejected {
    /// The certificate identity, when it could be read.
    pub(super) identity: Option<String>,
    /// Why.
    pub(super) why: String,
}

fn reject(identity: Option<String>, why: String) -> rustls::Error {
    rustls::Error::Other(rustls::OtherError(Arc::new(Rejected { identity, why })))
}

/// Client authentication is mandatory; the chain must verify against the
/// client CA bundle and the identity must be in the allow-list.
#[derive(Debug)]
struct AllowListVerifier {
    chain: Arc<dyn ClientCertVerifier>,
    allow: AllowList,
    list_path: String,
}

impl AllowListVerifier {
    fn load(
        ca_path: &Path,
        list_path: &Path,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<AllowListVerifier, ServeError> {
        let ca_key = "authority.mtls_client_ca_cert_path";
        let mut roots = RootCertStore::empty();
        for cert in read_certs(ca_key, ca_path)? {
            roots.add(cert).map_err(|e| ServeError::Tls {
                key: ca_key,
                path: ca_path.to_path_buf(),
                message: format!("unusable CA certificate: {e}"),
            })?;
        }
        let chain = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| ServeError::Tls {
                key: ca_key,
                path: ca_path.to_path_buf(),
                message: e.to_string(),
            })?;
        let list_key = "authority.authorized_clients_path";
        let text = std::fs::read_to_string(list_path).map_err(|e| ServeError::Tls {
            key: list_key,
            path: list_path.to_path_buf(),
            message: format!("cannot read: {e}"),
        })?;
        let allow = AllowList::parse(list_path, &text).map_err(|message| ServeError::Tls {
            key: list_key,
            path: list_path.to_path_buf(),
            message,
        })?;
        if allow.len() == 0 {
            log!(
                Warn,
                TARGET,
                "mtls allow-list {} is empty: every client will be rejected",
                list_path.display()
            );
        } else {
            log!(
                Info,
                TARGET,
                "mtls allow-list loaded clients={} file={}",
                allow.len(),
                list_path.display()
            );
        }
        Ok(AllowListVerifier {
            chain,
            allow,
            list_path: list_path.display().to_string(),
        })
    }
}

impl ClientCertVerifier for AllowListVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let identity = identity(end_entity).map_err(|why| reject(None, why))?;
        self.chain
            .verify_client_cert(end_entity, intermediates, now)
            .map_err(|e| {
                reject(
                    Some(identity.clone()),
                    format!("certificate chain rejected: {e}"),
                )
            })?;
        if !self.allow.allows(&identity) {
            return Err(reject(
                Some(identity),
                format!("identity is not in the allow-list {}", self.list_path),
            ));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

/// The identity and reason of a failed handshake, for the log line.
pub(super) fn describe_failure(e: &std::io::Error) -> (String, String) {
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    if let Some(rustls::Error::Other(other)) = rustls_error
        && let Some(r) = other.0.downcast_ref::<Rejected>()
    {
        return (
            r.identity.clone().unwrap_or_else(|| "-".to_owned()),
            r.why.clone(),
        );
    }
    let why = match rustls_error {
        Some(rustls::Error::NoCertificatesPresented) => {
            "no client certificate presented".to_owned()
        }
        Some(other) => other.to_string(),
        None => e.to_string(),
    };
    ("-".to_owned(), why)
}
