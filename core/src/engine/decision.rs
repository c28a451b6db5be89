//! The [`Decision`] value every request produces.

use crate::action_class::ActionClass;
use crate::decision::{Outcome, ReasonCode, Stage};
use crate::normalize::Intent;

/// Identifies one mapping rule: the file it came from and its 1-based position.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuleRef {
    /// The rule file's name as given to the compiler (usually its path).
    pub file: String,
    /// 1-based index of the `[[rules]]` entry within that file.
    pub index: usize,
}

impl std::fmt::Display for RuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.file, self.index)
    }
}

/// Who made the call, from a verified capability token. All `None` in
/// policy-only mode; never taken from request headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Principal {
    /// Agent id (`agt_…`).
    pub agent_id: Option<String>,
    /// Capability token id (`ctok_…`).
    pub token_id: Option<String>,
    /// Session id from the token claims.
    pub session_id: Option<String>,
}

/// The result of enforcing one request. Built only by the engine; the shell may
/// turn an ALLOW into an ABORT with [`Decision::abort`] after a failed dispatch,
/// or into an `EnforcementTimeout` deny with [`Decision::with_elapsed`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Decision {
    /// ALLOW, DENY, PASSTHROUGH or ABORT.
    pub outcome: Outcome,
    /// Set for DENY and ABORT, `None` otherwise.
    pub reason: Option<ReasonCode>,
    /// Stage that decided.
    pub stage: Stage,
    /// Human-readable explanation (goes into the deny body and the audit record).
    pub detail: String,
    /// The normalized request; `None` only when normalization failed.
    pub intent: Option<Intent>,
    /// Mapped action class; `None` when unmapped or malformed.
    pub action_class: Option<ActionClass>,
    /// Provider tag for curated hosts (`github`, `stripe`, `gmail`).
    pub provider: Option<&'static str>,
    /// The mapping rule that classified the request.
    pub rule: Option<RuleRef>,
    /// Ids of the Cedar policies that determined the verdict, sorted.
    pub matched_policies: Vec<String>,
    /// Version (hex SHA-256) of the bundle that was consulted, if any.
    pub bundle_version: Option<String>,
    /// Verified identity of the caller (Stage 1); empty in policy-only mode.
    pub principal: Principal,
}

impl Decision {
    /// A DENY `MalformedRequest` for a request the shell's HTTP parser could
    /// not read at all (no intent), SDC-13.
    pub fn malformed(detail: impl Into<String>) -> Decision {
        Decision::unclassified(
            Outcome::Deny,
            Some(ReasonCode::MalformedRequest),
            Stage::Normalization,
            detail.into(),
            None,
        )
    }

    /// A decision taken before any rule classified the request (no action
    /// class, rule, policy or bundle attached).
    pub(crate) fn unclassified(
        outcome: Outcome,
        reason: Option<ReasonCode>,
        stage: Stage,
        detail: String,
        intent: Option<Intent>,
    ) -> Decision {
        Decision {
            outcome,
            reason,
            stage,
            detail,
            intent,
            action_class: None,
            provider: None,
            rule: None,
            matched_policies: Vec::new(),
            bundle_version: None,
            principal: Principal::default(),
        }
    }

    /// True when the shell must forward the call (ALLOW or PASSTHROUGH).
    pub fn forwards(&self) -> bool {
        self.outcome.forwards()
    }

    /// Turn a forwarded decision into ABORT after the upstream failed.
    /// `reason` should be `UpstreamUnavailable` or `UpstreamTimeout`.
    pub fn abort(mut self, reason: ReasonCode, detail: impl Into<String>) -> Decision {
        self.outcome = Outcome::Abort;
        self.reason = Some(reason);
        self.stage = Stage::Dispatch;
        self.detail = detail.into();
        self
    }
}

impl Decision {
    /// The JSON body answered to the client for a DENY or ABORT (DEC-13):
    /// `{"denied":true,"reason":…,"detail":…,"event_id":…}` or the `aborted`
    /// form. `None` for decisions that forward.
    pub fn response_body(&self, event_id: &str) -> Option<String> {
        let flag = match self.outcome {
            crate::Outcome::Deny => "denied",
            crate::Outcome::Abort => "aborted",
            crate::Outcome::Allow | crate::Outcome::Passthrough => return None,
        };
        let reason = self.reason.unwrap_or(ReasonCode::FailClosed);
        Some(answer_body(flag, reason, &self.detail, event_id))
    }

    /// HTTP status for the client: 403 for DENY, 504 for an upstream timeout,
    /// 502 for other ABORTs, `None` for forwarded calls.
    pub fn response_status(&self) -> Option<u16> {
        match (self.outcome, self.reason) {
            (crate::Outcome::Deny, _) => Some(403),
            (crate::Outcome::Abort, Some(crate::ReasonCode::UpstreamTimeout)) => Some(504),
            (crate::Outcome::Abort, _) => Some(502),
            (crate::Outcome::Allow | crate::Outcome::Passthrough, _) => None,
        }
    }
}

/// The DEC-13 body of a DENY answered without a decision record to build it
/// from (e.g. the audit write itself failed).
pub fn deny_body(reason: ReasonCode, detail: &str, event_id: &str) -> String {
    answer_body("denied", reason, detail, event_id)
}

fn answer_body(flag: &str, reason: ReasonCode, detail: &str, event_id: &str) -> String {
    format!(
        "{{\"{flag}\":true,\"reason\":{},\"detail\":{},\"event_id\":{}}}",
        json_string(reason.as_str()),
        json_string(detail),
        json_string(event_id)
    )
}

fn json_string(s: &str) -> String {
    // serde_json's string escaping cannot fail for &str.
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}
