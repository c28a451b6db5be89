//! Verifying an audit log: schema, canonical form, key, signature, sequence
//! and hash chain of every line (spec `AUD-16`..`AUD-20`).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::canonical::write_integer_json;
use super::chain::{GENESIS_HASH, line_hash};
use super::keys::AuditVerifier;
use super::schema::check_record;

/// Why a line failed verification. `as_str` names are stable (fixtures use them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VerifyErrorKind {
    /// A complete line that is not a JSON object.
    NotJson,
    /// A key the schema does not define, at any level.
    UnknownKey,
    /// A key the schema requires is absent.
    MissingKey,
    /// A value of the wrong type or format.
    BadValue,
    /// The line is not the canonical (RFC 8785) form of its record.
    NotCanonical,
    /// `signature.key_id` is not the verification key's id.
    WrongKey,
    /// The signature does not verify over the record's canonical bytes.
    BadSignature,
    /// `seq` is not the previous record's `seq` + 1 (or 0 on the first line).
    BadSequence,
    /// `prev_hash` is not the hash of the previous line (or zeros on the first).
    BrokenChain,
    /// An empty line, or a line other than the last that ends mid-record.
    TornLine,
}

impl VerifyErrorKind {
    /// Stable snake_case name, e.g. `bad_signature`.
    pub const fn as_str(self) -> &'static str {
        match self {
            VerifyErrorKind::NotJson => "not_json",
            VerifyErrorKind::UnknownKey => "unknown_key",
            VerifyErrorKind::MissingKey => "missing_key",
            VerifyErrorKind::BadValue => "bad_value",
            VerifyErrorKind::NotCanonical => "not_canonical",
            VerifyErrorKind::WrongKey => "wrong_key",
            VerifyErrorKind::BadSignature => "bad_signature",
            VerifyErrorKind::BadSequence => "bad_sequence",
            VerifyErrorKind::BrokenChain => "broken_chain",
            VerifyErrorKind::TornLine => "torn_line",
        }
    }

    /// Every kind.
    pub const ALL: &'static [VerifyErrorKind] = &[
        VerifyErrorKind::NotJson,
        VerifyErrorKind::UnknownKey,
        VerifyErrorKind::MissingKey,
        VerifyErrorKind::BadValue,
        VerifyErrorKind::NotCanonical,
        VerifyErrorKind::WrongKey,
        VerifyErrorKind::BadSignature,
        VerifyErrorKind::BadSequence,
        VerifyErrorKind::BrokenChain,
        VerifyErrorKind::TornLine,
    ];

    /// Human-readable form used in messages: `bad signature`.
    pub const fn label(self) -> &'static str {
        match self {
            VerifyErrorKind::NotJson => "not JSON",
            VerifyErrorKind::UnknownKey => "unknown key",
            VerifyErrorKind::MissingKey => "missing key",
            VerifyErrorKind::BadValue => "bad value",
            VerifyErrorKind::NotCanonical => "not canonical",
            VerifyErrorKind::WrongKey => "wrong key",
            VerifyErrorKind::BadSignature => "bad signature",
            VerifyErrorKind::BadSequence => "bad sequence",
            VerifyErrorKind::BrokenChain => "broken chain",
            VerifyErrorKind::TornLine => "torn line",
        }
    }
}

impl fmt::Display for VerifyErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for VerifyErrorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VerifyErrorKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown audit verification error kind `{s}`"))
    }
}

/// The first line that failed verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: VerifyErrorKind,
    /// Specifics, naming the key and values involved.
    pub detail: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {}: {}",
            self.line,
            self.kind.label(),
            self.detail
        )
    }
}

/// Outcome of [`verify_log`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Records verified (before the first error, if any).
    pub verified: usize,
    /// 1-based number of an unterminated last line that does not parse: a
    /// write interrupted by a crash. Not an error.
    pub torn_tail: Option<usize>,
    /// The first bad line; verification stops there.
    pub first_error: Option<LineError>,
}

impl VerifyReport {
    /// True when no line failed (a torn tail is allowed).
    pub fn is_ok(&self) -> bool {
        self.first_error.is_none()
    }
}

/// Verify every line of `log` with `verifier`, stopping at the first bad line.
pub fn verify_log(log: &[u8], verifier: &AuditVerifier) -> VerifyReport {
    let mut report = VerifyReport::default();
    let mut prev: Option<(u64, &[u8])> = None;
    let mut rest = log;
    let mut line_no = 0usize;
    while !rest.is_empty() {
        line_no += 1;
        let (line, terminated, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (
                rest.get(..i).unwrap_or(&[]),
                true,
                rest.get(i + 1..).unwrap_or(&[]),
            ),
            None => (rest, false, &[][..]),
        };
        rest = next;
        match check_line(line, terminated, prev, verifier) {
            Ok(LineOk::Verified(seq)) => {
                report.verified += 1;
                prev = Some((seq, line));
            }
            Ok(LineOk::TornTail) => report.torn_tail = Some(line_no),
            Err((kind, detail)) => {
                report.first_error = Some(LineError {
                    line: line_no,
                    kind,
                    detail,
                });
                break;
            }
        }
    }
    report
}

enum LineOk {
    Verified(u64),
    TornTail,
}

fn check_line(
    line: &[u8],
    terminated: bool,
    prev: Option<(u64, &[u8])>,
    verifier: &AuditVerifier,
) -> Result<LineOk, (VerifyErrorKind, String)> {
    use VerifyErrorKind as K;
    if line.is_empty() {
        return Err((K::TornLine, "empty line".into()));
    }
    let value: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(_) if !terminated => return Ok(LineOk::TornTail),
        Err(e) if e.is_eof() => {
            return Err((
                K::TornLine,
                format!(
                    "line ends at column {} before the record is complete",
                    e.column()
                ),
            ));
        }
        Err(e) => return Err((K::NotJson, json_error(&e))),
    };
    let Value::Object(mut record) = value else {
        return Err((
            K::NotJson,
            format!("line is a JSON {}, not an object", kind_of(&value)),
        ));
    };
    check_record(&record)?;

    let mut canonical = String::with_capacity(line.len());
    write_integer_json(&mut canonical, &Value::Object(record.clone()));
    if canonical.as_bytes() != line {
        let at = first_difference(canonical.as_bytes(), line);
        return Err((
            K::NotCanonical,
            format!("line differs from the record's canonical JSON (RFC 8785) at byte {at}"),
        ));
    }

    let signature = record.remove("signature").unwrap_or(Value::Null);
    let field = |k: &str| signature.get(k).and_then(Value::as_str).unwrap_or_default();
    let key_id = field("key_id");
    if key_id != verifier.key_id() {
        return Err((
            K::WrongKey,
            format!(
                "signed by key `{key_id}`, verification key is `{}`",
                verifier.key_id()
            ),
        ));
    }
    let der = STANDARD.decode(field("value")).unwrap_or_default();
    let mut unsigned = String::with_capacity(line.len());
    write_integer_json(&mut unsigned, &Value::Object(record.clone()));
    if !verifier.verify(unsigned.as_bytes(), &der) {
        return Err((
            K::BadSignature,
            "`signature.value` does not verify over the record's canonical bytes".into(),
        ));
    }

    let seq = record
        .get("seq")
        .and_then(Value::as_u64)
        .unwrap_or_default();
    let prev_hash = record
        .get("prev_hash")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match prev {
        None => {
            if seq != 0 {
                return Err((
                    K::BadSequence,
                    format!(
                        "first record has `seq` `{seq}`, expected `0` (records before it are missing)"
                    ),
                ));
            }
            if prev_hash != GENESIS_HASH {
                return Err((
                    K::BrokenChain,
                    format!("first record has `prev_hash` `{prev_hash}`, expected all zeros"),
                ));
            }
        }
        Some((prev_seq, prev_line)) => {
            let expected = prev_seq.saturating_add(1);
            if seq != expected {
                return Err((
                    K::BadSequence,
                    format!("`seq` is `{seq}`, expected `{expected}`"),
                ));
            }
            let expected = line_hash(prev_line);
            if prev_hash != expected {
                return Err((
                    K::BrokenChain,
                    format!(
                        "`prev_hash` is `{prev_hash}`, but the previous line hashes to `{expected}`"
                    ),
                ));
            }
        }
    }
    Ok(LineOk::Verified(seq))
}

/// serde_json's message with the column only (lines are ours to count).
fn json_error(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
    format!("{msg} at column {}", e.column())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}
