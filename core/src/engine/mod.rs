//! The enforcement state machine (spec `DEC-*`, `TTL-*`).
//!
//! [`Engine`] owns the compiled mapping rules, the active policy bundle and the
//! readiness state. The shell drives it:
//!
//! 1. build it with [`Engine::policy_only`] (no Authority) or
//!    [`Engine::awaiting_authority`];
//! 2. feed inputs as they arrive: [`Engine::handle_bundle`],
//!    [`Engine::handle_capabilities`], [`Engine::handle_revocations`],
//!    [`Engine::handle_revocations_ready`];
//! 3. for every request call [`Engine::decide`] with the request head and the
//!    current wall time, then [`Engine::finish`] with the time enforcement took;
//! 4. arm one timer at [`Engine::poll_timeout`] (bundle expiry) if it wants to log
//!    staleness; decisions never depend on the timer firing, only on `now`.
//!
//! `now` is supplied by the caller and should not go backwards; if it does,
//! freshness is judged against the earlier load time (never extended).

mod decision;
mod protect;
mod stage1;
mod tunnel;

use std::sync::Arc;
use std::time::Duration;

pub use decision::{Decision, Principal, RuleRef, deny_body};
pub use protect::ProtectedEndpoints;
pub use stage1::{Capabilities, Stage1};
pub use tunnel::{ConnectStep, InterceptFailure, Interception};

use crate::config::MitmConfig;
use crate::decision::{Outcome, ReasonCode, Stage};
use crate::mapping::{self, RuleSet};
use crate::normalize::{self, Intent, RawRequest};
use crate::policy::{Bundle, PolicyContext, PolicyRequest, ResourceAttrs};
use crate::time::UnixTime;
use crate::token::{Revocation, RevocationSet};

/// Principal id used for Cedar in policy-only mode (no capability token).
pub const ANONYMOUS_AGENT: &str = "anonymous";

/// The engine settings taken from `[sidecar.*]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// `[sidecar.mapping] default_protected`: deny unmapped calls when true.
    pub default_protected: bool,
    /// `[sidecar.constraint_enforcement] bundle_ttl_seconds` (policy-only mode).
    pub bundle_ttl: Duration,
    /// `[sidecar.constraint_enforcement] enforcement_timeout_ms`.
    pub enforcement_timeout: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            default_protected: true,
            bundle_ttl: Duration::from_secs(3600),
            enforcement_timeout: Duration::from_millis(50),
        }
    }
}

#[derive(Clone, Debug)]
struct ActiveBundle {
    bundle: Arc<Bundle>,
    loaded_at: UnixTime,
    ttl: Duration,
}

impl ActiveBundle {
    fn deadline(&self) -> UnixTime {
        self.loaded_at.saturating_add(self.ttl)
    }
}

/// The sans-IO enforcement engine. Cheap to share behind an `Arc`; inputs that
/// change state take `&mut self`. Cloning copies the mutable state (the
/// revocation set and the token store) and shares the rules and the bundle,
/// so a shell can apply an input to a copy and publish it atomically.
#[derive(Clone, Debug)]
pub struct Engine {
    config: EngineConfig,
    rules: Arc<RuleSet>,
    bundle: Option<ActiveBundle>,
    revocations_ready: bool,
    revocations: RevocationSet,
    stage1: Stage1,
    protected: ProtectedEndpoints,
    mitm: MitmConfig,
}

impl Engine {
    /// Policy-only mode (no Authority, DEC-9): the bundle is loaded once at
    /// `loaded_at` and lives for `config.bundle_ttl`; Stage 1 is bypassed.
    pub fn policy_only(
        config: EngineConfig,
        rules: Arc<RuleSet>,
        bundle: Arc<Bundle>,
        loaded_at: UnixTime,
    ) -> Engine {
        Engine {
            config,
            rules,
            bundle: Some(ActiveBundle {
                bundle,
                loaded_at,
                ttl: config.bundle_ttl,
            }),
            revocations_ready: true,
            revocations: RevocationSet::new(),
            stage1: Stage1::Bypassed,
            protected: ProtectedEndpoints::default(),
            mitm: MitmConfig::disabled(),
        }
    }

    /// Authority mode: nothing is enforced until a bundle and the revocation
    /// stream have arrived (DEC-6); Stage 1 checks capability tokens.
    pub fn awaiting_authority(
        config: EngineConfig,
        rules: Arc<RuleSet>,
        capabilities: Capabilities,
    ) -> Engine {
        Engine {
            config,
            rules,
            bundle: None,
            revocations_ready: false,
            revocations: RevocationSet::new(),
            stage1: Stage1::Tokens(capabilities),
            protected: ProtectedEndpoints::default(),
            mitm: MitmConfig::disabled(),
        }
    }

    /// A new policy bundle arrived at `now` with its own TTL (TTL-3). Replaces
    /// the active bundle atomically from the caller's point of view.
    pub fn handle_bundle(&mut self, bundle: Arc<Bundle>, ttl: Duration, now: UnixTime) {
        self.bundle = Some(ActiveBundle {
            bundle,
            loaded_at: now,
            ttl,
        });
    }

    /// The Authority re-sent the active bundle (same version): it is fresh
    /// again from `now` for `ttl`, without recompiling (TTL-1). Does nothing
    /// when no bundle is loaded.
    pub fn refresh_bundle(&mut self, ttl: Duration, now: UnixTime) {
        if let Some(active) = &mut self.bundle {
            active.loaded_at = now;
            active.ttl = ttl;
        }
    }

    /// Destinations that must never be reached through the proxy (the
    /// sidecar's own listener, the Authority), DEC-15.
    pub fn set_protected_endpoints(&mut self, endpoints: ProtectedEndpoints) {
        self.protected = endpoints;
    }

    /// Which CONNECT targets are TLS-terminated (`[sidecar.interceptor.https_mitm]`,
    /// MITM-1). Default: none.
    pub fn set_interception(&mut self, mitm: MitmConfig) {
        self.mitm = mitm;
    }

    /// The interception settings.
    pub fn interception(&self) -> &MitmConfig {
        &self.mitm
    }

    /// Re-check a forwarding decision against the address the shell resolved
    /// for it (DEC-15): a DNS name that resolves to a protected endpoint is
    /// denied like the literal address would have been.
    pub fn check_resolved(&self, decision: Decision, addr: std::net::SocketAddr) -> Decision {
        if !decision.forwards() || !self.protected.contains_addr(addr) {
            return decision;
        }
        let mut d = decision;
        d.outcome = Outcome::Deny;
        d.reason = Some(ReasonCode::ProtectedEndpoint);
        d.detail = format!(
            "destination resolves to `{addr}`, a protected endpoint (the sidecar itself or the Authority)"
        );
        d
    }

    /// Replace the capability tokens (seed files reloaded, TOK-19). Takes
    /// effect for the next decision. In policy-only mode Stage 1 is bypassed
    /// (DEC-7) and the tokens are not consulted.
    pub fn handle_capabilities(&mut self, capabilities: Capabilities) {
        if let Stage1::Tokens(current) = &mut self.stage1 {
            *current = capabilities;
        }
    }

    /// Revocations arrived (stream events or a file load, TOK-20): merged
    /// into the set Stage 1 consults; an id already revoked is a no-op.
    /// Does not by itself mark the revocation state ready.
    pub fn handle_revocations(&mut self, revocations: impl IntoIterator<Item = Revocation>) {
        self.revocations.extend(revocations);
    }

    /// The revocations Stage 1 consults.
    pub fn revocations(&self) -> &RevocationSet {
        &self.revocations
    }

    /// The revocation stream has hydrated.
    pub fn handle_revocations_ready(&mut self) {
        self.revocations_ready = true;
    }

    /// True once a bundle and the revocation state are in place.
    pub fn is_ready(&self) -> bool {
        self.bundle.is_some() && self.revocations_ready
    }

    /// When the active bundle turns stale, if one is loaded.
    pub fn poll_timeout(&self) -> Option<UnixTime> {
        self.bundle.as_ref().map(ActiveBundle::deadline)
    }

    /// The engine settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The compiled mapping rules.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The active bundle, if any.
    pub fn bundle(&self) -> Option<&Bundle> {
        self.bundle.as_ref().map(|b| &*b.bundle)
    }

    /// Decide one request at wall time `now` (DEC-1): normalize → map →
    /// readiness → Stage 1 → Stage 2. Never panics, never returns an error:
    /// every failure is a DENY with a reason code.
    pub fn decide(&self, req: &RawRequest<'_>, now: UnixTime) -> Decision {
        let intent = match normalize::normalize(req) {
            Ok(intent) => intent,
            Err(malformed) => {
                return deny(
                    None,
                    ReasonCode::MalformedRequest,
                    Stage::Normalization,
                    malformed.detail,
                );
            }
        };
        self.decide_intent(intent, now)
    }

    /// Apply the enforcement budget (DEC-11): a forwarding decision whose
    /// enforcement took longer than `enforcement_timeout` becomes a DENY
    /// `EnforcementTimeout`. Denies keep their own reason.
    pub fn finish(&self, decision: Decision, elapsed: Duration) -> Decision {
        if !decision.forwards() || elapsed <= self.config.enforcement_timeout {
            return decision;
        }
        let mut d = decision;
        d.outcome = Outcome::Deny;
        d.reason = Some(ReasonCode::EnforcementTimeout);
        d.detail = format!(
            "enforcement took {} ms, over the {} ms budget (enforcement_timeout_ms)",
            elapsed.as_millis(),
            self.config.enforcement_timeout.as_millis()
        );
        d
    }

    fn decide_intent(&self, intent: Intent, now: UnixTime) -> Decision {
        // Protected endpoints (DEC-15) before anything else.
        if self.protected.contains(&intent.host, intent.port) {
            let detail = format!(
                "`{}:{}` is a protected endpoint (the sidecar itself or the Authority) and cannot be reached through the proxy",
                intent.host, intent.port
            );
            return deny(
                Some(intent),
                ReasonCode::ProtectedEndpoint,
                Stage::Normalization,
                detail,
            );
        }
        // Mapping (DEC-2, DEC-3, DEC-4).
        let Some(m) = self.rules.classify(&intent) else {
            let what = describe(&intent);
            return if self.config.default_protected {
                deny(
                    Some(intent),
                    ReasonCode::MappingNotFound,
                    Stage::Mapping,
                    format!("no mapping rule classifies `{what}` and default_protected = true"),
                )
            } else {
                let detail = format!(
                    "unmapped `{what}` passed through without enforcement (default_protected = false)"
                );
                Decision::unclassified(
                    Outcome::Passthrough,
                    None,
                    Stage::Mapping,
                    detail,
                    Some(intent),
                )
            };
        };
        let action = m.action_class;
        let rule = m.rule.clone();
        let provider = mapping::provider_for_host(&intent.host);
        let classified = |outcome, reason, stage, detail: String, intent| Decision {
            outcome,
            reason,
            stage,
            detail,
            intent: Some(intent),
            action_class: Some(action),
            provider,
            rule: Some(rule.clone()),
            matched_policies: Vec::new(),
            bundle_version: None,
            principal: Principal::default(),
        };

        // Readiness gate (DEC-6).
        let Some(active) = &self.bundle else {
            return classified(
                Outcome::Deny,
                Some(ReasonCode::PolicyBundleNotReady),
                Stage::Readiness,
                "no policy bundle has been received from the Authority yet".to_owned(),
                intent,
            );
        };
        if !self.revocations_ready {
            return classified(
                Outcome::Deny,
                Some(ReasonCode::RevocationCacheNotReady),
                Stage::Readiness,
                "the revocation list has not been received from the Authority yet".to_owned(),
                intent,
            );
        }

        // Stage 1 (DEC-7).
        let resource_id = intent.resource_id();
        let principal = match self
            .stage1
            .check(action, &resource_id, now, &self.revocations)
        {
            Ok(p) => p,
            Err((reason, detail)) => {
                return classified(
                    Outcome::Deny,
                    Some(reason),
                    Stage::Capability,
                    detail,
                    intent,
                );
            }
        };
        let agent = principal
            .agent_id
            .clone()
            .unwrap_or_else(|| ANONYMOUS_AGENT.to_owned());

        // Stage 2: freshness (TTL-1, TTL-2), then Cedar (DEC-8).
        let version = active.bundle.version().to_owned();
        if now >= active.deadline() {
            let mut d = classified(
                Outcome::Deny,
                Some(ReasonCode::PolicyBundleStale),
                Stage::Policy,
                format!(
                    "policy bundle {} expired at {} (loaded {}, ttl {} s)",
                    short(&version),
                    active.deadline(),
                    active.loaded_at,
                    active.ttl.as_secs()
                ),
                intent,
            );
            d.bundle_version = Some(version);
            d.principal = principal;
            return d;
        }
        let context = PolicyContext {
            timestamp_ms: i64::try_from(now.as_millis()).unwrap_or(i64::MAX),
            raw_transport: intent.scheme.as_str().to_owned(),
            method: intent.method.clone(),
            session_id: principal.session_id.clone().unwrap_or_default(),
            ..PolicyContext::default()
        };
        let request = PolicyRequest {
            principal: &agent,
            action,
            resource: ResourceAttrs {
                host: &intent.authority,
                path: &intent.path,
                provider,
            },
            context: &context,
        };
        let result = active.bundle.evaluate(&request);
        let mut d = match result {
            Err(e) => classified(
                Outcome::Deny,
                Some(ReasonCode::FailClosed),
                Stage::Policy,
                format!("policy evaluation failed, denying: {e}"),
                intent,
            ),
            Ok(verdict) if verdict.allowed => {
                let detail = format!(
                    "permitted `{action}` on `{resource_id}` by {}",
                    verdict.policies.join(", ")
                );
                let mut d = classified(Outcome::Allow, None, Stage::Policy, detail, intent);
                d.matched_policies = verdict.policies;
                d
            }
            Ok(verdict) => {
                let why = if verdict.policies.is_empty() {
                    "no policy permits it".to_owned()
                } else {
                    format!("forbidden by {}", verdict.policies.join(", "))
                };
                let detail = format!("policy denied `{action}` on `{resource_id}`: {why}");
                let mut d = classified(
                    Outcome::Deny,
                    Some(ReasonCode::PolicyDenied),
                    Stage::Policy,
                    detail,
                    intent,
                );
                d.matched_policies = verdict.policies;
                d
            }
        };
        d.bundle_version = Some(version);
        d.principal = principal;
        d
    }
}

fn deny(intent: Option<Intent>, reason: ReasonCode, stage: Stage, detail: String) -> Decision {
    Decision::unclassified(Outcome::Deny, Some(reason), stage, detail, intent)
}

/// `METHOD authority/path` for messages.
fn describe(intent: &Intent) -> String {
    if intent.connect {
        format!("CONNECT {}:{}", intent.host, intent.port)
    } else {
        format!("{} {}{}", intent.method, intent.authority, intent.path)
    }
}

fn short(version: &str) -> &str {
    version.get(..12).unwrap_or(version)
}
