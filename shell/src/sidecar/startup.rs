//! Everything the Sidecar loads before `sidecar ready` (SDC-2, SDC-4). Any
//! failure here is a [`StartupError`] naming the file or address at fault.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use firma_core::audit::{AuditError, AuditSigner};
use firma_core::config::{
    AuditSink as SinkConfig, Config, ConfigError, PolicySource as PolicyConfigSource, RulesSource,
    SigningKey,
};
use firma_core::mapping::{MappingError, RuleSet, RuleSource};
use firma_core::policy::{Bundle, BundleError, PolicySource};

use super::audit_sink::{SinkError, SinkTarget};
use super::embedded;
use super::log::log;
use firma::signer::{RingSigner, SignerError};

/// Why the Sidecar did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The config file could not be read.
    #[error("cannot read config `{path}`: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The config file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The Authority link cannot be set up (URL, TLS files).
    #[error(transparent)]
    Link(#[from] super::link::LinkError),
    /// The capability seeds or the Authority public key are unusable.
    #[error(transparent)]
    Seeds(#[from] super::seeds::SeedLoadError),
    /// A mapping file could not be read.
    #[error("cannot read mapping rules `{path}`: {source}")]
    RulesRead {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The mapping rules are invalid.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The policy directory could not be read.
    #[error("cannot read policy directory `{path}`: {source}")]
    PolicyDir {
        /// The directory (or a file in it).
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The policy directory holds no policy.
    #[error("policy directory `{0}` contains no `*.cedar` files")]
    NoPolicies(PathBuf),
    /// More than one schema in the policy directory.
    #[error(
        "policy directory `{dir}` holds more than one `*.cedarschema` file: `{first}` and `{second}`"
    )]
    TwoSchemas {
        /// The directory.
        dir: PathBuf,
        /// One schema.
        first: String,
        /// Another schema.
        second: String,
    },
    /// The policies do not compile.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The audit key could not be read or created.
    #[error("audit signing key `{path}`: {what}: {source}")]
    KeyIo {
        /// The key file.
        path: PathBuf,
        /// What failed.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The audit key is not a usable P-256 private key.
    #[error("audit signing key `{path}`: {source}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: AuditError,
    },
    /// The signing backend rejected the key.
    #[error("audit signing key `{path}`: {source}")]
    Signer {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: SignerError,
    },
    /// A fresh key could not be generated.
    #[error("cannot generate an audit signing key: {0}")]
    KeyGenerate(String),
    /// The audit sink could not be opened.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// HTTPS interception could not be set up (CA, upstream trust).
    #[error(transparent)]
    Mitm(#[from] super::mitm::MitmError),
    /// The state directory could not be created.
    #[error("cannot create state directory `{path}`: {source}")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on `{addr}`: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Read and parse the config file.
pub fn read_config(path: &Path) -> Result<Config, StartupError> {
    let text = std::fs::read_to_string(path).map_err(|source| StartupError::ConfigRead {
        path: path.into(),
        source,
    })?;
    Ok(Config::parse(path, &text)?)
}

/// How a rule file is named in messages and audit records (`RuleRef`): its
/// path relative to the config file's directory, or the full path when it
/// lies elsewhere.
fn display_name(path: &Path, config_dir: Option<&Path>) -> String {
    config_dir
        .and_then(|d| path.strip_prefix(d).ok())
        .filter(|rel| !rel.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Load and compile the mapping rules, logging what was loaded.
pub fn load_rules(
    source: &RulesSource,
    config_dir: Option<&Path>,
) -> Result<RuleSet, StartupError> {
    log!(Info, "firma_sidecar::startup", "loading mapping rules");
    let files: Vec<(String, String)> = match source {
        RulesSource::Embedded => embedded::MAPPING_PACKS
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect(),
        RulesSource::Files(paths) => paths
            .iter()
            .map(|p| {
                std::fs::read_to_string(p)
                    .map(|t| (display_name(p, config_dir), t))
                    .map_err(|source| StartupError::RulesRead {
                        path: p.clone(),
                        source,
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    let sources: Vec<RuleSource<'_>> = files
        .iter()
        .map(|(n, t)| RuleSource {
            name: n.as_str(),
            text: t.as_str(),
        })
        .collect();
    let rules = match RuleSet::compile(&sources) {
        Ok(r) => r,
        Err(short) => {
            // Records name files relative to the config; start-up errors name
            // the full path. Compiling is deterministic, so the same error
            // comes back with full names.
            let RulesSource::Files(paths) = source else {
                return Err(short.into());
            };
            let full: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            let long: Vec<RuleSource<'_>> = full
                .iter()
                .zip(&files)
                .map(|(n, (_, t))| RuleSource {
                    name: n.as_str(),
                    text: t.as_str(),
                })
                .collect();
            return Err(RuleSet::compile(&long).err().unwrap_or(short).into());
        }
    };
    if sources.len() == 1 {
        log!(
            Info,
            "firma_sidecar::startup",
            "loaded {} mapping rules",
            rules.len()
        );
    } else {
        let base = sources
            .first()
            .map_or(0, |first| rules.rules_in_file(first.name));
        log!(
            Info,
            "firma_sidecar::startup::mapping",
            "loaded {} mapping files",
            sources.len()
        );
        log!(
            Info,
            "firma_sidecar::startup::mapping",
            "{} total rules ({} base + {} extension)",
            rules.len(),
            base,
            rules.len().saturating_sub(base)
        );
    }
    Ok(rules)
}

/// Compile the policy bundle, logging what was loaded.
pub fn load_bundle(source: &PolicyConfigSource) -> Result<Bundle, StartupError> {
    let (policies, schema) = match source {
        PolicyConfigSource::Embedded => {
            log!(
                Info,
                "firma_sidecar::startup",
                "loading the built-in development policy"
            );
            (
                vec![(
                    embedded::DEV_POLICY.0.to_owned(),
                    embedded::DEV_POLICY.1.to_owned(),
                )],
                None,
            )
        }
        PolicyConfigSource::Dir(dir) => {
            log!(
                Info,
                "firma_sidecar::startup",
                "loading policy bundle from {}",
                dir.display()
            );
            read_policy_dir(dir)?
        }
    };
    let sources = PolicySource::of_pairs(&policies);
    let bundle = Bundle::compile(&sources, schema.as_ref().map(PolicySource::of_pair))?;
    log!(
        Info,
        "firma_sidecar::startup",
        "bundle compiled ({} file{}, {} policies)",
        bundle.file_count(),
        if bundle.file_count() == 1 { "" } else { "s" },
        bundle.policy_count()
    );
    Ok(bundle)
}

type Files = Vec<(String, String)>;

/// `*.cedar` files sorted by name, and the optional `*.cedarschema`.
pub fn read_policy_dir(dir: &Path) -> Result<(Files, Option<(String, String)>), StartupError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StartupError::PolicyDir { path, source }
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(err(dir))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(err(dir))?;
    entries.sort();
    let mut policies = Vec::new();
    let mut schema: Option<(String, String)> = None;
    for path in entries {
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match ext {
            "cedar" => policies.push((name, std::fs::read_to_string(&path).map_err(err(&path))?)),
            "cedarschema" => {
                if let Some((first, _)) = &schema {
                    return Err(StartupError::TwoSchemas {
                        dir: dir.into(),
                        first: first.clone(),
                        second: name,
                    });
                }
                schema = Some((name, std::fs::read_to_string(&path).map_err(err(&path))?));
            }
            _ => {}
        }
    }
    if policies.is_empty() {
        return Err(StartupError::NoPolicies(dir.into()));
    }
    Ok((policies, schema))
}

/// Read (or, for the embedded default, create once) the audit signing key.
pub fn load_signer(key: &SigningKey) -> Result<Arc<dyn AuditSigner>, StartupError> {
    let path = key.path();
    if let SigningKey::GenerateIfMissing(p) = key
        && !p.exists()
    {
        generate_key(p)?;
        log!(
            Info,
            "firma_sidecar::startup",
            "generated audit signing key {}",
            p.display()
        );
    }
    let pem = std::fs::read_to_string(path).map_err(|source| StartupError::KeyIo {
        path: path.into(),
        what: "cannot read",
        source,
    })?;
    // Parse with core first for its precise messages, then hand to ring.
    firma_core::audit::P256Signer::from_pem(&pem).map_err(|source| StartupError::Key {
        path: path.into(),
        source,
    })?;
    let signer = RingSigner::from_pem(&pem).map_err(|source| StartupError::Signer {
        path: path.into(),
        source,
    })?;
    Ok(Arc::new(signer))
}

/// A new P-256 key as PKCS#8 PEM, created with mode 0600; never overwrites.
fn generate_key(path: &Path) -> Result<(), StartupError> {
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    let rng = ring::rand::SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|e| StartupError::KeyGenerate(e.to_string()))?;
    let pem = pem_encode("PRIVATE KEY", doc.as_ref());
    let io = |what| {
        move |source| StartupError::KeyIo {
            path: path.into(),
            what,
            source,
        }
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io("cannot create"))?;
    f.write_all(pem.as_bytes()).map_err(io("cannot write"))?;
    f.sync_all().map_err(io("cannot sync"))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The sink target from the config.
pub fn sink_target(sink: &SinkConfig) -> SinkTarget {
    match sink {
        SinkConfig::Stdout => SinkTarget::Stdout,
        SinkConfig::File(p) => SinkTarget::File(p.clone()),
    }
}

/// Create the state directory (0700) if it does not exist.
pub fn ensure_state_dir(dir: &Path) -> Result<(), StartupError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StartupError::StateDir {
            path: dir.into(),
            source,
        })
}
