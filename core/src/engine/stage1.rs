//! Stage 1: capability tokens (spec `DEC-7`).
//!
//! In policy-only mode Stage 1 is bypassed (seed `000_…`). With an Authority,
//! every protected call needs a capability token that covers its action and
//! resource. Token verification (PASETO v4.public) is added with the Authority;
//! until tokens are loaded the store is empty and every protected call is
//! denied `TokenInvalid` — fail closed.

use crate::action_class::ActionClass;
use crate::decision::ReasonCode;
use crate::time::UnixTime;

use super::Principal;

/// Verified capability tokens available to Stage 1.
#[derive(Clone, Debug, Default)]
pub struct Capabilities {
    _private: (),
}

impl Capabilities {
    /// A store holding no tokens: every protected call is `TokenInvalid`.
    pub fn empty() -> Self {
        Capabilities { _private: () }
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

impl Stage1 {
    /// Select and check the token for `action` on `resource` at `now`.
    pub(crate) fn check(
        &self,
        action: ActionClass,
        resource: &str,
        _now: UnixTime,
    ) -> Result<Principal, (ReasonCode, String)> {
        match self {
            Stage1::Bypassed => Ok(Principal::default()),
            Stage1::Tokens(_) => Err((
                ReasonCode::TokenInvalid,
                format!("no capability token covers action `{action}` on resource `{resource}`"),
            )),
        }
    }
}
