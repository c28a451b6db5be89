//! The policy directories compile and the mapping rules compile (DOC-7),
//! with the same loaders the Sidecar uses at start-up.

use std::path::{Path, PathBuf};

use firma_core::config::{Config, ConfigOrigin, PolicySource as PolicyConfigSource, RulesSource};
use firma_core::policy::{Bundle, BundleError, PolicySource};

use super::Context;
use super::check::{Check, Findings, sh};
use super::keys::NO_CONFIG;
use crate::sidecar::startup::{self, StartupError};

/// `policies`: every policy directory in use compiles into a bundle — the
/// Sidecar's `[sidecar.policy] dir` (policy-only mode) and, when the Sidecar
/// uses an Authority, `[authority] policy_dir`.
pub fn policies(cx: &Context) -> Check {
    const ID: &str = "policies";
    const TITLE: &str = "policy bundle";
    let Some(config) = &cx.config else {
        return Check::skip(ID, TITLE, NO_CONFIG);
    };
    let dirs = policy_dirs(config);
    if dirs.is_empty() {
        return Check::ok(ID, TITLE, "the built-in development policy (embedded)");
    }
    let mut found = Findings::default();
    let mut compiled = Vec::new();
    for (key, dir) in &dirs {
        match compile_dir(dir) {
            Ok(bundle) => compiled.push(format!(
                "{} ({} polic{} in {} file{})",
                dir.display(),
                bundle.policy_count(),
                if bundle.policy_count() == 1 {
                    "y"
                } else {
                    "ies"
                },
                bundle.file_count(),
                if bundle.file_count() == 1 { "" } else { "s" }
            )),
            Err(e) => problem(config, key, dir, &e, &mut found),
        }
    }
    found.into_check(ID, TITLE, format!("compiles: {}", compiled.join(", ")))
}

/// The policy directories the config uses, with the key that names each.
fn policy_dirs(config: &Config) -> Vec<(&'static str, PathBuf)> {
    let mut dirs = Vec::new();
    if let PolicyConfigSource::Dir(d) = &config.sidecar.policy.source {
        dirs.push(("[sidecar.policy] dir", d.clone()));
    }
    if config.sidecar.authority.url.is_some()
        && !dirs.iter().any(|(_, d)| *d == config.authority.policy_dir)
    {
        dirs.push((
            "[authority] policy_dir",
            config.authority.policy_dir.clone(),
        ));
    }
    dirs
}

/// Read and compile `dir` as the Sidecar does.
fn compile_dir(dir: &Path) -> Result<Bundle, StartupError> {
    let (policies, schema) = startup::read_policy_dir(dir)?;
    let sources = PolicySource::of_pairs(&policies);
    Ok(Bundle::compile(
        &sources,
        schema.as_ref().map(PolicySource::of_pair),
    )?)
}

fn problem(config: &Config, key: &str, dir: &Path, e: &StartupError, found: &mut Findings) {
    let config_file = match &config.origin {
        ConfigOrigin::File(p) => p.display().to_string(),
        ConfigOrigin::Embedded => "firma.toml".to_owned(),
    };
    match e {
        StartupError::PolicyDir { path, source }
            if path == dir && source.kind() == std::io::ErrorKind::NotFound =>
        {
            let fix = match workspace_of(dir) {
                Some(ws) => format!(
                    "firma config --posture dev --workspace {} (writes the posture pack into {})",
                    sh(ws),
                    dir.display()
                ),
                None => format!(
                    "mkdir -p {} and put the *.cedar policies there, or point `{key}` in {config_file} at the directory that holds them",
                    sh(dir)
                ),
            };
            found.fail(format!("`{key}` {} does not exist", dir.display()), fix);
        }
        StartupError::NoPolicies(_) => found.fail(
            format!("`{key}` {}: {e}", dir.display()),
            format!(
                "add at least one *.cedar file to {} (`firma policy list` shows the posture packs)",
                dir.display()
            ),
        ),
        StartupError::Bundle(b) => {
            let diags = b.diagnostics();
            if diags.is_empty() {
                found.fail(format!("`{key}` {}: {b}", dir.display()), edit_fix(dir, b));
            }
            for d in diags {
                let file = dir.join(&d.file);
                found.fail(
                    format!("{}:{}:{}: {}", file.display(), d.line, d.column, d.message),
                    format!(
                        "edit {} at line {}, then check with `firma policy validate {}`",
                        file.display(),
                        d.line,
                        sh(&file)
                    ),
                );
            }
        }
        other => found.fail(
            format!("`{key}` {}: {other}", dir.display()),
            format!(
                "make {} readable: `chmod -R u+rX {}`",
                dir.display(),
                sh(dir)
            ),
        ),
    }
}

fn edit_fix(dir: &Path, e: &BundleError) -> String {
    match e {
        BundleError::DuplicateId { second, .. } => format!(
            "rename the duplicate policy id in {}",
            dir.join(second).display()
        ),
        _ => format!(
            "fix the files named above, then check with `firma policy validate {}/*.cedar`",
            sh(dir)
        ),
    }
}

/// `<ws>` when `dir` is `<ws>/.firma/policies`.
fn workspace_of(dir: &Path) -> Option<&Path> {
    let firma = dir.parent()?;
    (dir.file_name()? == "policies" && firma.file_name()? == ".firma")
        .then(|| firma.parent())
        .flatten()
}

/// `mapping`: the mapping rule files compile.
pub fn mapping(cx: &Context) -> Check {
    const ID: &str = "mapping";
    const TITLE: &str = "mapping rules";
    let Some(config) = &cx.config else {
        return Check::skip(ID, TITLE, NO_CONFIG);
    };
    let config_dir = match &config.origin {
        ConfigOrigin::File(p) => p.parent().map(Path::to_path_buf),
        ConfigOrigin::Embedded => None,
    };
    let source = &config.sidecar.mapping.rules;
    match startup::load_rules(source, config_dir.as_deref()) {
        Ok(rules) => {
            let from = match source {
                RulesSource::Embedded => "the built-in mapping packs".to_owned(),
                RulesSource::Files(files) => files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            Check::ok(
                ID,
                TITLE,
                format!("{} rules compile from {from}", rules.len()),
            )
        }
        Err(StartupError::RulesRead { path, source }) => Check::fail(
            ID,
            TITLE,
            format!("cannot read mapping rules {}: {source}", path.display()),
            if source.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "create {} (`firma config --mapping <pack>` writes .firma/mapping-rules.toml) or fix `[sidecar.mapping] rules_path`",
                    path.display()
                )
            } else {
                format!("chmod u+r {}", sh(&path))
            },
        ),
        Err(e) => Check::fail(
            ID,
            TITLE,
            e.to_string(),
            "edit the rule file at the line named in the detail, then re-run `firma doctor`",
        ),
    }
}
