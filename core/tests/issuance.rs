//! Issuance decisions (spec `spec/issuance.md`, `ISS-1`..`ISS-9`): request
//! validation, per-action Cedar evaluation with narrowing, each denial code,
//! the TTL clamp, the context hash, the token id, and that the claims sign
//! into a token the public key verifies.

use std::path::Path;
use std::time::Duration;

use firma_core::policy::{Bundle, PolicySource};
use firma_core::time::UnixTime;
use firma_core::token::issuance::{self, granted_ttl, uuid_v7};
use firma_core::token::{
    Capability, DenialCode, Grant, IssuanceInput, IssuanceRequest, Seed, SigningKey, context_hash,
    is_token_id, new_token_id,
};
use sha2::{Digest, Sha256};

const POLICIES: &str = r#"
@id("reads")
permit(principal, action in [Firma::Action::"code.read", Firma::Action::"issue.read"], resource);

@id("no-reads-for-bob")
forbid(principal == Firma::Agent::"agt_bob", action == Firma::Action::"code.read", resource);

@id("one-repo-write")
permit(principal, action == Firma::Action::"code.write", resource == Firma::Resource::"api.github.com/repos/o/r");

@id("github-reviews")
permit(principal, action == Firma::Action::"code.review.read", resource)
when { resource.host == "api.github.com" && resource.path == "/repos/*" };

@id("issue-write-in-session")
permit(principal, action == Firma::Action::"issue.write", resource)
when { context.session_id == "sess_ok" && context.raw_transport == "https" && context.timestamp_ms == 1767225600000 && context.action_count == 0 };
"#;

/// 2026-01-01T00:00:00Z, plus 250 ms.
const NOW_NS: u64 = 1_767_225_600_250_000_000;
const TOKEN_ID: &str = "ctok_01j0000000e008000000000001";
const MAX_TTL: Duration = Duration::from_secs(3600);

fn bundle() -> Bundle {
    Bundle::compile(
        &[PolicySource {
            name: "issuance.cedar",
            text: POLICIES,
        }],
        None,
    )
    .expect("issuance policies compile")
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

struct Req {
    agent: &'static str,
    session: &'static str,
    actions: Vec<String>,
    scope: &'static str,
    ttl: i64,
}

fn req(actions: &[&str]) -> Req {
    Req {
        agent: "agt_alice",
        session: "sess_ok",
        actions: strings(actions),
        scope: "*",
        ttl: 600,
    }
}

fn decide_with(r: &Req, policies: Option<&Bundle>) -> Result<Grant, firma_core::token::Denial> {
    issuance::decide(
        &IssuanceRequest {
            agent_id: r.agent,
            session_id: r.session,
            actions: &r.actions,
            resource_scope: r.scope,
            requested_ttl_secs: r.ttl,
        },
        &IssuanceInput {
            policies,
            bundle_version: "v1",
            token_id: TOKEN_ID,
            now: UnixTime::from_nanos(NOW_NS),
            max_ttl: MAX_TTL,
        },
    )
}

fn decide(r: &Req) -> Result<Grant, firma_core::token::Denial> {
    decide_with(r, Some(&bundle()))
}

fn names(grant: &Grant) -> Vec<&'static str> {
    grant.claims.action_set.iter().map(|a| a.as_str()).collect()
}

/// ISS-5, ISS-6: the grant is the authorized subset, in request order; the
/// rest is reported with a reason.
#[test]
fn iss_6_narrowing_grants_the_permitted_subset() {
    let g = decide(&req(&[
        "code.write",
        "code.read",
        "payment.transfer",
        "issue.read",
    ]))
    .unwrap();
    assert_eq!(names(&g), ["code.read", "issue.read"]);
    let refused: Vec<(&str, &str)> = g
        .refused
        .iter()
        .map(|r| (r.action.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        refused,
        [
            ("code.write", "no permit policy applies"),
            ("payment.transfer", "no permit policy applies"),
        ]
    );
}

/// ISS-6: nothing authorized is `NO_AUTHORIZED_ACTIONS`, naming every
/// denied action and the forbidding policy.
#[test]
fn iss_6_nothing_authorized_is_denied_naming_each_action() {
    let mut r = req(&["code.read", "payment.transfer"]);
    r.agent = "agt_bob";
    let d = decide(&r).unwrap_err();
    assert_eq!(d.code, DenialCode::NoAuthorizedActions);
    assert_eq!(d.code.as_str(), "NO_AUTHORIZED_ACTIONS");
    assert!(
        d.message
            .contains("`code.read` (forbidden by policy `no-reads-for-bob`)"),
        "{}",
        d.message
    );
    assert!(
        d.message
            .contains("`payment.transfer` (no permit policy applies)"),
        "{}",
        d.message
    );
    // The same request from another agent is granted: the forbid is per principal.
    r.agent = "agt_carol";
    assert_eq!(names(&decide(&r).unwrap()), ["code.read"]);
}

/// ISS-5: the resource is the requested scope, with `host`/`path` split at
/// the first `/`.
#[test]
fn iss_5_resource_is_the_scope() {
    let mut r = req(&["code.write"]);
    assert_eq!(
        decide(&r).unwrap_err().code,
        DenialCode::NoAuthorizedActions
    );
    r.scope = "api.github.com/repos/o/r";
    let g = decide(&r).unwrap();
    assert_eq!(names(&g), ["code.write"]);
    assert_eq!(g.claims.resource_scope.as_str(), "api.github.com/repos/o/r");

    let mut r = req(&["code.review.read"]);
    r.scope = "api.github.com/repos/*";
    assert_eq!(names(&decide(&r).unwrap()), ["code.review.read"]);
    r.scope = "gitlab.com/repos/*";
    assert_eq!(
        decide(&r).unwrap_err().code,
        DenialCode::NoAuthorizedActions
    );
}

/// ISS-5: the context carries the session, `https`, the issuance time in
/// milliseconds and `action_count = 0`.
#[test]
fn iss_5_context_at_issuance() {
    let mut r = req(&["issue.write"]);
    // timestamp_ms is 1767225600250 (with the 250 ms), so this policy's
    // exact-time condition fails: proves the real time is passed.
    assert_eq!(
        decide(&r).unwrap_err().code,
        DenialCode::NoAuthorizedActions
    );
    let g = issuance::decide(
        &IssuanceRequest {
            agent_id: r.agent,
            session_id: r.session,
            actions: &r.actions,
            resource_scope: r.scope,
            requested_ttl_secs: r.ttl,
        },
        &IssuanceInput {
            policies: Some(&bundle()),
            bundle_version: "v1",
            token_id: TOKEN_ID,
            now: UnixTime::from_secs(1_767_225_600),
            max_ttl: MAX_TTL,
        },
    )
    .unwrap();
    assert_eq!(names(&g), ["issue.write"]);
    r.session = "sess_other";
    assert_eq!(
        decide(&r).unwrap_err().code,
        DenialCode::NoAuthorizedActions
    );
}

/// ISS-2: malformed input is `INVALID_REQUEST`, naming the field and value,
/// and is checked before anything else.
#[test]
fn iss_2_invalid_requests() {
    let cases: [(&str, &str, &[&str], &str, &str); 6] = [
        ("bob", "s", &["code.read"], "*", "agent_id `bob`"),
        ("agt_a", "", &["code.read"], "*", "session_id ``"),
        ("agt_a", "s p", &["code.read"], "*", "session_id `s p`"),
        (
            "agt_a",
            "s",
            &["code.read"],
            "API.x",
            "resource_scope `API.x`",
        ),
        (
            "agt_a",
            "s",
            &["code.read", "code.reed"],
            "*",
            "action `code.reed`",
        ),
        ("agt_a", "s", &["*"], "*", "action `*`"),
    ];
    for (agent, session, actions, scope, needle) in cases {
        let r = Req {
            agent,
            session,
            actions: strings(actions),
            scope,
            ttl: 0,
        };
        // Without policies too: validation comes first.
        for policies in [None, Some(&bundle())] {
            let d = decide_with(&r, policies).unwrap_err();
            assert_eq!(d.code, DenialCode::InvalidRequest, "{needle}");
            assert!(d.message.contains(needle), "{}", d.message);
        }
    }
}

/// ISS-3, ISS-4: no actions, then no policies.
#[test]
fn iss_3_iss_4_no_actions_and_no_policies() {
    let d = decide(&req(&[])).unwrap_err();
    assert_eq!(d.code, DenialCode::NoActions);
    assert_eq!(d.code.as_str(), "NO_ACTIONS");
    let d = decide_with(&req(&[]), None).unwrap_err();
    assert_eq!(d.code, DenialCode::NoActions);
    let d = decide_with(&req(&["code.read"]), None).unwrap_err();
    assert_eq!(d.code, DenialCode::NoPolicies);
    assert_eq!(d.code.as_str(), "NO_POLICIES");
}

/// ISS-2: repeated actions are granted once; an empty scope means `*`.
#[test]
fn iss_2_duplicates_and_empty_scope() {
    let mut r = req(&["code.read", "code.read", "issue.read"]);
    r.scope = "";
    let g = decide(&r).unwrap();
    assert_eq!(names(&g), ["code.read", "issue.read"]);
    assert!(g.claims.resource_scope.is_any());
}

/// ISS-7: `<= 0` is `max_ttl`, else the smaller of request and `max_ttl`;
/// `iat` is the issuance second and `exp = iat + ttl`.
#[test]
fn iss_7_ttl_clamp() {
    assert_eq!(granted_ttl(0, MAX_TTL), MAX_TTL);
    assert_eq!(granted_ttl(-5, MAX_TTL), MAX_TTL);
    assert_eq!(granted_ttl(i64::MIN, MAX_TTL), MAX_TTL);
    assert_eq!(granted_ttl(60, MAX_TTL), Duration::from_secs(60));
    assert_eq!(granted_ttl(3600, MAX_TTL), MAX_TTL);
    assert_eq!(granted_ttl(i64::MAX, MAX_TTL), MAX_TTL);
    for (requested, expected) in [(0, 3600), (-1, 3600), (60, 60), (999_999, 3600)] {
        let mut r = req(&["code.read"]);
        r.ttl = requested;
        let c = decide(&r).unwrap().claims;
        assert_eq!(c.issued_at, UnixTime::from_secs(1_767_225_600));
        assert_eq!(
            c.expiry.saturating_since(c.issued_at),
            Duration::from_secs(expected),
            "requested {requested}"
        );
    }
}

/// ISS-9: the context hash covers agent, granted actions (sorted), scope
/// and the enforcement bundle version.
#[test]
fn iss_9_context_hash() {
    let mut r = req(&["issue.read", "code.read", "code.write"]);
    r.scope = "api.github.com/repos/o/r";
    let c = decide(&r).unwrap().claims;
    let expected: String =
        Sha256::digest(b"agt_alice|code.read,code.write,issue.read,|api.github.com/repos/o/r|v1")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
    assert_eq!(c.context_hash, expected);
    assert_eq!(
        c.context_hash,
        context_hash("agt_alice", &c.action_set, c.resource_scope.as_str(), "v1")
    );
    assert_ne!(
        c.context_hash,
        context_hash("agt_alice", &c.action_set, c.resource_scope.as_str(), "v2")
    );
}

/// ISS-8: token ids come from a UUIDv7 of the issuance millisecond and the
/// caller's entropy.
#[test]
fn iss_8_token_ids() {
    let now = UnixTime::from_nanos(NOW_NS);
    let u = uuid_v7(now, [0xff; 10]);
    assert_eq!(
        u.get(..6).unwrap(),
        &(1_767_225_600_250u64.to_be_bytes()[2..])
    );
    assert_eq!(u[6] >> 4, 7, "version 7");
    assert_eq!(u[8] >> 6, 0b10, "variant 10");
    assert_eq!(u[7], 0xff);
    assert_eq!(uuid_v7(now, [0; 10])[6], 0x70);
    let a = new_token_id(now, [1; 10]);
    let b = new_token_id(now, [2; 10]);
    let later = new_token_id(now.saturating_add(Duration::from_millis(1)), [0; 10]);
    assert!(is_token_id(&a) && is_token_id(&b) && is_token_id(&later));
    assert_ne!(a, b);
    assert!(a < later && b < later, "ids sort by issuance time");
}

/// ISS-1: the claims sign into a token that verifies under the public key
/// and round-trips through a seed file.
#[test]
fn iss_1_claims_sign_and_verify() {
    let key = SigningKey::from_seed(&[7; 32]);
    let g = decide(&req(&["code.read"])).unwrap();
    let cap = Capability::issue(&key, g.claims.clone()).unwrap();
    assert!(cap.token().starts_with("v4.public."));
    let verified = Capability::verify(&key.public_key(), cap.token()).unwrap();
    assert_eq!(verified.claims(), &g.claims);
    assert_eq!(verified.claims().token_id, TOKEN_ID);
    let other = SigningKey::from_seed(&[8; 32]);
    assert!(Capability::verify(&other.public_key(), cap.token()).is_err());
    let seed = Seed {
        capability: cap,
        budget_ceiling: None,
    };
    let back = Seed::parse(Path::new("seed.toml"), &seed.to_toml(), &key.public_key()).unwrap();
    assert_eq!(back.capability.claims(), &g.claims);
}

/// A bad token id or a zero `max_ttl` cannot produce claims: `INTERNAL`.
#[test]
fn unusable_inputs_are_internal() {
    let r = req(&["code.read"]);
    let b = bundle();
    let run = |token_id: &str, max_ttl: Duration| {
        issuance::decide(
            &IssuanceRequest {
                agent_id: r.agent,
                session_id: r.session,
                actions: &r.actions,
                resource_scope: r.scope,
                requested_ttl_secs: 0,
            },
            &IssuanceInput {
                policies: Some(&b),
                bundle_version: "v1",
                token_id,
                now: UnixTime::from_nanos(NOW_NS),
                max_ttl,
            },
        )
    };
    assert_eq!(
        run("tok_1", MAX_TTL).unwrap_err().code,
        DenialCode::Internal
    );
    assert_eq!(
        run(TOKEN_ID, Duration::ZERO).unwrap_err().code,
        DenialCode::Internal
    );
}
