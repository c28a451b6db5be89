//! `[sidecar.audit]`: where signed audit records go and which key signs them.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::error::ConfigError;
use super::fields::Ctx;
use super::raw::{RawAudit, Table, section};

/// Where audit records are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditSink {
    /// One JSON line per record on standard output (default).
    Stdout,
    /// Appended to this JSONL file.
    File(PathBuf),
}

/// The ECDSA P-256 key that signs audit records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigningKey {
    /// A key the operator provides; a missing or unreadable file is a startup
    /// error.
    File(PathBuf),
    /// The embedded default: the shell generates the key at this path the
    /// first time and reuses it afterwards.
    GenerateIfMissing(PathBuf),
}

impl SigningKey {
    /// The key file, whichever way it comes to exist.
    pub fn path(&self) -> &Path {
        match self {
            Self::File(p) | Self::GenerateIfMissing(p) => p,
        }
    }
}

/// Audit settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditConfig {
    /// Record destination.
    pub sink: AuditSink,
    /// Signing key (required in a config file, CFG-26).
    pub signing_key: SigningKey,
    /// Extra query parameter names whose values are redacted, as written.
    pub redact_query_params: Vec<String>,
}

const K: &str = "sidecar.audit";

#[derive(Clone, Copy)]
enum SinkKind {
    Stdout,
    File,
}

impl AuditConfig {
    /// Validate the section; `sidecar_span` locates `[sidecar]` for messages
    /// about a missing `[sidecar.audit]`.
    pub(crate) fn from_raw(
        ctx: &Ctx<'_>,
        raw: Option<&Spanned<Table<RawAudit>>>,
        sidecar_span: Option<Range<usize>>,
    ) -> Result<Self, ConfigError> {
        let default = RawAudit::default();
        let r = section(raw, &default);
        let table = raw.map(|r| r.span()).or(sidecar_span);
        let kind = ctx.choice(
            &format!("{K}.sink"),
            &r.sink,
            &[("stdout", SinkKind::Stdout), ("file", SinkKind::File)],
            SinkKind::Stdout,
        )?;
        let sink = match (kind, &r.file_path) {
            (SinkKind::File, Some(p)) => AuditSink::File(ctx.path(&format!("{K}.file_path"), p)?),
            (SinkKind::File, None) => {
                return Err(ctx.missing(
                    &format!("{K}.file_path"),
                    r.sink.as_ref().map(|s| s.span()).or(table),
                    format!("required because `{K}.sink` is `file`"),
                ));
            }
            (SinkKind::Stdout, Some(p)) => {
                return Err(ctx.conflict(
                    &format!("{K}.file_path"),
                    &p.span(),
                    &format!("{K}.sink"),
                    format!(
                        "is set but `{K}.sink` is `stdout` (set `sink = \"file\"` to write to `{}`)",
                        super::error::show(p.get_ref())
                    ),
                ));
            }
            (SinkKind::Stdout, None) => AuditSink::Stdout,
        };
        let Some(key) = &r.signing_key_path else {
            return Err(ctx.missing(
                &format!("{K}.signing_key_path"),
                table,
                "audit records must be signed (create a P-256 key with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out audit.key`)",
            ));
        };
        let signing_key = SigningKey::File(ctx.path(&format!("{K}.signing_key_path"), key)?);
        let mut redact = Vec::new();
        if let Some(list) = &r.redact_query_params {
            for (i, item) in list.get_ref().iter().enumerate() {
                if item.get_ref().is_empty() {
                    return Err(ctx.invalid(
                        &format!("{K}.redact_query_params[{i}]"),
                        &item.span(),
                        "",
                        "is empty (expected a query parameter name)",
                    ));
                }
                redact.push(item.get_ref().clone());
            }
        }
        Ok(Self {
            sink,
            signing_key,
            redact_query_params: redact,
        })
    }
}
