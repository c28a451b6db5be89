//! Capability seed files (SDC-34, `TOK-9`..`TOK-11`, `TOK-19`): loaded at
//! start-up with the Authority public key, then watched and hot-swapped.
//!
//! At start-up any bad seed or key refuses to start, naming the file. While
//! running, a seed that turns bad (or disappears) is logged and dropped —
//! its token grants nothing any more — and the other seeds stay. A seed that
//! becomes valid again is picked up on the next poll.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use firma_core::engine::Capabilities;
use firma_core::token::{Capability, PublicKey, Seed, SeedError, TokenError};

use super::engine_cell::EngineCell;
use super::log::log;

const TARGET: &str = "firma_sidecar::capability_seed";

/// How often the seed files are checked for changes.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Why the seeds could not be loaded at start-up.
#[derive(Debug, thiserror::Error)]
pub enum SeedLoadError {
    /// The public key file could not be read.
    #[error("cannot read `sidecar.authority.public_key_path` `{path}`: {source}", path = path.display())]
    KeyRead {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The public key file is not a raw 32-byte Ed25519 key.
    #[error("`sidecar.authority.public_key_path` `{path}`: {source}", path = path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        source: TokenError,
    },
    /// A seed file could not be read.
    #[error("cannot read capability seed `{path}`: {source}", path = path.display())]
    SeedRead {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A seed file is invalid (the error names the file and position).
    #[error("capability seed rejected: {0}")]
    Seed(#[from] SeedError),
}

/// What was last seen at a seed path.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// The file could not be read; the message is kept to log changes once.
    Unreadable(String),
    /// The SHA-256 of the file's bytes. The bytes are compared, not the
    /// modification time: a rewrite within one timestamp tick, or one that
    /// keeps the time, is still seen.
    File { digest: Vec<u8> },
}

#[derive(Debug)]
struct SeedFile {
    path: PathBuf,
    seen: Seen,
    capability: Option<Capability>,
}

/// The configured seed files and their verified tokens.
#[derive(Debug)]
pub struct SeedFiles {
    key: PublicKey,
    files: Vec<SeedFile>,
}

fn read_key(path: &Path) -> Result<PublicKey, SeedLoadError> {
    let bytes = std::fs::read(path).map_err(|source| SeedLoadError::KeyRead {
        path: path.into(),
        source,
    })?;
    PublicKey::from_bytes(&bytes).map_err(|source| SeedLoadError::Key {
        path: path.into(),
        source,
    })
}

fn digest(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

impl SeedFiles {
    /// Read the public key and every seed; the first problem refuses the
    /// start (SDC-34).
    pub fn load(key_path: &Path, paths: &[PathBuf]) -> Result<SeedFiles, SeedLoadError> {
        let key = read_key(key_path)?;
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let bytes = std::fs::read(path).map_err(|source| SeedLoadError::SeedRead {
                path: path.clone(),
                source,
            })?;
            let text = String::from_utf8_lossy(&bytes);
            let seed = Seed::parse(path, &text, &key)?;
            log_loaded(path, &seed.capability, "loaded");
            files.push(SeedFile {
                path: path.clone(),
                seen: Seen::File {
                    digest: digest(&bytes),
                },
                capability: Some(seed.capability),
            });
        }
        Ok(SeedFiles { key, files })
    }

    /// The tokens of every seed that is currently valid, in path order.
    pub fn capabilities(&self) -> Capabilities {
        self.files
            .iter()
            .filter_map(|f| f.capability.clone())
            .collect()
    }

    /// Check every file once (read and hash it: seed files are small); true
    /// when any token changed.
    pub fn poll(&mut self) -> bool {
        let key = self.key;
        self.files
            .iter_mut()
            .map(|f| f.poll(&key))
            .fold(false, |a, b| a | b)
    }

    /// Poll every [`POLL_INTERVAL`] on a thread of its own and publish each
    /// change to the engine (TOK-19: the next decision uses the new store).
    pub fn watch(mut self, cell: Arc<EngineCell>) {
        if self.files.is_empty() {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("firma-seed-watch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(POLL_INTERVAL);
                    if self.poll() {
                        let caps = self.capabilities();
                        let n = caps.len();
                        cell.update(|e| e.handle_capabilities(caps));
                        log!(
                            Info,
                            TARGET,
                            "capability tokens updated: {n} valid seed{}",
                            if n == 1 { "" } else { "s" }
                        );
                    }
                }
            });
        if let Err(e) = spawned {
            log!(
                Error,
                TARGET,
                "cannot start the capability seed watcher ({e}); seed files will not be reloaded"
            );
        }
    }
}

impl SeedFile {
    /// Re-read the file if it changed; true when its token changed.
    fn poll(&mut self, key: &PublicKey) -> bool {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) => {
                let why = e.to_string();
                if self.seen != Seen::Unreadable(why.clone()) {
                    log!(
                        Warn,
                        TARGET,
                        "capability seed `{}` cannot be read ({why}); its token no longer grants anything",
                        self.path.display()
                    );
                    self.seen = Seen::Unreadable(why);
                }
                return self.capability.take().is_some();
            }
        };
        let now_seen = Seen::File {
            digest: digest(&bytes),
        };
        if self.seen == now_seen {
            return false;
        }
        self.seen = now_seen;
        let text = String::from_utf8_lossy(&bytes);
        match Seed::parse(&self.path, &text, key) {
            Ok(seed) => {
                log_loaded(&self.path, &seed.capability, "reloaded");
                let changed = self.capability.as_ref() != Some(&seed.capability);
                self.capability = Some(seed.capability);
                changed
            }
            Err(e) => {
                log!(
                    Warn,
                    TARGET,
                    "capability seed rejected, its token no longer grants anything: {e}"
                );
                self.capability.take().is_some()
            }
        }
    }
}

fn log_loaded(path: &Path, cap: &Capability, what: &str) {
    let c = cap.claims();
    log!(
        Info,
        TARGET,
        "capability seed {what} {} token_id={} agent_id={} scope={}",
        path.display(),
        c.token_id,
        c.agent_id,
        c.resource_scope.as_str()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tokens")
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("firma-seeds-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    fn copy(from: &str, to: &Path) {
        std::fs::copy(fixtures().join(from), to).expect("copy fixture");
    }

    /// SDC-34: a changed seed is reloaded, a broken one dropped while the
    /// others stay, and a repaired one comes back.
    #[test]
    fn reload_drop_and_recover() {
        let d = dir("reload");
        let a = d.join("a.toml");
        let b = d.join("b.toml");
        copy("seed-any.toml", &a);
        copy("seed-scoped.toml", &b);
        let mut seeds = SeedFiles::load(
            &fixtures().join("authority-test.pub"),
            &[a.clone(), b.clone()],
        )
        .expect("load");
        assert_eq!(seeds.capabilities().len(), 2);
        assert!(!seeds.poll(), "nothing changed");

        std::fs::write(&a, "raw_token = \"v4.public.broken\"\n").expect("write");
        assert!(seeds.poll());
        let ids: Vec<String> = seeds
            .capabilities()
            .iter()
            .map(|c| c.claims().token_id.clone())
            .collect();
        assert_eq!(ids, ["ctok_01j0000000e008000000000002"]);

        copy("seed-expired.toml", &a);
        assert!(seeds.poll());
        assert_eq!(seeds.capabilities().len(), 2);

        std::fs::remove_file(&b).expect("remove");
        assert!(seeds.poll());
        assert!(!seeds.poll(), "a missing file is reported once");
        assert_eq!(seeds.capabilities().len(), 1);
        let _ = std::fs::remove_dir_all(&d);
    }

    /// SDC-34: a bad seed or key at start-up is an error naming the file.
    #[test]
    fn bad_start_names_the_file() {
        let d = dir("bad");
        let a = d.join("a.toml");
        std::fs::write(&a, "nonsense = 1\n").expect("write");
        let e = SeedFiles::load(
            &fixtures().join("authority-test.pub"),
            std::slice::from_ref(&a),
        )
        .expect_err("bad seed");
        assert!(e.to_string().contains(&a.display().to_string()), "{e}");
        let e = SeedFiles::load(&fixtures().join("authority-test.key"), &[])
            .expect_err("64-byte file is not a public key");
        assert!(e.to_string().contains("authority-test.key"), "{e}");
        assert!(e.to_string().contains("public_key_path"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
