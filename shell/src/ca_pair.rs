//! Checking a CA certificate and its private key as a pair, shared by the
//! MITM CA loader and the mTLS client CA of `firma authority
//! issue-client-cert`: both PEMs parse, the public keys match, the
//! certificate is a CA and valid now. Each caller words the problems for
//! its own context.

use rcgen::{Issuer, KeyPair, PublicKeyData};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// A CA that can sign.
pub struct CaPair {
    /// Signs certificates.
    pub issuer: Issuer<'static, KeyPair>,
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The certificate's subject, for logs.
    pub subject: String,
    /// End of validity (Unix seconds).
    pub not_after: i64,
}

/// What is wrong with a CA pair.
#[derive(Debug)]
pub enum CaProblem {
    /// The key text is not a PKCS#8 PEM private key rcgen can sign with.
    Key(String),
    /// The certificate text holds no PEM `CERTIFICATE`.
    NoPem(String),
    /// The PEM holds no valid X.509 certificate.
    NotX509(String),
    /// The certificate's public key is not the key's.
    Mismatch,
    /// basicConstraints CA is not set.
    NotCa,
    /// `now` is before notBefore (which is given).
    NotYetValid(String),
    /// `now` is at or after notAfter (which is given).
    Expired(String),
    /// rcgen refuses to sign with it.
    Unusable(String),
}

/// Check `cert_pem` and `key_pem` as one CA at Unix time `now`.
pub fn check(cert_pem: &str, key_pem: &str, now: i64) -> Result<CaPair, CaProblem> {
    let key = KeyPair::from_pem(key_pem).map_err(|e| CaProblem::Key(e.to_string()))?;
    let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| CaProblem::NoPem(e.to_string()))?;
    let (_, x509) = x509_parser::parse_x509_certificate(&cert_der)
        .map_err(|e| CaProblem::NotX509(e.to_string()))?;
    if x509.public_key().raw != key.subject_public_key_info().as_slice() {
        return Err(CaProblem::Mismatch);
    }
    if !x509.is_ca() {
        return Err(CaProblem::NotCa);
    }
    let validity = x509.validity();
    let not_after = validity.not_after.timestamp();
    if now < validity.not_before.timestamp() {
        return Err(CaProblem::NotYetValid(validity.not_before.to_string()));
    }
    if now >= not_after {
        return Err(CaProblem::Expired(validity.not_after.to_string()));
    }
    let subject = x509.subject().to_string();
    let issuer =
        Issuer::from_ca_cert_der(&cert_der, key).map_err(|e| CaProblem::Unusable(e.to_string()))?;
    Ok(CaPair {
        issuer,
        cert_der: cert_der.into_owned(),
        subject,
        not_after,
    })
}

/// `time::OffsetDateTime` for Unix seconds (clamped to the representable
/// range), for rcgen validity fields.
pub fn unix(secs: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
