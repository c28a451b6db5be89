//! Sandbox ids and `<run dir>/metadata.toml` (RUN-7), which `firma sidecar
//! status` reads to list per-run sidecars.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ring::rand::{SecureRandom, SystemRandom};

use super::RunError;

/// TypeID base32 (Crockford, lower case).
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A fresh sandbox id: `sbx_` and 26 base32 characters of 128 random bits.
pub fn sandbox_id() -> Result<String, RunError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RunError::Usage("the system random generator failed".into()))?;
    let n = u128::from_be_bytes(bytes);
    let mut out = String::from("sbx_");
    for i in (0..26).rev() {
        let digit = usize::try_from((n >> (5 * i)) & 0x1f).unwrap_or(0);
        out.push(char::from(ALPHABET[digit]));
    }
    Ok(out)
}

/// What `metadata.toml` records.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// `sbx_…`.
    pub sandbox_id: String,
    /// The agent command line.
    pub command: Vec<String>,
    /// The `firma run` process.
    pub pid: u32,
    /// The Sidecar's listen address.
    pub listen: String,
    /// The Authority URL (empty when unknown).
    pub authority_url: String,
    /// Whether the pair was autostarted for this run.
    pub autostarted: bool,
    /// The agent profile.
    pub profile: String,
}

/// Write `<dir>/metadata.toml` atomically.
pub fn write(dir: &Path, m: &Metadata) -> Result<(), RunError> {
    let mut t = toml::Table::new();
    t.insert("sandbox_id".into(), m.sandbox_id.clone().into());
    t.insert(
        "command".into(),
        toml::Value::Array(m.command.iter().map(|a| a.clone().into()).collect()),
    );
    t.insert("pid".into(), i64::from(m.pid).into());
    t.insert("started_at".into(), rfc3339(SystemTime::now()).into());
    t.insert("listen".into(), m.listen.clone().into());
    t.insert("authority_url".into(), m.authority_url.clone().into());
    t.insert("autostarted".into(), m.autostarted.into());
    t.insert("profile".into(), m.profile.clone().into());
    let text = toml::to_string(&t)
        .map_err(|e| RunError::Usage(format!("cannot render metadata.toml: {e}")))?;
    let path = dir.join("metadata.toml");
    crate::fsio::replace(&path, text.as_bytes(), 0o644)
        .map_err(|f| RunError::io(&f.path, "write")(f.source))
}

/// One per-run sidecar found under `<state>/run/`.
#[derive(Debug, Clone)]
pub struct RunEntry {
    /// The run directory.
    pub dir: PathBuf,
    /// `sbx_…`.
    pub sandbox_id: String,
    /// The `firma run` process.
    pub pid: Option<u32>,
    /// The Sidecar's listen address.
    pub listen: String,
    /// The Authority URL.
    pub authority_url: String,
    /// The agent command line.
    pub command: Vec<String>,
    /// RFC 3339 start time.
    pub started_at: String,
    /// Whether the run started its own pair.
    pub autostarted: bool,
}

/// Every `<state>/run/*/metadata.toml` that parses, sorted by start time.
pub fn list_runs(state: &Path) -> Vec<RunEntry> {
    let Ok(dirs) = std::fs::read_dir(state.join("run")) else {
        return Vec::new();
    };
    let mut out: Vec<RunEntry> = dirs
        .flatten()
        .filter_map(|d| {
            let dir = d.path();
            let text = std::fs::read_to_string(dir.join("metadata.toml")).ok()?;
            let t: toml::Table = text.parse().ok()?;
            let s = |k: &str| {
                t.get(k)
                    .and_then(toml::Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            Some(RunEntry {
                sandbox_id: s("sandbox_id"),
                pid: t
                    .get("pid")
                    .and_then(toml::Value::as_integer)
                    .and_then(|p| u32::try_from(p).ok()),
                listen: s("listen"),
                authority_url: s("authority_url"),
                command: t
                    .get("command")
                    .and_then(toml::Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                started_at: s("started_at"),
                autostarted: t
                    .get("autostarted")
                    .and_then(toml::Value::as_bool)
                    .unwrap_or(false),
                dir,
            })
        })
        .collect();
    out.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// RUN-7: sandbox ids are `sbx_` + 26 base32 characters and fresh.
    #[test]
    fn sandbox_ids() {
        let a = sandbox_id().unwrap();
        let b = sandbox_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 30);
        assert!(a.starts_with("sbx_"));
        assert!(a[4..].bytes().all(|c| ALPHABET.contains(&c)), "{a}");
    }

    /// RUN-7: start times are RFC 3339 UTC.
    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_723);
        assert_eq!(rfc3339(t), "2000-02-29T01:02:03Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_798_761_599);
        assert_eq!(rfc3339(t), "2026-12-31T23:59:59Z");
    }

    /// RUN-7: metadata round-trips through `list_runs`.
    #[test]
    fn metadata_listed() {
        let state = std::env::temp_dir().join(format!("firma-run-meta-{}", std::process::id()));
        let dir = state.join("run").join("sbx_x");
        std::fs::create_dir_all(&dir).unwrap();
        let m = Metadata {
            sandbox_id: "sbx_x".into(),
            command: vec!["curl".into(), "a \"b\"".into()],
            pid: 42,
            listen: "127.0.0.1:9".into(),
            authority_url: "http://127.0.0.1:8".into(),
            autostarted: true,
            profile: "generic".into(),
        };
        write(&dir, &m).unwrap();
        let runs = list_runs(&state);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].sandbox_id, "sbx_x");
        assert_eq!(runs[0].pid, Some(42));
        assert_eq!(runs[0].command, m.command);
        assert!(runs[0].autostarted);
        std::fs::remove_dir_all(&state).unwrap();
    }
}
