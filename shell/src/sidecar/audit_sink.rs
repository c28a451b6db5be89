//! The audit writer (SDC-14..16). Whoever finds the writer idle becomes it:
//! a request seals and writes its own record on its own worker thread, then
//! keeps writing the records that other requests queued meanwhile
//! (flat combining), and hands each its result. A request therefore wakes no
//! other thread unless it had to wait for a busy writer. Records are sealed
//! in arrival order and written in batches, one `write` of whole lines per
//! batch, so a crash never leaves more than a torn last line; the call waits
//! until its record is written before anything is forwarded.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use firma_core::audit::{AuditChain, AuditSigner, RecordMeta, recover};
use firma_core::{Decision, UnixTime};
use tokio::sync::oneshot;

use super::log::log;

/// Where records go.
pub enum SinkTarget {
    /// Append to this file.
    File(PathBuf),
    /// One line per record on stdout.
    Stdout,
}

/// A problem opening the sink at start-up.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The file could not be opened, read or prepared.
    #[error("audit log `{path}`: {what}: {source}")]
    Io {
        /// The audit file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another process holds the log's lock.
    #[error(
        "audit log `{path}` is in use by another firma process (its lock is held); two writers would fork its hash chain: stop the other Sidecar or give this one its own `[sidecar.audit] file_path`"
    )]
    InUse {
        /// The audit file.
        path: PathBuf,
    },
    /// The existing log does not end in an audit record.
    #[error("audit log `{path}` cannot be continued: {detail}; move it aside to start a new log")]
    Unrecoverable {
        /// The audit file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
}

/// The record could not be written; the call must not proceed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("audit record not written: {0}")]
pub struct WriteError(pub String);

fn stopped() -> WriteError {
    WriteError("the audit writer has stopped".into())
}

/// A record queued for the current writer, and where its result goes (the
/// decision travels back with a success, so nothing is cloned).
struct Pending {
    decision: Decision,
    event_id: String,
    timestamp: UnixTime,
    latency_us: u64,
    ack: oneshot::Sender<Result<Decision, WriteError>>,
}

/// What requests share; locked only for a few instructions at a time.
#[derive(Default)]
struct State {
    /// A request is acting as the writer (it holds `Inner::writer`).
    busy: bool,
    /// `close` was called: no further records are accepted.
    closed: bool,
    /// A writer panicked; every further call is refused.
    broken: bool,
    /// Records waiting for the current writer, in arrival order.
    queue: Vec<Pending>,
    /// `close` calls waiting for the current writer to finish and sync.
    closers: Vec<oneshot::Sender<()>>,
}

/// The chain and the output. Only the request that set `State::busy` (or
/// `close`, once idle) locks it, so it is never contended.
struct Writer {
    out: Out,
    chain: AuditChain,
    signer: Arc<dyn AuditSigner>,
    buf: String,
    /// Set by the first failed write (fail closed).
    failed: Option<String>,
    /// Spare queue, swapped with `State::queue` to take a batch.
    spare: Vec<Pending>,
}

struct Inner {
    state: Mutex<State>,
    writer: Mutex<Writer>,
}

/// A handle to the writer; cheap to clone.
#[derive(Clone)]
pub struct AuditSink {
    inner: Arc<Inner>,
}

enum Out {
    File(File),
    Stdout,
}

impl Out {
    fn write_batch(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Out::File(f) => f.write_all(buf),
            Out::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(buf)?;
                out.flush()
            }
        }
    }

    fn sync(&mut self) {
        if let Out::File(f) = self {
            let _ = f.sync_all();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Writer {
    /// Seal `records` into one batch and write it with one `write`.
    fn write<'a>(
        &mut self,
        records: impl Iterator<Item = (&'a Decision, RecordMeta<'a>)>,
    ) -> Result<(), WriteError> {
        if let Some(e) = &self.failed {
            return Err(WriteError(e.clone()));
        }
        self.buf.clear();
        for (decision, meta) in records {
            self.chain
                .seal_into(&mut self.buf, decision, &meta, &*self.signer);
            self.buf.push('\n');
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.out.write_batch(self.buf.as_bytes()) {
            // INVARIANT (fail closed): after a failed write the chain on
            // disk is unknown, so no later record is written and every
            // waiting call is refused.
            log!(
                Error,
                "firma_sidecar::audit",
                "audit write failed, refusing all further calls: {e}"
            );
            self.failed = Some(e.to_string());
            return Err(WriteError(e.to_string()));
        }
        Ok(())
    }
}

/// Marks the sink broken if the writer unwinds, so that queued and later
/// calls are refused instead of waiting for a writer that is gone.
struct BusyGuard<'a>(&'a Inner);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut st = lock(&self.0.state);
            st.broken = true;
            st.busy = false;
            st.queue.clear();
            st.closers.clear();
        }
    }
}

impl AuditSink {
    /// Open the sink. For a file sink, an existing log is continued (torn
    /// tail moved aside, a log signed by another key rotated away).
    pub fn open(
        target: &SinkTarget,
        signer: Arc<dyn AuditSigner>,
        redactions: Vec<String>,
        now_unix: u64,
    ) -> Result<AuditSink, SinkError> {
        let (out, chain) = match target {
            SinkTarget::Stdout => (Out::Stdout, AuditChain::genesis()),
            SinkTarget::File(path) => {
                let (file, chain) = open_file(path, signer.key_id(), now_unix)?;
                (Out::File(file), chain)
            }
        };
        let writer = Writer {
            out,
            chain: chain.with_redactions(redactions),
            signer,
            buf: String::with_capacity(64 * 1024),
            failed: None,
            spare: Vec::new(),
        };
        Ok(AuditSink {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                writer: Mutex::new(writer),
            }),
        })
    }

    /// Seal and write one record; resolves once it is written and hands the
    /// decision back. On an error the call must not proceed.
    pub async fn record(
        &self,
        decision: Decision,
        event_id: &str,
        timestamp: UnixTime,
        latency_us: u64,
    ) -> Result<Decision, WriteError> {
        let waiting = {
            let mut st = lock(&self.inner.state);
            if st.closed || st.broken {
                return Err(stopped());
            }
            if st.busy {
                let (ack, done) = oneshot::channel();
                st.queue.push(Pending {
                    decision,
                    event_id: event_id.to_owned(),
                    timestamp,
                    latency_us,
                    ack,
                });
                done
            } else {
                st.busy = true;
                drop(st);
                // No `.await` from here on: the writer role cannot be
                // abandoned half-way by a cancelled request.
                let meta = RecordMeta {
                    event_id,
                    timestamp,
                    latency_us,
                };
                return self.combine(Some((&decision, meta))).map(|()| decision);
            }
        };
        // A dropped sender means the writer panicked: refuse the call.
        waiting.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Act as the writer (the caller set `busy`): write `own`, then every
    /// record queued meanwhile, until the queue is empty; then sync for any
    /// waiting `close`.
    fn combine(&self, own: Option<(&Decision, RecordMeta<'_>)>) -> Result<(), WriteError> {
        let guard = BusyGuard(&self.inner);
        let mut w = lock(&self.inner.writer);
        let result = match own {
            Some(record) => w.write(std::iter::once(record)),
            None => Ok(()),
        };
        let mut batch = std::mem::take(&mut w.spare);
        loop {
            let closers = {
                let mut st = lock(&self.inner.state);
                if st.queue.is_empty() {
                    st.busy = false;
                    std::mem::take(&mut st.closers)
                } else {
                    std::mem::swap(&mut st.queue, &mut batch);
                    Vec::new()
                }
            };
            if batch.is_empty() {
                if !closers.is_empty() {
                    w.out.sync();
                    for done in closers {
                        let _ = done.send(());
                    }
                }
                break;
            }
            let r = w.write(batch.iter().map(|p| {
                (
                    &p.decision,
                    RecordMeta {
                        event_id: &p.event_id,
                        timestamp: p.timestamp,
                        latency_us: p.latency_us,
                    },
                )
            }));
            for p in batch.drain(..) {
                let _ = p.ack.send(r.clone().map(|()| p.decision));
            }
        }
        w.spare = batch;
        drop(w);
        drop(guard);
        result
    }

    /// Refuse further records, wait for everything queued to be written,
    /// and sync the file.
    pub async fn close(&self) {
        let waiting = {
            let mut st = lock(&self.inner.state);
            st.closed = true;
            if st.busy {
                let (tx, rx) = oneshot::channel();
                st.closers.push(tx);
                Some(rx)
            } else {
                st.busy = true;
                None
            }
        };
        match waiting {
            Some(rx) => {
                let _ = rx.await;
            }
            None => {
                let _ = self.combine(None);
                lock(&self.inner.writer).out.sync();
            }
        }
    }
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> SinkError + 'a {
    move |source| SinkError::Io {
        path: path.to_path_buf(),
        what,
        source,
    }
}

/// Open the log for appending and take its exclusive lock, held as long as
/// the file is open (SDC-37): two writers on one chain would fork it.
fn open_append(path: &Path) -> Result<File, SinkError> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path, "cannot open for appending"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(SinkError::InUse {
            path: path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io(path, "cannot lock")(e)),
    }
}

/// Open (or create) the log and work out how to continue its chain.
fn open_file(path: &Path, key_id: &str, now_unix: u64) -> Result<(File, AuditChain), SinkError> {
    let mut file = open_append(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(io(path, "cannot read the existing log"))?;
    let rec = recover(&bytes).map_err(|e| SinkError::Unrecoverable {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;

    if rec.torn_tail {
        let aside = PathBuf::from(format!("{}.torn-{now_unix}", path.display()));
        let tail = bytes.get(rec.keep_len..).unwrap_or(&[]);
        std::fs::write(&aside, tail).map_err(io(&aside, "cannot save the torn last line"))?;
        file.set_len(u64::try_from(rec.keep_len).unwrap_or(u64::MAX))
            .map_err(io(path, "cannot cut off the torn last line"))?;
        file.seek(SeekFrom::End(0))
            .map_err(io(path, "cannot seek"))?;
        log!(
            Warn,
            "firma_sidecar::audit",
            "audit log {} ended in a torn line; moved it to {}",
            path.display(),
            aside.display()
        );
        bytes.truncate(rec.keep_len);
    }

    let last = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let last = last.rsplit(|&b| b == b'\n').next().unwrap_or(last);
    if !last.is_empty() && last_key_id(last).as_deref() != Some(key_id) {
        let rotated = PathBuf::from(format!("{}.{now_unix}", path.display()));
        drop(file);
        std::fs::rename(path, &rotated)
            .map_err(io(path, "cannot rotate a log signed by another key"))?;
        log!(
            Warn,
            "firma_sidecar::audit",
            "audit log {} was signed by another key; rotated it to {}",
            path.display(),
            rotated.display()
        );
        return Ok((open_append(path)?, AuditChain::genesis()));
    }
    if rec.append_newline {
        file.write_all(b"\n")
            .map_err(io(path, "cannot terminate the last line"))?;
    }
    Ok((file, rec.chain))
}

fn last_key_id(line: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    v.get("signature")?
        .get("key_id")?
        .as_str()
        .map(str::to_owned)
}
