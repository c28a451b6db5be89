//! Start-up of the Authority server: which config, and the signing key
//! (AUT-1, AUT-2).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use firma_core::config::{AuthorityConfig, Config};
use firma_core::token::SigningKey;

use super::super::Common;
use super::error::ServeError;
use crate::sidecar::discover::{self, Discovered};
use crate::sidecar::log::log;
use crate::sidecar::startup as sidecar_startup;

const TARGET: &str = "firma_authority::startup";

/// The `[authority]` settings and where they came from.
pub(super) struct Settings {
    /// `[authority]`.
    pub(super) config: AuthorityConfig,
    /// True when no firma.toml was found (built-in development policy,
    /// key generated in the state directory).
    pub(super) embedded: bool,
}

/// Find and parse the config like `firma sidecar` does; without one, use
/// the embedded default rooted in the state directory.
pub(super) fn load_settings(common: &Common) -> Result<Settings, ServeError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let state_dir = discover::state_dir(
        common.state_dir.as_deref(),
        std::env::var_os("FIRMA_STATE_DIR").map(PathBuf::from),
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        discover::current_uid(),
    );
    match discover::config(
        common.config.as_deref(),
        std::env::var_os("FIRMA_CONFIG").map(PathBuf::from),
        &cwd,
    ) {
        Discovered::File(path, _how) => Ok(Settings {
            config: sidecar_startup::read_config(&path)?.authority,
            embedded: false,
        }),
        Discovered::Embedded(_looked) => {
            eprintln!(
                "firma: no firma.toml found (no --config, no FIRMA_CONFIG, no .firma/firma.toml from {} upwards); \
                 running the Authority on the embedded default: gRPC on {}, built-in development policy, \
                 signing key and revocations in {}",
                cwd.display(),
                firma_core::config::DEFAULT_AUTHORITY_LISTEN,
                state_dir.display()
            );
            sidecar_startup::ensure_state_dir(&state_dir)?;
            Ok(Settings {
                config: Config::embedded_default(&state_dir).authority,
                embedded: true,
            })
        }
    }
}

/// Make sure the signing key exists. A configured key that is missing
/// refuses start-up; the embedded default creates one once (AUT-2).
pub(super) fn ensure_key(settings: &Settings) -> Result<(), ServeError> {
    let path = &settings.config.key_file;
    if path.exists() {
        return Ok(());
    }
    if !settings.embedded {
        return Err(ServeError::KeyMissing { path: path.clone() });
    }
    let mut seed = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
        .map_err(|_| ServeError::Random)?;
    let key = SigningKey::from_seed(&seed);
    write_new(path, &key.to_keypair_bytes(), 0o600)?;
    let public = path.with_extension("pub");
    write_new(&public, &key.public_key().to_bytes(), 0o644)?;
    log!(
        Info,
        TARGET,
        "generated development signing key {} (public key {})",
        path.display(),
        public.display()
    );
    Ok(())
}

/// Write `bytes` to a new file `path` with `mode`: a temporary file is
/// written and synced, then hard-linked into place, so `path` is either
/// absent or complete and an existing file is never replaced.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ServeError> {
    let io = |what| {
        move |source| ServeError::KeyCreate {
            path: path.to_path_buf(),
            what,
            source,
        }
    };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io("cannot create a temporary file"))?;
        f.write_all(bytes).map_err(io("cannot write"))?;
        f.sync_all().map_err(io("cannot sync"))?;
        std::fs::hard_link(&tmp, path).map_err(io("cannot create"))
    })();
    let _ = std::fs::remove_file(&tmp);
    written
}
