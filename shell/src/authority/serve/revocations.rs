//! The revocation list the Authority streams (AUT-6, AUT-7): the entries of
//! `[authority] revocation_file` in the order first seen, kept current by a
//! polling watcher. Streams read the shared log by position, so a slow
//! consumer falls behind without losing entries and is never disconnected.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use firma_core::time::UnixTime;
use firma_core::token::{Revocation, parse_revocations};
use tokio::sync::watch;

use crate::sidecar::clock::wall_now;
use crate::sidecar::log::log;

const TARGET: &str = "firma_authority::revocations";

/// How often the watcher looks at the revocation file.
pub(super) const POLL: Duration = Duration::from_millis(200);

/// Every revocation known, in the order first seen, with change signals.
#[derive(Debug)]
pub(super) struct Revocations {
    path: PathBuf,
    max_ttl: Duration,
    state: Mutex<State>,
    /// The log length after each change.
    len_tx: watch::Sender<usize>,
}

#[derive(Debug, Default)]
struct State {
    log: Vec<Revocation>,
    known: HashSet<String>,
    /// Skipped lines already reported (`line N: message`).
    reported: HashSet<String>,
    /// (inode, length, mtime) of the file last read; `None` = absent.
    stamp: Option<(u64, u64, i128)>,
}

impl Revocations {
    /// Load `path` now (missing = empty) and log what was loaded.
    pub(super) fn load(path: &Path, max_ttl: Duration) -> Arc<Revocations> {
        let (len_tx, _) = watch::channel(0);
        let store = Arc::new(Revocations {
            path: path.to_path_buf(),
            max_ttl,
            state: Mutex::new(State::default()),
            len_tx,
        });
        store.refresh(true);
        store
    }

    /// The number of entries known.
    pub(super) fn len(&self) -> usize {
        self.lock().log.len()
    }

    /// A receiver that changes whenever entries are added.
    pub(super) fn subscribe(&self) -> watch::Receiver<usize> {
        self.len_tx.subscribe()
    }

    /// Entries at positions `from..` that are not expired at `now`, with
    /// the position after the last one.
    pub(super) fn entries_from(&self, from: usize, now: UnixTime) -> (Vec<Revocation>, usize) {
        let state = self.lock();
        let tail = state.log.get(from..).unwrap_or_default();
        let live = tail
            .iter()
            .filter(|r| !r.is_expired(now, self.max_ttl))
            .cloned()
            .collect();
        (live, state.log.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Poll the file on a thread of its own until the process exits.
    pub(super) fn spawn_watcher(self: &Arc<Revocations>) -> std::io::Result<()> {
        let store = Arc::clone(self);
        std::thread::Builder::new()
            .name("firma-revocation-watch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(POLL);
                    store.refresh(false);
                }
            })
            .map(drop)
    }

    /// Re-read the file if it changed; append the ids not known yet and
    /// signal the streams (AUT-6).
    fn refresh(&self, initial: bool) {
        let stamp = match std::fs::metadata(&self.path) {
            Ok(m) => Some((
                m.ino(),
                m.len(),
                i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                self.report_once(format!("cannot read: {e}"));
                return;
            }
        };
        if !initial && stamp == self.lock().stamp {
            return;
        }
        let text = match stamp {
            None => String::new(),
            Some(_) => match std::fs::read_to_string(&self.path) {
                Ok(t) => t,
                Err(e) => {
                    self.report_once(format!("cannot read: {e}"));
                    return;
                }
            },
        };
        let now = wall_now();
        let (entries, warnings) = parse_revocations(&text, now);
        for w in warnings {
            self.report_once(w.to_string());
        }
        let mut added = 0usize;
        let len = {
            let mut state = self.lock();
            state.stamp = stamp;
            for entry in entries {
                if entry.is_expired(now, self.max_ttl) || state.known.contains(&entry.token_id) {
                    continue;
                }
                state.known.insert(entry.token_id.clone());
                state.log.push(entry);
                added += 1;
            }
            state.log.len()
        };
        if initial {
            log!(
                Info,
                TARGET,
                "revocations loaded entries={len} file={}",
                self.path.display()
            );
        } else if added > 0 {
            log!(
                Info,
                TARGET,
                "revocations added entries={added} total={len}"
            );
        }
        if added > 0 {
            self.len_tx.send_replace(len);
        }
    }

    fn report_once(&self, message: String) {
        if self.lock().reported.insert(message.clone()) {
            log!(Warn, TARGET, "{}: {message}", self.path.display());
        }
    }
}
