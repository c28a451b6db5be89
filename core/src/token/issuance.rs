//! Issuance decisions of the Mini Authority (spec `spec/issuance.md`,
//! `ISS-*`): which of the requested action classes a capability token may
//! grant, for how long, and the claims to sign.
//!
//! Sans-IO: the compiled issuance policies, the enforcement bundle version,
//! the token id, the current time and the TTL limit are arguments. The shell
//! signs the returned [`Claims`] with [`Capability::issue`](super::Capability::issue).

use std::fmt;
use std::time::Duration;

use super::claims::Claims;
use super::error::show;
use super::ids::{agent_id_problem, context_hash, session_id_problem, token_id_from_uuid};
use super::scope::ResourceScope;
use crate::action_class::ActionClass;
use crate::policy::{Bundle, PolicyContext, PolicyRequest, ResourceAttrs};
use crate::time::UnixTime;

/// Why nothing was issued (the RPC's `deny_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DenialCode {
    /// A malformed agent id, session id, resource scope or action class (ISS-2).
    InvalidRequest,
    /// No action was requested (ISS-3).
    NoActions,
    /// There are no issuance policies, so nothing can be authorized (ISS-4).
    NoPolicies,
    /// The policies authorize none of the requested actions (ISS-6).
    NoAuthorizedActions,
    /// The claims could not be built (an unusable `max_ttl`); never expected.
    Internal,
}

impl DenialCode {
    /// The wire code: `INVALID_REQUEST`, `NO_ACTIONS`, `NO_POLICIES`,
    /// `NO_AUTHORIZED_ACTIONS`, `INTERNAL`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DenialCode::InvalidRequest => "INVALID_REQUEST",
            DenialCode::NoActions => "NO_ACTIONS",
            DenialCode::NoPolicies => "NO_POLICIES",
            DenialCode::NoAuthorizedActions => "NO_AUTHORIZED_ACTIONS",
            DenialCode::Internal => "INTERNAL",
        }
    }
}

impl fmt::Display for DenialCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused issuance: a code and a one-line message naming the bad value
/// or each denied action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// Machine-readable code.
    pub code: DenialCode,
    /// Human-readable message.
    pub message: String,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// What a caller asks for, as given (validated by [`decide`]).
#[derive(Clone, Copy, Debug)]
pub struct IssuanceRequest<'a> {
    /// `agent_id` (`agt_…`).
    pub agent_id: &'a str,
    /// `session_id`.
    pub session_id: &'a str,
    /// Requested action class names.
    pub actions: &'a [String],
    /// Requested resource scope; empty means `*`.
    pub resource_scope: &'a str,
    /// Requested lifetime in seconds; `<= 0` means `max_ttl`.
    pub requested_ttl_secs: i64,
}

/// Everything an issuance decision depends on besides the request.
#[derive(Clone, Copy, Debug)]
pub struct IssuanceInput<'a> {
    /// The compiled issuance policies; `None` when there are none.
    pub policies: Option<&'a Bundle>,
    /// Version of the enforcement bundle current at issuance (goes into
    /// `context_hash`).
    pub bundle_version: &'a str,
    /// The new token's id (see [`new_token_id`]).
    pub token_id: &'a str,
    /// Issuance time.
    pub now: UnixTime,
    /// Longest lifetime a token may have.
    pub max_ttl: Duration,
}

/// A requested action the policies did not authorize.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedAction {
    /// The action class.
    pub action: ActionClass,
    /// Why, one line: the forbidding policies, "no permit policy applies",
    /// or the evaluation error.
    pub reason: String,
}

impl fmt::Display for RefusedAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({})", self.action, self.reason)
    }
}

/// A granted issuance: the claims to sign, and the requested actions that
/// were narrowed away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Validated claims; `action_set` holds the authorized actions in
    /// request order.
    pub claims: Claims,
    /// Requested actions left out of `action_set`, in request order.
    pub refused: Vec<RefusedAction>,
}

/// The 16 bytes of a UUIDv7 (RFC 9562): the 48-bit Unix millisecond
/// timestamp of `now`, then `entropy` with the version (`7`) and variant
/// (`10`) bits set over it (ISS-8).
pub fn uuid_v7(now: UnixTime, entropy: [u8; 10]) -> [u8; 16] {
    let ms = now.as_millis() & 0xffff_ffff_ffff;
    let mut out = [0u8; 16];
    let (time, rest) = out.split_at_mut(6);
    time.copy_from_slice(ms.to_be_bytes().get(2..).unwrap_or(&[0; 6]));
    rest.copy_from_slice(&entropy);
    if let Some(b) = out.get_mut(6) {
        *b = (*b & 0x0f) | 0x70;
    }
    if let Some(b) = out.get_mut(8) {
        *b = (*b & 0x3f) | 0x80;
    }
    out
}

/// A fresh token id: `ctok_` and the TypeID encoding of [`uuid_v7`].
pub fn new_token_id(now: UnixTime, entropy: [u8; 10]) -> String {
    token_id_from_uuid(uuid_v7(now, entropy))
}

/// The granted lifetime: `max_ttl` for a request `<= 0`, else the smaller of
/// the request and `max_ttl` (ISS-7).
pub fn granted_ttl(requested_secs: i64, max_ttl: Duration) -> Duration {
    match u64::try_from(requested_secs) {
        Ok(secs) if secs > 0 => Duration::from_secs(secs).min(max_ttl),
        _ => max_ttl,
    }
}

/// Decide an issuance (ISS-1..ISS-9): validate the request, evaluate the
/// issuance policies once per requested action, grant the authorized subset
/// and build the claims.
pub fn decide(request: &IssuanceRequest<'_>, input: &IssuanceInput<'_>) -> Result<Grant, Denial> {
    let invalid = |what: &str, value: &str, problem: String| Denial {
        code: DenialCode::InvalidRequest,
        message: format!("{what} `{}` {problem}", show(value)),
    };
    if let Some(p) = agent_id_problem(request.agent_id) {
        return Err(invalid("agent_id", request.agent_id, p));
    }
    if let Some(p) = session_id_problem(request.session_id) {
        return Err(invalid("session_id", request.session_id, p));
    }
    let scope_raw = if request.resource_scope.is_empty() {
        "*"
    } else {
        request.resource_scope
    };
    let scope = ResourceScope::parse(scope_raw)
        .map_err(|p| invalid("resource_scope", request.resource_scope, p))?;
    if request.actions.is_empty() {
        return Err(Denial {
            code: DenialCode::NoActions,
            message: "no action class was requested".to_owned(),
        });
    }
    let mut actions: Vec<ActionClass> = Vec::with_capacity(request.actions.len());
    for name in request.actions {
        let action: ActionClass = name.parse().map_err(|_| {
            invalid(
                "action",
                name,
                "is not a registered action class".to_owned(),
            )
        })?;
        if !actions.contains(&action) {
            actions.push(action);
        }
    }
    let Some(policies) = input.policies else {
        return Err(Denial {
            code: DenialCode::NoPolicies,
            message: "no issuance policies are loaded; add `*.cedar` files to the issuance policy directory".to_owned(),
        });
    };

    let (host, path) = match scope.as_str().find('/') {
        Some(i) => scope.as_str().split_at(i),
        None => (scope.as_str(), ""),
    };
    let mut context = PolicyContext::at(i64::try_from(input.now.as_millis()).unwrap_or(i64::MAX));
    context.session_id = request.session_id.to_owned();
    context.action_count = 0;
    context.raw_transport = "https".to_owned();
    let mut granted = Vec::with_capacity(actions.len());
    let mut refused = Vec::new();
    for action in actions {
        let verdict = policies.evaluate(&PolicyRequest {
            principal: request.agent_id,
            action,
            resource: ResourceAttrs {
                host,
                path,
                provider: None,
            },
            context: &context,
        });
        match verdict {
            Ok(v) if v.allowed => granted.push(action),
            Ok(v) if v.policies.is_empty() => refused.push(RefusedAction {
                action,
                reason: "no permit policy applies".to_owned(),
            }),
            Ok(v) => refused.push(RefusedAction {
                action,
                reason: format!("forbidden by {}", quoted_list(&v.policies)),
            }),
            Err(e) => refused.push(RefusedAction {
                action,
                reason: format!("policy evaluation failed: {e}"),
            }),
        }
    }
    if granted.is_empty() {
        let each: Vec<String> = refused.iter().map(ToString::to_string).collect();
        return Err(Denial {
            code: DenialCode::NoAuthorizedActions,
            message: format!(
                "the issuance policies authorize none of the requested actions: {}",
                each.join("; ")
            ),
        });
    }

    let issued_at = UnixTime::from_secs(input.now.as_nanos() / 1_000_000_000);
    let ttl = granted_ttl(request.requested_ttl_secs, input.max_ttl);
    let claims = Claims {
        token_id: input.token_id.to_owned(),
        agent_id: request.agent_id.to_owned(),
        session_id: request.session_id.to_owned(),
        context_hash: context_hash(
            request.agent_id,
            &granted,
            scope.as_str(),
            input.bundle_version,
        ),
        action_set: granted,
        resource_scope: scope,
        issued_at,
        expiry: issued_at.saturating_add(ttl),
    };
    claims.validate().map_err(|e| Denial {
        code: DenialCode::Internal,
        message: format!("cannot build the token claims: {e}"),
    })?;
    Ok(Grant { claims, refused })
}

fn quoted_list(ids: &[String]) -> String {
    let quoted: Vec<String> = ids.iter().map(|p| format!("policy `{p}`")).collect();
    quoted.join(", ")
}
