//! The audit writer (SDC-14..16): one thread owns the chain and the sink.
//! Requests hand it their decision and wait for the record to be written
//! before anything is forwarded. Records are sealed in arrival order and
//! written in batches, one `write` of whole lines per batch, so a crash never
//! leaves more than a torn last line.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use firma_core::audit::{AuditChain, AuditSigner, RecordMeta, recover};
use firma_core::{Decision, UnixTime};
use tokio::sync::{mpsc, oneshot};

use super::log::log;

/// Most records sealed into one write.
const MAX_BATCH: usize = 512;
/// Records that may wait for the writer before requests feel back-pressure.
const QUEUE: usize = 8192;

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

struct Pending {
    decision: Decision,
    event_id: String,
    timestamp: UnixTime,
    latency_us: u64,
    ack: oneshot::Sender<Result<(), WriteError>>,
}

enum Msg {
    Record(Box<Pending>),
    Close(oneshot::Sender<()>),
}

/// A handle to the writer; cheap to clone.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<Msg>,
}

/// Joins the writer thread at shutdown.
pub struct SinkThread {
    thread: Option<std::thread::JoinHandle<()>>,
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

impl AuditSink {
    /// Open the sink and start the writer thread. For a file sink, an
    /// existing log is continued (torn tail moved aside, a log signed by
    /// another key rotated away).
    pub fn open(
        target: &SinkTarget,
        signer: Arc<dyn AuditSigner>,
        redactions: Vec<String>,
        now_unix: u64,
    ) -> Result<(AuditSink, SinkThread), SinkError> {
        let (out, chain) = match target {
            SinkTarget::Stdout => (Out::Stdout, AuditChain::genesis()),
            SinkTarget::File(path) => {
                let (file, chain) = open_file(path, signer.key_id(), now_unix)?;
                (Out::File(file), chain)
            }
        };
        let chain = chain.with_redactions(redactions);
        let (tx, rx) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("firma-audit".into())
            .spawn(move || writer(rx, out, chain, signer))
            .map_err(|e| SinkError::Io {
                path: PathBuf::from("<audit writer>"),
                what: "cannot start the writer thread",
                source: e,
            })?;
        Ok((
            AuditSink { tx },
            SinkThread {
                thread: Some(thread),
            },
        ))
    }

    /// Seal and write one record; resolves once it is written.
    pub async fn record(
        &self,
        decision: &Decision,
        event_id: &str,
        timestamp: UnixTime,
        latency_us: u64,
    ) -> Result<(), WriteError> {
        let (ack, done) = oneshot::channel();
        let pending = Pending {
            decision: decision.clone(),
            event_id: event_id.to_owned(),
            timestamp,
            latency_us,
            ack,
        };
        self.tx
            .send(Msg::Record(Box::new(pending)))
            .await
            .map_err(|_| WriteError("the audit writer has stopped".into()))?;
        done.await
            .map_err(|_| WriteError("the audit writer has stopped".into()))?
    }

    /// Write everything queued, sync the file and stop the writer.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

impl SinkThread {
    /// Wait for the writer thread to exit (after [`AuditSink::close`]).
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn writer(
    mut rx: mpsc::Receiver<Msg>,
    mut out: Out,
    mut chain: AuditChain,
    signer: Arc<dyn AuditSigner>,
) {
    let mut buf = String::with_capacity(64 * 1024);
    let mut acks = Vec::with_capacity(MAX_BATCH);
    let mut failed: Option<String> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut close = None;
        let mut next = Some(first);
        buf.clear();
        while let Some(msg) = next.take() {
            match msg {
                Msg::Record(p) => {
                    if failed.is_none() {
                        let meta = RecordMeta {
                            event_id: &p.event_id,
                            timestamp: p.timestamp,
                            latency_us: p.latency_us,
                        };
                        buf.push_str(&chain.seal(&p.decision, &meta, &*signer));
                        buf.push('\n');
                    }
                    acks.push(p.ack);
                }
                Msg::Close(done) => {
                    close = Some(done);
                    break;
                }
            }
            if acks.len() >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        if failed.is_none()
            && !buf.is_empty()
            && let Err(e) = out.write_batch(buf.as_bytes())
        {
            // INVARIANT (fail closed): after a failed write the chain on
            // disk is unknown, so no later record is written and every
            // waiting call is refused.
            log!(
                Error,
                "firma_sidecar::audit",
                "audit write failed, refusing all further calls: {e}"
            );
            failed = Some(e.to_string());
        }
        let result = match &failed {
            None => Ok(()),
            Some(e) => Err(WriteError(e.clone())),
        };
        for ack in acks.drain(..) {
            let _ = ack.send(result.clone());
        }
        if let Some(done) = close {
            out.sync();
            let _ = done.send(());
            return;
        }
    }
    out.sync();
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> SinkError + 'a {
    move |source| SinkError::Io {
        path: path.to_path_buf(),
        what,
        source,
    }
}

fn open_append(path: &Path) -> Result<File, SinkError> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path, "cannot open for appending"))
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
