//! Config discovery: which `firma.toml`, how it was found, and whether it
//! parses (DOC-5).

use std::path::{Path, PathBuf};

use firma_core::config::Config;

use super::check::{Check, sh};
use crate::sidecar::discover::{self, Discovered};

const ID: &str = "config";
const TITLE: &str = "config";

/// Discover and parse the config (`--config` → FIRMA_SIDECAR_CONFIG_FILE →
/// FIRMA_CONFIG → nearest `.firma/firma.toml` → embedded default); the
/// config is `None` when it did not load.
/// `state_dir` holds the embedded default's audit key and log.
pub fn discover(flag: Option<&Path>, state_dir: &Path) -> (Check, Option<Config>) {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let env = std::env::var_os("FIRMA_CONFIG").map(PathBuf::from);
    // `firma sidecar start` also honours FIRMA_SIDECAR_CONFIG_FILE (DMN-2).
    let daemon_env = std::env::var_os("FIRMA_SIDECAR_CONFIG_FILE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let found = match (flag, daemon_env) {
        (None, Some(p)) => Discovered::File(p, "FIRMA_SIDECAR_CONFIG_FILE"),
        _ => discover::config(flag, env, &cwd),
    };
    match found {
        Discovered::File(path, how) => {
            let path = std::path::absolute(&path).unwrap_or(path);
            load(&path, how)
        }
        Discovered::Embedded(_) => {
            let check = Check::warn(
                ID,
                TITLE,
                format!(
                    "no firma.toml found (no --config, no FIRMA_CONFIG, no .firma/firma.toml in {} or above); \
                     the foreground sidecar would run on the embedded default and `firma sidecar start` refuses to start",
                    cwd.display()
                ),
                format!("firma init --workspace {}", sh(&cwd)),
            );
            (check, Some(Config::embedded_default(state_dir)))
        }
    }
}

fn load(path: &Path, how: &str) -> (Check, Option<Config>) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let fix = if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "create it with `firma init`, or point {how} at an existing firma.toml (`{}` does not exist)",
                    path.display()
                )
            } else {
                format!("make it readable: `chmod u+r {}`", sh(path))
            };
            let check = Check::fail(
                ID,
                TITLE,
                format!("cannot read {} (found via {how}): {e}", path.display()),
                fix,
            );
            return (check, None);
        }
    };
    match Config::parse(path, &text) {
        Ok(config) => (
            Check::ok(ID, TITLE, format!("{} (found via {how})", path.display())),
            Some(config),
        ),
        Err(e) => {
            let at = match (e.line(), e.key()) {
                (Some(line), Some(key)) => format!("line {line} (`{key}`)"),
                (Some(line), None) => format!("line {line}"),
                (None, Some(key)) => format!("key `{key}`"),
                (None, None) => "the reported position".to_owned(),
            };
            let check = Check::fail(
                ID,
                TITLE,
                format!("{e} (found via {how})"),
                format!(
                    "edit {} at {at}, then re-run `firma doctor`",
                    e.file().display()
                ),
            );
            (check, None)
        }
    }
}
