//! The hash chain and sealing of records into lines (spec `AUD-1`, `AUD-11`,
//! `AUD-14`, `AUD-15`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::AuditError;
use super::canonical::write_string;
use super::record::{RecordMeta, SCHEMA, write_unsigned};
use super::sign::AuditSigner;
use crate::engine::Decision;

/// `prev_hash` of the first record of a log: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Lowercase hex SHA-256 of a line's exact bytes (without its `\n`).
pub fn line_hash(line: &[u8]) -> String {
    super::hex(&Sha256::digest(line))
}

/// Where the next record goes: its `seq` and the hash of the line before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditChain {
    next_seq: u64,
    prev_hash: String,
    extra_redactions: Vec<String>,
}

impl AuditChain {
    /// The start of a new log: `seq` 0 and an all-zero `prev_hash`.
    pub fn genesis() -> Self {
        AuditChain {
            next_seq: 0,
            prev_hash: GENESIS_HASH.to_owned(),
            extra_redactions: Vec::new(),
        }
    }

    /// Continue after `last_line`, the last complete line of an existing log
    /// (one trailing `\n` is ignored): `seq` + 1 and its hash.
    pub fn resume(last_line: &[u8]) -> Result<Self, AuditError> {
        let line = last_line.strip_suffix(b"\n").unwrap_or(last_line);
        let value: Value = serde_json::from_slice(line)
            .map_err(|e| AuditError::BadLastLine(format!("not JSON: {e}")))?;
        if value.get("schema").and_then(Value::as_str) != Some(SCHEMA) {
            return Err(AuditError::BadLastLine(format!(
                "`schema` is not `{SCHEMA}`"
            )));
        }
        let seq = value
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| AuditError::BadLastLine("`seq` is not a non-negative integer".into()))?;
        let next_seq = seq.checked_add(1).ok_or_else(|| {
            AuditError::BadLastLine(format!("`seq` `{seq}` cannot be incremented"))
        })?;
        Ok(AuditChain {
            next_seq,
            prev_hash: line_hash(line),
            extra_redactions: Vec::new(),
        })
    }

    /// Also redact the values of these query parameters (`[sidecar.audit]
    /// redact_query_params`, AUD-6) in every record sealed from now on.
    pub fn with_redactions(mut self, names: Vec<String>) -> Self {
        self.extra_redactions = names;
        self
    }

    /// The `seq` the next sealed record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The `prev_hash` the next sealed record gets.
    pub fn prev_hash(&self) -> &str {
        &self.prev_hash
    }

    /// Build, sign and chain the record of `decision`. Returns one line
    /// (canonical JSON, no trailing `\n`) and advances the chain past it.
    pub fn seal(
        &mut self,
        decision: &Decision,
        meta: &RecordMeta<'_>,
        signer: &dyn AuditSigner,
    ) -> String {
        let mut line = String::with_capacity(1536);
        self.seal_into(&mut line, decision, meta, signer);
        line
    }

    /// Like [`AuditChain::seal`], but appends the line (without `\n`) to
    /// `out`, so a writer can seal a batch into one reused buffer.
    pub fn seal_into(
        &mut self,
        out: &mut String,
        decision: &Decision,
        meta: &RecordMeta<'_>,
        signer: &dyn AuditSigner,
    ) {
        let start = out.len();
        let signature_at = write_unsigned(
            out,
            decision,
            meta,
            self.next_seq,
            &self.prev_hash,
            &self.extra_redactions,
        );
        // AUD-11: the signed message is the record without `signature`; the
        // member is then spliced in where it sorts (after `session_id`).
        let der = signer.sign(out.get(start..).unwrap_or_default().as_bytes());
        let mut member = String::with_capacity(200);
        member.push_str(",\"signature\":{\"alg\":\"ES256\",\"key_id\":");
        write_string(&mut member, signer.key_id());
        member.push_str(",\"value\":\"");
        STANDARD.encode_string(&der, &mut member);
        member.push_str("\"}");
        out.insert_str(signature_at, &member);
        // AUD-14: the next record links to this line's exact bytes.
        self.prev_hash = line_hash(out.get(start..).unwrap_or_default().as_bytes());
        self.next_seq = self.next_seq.saturating_add(1);
    }
}

/// How to continue appending to an existing log (spec `AUD-15`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The chain to seal the next record with.
    pub chain: AuditChain,
    /// Keep this many bytes of the log; anything after is a torn last line to
    /// cut off before appending.
    pub keep_len: usize,
    /// The kept log ends in a complete record without `\n`: write one first.
    pub append_newline: bool,
    /// A torn last line was found (and is excluded by `keep_len`).
    pub torn_tail: bool,
}

/// Inspect the end of an existing log to continue its chain. Does not verify
/// signatures (use [`super::verify_log`] for that).
pub fn recover(log: &[u8]) -> Result<Recovery, AuditError> {
    let (complete, tail) = match log.iter().rposition(|&b| b == b'\n') {
        Some(nl) => (
            log.get(..=nl).unwrap_or(log),
            log.get(nl + 1..).unwrap_or(&[]),
        ),
        None => (&[][..], log),
    };
    if let (false, Ok(chain)) = (tail.is_empty(), AuditChain::resume(tail)) {
        return Ok(Recovery {
            chain,
            keep_len: log.len(),
            append_newline: true,
            torn_tail: false,
        });
    }
    let torn_tail = !tail.is_empty();
    let body = complete.strip_suffix(b"\n").unwrap_or(complete);
    let chain = if body.is_empty() {
        AuditChain::genesis()
    } else {
        let last = body.rsplit(|&b| b == b'\n').next().unwrap_or(body);
        AuditChain::resume(last)?
    };
    Ok(Recovery {
        chain,
        keep_len: complete.len(),
        append_newline: false,
        torn_tail,
    })
}
