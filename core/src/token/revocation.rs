//! The revocation list (spec `TOK-12`..`TOK-15`): the Authority's
//! `revocations.txt` and the in-memory set Stage 1 consults.
//!
//! File format, one entry per line:
//! `<token_id>\t<revoked_at RFC 3339>\t<reason>`. A legacy line holding only
//! a token id is accepted and stamped with the load time. Blank and bad lines
//! are skipped and reported as [`RevocationWarning`]s; they never reject the
//! file.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use super::claims::rfc3339;
use super::error::show;
use super::ids::token_id_problem;
use crate::time::UnixTime;

/// The reason `firma authority revocations add` records by default.
pub const DEFAULT_REASON: &str = "operator-revoked";

/// One revoked token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The revoked token id (`ctok_…`).
    pub token_id: String,
    /// When it was revoked.
    pub revoked_at: UnixTime,
    /// Free text without tabs or line breaks.
    pub reason: String,
}

impl Revocation {
    /// True when the entry can be forgotten: `revoked_at + max_ttl < now`.
    /// A token revoked that long ago has expired anyway, because no token
    /// lives longer than `max_ttl` (TOK-13).
    pub fn is_expired(&self, now: UnixTime, max_ttl: Duration) -> bool {
        self.revoked_at.saturating_add(max_ttl) < now
    }

    /// The file line for this entry, without the line break. Tabs and line
    /// breaks in the reason become spaces.
    pub fn to_line(&self) -> String {
        let reason: String = self
            .reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        format!(
            "{}\t{}\t{}",
            self.token_id,
            rfc3339(self.revoked_at),
            reason
        )
    }
}

/// A skipped line of a revocation file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationWarning {
    /// 1-based line number.
    pub line: usize,
    /// Why the line was skipped, one line, naming the bad value.
    pub message: String,
}

impl fmt::Display for RevocationWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parse a revocation file (TOK-12). Legacy bare-id lines are stamped `now`.
/// Entries are returned in file order, duplicates included.
pub fn parse_revocations(text: &str, now: UnixTime) -> (Vec<Revocation>, Vec<RevocationWarning>) {
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() {
        return (entries, warnings);
    }
    for (i, raw) in body.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        match parse_line(line, now) {
            Ok(entry) => entries.push(entry),
            Err(message) => warnings.push(RevocationWarning {
                line: i + 1,
                message,
            }),
        }
    }
    (entries, warnings)
}

fn parse_line(line: &str, now: UnixTime) -> Result<Revocation, String> {
    if line.trim().is_empty() {
        return Err("blank line skipped".to_owned());
    }
    let fields: Vec<&str> = line.split('\t').collect();
    let (id, revoked_at, reason) = match fields.as_slice() {
        [id] => (id.trim(), now, ""),
        [id, at, reason] => {
            let t = UnixTime::parse_rfc3339(at).ok_or_else(|| {
                format!(
                    "revoked_at `{}` is not an rfc 3339 utc timestamp; line skipped",
                    show(at)
                )
            })?;
            (id.trim(), t, *reason)
        }
        _ => {
            return Err(format!(
                "has {} tab-separated fields, expected `token_id<TAB>revoked_at<TAB>reason` or a bare token id; line skipped",
                fields.len()
            ));
        }
    };
    if let Some(problem) = token_id_problem(id) {
        return Err(format!("token id `{}` {problem}; line skipped", show(id)));
    }
    Ok(Revocation {
        token_id: id.to_owned(),
        revoked_at,
        reason: reason.to_owned(),
    })
}

/// The set of revoked token ids with O(1) lookup (TOK-14).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevocationSet {
    entries: HashMap<String, Revocation>,
}

impl RevocationSet {
    /// An empty set.
    pub fn new() -> RevocationSet {
        RevocationSet::default()
    }

    /// Load a revocation file: parse it with legacy lines stamped `now` and
    /// keep the entries not expired under `max_ttl` (TOK-13).
    pub fn load(
        text: &str,
        now: UnixTime,
        max_ttl: Duration,
    ) -> (RevocationSet, Vec<RevocationWarning>) {
        let (entries, warnings) = parse_revocations(text, now);
        let mut set = RevocationSet::new();
        set.extend(entries.into_iter().filter(|e| !e.is_expired(now, max_ttl)));
        (set, warnings)
    }

    /// Add one entry. Returns true when the id was not in the set yet. An id
    /// already present keeps the later `revoked_at` (and its reason).
    pub fn insert(&mut self, entry: Revocation) -> bool {
        match self.entries.get_mut(&entry.token_id) {
            Some(existing) => {
                if entry.revoked_at > existing.revoked_at {
                    *existing = entry;
                }
                false
            }
            None => {
                self.entries.insert(entry.token_id.clone(), entry);
                true
            }
        }
    }

    /// Add every entry of `other`.
    pub fn merge(&mut self, other: RevocationSet) {
        self.extend(other.entries.into_values());
    }

    /// True when `token_id` is revoked.
    pub fn is_revoked(&self, token_id: &str) -> bool {
        self.entries.contains_key(token_id)
    }

    /// The entry for `token_id`, if revoked.
    pub fn get(&self, token_id: &str) -> Option<&Revocation> {
        self.entries.get(token_id)
    }

    /// Remove `token_id`; returns the entry if it was there.
    pub fn remove(&mut self, token_id: &str) -> Option<Revocation> {
        self.entries.remove(token_id)
    }

    /// Drop the entries expired under `max_ttl`; returns how many went.
    pub fn prune_expired(&mut self, now: UnixTime, max_ttl: Duration) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| !e.is_expired(now, max_ttl));
        before - self.entries.len()
    }

    /// Number of revoked ids.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, sorted by token id.
    pub fn sorted(&self) -> Vec<&Revocation> {
        let mut v: Vec<&Revocation> = self.entries.values().collect();
        v.sort_unstable_by(|a, b| a.token_id.cmp(&b.token_id));
        v
    }

    /// The entries revoked strictly after `since`, oldest first (ties by
    /// token id): what `WatchRevocations` replays.
    pub fn since(&self, since: UnixTime) -> Vec<&Revocation> {
        let mut v: Vec<&Revocation> = self
            .entries
            .values()
            .filter(|e| e.revoked_at > since)
            .collect();
        v.sort_unstable_by(|a, b| (a.revoked_at, &a.token_id).cmp(&(b.revoked_at, &b.token_id)));
        v
    }

    /// The file text: one line per entry, sorted by token id, each ending in
    /// a line break (what `revocations compact` writes, TOK-15).
    pub fn to_file(&self) -> String {
        let mut out = String::new();
        for e in self.sorted() {
            out.push_str(&e.to_line());
            out.push('\n');
        }
        out
    }
}

impl Extend<Revocation> for RevocationSet {
    fn extend<I: IntoIterator<Item = Revocation>>(&mut self, iter: I) {
        for e in iter {
            self.insert(e);
        }
    }
}

impl FromIterator<Revocation> for RevocationSet {
    fn from_iter<I: IntoIterator<Item = Revocation>>(iter: I) -> RevocationSet {
        let mut set = RevocationSet::new();
        set.extend(iter);
        set
    }
}
