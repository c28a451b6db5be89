//! `cargo xtask bench --bench stage1`: the issue-5 goals, all through firma-core's
//! public API (keys and time are arguments; nothing here touches the network).
//!
//! - `reload/*`: a bundle reload — `Bundle::compile` (parse, strict schema
//!   validation, grouping by action; a cold `BundleCompiler`) of 100 and
//!   1,000 generated policies in ten files, then `Engine::handle_bundle` (the
//!   swap, dropping the old bundle). `reload/warm_edit_one_of_100_policies`
//!   is the typical reload: one policy of 100 edited, compiled by a
//!   `BundleCompiler` kept from the previous reload, then swapped.
//!   `reload/swap_only` is the swap of an already compiled bundle;
//! - `reload_phases/*`: the steps `Bundle::compile` takes for 100 policies,
//!   redone with cedar-policy directly (schema, parse, strict validation),
//!   to see where a reload's time goes;
//! - `revocation/*`: `RevocationSet::is_revoked` on 10,000 entries, hit and
//!   miss;
//! - `token/*`: `Capability::verify_at` (PASETO v4.public Ed25519 verify plus
//!   claims parse) of a realistic token, and its two halves;
//! - `stage1_decide/*`: `Engine::decide` in Authority mode (eight capability
//!   tokens, 10,000 revocations, 100 policies), so Stage 1 and Stage 2 both
//!   run; `policy_only_100` is the same request with Stage 1 bypassed;
//! - `stage1_pipeline/*`: that decide plus sealing the audit record with the
//!   Sidecar's signer (`firma::signer::RingSigner`), and the seal alone.
//!
//! Stage 1 does not verify signatures per request: `Capabilities` holds only
//! `Capability` values, which exist only after `Capability::verify` (seed
//! load), so `decide` does a scan of the held claims plus a revocation
//! lookup. The `token/*` benches price the verification done at load time.

use std::hint::black_box;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use cedar_policy::{ActionConstraint, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use firma::signer::RingSigner;
use firma_benches::vendor_packs;
use firma_core::audit::{AuditChain, RecordMeta};
use firma_core::engine::{Capabilities, Engine, EngineConfig};
use firma_core::mapping::{RuleSet, RuleSource};
use firma_core::normalize::RawRequest;
use firma_core::policy::{BUILTIN_SCHEMA, Bundle, BundleCompiler, PolicySource, check_schema};
use firma_core::token::{
    Capability, Claims, PublicKey, ResourceScope, Revocation, RevocationSet, Seed, SigningKey,
    context_hash, token_id_from_uuid, verify,
};
use firma_core::{ActionClass, Outcome, Stage, UnixTime};

const AUDIT_KEY: &str = include_str!("../../fixtures/keys/TEST-ONLY-audit-p256-pkcs8.key.pem");
const AUTHORITY_KEY: &[u8] = include_bytes!("../../fixtures/tokens/authority-test.key");
const AUTHORITY_PUB: &[u8] = include_bytes!("../../fixtures/tokens/authority-test.pub");
const SEED_ANY: &str = include_str!("../../fixtures/tokens/seed-any.toml");

/// 2026-06-01T00:00:00Z: inside every bench token's lifetime.
const NOW: UnixTime = UnixTime::from_secs(1_780_272_000);
const TTL: Duration = Duration::from_secs(3600);
/// Entries in the revocation set (issue 5: lookups on 10,000 entries).
const REVOKED: usize = 10_000;
/// Policy files a generated bundle is spread over.
const FILES: usize = 10;
/// The request every decide bench makes: vendor packs map it to `code.read`.
const TARGET: &str = "http://api.github.com/repos/acme/widgets";
const HOST: [(&str, &[u8]); 1] = [("Host", b"api.github.com")];

const HOSTS: &[&str] = &[
    "api.github.com",
    "api.stripe.com",
    "gmail.googleapis.com",
    "api.openai.com",
    "slack.com",
    "api.anthropic.com",
];

// ---------------------------------------------------------------------------
// Generated bundles
// ---------------------------------------------------------------------------

/// Policy `i` of a generated bundle: eight shapes of permit and forbid with
/// `when`/`unless` conditions on the resource and context attributes of the
/// built-in schema, each naming one or two action classes (one shape in
/// eight applies to every action: a host block list). None of the forbids
/// matches the bench request, and every policy passes strict validation.
fn policy(i: usize) -> String {
    let all = ActionClass::ALL;
    let a = all[(i * 7) % all.len()];
    let b = all[(i * 7 + 1) % all.len()];
    let host = HOSTS[i % HOSTS.len()];
    match i % 8 {
        0 => format!(
            "permit (principal, action == Firma::Action::\"{a}\", resource)\n  when {{ resource.host == \"{host}\" && context.risk_score < {} }};\n",
            40 + i % 40
        ),
        1 => format!(
            "@id(\"risk-ceiling-{i}\")\nforbid (principal, action == Firma::Action::\"{a}\", resource)\n  when {{ context.risk_score >= 90 || context.deny_count > {} }};\n",
            20 + i % 10
        ),
        2 => format!(
            "permit (principal == Firma::Agent::\"agt_team{}\", action in [Firma::Action::\"{a}\", Firma::Action::\"{b}\"], resource)\n  when {{ resource.path like \"/v1/*\" && context.method == \"POST\" }};\n",
            i % 20
        ),
        3 => format!(
            "@id(\"amount-cap-{i}\")\nforbid (principal, action == Firma::Action::\"{a}\", resource)\n  when {{ resource has provider && resource.provider == \"stripe\" && context.transfer_amount > {} }};\n",
            100_000 + i
        ),
        4 => format!(
            "permit (principal, action == Firma::Action::\"{a}\", resource)\n  when {{ context.raw_transport == \"https\" && context.action_count <= {} }}\n  unless {{ context.prior_action_classes.contains(\"credential.read\") }};\n",
            500 + i
        ),
        5 => format!(
            "@id(\"blocklist-{i}\")\nforbid (principal, action, resource)\n  when {{ [\"blocked-{i}.example\", \"exfil-{i}.example.net\", \"169.254.169.{}\"].contains(resource.host) }};\n",
            i % 250
        ),
        6 => format!(
            "permit (principal, action == Firma::Action::\"{a}\", resource)\n  when {{ context has git_owner && context.git_owner == \"acme\" && context.session_duration_s < {} }};\n",
            28_800 + i
        ),
        _ => format!(
            "forbid (principal, action == Firma::Action::\"{a}\", resource)\n  when {{ context.daily_cumulative_amount > {} || context.transfers_last_10m > 10 }};\n",
            5_000_000 + i
        ),
    }
}

/// `n` policies (the last one the permit the bench request needs) spread
/// over [`FILES`] files, as `(file name, text)`, sorted by name like the
/// shell reads a policy directory.
fn policy_files(n: usize) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = (0..FILES)
        .map(|f| (format!("{f:02}-generated.cedar"), String::new()))
        .collect();
    for i in 0..n.saturating_sub(1) {
        let slot = i * FILES / n.max(1);
        if let Some((_, text)) = files.get_mut(slot) {
            text.push_str(&policy(i));
        }
    }
    if let Some((_, text)) = files.last_mut() {
        text.push_str(
            "@id(\"github-read\")\npermit (principal, action == Firma::Action::\"code.read\", resource)\n  when { resource.host == \"api.github.com\" && resource.path like \"/repos/*\" && context.risk_score < 50 };\n",
        );
    }
    files
}

fn sources(files: &[(String, String)]) -> Vec<PolicySource<'_>> {
    PolicySource::of_pairs(files)
}

fn compile(files: &[(String, String)]) -> Bundle {
    Bundle::compile(&sources(files), None).unwrap_or_else(|e| panic!("bench bundle: {e}"))
}

fn rules() -> Arc<RuleSet> {
    let packs = vendor_packs();
    let sources: Vec<RuleSource<'_>> = packs
        .iter()
        .map(|(n, t)| RuleSource {
            name: n.as_str(),
            text: t.as_str(),
        })
        .collect();
    Arc::new(RuleSet::compile(&sources).expect("vendor packs compile"))
}

// ---------------------------------------------------------------------------
// Tokens and revocations
// ---------------------------------------------------------------------------

fn t(s: &str) -> UnixTime {
    UnixTime::parse_rfc3339(s).unwrap_or_else(|| panic!("bad time `{s}`"))
}

/// Revoked token id number `i` (a UUIDv7-shaped 128-bit value).
fn revoked_id(i: usize) -> String {
    let mut uuid = [0u8; 16];
    uuid[..8].copy_from_slice(&0x0190_0000_0000_7000u64.to_be_bytes());
    uuid[8..].copy_from_slice(&(0x8000_0000_0000_0000u64 | i as u64).to_be_bytes());
    token_id_from_uuid(uuid)
}

/// 10,000 revocations, like a busy Authority's list after pruning.
fn revocation_entries() -> Vec<Revocation> {
    (0..REVOKED)
        .map(|i| Revocation {
            token_id: revoked_id(i),
            revoked_at: t("2026-05-01T00:00:00Z").saturating_add(Duration::from_secs(i as u64)),
            reason: "operator-revoked".to_owned(),
        })
        .collect()
}

/// A token for `agt_demo` as the Authority would issue it.
fn issue(key: &SigningKey, n: u8, actions: &[ActionClass], scope: &str) -> Capability {
    let claims = Claims {
        token_id: format!("ctok_01j0000000e0090000000000{n:02}"),
        agent_id: "agt_demo".to_owned(),
        session_id: "sess_bench".to_owned(),
        action_set: actions.to_vec(),
        resource_scope: ResourceScope::parse(scope).unwrap_or_else(|e| panic!("{scope}: {e}")),
        issued_at: t("2026-05-31T00:00:00Z"),
        expiry: t("2026-06-30T00:00:00Z"),
        context_hash: context_hash("agt_demo", actions, scope, "bench"),
    };
    Capability::issue(key, claims).unwrap_or_else(|e| panic!("token {n}: {e}"))
}

/// Eight tokens for one agent, the shape of a seed directory: several grant
/// `code.read`, one of those is revoked (the first revocation entry), and the
/// most specific valid one (`api.github.com/repos/acme/*`) must win.
fn capabilities() -> (Capabilities, String) {
    use ActionClass as A;
    let key = SigningKey::from_bytes(AUTHORITY_KEY).expect("authority key");
    let public = PublicKey::from_bytes(AUTHORITY_PUB).expect("authority public key");
    let any = Seed::parse(Path::new("seed-any.toml"), SEED_ANY, &public)
        .expect("seed-any verifies")
        .capability;
    let mut revoked = issue(&key, 7, &[A::CodeRead], "api.github.com/repos/acme/widgets");
    // Reissue under the id the revocation set holds first.
    let mut claims = revoked.claims().clone();
    claims.token_id = revoked_id(0);
    revoked = Capability::issue(&key, claims).expect("revoked token");
    let tokens = vec![
        any,
        issue(
            &key,
            1,
            &[A::PaymentTransfer, A::PaymentRead],
            "api.stripe.com/*",
        ),
        issue(&key, 2, &[A::CommunicationExternalSend], "*"),
        issue(
            &key,
            3,
            &[A::CodeRead, A::IssueRead],
            "api.github.com/repos/*",
        ),
        issue(
            &key,
            4,
            &[A::CodeWrite, A::CodeReviewSubmit],
            "api.github.com/*",
        ),
        issue(&key, 5, &[A::ModelInferenceChat], "api.openai.com/*"),
        issue(
            &key,
            6,
            &[A::CodeRead, A::CodeMerge],
            "api.github.com/repos/acme/*",
        ),
        revoked,
    ];
    let winner = tokens[6].claims().token_id.clone();
    (Capabilities::new(tokens), winner)
}

/// An engine in Authority mode, ready: tokens, the bundle and the
/// revocations in place.
fn authority_engine(bundle: Arc<Bundle>) -> (Engine, String) {
    let (caps, winner) = capabilities();
    let mut engine = Engine::awaiting_authority(EngineConfig::default(), rules(), caps);
    engine.handle_bundle(bundle, TTL, NOW);
    engine.handle_revocations(revocation_entries());
    engine.handle_revocations_ready();
    assert!(engine.is_ready());
    (engine, winner)
}

fn request() -> RawRequest<'static> {
    RawRequest {
        method: "GET",
        target: TARGET,
        headers: &HOST,
        tunnel: None,
    }
}

// ---------------------------------------------------------------------------
// Benches
// ---------------------------------------------------------------------------

fn bench_reload(c: &mut Criterion) {
    let mut g = c.benchmark_group("reload");
    g.sample_size(20);
    for n in [100, 1_000] {
        let files = policy_files(n);
        let first = compile(&files);
        assert_eq!(first.policy_count(), n, "generated bundle size");
        assert_eq!(first.file_count(), FILES);
        let (mut engine, _) = authority_engine(Arc::new(first));
        if n >= 1_000 {
            g.sample_size(10);
            g.measurement_time(Duration::from_secs(5));
        }
        g.bench_function(format!("compile_{n}_policies"), |b| {
            b.iter(|| black_box(compile(black_box(&files))))
        });
        g.bench_function(format!("compile_and_swap_{n}_policies"), |b| {
            b.iter(|| {
                let bundle = Arc::new(compile(black_box(&files)));
                engine.handle_bundle(bundle, TTL, NOW);
            })
        });
    }
    // A typical reload: one of the 100 policies edited (one of the ten
    // files changes), on a compiler that compiled the previous bundle.
    // Iterations alternate between two edits so every one sees a change.
    let files = policy_files(100);
    let mut edited = files.clone();
    if let Some((_, text)) = edited.get_mut(3) {
        *text = text.replacen("context.risk_score >= 90", "context.risk_score >= 95", 1);
    }
    assert_ne!(edited, files, "the edit changes a file");
    let variants = [sources(&files), sources(&edited)];
    let mut compiler = BundleCompiler::new();
    let mut warm = |i: usize| {
        compiler
            .compile(&variants[i & 1], None)
            .unwrap_or_else(|e| panic!("bench bundle: {e}"))
    };
    let first = warm(0);
    assert_eq!(first.version(), compile(&files).version());
    let (mut engine, _) = authority_engine(Arc::new(first));
    let mut i = 0usize;
    g.sample_size(50);
    g.bench_function("warm_edit_one_of_100_policies", |b| {
        b.iter(|| {
            i += 1;
            engine.handle_bundle(Arc::new(warm(i)), TTL, NOW);
        })
    });
    let bundle = Arc::new(compile(&policy_files(100)));
    let (mut engine, _) = authority_engine(bundle.clone());
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("swap_only", |b| {
        b.iter(|| engine.handle_bundle(black_box(bundle.clone()), TTL, NOW))
    });
    g.finish();
}

/// The phases of `Bundle::compile` at 100 policies, each timed alone.
fn bench_reload_phases(c: &mut Criterion) {
    let files = policy_files(100);
    let schema = PolicySource {
        name: "firma.cedarschema",
        text: BUILTIN_SCHEMA,
    };
    let parse = |files: &[(String, String)]| -> Vec<PolicySet> {
        files
            .iter()
            .map(|(name, text)| PolicySet::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}")))
            .collect()
    };
    let mut merged = PolicySet::new();
    for (f, set) in parse(&files).into_iter().enumerate() {
        for p in set.policies() {
            let id = PolicyId::new(format!("{f}#{}", p.id()));
            merged.add(p.new_id(id)).expect("unique ids");
        }
    }
    assert_eq!(merged.policies().count(), 100);
    let (cedar_schema, _) = Schema::from_cedarschema_str(BUILTIN_SCHEMA).expect("schema");
    let validator = Validator::new(cedar_schema.clone());
    assert!(
        validator
            .validate(&merged, ValidationMode::Strict)
            .validation_passed()
    );

    // The action-wide policies (`action` unconstrained: the block lists) are
    // typechecked once per action class of the schema; the others once.
    let mut wide = PolicySet::new();
    let mut narrow = PolicySet::new();
    for p in merged.policies() {
        let into = if p.action_constraint() == ActionConstraint::Any {
            &mut wide
        } else {
            &mut narrow
        };
        into.add(p.clone()).expect("unique ids");
    }
    let wide_n = wide.policies().count();
    let narrow_n = narrow.policies().count();

    let mut g = c.benchmark_group("reload_phases");
    g.sample_size(20);
    g.bench_function("schema_compile", |b| {
        b.iter(|| black_box(check_schema(black_box(&schema))))
    });
    g.bench_function("parse_100_policies", |b| {
        b.iter(|| black_box(parse(black_box(&files))))
    });
    g.bench_function("validate_strict_100_policies", |b| {
        b.iter(|| {
            black_box(
                Validator::new(cedar_schema.clone())
                    .validate(black_box(&merged), ValidationMode::Strict),
            )
        })
    });
    for (label, set) in [
        (format!("validate_strict_{wide_n}_action_wide"), &wide),
        (format!("validate_strict_{narrow_n}_action_scoped"), &narrow),
    ] {
        g.bench_function(label, |b| {
            b.iter(|| {
                black_box(
                    Validator::new(cedar_schema.clone())
                        .validate(black_box(set), ValidationMode::Strict),
                )
            })
        });
    }
    g.bench_function("schema_parse_only", |b| {
        b.iter(|| black_box(Schema::from_cedarschema_str(black_box(BUILTIN_SCHEMA)).is_ok()))
    });
    g.finish();
}

fn bench_revocation(c: &mut Criterion) {
    let set: RevocationSet = revocation_entries().into_iter().collect();
    assert_eq!(set.len(), REVOKED);
    // 1,024 distinct ids each, looked up in turn, so the bench is not one
    // cached bucket.
    let hits: Vec<String> = (0..1024).map(|i| revoked_id(i * 9 % REVOKED)).collect();
    let misses: Vec<String> = (0..1024).map(|i| revoked_id(REVOKED + i)).collect();
    assert!(hits.iter().all(|id| set.is_revoked(id)));
    assert!(!misses.iter().any(|id| set.is_revoked(id)));
    let mut g = c.benchmark_group("revocation");
    for (label, ids) in [("hit_10k", &hits), ("miss_10k", &misses)] {
        g.bench_function(label, |b| {
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 1) & 1023;
                black_box(set.is_revoked(black_box(&ids[i])))
            })
        });
    }
    g.finish();
}

fn bench_token(c: &mut Criterion) {
    let public = PublicKey::from_bytes(AUTHORITY_PUB).expect("authority public key");
    let key = SigningKey::from_bytes(AUTHORITY_KEY).expect("authority key");
    let cap = issue(
        &key,
        3,
        &[ActionClass::CodeRead, ActionClass::IssueRead],
        "api.github.com/repos/*",
    );
    let token = cap.token().to_owned();
    assert_eq!(
        Capability::verify_at(&public, &token, NOW)
            .expect("bench token verifies")
            .claims(),
        cap.claims()
    );
    let message = verify(&public, &token)
        .expect("verifies")
        .message()
        .to_vec();
    let mut g = c.benchmark_group("token");
    g.bench_function(format!("verify_at_{}_bytes", token.len()), |b| {
        b.iter(|| black_box(Capability::verify_at(&public, black_box(&token), NOW)))
    });
    g.bench_function("paseto_verify_only", |b| {
        b.iter(|| black_box(verify(&public, black_box(&token))))
    });
    g.bench_function("claims_parse_only", |b| {
        b.iter(|| black_box(Claims::from_json(black_box(&message))))
    });
    g.finish();
}

fn bench_decide(c: &mut Criterion) {
    let bundle = Arc::new(compile(&policy_files(100)));
    let (engine, winner) = authority_engine(bundle.clone());
    let req = request();
    let d = engine.decide(&req, NOW);
    assert_eq!(
        (d.outcome, d.stage),
        (Outcome::Allow, Stage::Policy),
        "{}",
        d.detail
    );
    assert_eq!(d.principal.token_id.as_deref(), Some(winner.as_str()));
    assert_eq!(d.action_class, Some(ActionClass::CodeRead));

    let policy_only = Engine::policy_only(EngineConfig::default(), rules(), bundle, NOW);
    let p = policy_only.decide(&req, NOW);
    assert_eq!(p.outcome, Outcome::Allow, "{}", p.detail);

    let mut g = c.benchmark_group("stage1_decide");
    g.bench_function("authority_100_policies", |b| {
        b.iter(|| black_box(engine.decide(black_box(&req), NOW)))
    });
    g.bench_function("policy_only_100_policies", |b| {
        b.iter(|| black_box(policy_only.decide(black_box(&req), NOW)))
    });
    g.finish();
}

fn bench_pipeline(c: &mut Criterion) {
    let bundle = Arc::new(compile(&policy_files(100)));
    let (engine, _) = authority_engine(bundle);
    let ring = RingSigner::from_pem(AUDIT_KEY).expect("audit key");
    let req = request();
    let meta = RecordMeta {
        event_id: "aevt_01j0000000e00900000000bench",
        timestamp: NOW,
        latency_us: 40,
    };
    let decision = engine.decide(&req, NOW);
    assert_eq!(decision.outcome, Outcome::Allow, "{}", decision.detail);
    let mut g = c.benchmark_group("stage1_pipeline");
    g.bench_function("decide_and_sign_100_policies", |b| {
        let mut chain = AuditChain::genesis();
        let mut line = String::with_capacity(2048);
        b.iter(|| {
            let d = engine.decide(black_box(&req), NOW);
            line.clear();
            chain.seal_into(&mut line, &d, &meta, &ring);
            black_box(line.len())
        })
    });
    g.bench_function("sign_only", |b| {
        let mut chain = AuditChain::genesis();
        b.iter_batched_ref(
            || String::with_capacity(2048),
            |line| chain.seal_into(line, black_box(&decision), &meta, &ring),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = bench_reload, bench_reload_phases, bench_revocation, bench_token, bench_decide, bench_pipeline
}
criterion_main!(benches);
