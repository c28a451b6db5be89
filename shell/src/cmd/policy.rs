//! `firma policy`: validate Cedar files, run allow/deny fixtures, print the
//! built-in schema (spec `CED-15`..`CED-17`). File I/O around `firma_core::policy`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use firma_core::policy::fixture::{Expected, PolicyFixture};
use firma_core::policy::{
    BUILTIN_SCHEMA, Bundle, PolicySource, Verdict, check_schema, validate_source,
};

use super::{EXIT_FAILED, EXIT_USAGE};

/// `firma policy` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Print all posture and mapping templates (packs built into firma),
    /// one line each.
    List,
    /// Parse Cedar policy files and validate them strictly against the schema.
    ///
    /// Prints `ok: <file>: N policies` for every valid file and
    /// `error: <file>:<line>:<col>: <message>` for every problem.
    /// Exit status: 0 all valid, 1 some file invalid, 2 a file cannot be read
    /// or the schema is unusable.
    Validate {
        /// Cedar policy files (`*.cedar`).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Validate against this Cedar schema instead of the built-in one.
        #[arg(long, value_name = "FILE")]
        schema: Option<PathBuf>,
    },
    /// Run allow/deny fixtures (TOML) against their policy bundles.
    ///
    /// A directory runs every `*.toml` fixture directly inside it, sorted by
    /// name. Prints `PASS <fixture>: DENY [ids]` or
    /// `FAIL <fixture>: expected ALLOW, got DENY [ids]` per fixture and a final
    /// `N passed, M failed`. Exit status: 0 all pass, 1 some failed, 2 a fixture
    /// or bundle cannot be read or parsed.
    Test {
        /// Fixture files or directories of fixtures.
        #[arg(required = true, value_name = "FIXTURE|DIR")]
        paths: Vec<PathBuf>,
    },
    /// Print the built-in Cedar schema (copy it into a policy directory to customize).
    Schema,
}

/// Run a `firma policy` subcommand.
pub fn run(cmd: PolicyCommand) -> ExitCode {
    match cmd {
        PolicyCommand::List => {
            print!("{}", crate::project::packs::catalogue());
            ExitCode::SUCCESS
        }
        PolicyCommand::Validate { files, schema } => validate(&files, schema.as_deref()),
        PolicyCommand::Test { paths } => test(&paths),
        PolicyCommand::Schema => {
            print!("{BUILTIN_SCHEMA}");
            ExitCode::SUCCESS
        }
    }
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

fn validate(files: &[PathBuf], schema_path: Option<&Path>) -> ExitCode {
    let schema_text = match schema_path.map(read).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let schema_name = schema_path.map(|p| p.display().to_string());
    let schema = match (&schema_name, &schema_text) {
        (Some(name), Some(text)) => Some(PolicySource { name, text }),
        _ => None,
    };
    if let Some(Err(diags)) = schema.as_ref().map(check_schema) {
        for d in diags {
            eprintln!("error: {d}");
        }
        return ExitCode::from(EXIT_USAGE);
    }
    let mut unreadable = false;
    let mut invalid = false;
    for path in files {
        let text = match read(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                unreadable = true;
                continue;
            }
        };
        let name = path.display().to_string();
        match validate_source(
            &PolicySource {
                name: &name,
                text: &text,
            },
            schema,
        ) {
            Ok(n) => println!("ok: {name}: {n} {}", plural(n, "policy", "policies")),
            Err(diags) => {
                invalid = true;
                for d in diags {
                    eprintln!("error: {d}");
                }
            }
        }
    }
    if unreadable {
        ExitCode::from(EXIT_USAGE)
    } else if invalid {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// Outcome of one fixture.
enum Run {
    Pass,
    Fail,
    Error,
}

fn test(paths: &[PathBuf]) -> ExitCode {
    let fixtures = match collect_fixtures(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut bundles = BundleCache::default();
    let (mut passed, mut failed, mut errors) = (0usize, 0usize, 0usize);
    for path in &fixtures {
        match run_fixture(path, now_ms, &mut bundles) {
            Run::Pass => passed += 1,
            Run::Fail => failed += 1,
            Run::Error => errors += 1,
        }
    }
    if errors > 0 {
        println!(
            "{passed} passed, {failed} failed, {errors} {}",
            plural(errors, "error", "errors")
        );
        ExitCode::from(EXIT_USAGE)
    } else {
        println!("{passed} passed, {failed} failed");
        if failed > 0 {
            ExitCode::from(EXIT_FAILED)
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// Files as given; directories expand to their `*.toml` files, sorted by name.
fn collect_fixtures(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for path in paths {
        if !path.is_dir() {
            out.push(path.clone());
            continue;
        }
        let mut found = files_with_ext(path, &["toml"])
            .map_err(|e| format!("cannot read directory `{}`: {e}", path.display()))?;
        if found.is_empty() {
            return Err(format!(
                "directory `{}` contains no `*.toml` fixtures",
                path.display()
            ));
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// Regular files directly in `dir` whose extension is one of `exts` (ASCII
/// case-insensitive), sorted by file name.
fn files_with_ext(dir: &Path, exts: &[&str]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let matches = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)));
        if matches && path.is_file() {
            out.push(path);
        }
    }
    out.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(out)
}

fn run_fixture(path: &Path, now_ms: i64, bundles: &mut BundleCache) -> Run {
    let shown = path.display().to_string();
    let fixture = match read(path).and_then(|text| {
        PolicyFixture::parse(&shown, &text).map_err(|e| format!("invalid fixture: {e}"))
    }) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Run::Error;
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let bundle_dir = dir.join(&fixture.bundle_path);
    let bundle = match bundles.get(&bundle_dir) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {shown}: {e}");
            return Run::Error;
        }
    };
    let context = fixture.context(now_ms);
    let verdict = match bundle.evaluate(&fixture.request(&context)) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {shown}: {e}");
            return Run::Error;
        }
    };
    for e in &verdict.errors {
        eprintln!("warning: {shown}: policy evaluation error (policy skipped): {e}");
    }
    let got = Expected::of(&verdict);
    let ids = format_ids(&verdict);
    if fixture.passes(&verdict) {
        println!("PASS {shown}: {got} {ids}");
        Run::Pass
    } else {
        println!(
            "FAIL {shown}: expected {}, got {got} {ids}",
            fixture.expected
        );
        Run::Fail
    }
}

fn format_ids(v: &Verdict) -> String {
    format!("[{}]", v.policies.join(", "))
}

/// Bundles compiled so far, by directory, so fixtures sharing one compile it once.
#[derive(Default)]
struct BundleCache(HashMap<PathBuf, Result<Arc<Bundle>, String>>);

impl BundleCache {
    fn get(&mut self, dir: &Path) -> Result<Arc<Bundle>, String> {
        let key = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        self.0
            .entry(key)
            .or_insert_with(|| load_bundle(dir))
            .clone()
    }
}

/// Read every `*.cedar` in `dir` (sorted by name) and an optional single
/// `*.cedarschema`, and compile them.
fn load_bundle(dir: &Path) -> Result<Arc<Bundle>, String> {
    let shown = dir.display();
    let read_err =
        |e: std::io::Error| format!("cannot read policy bundle directory `{shown}`: {e}");
    let policy_files = files_with_ext(dir, &["cedar"]).map_err(read_err)?;
    let schema_files = files_with_ext(dir, &["cedarschema"]).map_err(read_err)?;
    if schema_files.len() > 1 {
        let names: Vec<String> = schema_files
            .iter()
            .map(|p| format!("`{}`", file_name(p)))
            .collect();
        return Err(format!(
            "policy bundle directory `{shown}` has more than one schema: {}",
            names.join(", ")
        ));
    }
    let mut texts = Vec::with_capacity(policy_files.len());
    for p in &policy_files {
        texts.push((file_name(p), read(p)?));
    }
    let schema = match schema_files.first() {
        Some(p) => Some((file_name(p), read(p)?)),
        None => None,
    };
    let sources = PolicySource::of_pairs(&texts);
    Bundle::compile(&sources, schema.as_ref().map(PolicySource::of_pair))
        .map(Arc::new)
        .map_err(|e| format!("{shown}: {e}"))
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
