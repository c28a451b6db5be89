//! Stage 1 with real capability tokens (spec `DEC-7`, `TOK-16`..`TOK-20`):
//! token selection by action and resource, expiry, revocation, scope, and
//! identity taken only from the verified token.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use firma_core::engine::{Capabilities, Engine, EngineConfig, Stage1};
use firma_core::mapping::{RuleSet, RuleSource};
use firma_core::normalize::RawRequest;
use firma_core::policy::{Bundle, PolicySource};
use firma_core::token::{
    Capability, Claims, PublicKey, ResourceScope, Revocation, RevocationSet, Seed, SigningKey,
};
use firma_core::{ActionClass, Outcome, ReasonCode, Stage, UnixTime};

const KEY: &[u8] = include_bytes!("../../fixtures/tokens/authority-test.key");
const PUB: &[u8] = include_bytes!("../../fixtures/tokens/authority-test.pub");
const SEED_ANY: &str = include_str!("../../fixtures/tokens/seed-any.toml");
const SEED_SCOPED: &str = include_str!("../../fixtures/tokens/seed-scoped.toml");
const SEED_EXPIRED: &str = include_str!("../../fixtures/tokens/seed-expired.toml");
const REVOCATIONS: &str = include_str!("../../fixtures/tokens/revocations.txt");

const RULES: &str = r#"
[[rules]]
method = "GET"
host = "api.github.com"
path = "*"
action_class = "code.read"

[[rules]]
method = "POST"
host = "paste.rs"
path = "*"
action_class = "communication.external.send"

[[rules]]
method = "POST"
host = "api.stripe.com"
path = "*"
action_class = "payment.transfer"
"#;

const POLICY: &str = r#"
permit (principal, action, resource);
"#;

fn t(s: &str) -> UnixTime {
    UnixTime::parse_rfc3339(s).unwrap()
}

fn now() -> UnixTime {
    t("2026-06-01T00:00:00Z")
}

fn public() -> PublicKey {
    PublicKey::from_bytes(PUB).unwrap()
}

fn seed(text: &str) -> Capability {
    Seed::parse(Path::new("seed.toml"), text, &public())
        .unwrap()
        .capability
}

fn issue(id: u8, actions: &[ActionClass], scope: &str, iat: &str, exp: &str) -> Capability {
    let claims = Claims {
        token_id: format!("ctok_01j0000000e0080000000001{id:02}"),
        agent_id: format!("agt_{id}"),
        session_id: format!("sess_{id}"),
        action_set: actions.to_vec(),
        resource_scope: ResourceScope::parse(scope).unwrap(),
        issued_at: t(iat),
        expiry: t(exp),
        context_hash: "0".repeat(64),
    };
    Capability::issue(&SigningKey::from_bytes(KEY).unwrap(), claims).unwrap()
}

fn engine(caps: Capabilities) -> Engine {
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
    let mut e = Engine::awaiting_authority(EngineConfig::default(), Arc::new(rules), caps);
    e.handle_bundle(Arc::new(bundle), Duration::from_secs(3600), now());
    e.handle_revocations_ready();
    e
}

fn call(e: &Engine, method: &str, url: &str, at: UnixTime) -> firma_core::Decision {
    let host = url
        .strip_prefix("http://")
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let headers = [("Host", host.as_bytes())];
    e.decide(
        &RawRequest {
            method,
            target: url,
            headers: &headers,
            tunnel: None,
        },
        at,
    )
}

fn fixtures() -> Capabilities {
    [seed(SEED_ANY), seed(SEED_SCOPED), seed(SEED_EXPIRED)]
        .into_iter()
        .collect()
}

#[test]
fn tok_16_a_covering_token_allows_and_names_the_principal() {
    let e = engine(fixtures());
    let d = call(&e, "GET", "http://api.github.com/repos/o/r", now());
    assert_eq!(d.outcome, Outcome::Allow, "{}", d.detail);
    // Both seed-any (`*`) and seed-scoped cover it: the more specific wins (TOK-18).
    assert_eq!(
        d.principal.token_id.as_deref(),
        Some("ctok_01j0000000e008000000000002")
    );
    assert_eq!(d.principal.agent_id.as_deref(), Some("agt_demo"));
    assert_eq!(d.principal.session_id.as_deref(), Some("sess_1"));
}

#[test]
fn tok_16_dec_7_no_token_for_the_action_is_token_invalid() {
    let e = engine(fixtures());
    let d = call(&e, "POST", "http://api.stripe.com/v1/transfers", now());
    assert_eq!(
        (d.outcome, d.reason, d.stage),
        (
            Outcome::Deny,
            Some(ReasonCode::TokenInvalid),
            Stage::Capability
        )
    );
    assert_eq!(
        d.detail,
        "no capability token covers action `payment.transfer` on resource `api.stripe.com/v1/transfers`"
    );
    assert_eq!(d.principal.token_id, None);
}

#[test]
fn tok_17_out_of_scope_is_scope_violation() {
    let scoped = seed(SEED_SCOPED);
    let e = engine(Capabilities::new([scoped]));
    let d = call(&e, "GET", "http://api.github.com/user", now());
    assert_eq!(
        (d.outcome, d.reason, d.stage),
        (
            Outcome::Deny,
            Some(ReasonCode::ScopeViolation),
            Stage::Capability
        )
    );
    assert!(
        d.detail.contains("`api.github.com/user`") && d.detail.contains("`api.github.com/repos/*`"),
        "{}",
        d.detail
    );
    // Segment boundary: `/repos` does not cover `/reposx`.
    let d = call(&e, "GET", "http://api.github.com/reposx", now());
    assert_eq!(d.reason, Some(ReasonCode::ScopeViolation));
    let d = call(&e, "GET", "http://api.github.com/repos", now());
    assert_eq!(d.outcome, Outcome::Allow);
}

#[test]
fn tok_6_dec_7_expired_token_is_token_expired() {
    let e = engine(Capabilities::new([seed(SEED_EXPIRED)]));
    let d = call(&e, "POST", "http://paste.rs/", now());
    assert_eq!(
        (d.outcome, d.reason, d.stage),
        (
            Outcome::Deny,
            Some(ReasonCode::TokenExpired),
            Stage::Capability
        )
    );
    assert!(
        d.detail
            .contains("`ctok_01j0000000e008000000000003` covering `communication.external.send` on `paste.rs/` expired at 2020-01-01T01:00:00Z"),
        "{}",
        d.detail
    );
    // `exp <= now`: at exp exactly it is expired, a nanosecond earlier it is not.
    let cap = issue(
        1,
        &[ActionClass::CodeRead],
        "*",
        "2026-01-01T00:00:00Z",
        "2026-06-01T00:00:00Z",
    );
    let e = engine(Capabilities::new([cap]));
    let at_exp = call(&e, "GET", "http://api.github.com/x", now());
    assert_eq!(at_exp.reason, Some(ReasonCode::TokenExpired));
    let before = UnixTime::from_nanos(now().as_nanos() - 1);
    assert_eq!(
        call(&e, "GET", "http://api.github.com/x", before).outcome,
        Outcome::Allow
    );
}

#[test]
fn tok_20_dec_7_revoked_token_is_token_revoked() {
    let mut e = engine(Capabilities::new([seed(SEED_ANY), seed(SEED_SCOPED)]));
    assert_eq!(
        call(&e, "POST", "http://paste.rs/", now()).outcome,
        Outcome::Allow
    );
    let (set, warnings) =
        RevocationSet::load(REVOCATIONS, now(), Duration::from_secs(86_400 * 365));
    assert_eq!(warnings.len(), 4);
    e.handle_revocations(set.sorted().into_iter().cloned());
    assert!(
        e.revocations()
            .is_revoked("ctok_01j0000000e008000000000001")
    );
    let d = call(&e, "POST", "http://paste.rs/", now());
    assert_eq!(
        (d.outcome, d.reason, d.stage),
        (
            Outcome::Deny,
            Some(ReasonCode::TokenRevoked),
            Stage::Capability
        )
    );
    assert!(
        d.detail.contains("`ctok_01j0000000e008000000000001`")
            && d.detail.contains("reason `compromised laptop`"),
        "{}",
        d.detail
    );
    assert_eq!(
        d.principal.token_id, None,
        "no identity from a rejected token"
    );
    // The scoped token is not revoked and still serves its resources.
    assert_eq!(
        call(&e, "GET", "http://api.github.com/repos/o/r", now()).outcome,
        Outcome::Allow
    );
}

#[test]
fn tok_18_a_valid_token_is_preferred_over_failing_ones() {
    let expired = issue(
        1,
        &[ActionClass::CodeRead],
        "api.github.com/repos",
        "2020-01-01T00:00:00Z",
        "2020-01-02T00:00:00Z",
    );
    let revoked = issue(
        2,
        &[ActionClass::CodeRead],
        "api.github.com/repos/o",
        "2026-01-01T00:00:00Z",
        "2099-01-01T00:00:00Z",
    );
    let broad = issue(
        3,
        &[ActionClass::CodeRead, ActionClass::CodeWrite],
        "*",
        "2026-01-01T00:00:00Z",
        "2099-01-01T00:00:00Z",
    );
    let mut e = engine(Capabilities::new([expired, revoked.clone(), broad]));
    e.handle_revocations([Revocation {
        token_id: revoked.claims().token_id.clone(),
        revoked_at: now(),
        reason: "test".into(),
    }]);
    let d = call(&e, "GET", "http://api.github.com/repos/o/r", now());
    assert_eq!(d.outcome, Outcome::Allow, "{}", d.detail);
    assert_eq!(d.principal.agent_id.as_deref(), Some("agt_3"));
    assert_eq!(d.principal.session_id.as_deref(), Some("sess_3"));
}

#[test]
fn tok_18_ranking_most_specific_then_fewest_actions_then_latest() {
    let r = RevocationSet::new();
    let at = now();
    let a = issue(
        1,
        &[ActionClass::CodeRead],
        "api.github.com",
        "2026-01-01T00:00:00Z",
        "2099-01-01T00:00:00Z",
    );
    let b = issue(
        2,
        &[ActionClass::CodeRead],
        "api.github.com/repos",
        "2026-01-01T00:00:00Z",
        "2099-01-01T00:00:00Z",
    );
    let c = issue(
        3,
        &[ActionClass::CodeRead, ActionClass::CodeWrite],
        "api.github.com/repos",
        "2026-01-01T00:00:00Z",
        "2099-01-01T00:00:00Z",
    );
    let d = issue(
        4,
        &[ActionClass::CodeRead],
        "api.github.com/repos",
        "2026-02-01T00:00:00Z",
        "2099-01-01T00:00:00Z",
    );
    let pick = |caps: Vec<Capability>| {
        Stage1::Tokens(Capabilities::new(caps))
            .check(ActionClass::CodeRead, "api.github.com/repos/x", at, &r)
            .unwrap()
            .agent_id
            .unwrap()
    };
    assert_eq!(
        pick(vec![a.clone(), b.clone()]),
        "agt_2",
        "more specific scope"
    );
    assert_eq!(pick(vec![c.clone(), b.clone()]), "agt_2", "fewer actions");
    assert_eq!(
        pick(vec![b.clone(), d.clone(), c.clone(), a.clone()]),
        "agt_4",
        "latest iat"
    );
    // Order of insertion does not matter.
    assert_eq!(pick(vec![d, c, b, a]), "agt_4");
}

#[test]
fn tok_18_when_all_covering_tokens_fail_the_best_ranked_decides() {
    let expired = issue(
        1,
        &[ActionClass::CodeRead],
        "api.github.com/repos",
        "2020-01-01T00:00:00Z",
        "2020-01-02T00:00:00Z",
    );
    let revoked = issue(
        2,
        &[ActionClass::CodeRead],
        "*",
        "2026-01-01T00:00:00Z",
        "2099-01-01T00:00:00Z",
    );
    let mut r = RevocationSet::new();
    r.insert(Revocation {
        token_id: revoked.claims().token_id.clone(),
        revoked_at: now(),
        reason: String::new(),
    });
    let s = Stage1::Tokens(Capabilities::new([expired, revoked]));
    let (reason, _) = s
        .check(ActionClass::CodeRead, "api.github.com/repos/x", now(), &r)
        .unwrap_err();
    assert_eq!(
        reason,
        ReasonCode::TokenExpired,
        "the more specific (expired) token decides"
    );
    let (reason, _) = s
        .check(ActionClass::CodeRead, "example.org/", now(), &r)
        .unwrap_err();
    assert_eq!(
        reason,
        ReasonCode::TokenRevoked,
        "only the revoked `*` token covers it"
    );
}

#[test]
fn tok_19_capabilities_are_hot_swapped() {
    let mut e = engine(Capabilities::empty());
    assert_eq!(
        call(&e, "POST", "http://paste.rs/", now()).reason,
        Some(ReasonCode::TokenInvalid)
    );
    e.handle_capabilities(Capabilities::new([seed(SEED_ANY)]));
    assert_eq!(
        call(&e, "POST", "http://paste.rs/", now()).outcome,
        Outcome::Allow
    );
    e.handle_capabilities(Capabilities::empty());
    assert_eq!(
        call(&e, "POST", "http://paste.rs/", now()).reason,
        Some(ReasonCode::TokenInvalid)
    );
}

#[test]
fn tok_19_duplicate_token_ids_keep_the_first() {
    let mut caps = Capabilities::new([seed(SEED_ANY)]);
    assert!(!caps.insert(seed(SEED_ANY)));
    assert!(caps.insert(seed(SEED_SCOPED)));
    assert_eq!(caps.len(), 2);
}

#[test]
fn tok_19_dec_7_policy_only_mode_ignores_tokens() {
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
        now(),
    );
    e.handle_capabilities(Capabilities::new([seed(SEED_ANY)]));
    let d = call(&e, "POST", "http://paste.rs/", now());
    assert_eq!(d.outcome, Outcome::Allow);
    assert_eq!(d.principal.token_id, None);
}
