//! Structural check of a parsed audit line against the `firma.audit.v1`
//! schema (spec `AUD-2`, `AUD-16`): no unknown keys at any level, no missing
//! keys, every value of the right type and format.

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::record::{MAX_SAFE_INTEGER, SCHEMA};
use super::verify::VerifyErrorKind;
use crate::decision::{Outcome, ReasonCode, Stage};
use crate::time::UnixTime;

/// A schema violation: its kind and a message naming the key.
pub(crate) type Violation = (VerifyErrorKind, String);

const TOP: &[&str] = &[
    "schema",
    "seq",
    "event_id",
    "timestamp",
    "session_id",
    "agent_id",
    "token_id",
    "envelope",
    "decision",
    "latency_us",
    "prev_hash",
    "signature",
];
const ENVELOPE: &[&str] = &["intent"];
const INTENT: &[&str] = &["action_class", "method", "scheme", "resource", "query"];
const RESOURCE: &[&str] = &["host", "path", "provider"];
const CONNECT_RESOURCE: &[&str] = &["host"];
const DECISION: &[&str] = &[
    "outcome",
    "reason",
    "stage",
    "detail",
    "matched_policies",
    "bundle_version",
    "rule",
];
const SIGNATURE: &[&str] = &["alg", "key_id", "value"];

/// Check a parsed record (already known to be a JSON object).
pub(crate) fn check_record(record: &Map<String, Value>) -> Result<(), Violation> {
    members(record, "", TOP)?;
    let at = |k: &str| record.get(k).unwrap_or(&Value::Null);
    expect(
        at("schema"),
        "schema",
        |v| v.as_str() == Some(SCHEMA),
        || format!("`{SCHEMA}`"),
    )?;
    uint(at("seq"), "seq")?;
    expect(
        at("event_id"),
        "event_id",
        |v| v.as_str().is_some_and(|s| !s.is_empty()),
        || "a non-empty string".into(),
    )?;
    expect(
        at("timestamp"),
        "timestamp",
        |v| v.as_str().and_then(UnixTime::parse_rfc3339).is_some(),
        || "an RFC 3339 UTC timestamp".into(),
    )?;
    for k in ["session_id", "agent_id", "token_id"] {
        opt_str(at(k), k)?;
    }
    let envelope = object(at("envelope"), "envelope")?;
    members(envelope, "envelope", ENVELOPE)?;
    check_intent(envelope.get("intent").unwrap_or(&Value::Null))?;
    check_decision(at("decision"))?;
    uint(at("latency_us"), "latency_us")?;
    expect(
        at("prev_hash"),
        "prev_hash",
        |v| v.as_str().is_some_and(is_hex64),
        || "64 lowercase hex digits".into(),
    )?;
    check_signature(at("signature"))
}

fn check_intent(v: &Value) -> Result<(), Violation> {
    let intent = object(v, "envelope.intent")?;
    members(intent, "envelope.intent", INTENT)?;
    let at = |k: &str| intent.get(k).unwrap_or(&Value::Null);
    opt_str(at("action_class"), "envelope.intent.action_class")?;
    opt_str(at("method"), "envelope.intent.method")?;
    expect(
        at("scheme"),
        "envelope.intent.scheme",
        |v| v.is_null() || matches!(v.as_str(), Some("http" | "https")),
        || "`http`, `https` or null".into(),
    )?;
    let resource = object(at("resource"), "envelope.intent.resource")?;
    if at("method").as_str() == Some("CONNECT") {
        members(resource, "envelope.intent.resource", CONNECT_RESOURCE)?;
        expect(
            resource.get("host").unwrap_or(&Value::Null),
            "envelope.intent.resource.host",
            |v| v.as_str().is_some_and(|s| !s.is_empty()),
            || "a non-empty string".into(),
        )?;
    } else {
        members(resource, "envelope.intent.resource", RESOURCE)?;
        for k in RESOURCE {
            let path = format!("envelope.intent.resource.{k}");
            opt_str(resource.get(*k).unwrap_or(&Value::Null), &path)?;
        }
    }
    opt_str(at("query"), "envelope.intent.query")
}

fn check_decision(v: &Value) -> Result<(), Violation> {
    let d = object(v, "decision")?;
    members(d, "decision", DECISION)?;
    let at = |k: &str| d.get(k).unwrap_or(&Value::Null);
    expect(
        at("outcome"),
        "decision.outcome",
        |v| v.as_str().is_some_and(|s| Outcome::from_str(s).is_ok()),
        || "one of `ALLOW`, `DENY`, `PASSTHROUGH`, `ABORT`".into(),
    )?;
    expect(
        at("reason"),
        "decision.reason",
        |v| v.is_null() || v.as_str().is_some_and(|s| ReasonCode::from_str(s).is_ok()),
        || "a reason code or null".into(),
    )?;
    expect(
        at("stage"),
        "decision.stage",
        |v| v.as_str().is_some_and(|s| Stage::from_str(s).is_ok()),
        || "a stage name".into(),
    )?;
    expect(at("detail"), "decision.detail", Value::is_string, || {
        "a string".into()
    })?;
    expect(
        at("matched_policies"),
        "decision.matched_policies",
        |v| v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        || "an array of strings".into(),
    )?;
    expect(
        at("bundle_version"),
        "decision.bundle_version",
        |v| v.is_null() || v.as_str().is_some_and(is_hex64),
        || "64 lowercase hex digits or null".into(),
    )?;
    opt_str(at("rule"), "decision.rule")
}

fn check_signature(v: &Value) -> Result<(), Violation> {
    let s = object(v, "signature")?;
    members(s, "signature", SIGNATURE)?;
    let at = |k: &str| s.get(k).unwrap_or(&Value::Null);
    expect(
        at("alg"),
        "signature.alg",
        |v| v.as_str() == Some("ES256"),
        || "`ES256`".into(),
    )?;
    expect(
        at("key_id"),
        "signature.key_id",
        |v| {
            v.as_str()
                .and_then(|s| s.strip_prefix("sha256:"))
                .is_some_and(is_hex64)
        },
        || "`sha256:` followed by 64 lowercase hex digits".into(),
    )?;
    expect(
        at("value"),
        "signature.value",
        |v| {
            v.as_str()
                .is_some_and(|s| !s.is_empty() && STANDARD.decode(s).is_ok())
        },
        || "standard padded base64".into(),
    )
}

/// Unknown keys first (in sorted order), then missing ones (in schema order).
fn members(obj: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), Violation> {
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err((
            VerifyErrorKind::UnknownKey,
            format!("unknown key `{}`", join(path, k)),
        ));
    }
    if let Some(k) = allowed.iter().find(|k| !obj.contains_key(**k)) {
        return Err((
            VerifyErrorKind::MissingKey,
            format!("missing key `{}`", join(path, k)),
        ));
    }
    Ok(())
}

/// `path.key`, with control and non-ASCII characters of an untrusted key
/// escaped so that a message stays one printable line.
fn join(path: &str, key: &str) -> String {
    let mut out = String::with_capacity(path.len() + key.len() + 1);
    if !path.is_empty() {
        out.push_str(path);
        out.push('.');
    }
    for c in key.chars() {
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, Violation> {
    v.as_object().ok_or_else(|| bad(path, "an object", v))
}

fn uint(v: &Value, path: &str) -> Result<(), Violation> {
    expect(
        v,
        path,
        |v| v.as_u64().is_some_and(|n| n <= MAX_SAFE_INTEGER),
        || "an integer between 0 and 2^53-1".into(),
    )
}

fn opt_str(v: &Value, path: &str) -> Result<(), Violation> {
    expect(
        v,
        path,
        |v| v.is_null() || v.is_string(),
        || "a string or null".into(),
    )
}

fn expect(
    v: &Value,
    path: &str,
    ok: impl Fn(&Value) -> bool,
    wanted: impl Fn() -> String,
) -> Result<(), Violation> {
    if ok(v) {
        Ok(())
    } else {
        Err(bad(path, &wanted(), v))
    }
}

fn bad(path: &str, wanted: &str, found: &Value) -> Violation {
    let mut shown = found.to_string();
    if shown.chars().count() > 60 {
        shown = shown.chars().take(57).collect::<String>() + "...";
    }
    (
        VerifyErrorKind::BadValue,
        format!("`{path}` must be {wanted}, found `{shown}`"),
    )
}

pub(crate) fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
