//! Running one fixture against the real core.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use firma_core::audit::{
    AuditChain, AuditVerifier, P256Signer, RecordMeta, canonicalize, verify_log,
};
use firma_core::engine::{Engine, EngineConfig, ProtectedEndpoints};
use firma_core::mapping::{RuleSet, RuleSource};
use firma_core::normalize::RawRequest;
use firma_core::policy::{Bundle, PolicySource};
use firma_core::{Decision, ReasonCode, UnixTime};

use crate::fixture::{Expect, FileEntry, Fixture, RequestCase, Tamper};

/// The audit signing key used for every fixture (a test key, checked in).
pub const TEST_KEY: &str = include_str!("../../fixtures/keys/TEST-ONLY-audit-p256-pkcs8.key.pem");
/// The same role in SEC1 form (`audit_key = "sec1"`).
pub const TEST_KEY_SEC1: &str =
    include_str!("../../fixtures/keys/TEST-ONLY-audit-p256-sec1.key.pem");

const DEFAULT_CLOCK: &str = "2026-01-01T00:00:00Z";

/// The result of one case (a request, a load expectation or a tamper check).
#[derive(Debug)]
pub struct CaseResult {
    /// Fixture file.
    pub fixture: PathBuf,
    /// Case name.
    pub case: String,
    /// Spec ids of the fixture.
    pub spec: Vec<String>,
    /// Empty when the case passed; otherwise one line per mismatch.
    pub failures: Vec<String>,
}

impl CaseResult {
    /// True when every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Run every fixture under each path (files or directories, recursively).
pub fn run_paths(paths: &[PathBuf]) -> Vec<CaseResult> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files);
    }
    files.sort();
    files.iter().flat_map(|f| run_fixture(f)).collect()
}

/// Directories named `shared` hold inputs referenced by fixtures, not fixtures.
fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        if path.file_name().is_some_and(|n| n == "shared") {
            return;
        }
        if let Ok(rd) = std::fs::read_dir(path) {
            for e in rd.flatten() {
                collect(&e.path(), out);
            }
        }
    } else if path.extension().is_some_and(|e| e == "toml") {
        out.push(path.to_path_buf());
    }
}

fn fail(fixture: &Path, case: &str, spec: &[String], msg: String) -> CaseResult {
    CaseResult {
        fixture: fixture.to_path_buf(),
        case: case.to_owned(),
        spec: spec.to_vec(),
        failures: vec![msg],
    }
}

/// Run one fixture file. A fixture that cannot be read or parsed is one failed case.
pub fn run_fixture(path: &Path) -> Vec<CaseResult> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return vec![fail(
                path,
                "<read>",
                &[],
                format!("cannot read fixture: {e}"),
            )];
        }
    };
    let fx: Fixture = match toml::from_str(&text) {
        Ok(f) => f,
        Err(e) => return vec![fail(path, "<parse>", &[], format!("invalid fixture: {e}"))],
    };
    let spec = fx.spec.clone();
    if spec.is_empty() {
        return vec![fail(
            path,
            "<parse>",
            &spec,
            "fixture names no spec ids".into(),
        )];
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let clock = fx.clock.as_deref().unwrap_or(DEFAULT_CLOCK);
    let Some(t0) = UnixTime::parse_rfc3339(clock) else {
        return vec![fail(path, "<parse>", &spec, format!("bad clock `{clock}`"))];
    };

    // Load mapping rules and policies.
    let load = load_inputs(&fx, dir);
    let (rules, bundle) = match (load, &fx.expect_load) {
        (Err((stage, msg)), Some(exp)) => {
            let mut failures = Vec::new();
            if exp.stage != stage {
                failures.push(format!(
                    "load failed at stage `{stage}`, expected `{}`: {msg}",
                    exp.stage
                ));
            }
            for want in &exp.error_contains {
                if !msg.contains(want.as_str()) {
                    failures.push(format!("load error does not contain `{want}`:\n    {msg}"));
                }
            }
            return vec![CaseResult {
                fixture: path.into(),
                case: "<load>".into(),
                spec,
                failures,
            }];
        }
        (Err((stage, msg)), None) => {
            return vec![fail(
                path,
                "<load>",
                &spec,
                format!("{stage} failed to load: {msg}"),
            )];
        }
        (Ok(_), Some(exp)) => {
            return vec![fail(
                path,
                "<load>",
                &spec,
                format!("load succeeded, expected a `{}` error", exp.stage),
            )];
        }
        (Ok(v), None) => v,
    };

    let cfg = EngineConfig {
        default_protected: fx.config.default_protected.unwrap_or(true),
        bundle_ttl: Duration::from_secs(fx.config.bundle_ttl_seconds.unwrap_or(3600)),
        enforcement_timeout: Duration::from_millis(fx.config.enforcement_timeout_ms.unwrap_or(50)),
    };
    let bundle = Arc::new(bundle);
    let mut engine = Engine::policy_only(cfg, Arc::new(rules), Arc::clone(&bundle), t0);
    let mut protected = ProtectedEndpoints::new();
    for ep in &fx.config.protected_endpoints {
        match ep
            .rsplit_once(':')
            .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h, p)))
        {
            Some((h, p)) => protected.add_name(h, p),
            None => {
                return vec![fail(
                    path,
                    "<config>",
                    &spec,
                    format!("bad protected endpoint `{ep}` (host:port)"),
                )];
            }
        }
    }
    engine.set_protected_endpoints(protected);
    let key = match fx.audit_key.as_deref() {
        None | Some("pkcs8") => TEST_KEY,
        Some("sec1") => TEST_KEY_SEC1,
        Some(other) => {
            return vec![fail(
                path,
                "<key>",
                &spec,
                format!("unknown audit_key `{other}` (pkcs8, sec1)"),
            )];
        }
    };
    let signer = match P256Signer::from_pem(key) {
        Ok(s) => s,
        Err(e) => return vec![fail(path, "<key>", &spec, format!("test key: {e}"))],
    };
    let mut chain = AuditChain::genesis();
    let mut log = String::new();
    let mut results = Vec::new();
    for (n, case) in fx.request.iter().enumerate() {
        let mut failures = Vec::new();
        if case.restart {
            match log.lines().last().map(|l| AuditChain::resume(l.as_bytes())) {
                Some(Ok(c)) => chain = c,
                Some(Err(e)) => failures.push(format!("cannot resume the audit chain: {e}")),
                None => failures.push("restart before any request".into()),
            }
        }
        if case.reload_bundle {
            match request_time(case, t0) {
                Ok(now) => engine.handle_bundle(Arc::clone(&bundle), cfg.bundle_ttl, now),
                Err(e) => failures.push(e),
            }
        }
        match decide(&engine, case, t0) {
            Err(msg) => failures.push(msg),
            Ok(decision) => {
                let event_id = format!("aevt_conformance_{n:04}");
                let now = request_time(case, t0).unwrap_or(t0);
                let meta = RecordMeta {
                    event_id: &event_id,
                    timestamp: now,
                    latency_us: case.elapsed_ms.unwrap_or(0) * 1000,
                };
                let decision = match dispatch(decision, case.dispatch.as_deref()) {
                    Ok(d) => d,
                    Err(e) => {
                        failures.push(e);
                        results.push(CaseResult {
                            fixture: path.into(),
                            case: case.name.clone(),
                            spec: spec.clone(),
                            failures,
                        });
                        continue;
                    }
                };
                let line = chain.seal(&decision, &meta, &signer);
                check(&case.expect, &decision, &line, &mut failures);
                check_canonical(&line, &mut failures);
                let status = decision.response_status().unwrap_or(0);
                if let Some(want) = case.expect.status
                    && want != status
                {
                    failures.push(format!("status: expected {want}, got {status}"));
                }
                if let Some(want) = &case.expect.body {
                    let got = decision.response_body(&event_id).unwrap_or_default();
                    if *want != got {
                        failures.push(format!(
                            "body: expected\n      {want}\n    got\n      {got}"
                        ));
                    }
                }
                log.push_str(&line);
                log.push('\n');
            }
        }
        results.push(CaseResult {
            fixture: path.into(),
            case: case.name.clone(),
            spec: spec.clone(),
            failures,
        });
    }

    // The produced log always verifies; tampering must be detected.
    let verifier = match AuditVerifier::from_pem(key) {
        Ok(v) => v,
        Err(e) => return vec![fail(path, "<key>", &spec, format!("test key: {e}"))],
    };
    {
        let report = verify_log(log.as_bytes(), &verifier);
        let mut failures = Vec::new();
        if let Some(e) = &report.first_error {
            failures.push(format!(
                "untampered log fails verification at line {}: {}",
                e.line, e.detail
            ));
        }
        if report.verified != fx.request.len() {
            failures.push(format!(
                "verified {} records, expected {}",
                report.verified,
                fx.request.len()
            ));
        }
        results.push(CaseResult {
            fixture: path.into(),
            case: "<audit chain>".into(),
            spec: spec.clone(),
            failures,
        });
    }
    for t in &fx.tamper {
        let name = format!("tamper {} line {}", t.action, t.line);
        let failures = match tamper(&log, t) {
            Err(msg) => vec![msg],
            Ok(bytes) => check_tamper(&verify_log(&bytes, &verifier), t),
        };
        results.push(CaseResult {
            fixture: path.into(),
            case: name,
            spec: spec.clone(),
            failures,
        });
    }
    results
}

type Loaded = (RuleSet, Bundle);

fn read_entry(e: &FileEntry, dir: &Path) -> Result<Vec<(String, String)>, String> {
    match (&e.text, &e.path) {
        (Some(text), None) => Ok(vec![(
            e.name.clone().unwrap_or_else(|| "inline".into()),
            text.clone(),
        )]),
        (None, Some(p)) => {
            let full = dir.join(p);
            if full.is_dir() {
                let mut files: Vec<PathBuf> = std::fs::read_dir(&full)
                    .map_err(|err| format!("{}: {err}", full.display()))?
                    .flatten()
                    .map(|d| d.path())
                    .filter(|f| f.extension().is_some_and(|x| x == "cedar"))
                    .collect();
                files.sort();
                files
                    .iter()
                    .map(|f| {
                        let name = f
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        std::fs::read_to_string(f)
                            .map(|t| (name, t))
                            .map_err(|err| format!("{}: {err}", f.display()))
                    })
                    .collect()
            } else {
                let text = std::fs::read_to_string(&full)
                    .map_err(|err| format!("{}: {err}", full.display()))?;
                let name = e.name.clone().unwrap_or_else(|| {
                    full.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                });
                Ok(vec![(name, text)])
            }
        }
        _ => Err("a file entry needs exactly one of `text` or `path`".into()),
    }
}

fn load_inputs(fx: &Fixture, dir: &Path) -> Result<Loaded, (&'static str, String)> {
    let mut rule_files = Vec::new();
    for m in &fx.mapping {
        rule_files.extend(read_entry(m, dir).map_err(|e| ("fixture", e))?);
    }
    let sources: Vec<RuleSource<'_>> = rule_files
        .iter()
        .map(|(name, text)| RuleSource {
            name: name.as_str(),
            text: text.as_str(),
        })
        .collect();
    let rules = RuleSet::compile(&sources).map_err(|e| ("mapping", e.to_string()))?;

    let mut policy_files = Vec::new();
    for p in &fx.policy {
        policy_files.extend(read_entry(p, dir).map_err(|e| ("fixture", e))?);
    }
    let schema = match &fx.schema {
        Some(s) => read_entry(s, dir)
            .map_err(|e| ("fixture", e))?
            .into_iter()
            .next(),
        None => None,
    };
    let psources: Vec<PolicySource<'_>> = policy_files
        .iter()
        .map(|(name, text)| PolicySource {
            name: name.as_str(),
            text: text.as_str(),
        })
        .collect();
    let schema_src = schema.as_ref().map(|(name, text)| PolicySource {
        name: name.as_str(),
        text: text.as_str(),
    });
    let bundle = Bundle::compile(&psources, schema_src).map_err(|e| ("policy", e.to_string()))?;
    Ok((rules, bundle))
}

/// Apply a simulated upstream result to a forwarded decision (DEC-12).
fn dispatch(d: Decision, how: Option<&str>) -> Result<Decision, String> {
    match how.unwrap_or("ok") {
        "ok" => Ok(d),
        "unreachable" if d.forwards() => Ok(d.abort(
            ReasonCode::UpstreamUnavailable,
            "upstream connection refused",
        )),
        "timeout" if d.forwards() => Ok(d.abort(
            ReasonCode::UpstreamTimeout,
            "upstream did not answer in time",
        )),
        "unreachable" | "timeout" => Ok(d),
        other => Err(format!(
            "unknown dispatch `{other}` (ok, unreachable, timeout)"
        )),
    }
}

fn request_time(case: &RequestCase, t0: UnixTime) -> Result<UnixTime, String> {
    let Some(at) = case.at.as_deref() else {
        return Ok(t0);
    };
    if let Some(rest) = at.strip_prefix('+') {
        let (num, unit) = if let Some(n) = rest.strip_suffix("ms") {
            (n, 1_000_000u64)
        } else if let Some(n) = rest.strip_suffix('s') {
            (n, 1_000_000_000u64)
        } else {
            return Err(format!("bad `at` offset `{at}` (use +Ns or +Nms)"));
        };
        let n: u64 = num.parse().map_err(|_| format!("bad `at` offset `{at}`"))?;
        return Ok(UnixTime::from_nanos(t0.as_nanos() + n * unit));
    }
    UnixTime::parse_rfc3339(at).ok_or_else(|| format!("bad `at` time `{at}`"))
}

fn decide(engine: &Engine, case: &RequestCase, t0: UnixTime) -> Result<Decision, String> {
    let now = request_time(case, t0)?;
    let mut headers: Vec<(String, String)> = case.headers.clone();
    let has_host = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host"));
    if !has_host
        && case.add_host.unwrap_or(true)
        && let Some(h) = default_host(&case.method, &case.target, case.tunnel.as_deref())
    {
        headers.insert(0, ("Host".into(), h));
    }
    let raw: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let req = RawRequest {
        method: &case.method,
        target: &case.target,
        headers: &raw,
        tunnel: case.tunnel.as_deref(),
    };
    let d = engine.decide(&req, now);
    Ok(engine.finish(d, Duration::from_millis(case.elapsed_ms.unwrap_or(0))))
}

/// The Host header a client such as curl would send.
fn default_host(method: &str, target: &str, tunnel: Option<&str>) -> Option<String> {
    if method == "CONNECT" {
        return Some(target.to_owned());
    }
    if let Some((_, rest)) = target.split_once("://") {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        return rest.get(..end).map(str::to_owned);
    }
    tunnel.map(str::to_owned)
}

fn check(exp: &Expect, d: &Decision, line: &str, failures: &mut Vec<String>) {
    let mut cmp = |what: &str, want: &str, got: &str| {
        if want != got {
            failures.push(format!("{what}: expected `{want}`, got `{got}`"));
        }
    };
    if let Some(w) = &exp.outcome {
        cmp("outcome", w, d.outcome.as_str());
    }
    if let Some(w) = &exp.reason {
        cmp("reason", w, d.reason.map_or("", |r| r.as_str()));
    }
    if let Some(w) = &exp.stage {
        cmp("stage", w, d.stage.as_str());
    }
    if let Some(w) = &exp.action_class {
        cmp("action_class", w, d.action_class.map_or("", |a| a.as_str()));
    }
    if let Some(w) = &exp.resource {
        let got = if d.action_class.is_some() {
            d.intent.as_ref().map(|i| i.resource_id())
        } else {
            None
        };
        cmp("resource", w, got.as_deref().unwrap_or(""));
    }
    if let Some(w) = &exp.rule {
        cmp(
            "rule",
            w,
            &d.rule.as_ref().map(ToString::to_string).unwrap_or_default(),
        );
    }
    if let Some(w) = &exp.matched_policies
        && *w != d.matched_policies
    {
        failures.push(format!(
            "matched_policies: expected {w:?}, got {:?}",
            d.matched_policies
        ));
    }
    if let Some(w) = &exp.detail_contains
        && !d.detail.contains(w.as_str())
    {
        failures.push(format!("detail does not contain `{w}`: `{}`", d.detail));
    }
    if exp.audit.is_empty() && exp.audit_null.is_empty() {
        return;
    }
    let record: serde_json::Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            failures.push(format!("audit line is not JSON: {e}"));
            return;
        }
    };
    for path in &exp.audit_null {
        match lookup(&record, path) {
            Some(serde_json::Value::Null) => {}
            Some(v) => failures.push(format!("audit {path}: expected null, got {v}")),
            None => failures.push(format!("audit {path}: missing (expected null)")),
        }
    }
    for (path, want) in &exp.audit {
        let want = toml_to_json(want);
        match lookup(&record, path) {
            Some(got) if *got == want => {}
            Some(got) => failures.push(format!("audit {path}: expected {want}, got {got}")),
            None => failures.push(format!("audit {path}: missing (expected {want})")),
        }
    }
}

/// AUD-10: every line is exactly the RFC 8785 form of its own JSON.
fn check_canonical(line: &str, failures: &mut Vec<String>) {
    match serde_json::from_str::<serde_json::Value>(line).map(|v| canonicalize(&v)) {
        Ok(Ok(c)) if c == line => {}
        Ok(Ok(c)) => failures.push(format!(
            "audit line is not canonical:\n      {line}\n    canonical form:\n      {c}"
        )),
        Ok(Err(e)) => failures.push(format!("audit line cannot be canonicalized: {e}")),
        Err(e) => failures.push(format!("audit line is not JSON: {e}")),
    }
}

fn lookup<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(v, |cur, key| match cur {
        serde_json::Value::Object(m) => m.get(key),
        serde_json::Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Value::from(*f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

fn tamper(log: &str, t: &Tamper) -> Result<Vec<u8>, String> {
    let mut lines: Vec<Vec<u8>> = log.lines().map(|l| l.as_bytes().to_vec()).collect();
    let n = lines.len();
    let idx = t
        .line
        .checked_sub(1)
        .filter(|i| *i < n)
        .ok_or_else(|| format!("tamper line {} out of range 1..={n}", t.line))?;
    let mut trailing_newline = true;
    match t.action.as_str() {
        "flip_byte" => {
            let line = &mut lines[idx];
            let off = t.offset.unwrap_or(line.len() / 2);
            let b = line
                .get_mut(off)
                .ok_or_else(|| format!("offset {off} beyond line length"))?;
            *b ^= 0x01;
        }
        "drop_line" => {
            lines.remove(idx);
        }
        "swap_lines" => {
            if idx + 1 >= n {
                return Err("swap_lines needs a following line".into());
            }
            lines.swap(idx, idx + 1);
        }
        "insert_copy" => {
            let copy = lines[idx].clone();
            lines.insert(idx + 1, copy);
        }
        "truncate_tail" => {
            if idx + 1 != n {
                return Err("truncate_tail applies to the last line".into());
            }
            let line = &mut lines[idx];
            line.truncate(line.len() / 2);
            trailing_newline = false;
        }
        "append_garbage" => {
            lines.insert(idx + 1, b"{\"not\":\"a record\"}".to_vec());
        }
        other => return Err(format!("unknown tamper action `{other}`")),
    }
    let mut out = lines.join(&b'\n');
    if trailing_newline {
        out.push(b'\n');
    }
    Ok(out)
}

fn check_tamper(report: &firma_core::audit::VerifyReport, t: &Tamper) -> Vec<String> {
    let mut failures = Vec::new();
    if t.expect.kind == "torn_tail" {
        if report.torn_tail != t.expect.line {
            failures.push(format!(
                "torn tail: expected {:?}, got {:?}",
                t.expect.line, report.torn_tail
            ));
        }
        if let Some(e) = &report.first_error {
            failures.push(format!("unexpected error at line {}: {}", e.line, e.detail));
        }
        return failures;
    }
    match &report.first_error {
        None => failures.push(format!(
            "tampering was not detected (expected `{}`)",
            t.expect.kind
        )),
        Some(e) => {
            if e.kind.as_str() != t.expect.kind {
                failures.push(format!(
                    "kind: expected `{}`, got `{}` ({})",
                    t.expect.kind,
                    e.kind.as_str(),
                    e.detail
                ));
            }
            if let Some(l) = t.expect.line
                && e.line != l
            {
                failures.push(format!("line: expected {l}, got {} ({})", e.line, e.detail));
            }
        }
    }
    failures
}

/// Spec ids named by the fixtures under `paths`.
pub fn named_ids(results: &[CaseResult]) -> BTreeSet<String> {
    results
        .iter()
        .flat_map(|r| r.spec.iter().cloned())
        .collect()
}
