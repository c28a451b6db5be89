//! The signed, hash-chained audit log (spec `AUD-*`).
//!
//! [`AuditChain::seal`] turns a [`crate::Decision`] into one JSONL line: the
//! record in RFC 8785 canonical form, signed with ES256 over the canonical
//! bytes of the record without its `signature`, and chained to the previous
//! line by `seq` and `prev_hash`. [`verify_log`] checks a whole log and reports
//! the first bad line. Keys arrive as PEM text; nothing here touches files.

mod canonical;
mod chain;
mod keys;
mod record;
mod redact;
mod schema;
mod sign;
mod verify;

#[cfg(test)]
mod tests;

pub use canonical::{CanonicalError, canonicalize};
pub use chain::{AuditChain, GENESIS_HASH, Recovery, line_hash, recover};
pub use keys::{AuditVerifier, key_id, private_key_pkcs8_der};
pub use record::{MAX_SAFE_INTEGER, RecordMeta, SCHEMA};
pub use redact::{REDACTED, SENSITIVE_QUERY_KEYS, redact_query, redact_query_with};
pub use sign::{AuditSigner, P256Signer};
pub use verify::{LineError, VerifyErrorKind, VerifyReport, verify_log};

/// Errors of audit key handling and chain recovery.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// No PEM block of a usable kind.
    #[error("no PEM block with a P-256 key found; expected {expected}")]
    NoKeyBlock {
        /// The accepted block kinds, for the message.
        expected: String,
    },
    /// A PEM block of the right kind that does not hold a valid P-256 key.
    #[error("`{label}` block is not a valid P-256 key: {detail}")]
    BadKey {
        /// The PEM label (`PRIVATE KEY`, `EC PRIVATE KEY`, `PUBLIC KEY`).
        label: String,
        /// The decoder's explanation.
        detail: String,
    },
    /// The line to resume after is not an audit record.
    #[error("last line of the log is not an audit record: {0}")]
    BadLastLine(String),
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}
