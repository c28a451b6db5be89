//! CONNECT tunnels with HTTPS interception (spec MITM-1, MITM-2, MITM-5,
//! MITM-6): which tunnels the engine intercepts, and what each interception
//! failure becomes on strict and non-strict hosts.

use std::sync::Arc;

use firma_core::config::{HostPattern, MitmConfig};
use firma_core::engine::{
    ConnectStep, Engine, EngineConfig, InterceptFailure, Interception, ProtectedEndpoints,
};
use firma_core::mapping::{RuleSet, RuleSource};
use firma_core::normalize::RawRequest;
use firma_core::policy::{Bundle, PolicySource};
use firma_core::{Outcome, ReasonCode, Stage, UnixTime};

// CONNECT is allowed to api.openai.com and api.stripe.com only; inner GETs
// to api.openai.com are mapped.
const RULES: &str = r#"
[[rules]]
method = "CONNECT"
host = "api.openai.com"
action_class = "communication.external.send"

[[rules]]
method = "CONNECT"
host = "api.stripe.com"
action_class = "communication.external.send"

[[rules]]
method = "GET"
host = "api.openai.com"
path = "/v1/models"
action_class = "model.inference.chat"
"#;

const POLICY: &str = r#"
permit (principal, action, resource);
forbid (principal, action, resource) when { resource.host == "api.stripe.com" };
"#;

const T0: UnixTime = UnixTime::from_secs(1_767_225_600);

fn pattern(p: &str) -> HostPattern {
    HostPattern::parse(p).unwrap()
}

fn engine() -> Engine {
    let rules = RuleSet::compile(&[RuleSource {
        name: "rules.toml",
        text: RULES,
    }])
    .unwrap();
    let bundle = Bundle::compile(
        &[PolicySource {
            name: "p.cedar",
            text: POLICY,
        }],
        None,
    )
    .unwrap();
    let mut e = Engine::policy_only(
        EngineConfig::default(),
        Arc::new(rules),
        Arc::new(bundle),
        T0,
    );
    e.set_interception(MitmConfig {
        enabled: true,
        intercept_hosts: vec![
            pattern("api.openai.com"),
            pattern("*.example.com"),
            pattern("api.stripe.com"),
        ],
        bypass_hosts: vec![pattern("pinned.example.com")],
        strict_hosts: vec![pattern("*.example.com")],
        ..MitmConfig::disabled()
    });
    let mut protected = ProtectedEndpoints::new();
    protected.add_addr("127.0.0.1:8080".parse().unwrap());
    e.set_protected_endpoints(protected);
    e
}

fn connect(target: &str) -> ConnectStep {
    engine().decide_connect(
        &RawRequest {
            method: "CONNECT",
            target,
            headers: &[],
            tunnel: None,
        },
        T0,
    )
}

fn intercepted(target: &str) -> Interception {
    match connect(target) {
        ConnectStep::Intercept(i) => i,
        ConnectStep::Decided(d) => panic!("{target}: expected interception, got {d:?}"),
    }
}

fn decided(target: &str) -> firma_core::Decision {
    match connect(target) {
        ConnectStep::Decided(d) => d,
        ConnectStep::Intercept(i) => panic!("{target}: expected a decision, got {i:?}"),
    }
}

#[test]
fn mitm_2_intercepted_hosts_skip_connect_level_policy() {
    let t = intercepted("api.openai.com:443");
    assert!(!t.strict);
    assert_eq!(t.intent.authority, "api.openai.com");
    assert!(t.intent.connect);
    // strict via wildcard; no CONNECT rule needed because the CONNECT is not classified
    let t = intercepted("pay.example.com:443");
    assert!(t.strict);
}

#[test]
fn mitm_2_bypassed_and_unlisted_hosts_are_enforced_at_connect() {
    // bypass wins over the intercept wildcard; there is no CONNECT rule for it
    let d = decided("pinned.example.com:443");
    assert_eq!(
        (d.outcome, d.reason),
        (Outcome::Deny, Some(ReasonCode::MappingNotFound))
    );
    // one label too many for `*.example.com`
    let d = decided("a.b.example.com:443");
    assert_eq!(d.reason, Some(ReasonCode::MappingNotFound));
    let d = decided("unlisted.test:443");
    assert_eq!(d.reason, Some(ReasonCode::MappingNotFound));
}

#[test]
fn mitm_2_malformed_and_protected_connects_are_denied_whatever_the_lists() {
    let d = decided("api.openai.com");
    assert_eq!(d.reason, Some(ReasonCode::MalformedRequest));
    let mut e = engine();
    e.set_interception(MitmConfig {
        enabled: true,
        intercept_hosts: vec![pattern("127.0.0.1")],
        ..MitmConfig::disabled()
    });
    let step = e.decide_connect(
        &RawRequest {
            method: "CONNECT",
            target: "127.0.0.1:8080",
            headers: &[],
            tunnel: None,
        },
        T0,
    );
    match step {
        ConnectStep::Decided(d) => assert_eq!(d.reason, Some(ReasonCode::ProtectedEndpoint)),
        ConnectStep::Intercept(_) => panic!("a protected endpoint was intercepted"),
    }
}

#[test]
fn mitm_4_inner_requests_are_decided_with_the_tunnel_authority() {
    let e = engine();
    let inner = |target: &str, host: &'static [u8]| {
        let headers: [(&str, &[u8]); 1] = [("Host", host)];
        e.decide(
            &RawRequest {
                method: "GET",
                target,
                headers: &headers,
                tunnel: Some("api.openai.com"),
            },
            T0,
        )
    };
    let d = inner("/v1/models", b"api.openai.com");
    assert_eq!(d.outcome, Outcome::Allow);
    assert_eq!(
        d.action_class.map(|a| a.as_str()),
        Some("model.inference.chat")
    );
    let d = inner("/v1/models", b"evil.test");
    assert_eq!(d.reason, Some(ReasonCode::MalformedRequest));
    assert!(
        d.detail.contains("does not match connect target"),
        "{}",
        d.detail
    );
}

#[test]
fn mitm_5_non_strict_fallback_needs_the_connect_to_be_allowed() {
    let e = engine();
    let t = intercepted("api.openai.com:443");
    for failure in [InterceptFailure::Leaf, InterceptFailure::NotTls] {
        let d = e.interception_failed(&t, failure, "boom", T0);
        assert_eq!(d.outcome, Outcome::Allow, "{failure:?}");
        assert!(d.intent.as_ref().is_some_and(|i| i.connect));
        assert!(d.detail.starts_with(failure.as_str()), "{}", d.detail);
        assert!(
            d.detail.contains("fell back to a blind tunnel"),
            "{}",
            d.detail
        );
    }
    // the policy forbids the CONNECT to api.stripe.com: no fallback tunnel
    let t = intercepted("api.stripe.com:443");
    let d = e.interception_failed(&t, InterceptFailure::NotTls, "plain text", T0);
    assert_eq!(
        (d.outcome, d.reason),
        (Outcome::Deny, Some(ReasonCode::PolicyDenied))
    );
}

#[test]
fn mitm_5_strict_hosts_and_late_failures_fail_closed() {
    let e = engine();
    let strict = intercepted("pay.example.com:443");
    let lax = intercepted("api.openai.com:443");
    let late = [
        InterceptFailure::ClientHello,
        InterceptFailure::SniMismatch,
        InterceptFailure::Handshake,
        InterceptFailure::Request,
    ];
    for failure in late
        .iter()
        .chain(&[InterceptFailure::Leaf, InterceptFailure::NotTls])
    {
        let d = e.interception_failed(&strict, *failure, "x", T0);
        assert_eq!(
            (d.outcome, d.reason, d.stage),
            (Outcome::Deny, Some(ReasonCode::FailClosed), Stage::Dispatch),
            "{failure:?}"
        );
        assert!(d.detail.contains("(strict host)"), "{}", d.detail);
        assert_eq!(
            d.intent.as_ref().map(|i| i.authority.as_str()),
            Some("pay.example.com")
        );
    }
    for failure in late {
        let d = e.interception_failed(&lax, failure, "x", T0);
        assert_eq!(
            (d.outcome, d.reason),
            (Outcome::Deny, Some(ReasonCode::FailClosed))
        );
        assert_eq!(d.detail, format!("{}: x", failure.as_str()));
    }
    assert_eq!(
        InterceptFailure::Handshake.as_str(),
        "mitm_handshake_failed"
    );
}

#[test]
fn mitm_6_upstream_tls_failure_is_fail_closed_only_on_strict_hosts() {
    let e = engine();
    let allow = e.decide(
        &RawRequest {
            method: "GET",
            target: "/v1/models",
            headers: &[],
            tunnel: Some("api.openai.com"),
        },
        T0,
    );
    assert_eq!(allow.outcome, Outcome::Allow);
    let d = allow.clone().upstream_tls_failed(false, "bad cert");
    assert_eq!(
        (d.outcome, d.reason),
        (Outcome::Abort, Some(ReasonCode::UpstreamUnavailable))
    );
    assert_eq!(d.response_status(), Some(502));
    assert_eq!(d.detail, "mitm_upstream_tls_failed: bad cert");
    let d = allow.upstream_tls_failed(true, "bad cert");
    assert_eq!(
        (d.outcome, d.reason),
        (Outcome::Deny, Some(ReasonCode::FailClosed))
    );
    assert_eq!(d.response_status(), Some(403));
    // the classification stays on the record
    assert_eq!(
        d.action_class.map(|a| a.as_str()),
        Some("model.inference.chat")
    );
}
