//! Property tests of audit log verification (spec `AUD-14`, `AUD-16`,
//! `AUD-17`, `AUD-20`): every signed chain verifies; every edit, deletion,
//! reordering or insertion is reported.

use firma_core::audit::{
    AuditChain, AuditVerifier, P256Signer, RecordMeta, VerifyReport, verify_log,
};
use firma_core::decision::{Outcome, ReasonCode, Stage};
use firma_core::engine::{Decision, Principal, RuleRef};
use firma_core::normalize::{Intent, Scheme};
use firma_core::{ActionClass, UnixTime};
use proptest::prelude::*;

const PKCS8: &str = include_str!("../../fixtures/keys/TEST-ONLY-audit-p256-pkcs8.key.pem");
const SEC1: &str = include_str!("../../fixtures/keys/TEST-ONLY-audit-p256-sec1.key.pem");

/// What varies between generated records.
#[derive(Clone, Debug)]
struct Spec {
    deny: bool,
    detail: String,
    path: String,
    query: Option<String>,
    latency_us: u64,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        prop_oneof![".{0,12}", "[\\x00-\\x1f\"\\\\\u{80}-\u{10ffff}]{0,6}"],
        "(/[a-z0-9%]{1,5}){0,3}",
        proptest::option::of("[a-z_]{1,8}=[^&]{0,6}(&[a-zA-Z_]{1,8}=[^&]{0,6}){0,2}"),
        0u64..10_000_000,
    )
        .prop_map(|(deny, detail, path, query, latency_us)| Spec {
            deny,
            detail,
            path: if path.is_empty() { "/".into() } else { path },
            query,
            latency_us,
        })
}

fn decision(s: &Spec) -> Decision {
    Decision {
        outcome: if s.deny {
            Outcome::Deny
        } else {
            Outcome::Allow
        },
        reason: s.deny.then_some(ReasonCode::PolicyDenied),
        stage: Stage::Policy,
        detail: s.detail.clone(),
        intent: Some(Intent {
            method: "POST".into(),
            scheme: Scheme::Http,
            connect: false,
            host: "paste.rs".into(),
            port: 80,
            authority: "paste.rs".into(),
            path: s.path.clone(),
            query: s.query.clone(),
            forward_target: s.path.clone(),
        }),
        action_class: Some(ActionClass::CommunicationExternalSend),
        provider: None,
        rule: Some(RuleRef {
            file: "mapping-rules.toml".into(),
            index: 2,
        }),
        matched_policies: vec!["default.cedar#1".into()],
        bundle_version: None,
        principal: Principal::default(),
    }
}

/// Seal `specs` into lines with a fresh chain; `tag` makes event ids unique per log.
fn seal_all(specs: &[Spec], signer: &P256Signer, tag: &str) -> Vec<Vec<u8>> {
    let mut chain = AuditChain::genesis();
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let event_id = format!("aevt_{tag}{i}");
            let meta = RecordMeta {
                event_id: &event_id,
                timestamp: UnixTime::from_secs(1_790_000_000 + i as u64),
                latency_us: s.latency_us,
            };
            chain.seal(&decision(s), &meta, signer).into_bytes()
        })
        .collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

fn signer() -> P256Signer {
    P256Signer::from_pem(PKCS8).unwrap()
}

fn verifier() -> AuditVerifier {
    AuditVerifier::from_pem(PKCS8).unwrap()
}

fn clean(n: usize) -> VerifyReport {
    VerifyReport {
        verified: n,
        torn_tail: None,
        first_error: None,
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    // AUD-14, AUD-16, AUD-17: every sealed chain verifies, with or without the final `\n`.
    #[test]
    fn aud_16_every_signed_chain_verifies(specs in prop::collection::vec(spec(), 1..6)) {
        let lines = seal_all(&specs, &signer(), "a");
        let log = join(&lines);
        prop_assert_eq!(verify_log(&log, &verifier()), clean(specs.len()));
        prop_assert_eq!(verify_log(&log[..log.len() - 1], &verifier()), clean(specs.len()));
    }

    // AUD-16, AUD-17: changing any one byte never leaves a clean report. Before the
    // last line it is always an error; in the last line it may instead be a torn tail.
    #[test]
    fn aud_16_any_changed_byte_is_detected(
        specs in prop::collection::vec(spec(), 1..5),
        pos in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let lines = seal_all(&specs, &signer(), "b");
        let mut log = join(&lines);
        let last_start = log.len() - lines.last().unwrap().len() - 1;
        let at = pos.index(log.len());
        log[at] ^= mask;
        let r = verify_log(&log, &verifier());
        prop_assert_ne!(&r, &clean(specs.len()));
        if at < last_start {
            prop_assert!(r.first_error.is_some(), "byte {} of {}: {:?}", at, log.len(), r);
        } else {
            prop_assert!(r.first_error.is_some() || r.torn_tail.is_some(), "{:?}", r);
        }
    }

    // AUD-14, AUD-20: dropping any line but the last is an error; dropping the last
    // leaves a shorter valid log (detectable only against an external count).
    #[test]
    fn aud_14_dropped_line_is_detected(
        specs in prop::collection::vec(spec(), 1..6),
        which in any::<prop::sample::Index>(),
    ) {
        let mut lines = seal_all(&specs, &signer(), "c");
        let n = lines.len();
        let i = which.index(n);
        lines.remove(i);
        let r = verify_log(&join(&lines), &verifier());
        if i + 1 < n {
            let e = r.first_error.clone();
            prop_assert!(e.is_some(), "dropped {} of {}: {:?}", i, n, r);
            prop_assert_eq!(e.map(|e| e.line), Some(i + 1));
        } else {
            prop_assert_eq!(r, clean(n - 1));
        }
    }

    // AUD-14: swapping two adjacent lines is an error at the first of them.
    #[test]
    fn aud_14_swapped_lines_are_detected(
        specs in prop::collection::vec(spec(), 2..6),
        which in any::<prop::sample::Index>(),
    ) {
        let mut lines = seal_all(&specs, &signer(), "d");
        let i = which.index(lines.len() - 1);
        lines.swap(i, i + 1);
        let r = verify_log(&join(&lines), &verifier());
        prop_assert_eq!(r.first_error.map(|e| e.line), Some(i + 1));
    }

    // AUD-14: inserting a copy of a line, or a validly signed line of another log
    // (same key or another key), anywhere is an error.
    #[test]
    fn aud_14_inserted_line_is_detected(
        specs in prop::collection::vec(spec(), 1..5),
        src in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        origin in 0u8..3,
    ) {
        let s = signer();
        let lines = seal_all(&specs, &s, "e");
        let inserted = match origin {
            0 => lines[src.index(lines.len())].clone(),
            1 => seal_all(&specs, &s, "foreign")[src.index(lines.len())].clone(),
            _ => seal_all(&specs, &P256Signer::from_pem(SEC1).unwrap(), "e")[src.index(lines.len())].clone(),
        };
        let mut tampered = lines.clone();
        let pos = at.index(lines.len() + 1);
        tampered.insert(pos, inserted);
        let r = verify_log(&join(&tampered), &verifier());
        prop_assert!(r.first_error.is_some(), "origin {} at {}: {:?}", origin, pos, r);
    }
}

// AUD-16, AUD-18: exhaustively, every change to the bytes around line ends (where
// whitespace would still parse) is reported.
#[test]
fn aud_18_every_change_around_line_ends_is_detected() {
    let specs: Vec<Spec> = (0..3)
        .map(|i| Spec {
            deny: i == 1,
            detail: format!("call {i}"),
            path: "/".into(),
            query: None,
            latency_us: i,
        })
        .collect();
    let lines = seal_all(&specs, &signer(), "f");
    let log = join(&lines);
    let mut positions = vec![0];
    for (i, b) in log.iter().enumerate() {
        if *b == b'\n' {
            positions.extend([i - 1, i]);
            if i + 1 < log.len() {
                positions.push(i + 1);
            }
        }
    }
    for at in positions {
        for mask in 1u8..=255 {
            let mut tampered = log.clone();
            tampered[at] ^= mask;
            let r = verify_log(&tampered, &verifier());
            assert!(
                r.first_error.is_some() || r.torn_tail.is_some(),
                "byte {at} ^ {mask:#04x}: {r:?}"
            );
        }
    }
}
