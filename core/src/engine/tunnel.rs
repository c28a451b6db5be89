//! CONNECT tunnels and HTTPS interception (spec `MITM-*`): which tunnels are
//! TLS-terminated, and what an interception failure turns into.
//!
//! The shell drives it: [`Engine::decide_connect`] for every CONNECT, then,
//! for an intercepted tunnel, [`Engine::interception_failed`] if anything
//! goes wrong before or during TLS termination. Requests decrypted inside the
//! tunnel go through [`Engine::decide`] with `RawRequest::tunnel` set.

use super::{Decision, Engine, deny};
use crate::config::TunnelPlan;
use crate::decision::{ReasonCode, Stage};
use crate::normalize::{self, Intent, RawRequest};
use crate::time::UnixTime;

/// An intercepted tunnel: the normalized CONNECT and whether its host is
/// strict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interception {
    /// The CONNECT intent (`connect == true`, `authority` is `host:port`).
    pub intent: Intent,
    /// `strict_hosts` matched: no fallback to a blind tunnel (MITM-5).
    pub strict: bool,
}

/// What the shell does with a CONNECT request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectStep {
    /// A decided CONNECT: record it; if it forwards, open a blind tunnel,
    /// else answer it.
    Decided(Decision),
    /// Terminate TLS (MITM-2). Nothing is recorded for the CONNECT itself:
    /// every request inside the tunnel is decided and recorded.
    Intercept(Interception),
}

/// Why an interception could not go on (MITM-5). The `as_str` names are the
/// prefix of the decision detail and the log vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterceptFailure {
    /// No leaf certificate could be minted for the host (before the 200).
    Leaf,
    /// The client's first bytes in the tunnel are not TLS.
    NotTls,
    /// The ClientHello is malformed or too large.
    ClientHello,
    /// The ClientHello names another server than the CONNECT target.
    SniMismatch,
    /// The TLS handshake with the client failed (e.g. it rejected our leaf).
    Handshake,
    /// A decrypted request could not be parsed as HTTP.
    Request,
}

impl InterceptFailure {
    /// The snake-case name used in details and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Leaf => "mitm_leaf_failed",
            Self::NotTls => "mitm_not_tls",
            Self::ClientHello => "mitm_client_hello_invalid",
            Self::SniMismatch => "mitm_sni_mismatch",
            Self::Handshake => "mitm_handshake_failed",
            Self::Request => "mitm_request_unparsable",
        }
    }

    /// Whether a non-strict host may still get a blind tunnel: only before
    /// the client has started a TLS session with us.
    pub fn can_fall_back(self) -> bool {
        matches!(self, Self::Leaf | Self::NotTls)
    }
}

impl Engine {
    /// Decide a CONNECT request (MITM-1, MITM-2). Malformed targets and
    /// protected endpoints are denied whatever the plan; a host in no MITM
    /// list or in `bypass_hosts` is classified and enforced as a tunnel.
    pub fn decide_connect(&self, req: &RawRequest<'_>, now: UnixTime) -> ConnectStep {
        let intent = match normalize::normalize(req) {
            Ok(intent) if intent.connect => intent,
            Ok(intent) => return ConnectStep::Decided(self.decide_intent(intent, now)),
            Err(malformed) => {
                return ConnectStep::Decided(deny(
                    None,
                    ReasonCode::MalformedRequest,
                    Stage::Normalization,
                    malformed.detail,
                ));
            }
        };
        match self.mitm.plan(&intent.host) {
            TunnelPlan::Intercept { strict }
                if !self.protected.contains(&intent.host, intent.port) =>
            {
                ConnectStep::Intercept(Interception { intent, strict })
            }
            _ => ConnectStep::Decided(self.decide_intent(intent, now)),
        }
    }

    /// An interception failed (MITM-5). On a non-strict host, before the
    /// client started TLS, the tunnel falls back to a blind tunnel — but only
    /// if the CONNECT itself is allowed by mapping and policy, so a fallback
    /// never carries what enforcement would refuse. Every other failure is a
    /// DENY `FailClosed` naming the failure.
    pub fn interception_failed(
        &self,
        tunnel: &Interception,
        failure: InterceptFailure,
        detail: &str,
        now: UnixTime,
    ) -> Decision {
        let why = format!("{}: {detail}", failure.as_str());
        if !tunnel.strict && failure.can_fall_back() {
            let mut d = self.decide_intent(tunnel.intent.clone(), now);
            d.detail = format!("{why}; fell back to a blind tunnel: {}", d.detail);
            return d;
        }
        let strict = if tunnel.strict { " (strict host)" } else { "" };
        deny(
            Some(tunnel.intent.clone()),
            ReasonCode::FailClosed,
            Stage::Dispatch,
            format!("{why}{strict}"),
        )
    }
}

impl Decision {
    /// A forwarded decision inside an intercepted tunnel whose upstream TLS
    /// connection failed before anything was sent (MITM-6): DENY `FailClosed`
    /// on a strict host, ABORT `UpstreamUnavailable` otherwise.
    pub fn upstream_tls_failed(self, strict: bool, detail: impl Into<String>) -> Decision {
        let detail = format!("mitm_upstream_tls_failed: {}", detail.into());
        if !strict {
            return self.abort(ReasonCode::UpstreamUnavailable, detail);
        }
        let mut d = self.abort(ReasonCode::FailClosed, format!("{detail} (strict host)"));
        d.outcome = crate::decision::Outcome::Deny;
        d
    }
}
