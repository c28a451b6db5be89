//! The enforcement policy bundle the Authority streams (AUT-3, AUT-4): read
//! the policy directory, compile it with core, and keep the last good
//! bundle current while a polling watcher follows edits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use firma_core::policy::{BundleCompiler, BundleError, PolicySource};
use firma_proto::v1::{PolicyBundle, PolicyFile};
use tokio::sync::watch;

use super::error::ServeError;
use crate::sidecar::embedded::DEV_POLICY;
use crate::sidecar::log::log;
use crate::sidecar::startup::read_policy_dir;

const TARGET: &str = "firma_authority::bundle";

/// How often the watcher looks at the policy directory.
pub(super) const POLL: Duration = Duration::from_millis(200);

/// Where the enforcement policies come from.
#[derive(Clone, Debug)]
pub(super) enum Source {
    /// `[authority] policy_dir` (and `schema_path`, if set).
    Dir {
        /// The policy directory.
        dir: PathBuf,
        /// A schema outside the directory; overrides a `*.cedarschema` in it.
        schema_path: Option<PathBuf>,
    },
    /// The built-in development policy (no firma.toml found).
    Embedded,
}

/// The texts of one state of the policy source.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Files {
    /// `*.cedar` files sorted by name: (file name, text).
    policies: Vec<(String, String)>,
    /// The schema (file name, text), if any.
    schema: Option<(String, String)>,
}

/// A compiled bundle, ready to be streamed.
#[derive(Debug)]
pub(super) struct Current {
    /// The message sent to sidecars.
    pub(super) bundle: PolicyBundle,
    /// Number of policies.
    pub(super) policy_count: usize,
}

impl Source {
    /// The directory for log lines (`(built-in)` for the embedded policy).
    pub(super) fn describe(&self) -> String {
        match self {
            Source::Dir { dir, .. } => dir.display().to_string(),
            Source::Embedded => "(built-in)".to_owned(),
        }
    }

    /// Read every file of the source. Errors name the directory or file.
    pub(super) fn read(&self) -> Result<Files, String> {
        match self {
            Source::Embedded => Ok(Files {
                policies: vec![(DEV_POLICY.0.to_owned(), DEV_POLICY.1.to_owned())],
                schema: None,
            }),
            Source::Dir { dir, schema_path } => {
                let (policies, dir_schema) = read_policy_dir(dir).map_err(|e| e.to_string())?;
                let schema = match schema_path {
                    Some(path) => Some(read_schema(path)?),
                    None => dir_schema,
                };
                Ok(Files { policies, schema })
            }
        }
    }
}

fn read_schema(path: &Path) -> Result<(String, String), String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read schema `{}` (`authority.schema_path`): {e}",
            path.display()
        )
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((name, text))
}

/// Compile `files` with core (validation = compilation succeeds) and build
/// the streamed message (AUT-3).
pub(super) fn compile(
    compiler: &mut BundleCompiler,
    files: &Files,
    ttl: Duration,
) -> Result<Current, BundleError> {
    let sources = PolicySource::of_pairs(&files.policies);
    let schema = files.schema.as_ref().map(PolicySource::of_pair);
    let compiled = compiler.compile(&sources, schema)?;
    let texts: Vec<&str> = files.policies.iter().map(|(_, t)| t.as_str()).collect();
    let bundle = PolicyBundle {
        version: compiled.version().to_owned(),
        policies: texts.join("\n").into_bytes(),
        entity_schema: files
            .schema
            .as_ref()
            .map(|(_, t)| t.clone().into_bytes())
            .unwrap_or_default(),
        ttl_seconds: u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX),
        files: files
            .policies
            .iter()
            .map(|(name, text)| PolicyFile {
                name: name.clone(),
                text: text.clone().into_bytes(),
            })
            .collect(),
    };
    Ok(Current {
        bundle,
        policy_count: compiled.policy_count(),
    })
}

/// The first 12 hex digits of a version, for log lines.
pub(super) fn short(version: &str) -> &str {
    version.get(..12).unwrap_or(version)
}

/// Read and compile the bundle at start-up; any problem refuses to start.
pub(super) fn load_initial(
    source: &Source,
    ttl: Duration,
) -> Result<(Current, Files, BundleCompiler), ServeError> {
    let err = |message: String| ServeError::Bundle {
        dir: source.describe(),
        message,
    };
    let files = source.read().map_err(err)?;
    let mut compiler = BundleCompiler::new();
    let current = compile(&mut compiler, &files, ttl).map_err(|e| err(e.to_string()))?;
    log!(
        Info,
        TARGET,
        "policy bundle loaded version={} policies={} files={}",
        short(&current.bundle.version),
        current.policy_count,
        current.bundle.files.len()
    );
    Ok((current, files, compiler))
}

/// Poll `source` every [`POLL`] on a thread of its own and publish each
/// new valid bundle whose version differs (AUT-4). An invalid state keeps
/// the last good bundle and is logged once.
pub(super) fn spawn_watcher(
    source: Source,
    ttl: Duration,
    last: Files,
    compiler: BundleCompiler,
    tx: watch::Sender<Arc<Current>>,
) -> std::io::Result<()> {
    if matches!(source, Source::Embedded) {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("firma-bundle-watch".into())
        .spawn(move || Watcher::new(source, ttl, last, compiler).run(&tx))
        .map(drop)
}

struct Watcher {
    source: Source,
    ttl: Duration,
    /// The files last compiled (good or bad).
    last: Files,
    /// The last read error logged, so that each bad state is logged once.
    last_read_error: Option<String>,
    /// Keeps the compiled schema and unchanged files between reloads.
    compiler: BundleCompiler,
}

impl Watcher {
    fn new(source: Source, ttl: Duration, last: Files, compiler: BundleCompiler) -> Watcher {
        Watcher {
            source,
            ttl,
            last,
            last_read_error: None,
            compiler,
        }
    }

    fn run(mut self, tx: &watch::Sender<Arc<Current>>) {
        while !tx.is_closed() {
            std::thread::sleep(POLL);
            self.poll(tx);
        }
    }

    fn poll(&mut self, tx: &watch::Sender<Arc<Current>>) {
        let serving = tx.borrow().bundle.version.clone();
        let files = match self.source.read() {
            Ok(f) => f,
            Err(e) => {
                if self.last_read_error.as_deref() != Some(e.as_str()) {
                    log!(
                        Warn,
                        TARGET,
                        "policy change rejected, still serving version={}: {e}",
                        short(&serving)
                    );
                    self.last_read_error = Some(e);
                }
                return;
            }
        };
        self.last_read_error = None;
        if files == self.last {
            return;
        }
        let compiled = compile(&mut self.compiler, &files, self.ttl);
        self.last = files;
        match compiled {
            Err(e) => log!(
                Warn,
                TARGET,
                "policy change rejected, still serving version={}: {}: {e}",
                short(&serving),
                self.source.describe()
            ),
            Ok(current) if current.bundle.version == serving => {}
            Ok(current) => {
                log!(
                    Info,
                    TARGET,
                    "policy bundle reloaded version={} policies={} files={} previous={}",
                    short(&current.bundle.version),
                    current.policy_count,
                    current.bundle.files.len(),
                    short(&serving)
                );
                tx.send_replace(Arc::new(current));
            }
        }
    }
}
