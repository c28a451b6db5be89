//! Fresh key material for a new project (`PRJ-4`): the Authority's Ed25519
//! token-signing key pair, the Sidecar's P-256 audit key and the agent id.

use firma_core::token::SigningKey;
use ring::rand::{SecureRandom, SystemRandom};

use super::ProjectError;

/// Crockford base32, lower case (the TypeID alphabet).
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

fn random<const N: usize>() -> Result<[u8; N], ProjectError> {
    let mut buf = [0u8; N];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| ProjectError::Usage("the system random number generator failed".to_owned()))?;
    Ok(buf)
}

/// A new Authority key: (64-byte secret file as `firma authority
/// generate-key` writes it, 32-byte public key).
pub fn authority_key() -> Result<([u8; 64], [u8; 32]), ProjectError> {
    let key = SigningKey::from_seed(&random::<32>()?);
    Ok((key.to_keypair_bytes(), key.public_key().to_bytes()))
}

/// The public half of an existing Authority key file.
pub fn authority_public(secret: &[u8]) -> Result<[u8; 32], String> {
    SigningKey::from_bytes(secret)
        .map(|k| k.public_key().to_bytes())
        .map_err(|e| e.to_string())
}

/// A new P-256 audit signing key as PKCS#8 PEM.
pub fn audit_key() -> Result<String, ProjectError> {
    use base64::Engine as _;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
        .map_err(|e| {
        ProjectError::Usage(format!("cannot generate an audit signing key: {e}"))
    })?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}

/// A fresh agent id: `agt_` and 26 TypeID base32 characters of 128 random bits.
pub fn agent_id() -> Result<String, ProjectError> {
    let n = u128::from_be_bytes(random::<16>()?);
    let mut out = String::from("agt_");
    for i in (0..26).rev() {
        let digit = usize::try_from((n >> (5 * i)) & 0x1f).unwrap_or(0);
        out.push(char::from(ALPHABET.get(digit).copied().unwrap_or(b'0')));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids_are_valid_and_fresh() {
        let a = agent_id().unwrap();
        let b = agent_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 26);
        assert!(firma_core::token::agent_id_problem(&a).is_none(), "{a}");
    }

    #[test]
    fn authority_key_public_half_matches() {
        let (secret, public) = authority_key().unwrap();
        assert_eq!(authority_public(&secret).unwrap(), public);
        assert!(authority_public(&secret[..10]).is_err());
    }
}
