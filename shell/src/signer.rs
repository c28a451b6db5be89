//! The fast audit signer: ECDSA P-256 through `ring` (the crypto provider the
//! shell's TLS stack uses). `firma-core`'s `P256Signer` is deterministic but
//! about ten times slower; records from both verify with the same public key.

use firma_core::audit::{AuditError, AuditSigner, AuditVerifier, private_key_pkcs8_der};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

/// Signs audit records with `ring`. Nonces come from the system RNG, so two
/// signatures of the same record differ; both verify.
pub struct RingSigner {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
    key_id: String,
}

impl std::fmt::Debug for RingSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A private key `ring` could not use.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The PEM was not a P-256 private key.
    #[error(transparent)]
    Key(#[from] AuditError),
    /// `ring` rejected the re-encoded key.
    #[error("the P-256 key was rejected by the signing backend: {0}")]
    Rejected(String),
}

impl RingSigner {
    /// Parse a PKCS#8 or SEC1 P-256 private key PEM.
    pub fn from_pem(pem: &str) -> Result<RingSigner, SignerError> {
        let der = private_key_pkcs8_der(pem)?;
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der, &rng)
            .map_err(|e| SignerError::Rejected(e.to_string()))?;
        let key_id = AuditVerifier::from_pem(pem)?.key_id().to_owned();
        Ok(RingSigner { pair, rng, key_id })
    }
}

impl AuditSigner for RingSigner {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        // `ring` only fails here if the system RNG fails; an empty signature
        // then fails verification instead of passing silently.
        self.pair
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKCS8: &str = include_str!("../../fixtures/keys/TEST-ONLY-audit-p256-pkcs8.key.pem");

    #[test]
    fn ring_signatures_verify_with_the_core_verifier() {
        let signer = RingSigner::from_pem(PKCS8).unwrap();
        let verifier = AuditVerifier::from_pem(PKCS8).unwrap();
        assert_eq!(signer.key_id(), verifier.key_id());
        let sig = signer.sign(b"canonical bytes");
        assert!(verifier.verify(b"canonical bytes", &sig));
        assert!(!verifier.verify(b"canonical byteZ", &sig));
    }
}
