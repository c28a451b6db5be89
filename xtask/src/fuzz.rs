//! `cargo xtask fuzz [--time SECS] [--sanitizer address|none] [TARGET…]`:
//! seed every corpus from `fixtures/`, build every fuzz target with
//! cargo-fuzz, run each selected target for `--time` seconds and report runs
//! and crashes per target. Fails when cargo-fuzz is missing, a build fails or
//! any target finds a crash.
//!
//! cargo-fuzz needs nightly-only rustc flags; on a stable toolchain they are
//! enabled with `RUSTC_BOOTSTRAP=1`, set here for every cargo-fuzz call.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::root;

/// Every fuzz target (a `[[bin]]` of `fuzz/Cargo.toml`) and what it fuzzes.
pub const TARGETS: &[(&str, &str)] = &[
    (
        "mapping_rules",
        "mapping-rule files: parse, compile, classify",
    ),
    ("config", "firma.toml parser"),
    (
        "request_head",
        "request heads and CONNECT: normalize, decide",
    ),
    (
        "audit_seal",
        "audit records of fuzzed requests: seal, verify",
    ),
    ("audit_verify", "audit-log verifier on arbitrary bytes"),
    ("audit_mutate", "tamper evidence of a sealed log"),
    ("policy_fixture", "`firma policy test` fixture parser"),
    ("cedar_bundle", "Cedar policy and schema compiler"),
    (
        "client_hello",
        "TLS ClientHello/SNI scanner, differential vs rustls",
    ),
    (
        "paseto_verify",
        "PASETO v4.public verify and capability claims",
    ),
    ("capability_seed", "capability seed file parser"),
];

const INSTALL: &str = "cargo install cargo-fuzz --locked";

struct Options {
    seconds: u64,
    sanitizer: String,
    targets: Vec<&'static str>,
}

fn parse_args(rest: &[String]) -> Result<Options, String> {
    let mut seconds = 30;
    let mut sanitizer = "address".to_owned();
    let mut targets = Vec::new();
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next().cloned())
                .ok_or_else(|| format!("`{name}` needs a value"))
        };
        match flag {
            "--time" => {
                let v = value("--time")?;
                seconds = v
                    .parse()
                    .map_err(|_| format!("`--time` `{v}` is not a whole number of seconds"))?;
            }
            "--sanitizer" | "-s" => {
                sanitizer = value("--sanitizer")?;
                if sanitizer != "address" && sanitizer != "none" {
                    return Err(format!(
                        "`--sanitizer` `{sanitizer}` must be `address` or `none`"
                    ));
                }
            }
            "-h" | "--help" => return Err(usage()),
            name if name.starts_with('-') => {
                return Err(format!("unknown option `{name}`\n{}", usage()));
            }
            name => match TARGETS.iter().find(|(t, _)| *t == name) {
                Some((t, _)) => targets.push(*t),
                None => {
                    let known: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
                    return Err(format!(
                        "unknown fuzz target `{name}`; targets: {}",
                        known.join(", ")
                    ));
                }
            },
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|(t, _)| *t).collect();
    }
    Ok(Options {
        seconds,
        sanitizer,
        targets,
    })
}

fn usage() -> String {
    let list: Vec<String> = TARGETS
        .iter()
        .map(|(t, d)| format!("  {t:<16}{d}"))
        .collect();
    format!(
        "usage: cargo xtask fuzz [--time SECS] [--sanitizer address|none] [TARGET…]\n\n\
         --time SECS    run each target this long (default 30)\n\
         --sanitizer    address (default) or none\n\ntargets:\n{}",
        list.join("\n")
    )
}

/// Run `cargo fuzz …` from the project root with the bootstrap flag set.
fn cargo_fuzz(args: &[&str]) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("fuzz")
        .args(args)
        .current_dir(root())
        .env("RUSTC_BOOTSTRAP", "1");
    cmd
}

fn check_installed() -> Result<(), String> {
    let ok = cargo_fuzz(&["--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "cargo-fuzz is not installed; install it with:\n    {INSTALL}"
        ))
    }
}

/// Per-target result of one run.
struct Outcome {
    target: &'static str,
    runs: Option<u64>,
    per_sec: Option<u64>,
    crash: Option<String>,
}

/// Entry point of `cargo xtask fuzz`.
pub fn run(rest: &[String]) -> Result<(), String> {
    let opts = parse_args(rest)?;
    check_installed()?;
    let fuzz_dir = root().join("fuzz");
    let count = seed::all(&root(), &fuzz_dir.join("corpus"))?;
    eprintln!("xtask: seeded {count} corpus files from fixtures/");

    eprintln!("xtask: cargo fuzz build -s {}", opts.sanitizer);
    let status = cargo_fuzz(&["build", "-s", &opts.sanitizer])
        .status()
        .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
    if !status.success() {
        return Err(format!("`cargo fuzz build` failed ({status})"));
    }
    write_audit_seeds(&fuzz_dir, &opts.sanitizer)?;

    let mut outcomes = Vec::new();
    for target in &opts.targets {
        outcomes.push(run_target(&fuzz_dir, target, &opts)?);
    }
    println!("\n{:<16} {:>12} {:>10}  result", "target", "runs", "runs/s");
    for o in &outcomes {
        let show = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
        println!(
            "{:<16} {:>12} {:>10}  {}",
            o.target,
            show(o.runs),
            show(o.per_sec),
            o.crash.as_deref().unwrap_or("ok")
        );
    }
    let crashed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.crash.is_some())
        .map(|o| o.target)
        .collect();
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "crash found by {}; reproduce with `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <artifact>` and add a test to core/tests/fuzz_regressions.rs",
            crashed.join(", ")
        ))
    }
}

/// Sealed audit logs for `audit_verify`: the `audit_mutate` binary writes them
/// at start-up when `FIRMA_FUZZ_WRITE_SEEDS` is set.
fn write_audit_seeds(fuzz_dir: &Path, sanitizer: &str) -> Result<(), String> {
    let dir = fuzz_dir.join("corpus").join("audit_verify");
    let empty = fuzz_dir.join("target").join("empty-corpus");
    fs::create_dir_all(&empty).map_err(|e| format!("cannot create {}: {e}", empty.display()))?;
    let out = cargo_fuzz(&["run", "-s", sanitizer, "audit_mutate"])
        .arg(&empty)
        .args(["--", "-runs=0"])
        .env("FIRMA_FUZZ_WRITE_SEEDS", &dir)
        .output()
        .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "writing audit seeds failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn run_target(fuzz_dir: &Path, target: &'static str, opts: &Options) -> Result<Outcome, String> {
    // New inputs go to a scratch corpus under fuzz/target (ignored by git);
    // the committed seeds in fuzz/corpus are read only.
    let work = fuzz_dir.join("target").join("corpus").join(target);
    let seeds = fuzz_dir.join("corpus").join(target);
    fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    fs::create_dir_all(&seeds).map_err(|e| format!("cannot create {}: {e}", seeds.display()))?;
    eprintln!("xtask: fuzzing {target} for {} s", opts.seconds);
    let started = Instant::now();
    let out = cargo_fuzz(&["run", "-s", &opts.sanitizer, target])
        .arg(&work)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={}", opts.seconds))
        .args(["-print_final_stats=1", "-timeout=30", "-rss_limit_mb=4096"])
        .stdout(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
    let log = String::from_utf8_lossy(&out.stderr);
    let stat = |name: &str| {
        log.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let runs = stat("stat::number_of_executed_units:");
    let per_sec = stat("stat::average_exec_per_sec:");
    let crash = if out.status.success() {
        None
    } else {
        // The panic message or sanitizer report, not libFuzzer's dictionary.
        let lines: Vec<&str> = log.lines().collect();
        let start = lines
            .iter()
            .position(|l| l.contains("panicked at") || l.contains("ERROR: "))
            .unwrap_or(lines.len().saturating_sub(20));
        for line in lines.iter().skip(start).take(20) {
            eprintln!("  {line}");
        }
        let artifact = log
            .lines()
            .find_map(|l| l.split_once("Test unit written to ").map(|(_, p)| p.trim()));
        Some(match artifact {
            Some(path) => format!("CRASH: {path}"),
            None => format!("FAILED ({})", out.status),
        })
    };
    eprintln!(
        "xtask: {target}: {} runs in {:.0} s",
        runs.map_or_else(|| "?".to_owned(), |r| r.to_string()),
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome {
        target,
        runs,
        per_sec,
        crash,
    })
}

/// Corpus seeds generated from `fixtures/`. Every generated file is named
/// `seed-…`; stale ones are removed first so the corpora track the fixtures.
mod seed {
    use super::*;

    /// Write every target's seeds under `corpus`; returns the file count.
    pub fn all(root: &Path, corpus: &Path) -> Result<usize, String> {
        let fixtures = root.join("fixtures");
        let mut seeds = Seeds::default();

        // Mapping files: vendor packs, the shared seed rules, fixture texts;
        // plus pairs (NUL-separated) for the cross-file checks.
        let packs = files(&fixtures.join("packs/mappings"), "toml")?;
        for path in &packs {
            seeds.add_file("mapping_rules", root, path)?;
        }
        let shared = fixtures.join("conformance/shared/seed000-mapping-rules.toml");
        seeds.add_file("mapping_rules", root, &shared)?;
        if let [a, b, ..] = packs.as_slice() {
            let mut pair = read(a)?;
            pair.push(0);
            pair.extend(read(b)?);
            seeds.add("mapping_rules", "pair-packs", pair);
        }
        let mut dup = read(&shared)?;
        dup.push(0);
        dup.extend(read(&shared)?);
        seeds.add("mapping_rules", "pair-duplicate", dup);

        // Configs, good and bad.
        for dir in ["configs", "configs/bad"] {
            for path in files(&fixtures.join(dir), "toml")? {
                seeds.add_file("config", root, &path)?;
            }
        }

        // Policy-test fixtures and Cedar files.
        let policy_test = fixtures.join("policy-test");
        for path in files(&policy_test, "toml")? {
            seeds.add_file("policy_fixture", root, &path)?;
        }
        for path in walk(&policy_test, "cedar")? {
            seeds.add_file("cedar_bundle", root, &path)?;
        }
        let mut with_schema = read(&policy_test.join("bundle/default.cedar"))?;
        with_schema.push(0);
        with_schema.extend(read(&policy_test.join("bundle/schema.cedarschema"))?);
        seeds.add("cedar_bundle", "pair-custom-schema", with_schema);
        let mut builtin =
            read(&fixtures.join("conformance/shared/seed000-policies/default.cedar"))?;
        builtin.push(0);
        builtin.extend(read(&root.join("spec/firma.cedarschema"))?);
        seeds.add("cedar_bundle", "pair-builtin-schema", builtin);

        // Conformance scenarios: their inline rule and policy texts and
        // every request head.
        for path in walk(&fixtures.join("conformance"), "toml")? {
            let text = String::from_utf8_lossy(&read(&path)?).into_owned();
            let name = slug(root, &path);
            let scenario = scenario::parse(&text);
            for (i, t) in scenario.mapping.iter().enumerate() {
                seeds.add(
                    "mapping_rules",
                    &format!("{name}-{i}"),
                    t.clone().into_bytes(),
                );
            }
            for (i, t) in scenario.policy.iter().enumerate() {
                seeds.add(
                    "cedar_bundle",
                    &format!("{name}-{i}"),
                    t.clone().into_bytes(),
                );
            }
            for (i, head) in scenario.requests.iter().enumerate() {
                let bytes = head.encode();
                seeds.add("request_head", &format!("{name}-{i}"), bytes.clone());
                seeds.add("audit_seal", &format!("{name}-{i}"), bytes);
            }
        }

        // ClientHellos captured from real clients (one spans two records)
        // and a plain HTTP request, which is not TLS.
        for path in files(&fixtures.join("tls/client-hello"), "bin")? {
            seeds.add_file("client_hello", root, &path)?;
        }
        seeds.add("client_hello", "plain-http", b"GET / HTTP/1.1\r\n".to_vec());

        // Capability seeds, their raw tokens, their claims payloads, and the
        // official PASETO v4 vectors' tokens.
        let tokens = fixtures.join("tokens");
        for path in files(&tokens, "toml")? {
            seeds.add_file("capability_seed", root, &path)?;
            let text = String::from_utf8_lossy(&read(&path)?).into_owned();
            let name = slug(root, &path);
            if let Some(token) = text
                .lines()
                .find_map(|l| l.strip_prefix("raw_token = \""))
                .map(|t| t.trim_end_matches('"'))
            {
                seeds.add("paseto_verify", &name, token.as_bytes().to_vec());
                if let Some(claims) = token_claims(token) {
                    seeds.add("paseto_verify", &format!("{name}-claims"), claims);
                }
            }
        }
        let vectors =
            String::from_utf8_lossy(&read(&tokens.join("paseto-v4-public-vectors.json"))?)
                .into_owned();
        for (i, line) in vectors.lines().enumerate() {
            if let Some(token) = line.trim().strip_prefix("\"token\": \"") {
                let token = token.trim_end_matches(',').trim_end_matches('"');
                seeds.add(
                    "paseto_verify",
                    &format!("vector-{i}"),
                    token.as_bytes().to_vec(),
                );
            }
        }

        // Edit scripts for the tamper target: one overwrite, insert, delete.
        for (name, op) in [
            ("overwrite", [0u8, 0, 40, b'X']),
            ("insert", [1, 0, 200, b' ']),
            ("delete", [2, 1, 0, 0]),
        ] {
            seeds.add("audit_mutate", name, op.to_vec());
        }
        seeds.write(corpus)
    }

    /// The claims JSON inside a `v4.public.` token (body minus the 64-byte
    /// signature), decoded with a small base64url decoder.
    fn token_claims(token: &str) -> Option<Vec<u8>> {
        let body = token.strip_prefix("v4.public.")?.split('.').next()?;
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in body.bytes() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'-' => 62,
                b'_' => 63,
                _ => return None,
            };
            bits = (bits << 6) | u32::from(v);
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
            }
        }
        out.truncate(out.len().checked_sub(64)?);
        Some(out)
    }

    #[derive(Default)]
    struct Seeds {
        files: Vec<(&'static str, String, Vec<u8>)>,
    }

    impl Seeds {
        fn add(&mut self, target: &'static str, name: &str, bytes: Vec<u8>) {
            self.files.push((target, format!("seed-{name}"), bytes));
        }

        fn add_file(
            &mut self,
            target: &'static str,
            root: &Path,
            path: &Path,
        ) -> Result<(), String> {
            let bytes = read(path)?;
            self.add(target, &slug(root, path), bytes);
            Ok(())
        }

        fn write(self, corpus: &Path) -> Result<usize, String> {
            for (target, _) in TARGETS {
                let dir = corpus.join(target);
                fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                // audit_verify's seeds come from the audit_mutate binary.
                if *target == "audit_verify" {
                    continue;
                }
                let entries = fs::read_dir(&dir)
                    .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
                for entry in entries.flatten() {
                    if entry.file_name().to_string_lossy().starts_with("seed-") {
                        fs::remove_file(entry.path()).map_err(|e| {
                            format!("cannot remove {}: {e}", entry.path().display())
                        })?;
                    }
                }
            }
            let count = self.files.len();
            for (target, name, bytes) in self.files {
                let path = corpus.join(target).join(name);
                fs::write(&path, bytes)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            Ok(count)
        }
    }

    fn read(path: &Path) -> Result<Vec<u8>, String> {
        fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    }

    /// `fixtures/configs/bad/x.toml` → `configs-bad-x`.
    fn slug(root: &Path, path: &Path) -> String {
        let rel = path.strip_prefix(root.join("fixtures")).unwrap_or(path);
        let rel = rel.with_extension("");
        rel.to_string_lossy()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect()
    }

    /// Files with extension `ext` directly in `dir`, sorted.
    fn files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, String> {
        let entries =
            fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let mut out: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == ext))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Files with extension `ext` anywhere under `dir`, sorted.
    fn walk(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, String> {
        let mut out = files(dir, ext)?;
        let entries =
            fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let mut subdirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        subdirs.sort();
        for sub in subdirs {
            out.extend(walk(&sub, ext)?);
        }
        Ok(out)
    }
}

/// Just enough of the conformance scenario format to pull out seeds: the
/// multi-line `text` of `[[mapping]]` and `[[policy]]` tables and the
/// `method`, `target`, `tunnel` and `headers` of `[[request]]` tables.
/// Anything it cannot read is skipped; seeds only need to be plausible.
mod scenario {
    /// A request head in the fuzz crate's `Head` format.
    #[derive(Default)]
    pub struct Head {
        method: String,
        target: String,
        tunnel: Option<String>,
        headers: Vec<(String, String)>,
    }

    impl Head {
        /// Encode as `firma_fuzz::Head::decode` reads it; adds the `Host`
        /// header the conformance runner adds when none is given.
        pub fn encode(&self) -> Vec<u8> {
            let mut headers = self.headers.clone();
            if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
                let authority = if self.method == "CONNECT" {
                    Some(self.target.as_str())
                } else if let Some((_, rest)) = self.target.split_once("://") {
                    rest.split(['/', '?']).next()
                } else {
                    self.tunnel.as_deref()
                };
                if let Some(a) = authority {
                    headers.insert(0, ("Host".to_owned(), a.to_owned()));
                }
            }
            let mut out = format!(
                "{}\n{}\n{}",
                self.method,
                self.target,
                self.tunnel.as_deref().unwrap_or("")
            );
            for (name, value) in headers {
                out.push_str(&format!("\n{name}: {value}"));
            }
            out.into_bytes()
        }
    }

    #[derive(Default)]
    pub struct Scenario {
        pub mapping: Vec<String>,
        pub policy: Vec<String>,
        pub requests: Vec<Head>,
    }

    pub fn parse(text: &str) -> Scenario {
        let mut s = Scenario::default();
        let mut table = "";
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                table = trimmed;
                if table == "[[request]]" {
                    s.requests.push(Head {
                        method: "GET".to_owned(),
                        ..Head::default()
                    });
                }
                continue;
            }
            let Some((key, value)) = trimmed.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            if key == "text" && value.starts_with("\"\"\"") {
                let mut body = value.trim_start_matches("\"\"\"").to_owned();
                if let Some(end) = body.find("\"\"\"") {
                    body.truncate(end);
                } else {
                    for next in lines.by_ref() {
                        if let Some(end) = next.find("\"\"\"") {
                            body.push_str(&next[..end]);
                            break;
                        }
                        body.push_str(next);
                        body.push('\n');
                    }
                }
                match table {
                    "[[mapping]]" => s.mapping.push(body),
                    "[[policy]]" => s.policy.push(body),
                    _ => {}
                }
                continue;
            }
            if table != "[[request]]" {
                continue;
            }
            let Some(head) = s.requests.last_mut() else {
                continue;
            };
            match key {
                "method" => head.method = strings(value).into_iter().next().unwrap_or_default(),
                "target" => head.target = strings(value).into_iter().next().unwrap_or_default(),
                "tunnel" => head.tunnel = strings(value).into_iter().next(),
                "headers" => {
                    let all = strings(value);
                    head.headers = all
                        .chunks_exact(2)
                        .map(|p| (p[0].clone(), p[1].clone()))
                        .collect();
                }
                _ => {}
            }
        }
        s
    }

    /// Every TOML basic string (`"…"`, with escapes) in `value`, in order.
    fn strings(value: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c != '"' {
                continue;
            }
            let mut s = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('r') => s.push('\r'),
                        Some('t') => s.push('\t'),
                        Some('u') => s.push(unicode(&mut chars, 4)),
                        Some('U') => s.push(unicode(&mut chars, 8)),
                        Some(other) => s.push(other),
                        None => {}
                    },
                    c => s.push(c),
                }
            }
            out.push(s);
        }
        out
    }

    fn unicode(chars: &mut std::str::Chars<'_>, len: usize) -> char {
        let hex: String = chars.take(len).collect();
        u32::from_str_radix(&hex, 16)
            .ok()
            .and_then(char::from_u32)
            .unwrap_or('\u{fffd}')
    }
}
