//! Building the audit record of one [`Decision`] (spec `AUD-2`..`AUD-9`).
//!
//! The record is written straight into its RFC 8785 canonical form (AUD-10):
//! every member name is fixed ASCII, so the sorted member order is known here
//! and spelled out below, and every string goes through the canonical
//! escaper. No intermediate JSON tree is built.

use std::fmt::Write as _;

use super::canonical::{Escaped, write_string};
use super::redact::redact_query_with;
use crate::engine::Decision;
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

/// Append the canonical JSON of the record without its `signature` member to
/// `out`. Returns the byte offset in `out` where the `,"signature":{…}`
/// member belongs (right after `session_id`, which sorts just before it).
///
/// Top-level member order (UTF-16 code unit order, AUD-10): `agent_id`,
/// `decision`, `envelope`, `event_id`, `latency_us`, `prev_hash`, `schema`,
/// `seq`, `session_id`, [`signature`], `timestamp`, `token_id`.
pub(crate) fn write_unsigned(
    out: &mut String,
    decision: &Decision,
    meta: &RecordMeta<'_>,
    seq: u64,
    prev_hash: &str,
    extra_redactions: &[String],
) -> usize {
    let p = &decision.principal;
    out.push_str("{\"agent_id\":");
    opt_string(out, p.agent_id.as_deref());
    out.push_str(",\"decision\":");
    write_decision(out, decision);
    out.push_str(",\"envelope\":{\"intent\":");
    write_intent(out, decision, extra_redactions);
    out.push_str("},\"event_id\":");
    write_string(out, meta.event_id);
    out.push_str(",\"latency_us\":");
    let _ = write!(out, "{}", meta.latency_us.min(MAX_SAFE_INTEGER));
    out.push_str(",\"prev_hash\":");
    write_string(out, prev_hash);
    out.push_str(",\"schema\":");
    write_string(out, SCHEMA);
    out.push_str(",\"seq\":");
    let _ = write!(out, "{seq}");
    out.push_str(",\"session_id\":");
    opt_string(out, p.session_id.as_deref());
    let signature_at = out.len();
    out.push_str(",\"timestamp\":\"");
    let _ = write!(Escaped(out), "{}", meta.timestamp);
    out.push_str("\",\"token_id\":");
    opt_string(out, p.token_id.as_deref());
    out.push('}');
    signature_at
}

/// Member order: `bundle_version`, `detail`, `matched_policies`, `outcome`,
/// `reason`, `rule`, `stage`.
fn write_decision(out: &mut String, d: &Decision) {
    out.push_str("{\"bundle_version\":");
    opt_string(out, d.bundle_version.as_deref());
    out.push_str(",\"detail\":");
    write_string(out, &d.detail);
    out.push_str(",\"matched_policies\":[");
    for (i, id) in d.matched_policies.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, id);
    }
    out.push_str("],\"outcome\":");
    write_string(out, d.outcome.as_str());
    out.push_str(",\"reason\":");
    opt_string(out, d.reason.map(|r| r.as_str()));
    out.push_str(",\"rule\":");
    match &d.rule {
        Some(rule) => {
            out.push('"');
            let _ = write!(Escaped(out), "{rule}");
            out.push('"');
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"stage\":");
    write_string(out, d.stage.as_str());
    out.push('}');
}

/// Member order: `action_class`, `method`, `query`, `resource`, `scheme`;
/// `resource` is `host`, `path`, `provider` (only `host` for CONNECT).
fn write_intent(out: &mut String, d: &Decision, extra_redactions: &[String]) {
    out.push_str("{\"action_class\":");
    opt_string(out, d.action_class.map(|c| c.as_str()));
    match &d.intent {
        Some(i) if i.connect => {
            out.push_str(",\"method\":\"CONNECT\",\"query\":null,\"resource\":{\"host\":\"");
            // `host:port` with the port always shown, as a tunnel target is written.
            let _ = write!(Escaped(out), "{}:{}", i.host, i.port);
            out.push_str("\"},\"scheme\":");
            write_string(out, i.scheme.as_str());
        }
        Some(i) => {
            out.push_str(",\"method\":");
            write_string(out, &i.method);
            out.push_str(",\"query\":");
            match i.query.as_deref() {
                Some(q) => write_string(out, &redact_query_with(q, extra_redactions)),
                None => out.push_str("null"),
            }
            out.push_str(",\"resource\":{\"host\":");
            write_string(out, &i.authority);
            out.push_str(",\"path\":");
            write_string(out, &i.path);
            out.push_str(",\"provider\":");
            opt_string(out, d.provider);
            out.push_str("},\"scheme\":");
            write_string(out, i.scheme.as_str());
        }
        None => out.push_str(
            ",\"method\":null,\"query\":null,\"resource\":{\"host\":null,\"path\":null,\"provider\":null},\"scheme\":null",
        ),
    }
    out.push('}');
}

fn opt_string(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => write_string(out, s),
        None => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    //! The direct writer against an independent oracle: the same record built
    //! as a `serde_json::Value` and run through the generic canonicalizer.

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::action_class::ActionClass;
    use crate::audit::canonicalize;
    use crate::decision::{Outcome, ReasonCode, Stage};
    use crate::engine::{Principal, RuleRef};
    use crate::normalize::{Intent, Scheme};

    fn oracle(
        d: &Decision,
        meta: &RecordMeta<'_>,
        seq: u64,
        prev: &str,
        extra: &[String],
    ) -> Value {
        let p = &d.principal;
        let intent = match &d.intent {
            Some(i) if i.connect => json!({
                "action_class": d.action_class.map(|c| c.as_str()),
                "method": "CONNECT", "scheme": i.scheme.as_str(),
                "resource": { "host": format!("{}:{}", i.host, i.port) }, "query": null,
            }),
            Some(i) => json!({
                "action_class": d.action_class.map(|c| c.as_str()),
                "method": i.method, "scheme": i.scheme.as_str(),
                "resource": { "host": i.authority, "path": i.path, "provider": d.provider },
                "query": i.query.as_deref().map(|q| redact_query_with(q, extra)),
            }),
            None => json!({
                "action_class": d.action_class.map(|c| c.as_str()),
                "method": null, "scheme": null, "query": null,
                "resource": { "host": null, "path": null, "provider": null },
            }),
        };
        json!({
            "schema": SCHEMA, "seq": seq, "event_id": meta.event_id,
            "timestamp": meta.timestamp.to_string(),
            "session_id": p.session_id, "agent_id": p.agent_id, "token_id": p.token_id,
            "envelope": { "intent": intent },
            "decision": {
                "outcome": d.outcome.as_str(), "reason": d.reason.map(|r| r.as_str()),
                "stage": d.stage.as_str(), "detail": d.detail,
                "matched_policies": d.matched_policies, "bundle_version": d.bundle_version,
                "rule": d.rule.as_ref().map(ToString::to_string),
            },
            "latency_us": meta.latency_us.min(MAX_SAFE_INTEGER),
            "prev_hash": prev,
        })
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9./#:_-]{0,10}",
            "[\\x00-\\x1f\"\\\\/\u{7f}\u{80}-\u{10ffff}a]{0,8}"
        ]
    }

    prop_compose! {
        fn decision()(
            kind in 0u8..3,
            deny in any::<bool>(),
            strings in proptest::collection::vec(text(), 9),
            query in proptest::option::of("[a-zA-Z_]{1,6}=[^&]{0,6}(&[a-z_]{1,6}=[^&]{0,4}){0,2}"),
            policies in proptest::collection::vec(text(), 0..3),
            opts in proptest::collection::vec(any::<bool>(), 6),
            port in any::<u16>(),
        ) -> Decision {
            let s = |i: usize| strings.get(i).cloned().unwrap_or_default();
            let intent = (kind < 2).then(|| Intent {
                method: s(0),
                scheme: if kind == 1 { Scheme::Https } else { Scheme::Http },
                connect: kind == 1,
                host: s(1),
                port,
                authority: s(2),
                path: s(3),
                query: query.clone(),
                forward_target: String::new(),
            });
            Decision {
                outcome: if deny { Outcome::Deny } else { Outcome::Allow },
                reason: deny.then_some(ReasonCode::PolicyDenied),
                stage: Stage::Policy,
                detail: s(4),
                intent,
                action_class: opts[0].then_some(ActionClass::CommunicationExternalSend),
                provider: opts[1].then_some("github"),
                rule: opts[2].then(|| RuleRef { file: s(5), index: usize::from(port) }),
                matched_policies: policies,
                bundle_version: opts[3].then(|| s(6)),
                principal: Principal {
                    agent_id: opts[4].then(|| s(7)),
                    token_id: opts[5].then(|| s(8)),
                    session_id: opts[4].then(|| s(1)),
                },
            }
        }
    }

    proptest! {
        // AUD-1, AUD-2, AUD-10: the direct writer is byte-identical to the
        // canonical form of the record built as a JSON value, and the offset
        // it returns is where `signature` sorts.
        #[test]
        fn aud_10_direct_writer_matches_canonical_value(
            d in decision(),
            event_id in text(),
            secs in 0u64..4_000_000_000,
            latency in any::<u64>(),
            seq in any::<u64>(),
            extra in proptest::collection::vec("[a-z]{1,3}", 0..2),
        ) {
            let meta = RecordMeta { event_id: &event_id, timestamp: UnixTime::from_secs(secs), latency_us: latency };
            let prev = "ab".repeat(32);
            let mut got = String::new();
            let at = write_unsigned(&mut got, &d, &meta, seq, &prev, &extra);
            let mut value = oracle(&d, &meta, seq, &prev, &extra);
            prop_assert_eq!(&got, &canonicalize(&value).unwrap());
            if let Value::Object(map) = &mut value {
                map.insert("signature".into(), json!({"alg": "ES256", "key_id": "k", "value": "v"}));
            }
            let mut spliced = got.clone();
            spliced.insert_str(at, ",\"signature\":{\"alg\":\"ES256\",\"key_id\":\"k\",\"value\":\"v\"}");
            prop_assert_eq!(spliced, canonicalize(&value).unwrap());
        }
    }
}
