//! The members of an audit record (spec/audit.md, AUD-2) the monitor reads.

use firma_core::UnixTime;
use serde_json::Value;

/// What the monitor needs from one audit line; `None` members were null,
/// missing or of the wrong type.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AuditView {
    /// `timestamp`.
    pub time: Option<UnixTime>,
    /// `decision.outcome` (`ALLOW`, `DENY`, `PASSTHROUGH`, `ABORT`).
    pub outcome: Option<String>,
    /// `decision.reason`.
    pub reason: Option<String>,
    /// `envelope.intent.action_class`.
    pub action_class: Option<String>,
    /// `envelope.intent.method`.
    pub method: Option<String>,
    /// `envelope.intent.resource.host`.
    pub host: Option<String>,
    /// `envelope.intent.resource.path`.
    pub path: Option<String>,
    /// `agent_id`.
    pub agent_id: Option<String>,
}

impl AuditView {
    /// Reads a line; `None` when it is not a JSON object.
    pub fn parse(line: &[u8]) -> Option<AuditView> {
        let v: Value = serde_json::from_slice(line).ok()?;
        if !v.is_object() {
            return None;
        }
        let s = |ptr: &str| v.pointer(ptr).and_then(Value::as_str).map(str::to_owned);
        Some(AuditView {
            time: v
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(UnixTime::parse_rfc3339),
            outcome: s("/decision/outcome"),
            reason: s("/decision/reason"),
            action_class: s("/envelope/intent/action_class"),
            method: s("/envelope/intent/method"),
            host: s("/envelope/intent/resource/host"),
            path: s("/envelope/intent/resource/path"),
            agent_id: s("/agent_id"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_members() {
        let line = br#"{"agent_id":"agt_1","decision":{"outcome":"DENY","reason":"POLICY_DENY"},"envelope":{"intent":{"action_class":"communication.external.send","method":"POST","resource":{"host":"paste.rs","path":"/","provider":null}}},"timestamp":"2026-11-22T02:24:12.123456Z"}"#;
        let v = AuditView::parse(line).unwrap();
        assert_eq!(v.outcome.as_deref(), Some("DENY"));
        assert_eq!(v.reason.as_deref(), Some("POLICY_DENY"));
        assert_eq!(
            v.action_class.as_deref(),
            Some("communication.external.send")
        );
        assert_eq!(v.method.as_deref(), Some("POST"));
        assert_eq!(v.host.as_deref(), Some("paste.rs"));
        assert_eq!(v.path.as_deref(), Some("/"));
        assert_eq!(v.agent_id.as_deref(), Some("agt_1"));
        assert_eq!(
            v.time,
            UnixTime::parse_rfc3339("2026-11-22T02:24:12.123456Z")
        );
        assert_eq!(AuditView::parse(b"{\"schema\":"), None);
        assert_eq!(AuditView::parse(b"[1]"), None);
        assert_eq!(AuditView::parse(b"{}"), Some(AuditView::default()));
    }
}
