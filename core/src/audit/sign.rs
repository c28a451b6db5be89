//! Signing audit records (spec `AUD-11`, `AUD-22`).

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};

use super::AuditError;
use super::keys::{AuditVerifier, parse_private_key, verifier_for};

/// Produces ES256 signatures for audit records. Implementations may use any
/// ECDSA P-256 backend (deterministic or randomized nonces); verification only
/// needs the public key.
pub trait AuditSigner: Send + Sync {
    /// `sha256:<hex>` of the signing key's SubjectPublicKeyInfo DER
    /// (see [`super::key_id`]).
    fn key_id(&self) -> &str;

    /// DER-encoded ECDSA P-256 signature over SHA-256(`message`).
    fn sign(&self, message: &[u8]) -> Vec<u8>;
}

/// The reference signer: RustCrypto `p256` with deterministic RFC 6979 nonces,
/// so the same record and key always give the same line.
#[derive(Clone)]
pub struct P256Signer {
    key: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for P256Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("P256Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl P256Signer {
    /// Parse a P-256 private key in PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1
    /// (`BEGIN EC PRIVATE KEY`) PEM form.
    pub fn from_pem(pem: &str) -> Result<Self, AuditError> {
        let key = SigningKey::from(parse_private_key(pem)?);
        let key_id = verifier_for(&key)?.key_id().to_owned();
        Ok(P256Signer { key, key_id })
    }

    /// A verifier for this signer's public key.
    pub fn verifier(&self) -> Result<AuditVerifier, AuditError> {
        verifier_for(&self.key)
    }
}

impl AuditSigner for P256Signer {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let sig: Signature = self.key.sign(message);
        sig.to_der().as_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKCS8: &str = include_str!("../../../fixtures/keys/TEST-ONLY-audit-p256-pkcs8.key.pem");
    const SEC1: &str = include_str!("../../../fixtures/keys/TEST-ONLY-audit-p256-sec1.key.pem");

    // AUD-11, AUD-22: deterministic DER signatures that the verifier accepts.
    #[test]
    fn aud_11_p256_signer_is_deterministic_and_verifiable() {
        for pem in [PKCS8, SEC1] {
            let s = P256Signer::from_pem(pem).unwrap();
            let a = s.sign(b"record");
            assert_eq!(a, s.sign(b"record"));
            assert_eq!(a.first(), Some(&0x30), "DER SEQUENCE");
            let v = s.verifier().unwrap();
            assert_eq!(v.key_id(), s.key_id());
            assert!(v.verify(b"record", &a));
            assert!(!v.verify(b"recorD", &a));
        }
        assert!(!format!("{:?}", P256Signer::from_pem(PKCS8).unwrap()).contains("key:"));
    }
}
