//! Outcomes, reason codes and stages: the closed vocabulary of every decision
//! (spec `DEC-*`).

use std::fmt;
use std::str::FromStr;

/// What happened to a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Mapped, permitted, forwarded.
    Allow,
    /// Refused; never forwarded.
    Deny,
    /// Unmapped with `default_protected = false`; forwarded without enforcement.
    Passthrough,
    /// Permitted, but the upstream failed.
    Abort,
}

impl Outcome {
    /// `ALLOW`, `DENY`, `PASSTHROUGH` or `ABORT`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "ALLOW",
            Outcome::Deny => "DENY",
            Outcome::Passthrough => "PASSTHROUGH",
            Outcome::Abort => "ABORT",
        }
    }

    /// True when the call goes (or went) upstream.
    pub const fn forwards(self) -> bool {
        matches!(self, Outcome::Allow | Outcome::Passthrough)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ALLOW" => Ok(Outcome::Allow),
            "DENY" => Ok(Outcome::Deny),
            "PASSTHROUGH" => Ok(Outcome::Passthrough),
            "ABORT" => Ok(Outcome::Abort),
            other => Err(format!(
                "unknown outcome `{other}` (expected ALLOW, DENY, PASSTHROUGH or ABORT)"
            )),
        }
    }
}

macro_rules! reasons {
    ($( $(#[$doc:meta])* $variant:ident ),* $(,)?) => {
        /// Why a call was denied or aborted. Closed set; the JSON deny body and the
        /// audit record carry the PascalCase name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ReasonCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ReasonCode {
            /// Every code, in spec order.
            pub const ALL: &'static [ReasonCode] = &[ $( ReasonCode::$variant, )* ];

            /// The PascalCase name, e.g. `PolicyDenied`.
            pub const fn as_str(self) -> &'static str {
                match self { $( ReasonCode::$variant => stringify!($variant), )* }
            }
        }

        impl FromStr for ReasonCode {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( stringify!($variant) => Ok(ReasonCode::$variant), )*
                    other => Err(format!("unknown reason code `{other}`")),
                }
            }
        }
    };
}

reasons! {
    /// No mapping rule matched and `default_protected = true`.
    MappingNotFound,
    /// Cedar evaluated to deny (a forbid fired, or no permit applied).
    PolicyDenied,
    /// The policy bundle's TTL ran out.
    PolicyBundleStale,
    /// No policy bundle has been received yet.
    PolicyBundleNotReady,
    /// The revocation stream has not hydrated yet.
    RevocationCacheNotReady,
    /// No usable capability token (none selected, bad signature, bad claims).
    TokenInvalid,
    /// The selected capability token has expired.
    TokenExpired,
    /// The selected capability token is revoked.
    TokenRevoked,
    /// The action or resource lies outside the token's scope.
    ScopeViolation,
    /// The request could not be parsed or is ambiguous.
    MalformedRequest,
    /// Enforcement took longer than `enforcement_timeout_ms`.
    EnforcementTimeout,
    /// An internal error on the enforcement path; denied rather than guessed.
    FailClosed,
    /// Allowed, but the upstream could not be reached or failed (ABORT, 502).
    UpstreamUnavailable,
    /// Allowed, but the upstream did not answer in time (ABORT, 504).
    UpstreamTimeout,
    /// The destination is the sidecar's own listener or the Authority.
    ProtectedEndpoint,
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in the pipeline a decision was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Request parsing and normalization.
    Normalization,
    /// Action-class mapping.
    Mapping,
    /// Readiness gate (bundle / revocations hydrated).
    Readiness,
    /// Stage 1: capability token.
    Capability,
    /// Stage 2: Cedar policy and bundle freshness.
    Policy,
    /// Forwarding upstream.
    Dispatch,
}

impl Stage {
    /// Lower-case stage name used in audit records.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Normalization => "normalization",
            Stage::Mapping => "mapping",
            Stage::Readiness => "readiness",
            Stage::Capability => "capability",
            Stage::Policy => "policy",
            Stage::Dispatch => "dispatch",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Stage::Normalization,
            Stage::Mapping,
            Stage::Readiness,
            Stage::Capability,
            Stage::Policy,
            Stage::Dispatch,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| format!("unknown stage `{s}`"))
    }
}
