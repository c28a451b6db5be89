//! Unit tests of record building, sealing, chaining and verification.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::*;
use crate::action_class::ActionClass;
use crate::decision::{Outcome, ReasonCode, Stage};
use crate::engine::{Decision, Principal, RuleRef};
use crate::normalize::{Intent, Scheme};
use crate::time::UnixTime;

const PKCS8: &str = include_str!("../../../fixtures/keys/TEST-ONLY-audit-p256-pkcs8.key.pem");
const SEC1: &str = include_str!("../../../fixtures/keys/TEST-ONLY-audit-p256-sec1.key.pem");
const BUNDLE: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn signer() -> P256Signer {
    P256Signer::from_pem(PKCS8).unwrap()
}

fn verifier() -> AuditVerifier {
    AuditVerifier::from_pem(PKCS8).unwrap()
}

fn http_intent(host: &str, port: u16, path: &str, query: Option<&str>) -> Intent {
    let authority = if port == 80 {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    };
    Intent {
        method: "GET".into(),
        scheme: Scheme::Http,
        connect: false,
        host: host.into(),
        port,
        authority,
        path: path.into(),
        query: query.map(Into::into),
        forward_target: match query {
            Some(q) => format!("{path}?{q}"),
            None => path.into(),
        },
    }
}

fn allow(detail: &str) -> Decision {
    Decision {
        outcome: Outcome::Allow,
        reason: None,
        stage: Stage::Policy,
        detail: detail.into(),
        intent: Some(http_intent(
            "wttr.in",
            80,
            "/london",
            Some("format=3&api_key=s3cr3t"),
        )),
        action_class: Some(ActionClass::CommunicationExternalSend),
        provider: None,
        rule: Some(RuleRef {
            file: "mapping-rules.toml".into(),
            index: 1,
        }),
        matched_policies: vec!["default.cedar#0".into()],
        bundle_version: Some(BUNDLE.into()),
        principal: Principal::default(),
    }
}

fn meta(event_id: &str) -> RecordMeta<'_> {
    RecordMeta {
        event_id,
        timestamp: UnixTime::parse_rfc3339("2026-11-22T02:24:12.123456Z").unwrap(),
        latency_us: 12,
    }
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

/// A log of `n` records, each line followed by `\n`.
fn log_of(n: usize, s: &dyn AuditSigner) -> (Vec<String>, String) {
    let mut chain = AuditChain::genesis();
    let lines: Vec<String> = (0..n)
        .map(|i| chain.seal(&allow(&format!("call {i}")), &meta(&format!("aevt_{i}")), s))
        .collect();
    let text = lines.iter().map(|l| format!("{l}\n")).collect();
    (lines, text)
}

/// Re-sign an edited record with the test key, as a key holder could.
fn resign(mut record: Value) -> String {
    let map = record.as_object_mut().unwrap();
    map.remove("signature");
    let unsigned = canonicalize(&record).unwrap();
    let s = signer();
    let sig = STANDARD.encode(s.sign(unsigned.as_bytes()));
    record.as_object_mut().unwrap().insert(
        "signature".into(),
        json!({"alg": "ES256", "key_id": s.key_id(), "value": sig}),
    );
    canonicalize(&record).unwrap()
}

fn error_of(log: &str) -> (usize, VerifyErrorKind, String) {
    let r = verify_log(log.as_bytes(), &verifier());
    let e = r
        .first_error
        .clone()
        .unwrap_or_else(|| panic!("expected an error, got {r:?}"));
    (e.line, e.kind, e.detail)
}

fn connect_deny() -> Decision {
    let mut d = allow("no mapping rule matches CONNECT api.openai.com:443");
    d.intent = Some(Intent {
        method: "CONNECT".into(),
        scheme: Scheme::Https,
        connect: true,
        host: "api.openai.com".into(),
        port: 443,
        authority: "api.openai.com".into(),
        path: "/".into(),
        query: None,
        forward_target: String::new(),
    });
    d.action_class = None;
    d.outcome = Outcome::Deny;
    d.reason = Some(ReasonCode::MappingNotFound);
    d.stage = Stage::Mapping;
    d.rule = None;
    d.matched_policies.clear();
    d.bundle_version = None;
    d
}

fn malformed() -> Decision {
    let mut d =
        allow("Host header `b.example` disagrees with request target authority `a.example`");
    d.intent = None;
    d.action_class = None;
    d.outcome = Outcome::Deny;
    d.reason = Some(ReasonCode::MalformedRequest);
    d.stage = Stage::Normalization;
    d.rule = None;
    d.matched_policies.clear();
    d.bundle_version = None;
    d
}

// AUD-1..AUD-5, AUD-11, AUD-14: complete record lines (HTTP allow, CONNECT deny,
// malformed deny) of one chain, snapshotted.
#[test]
fn aud_1_record_lines_snapshot() {
    let s = signer();
    let mut chain = AuditChain::genesis();
    let mut allowed = allow("policy permitted the call");
    allowed.principal = Principal {
        agent_id: Some("agt_01jtest0000000000000000001".into()),
        token_id: Some("ctok_01jtest000000000000000001".into()),
        session_id: Some("ses_test".into()),
    };
    let lines = [
        chain.seal(&allowed, &meta("aevt_01jtest0000000000000000001"), &s),
        chain.seal(
            &connect_deny(),
            &meta("aevt_01jtest0000000000000000002"),
            &s,
        ),
        chain.seal(&malformed(), &meta("aevt_01jtest0000000000000000003"), &s),
    ];
    let log = lines.join("\n");
    assert_eq!(verify_log(log.as_bytes(), &verifier()).verified, 3);
    insta::with_settings!({snapshot_path => "../../tests/snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("audit_record_lines", log);
    });
}

// AUD-1: the line is the canonical JSON of the whole record, deterministic, one line.
#[test]
fn aud_1_line_is_canonical_and_deterministic() {
    let a = AuditChain::genesis().seal(&allow("x\ny\u{1}é"), &meta("aevt_1"), &signer());
    let b = AuditChain::genesis().seal(&allow("x\ny\u{1}é"), &meta("aevt_1"), &signer());
    assert_eq!(a, b);
    assert!(!a.contains('\n'));
    assert_eq!(canonicalize(&parse(&a)).unwrap(), a);
    assert!(
        a.starts_with("{\"agent_id\":null,\"decision\":{\"bundle_version\":"),
        "{a}"
    );
}

// AUD-2, AUD-3, AUD-7, AUD-9: field values of a plain HTTP record.
#[test]
fn aud_3_http_record_fields() {
    let mut d = allow("ok");
    d.intent = Some(http_intent("api.github.com", 8443, "/repos/a/b", None));
    d.provider = Some("github");
    d.principal = Principal {
        agent_id: Some("agt_1".into()),
        token_id: Some("ctok_2".into()),
        session_id: Some("ses_3".into()),
    };
    let v = parse(&AuditChain::genesis().seal(&d, &meta("aevt_x"), &signer()));
    assert_eq!(v["schema"], "firma.audit.v1");
    assert_eq!(v["seq"], 0);
    assert_eq!(v["event_id"], "aevt_x");
    assert_eq!(v["timestamp"], "2026-11-22T02:24:12.123456Z");
    assert_eq!(v["agent_id"], "agt_1");
    assert_eq!(v["token_id"], "ctok_2");
    assert_eq!(v["session_id"], "ses_3");
    assert_eq!(v["latency_us"], 12);
    assert_eq!(v["prev_hash"], GENESIS_HASH);
    let i = &v["envelope"]["intent"];
    assert_eq!(i["action_class"], "communication.external.send");
    assert_eq!(i["method"], "GET");
    assert_eq!(i["scheme"], "http");
    assert_eq!(
        i["resource"],
        json!({"host": "api.github.com:8443", "path": "/repos/a/b", "provider": "github"})
    );
    assert_eq!(i["query"], Value::Null);
    let dec = &v["decision"];
    assert_eq!(dec["outcome"], "ALLOW");
    assert_eq!(dec["reason"], Value::Null);
    assert_eq!(dec["stage"], "policy");
    assert_eq!(dec["detail"], "ok");
    assert_eq!(dec["matched_policies"], json!(["default.cedar#0"]));
    assert_eq!(dec["bundle_version"], BUNDLE);
    assert_eq!(dec["rule"], "mapping-rules.toml#1");
}

// AUD-6: the query is redacted in the record.
#[test]
fn aud_6_record_query_is_redacted() {
    let v = parse(&AuditChain::genesis().seal(&allow("ok"), &meta("e"), &signer()));
    assert_eq!(
        v["envelope"]["intent"]["query"],
        "format=3&api_key=<redacted>"
    );
    assert!(!v.to_string().contains("s3cr3t"));
}

// AUD-4: CONNECT records carry host:port only.
#[test]
fn aud_4_connect_record() {
    let d = connect_deny();
    let v = parse(&AuditChain::genesis().seal(&d, &meta("e"), &signer()));
    let i = &v["envelope"]["intent"];
    assert_eq!(
        i,
        &json!({"action_class": null, "method": "CONNECT", "scheme": "https",
        "resource": {"host": "api.openai.com:443"}, "query": null})
    );
    assert_eq!(v["decision"]["reason"], "MappingNotFound");
    assert_eq!(v["decision"]["rule"], Value::Null);
    assert_eq!(v["decision"]["bundle_version"], Value::Null);
    assert_eq!(v["decision"]["matched_policies"], json!([]));
}

// AUD-5: malformed requests (no intent) keep every intent key, as null.
#[test]
fn aud_5_malformed_record() {
    let d = malformed();
    let v = parse(&AuditChain::genesis().seal(&d, &meta("e"), &signer()));
    assert_eq!(
        v["envelope"]["intent"],
        json!({"action_class": null, "method": null, "scheme": null,
        "resource": {"host": null, "path": null, "provider": null}, "query": null})
    );
    assert!(
        verify_log(
            format!(
                "{}\n",
                AuditChain::genesis().seal(&d, &meta("e"), &signer())
            )
            .as_bytes(),
            &verifier()
        )
        .is_ok()
    );
}

// AUD-9: latency saturates at 2^53-1 so the record stays I-JSON.
#[test]
fn aud_9_latency_saturates() {
    let mut m = meta("e");
    m.latency_us = u64::MAX;
    let line = AuditChain::genesis().seal(&allow("ok"), &m, &signer());
    assert_eq!(parse(&line)["latency_us"], MAX_SAFE_INTEGER);
    assert!(verify_log(line.as_bytes(), &verifier()).is_ok());
}

// AUD-11: the signature object and what it signs.
#[test]
fn aud_11_signature_covers_canonical_record_without_signature() {
    let s = signer();
    let line = AuditChain::genesis().seal(&allow("ok"), &meta("e"), &s);
    let mut v = parse(&line);
    let sig = v.as_object_mut().unwrap().remove("signature").unwrap();
    assert_eq!(sig["alg"], "ES256");
    assert_eq!(sig["key_id"], s.key_id());
    let der = STANDARD.decode(sig["value"].as_str().unwrap()).unwrap();
    assert!(
        sig["value"].as_str().unwrap().ends_with('='),
        "padded base64"
    );
    let unsigned = canonicalize(&v).unwrap();
    assert!(verifier().verify(unsigned.as_bytes(), &der));
    assert_eq!(der, s.sign(unsigned.as_bytes()), "RFC 6979 deterministic");
}

// AUD-14: seq counts from 0 and prev_hash is the SHA-256 of the previous line.
#[test]
fn aud_14_chain_links_lines() {
    let (lines, _) = log_of(3, &signer());
    let recs: Vec<Value> = lines.iter().map(|l| parse(l)).collect();
    assert_eq!(recs[0]["prev_hash"], GENESIS_HASH);
    for (i, rec) in recs.iter().enumerate() {
        assert_eq!(rec["seq"], i);
    }
    for i in 1..3 {
        assert_eq!(
            recs[i]["prev_hash"].as_str().unwrap(),
            line_hash(lines[i - 1].as_bytes())
        );
    }
    assert_eq!(
        line_hash(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

// AUD-15: resuming after an existing line continues the chain exactly.
#[test]
fn aud_15_resume_continues_chain() {
    let s = signer();
    let (lines, text) = log_of(3, &s);
    let mut chain = AuditChain::resume(lines[2].as_bytes()).unwrap();
    assert_eq!(chain.next_seq(), 3);
    assert_eq!(chain.prev_hash(), line_hash(lines[2].as_bytes()));
    let with_nl = AuditChain::resume(format!("{}\n", lines[2]).as_bytes()).unwrap();
    assert_eq!(with_nl, chain);
    let more = chain.seal(&allow("more"), &meta("e4"), &s);
    let r = verify_log(format!("{text}{more}\n").as_bytes(), &verifier());
    assert_eq!((r.verified, r.first_error), (4, None));
    for bad in [
        "",
        "{",
        "[]",
        "{\"schema\":\"other\",\"seq\":1}",
        "{\"schema\":\"firma.audit.v1\",\"seq\":-1}",
        "{\"schema\":\"firma.audit.v1\",\"seq\":18446744073709551615}",
    ] {
        let e = AuditChain::resume(bad.as_bytes()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("last line of the log is not an audit record"),
            "{e}"
        );
    }
}

// AUD-15: recovery cuts a torn tail and terminates an unterminated complete line.
#[test]
fn aud_15_recover_after_crash() {
    let s = signer();
    let (lines, text) = log_of(2, &s);
    let empty = recover(b"").unwrap();
    assert_eq!(
        (
            empty.chain,
            empty.keep_len,
            empty.append_newline,
            empty.torn_tail
        ),
        (AuditChain::genesis(), 0, false, false)
    );

    let clean = recover(text.as_bytes()).unwrap();
    assert_eq!(
        (clean.keep_len, clean.append_newline, clean.torn_tail),
        (text.len(), false, false)
    );
    assert_eq!(
        clean.chain,
        AuditChain::resume(lines[1].as_bytes()).unwrap()
    );

    let torn = format!("{text}{}", &lines[0][..40]);
    let r = recover(torn.as_bytes()).unwrap();
    assert_eq!(
        (r.keep_len, r.append_newline, r.torn_tail),
        (text.len(), false, true)
    );
    assert_eq!(r.chain, clean.chain);

    let unterminated = text.trim_end_matches('\n');
    let r = recover(unterminated.as_bytes()).unwrap();
    assert_eq!(
        (r.keep_len, r.append_newline, r.torn_tail),
        (unterminated.len(), true, false)
    );
    assert_eq!(r.chain, clean.chain);

    let only_torn = &lines[0][..10];
    let r = recover(only_torn.as_bytes()).unwrap();
    assert_eq!(
        (&r.chain, r.keep_len, r.torn_tail),
        (&AuditChain::genesis(), 0, true)
    );

    // Appending after recovery yields a log that verifies.
    let mut chain = r.chain;
    let next = chain.seal(&allow("after"), &meta("e"), &s);
    assert!(verify_log(format!("{next}\n").as_bytes(), &verifier()).is_ok());
}

// AUD-16, AUD-19: good logs verify; an empty log verifies with 0 records.
#[test]
fn aud_19_good_and_empty_logs_verify() {
    let (_, text) = log_of(3, &signer());
    assert_eq!(
        verify_log(text.as_bytes(), &verifier()),
        VerifyReport {
            verified: 3,
            torn_tail: None,
            first_error: None
        }
    );
    assert_eq!(verify_log(b"", &verifier()), VerifyReport::default());
    // Verification with a verifier built from the public key works the same.
    let public = include_str!("../../../fixtures/keys/TEST-ONLY-audit-p256-pkcs8.pub.pem");
    assert_eq!(
        verify_log(text.as_bytes(), &AuditVerifier::from_pem(public).unwrap()).verified,
        3
    );
}

// AUD-17: an unterminated last line that parses counts; one that does not is a torn tail.
#[test]
fn aud_17_torn_tail_is_not_an_error() {
    let (lines, text) = log_of(3, &signer());
    let unterminated = text.trim_end_matches('\n');
    assert_eq!(verify_log(unterminated.as_bytes(), &verifier()).verified, 3);
    let torn = &text[..text.len() - 30];
    let r = verify_log(torn.as_bytes(), &verifier());
    assert_eq!(
        r,
        VerifyReport {
            verified: 2,
            torn_tail: Some(3),
            first_error: None
        }
    );
    assert!(r.is_ok());
    let r = verify_log(&lines[0].as_bytes()[..5], &verifier());
    assert_eq!(
        r,
        VerifyReport {
            verified: 0,
            torn_tail: Some(1),
            first_error: None
        }
    );
}

// AUD-16: torn or empty lines before the end are errors.
#[test]
fn aud_16_torn_middle_line_and_empty_line() {
    let (lines, _) = log_of(3, &signer());
    let log = format!("{}\n{}\n{}\n", lines[0], &lines[1][..60], lines[2]);
    let (line, kind, detail) = error_of(&log);
    assert_eq!((line, kind), (2, VerifyErrorKind::TornLine), "{detail}");
    assert!(detail.contains("before the record is complete"), "{detail}");
    let (line, kind, _) = error_of(&format!("{}\n\n{}\n", lines[0], lines[1]));
    assert_eq!((line, kind), (2, VerifyErrorKind::TornLine));
    let (line, kind, _) = error_of(&format!("{}\n\n", lines[0]));
    assert_eq!((line, kind), (2, VerifyErrorKind::TornLine));
}

// AUD-16: not_json.
#[test]
fn aud_16_not_json() {
    let (lines, _) = log_of(1, &signer());
    let (line, kind, detail) = error_of(&format!("{}\n{{\"a\":1]\n", lines[0]));
    assert_eq!((line, kind), (2, VerifyErrorKind::NotJson));
    assert!(detail.ends_with("at column 7"), "{detail}");
    assert!(!detail.contains("line 1"), "{detail}");
    let (_, kind, detail) = error_of("[1]\n");
    assert_eq!(kind, VerifyErrorKind::NotJson);
    assert_eq!(detail, "line is a JSON array, not an object");
    let (_, kind, _) = error_of("\u{ff}\n");
    assert_eq!(kind, VerifyErrorKind::NotJson);
}

// AUD-16: unknown_key, missing_key and bad_value at several levels.
#[test]
fn aud_16_schema_errors() {
    let (lines, _) = log_of(1, &signer());
    let base = parse(&lines[0]);
    let case = |edit: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        edit(&mut v);
        let (line, kind, detail) = error_of(&format!("{}\n", resign(v)));
        assert_eq!(line, 1);
        (kind, detail)
    };
    use VerifyErrorKind as K;
    assert_eq!(
        case(&|v| {
            v["extra"] = json!(1);
        }),
        (K::UnknownKey, "unknown key `extra`".into())
    );
    assert_eq!(
        case(&|v| {
            v["envelope"]["intent"]["resource"]["port"] = json!(80);
        }),
        (
            K::UnknownKey,
            "unknown key `envelope.intent.resource.port`".into()
        )
    );
    assert_eq!(
        case(&|v| {
            v["decision"].as_object_mut().unwrap().remove("outcome");
        }),
        (K::MissingKey, "missing key `decision.outcome`".into())
    );
    assert_eq!(
        case(&|v| {
            v.as_object_mut().unwrap().remove("prev_hash");
        }),
        (K::MissingKey, "missing key `prev_hash`".into())
    );
    assert_eq!(
        case(&|v| { v["decision"]["outcome"] = json!("MAYBE"); }),
        (K::BadValue, "`decision.outcome` must be one of `ALLOW`, `DENY`, `PASSTHROUGH`, `ABORT`, found `\"MAYBE\"`".into())
    );
    assert_eq!(
        case(&|v| {
            v["seq"] = json!("0");
        }),
        (
            K::BadValue,
            "`seq` must be an integer between 0 and 2^53-1, found `\"0\"`".into()
        )
    );
    for (edit, key) in [
        (
            Box::new(|v: &mut Value| v["schema"] = json!("firma.audit.v2"))
                as Box<dyn Fn(&mut Value)>,
            "schema",
        ),
        (
            Box::new(|v: &mut Value| v["timestamp"] = json!("yesterday")),
            "timestamp",
        ),
        (
            Box::new(|v: &mut Value| v["event_id"] = json!("")),
            "event_id",
        ),
        (
            Box::new(|v: &mut Value| v["agent_id"] = json!(7)),
            "agent_id",
        ),
        (
            Box::new(|v: &mut Value| v["latency_us"] = json!(-1)),
            "latency_us",
        ),
        (
            Box::new(|v: &mut Value| v["prev_hash"] = json!("ABC")),
            "prev_hash",
        ),
        (
            Box::new(|v: &mut Value| v["envelope"]["intent"]["scheme"] = json!("ftp")),
            "envelope.intent.scheme",
        ),
        (
            Box::new(|v: &mut Value| v["decision"]["reason"] = json!("Nope")),
            "decision.reason",
        ),
        (
            Box::new(|v: &mut Value| v["decision"]["stage"] = json!("x")),
            "decision.stage",
        ),
        (
            Box::new(|v: &mut Value| v["decision"]["matched_policies"] = json!([1])),
            "decision.matched_policies",
        ),
        (
            Box::new(|v: &mut Value| v["decision"]["bundle_version"] = json!("x")),
            "decision.bundle_version",
        ),
        (
            Box::new(|v: &mut Value| v["envelope"] = json!([])),
            "envelope",
        ),
    ] {
        let (kind, detail) = case(&*edit);
        assert_eq!(kind, K::BadValue, "{key}: {detail}");
        assert!(detail.starts_with(&format!("`{key}` must be")), "{detail}");
    }
    // A CONNECT record's resource holds only the host.
    assert_eq!(
        case(&|v| {
            v["envelope"]["intent"]["method"] = json!("CONNECT");
        }),
        (
            K::UnknownKey,
            "unknown key `envelope.intent.resource.path`".into()
        )
    );
}

// AUD-16: bad signature.value encodings are bad values, not crashes.
#[test]
fn aud_16_signature_value_format() {
    let (lines, _) = log_of(1, &signer());
    let mut v = parse(&lines[0]);
    v["signature"]["alg"] = json!("ES384");
    let (_, kind, detail) = error_of(&format!("{}\n", canonicalize(&v).unwrap()));
    assert_eq!(
        (kind, detail.as_str()),
        (
            VerifyErrorKind::BadValue,
            "`signature.alg` must be `ES256`, found `\"ES384\"`"
        )
    );
    v["signature"]["alg"] = json!("ES256");
    v["signature"]["value"] = json!("not base64!");
    let (_, kind, detail) = error_of(&format!("{}\n", canonicalize(&v).unwrap()));
    assert_eq!(kind, VerifyErrorKind::BadValue, "{detail}");
    v["signature"]["value"] = json!(STANDARD.encode(b"not DER"));
    let (_, kind, _) = error_of(&format!("{}\n", canonicalize(&v).unwrap()));
    assert_eq!(kind, VerifyErrorKind::BadSignature);
}

// AUD-18: a line that is not byte-for-byte canonical is rejected.
#[test]
fn aud_18_not_canonical() {
    let (lines, _) = log_of(2, &signer());
    for bad in [
        lines[0].replacen('{', "{ ", 1),
        format!("{}\r", lines[0]),
        format!("{} ", lines[0]),
        lines[0].replacen("\"ALLOW\"", "\"\\u0041LLOW\"", 1),
        lines[0].replacen(
            "{\"agent_id\":null,",
            "{\"agent_id\":null,\"agent_id\":null,",
            1,
        ),
    ] {
        let (line, kind, detail) = error_of(&format!("{bad}\n{}\n", lines[1]));
        assert_eq!(
            (line, kind),
            (1, VerifyErrorKind::NotCanonical),
            "{bad}: {detail}"
        );
    }
    // Also when it is the unterminated last line.
    let (_, kind, _) = error_of(&format!("{} ", lines[0]));
    assert_eq!(kind, VerifyErrorKind::NotCanonical);
}

// AUD-16: wrong key and bad signature.
#[test]
fn aud_16_wrong_key_and_bad_signature() {
    let other = P256Signer::from_pem(SEC1).unwrap();
    let (_, foreign) = log_of(1, &other);
    let (line, kind, detail) = error_of(&foreign);
    assert_eq!((line, kind), (1, VerifyErrorKind::WrongKey));
    assert!(
        detail.contains(other.key_id()) && detail.contains(verifier().key_id()),
        "{detail}"
    );

    let (lines, _) = log_of(2, &signer());
    let edited = lines[1].replacen("call 1", "call 9", 1);
    let (line, kind, _) = error_of(&format!("{}\n{edited}\n", lines[0]));
    assert_eq!((line, kind), (2, VerifyErrorKind::BadSignature));
    // A key id forged to match, over someone else's signature, still fails.
    let forged = foreign
        .trim_end()
        .replace(other.key_id(), signer().key_id());
    let (_, kind, _) = error_of(&format!("{forged}\n"));
    assert_eq!(kind, VerifyErrorKind::BadSignature);
}

// AUD-14, AUD-16: dropped, swapped, duplicated and spliced lines.
#[test]
fn aud_14_chain_tampering_is_detected() {
    let s = signer();
    let (l, _) = log_of(3, &s);
    let join = |ls: &[&String]| ls.iter().map(|x| format!("{x}\n")).collect::<String>();
    use VerifyErrorKind as K;
    let check = |ls: &[&String], want: (usize, K)| {
        let (line, kind, detail) = error_of(&join(ls));
        assert_eq!((line, kind), want, "{detail}");
        detail
    };
    let d = check(&[&l[1], &l[2]], (1, K::BadSequence));
    assert_eq!(
        d,
        "first record has `seq` `1`, expected `0` (records before it are missing)"
    );
    let d = check(&[&l[0], &l[2]], (2, K::BadSequence));
    assert_eq!(d, "`seq` is `2`, expected `1`");
    check(&[&l[1], &l[0], &l[2]], (1, K::BadSequence));
    check(&[&l[0], &l[2], &l[1]], (2, K::BadSequence));
    check(&[&l[0], &l[0], &l[1]], (2, K::BadSequence));
    check(&[&l[0], &l[1], &l[2], &l[2]], (4, K::BadSequence));

    // A validly signed record of another chain with the expected seq breaks the hash chain.
    let mut other = AuditChain::genesis();
    let o: Vec<String> = (0..2)
        .map(|i| other.seal(&allow(&format!("other {i}")), &meta("o"), &s))
        .collect();
    let d = check(&[&l[0], &o[1], &l[2]], (2, K::BrokenChain));
    assert!(d.starts_with("`prev_hash` is `"), "{d}");
    // A first record with seq 0 but a non-zero prev_hash (a log that lost its head and was renumbered).
    let mut v = parse(&l[0]);
    v["prev_hash"] = json!(line_hash(b"x"));
    let renumbered = resign(v);
    let d = check(&[&renumbered], (1, K::BrokenChain));
    assert!(d.contains("expected all zeros"), "{d}");
}

// AUD-16: the report names the first bad line only and counts what came before.
#[test]
fn aud_16_stops_at_first_error() {
    let (l, _) = log_of(4, &signer());
    let log = format!(
        "{}\n{}\n{}\ngarbage\n",
        l[0],
        l[1],
        l[1].replacen("call 1", "call 7", 1)
    );
    let r = verify_log(log.as_bytes(), &verifier());
    assert_eq!(r.verified, 2);
    let e = r.first_error.unwrap();
    assert_eq!((e.line, e.kind), (3, VerifyErrorKind::BadSignature));
    assert_eq!(
        e.to_string(),
        format!("line 3: bad signature: {}", e.detail)
    );
}

#[test]
fn verify_error_kind_names_are_stable() {
    let names: Vec<&str> = VerifyErrorKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "not_json",
            "unknown_key",
            "missing_key",
            "bad_value",
            "not_canonical",
            "wrong_key",
            "bad_signature",
            "bad_sequence",
            "broken_chain",
            "torn_line"
        ]
    );
    for k in VerifyErrorKind::ALL {
        assert_eq!(k.as_str().parse::<VerifyErrorKind>(), Ok(*k));
    }
    assert!("nope".parse::<VerifyErrorKind>().is_err());
}
