//! Building blocks of the TLS material commands: P-256 keys, CA and leaf
//! certificate parameters, name checks, and loading a CA pair that must
//! match.

use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};

use crate::authority::files::CmdError;
use crate::ca_pair::{self, CaProblem, unix};

/// Seconds in a day.
pub const DAY: i64 = 24 * 3600;

/// A fresh P-256 key.
pub fn new_key() -> Result<KeyPair, CmdError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| CmdError::Usage(format!("cannot generate a P-256 key: {e}")))
}

/// A random positive 16-byte serial number.
fn serial() -> Result<SerialNumber, CmdError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CmdError::Usage("the system random number generator failed".to_owned()))?;
    if let Some(first) = bytes.first_mut() {
        *first = (*first & 0x7f) | 0x40;
    }
    Ok(SerialNumber::from_slice(&bytes))
}

/// Validity from a day before `now` (clock skew) to `not_after`.
fn validity(params: &mut CertificateParams, now: i64, not_after: i64) {
    params.not_before = unix(now.saturating_sub(DAY));
    params.not_after = unix(not_after);
}

/// Parameters of a CA certificate named `cn` (organization `Firma`) that
/// may sign end-entity certificates only.
pub fn ca_params(cn: &str, now: i64, not_after: i64) -> Result<CertificateParams, CmdError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "Firma");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(serial()?);
    validity(&mut params, now, not_after);
    Ok(params)
}

/// Parameters of an end-entity certificate named `cn` with `sans` and the
/// extended key usage `eku`.
pub fn leaf_params(
    cn: &str,
    sans: Vec<SanType>,
    eku: ExtendedKeyUsagePurpose,
    now: i64,
    not_after: i64,
) -> Result<CertificateParams, CmdError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![eku];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(serial()?);
    validity(&mut params, now, not_after);
    Ok(params)
}

/// A subject alternative name for `host`: an IP address, or a DNS name
/// (letters, digits and `-` in dot-separated labels of at most 63
/// characters, at most 253 in all). `flag` names the option in errors.
pub fn san(host: &str, flag: &str) -> Result<SanType, CmdError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(CmdError::Usage(format!(
            "{flag} `{host}` is neither an IP address nor a DNS name"
        )));
    }
    let name = host
        .try_into()
        .map_err(|e| CmdError::Usage(format!("{flag}: {e}")))?;
    Ok(SanType::DnsName(name))
}

/// Check a common name given on the command line.
pub fn common_name(cn: &str, flag: &str) -> Result<(), CmdError> {
    if cn.trim().is_empty() || cn.len() > 64 || cn.chars().any(char::is_control) {
        return Err(CmdError::Usage(format!(
            "{flag} `{}` must be 1 to 64 characters without control characters",
            cn.escape_default()
        )));
    }
    Ok(())
}

/// A CA loaded from its certificate and key files.
pub struct LoadedCa {
    /// Signs certificates.
    pub issuer: Issuer<'static, KeyPair>,
    /// End of the CA's validity (Unix seconds).
    pub not_after: i64,
}

/// Load a CA: the key must not be readable by group or others, both files
/// must parse, the certificate must be a CA valid at `now`, and the key must
/// be the certificate's (public keys compared).
pub fn load_ca(cert_path: &Path, key_path: &Path, now: i64) -> Result<LoadedCa, CmdError> {
    let invalid = |path: &Path, reason: String| CmdError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let mode = std::fs::metadata(key_path)
        .map_err(CmdError::io(key_path, "inspect"))?
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(invalid(
            key_path,
            format!(
                "has mode {mode:04o}; a CA key must not be readable by group or others (run `chmod 600 {}`)",
                key_path.display()
            ),
        ));
    }
    let key_text = std::fs::read_to_string(key_path).map_err(CmdError::io(key_path, "read"))?;
    let cert_text = std::fs::read_to_string(cert_path).map_err(CmdError::io(cert_path, "read"))?;
    let pair = ca_pair::check(&cert_text, &key_text, now).map_err(|p| match p {
        CaProblem::Key(e) => invalid(key_path, format!("is not a PKCS#8 PEM private key ({e})")),
        CaProblem::NoPem(e) => invalid(cert_path, format!("holds no PEM `CERTIFICATE` ({e})")),
        CaProblem::NotX509(e) => {
            invalid(cert_path, format!("is not a valid X.509 certificate ({e})"))
        }
        CaProblem::Mismatch => invalid(
            cert_path,
            format!(
                "does not belong to the key `{}` (their public keys differ); nothing was written",
                key_path.display()
            ),
        ),
        CaProblem::NotCa => invalid(
            cert_path,
            "is not a CA certificate (basicConstraints CA is not set)".to_owned(),
        ),
        CaProblem::Expired(at) => invalid(cert_path, format!("expired on {at}")),
        CaProblem::NotYetValid(at) => invalid(cert_path, format!("is not valid before {at}")),
        CaProblem::Unusable(e) => invalid(cert_path, format!("cannot sign with this CA ({e})")),
    })?;
    Ok(LoadedCa {
        issuer: pair.issuer,
        not_after: pair.not_after,
    })
}
