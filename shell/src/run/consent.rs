//! The one-time autostart question (RUN-6): "Start a local Authority and
//! Sidecar for this session? [Y/n]", asked on stderr only when stdin is a
//! terminal, `--yes` was not given and `<data dir>/run-autostart-consent`
//! does not exist. A yes is remembered in that file; `--yes` and a
//! non-terminal stdin proceed without asking (the CI default).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use super::RunError;

/// The marker file's name in the user data directory.
pub const FILE: &str = "run-autostart-consent";

/// `$XDG_DATA_HOME/firma` (when absolute), else `$HOME/.local/share/firma`.
pub fn data_dir() -> Option<PathBuf> {
    let env = |n: &str| {
        std::env::var_os(n)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(x) = env("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return Some(x.join("firma"));
    }
    env("HOME").map(|h| h.join(".local/share/firma"))
}

/// Decide whether the session pair may start.
pub fn obtain(yes: bool) -> Result<(), RunError> {
    let marker = data_dir().map(|d| d.join(FILE));
    if yes || !std::io::stdin().is_terminal() || marker.as_ref().is_some_and(|m| m.exists()) {
        return Ok(());
    }
    eprint!(
        "firma run: no Sidecar is running for this project.\n\
         Start a local Authority and Sidecar for this session? They stop when the agent exits. [Y/n] "
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| RunError::Usage(format!("cannot read the answer from stdin: {e}")))?;
    if !accepts(&line) {
        return Err(RunError::Usage(
            "autostart declined: start the daemon yourself with `firma sidecar start --detach`, or pass --yes"
                .into(),
        ));
    }
    if let Some(m) = marker {
        let written = m
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&m, "yes\n"));
        if let Err(e) = written {
            eprintln!(
                "[WARN] cannot remember the answer in `{}`: {e}",
                m.display()
            );
        }
    }
    Ok(())
}

/// Empty (the default), `y` or `yes`, any case, accept.
fn accepts(answer: &str) -> bool {
    matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "" | "y" | "yes"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RUN-6: Enter and yes accept; anything else declines.
    #[test]
    fn answers() {
        for a in ["\n", "y\n", " YES ", "Y"] {
            assert!(accepts(a), "{a:?}");
        }
        for a in ["n\n", "no", "nope", "q"] {
            assert!(!accepts(a), "{a:?}");
        }
    }
}
