//! Engine behaviour that the conformance fixtures do not reach: the Authority
//! mode readiness gate (DEC-6), Stage 1 without tokens (DEC-7), and the wire
//! form of deny and abort bodies (DEC-13, insta snapshots).

use std::sync::Arc;
use std::time::Duration;

use firma_core::engine::{Capabilities, Engine, EngineConfig};
use firma_core::mapping::{RuleSet, RuleSource};
use firma_core::normalize::RawRequest;
use firma_core::policy::{Bundle, PolicySource};
use firma_core::{Outcome, ReasonCode, Stage, UnixTime};

const RULES: &str = r#"
[[rules]]
method = "GET"
host = "wttr.in"
path = "*"
action_class = "communication.external.send"

[[rules]]
method = "POST"
host = "paste.rs"
path = "*"
action_class = "communication.external.send"
"#;

const POLICY: &str = r#"
permit (principal, action == Firma::Action::"communication.external.send", resource)
when { context.risk_score < 80 };
forbid (principal, action == Firma::Action::"communication.external.send", resource == Firma::Resource::"paste.rs/");
"#;

const T0: UnixTime = UnixTime::from_secs(1_767_225_600);

fn rules() -> Arc<RuleSet> {
    Arc::new(
        RuleSet::compile(&[RuleSource {
            name: "mapping-rules.toml",
            text: RULES,
        }])
        .unwrap(),
    )
}

fn bundle() -> Arc<Bundle> {
    Arc::new(
        Bundle::compile(
            &[PolicySource {
                name: "default.cedar",
                text: POLICY,
            }],
            None,
        )
        .unwrap(),
    )
}

fn get<'a>(target: &'a str, host: &'a [(&'a str, &'a [u8])]) -> RawRequest<'a> {
    RawRequest {
        method: "GET",
        target,
        headers: host,
        tunnel: None,
    }
}

const WTTR: [(&str, &[u8]); 1] = [("Host", b"wttr.in")];

#[test]
fn dec_6_authority_mode_is_not_ready_until_bundle_and_revocations_arrive() {
    let mut e = Engine::awaiting_authority(EngineConfig::default(), rules(), Capabilities::empty());
    assert!(!e.is_ready());
    let d = e.decide(&get("http://wttr.in/", &WTTR), T0);
    assert_eq!(
        (d.outcome, d.reason, d.stage),
        (
            Outcome::Deny,
            Some(ReasonCode::PolicyBundleNotReady),
            Stage::Readiness
        )
    );

    e.handle_bundle(bundle(), Duration::from_secs(30), T0);
    let d = e.decide(&get("http://wttr.in/", &WTTR), T0);
    assert_eq!(d.reason, Some(ReasonCode::RevocationCacheNotReady));
    assert!(!e.is_ready());

    e.handle_revocations_ready();
    assert!(e.is_ready());
    assert_eq!(
        e.poll_timeout(),
        Some(T0.saturating_add(Duration::from_secs(30)))
    );
}

#[test]
fn dec_7_authority_mode_without_a_token_is_token_invalid() {
    let mut e = Engine::awaiting_authority(EngineConfig::default(), rules(), Capabilities::empty());
    e.handle_bundle(bundle(), Duration::from_secs(30), T0);
    e.handle_revocations_ready();
    let d = e.decide(&get("http://wttr.in/london", &WTTR), T0);
    assert_eq!(
        (d.outcome, d.reason, d.stage),
        (
            Outcome::Deny,
            Some(ReasonCode::TokenInvalid),
            Stage::Capability
        )
    );
    assert!(
        d.detail.contains("communication.external.send"),
        "{}",
        d.detail
    );
    assert!(d.principal.agent_id.is_none());
}

#[test]
fn dec_4_unmapped_calls_pass_through_even_before_readiness() {
    let cfg = EngineConfig {
        default_protected: false,
        ..EngineConfig::default()
    };
    let e = Engine::awaiting_authority(cfg, rules(), Capabilities::empty());
    let host = [("Host", b"example.org".as_slice())];
    let d = e.decide(&get("http://example.org/", &host), T0);
    assert_eq!(d.outcome, Outcome::Passthrough);
}

#[test]
fn dec_13_deny_and_abort_bodies() {
    let e = Engine::policy_only(EngineConfig::default(), rules(), bundle(), T0);
    let paste = [("Host", b"paste.rs".as_slice())];
    let d = e.decide(
        &RawRequest {
            method: "POST",
            target: "http://paste.rs/",
            headers: &paste,
            tunnel: None,
        },
        T0,
    );
    assert_eq!(d.response_status(), Some(403));
    insta::assert_snapshot!(
        "deny_body_policy_denied",
        d.response_body("aevt_0001").unwrap()
    );

    let d = e.decide(&get("http://wttr.in/london", &WTTR), T0);
    assert_eq!(d.response_status(), None);
    assert_eq!(d.response_body("x"), None);
    let aborted = d.abort(
        ReasonCode::UpstreamTimeout,
        "no response from wttr.in:80 within 30000 ms",
    );
    assert_eq!(aborted.response_status(), Some(504));
    insta::assert_snapshot!(
        "abort_body_upstream_timeout",
        aborted.response_body("aevt_0002").unwrap()
    );

    let d = e.decide(&get("http://wttr.in/\"quoted\"", &WTTR), T0);
    assert_eq!(d.reason, Some(ReasonCode::MalformedRequest));
    let body = d.response_body("aevt_0003").unwrap();
    let parsed: serde_json::Value =
        serde_json::from_str(&body).expect("deny body is JSON even with quotes in the detail");
    assert_eq!(parsed["reason"], "MalformedRequest");
    assert_eq!(parsed["event_id"], "aevt_0003");
}

#[test]
fn dec_10_every_reason_code_round_trips_its_name() {
    for r in ReasonCode::ALL {
        assert_eq!(r.as_str().parse::<ReasonCode>(), Ok(*r));
    }
    assert_eq!(ReasonCode::ALL.len(), 15);
}
