//! Building the audit record of one [`Decision`] (spec `AUD-2`..`AUD-9`).

use serde_json::{Map, Value, json};

use super::redact::redact_query_with;
use crate::engine::Decision;
use crate::normalize::Intent;
use crate::time::UnixTime;

/// Value of the `schema` member.
pub const SCHEMA: &str = "firma.audit.v1";

/// Largest integer written to a record (2^53 − 1, the I-JSON safe range);
/// `latency_us` saturates at it.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Per-record facts supplied by the shell.
#[derive(Clone, Copy, Debug)]
pub struct RecordMeta<'a> {
    /// Event id (`aevt_…`), also returned in the deny body.
    pub event_id: &'a str,
    /// When the decision was taken.
    pub timestamp: UnixTime,
    /// Enforcement latency in microseconds.
    pub latency_us: u64,
}

/// The record without its `signature` member.
pub(crate) fn unsigned_record(
    decision: &Decision,
    meta: &RecordMeta<'_>,
    seq: u64,
    prev_hash: &str,
    extra_redactions: &[String],
) -> Value {
    let p = &decision.principal;
    json!({
        "schema": SCHEMA,
        "seq": seq,
        "event_id": meta.event_id,
        "timestamp": meta.timestamp.to_string(),
        "session_id": p.session_id,
        "agent_id": p.agent_id,
        "token_id": p.token_id,
        "envelope": { "intent": intent_json(decision, extra_redactions) },
        "decision": {
            "outcome": decision.outcome.as_str(),
            "reason": decision.reason.map(|r| r.as_str()),
            "stage": decision.stage.as_str(),
            "detail": decision.detail,
            "matched_policies": decision.matched_policies,
            "bundle_version": decision.bundle_version,
            "rule": decision.rule.as_ref().map(ToString::to_string),
        },
        "latency_us": meta.latency_us.min(MAX_SAFE_INTEGER),
        "prev_hash": prev_hash,
    })
}

fn intent_json(decision: &Decision, extra_redactions: &[String]) -> Value {
    let action_class = decision.action_class.map(|c| c.as_str());
    let mut intent = Map::new();
    intent.insert("action_class".into(), json!(action_class));
    match &decision.intent {
        Some(i) if i.connect => {
            intent.insert("method".into(), json!("CONNECT"));
            intent.insert("scheme".into(), json!(i.scheme.as_str()));
            intent.insert("resource".into(), json!({ "host": connect_authority(i) }));
            intent.insert("query".into(), Value::Null);
        }
        Some(i) => {
            intent.insert("method".into(), json!(i.method));
            intent.insert("scheme".into(), json!(i.scheme.as_str()));
            intent.insert(
                "resource".into(),
                json!({ "host": i.authority, "path": i.path, "provider": decision.provider }),
            );
            intent.insert("query".into(), json!(i.query.as_deref().map(|q| redact_query_with(q, extra_redactions))));
        }
        None => {
            intent.insert("method".into(), Value::Null);
            intent.insert("scheme".into(), Value::Null);
            intent.insert(
                "resource".into(),
                json!({ "host": null, "path": null, "provider": null }),
            );
            intent.insert("query".into(), Value::Null);
        }
    }
    Value::Object(intent)
}

/// `host:port` with the port always shown, as a tunnel target is written.
fn connect_authority(i: &Intent) -> String {
    format!("{}:{}", i.host, i.port)
}
