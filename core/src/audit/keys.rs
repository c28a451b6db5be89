//! Audit key handling: PEM parsing, key ids and the verifier (spec `AUD-12`,
//! `AUD-13`). Verification always uses RustCrypto `p256`.

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use p256::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};

use super::AuditError;

const PKCS8_LABEL: &str = "PRIVATE KEY";
const SEC1_LABEL: &str = "EC PRIVATE KEY";
const SPKI_LABEL: &str = "PUBLIC KEY";

/// The key id of a public key: `sha256:` + lowercase hex SHA-256 of its
/// DER-encoded SubjectPublicKeyInfo.
pub fn key_id(public_spki_der: &[u8]) -> String {
    format!("sha256:{}", super::hex(&Sha256::digest(public_spki_der)))
}

/// Key id of a P-256 public key.
pub(crate) fn key_id_of(public: &PublicKey) -> Result<String, AuditError> {
    let der = public.to_public_key_der().map_err(|e| AuditError::BadKey {
        label: SPKI_LABEL.into(),
        detail: e.to_string(),
    })?;
    Ok(key_id(der.as_bytes()))
}

/// One PEM block: its label and its full text (BEGIN line to END line).
struct PemBlock<'a> {
    label: &'a str,
    text: &'a str,
}

/// The first PEM block whose label is one of `labels`. Other blocks (e.g. the
/// `EC PARAMETERS` block `openssl ecparam -genkey` writes first) are skipped.
fn find_block<'a>(pem: &'a str, labels: &[&str]) -> Option<PemBlock<'a>> {
    let mut rest = pem;
    let mut offset = 0;
    while let Some(at) = rest.find("-----BEGIN ") {
        let after = rest.get(at + "-----BEGIN ".len()..)?;
        let label_end = after.find("-----")?;
        let label = after.get(..label_end)?;
        let end_marker = format!("-----END {label}-----");
        let body_start = offset + at;
        if let Some(end_rel) = pem.get(body_start..)?.find(&end_marker) {
            let end = body_start + end_rel + end_marker.len();
            if labels.contains(&label) {
                return Some(PemBlock {
                    label,
                    text: pem.get(body_start..end)?,
                });
            }
            offset = end;
            rest = pem.get(end..)?;
        } else {
            return None;
        }
    }
    None
}

fn no_block(wanted: &str) -> AuditError {
    AuditError::NoKeyBlock {
        expected: wanted.to_owned(),
    }
}

fn bad_key(label: &str, err: impl std::fmt::Display) -> AuditError {
    AuditError::BadKey {
        label: label.to_owned(),
        detail: err.to_string(),
    }
}

/// A PKCS#8 or SPKI block the decoder rejected: say which algorithm or curve
/// it holds when that is the reason, else pass the decoder's error on.
fn rejected(block: &PemBlock<'_>, err: impl std::fmt::Display) -> AuditError {
    let detail = wrong_algorithm(block).unwrap_or_else(|| err.to_string());
    AuditError::BadKey {
        label: block.label.to_owned(),
        detail,
    }
}

const EC_PUBLIC_KEY_OID: &str = "1.2.840.10045.2.1";
const P256_OID: &str = "1.2.840.10045.3.1.7";

fn wrong_algorithm(block: &PemBlock<'_>) -> Option<String> {
    use p256::pkcs8::PrivateKeyInfo;
    use p256::pkcs8::der::Document;
    use p256::pkcs8::spki::SubjectPublicKeyInfoRef;
    let (_, doc) = Document::from_pem(block.text).ok()?;
    let algorithm = if block.label == SPKI_LABEL {
        SubjectPublicKeyInfoRef::try_from(doc.as_bytes())
            .ok()?
            .algorithm
    } else {
        PrivateKeyInfo::try_from(doc.as_bytes()).ok()?.algorithm
    };
    let oid = algorithm.oid.to_string();
    if oid != EC_PUBLIC_KEY_OID {
        return Some(format!(
            "it holds a key of type {}, not ECDSA P-256",
            oid_name(&oid)
        ));
    }
    let curve = algorithm.parameters_oid().ok()?.to_string();
    (curve != P256_OID).then(|| {
        format!(
            "it holds an EC key on curve {}, not P-256",
            oid_name(&curve)
        )
    })
}

fn oid_name(oid: &str) -> String {
    let name = match oid {
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.2.840.113549.1.1.1" => "RSA",
        "1.3.132.0.34" => "P-384",
        "1.3.132.0.35" => "P-521",
        "1.3.132.0.10" => "secp256k1",
        other => return format!("`{other}`"),
    };
    format!("{name} (`{oid}`)")
}

/// Parse a P-256 private key from a PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1
/// (`BEGIN EC PRIVATE KEY`) PEM document.
pub(crate) fn parse_private_key(pem: &str) -> Result<SecretKey, AuditError> {
    let block = find_block(pem, &[PKCS8_LABEL, SEC1_LABEL])
        .ok_or_else(|| no_block("`BEGIN PRIVATE KEY` or `BEGIN EC PRIVATE KEY`"))?;
    if block.label == SEC1_LABEL {
        SecretKey::from_sec1_pem(block.text).map_err(|e| bad_key(block.label, e))
    } else {
        SecretKey::from_pkcs8_pem(block.text).map_err(|e| rejected(&block, e))
    }
}

/// The private key of a PKCS#8 or SEC1 PEM document re-encoded as PKCS#8 DER
/// (with the public key included), e.g. for a faster signing backend.
pub fn private_key_pkcs8_der(pem: &str) -> Result<Vec<u8>, AuditError> {
    let secret = parse_private_key(pem)?;
    let doc = secret.to_pkcs8_der().map_err(|e| bad_key(PKCS8_LABEL, e))?;
    Ok(doc.as_bytes().to_vec())
}

/// Checks ES256 signatures of one audit key. Built from the public key or from
/// either private-key form.
#[derive(Clone, Debug)]
pub struct AuditVerifier {
    key: VerifyingKey,
    key_id: String,
}

impl AuditVerifier {
    /// Parse a `BEGIN PUBLIC KEY` (SPKI), `BEGIN PRIVATE KEY` (PKCS#8) or
    /// `BEGIN EC PRIVATE KEY` (SEC1) PEM document holding a P-256 key.
    pub fn from_pem(pem: &str) -> Result<Self, AuditError> {
        let block = find_block(pem, &[SPKI_LABEL, PKCS8_LABEL, SEC1_LABEL]).ok_or_else(|| {
            no_block("`BEGIN PUBLIC KEY`, `BEGIN PRIVATE KEY` or `BEGIN EC PRIVATE KEY`")
        })?;
        let public = if block.label == SPKI_LABEL {
            PublicKey::from_public_key_pem(block.text).map_err(|e| rejected(&block, e))?
        } else {
            parse_private_key(block.text)?.public_key()
        };
        Self::from_public_key(&public)
    }

    pub(crate) fn from_public_key(public: &PublicKey) -> Result<Self, AuditError> {
        Ok(AuditVerifier {
            key: VerifyingKey::from(public),
            key_id: key_id_of(public)?,
        })
    }

    /// `sha256:<hex>` of this key's SubjectPublicKeyInfo.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// True when `der` is a DER-encoded ECDSA P-256 signature of SHA-256(`message`).
    pub fn verify(&self, message: &[u8], der: &[u8]) -> bool {
        Signature::from_der(der).is_ok_and(|sig| self.key.verify(message, &sig).is_ok())
    }
}

/// The verifying half of a signing key.
pub(crate) fn verifier_for(key: &SigningKey) -> Result<AuditVerifier, AuditError> {
    AuditVerifier::from_public_key(&PublicKey::from(key.verifying_key()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKCS8: &str = include_str!("../../../fixtures/keys/TEST-ONLY-audit-p256-pkcs8.key.pem");
    const PKCS8_PUB: &str =
        include_str!("../../../fixtures/keys/TEST-ONLY-audit-p256-pkcs8.pub.pem");
    const SEC1: &str = include_str!("../../../fixtures/keys/TEST-ONLY-audit-p256-sec1.key.pem");
    const SEC1_PUB: &str = include_str!("../../../fixtures/keys/TEST-ONLY-audit-p256-sec1.pub.pem");
    const ED25519: &str = include_str!("../../../fixtures/keys/TEST-ONLY-ed25519.key.pem");
    const P384: &str = include_str!("../../../fixtures/keys/TEST-ONLY-p384.key.pem");
    const P384_PUB: &str = include_str!("../../../fixtures/keys/TEST-ONLY-p384.pub.pem");

    // AUD-13: all three PEM forms yield the same key id for the same key.
    #[test]
    fn aud_13_accepts_pkcs8_sec1_and_public_pem() {
        let a = AuditVerifier::from_pem(PKCS8).unwrap();
        let b = AuditVerifier::from_pem(PKCS8_PUB).unwrap();
        assert_eq!(a.key_id(), b.key_id());
        let c = AuditVerifier::from_pem(SEC1).unwrap();
        let d = AuditVerifier::from_pem(SEC1_PUB).unwrap();
        assert_eq!(c.key_id(), d.key_id());
        assert_ne!(a.key_id(), c.key_id());
        // Surrounding text and an `EC PARAMETERS` block before the key are skipped.
        let with_params = format!(
            "comment\n-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{SEC1}"
        );
        assert_eq!(
            AuditVerifier::from_pem(&with_params).unwrap().key_id(),
            c.key_id()
        );
        // Re-encoding SEC1 as PKCS#8 keeps the key.
        let der = private_key_pkcs8_der(SEC1).unwrap();
        let sk = SecretKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(key_id_of(&sk.public_key()).unwrap(), c.key_id());
    }

    // AUD-12: the key id is the SHA-256 of the SPKI DER.
    #[test]
    fn aud_12_key_id_is_sha256_of_spki_der() {
        let pk = PublicKey::from_public_key_pem(PKCS8_PUB).unwrap();
        let der = pk.to_public_key_der().unwrap();
        let id = key_id(der.as_bytes());
        assert_eq!(AuditVerifier::from_pem(PKCS8_PUB).unwrap().key_id(), id);
        assert!(id.starts_with("sha256:"));
        assert_eq!(id.len(), 7 + 64);
        assert!(
            id[7..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(
            key_id(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    // AUD-13: garbage, the wrong curve/algorithm and public keys for signing are rejected.
    #[test]
    fn aud_13_rejects_other_input() {
        let e = AuditVerifier::from_pem("hello").unwrap_err();
        assert!(e.to_string().starts_with("no PEM block with"), "{e}");
        let e = AuditVerifier::from_pem(ED25519).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`PRIVATE KEY` block is not a valid P-256 key: it holds a key of type Ed25519 (`1.3.101.112`), not ECDSA P-256"
        );
        let e = AuditVerifier::from_pem(P384).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`PRIVATE KEY` block is not a valid P-256 key: it holds an EC key on curve P-384 (`1.3.132.0.34`), not P-256"
        );
        let e = AuditVerifier::from_pem(P384_PUB).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "`PUBLIC KEY` block is not a valid P-256 key: it holds an EC key on curve P-384"
            ),
            "{e}"
        );
        let e = parse_private_key(PKCS8_PUB).unwrap_err();
        assert!(
            e.to_string()
                .contains("`BEGIN PRIVATE KEY` or `BEGIN EC PRIVATE KEY`"),
            "{e}"
        );
        let broken = SEC1.replace("M", "A");
        let e = AuditVerifier::from_pem(&broken).unwrap_err();
        assert!(e.to_string().contains("`EC PRIVATE KEY` block"), "{e}");
        let unterminated = PKCS8.replace("-----END PRIVATE KEY-----", "");
        assert!(AuditVerifier::from_pem(&unterminated).is_err());
    }

    // AUD-11: a signature only verifies over the exact message under the same key.
    #[test]
    fn aud_11_verify_rejects_wrong_message_and_garbage() {
        use p256::ecdsa::signature::Signer as _;
        let sk = SigningKey::from(parse_private_key(PKCS8).unwrap());
        let v = verifier_for(&sk).unwrap();
        let sig: Signature = sk.sign(b"abc");
        let der = sig.to_der();
        assert!(v.verify(b"abc", der.as_bytes()));
        assert!(!v.verify(b"abd", der.as_bytes()));
        assert!(!v.verify(b"abc", b"\x30\x00"));
        assert!(!v.verify(b"abc", &[]));
        let other = AuditVerifier::from_pem(SEC1).unwrap();
        assert!(!other.verify(b"abc", der.as_bytes()));
    }
}
