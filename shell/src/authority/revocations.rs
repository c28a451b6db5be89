//! `firma authority revocations add|list|remove|compact`: the Authority's
//! revocation file, `[authority] revocation_file` (spec `ISS-13`..`ISS-16`).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::ExitCode;

use firma_core::time::UnixTime;
use firma_core::token::{
    DEFAULT_REASON, Revocation, RevocationSet, parse_revocations, rfc3339, token_id_problem,
};
use serde_json::json;

use super::Common;
use super::files::{self, CmdError};

/// Mode of a revocation file this command creates.
const FILE_MODE: u32 = 0o644;

/// `firma authority revocations <command>`.
#[derive(Debug, clap::Subcommand)]
pub enum RevocationsCommand {
    /// Revoke a token: append it to the revocation file.
    Add {
        /// The token id (`ctok_…`).
        token_id: String,
        /// Why (free text; tabs and line breaks become spaces).
        #[arg(long, default_value = DEFAULT_REASON)]
        reason: String,
    },
    /// Print the revocation file's entries, sorted by token id.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a token's entries from the revocation file.
    Remove {
        /// The token id (`ctok_…`).
        token_id: String,
    },
    /// Drop expired and duplicate entries and sort the file.
    Compact,
}

/// Run `firma authority revocations …`.
pub fn run(common: &Common, command: RevocationsCommand) -> ExitCode {
    let result = files::load_config(common).and_then(|loaded| {
        let a = &loaded.config.authority;
        let now = files::wall_now();
        let file = a.revocation_file.as_path();
        match command {
            RevocationsCommand::Add { token_id, reason } => add(file, &token_id, &reason, now),
            RevocationsCommand::List { json } => list(file, json, now, a.max_ttl),
            RevocationsCommand::Remove { token_id } => remove(file, &token_id, now),
            RevocationsCommand::Compact => compact(file, now, a.max_ttl),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.exit(),
    }
}

fn check_id(token_id: &str) -> Result<(), CmdError> {
    match token_id_problem(token_id) {
        Some(problem) => Err(CmdError::Usage(format!(
            "token id `{token_id}` {problem}; nothing changed"
        ))),
        None => Ok(()),
    }
}

/// Parse the file, printing each skipped line as a warning.
fn read_entries(file: &Path, now: UnixTime) -> Result<Option<(String, Vec<Revocation>)>, CmdError> {
    let Some(text) = files::read_optional(file)? else {
        return Ok(None);
    };
    let (entries, warnings) = parse_revocations(&text, now);
    for w in &warnings {
        eprintln!("warning: `{}` {w}", file.display());
    }
    Ok(Some((text, entries)))
}

fn add(file: &Path, token_id: &str, reason: &str, now: UnixTime) -> Result<(), CmdError> {
    check_id(token_id)?;
    let existing = read_entries(file, now)?;
    if let Some((_, entries)) = &existing
        && let Some(e) = entries.iter().find(|e| e.token_id == token_id)
    {
        println!(
            "{token_id} is already revoked in {} (since {}); nothing added",
            file.display(),
            rfc3339(e.revoked_at)
        );
        return Ok(());
    }
    let entry = Revocation {
        token_id: token_id.to_owned(),
        revoked_at: UnixTime::from_secs(now.as_nanos() / 1_000_000_000),
        reason: reason.to_owned(),
    };
    let mut line = entry.to_line();
    if existing
        .as_ref()
        .is_some_and(|(text, _)| !text.is_empty() && !text.ends_with('\n'))
    {
        line.insert(0, '\n');
    }
    files::append_line(file, &line, FILE_MODE)?;
    println!(
        "revoked {token_id} at {} in {}",
        rfc3339(entry.revoked_at),
        file.display()
    );
    Ok(())
}

fn list(
    file: &Path,
    as_json: bool,
    now: UnixTime,
    max_ttl: std::time::Duration,
) -> Result<(), CmdError> {
    let entries = match read_entries(file, now)? {
        Some((_, entries)) => entries,
        None => {
            eprintln!(
                "note: revocation file `{}` does not exist; nothing is revoked",
                file.display()
            );
            Vec::new()
        }
    };
    let set: RevocationSet = entries.into_iter().collect();
    let sorted = set.sorted();
    if as_json {
        let items: Vec<serde_json::Value> = sorted
            .iter()
            .map(|e| {
                json!({
                    "token_id": e.token_id,
                    "revoked_at": rfc3339(e.revoked_at),
                    "reason": e.reason,
                    "expired": e.is_expired(now, max_ttl),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
        return Ok(());
    }
    for e in &sorted {
        let expired = if e.is_expired(now, max_ttl) {
            "\t(expired)"
        } else {
            ""
        };
        println!("{}{expired}", e.to_line());
    }
    eprintln!("{} revoked token(s) in {}", sorted.len(), file.display());
    Ok(())
}

fn remove(file: &Path, token_id: &str, now: UnixTime) -> Result<(), CmdError> {
    check_id(token_id)?;
    let Some(text) = files::read_optional(file)? else {
        return Err(CmdError::Usage(format!(
            "revocation file `{}` does not exist; {token_id} is not revoked",
            file.display()
        )));
    };
    let mut kept = String::with_capacity(text.len());
    let mut removed = 0usize;
    for line in text.split_inclusive('\n') {
        let (entries, _) = parse_revocations(line, now);
        if entries.iter().any(|e| e.token_id == token_id) {
            removed += 1;
        } else {
            kept.push_str(line);
        }
    }
    if removed == 0 {
        return Err(CmdError::Usage(format!(
            "{token_id} is not in the revocation file `{}`; nothing changed",
            file.display()
        )));
    }
    let mode = std::fs::metadata(file)
        .map(|m| m.mode() & 0o777)
        .unwrap_or(FILE_MODE);
    files::replace(file, kept.as_bytes(), mode)?;
    println!(
        "removed {token_id} ({removed} line(s)) from {}; a revocation already streamed to Sidecars is not withdrawn from them",
        file.display()
    );
    Ok(())
}

fn compact(file: &Path, now: UnixTime, max_ttl: std::time::Duration) -> Result<(), CmdError> {
    let Some((text, entries)) = read_entries(file, now)? else {
        println!(
            "revocation file `{}` does not exist; nothing to compact",
            file.display()
        );
        return Ok(());
    };
    let lines = {
        let body = text.strip_suffix('\n').unwrap_or(&text);
        if body.is_empty() {
            0
        } else {
            body.split('\n').count()
        }
    };
    let read = entries.len();
    let mut set: RevocationSet = entries.into_iter().collect();
    let duplicates = read - set.len();
    let expired = set.prune_expired(now, max_ttl);
    let mode = std::fs::metadata(file)
        .map(|m| m.mode() & 0o777)
        .unwrap_or(FILE_MODE);
    files::replace(file, set.to_file().as_bytes(), mode)?;
    let dropped = lines - set.len();
    println!(
        "compacted {}: kept {}, dropped {dropped} ({expired} expired, {duplicates} duplicate(s), {} unreadable or blank line(s))",
        file.display(),
        set.len(),
        lines - read
    );
    Ok(())
}
