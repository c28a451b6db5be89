//! Reading and verifying the sidecar's audit log (`AUD-*`, `SDC-14..16`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long to wait for records to reach the file.
pub const AUDIT_WAIT: Duration = Duration::from_secs(10);

/// The audit log file of one sidecar and the key that verifies it.
pub struct AuditLog {
    /// The JSONL file.
    pub path: PathBuf,
    /// A key `firma audit verify --key` accepts.
    pub key: PathBuf,
}

/// Result of `firma audit verify`.
#[derive(Debug)]
pub struct Verify {
    /// Exit code.
    pub code: Option<i32>,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl Verify {
    /// Asserts exit 0 and returns the number of records from `ok: <n> record…`.
    pub fn assert_ok(&self) -> usize {
        assert_eq!(
            self.code,
            Some(0),
            "firma audit verify failed:\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self.stdout
            .trim()
            .strip_prefix("ok: ")
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected verify output {:?}", self.stdout))
    }
}

impl AuditLog {
    /// A log at `path` verified with `key`.
    pub fn new(path: impl Into<PathBuf>, key: impl Into<PathBuf>) -> AuditLog {
        AuditLog {
            path: path.into(),
            key: key.into(),
        }
    }

    /// The raw text ("" when the file does not exist).
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap_or_default()
    }

    /// Complete (`\n`-terminated) lines parsed as JSON; panics on a complete
    /// line that is not JSON.
    pub fn records(&self) -> Vec<Value> {
        let text = self.text();
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        complete
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// Waits (bounded) until at least `n` complete records exist; returns all.
    pub fn wait_records(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + AUDIT_WAIT;
        loop {
            let r = self.records();
            if r.len() >= n || Instant::now() >= deadline {
                return r;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until `n` records exist and asserts there are exactly `n`
    /// (after a short settle, so that a late extra record is noticed).
    pub fn expect_records(&self, n: usize) -> Vec<Value> {
        let r = self.wait_records(n);
        assert!(
            r.len() >= n,
            "expected {n} audit records, found {}:\n{}",
            r.len(),
            self.text()
        );
        std::thread::sleep(Duration::from_millis(100));
        let r = self.records();
        assert_eq!(
            r.len(),
            n,
            "expected exactly {n} audit records:\n{}",
            self.text()
        );
        r
    }

    /// Runs `firma audit verify --key <key> <log>`.
    pub fn verify(&self) -> Verify {
        verify_with(&self.key, &self.path)
    }
}

/// Runs `firma audit verify --key <key> <log>`.
pub fn verify_with(key: &Path, log: &Path) -> Verify {
    let out = Command::new(env!("CARGO_BIN_EXE_firma"))
        .args(["audit", "verify", "--key"])
        .arg(key)
        .arg(log)
        .output()
        .expect("run firma audit verify");
    Verify {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The value at a dotted path (`decision.outcome`), `Null` when absent.
pub fn field<'a>(v: &'a Value, path: &str) -> &'a Value {
    let mut cur = v;
    for part in path.split('.') {
        cur = match cur.get(part) {
            Some(x) => x,
            None => return &Value::Null,
        };
    }
    cur
}

/// The record whose `event_id` is `id`.
pub fn by_event<'a>(records: &'a [Value], id: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["event_id"] == id)
        .unwrap_or_else(|| panic!("no audit record with event_id {id}: {records:#?}"))
}
