//! Unit tests of the token layer; ids in names and comments (`spec/tokens.md`).

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;

use super::*;
use crate::action_class::ActionClass;
use crate::time::UnixTime;

const KEY: &[u8] = include_bytes!("../../../fixtures/tokens/authority-test.key");
const PUB: &[u8] = include_bytes!("../../../fixtures/tokens/authority-test.pub");
const SEED_ANY: &str = include_str!("../../../fixtures/tokens/seed-any.toml");
const SEED_SCOPED: &str = include_str!("../../../fixtures/tokens/seed-scoped.toml");
const SEED_EXPIRED: &str = include_str!("../../../fixtures/tokens/seed-expired.toml");
const REVOCATIONS: &str = include_str!("../../../fixtures/tokens/revocations.txt");
const VECTORS: &str = include_str!("../../../fixtures/tokens/paseto-v4-public-vectors.json");

fn key() -> SigningKey {
    SigningKey::from_bytes(KEY).unwrap()
}

fn public() -> PublicKey {
    PublicKey::from_bytes(PUB).unwrap()
}

fn t(s: &str) -> UnixTime {
    UnixTime::parse_rfc3339(s).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn sample_claims() -> Claims {
    Claims {
        token_id: "ctok_01j0000000e008000000000009".into(),
        agent_id: "agt_demo".into(),
        session_id: "sess_1".into(),
        action_set: vec![
            ActionClass::CodeRead,
            ActionClass::CommunicationExternalSend,
        ],
        resource_scope: ResourceScope::parse("api.github.com/repos/*").unwrap(),
        issued_at: t("2026-01-01T00:00:00Z"),
        expiry: t("2026-01-01T01:00:00Z"),
        context_hash: "ab".repeat(32),
    }
}

/// Sign arbitrary claims JSON with the test key.
fn signed(json: &str) -> String {
    sign(&key(), json.as_bytes(), b"")
}

fn claim_error(json: &str) -> TokenError {
    Capability::verify(&public(), &signed(json)).unwrap_err()
}

fn claim_of(e: &TokenError) -> &str {
    match e {
        TokenError::Malformed { claim, .. } => claim,
        other => panic!("expected a malformed claim, got {other:?}"),
    }
}

// ---- PASETO (TOK-1..TOK-3) ----

#[test]
fn tok_1_tok_2_official_v4_public_vectors() {
    let doc: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    let pk = PublicKey::from_bytes(&hex(doc["public-key"].as_str().unwrap())).unwrap();
    let sk = SigningKey::from_bytes(&hex(doc["secret-key"].as_str().unwrap())).unwrap();
    assert_eq!(sk.public_key(), pk);
    let tests = doc["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 7);
    for v in tests {
        let name = v["name"].as_str().unwrap();
        let token = v["token"].as_str().unwrap();
        let footer = v["footer"].as_str().unwrap().as_bytes();
        let implicit = v["implicit-assertion"].as_str().unwrap().as_bytes();
        let result = verify_with(&pk, token, footer, implicit);
        if v["expect-fail"].as_bool().unwrap() {
            assert!(result.is_err(), "{name} must fail");
            continue;
        }
        let payload = v["payload"].as_str().unwrap().as_bytes();
        let verified = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.message(), payload, "{name}");
        assert_eq!(verified.footer(), footer, "{name}");
        // Ed25519 is deterministic: signing reproduces the vector exactly.
        assert_eq!(
            sign_with_assertion(&sk, payload, footer, implicit),
            token,
            "{name}"
        );
        // The wrong implicit assertion breaks the signature.
        assert_eq!(
            verify_with(&pk, token, footer, b"other").unwrap_err(),
            TokenError::SignatureInvalid,
            "{name}"
        );
    }
}

#[test]
fn tok_1_capability_profile_refuses_footers() {
    let doc: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    let pk = PublicKey::from_bytes(&hex(doc["public-key"].as_str().unwrap())).unwrap();
    let with_footer = doc["tests"][1]["token"].as_str().unwrap();
    let e = verify(&pk, with_footer).unwrap_err();
    assert!(
        matches!(&e, TokenError::ParseFailure { reason } if reason.contains("footer")),
        "{e}"
    );
    let without = doc["tests"][0]["token"].as_str().unwrap();
    assert!(verify(&pk, without).is_ok());
    // An expected footer that the token lacks.
    assert!(matches!(
        verify_with(&pk, without, b"kid", b""),
        Err(TokenError::ParseFailure { .. })
    ));
}

#[test]
fn tok_1_pae_matches_the_spec_examples() {
    assert_eq!(pae(&[]), vec![0; 8]);
    assert_eq!(pae(&[b""]), [vec![1], vec![0; 15]].concat());
    assert_eq!(
        pae(&[b"test"]),
        [
            vec![1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0],
            b"test".to_vec()
        ]
        .concat()
    );
}

#[test]
fn tok_1_malformed_token_shapes_are_parse_failures() {
    let good = signed("{}");
    let body = good.strip_prefix(HEADER).unwrap();
    let short = format!("{HEADER}{}", URL_SAFE_NO_PAD.encode([0u8; 63]));
    let cases = [
        String::new(),
        "v4.public".to_owned(),
        format!("v4.local.{body}"),
        format!("v3.public.{body}"),
        format!("V4.public.{body}"),
        format!("{HEADER}{body}."),
        format!("{HEADER}{body}.a.b"),
        format!("{HEADER}{body}="),
        format!("{HEADER}{body}+"),
        short,
        format!("{HEADER}{}", "A".repeat(MAX_TOKEN_LEN)),
    ];
    for case in cases {
        let e = verify(&public(), &case).unwrap_err();
        assert!(
            matches!(e, TokenError::ParseFailure { .. }),
            "`{case:.40}`: {e:?}"
        );
        assert!(!e.to_string().contains('\n'));
    }
}

#[test]
fn tok_3_key_files() {
    let k = key();
    assert_eq!(k.to_keypair_bytes().as_slice(), KEY);
    assert_eq!(k.public_key().to_bytes().as_slice(), PUB);
    let seed_only = SigningKey::from_bytes(&KEY[..32]).unwrap();
    assert_eq!(seed_only.public_key(), public());
    let mut wrong_half = KEY.to_vec();
    wrong_half[40] ^= 1;
    assert!(matches!(
        SigningKey::from_bytes(&wrong_half),
        Err(TokenError::Key { .. })
    ));
    for len in [0, 31, 33, 63, 65] {
        let e = SigningKey::from_bytes(&vec![7; len]).unwrap_err();
        assert!(e.to_string().contains(&format!("is {len} bytes")), "{e}");
        assert!(PublicKey::from_bytes(&vec![7; len]).is_err());
    }
    let seed_hex: String = KEY[..32].iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        !format!("{k:?}").contains(&seed_hex),
        "debug output leaks the seed"
    );
}

#[test]
fn tok_2_tokens_from_another_implementation_verify() {
    // The seeds were signed by fixtures/tokens/make_fixtures.py.
    for text in [SEED_ANY, SEED_SCOPED, SEED_EXPIRED] {
        let token = text
            .lines()
            .find_map(|l| l.strip_prefix("raw_token = \""))
            .unwrap()
            .trim_end_matches('"');
        let cap = Capability::verify(&public(), token).unwrap();
        assert_eq!(cap.token(), token);
    }
}

#[test]
fn tok_2_another_key_is_signature_invalid() {
    let other = SigningKey::from_seed(&[9; 32]);
    let token = Capability::issue(&other, sample_claims()).unwrap();
    assert_eq!(
        Capability::verify(&public(), token.token()).unwrap_err(),
        TokenError::SignatureInvalid
    );
}

#[test]
fn tok_2_one_flipped_byte_in_any_claim_or_the_signature_is_rejected() {
    let cap = Capability::issue(&key(), sample_claims()).unwrap();
    let token = cap.token();
    let body = URL_SAFE_NO_PAD
        .decode(token.strip_prefix(HEADER).unwrap())
        .unwrap();
    let json_len = body.len() - 64;
    let json = std::str::from_utf8(&body[..json_len]).unwrap().to_owned();
    let reencode = |bytes: &[u8]| format!("{HEADER}{}", URL_SAFE_NO_PAD.encode(bytes));
    assert_eq!(reencode(&body), token);
    for claim in CLAIM_NAMES {
        // Flip one bit of the first byte of the claim's value.
        let key_at = json.find(&format!("\"{claim}\":")).unwrap();
        let value_at = key_at + claim.len() + 3;
        let mut forged = body.clone();
        forged[value_at + 1] ^= 0x01;
        assert_eq!(
            verify(&public(), &reencode(&forged)).unwrap_err(),
            TokenError::SignatureInvalid,
            "claim {claim}"
        );
    }
    for i in [json_len, json_len + 31, body.len() - 1] {
        let mut forged = body.clone();
        forged[i] ^= 0x80;
        assert_eq!(
            verify(&public(), &reencode(&forged)).unwrap_err(),
            TokenError::SignatureInvalid,
            "signature byte {i}"
        );
    }
    // Header bytes.
    for (i, _) in HEADER.char_indices() {
        let mut forged = token.as_bytes().to_vec();
        forged[i] ^= 0x20;
        let forged = String::from_utf8(forged).unwrap();
        assert!(matches!(
            verify(&public(), &forged),
            Err(TokenError::ParseFailure { .. })
        ));
    }
}

// ---- claims (TOK-4, TOK-5) ----

#[test]
fn tok_4_issue_and_verify_round_trip() {
    let claims = sample_claims();
    let cap = Capability::issue(&key(), claims.clone()).unwrap();
    assert!(cap.token().starts_with(HEADER));
    let back = Capability::verify(&public(), cap.token()).unwrap();
    assert_eq!(back.claims(), &claims);
    assert_eq!(back, cap);
    assert_eq!(
        Claims::from_json(claims.to_json().as_bytes()).unwrap(),
        claims
    );
    // Deterministic.
    assert_eq!(
        Capability::issue(&key(), claims).unwrap().token(),
        cap.token()
    );
}

#[test]
fn tok_4_claims_json_shape() {
    let json = sample_claims().to_json();
    assert_eq!(
        json,
        format!(
            "{{\"exp\":\"2026-01-01T01:00:00Z\",\"iat\":\"2026-01-01T00:00:00Z\",\"token_id\":\"ctok_01j0000000e008000000000009\",\"agent_id\":\"agt_demo\",\"session_id\":\"sess_1\",\"context_hash\":\"{}\",\"resource_scope\":\"api.github.com/repos/*\",\"action_set\":[\"code.read\",\"communication.external.send\"]}}",
            "ab".repeat(32)
        )
    );
}

#[test]
fn tok_4_malformed_claims_name_the_claim() {
    let base: serde_json::Value = serde_json::from_str(&sample_claims().to_json()).unwrap();
    let with = |claim: &str, value: serde_json::Value| {
        let mut v = base.clone();
        v[claim] = value;
        v.to_string()
    };
    let without = |claim: &str| {
        let mut v = base.clone();
        v.as_object_mut().unwrap().remove(claim);
        v.to_string()
    };
    use serde_json::json;
    let cases: Vec<(String, &str, &str)> = vec![
        (without("exp"), "exp", "is missing"),
        (without("action_set"), "action_set", "is missing"),
        (
            with("exp", json!(1_767_225_600)),
            "exp",
            "is not a string: `1767225600`",
        ),
        (with("iat", json!("yesterday")), "iat", "`yesterday`"),
        (with("token_id", json!("tok_1")), "token_id", "`tok_1`"),
        (with("agent_id", json!("demo")), "agent_id", "`demo`"),
        (with("session_id", json!("a b")), "session_id", "`a b`"),
        (with("context_hash", json!("xyz")), "context_hash", "`xyz`"),
        (
            with("resource_scope", json!("")),
            "resource_scope",
            "is empty",
        ),
        (
            with("resource_scope", json!("*.github.com")),
            "resource_scope",
            "`*.github.com`",
        ),
        (
            with("action_set", json!("code.read")),
            "action_set",
            "is not an array",
        ),
        (with("action_set", json!([])), "action_set", "is empty"),
        (
            with("action_set", json!(["code.read", 3])),
            "action_set",
            "`3`",
        ),
        (
            with("action_set", json!(["code.read", "code.teleport"])),
            "action_set",
            "unknown action class `code.teleport`",
        ),
        (with("action_set", json!(["*"])), "action_set", "`*`"),
        (
            with("action_set", json!(["code.read", "code.read"])),
            "action_set",
            "twice",
        ),
        (
            with("nbf", json!("2026-01-01T00:00:00Z")),
            "nbf",
            "not a firma",
        ),
        (
            with("exp", json!("2025-12-31T00:00:00Z")),
            "exp",
            "is not after `iat`",
        ),
    ];
    for (json, claim, needle) in cases {
        let e = claim_error(&json);
        assert_eq!(claim_of(&e), claim, "{e}");
        let msg = e.to_string();
        assert!(msg.contains(needle), "{msg} lacks {needle}");
        assert!(!msg.contains('\n'));
    }
    // A repeated key is refused, not resolved.
    let dup = sample_claims()
        .to_json()
        .replacen('{', "{\"agent_id\":\"agt_other\",", 1);
    assert_eq!(claim_of(&claim_error(&dup)), "agent_id");
    for payload in ["[]", "null", "not json", "{\"exp\":"] {
        assert!(matches!(
            claim_error(payload),
            TokenError::MalformedPayload { .. }
        ));
    }
}

#[test]
fn tok_6_expiry_is_exp_at_or_before_now() {
    let cap = Capability::issue(&key(), sample_claims()).unwrap();
    let exp = cap.claims().expiry;
    let just_before = UnixTime::from_nanos(exp.as_nanos() - 1);
    assert!(Capability::verify_at(&public(), cap.token(), just_before).is_ok());
    for now in [exp, exp.saturating_add(Duration::from_secs(1))] {
        let e = Capability::verify_at(&public(), cap.token(), now).unwrap_err();
        assert_eq!(
            e,
            TokenError::Expired {
                token_id: "ctok_01j0000000e008000000000009".into(),
                expiry: exp
            }
        );
        assert_eq!(
            e.to_string(),
            "token `ctok_01j0000000e008000000000009` expired at 2026-01-01T01:00:00.000000Z"
        );
    }
}

#[test]
fn tok_8_verification_order() {
    // Malformed claims under a forged signature: the signature fails first.
    let bad_claims = signed("{\"exp\":1}");
    let mut body = URL_SAFE_NO_PAD
        .decode(bad_claims.strip_prefix(HEADER).unwrap())
        .unwrap();
    body[2] ^= 0x01;
    let forged = format!("{HEADER}{}", URL_SAFE_NO_PAD.encode(&body));
    assert_eq!(
        Capability::verify(&public(), &forged).unwrap_err(),
        TokenError::SignatureInvalid
    );
    // Malformed and expired: malformed wins.
    let mut expired_and_bad: serde_json::Value =
        serde_json::from_str(&sample_claims().to_json()).unwrap();
    expired_and_bad["agent_id"] = "nobody".into();
    let token = signed(&expired_and_bad.to_string());
    let e = Capability::verify_at(&public(), &token, t("2030-01-01T00:00:00Z")).unwrap_err();
    assert_eq!(claim_of(&e), "agent_id");
    // Shape before signature: a v4.local header is a parse failure even with
    // a valid body.
    let good = Capability::issue(&key(), sample_claims()).unwrap();
    let local = good.token().replacen("v4.public.", "v4.local.", 1);
    assert!(matches!(
        Capability::verify(&public(), &local),
        Err(TokenError::ParseFailure { .. })
    ));
}

// ---- ids (TOK-5) ----

#[test]
fn tok_5_token_ids() {
    assert!(is_token_id("ctok_01j0000000e008000000000001"));
    for bad in [
        "tok_01j0000000e008000000000001",
        "ctok_01j0000000e00800000000000",
        "ctok_01j0000000e0080000000000011",
        "ctok_01J0000000e008000000000001",
        "ctok_01i0000000e008000000000001",
        "ctok_81j0000000e008000000000001",
        "ctok_",
    ] {
        assert!(!is_token_id(bad), "{bad}");
    }
    assert_eq!(
        token_id_from_uuid([0; 16]),
        "ctok_00000000000000000000000000"
    );
    assert_eq!(
        token_id_from_uuid([0xff; 16]),
        "ctok_7zzzzzzzzzzzzzzzzzzzzzzzzz"
    );
    assert_eq!(
        token_id_from_uuid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 33]),
        "ctok_00000000000000000000000011"
    );
    assert!(agent_id_problem("agt_demo").is_none());
    assert!(agent_id_problem("agt_").is_some());
    assert!(agent_id_problem("demo").is_some());
    assert!(session_id_problem(&"s".repeat(128)).is_none());
    assert!(session_id_problem(&"s".repeat(129)).is_some());
}

#[test]
fn tok_5_context_hash_matches_the_fixtures() {
    // make_fixtures.py computed it independently.
    let seed = Seed::parse(Path::new("seed-any.toml"), SEED_ANY, &public()).unwrap();
    let c = seed.capability.claims();
    assert_eq!(
        context_hash(
            &c.agent_id,
            &c.action_set,
            c.resource_scope.as_str(),
            "test-bundle"
        ),
        c.context_hash
    );
    assert!(context_hash_problem(&c.context_hash).is_none());
}

#[test]
fn rfc3339_drops_an_empty_fraction() {
    assert_eq!(rfc3339(t("2026-01-02T03:04:05Z")), "2026-01-02T03:04:05Z");
    assert_eq!(
        rfc3339(t("2026-01-02T03:04:05.120Z")),
        "2026-01-02T03:04:05.12Z"
    );
    assert_eq!(
        rfc3339(t("2026-01-02T03:04:05.000000001Z")),
        "2026-01-02T03:04:05.000000001Z"
    );
}

// ---- scope (TOK-7) ----

#[test]
fn tok_7_scope_grammar_and_coverage() {
    let covers = |scope: &str, res: &str| ResourceScope::parse(scope).unwrap().covers(res);
    assert!(covers("*", "anything.example/x"));
    for scope in ["api.github.com", "api.github.com/*"] {
        assert!(covers(scope, "api.github.com/"), "{scope}");
        assert!(covers(scope, "api.github.com/repos/a/b"), "{scope}");
        assert!(!covers(scope, "api.github.com.evil.net/"), "{scope}");
        assert!(!covers(scope, "api.github.com:8443/"), "{scope}");
        assert!(!covers(scope, "xapi.github.com/"), "{scope}");
    }
    for scope in ["api.github.com/repos", "api.github.com/repos/*"] {
        assert!(covers(scope, "api.github.com/repos"), "{scope}");
        assert!(covers(scope, "api.github.com/repos/o/r"), "{scope}");
        assert!(!covers(scope, "api.github.com/reposx"), "{scope}");
        assert!(!covers(scope, "api.github.com/"), "{scope}");
    }
    assert!(covers("paste.rs/", "paste.rs/"));
    assert!(!covers("paste.rs/", "paste.rs/abc"));
    assert!(covers("localhost:8443/v1", "localhost:8443/v1/x"));
    assert!(!covers("localhost:8443/v1", "localhost/v1/x"));

    for bad in [
        "",
        "**",
        "*.github.com",
        "api.github.com/*/x",
        "api.github.com/re*",
        "/repos",
        "API.github.com",
        "api.github.com/repos/",
        "api.github.com//x",
        "api.github.com/a/../b",
        "api.github.com/a?b=1",
        "api.github.com/a b",
        "api.github.com//*",
        "héllo",
    ] {
        let e = ResourceScope::parse(bad);
        assert!(e.is_err(), "{bad:?} must be refused");
    }
    assert!(ResourceScope::parse("*").unwrap().is_any());
    assert!(
        ResourceScope::parse("a.b/c").unwrap().specificity()
            > ResourceScope::parse("a.b").unwrap().specificity()
    );
}

// ---- seeds (TOK-9..TOK-11) ----

fn parse_seed(text: &str) -> Result<Seed, SeedError> {
    Seed::parse(Path::new("seeds/s.toml"), text, &public())
}

#[test]
fn tok_9_fixture_seeds_load() {
    let seed = parse_seed(SEED_SCOPED).unwrap();
    let c = seed.capability.claims();
    assert_eq!(c.token_id, "ctok_01j0000000e008000000000002");
    assert_eq!(c.action_set, vec![ActionClass::CodeRead]);
    assert_eq!(c.resource_scope.as_str(), "api.github.com/repos/*");
    assert_eq!(seed.budget_ceiling, None);
    // Expired seeds load; Stage 1 reports them expired.
    let expired = parse_seed(SEED_EXPIRED).unwrap();
    assert!(
        expired
            .capability
            .claims()
            .is_expired(t("2026-01-01T00:00:00Z"))
    );
}

#[test]
fn tok_11_written_seeds_read_back() {
    let cap = Capability::issue(&key(), sample_claims()).unwrap();
    for budget in [None, Some(12.5), Some(0.0)] {
        let seed = Seed {
            capability: cap.clone(),
            budget_ceiling: budget,
        };
        let text = seed.to_toml();
        assert_eq!(parse_seed(&text).unwrap(), seed, "{text}");
    }
    let text = Seed {
        capability: cap,
        budget_ceiling: None,
    }
    .to_toml();
    for k in SEED_KEYS.iter().filter(|k| **k != "budget_ceiling") {
        assert!(text.contains(&format!("\n{k} = ")), "{k}");
    }
}

#[test]
fn tok_10_seed_fields_must_agree_with_the_signed_claims() {
    let cases = [
        (
            "token_id = \"ctok_01j0000000e008000000000002\"",
            "token_id = \"ctok_01j0000000e008000000000005\"",
            "token_id",
        ),
        (
            "agent_id = \"agt_demo\"",
            "agent_id = \"agt_root\"",
            "agent_id",
        ),
        (
            "session_id = \"sess_1\"",
            "session_id = \"sess_2\"",
            "session_id",
        ),
        (
            "action_set = [\"code.read\"]",
            "action_set = [\"code.read\", \"code.write\"]",
            "action_set",
        ),
        (
            "resource_scope = \"api.github.com/repos/*\"",
            "resource_scope = \"*\"",
            "resource_scope",
        ),
        (
            "issued_at = \"2026-01-01T00:00:00Z\"",
            "issued_at = \"2025-01-01T00:00:00Z\"",
            "issued_at",
        ),
        (
            "expiry = \"2099-01-01T00:00:00Z\"",
            "expiry = \"2199-01-01T00:00:00Z\"",
            "expiry",
        ),
        (
            "context_hash = \"b9a5",
            "context_hash = \"c9a5",
            "context_hash",
        ),
    ];
    for (from, to, key) in cases {
        assert!(SEED_SCOPED.contains(from), "{from}");
        let text = SEED_SCOPED.replacen(from, to, 1);
        let e = parse_seed(&text).unwrap_err();
        match &e {
            SeedError::Mismatch { key: k, at, .. } => {
                assert_eq!(k, key);
                let line = text.lines().position(|l| l.starts_with(key)).unwrap() + 1;
                assert_eq!(at.position.unwrap().line, line, "{e}");
            }
            other => panic!("{key}: expected a mismatch, got {other}"),
        }
        assert!(e.to_string().starts_with("seeds/s.toml:"), "{e}");
    }
    // Same set in another order is agreement, not a mismatch.
    let reordered = SEED_ANY.replacen(
        "[\"communication.external.send\", \"code.read\"]",
        "[\"code.read\", \"communication.external.send\"]",
        1,
    );
    assert_ne!(reordered, SEED_ANY);
    assert!(parse_seed(&reordered).is_ok());
    // Equal instants in another spelling agree too.
    let respelled =
        SEED_SCOPED.replacen("2099-01-01T00:00:00Z", "2099-01-01T00:00:00.000+00:00", 1);
    assert!(parse_seed(&respelled).is_ok());
}

#[test]
fn tok_9_seed_errors_are_positioned_and_one_line() {
    let tampered = SEED_SCOPED.replacen(
        "raw_token = \"v4.public.eyJ",
        "raw_token = \"v4.public.eyK",
        1,
    );
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{SEED_SCOPED}extra = 1\n"),
            "s.toml:11:1: unknown key `extra`",
        ),
        (
            SEED_SCOPED.replacen("session_id = \"sess_1\"\n", "", 1),
            "missing key `session_id`",
        ),
        (
            SEED_SCOPED.replacen("agent_id = \"agt_demo\"", "agent_id = 7", 1),
            "s.toml:4:12: `agent_id`: expected a string, found `7`",
        ),
        (
            SEED_SCOPED.replacen("[\"code.read\"]", "[\"code.read\", 3]", 1),
            "`action_set[1]`: expected a string",
        ),
        (
            SEED_SCOPED.replacen("[\"code.read\"]", "[\"code.fly\"]", 1),
            "`action_set[0]`: `code.fly` is not a known action class",
        ),
        (
            SEED_SCOPED.replacen("2099-01-01T00:00:00Z", "soon", 1),
            "`expiry`: `soon` is not an rfc 3339",
        ),
        (
            format!("{SEED_SCOPED}budget_ceiling = -1\n"),
            "`budget_ceiling`: `-1`",
        ),
        (
            format!("{SEED_SCOPED}budget_ceiling = \"lots\"\n"),
            "expected a number",
        ),
        (
            format!("{SEED_SCOPED}budget_ceiling = nan\n"),
            "`budget_ceiling`: `NaN`",
        ),
        ("raw_token = \"x\n".to_owned(), "s.toml:1:"),
        (
            tampered,
            "s.toml:2:13: `raw_token`: token signature does not verify",
        ),
        (
            SEED_SCOPED.replacen("raw_token = \"v4.public.", "raw_token = \"v4.local.", 1),
            "`raw_token`: token is not a v4.public paseto",
        ),
    ];
    for (text, needle) in cases {
        let e = parse_seed(&text).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}\n  lacks {needle}");
        assert!(!e.contains('\n'), "{e}");
    }
    let with_budget = parse_seed(&format!("{SEED_SCOPED}budget_ceiling = 10\n")).unwrap();
    assert_eq!(with_budget.budget_ceiling, Some(10.0));
}

#[test]
fn tok_9_seeds_signed_by_another_authority_are_refused() {
    let other = SigningKey::from_seed(&[3; 32]).public_key();
    let e = Seed::parse(Path::new("s.toml"), SEED_ANY, &other).unwrap_err();
    assert!(matches!(
        e,
        SeedError::Token {
            source: TokenError::SignatureInvalid,
            ..
        }
    ));
}

// ---- revocations (TOK-12..TOK-15) ----

#[test]
fn tok_12_revocation_file_with_legacy_blank_and_bad_lines() {
    let now = t("2026-07-01T00:00:00Z");
    let (entries, warnings) = parse_revocations(REVOCATIONS, now);
    let ids: Vec<&str> = entries.iter().map(|e| e.token_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ctok_01j0000000e008000000000004",
            "ctok_01j0000000e008000000000005",
            "ctok_01j0000000e008000000000001"
        ]
    );
    assert_eq!(entries[0].revoked_at, t("2026-01-01T00:00:00Z"));
    assert_eq!(entries[0].reason, "operator-revoked");
    assert_eq!(entries[1].revoked_at, now, "legacy lines are stamped now");
    assert_eq!(entries[1].reason, "");
    assert_eq!(entries[2].reason, "compromised laptop");
    let lines: Vec<usize> = warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [3, 4, 5, 6]);
    assert!(warnings[0].to_string().starts_with("line 3: blank"));
    assert!(
        warnings[1].message.contains("`not-a-token`"),
        "{}",
        warnings[1]
    );
    assert!(
        warnings[2].message.contains("`yesterday`"),
        "{}",
        warnings[2]
    );
    assert!(
        warnings[3].message.contains("2 tab-separated fields"),
        "{}",
        warnings[3]
    );

    // CRLF line ends and a missing final line break.
    let crlf = "ctok_01j0000000e008000000000004\t2026-01-01T00:00:00Z\tx\r\nctok_01j0000000e008000000000005";
    let (entries, warnings) = parse_revocations(crlf, now);
    assert_eq!(entries.len(), 2);
    assert!(warnings.is_empty());
    assert_eq!(entries[0].reason, "x");
    assert_eq!(parse_revocations("", now), (vec![], vec![]));
}

#[test]
fn tok_13_expired_revocations_are_dropped() {
    let max_ttl = Duration::from_secs(3600);
    let r = Revocation {
        token_id: "ctok_01j0000000e008000000000004".into(),
        revoked_at: t("2026-01-01T00:00:00Z"),
        reason: String::new(),
    };
    assert!(!r.is_expired(t("2026-01-01T01:00:00Z"), max_ttl));
    assert!(r.is_expired(t("2026-01-01T01:00:00.000000001Z"), max_ttl));

    let now = t("2026-06-01T12:30:00Z");
    let (set, warnings) = RevocationSet::load(REVOCATIONS, now, max_ttl);
    assert_eq!(warnings.len(), 4);
    // Line 1 (January) expired; the legacy line (stamped now) and line 7 stay.
    assert!(!set.is_revoked("ctok_01j0000000e008000000000004"));
    assert!(set.is_revoked("ctok_01j0000000e008000000000005"));
    assert!(set.is_revoked("ctok_01j0000000e008000000000001"));
    let mut set = set;
    assert_eq!(set.prune_expired(t("2026-06-01T13:00:00.5Z"), max_ttl), 1);
    assert_eq!(set.len(), 1);
}

#[test]
fn tok_14_revocation_set_lookup_insert_merge() {
    let r = |id: u8, at: &str, reason: &str| Revocation {
        token_id: format!("ctok_01j0000000e00800000000000{id}"),
        revoked_at: t(at),
        reason: reason.into(),
    };
    let mut set = RevocationSet::new();
    assert!(set.is_empty());
    assert!(set.insert(r(1, "2026-01-01T00:00:00Z", "a")));
    assert!(!set.insert(r(1, "2025-01-01T00:00:00Z", "older")));
    assert_eq!(
        set.get("ctok_01j0000000e008000000000001").unwrap().reason,
        "a"
    );
    assert!(!set.insert(r(1, "2026-02-01T00:00:00Z", "later")));
    assert_eq!(
        set.get("ctok_01j0000000e008000000000001").unwrap().reason,
        "later"
    );
    let other: RevocationSet = [
        r(2, "2026-03-01T00:00:00Z", ""),
        r(3, "2026-01-15T00:00:00Z", ""),
    ]
    .into_iter()
    .collect();
    set.merge(other);
    assert_eq!(set.len(), 3);
    assert!(set.is_revoked("ctok_01j0000000e008000000000002"));
    assert!(!set.is_revoked("ctok_01j0000000e008000000000004"));
    let since: Vec<&str> = set
        .since(t("2026-01-01T00:00:00Z"))
        .iter()
        .map(|e| e.token_id.as_str())
        .collect();
    assert_eq!(
        since,
        [
            "ctok_01j0000000e008000000000003",
            "ctok_01j0000000e008000000000001",
            "ctok_01j0000000e008000000000002"
        ]
    );
    assert!(set.remove("ctok_01j0000000e008000000000003").is_some());
    assert!(!set.is_revoked("ctok_01j0000000e008000000000003"));
}

#[test]
fn tok_15_compacted_file_reads_back() {
    let now = t("2026-06-01T12:30:00Z");
    let (set, _) = RevocationSet::load(REVOCATIONS, now, Duration::from_secs(86_400 * 365));
    let text = set.to_file();
    assert_eq!(
        text,
        "ctok_01j0000000e008000000000001\t2026-06-01T12:00:00Z\tcompromised laptop\n\
         ctok_01j0000000e008000000000004\t2026-01-01T00:00:00Z\toperator-revoked\n\
         ctok_01j0000000e008000000000005\t2026-06-01T12:30:00Z\t\n"
    );
    let (again, warnings) = parse_revocations(&text, t("2030-01-01T00:00:00Z"));
    assert!(warnings.is_empty());
    assert_eq!(again.into_iter().collect::<RevocationSet>(), set);
    let weird = Revocation {
        token_id: "ctok_01j0000000e008000000000001".into(),
        revoked_at: now,
        reason: "tab\there\nnewline".into(),
    };
    assert_eq!(weird.to_line().matches('\t').count(), 2);
}

// ---- properties ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// TOK-1, TOK-2: sign → verify round-trips any message and footer.
    #[test]
    fn tok_2_sign_verify_round_trip(
        message in proptest::collection::vec(any::<u8>(), 0..300),
        footer in proptest::collection::vec(any::<u8>(), 0..40),
        implicit in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let token = sign_with_assertion(&key(), &message, &footer, &implicit);
        let v = verify_with(&public(), &token, &footer, &implicit).unwrap();
        prop_assert_eq!(v.message(), message.as_slice());
        prop_assert_eq!(v.footer(), footer.as_slice());
    }

    /// TOK-2: any single-byte change of a capability token is rejected.
    #[test]
    fn tok_2_any_single_byte_change_is_rejected(index in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let cap = Capability::issue(&key(), sample_claims()).unwrap();
        let mut bytes = cap.token().as_bytes().to_vec();
        let i = index.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let Ok(forged) = String::from_utf8(bytes) else {
            return Ok(());
        };
        prop_assert!(Capability::verify(&public(), &forged).is_err());
    }
}
