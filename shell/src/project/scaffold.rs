//! The files of a project and how existing ones are treated (`PRJ-3`,
//! `PRJ-8`..`PRJ-10`). Everything is checked first — the generated
//! `firma.toml` parses, the packs compile together, the policy directory
//! compiles — and only then written, one whole file at a time.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use firma_core::config::{Config, PolicySource as PolicyDir, RulesSource};
use firma_core::policy::{Bundle, PolicySource};

use super::ProjectError;
use super::fsio;
use super::keys;
use super::packs::{self, Mapping, POSTURES, Posture};
use super::paths::Dirs;
use super::render::{self, ConfigValues};
use crate::sidecar::startup::{self, StartupError};

/// Mode of generated, non-secret files.
const FILE_MODE: u32 = 0o644;
/// Mode of private directories and secret keys.
const PRIVATE_DIR: u32 = 0o700;
const KEY_MODE: u32 = 0o600;

/// What happened to one path.
#[derive(Debug)]
pub enum Outcome {
    /// Written (created or replaced).
    Wrote,
    /// Left as it was, and why.
    Kept(&'static str),
    /// Deleted (a posture file replaced by another posture).
    Removed,
    /// A directory created.
    Created,
}

/// The report printed after a run.
#[derive(Debug, Default)]
pub struct Report(pub Vec<(Outcome, PathBuf)>);

impl Report {
    fn push(&mut self, o: Outcome, p: &Path) {
        self.0.push((o, p.to_path_buf()));
    }

    /// Print one line per path.
    pub fn print(&self) {
        for (o, p) in &self.0 {
            match o {
                Outcome::Wrote => println!("  wrote    {}", p.display()),
                Outcome::Created => println!("  created  {}/", p.display()),
                Outcome::Removed => println!("  removed  {}", p.display()),
                Outcome::Kept(why) => println!("  kept     {} ({why})", p.display()),
            }
        }
    }
}

/// Everything `firma init` decides.
#[derive(Debug)]
pub struct InitPlan {
    /// The directories.
    pub dirs: Dirs,
    /// Agent profile.
    pub agent: String,
    /// Model provider.
    pub provider: String,
    /// Posture pack.
    pub posture: &'static Posture,
    /// Mapping packs.
    pub mappings: Vec<Mapping>,
    /// `[authority] listen_addr`.
    pub authority_listen: SocketAddr,
    /// `[sidecar.interceptor] listen_addr`.
    pub sidecar_listen: SocketAddr,
    /// Rewrite existing generated files.
    pub force: bool,
}

/// A posture-file change: write the chosen one, remove other postures.
struct PostureChange {
    write: Option<(PathBuf, &'static str)>,
    remove: Vec<PathBuf>,
    kept: Option<PathBuf>,
}

fn read_text(path: &Path) -> Result<Option<String>, ProjectError> {
    fsio::read_optional(path)?
        .map(|b| {
            String::from_utf8(b).map_err(|_| ProjectError::Invalid {
                path: path.to_path_buf(),
                reason: "is not UTF-8 text".to_owned(),
            })
        })
        .transpose()
}

/// Decide what happens in `dir` for `posture`. `apply` = the choice must be
/// applied (explicit `firma config`, or `--force`); otherwise existing
/// posture files are kept. Edited files are replaced only with `force`.
fn plan_posture(
    dir: &Path,
    posture: &'static Posture,
    apply: bool,
    force: bool,
) -> Result<PostureChange, ProjectError> {
    let target = dir.join(format!("{}.cedar", posture.name));
    let mut existing = Vec::new();
    for p in POSTURES {
        let path = dir.join(format!("{}.cedar", p.name));
        if let Some(text) = read_text(&path)? {
            existing.push((p, path, text));
        }
    }
    if !apply && !existing.is_empty() {
        let kept = existing.iter().find(|(p, ..)| p.name == posture.name);
        return Ok(PostureChange {
            write: None,
            remove: Vec::new(),
            kept: Some(kept.map_or_else(|| existing[0].1.clone(), |k| k.1.clone())),
        });
    }
    let mut change = PostureChange {
        write: Some((target.clone(), posture.text)),
        remove: Vec::new(),
        kept: None,
    };
    for (p, path, text) in existing {
        let pristine = text == p.text;
        if !pristine && !force {
            return Err(ProjectError::Edited(path));
        }
        if p.name != posture.name {
            change.remove.push(path);
        }
    }
    Ok(change)
}

/// Compile the policy directory as it will be after `change`.
fn check_policy_dir(dir: &Path, change: &PostureChange) -> Result<(), ProjectError> {
    let (mut files, schema) = if dir.is_dir() {
        match startup::read_policy_dir(dir) {
            Ok(r) => r,
            Err(StartupError::NoPolicies(_)) => (Vec::new(), None),
            Err(e) => return Err(ProjectError::Policies(e.to_string())),
        }
    } else {
        (Vec::new(), None)
    };
    let name_of = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    files.retain(|(n, _)| {
        !change
            .remove
            .iter()
            .any(|r| name_of(r).as_deref() == Some(n))
    });
    if let Some((path, text)) = &change.write {
        let name = name_of(path).unwrap_or_default();
        files.retain(|(n, _)| *n != name);
        files.push((name, (*text).to_owned()));
        files.sort();
    }
    let sources = PolicySource::of_pairs(&files);
    Bundle::compile(&sources, schema.as_ref().map(PolicySource::of_pair))
        .map(|_| ())
        .map_err(|e| ProjectError::Policies(e.to_string()))
}

fn apply_posture(change: &PostureChange, report: &mut Report) -> Result<(), ProjectError> {
    if let Some(k) = &change.kept {
        report.push(
            Outcome::Kept("exists; --force or `firma config --posture` replaces it"),
            k,
        );
    }
    if let Some((path, text)) = &change.write {
        fsio::replace(path, text.as_bytes(), FILE_MODE)?;
        report.push(Outcome::Wrote, path);
    }
    for r in &change.remove {
        fsio::remove(r)?;
        report.push(Outcome::Removed, r);
    }
    Ok(())
}

/// The configured rule files other than the generated `mapping-rules.toml`,
/// as `(name, text)`.
fn extra_rules(config: &Config, generated: &Path) -> Result<Vec<(String, String)>, ProjectError> {
    let RulesSource::Files(paths) = &config.sidecar.mapping.rules else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for p in paths.iter().filter(|p| p.as_path() != generated) {
        let text = read_text(p)?.ok_or_else(|| ProjectError::Invalid {
            path: p.clone(),
            reason: "is listed in `[sidecar.mapping]` but does not exist".to_owned(),
        })?;
        out.push((p.display().to_string(), text));
    }
    Ok(out)
}

/// Parse a `firma.toml` with core.
pub fn parse_config(path: &Path) -> Result<Option<Config>, ProjectError> {
    match read_text(path)? {
        None => Ok(None),
        Some(text) => Config::parse(path, &text)
            .map(Some)
            .map_err(|e| ProjectError::Invalid {
                path: path.to_path_buf(),
                reason: format!("does not parse: {e}"),
            }),
    }
}

/// Whether the generated rule file at `path` (text `text`) is exactly what
/// its recorded packs produce.
fn rules_pristine(text: &str, base: &Path) -> bool {
    let Some(names) = packs::recorded_packs(text) else {
        return false;
    };
    let resolved: Result<Vec<Mapping>, _> =
        names.iter().map(|n| Mapping::resolve(n, base)).collect();
    resolved.is_ok_and(|m| packs::merged_rules(&m) == text)
}

/// Write a project (`firma init`).
pub fn init(plan: &InitPlan) -> Result<Report, ProjectError> {
    let d = &plan.dirs;
    let cfg_file = d.config_file();
    let rules_file = d.config.join("mapping-rules.toml");
    let policies = d.config.join("policies");
    let issuance = d.config.join("issuance-policies").join("default.cedar");
    let key = d.config.join("authority.key");
    let public = d.config.join("authority.pub");
    let audit_key = d.config.join("audit.key");

    // 1. Decide and check; nothing is written yet.
    let existing = parse_config(&cfg_file)?;
    let keep_config = existing.is_some() && !plan.force;
    let agent_id = match existing
        .as_ref()
        .and_then(|c| c.sidecar.authority.agent_id.clone())
    {
        Some(id) => id,
        None => keys::agent_id()?,
    };
    let name = d.workspace.file_name().map_or_else(
        || "firma-project".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    let config_text = render::firma_toml(&ConfigValues {
        name: &name,
        agent: &plan.agent,
        provider: &plan.provider,
        authority_listen: plan.authority_listen,
        sidecar_listen: plan.sidecar_listen,
        agent_id: &agent_id,
        data_dir: &d.data,
        state_dir: &d.state,
    });
    let effective = match (&existing, keep_config) {
        (Some(c), true) => c.clone(),
        _ => Config::parse(&cfg_file, &config_text)
            .map_err(|e| ProjectError::Config(e.to_string()))?,
    };
    let write_rules = plan.force || !fsio::exists(&rules_file)?;
    if write_rules {
        packs::check_rules(&plan.mappings, &extra_rules(&effective, &rules_file)?)?;
    }
    let change = plan_posture(&policies, plan.posture, plan.force, plan.force)?;
    check_policy_dir(&policies, &change)?;
    let key_state = check_authority_key(&key, &public)?;

    // 2. Write.
    let mut report = Report::default();
    for (dir, mode) in [
        (&d.workspace, 0o755),
        (&d.config, PRIVATE_DIR),
        (&policies, PRIVATE_DIR),
        (&d.config.join("issuance-policies"), PRIVATE_DIR),
        (&d.data, PRIVATE_DIR),
        (&d.data.join("generated-firma-ca"), PRIVATE_DIR),
        (&d.state, PRIVATE_DIR),
        (&d.state.join("capabilities"), PRIVATE_DIR),
    ] {
        if fsio::ensure_dir(dir, mode)? {
            report.push(Outcome::Created, dir);
        }
    }
    write_authority_key(&key, &public, key_state, &mut report)?;
    if fsio::exists(&audit_key)? {
        report.push(Outcome::Kept(KEY_KEPT), &audit_key);
    } else {
        fsio::create_new(&audit_key, keys::audit_key()?.as_bytes(), KEY_MODE)?;
        report.push(Outcome::Wrote, &audit_key);
    }
    let revocations = d.data.join("revocations.txt");
    if fsio::exists(&revocations)? {
        report.push(
            Outcome::Kept("revocations are never truncated, not even with --force"),
            &revocations,
        );
    } else {
        fsio::create_new(&revocations, b"", FILE_MODE)?;
        report.push(Outcome::Wrote, &revocations);
    }
    apply_posture(&change, &mut report)?;
    write_generated(
        &issuance,
        &render::issuance_policy(&agent_id),
        plan.force,
        &mut report,
    )?;
    if write_rules {
        fsio::replace(
            &rules_file,
            packs::merged_rules(&plan.mappings).as_bytes(),
            FILE_MODE,
        )?;
        report.push(Outcome::Wrote, &rules_file);
    } else {
        report.push(Outcome::Kept(KEPT), &rules_file);
    }
    // Last: a firma.toml is what discovery finds, so it appears only once
    // everything it points at exists.
    write_generated(&cfg_file, &config_text, plan.force, &mut report)?;
    Ok(report)
}

const KEPT: &str = "exists; --force rewrites it";
const KEY_KEPT: &str = "signing keys are never overwritten, not even with --force";

fn write_generated(
    path: &Path,
    text: &str,
    force: bool,
    report: &mut Report,
) -> Result<(), ProjectError> {
    if !force && fsio::exists(path)? {
        report.push(Outcome::Kept(KEPT), path);
        return Ok(());
    }
    fsio::replace(path, text.as_bytes(), FILE_MODE)?;
    report.push(Outcome::Wrote, path);
    Ok(())
}

/// What to do about the Authority key pair.
enum KeyState {
    /// Both exist.
    Keep,
    /// The secret exists; write this public half beside it.
    DerivePublic([u8; 32]),
    /// Neither exists.
    Generate,
}

fn check_authority_key(key: &Path, public: &Path) -> Result<KeyState, ProjectError> {
    match (fsio::read_optional(key)?, fsio::exists(public)?) {
        (Some(_), true) => Ok(KeyState::Keep),
        (Some(secret), false) => keys::authority_public(&secret)
            .map(KeyState::DerivePublic)
            .map_err(|reason| ProjectError::Invalid {
                path: key.to_path_buf(),
                reason: format!("{reason}; firma never overwrites a signing key: move it away to generate a new one"),
            }),
        (None, true) => Err(ProjectError::Invalid {
            path: public.to_path_buf(),
            reason: "exists without its secret key `authority.key`; move it away to generate a new key pair".to_owned(),
        }),
        (None, false) => Ok(KeyState::Generate),
    }
}

fn write_authority_key(
    key: &Path,
    public: &Path,
    state: KeyState,
    report: &mut Report,
) -> Result<(), ProjectError> {
    match state {
        KeyState::Keep => {
            report.push(Outcome::Kept(KEY_KEPT), key);
            report.push(Outcome::Kept(KEY_KEPT), public);
        }
        KeyState::DerivePublic(p) => {
            report.push(Outcome::Kept(KEY_KEPT), key);
            fsio::create_new(public, &p, FILE_MODE)?;
            report.push(Outcome::Wrote, public);
        }
        KeyState::Generate => {
            let (secret, p) = keys::authority_key()?;
            fsio::create_new(key, &secret, KEY_MODE)?;
            report.push(Outcome::Wrote, key);
            fsio::create_new(public, &p, FILE_MODE)?;
            report.push(Outcome::Wrote, public);
        }
    }
    Ok(())
}

/// The posture recorded by the policy directory: the first posture file
/// present, most permissive first.
pub fn recorded_posture(dir: &Path) -> Result<Option<&'static Posture>, ProjectError> {
    for p in POSTURES.iter().rev() {
        if fsio::exists(&dir.join(format!("{}.cedar", p.name)))? {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// Change the packs of an existing project (`firma config`).
pub fn configure(
    config: &Config,
    dirs: &Dirs,
    posture: &'static Posture,
    mappings: &[Mapping],
    force: bool,
) -> Result<Report, ProjectError> {
    let rules_file = dirs.config.join("mapping-rules.toml");
    let PolicyDir::Dir(policies) = &config.sidecar.policy.source else {
        return Err(ProjectError::Usage(
            "the config has no `[sidecar.policy] dir` to write the posture to".to_owned(),
        ));
    };
    // 1. Check.
    if let Some(text) = read_text(&rules_file)?
        && !force
        && !rules_pristine(&text, &dirs.config)
    {
        return Err(ProjectError::Edited(rules_file));
    }
    packs::check_rules(mappings, &extra_rules(config, &rules_file)?)?;
    let change = plan_posture(policies, posture, true, force)?;
    check_policy_dir(policies, &change)?;
    // 2. Write.
    let mut report = Report::default();
    if fsio::ensure_dir(policies, PRIVATE_DIR)? {
        report.push(Outcome::Created, policies);
    }
    fsio::replace(
        &rules_file,
        packs::merged_rules(mappings).as_bytes(),
        FILE_MODE,
    )?;
    report.push(Outcome::Wrote, &rules_file);
    apply_posture(&change, &mut report)?;
    Ok(report)
}
