//! PASETO `v4.public`: Ed25519 signatures over the pre-authentication
//! encoding (PAE) of the header, message, footer and implicit assertion
//! (spec `TOK-1`..`TOK-3`).
//!
//! A token is `v4.public.` + base64url(message ‖ signature) and, when the
//! footer is not empty, `.` + base64url(footer). Base64url is unpadded and
//! must be canonical.

use std::fmt;
use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;

use super::error::{TokenError, show};

/// The header every token starts with.
pub const HEADER: &str = "v4.public.";

/// Longest token accepted, in bytes. Capability tokens are well under 1 KiB;
/// the bound keeps a hostile input from forcing a large allocation.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

const SIG_LEN: usize = 64;
/// PAE prefix before the message: piece count, header length, header,
/// message length.
const PREFIX_LEN: usize = 8 + 8 + HEADER.len() + 8;

/// An Ed25519 signing key (the Authority's secret). Never printed.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// From the 32-byte secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// From the contents of a key file: the 32-byte seed, or the 64-byte
    /// seed ‖ public key written by `firma authority generate-key` (the
    /// public half must match the seed).
    pub fn from_bytes(bytes: &[u8]) -> Result<SigningKey, TokenError> {
        if let Ok(seed) = <&[u8; 32]>::try_from(bytes) {
            return Ok(SigningKey::from_seed(seed));
        }
        let pair = <&[u8; 64]>::try_from(bytes).map_err(|_| TokenError::Key {
            reason: format!(
                "is {} bytes, expected a 32-byte ed25519 seed or a 64-byte seed and public key",
                bytes.len()
            ),
        })?;
        ed25519_dalek::SigningKey::from_keypair_bytes(pair)
            .map(SigningKey)
            .map_err(|_| TokenError::Key {
                reason: "has a public half that does not belong to its secret seed".to_owned(),
            })
    }

    /// The 64 bytes seed ‖ public key, the secret key file format.
    pub fn to_keypair_bytes(&self) -> [u8; 64] {
        self.0.to_keypair_bytes()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key (the Authority's, as the Sidecar knows it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// From the raw 32-byte public key file.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey, TokenError> {
        let raw = <&[u8; 32]>::try_from(bytes).map_err(|_| TokenError::Key {
            reason: format!(
                "is {} bytes, expected a raw 32-byte ed25519 public key",
                bytes.len()
            ),
        })?;
        ed25519_dalek::VerifyingKey::from_bytes(raw)
            .map(PublicKey)
            .map_err(|_| TokenError::Key {
                reason: "is not a valid ed25519 public key".to_owned(),
            })
    }

    /// The raw 32 bytes, the public key file format.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(")?;
        for b in self.0.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// A token whose signature verified: its message (the claims JSON) and
/// footer. Holds one buffer; the accessors borrow from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    buf: Vec<u8>,
    message: Range<usize>,
    footer: Vec<u8>,
}

impl Verified {
    /// The signed message (for capability tokens: the claims JSON).
    pub fn message(&self) -> &[u8] {
        self.buf.get(self.message.clone()).unwrap_or_default()
    }

    /// The footer (empty for capability tokens).
    pub fn footer(&self) -> &[u8] {
        &self.footer
    }
}

/// Sign `message` with `footer` and an empty implicit assertion (TOK-1).
/// Deterministic: the same key and inputs give the same token.
pub fn sign(key: &SigningKey, message: &[u8], footer: &[u8]) -> String {
    sign_with_assertion(key, message, footer, b"")
}

/// Sign with an implicit assertion (bound into the signature, not carried in
/// the token).
pub fn sign_with_assertion(
    key: &SigningKey,
    message: &[u8],
    footer: &[u8],
    implicit: &[u8],
) -> String {
    let m2 = pae(&[HEADER.as_bytes(), message, footer, implicit]);
    let sig = key.0.sign(&m2).to_bytes();
    let mut body = Vec::with_capacity(message.len() + SIG_LEN);
    body.extend_from_slice(message);
    body.extend_from_slice(&sig);
    let mut token = String::with_capacity(HEADER.len() + (body.len() + footer.len()) * 4 / 3 + 4);
    token.push_str(HEADER);
    URL_SAFE_NO_PAD.encode_string(&body, &mut token);
    if !footer.is_empty() {
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(footer, &mut token);
    }
    token
}

/// Verify a token that carries no footer, with an empty implicit assertion
/// (the capability-token profile, TOK-1). A token with a footer is refused.
pub fn verify(key: &PublicKey, token: &str) -> Result<Verified, TokenError> {
    verify_with(key, token, b"", b"")
}

/// Verify a token whose footer must equal `footer` (empty: the token must
/// have none), binding `implicit` into the signature check (TOK-2).
pub fn verify_with(
    key: &PublicKey,
    token: &str,
    footer: &[u8],
    implicit: &[u8],
) -> Result<Verified, TokenError> {
    let parse = |reason: String| TokenError::ParseFailure { reason };
    if token.len() > MAX_TOKEN_LEN {
        return Err(parse(format!(
            "is {} bytes, longer than the {MAX_TOKEN_LEN}-byte limit",
            token.len()
        )));
    }
    let rest = token.strip_prefix(HEADER).ok_or_else(|| {
        let head: String = token.chars().take(HEADER.len()).collect();
        parse(format!("does not start with `{HEADER}`: `{}`", show(&head)))
    })?;
    let (body, token_footer) = match rest.split_once('.') {
        None => (rest, None),
        Some((_, f)) if f.contains('.') => {
            return Err(parse("has more than four `.`-separated parts".to_owned()));
        }
        Some((b, f)) => (b, Some(f)),
    };
    let token_footer = match token_footer {
        None => Vec::new(),
        Some("") => return Err(parse("ends with `.` but has no footer".to_owned())),
        Some(f) => URL_SAFE_NO_PAD
            .decode(f)
            .map_err(|_| parse("footer is not canonical unpadded base64url".to_owned()))?,
    };
    if !ct_eq(&token_footer, footer) {
        return Err(parse(if footer.is_empty() {
            "carries a footer; capability tokens have none".to_owned()
        } else {
            "footer does not match the expected footer".to_owned()
        }));
    }

    // Build PAE(header, message, footer, implicit) in one buffer: decode the
    // body straight after the prefix, then move the signature out.
    let mut buf =
        Vec::with_capacity(PREFIX_LEN + body.len() * 3 / 4 + 16 + footer.len() + implicit.len());
    buf.extend_from_slice(&le64(4));
    buf.extend_from_slice(&le64(HEADER.len()));
    buf.extend_from_slice(HEADER.as_bytes());
    buf.extend_from_slice(&[0; 8]);
    URL_SAFE_NO_PAD
        .decode_vec(body, &mut buf)
        .map_err(|_| parse("body is not canonical unpadded base64url".to_owned()))?;
    let Some(msg_len) = buf.len().checked_sub(PREFIX_LEN + SIG_LEN) else {
        return Err(parse(
            "body is shorter than a 64-byte ed25519 signature".to_owned(),
        ));
    };
    let sig_start = PREFIX_LEN + msg_len;
    let sig: [u8; SIG_LEN] = buf
        .get(sig_start..)
        .and_then(|s| <[u8; SIG_LEN]>::try_from(s).ok())
        .ok_or_else(|| parse("body is shorter than a 64-byte ed25519 signature".to_owned()))?;
    buf.truncate(sig_start);
    if let Some(slot) = buf.get_mut(PREFIX_LEN - 8..PREFIX_LEN) {
        slot.copy_from_slice(&le64(msg_len));
    }
    push_piece(&mut buf, footer);
    push_piece(&mut buf, implicit);

    let signature = ed25519_dalek::Signature::from_bytes(&sig);
    key.0
        .verify_strict(&buf, &signature)
        .map_err(|_| TokenError::SignatureInvalid)?;
    buf.truncate(sig_start);
    Ok(Verified {
        buf,
        message: PREFIX_LEN..sig_start,
        footer: token_footer,
    })
}

/// Pre-authentication encoding: the piece count, then each piece's length
/// and bytes, lengths as little-endian 64-bit with the top bit clear.
pub fn pae(pieces: &[&[u8]]) -> Vec<u8> {
    let len = 8 + pieces.iter().map(|p| 8 + p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&le64(pieces.len()));
    for piece in pieces {
        push_piece(&mut out, piece);
    }
    out
}

fn push_piece(out: &mut Vec<u8>, piece: &[u8]) {
    out.extend_from_slice(&le64(piece.len()));
    out.extend_from_slice(piece);
}

fn le64(n: usize) -> [u8; 8] {
    ((n as u64) & (u64::MAX >> 1)).to_le_bytes()
}

/// Equality without an early exit on the first differing byte.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
