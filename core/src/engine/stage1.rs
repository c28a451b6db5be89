//! Stage 1: capability tokens (spec `DEC-7`, `TOK-16`..`TOK-20`).
//!
//! In policy-only mode Stage 1 is bypassed (seed `000_…`). With an Authority,
//! every protected call needs a capability token that covers its action and
//! resource. The store holds only tokens that verified under the Authority
//! key when they were loaded ([`Capability`]); an empty store denies every
//! protected call `TokenInvalid` — fail closed.

use std::cmp::Reverse;

use crate::action_class::ActionClass;
use crate::decision::ReasonCode;
use crate::time::UnixTime;
use crate::token::{Capability, RevocationSet, rfc3339, show};

use super::Principal;

/// Most token scopes listed in a `ScopeViolation` detail.
const MAX_LISTED_SCOPES: usize = 8;

/// Verified capability tokens available to Stage 1.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    tokens: Vec<Capability>,
}

impl Capabilities {
    /// A store holding no tokens: every protected call is `TokenInvalid`.
    pub fn empty() -> Self {
        Capabilities::default()
    }

    /// A store of verified tokens (from [`crate::token::Seed::parse`] or
    /// [`Capability::verify`]). A token id given twice keeps its first copy.
    pub fn new(tokens: impl IntoIterator<Item = Capability>) -> Self {
        let mut store = Capabilities::empty();
        for t in tokens {
            store.insert(t);
        }
        store
    }

    /// Add one token; false (and no change) when its id is already held.
    pub fn insert(&mut self, token: Capability) -> bool {
        let id = &token.claims().token_id;
        if self.tokens.iter().any(|t| &t.claims().token_id == id) {
            return false;
        }
        self.tokens.push(token);
        true
    }

    /// Number of tokens held.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when no token is held.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The tokens, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Capability> {
        self.tokens.iter()
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        Capabilities::new(iter)
    }
}

/// How Stage 1 runs.
#[derive(Clone, Debug)]
pub enum Stage1 {
    /// Policy-only mode: no Authority, no tokens; the principal is anonymous.
    Bypassed,
    /// Authority mode: a token must cover the action and resource.
    Tokens(Capabilities),
}

/// Preference among covering tokens (TOK-18): the most specific scope, then
/// the fewest actions, then the latest `iat`, then the smallest id.
fn rank(c: &Capability) -> (Reverse<usize>, usize, Reverse<UnixTime>, &str) {
    let claims = c.claims();
    (
        Reverse(claims.resource_scope.specificity()),
        claims.action_set.len(),
        Reverse(claims.issued_at),
        claims.token_id.as_str(),
    )
}

impl Stage1 {
    /// Select and check the token for `action` on `resource` at `now`
    /// (TOK-16..TOK-20): tokens granting `action` (none: `TokenInvalid`), of
    /// those the ones whose scope covers `resource` (none:
    /// `ScopeViolation`), of those the best-ranked one that is neither
    /// revoked nor expired. When every covering token fails, the best-ranked
    /// one decides: `TokenRevoked` if revoked, else `TokenExpired`.
    pub fn check(
        &self,
        action: ActionClass,
        resource: &str,
        now: UnixTime,
        revocations: &RevocationSet,
    ) -> Result<Principal, (ReasonCode, String)> {
        let store = match self {
            Stage1::Bypassed => return Ok(Principal::default()),
            Stage1::Tokens(store) => store,
        };
        let mut granting = 0usize;
        let mut best_valid: Option<&Capability> = None;
        let mut best_failed: Option<&Capability> = None;
        for cap in &store.tokens {
            let claims = cap.claims();
            if !claims.grants(action) {
                continue;
            }
            granting += 1;
            if !claims.resource_scope.covers(resource) {
                continue;
            }
            let valid = !revocations.is_revoked(&claims.token_id) && !claims.is_expired(now);
            let slot = if valid {
                &mut best_valid
            } else {
                &mut best_failed
            };
            if slot.is_none_or(|b| rank(cap) < rank(b)) {
                *slot = Some(cap);
            }
        }
        if let Some(cap) = best_valid {
            let claims = cap.claims();
            return Ok(Principal {
                agent_id: Some(claims.agent_id.clone()),
                token_id: Some(claims.token_id.clone()),
                session_id: Some(claims.session_id.clone()),
            });
        }
        if let Some(cap) = best_failed {
            let claims = cap.claims();
            let id = &claims.token_id;
            return Err(match revocations.get(id) {
                Some(r) => (
                    ReasonCode::TokenRevoked,
                    format!(
                        "capability token `{id}` covering `{action}` on `{resource}` was revoked at {} (reason `{}`)",
                        rfc3339(r.revoked_at),
                        show(&r.reason)
                    ),
                ),
                None => (
                    ReasonCode::TokenExpired,
                    format!(
                        "capability token `{id}` covering `{action}` on `{resource}` expired at {}",
                        rfc3339(claims.expiry)
                    ),
                ),
            });
        }
        if granting == 0 {
            return Err((
                ReasonCode::TokenInvalid,
                format!("no capability token covers action `{action}` on resource `{resource}`"),
            ));
        }
        let scopes: Vec<String> = store
            .tokens
            .iter()
            .filter(|c| c.claims().grants(action))
            .take(MAX_LISTED_SCOPES)
            .map(|c| format!("`{}`", show(c.claims().resource_scope.as_str())))
            .collect();
        let more = if granting > MAX_LISTED_SCOPES {
            format!(" and {} more", granting - MAX_LISTED_SCOPES)
        } else {
            String::new()
        };
        Err((
            ReasonCode::ScopeViolation,
            format!(
                "resource `{resource}` is outside the scope of every capability token for `{action}` ({}{more})",
                scopes.join(", ")
            ),
        ))
    }
}
