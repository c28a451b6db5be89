//! `cargo xtask bench`: medians for the hot path on this machine.
//!
//! - `match/*`: classify a normalized request against all vendor packs merged;
//! - `normalize`: request head → intent;
//! - `cedar/*`: Stage 2 evaluation at 15 and 100 policies;
//! - `decide/*`: the engine's whole decide (normalize, map, Cedar);
//! - `audit/*`: build + canonicalize + sign one record (p256 and ring), verify one;
//! - `decide_and_sign`: decide plus sealing the audit record with the ring signer.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use firma::signer::RingSigner;
use firma_benches::{Spread, policy_text, vendor_packs};
use firma_core::audit::{AuditChain, AuditVerifier, P256Signer, RecordMeta, verify_log};
use firma_core::engine::{Engine, EngineConfig};
use firma_core::mapping::{RuleSet, RuleSource};
use firma_core::normalize::{RawRequest, normalize};
use firma_core::policy::{Bundle, PolicyContext, PolicyRequest, PolicySource, ResourceAttrs};
use firma_core::{ActionClass, UnixTime};

const KEY: &str = include_str!("../../fixtures/keys/TEST-ONLY-audit-p256-pkcs8.key.pem");
const T0: UnixTime = UnixTime::from_secs(1_767_225_600);

fn rules() -> RuleSet {
    let packs = vendor_packs();
    let sources: Vec<RuleSource<'_>> = packs
        .iter()
        .map(|(n, t)| RuleSource {
            name: n.as_str(),
            text: t.as_str(),
        })
        .collect();
    RuleSet::compile(&sources).expect("vendor packs compile")
}

fn bundle(n: usize, spread: Spread) -> Bundle {
    let text = policy_text(n, spread);
    Bundle::compile(
        &[PolicySource {
            name: "bench.cedar",
            text: &text,
        }],
        None,
    )
    .expect("bench bundle compiles")
}

fn head<'a>(
    method: &'a str,
    target: &'a str,
    headers: &'a [(&'a str, &'a [u8])],
) -> RawRequest<'a> {
    RawRequest {
        method,
        target,
        headers,
        tunnel: None,
    }
}

const GITHUB_HOST: [(&str, &[u8]); 1] = [("Host", b"api.github.com")];

fn bench_match(c: &mut Criterion) {
    let rules = rules();
    let cases = [
        (
            "GET",
            "http://api.github.com/repos/o/r/pulls",
            "api.github.com",
        ),
        ("POST", "http://api.stripe.com/v1/refunds", "api.stripe.com"),
        (
            "GET",
            "http://gmail.googleapis.com/gmail/v1/users/me/messages/abc",
            "gmail.googleapis.com",
        ),
        (
            "GET",
            "http://unmapped.example.com/a/b/c",
            "unmapped.example.com",
        ),
    ];
    let intents: Vec<_> = cases
        .iter()
        .map(|(m, t, h)| {
            let hdr = [("Host", h.as_bytes())];
            normalize(&head(m, t, &hdr)).expect("bench request normalizes")
        })
        .collect();
    let mut g = c.benchmark_group("match");
    g.bench_function(format!("vendor_packs_{}_rules", rules.len()), |b| {
        b.iter(|| {
            for i in &intents {
                black_box(rules.classify(black_box(i)));
            }
        })
    });
    g.finish();
    c.bench_function("normalize", |b| {
        b.iter(|| {
            black_box(normalize(black_box(&head(
                "GET",
                "http://api.github.com/repos/o/r/pulls?state=open",
                &GITHUB_HOST,
            ))))
        })
    });
}

fn bench_cedar(c: &mut Criterion) {
    let mut g = c.benchmark_group("cedar");
    for (n, spread, label) in [
        (15, Spread::AcrossActions, "15_policies"),
        (100, Spread::AcrossActions, "100_policies"),
        (100, Spread::SameAction, "100_policies_same_action"),
        (
            100,
            Spread::SameActionUnpinned,
            "100_policies_same_action_unpinned",
        ),
    ] {
        let bundle = bundle(n, spread);
        let context = PolicyContext::default();
        let req = PolicyRequest {
            principal: "anonymous",
            action: ActionClass::CodeRead,
            resource: ResourceAttrs {
                host: "api.github.com",
                path: "/repos/o/r/pulls",
                provider: Some("github"),
            },
            context: &context,
        };
        let verdict = bundle.evaluate(&req).expect("evaluates");
        assert!(
            verdict.allowed,
            "bench request must be allowed: {verdict:?}"
        );
        g.bench_function(label, |b| {
            b.iter(|| black_box(bundle.evaluate(black_box(&req))))
        });
    }
    g.finish();
}

fn engine(n: usize) -> Engine {
    let cfg = EngineConfig {
        default_protected: true,
        bundle_ttl: Duration::from_secs(3600),
        ..EngineConfig::default()
    };
    Engine::policy_only(
        cfg,
        Arc::new(rules()),
        Arc::new(bundle(n, Spread::AcrossActions)),
        T0,
    )
}

fn bench_decide(c: &mut Criterion) {
    let mut g = c.benchmark_group("decide");
    for n in [15, 100] {
        let engine = engine(n);
        let req = head("GET", "http://api.github.com/repos/o/r", &GITHUB_HOST);
        let d = engine.decide(&req, T0);
        assert!(d.forwards(), "bench request must be allowed: {d:?}");
        g.bench_function(format!("{n}_policies"), |b| {
            b.iter(|| black_box(engine.decide(black_box(&req), T0)))
        });
    }
    g.finish();
}

fn bench_audit(c: &mut Criterion) {
    let engine = engine(15);
    let req = head("GET", "http://api.github.com/repos/o/r/pulls", &GITHUB_HOST);
    let decision = engine.decide(&req, T0);
    let meta = RecordMeta {
        event_id: "aevt_bench",
        timestamp: T0,
        latency_us: 12,
    };
    let p256 = P256Signer::from_pem(KEY).expect("key");
    let ring = RingSigner::from_pem(KEY).expect("key");
    let mut g = c.benchmark_group("audit");
    g.bench_function("seal_p256", |b| {
        let mut chain = AuditChain::genesis();
        b.iter(|| black_box(chain.seal(&decision, &meta, &p256)))
    });
    g.bench_function("seal_ring", |b| {
        let mut chain = AuditChain::genesis();
        b.iter(|| black_box(chain.seal(&decision, &meta, &ring)))
    });
    let mut chain = AuditChain::genesis();
    let line = chain.seal(&decision, &meta, &ring) + "\n";
    let verifier = AuditVerifier::from_pem(KEY).expect("key");
    assert!(verify_log(line.as_bytes(), &verifier).is_ok());
    g.bench_function("verify_one", |b| {
        b.iter(|| black_box(verify_log(black_box(line.as_bytes()), &verifier)))
    });
    g.finish();
}

fn bench_pipeline(c: &mut Criterion) {
    let engine = engine(100);
    let ring = RingSigner::from_pem(KEY).expect("key");
    let req = head("GET", "http://api.github.com/repos/o/r", &GITHUB_HOST);
    let meta = RecordMeta {
        event_id: "aevt_bench",
        timestamp: T0,
        latency_us: 12,
    };
    let mut chain = AuditChain::genesis();
    c.bench_function("decide_and_sign_100_policies", |b| {
        b.iter(|| {
            let d = engine.decide(black_box(&req), T0);
            black_box(chain.seal(&d, &meta, &ring))
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(50);
    targets = bench_match, bench_cedar, bench_decide, bench_audit, bench_pipeline
}
criterion_main!(benches);
