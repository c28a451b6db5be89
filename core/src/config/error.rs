//! The one error type of the config layer.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based line and column (in characters) inside a config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in Unicode scalar values.
    pub column: usize,
}

/// Where an error was found: the config file and, when known, the position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The config file as given to [`Config::parse`](super::Config::parse).
    pub file: PathBuf,
    /// Line and column, absent when the problem is the absence of a key.
    pub position: Option<Position>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        Ok(())
    }
}

/// Why a `firma.toml` was rejected. Every variant names the file, the
/// position where known, and (except [`ConfigError::Syntax`]) the dotted key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The text is not valid TOML (CFG-2).
    #[error("{at}: invalid toml: {message}")]
    Syntax {
        /// File and position reported by the TOML parser.
        at: Box<Location>,
        /// The parser's description, one line.
        message: String,
    },
    /// A key or table the schema does not define (CFG-3).
    #[error("{at}: unknown key `{key}`{}", did_you_mean(.suggestion))]
    UnknownKey {
        /// File and position of the key.
        at: Box<Location>,
        /// Full dotted key, e.g. `sidecar.mapping.rule_path`.
        key: String,
        /// The closest key the table does accept.
        suggestion: Option<String>,
    },
    /// A value of the wrong TOML type (CFG-4).
    #[error("{at}: `{key}`: expected {expected}, found {found} `{value}`")]
    WrongType {
        /// File and position of the value.
        at: Box<Location>,
        /// Full dotted key.
        key: String,
        /// What the schema wants, e.g. `a boolean`.
        expected: String,
        /// The TOML type that was given, e.g. `string`.
        found: String,
        /// The value as written in the file (shortened, escaped).
        value: String,
    },
    /// A value of the right type that fails validation.
    #[error("{at}: `{key}`: `{value}` {reason}")]
    InvalidValue {
        /// File and position of the value.
        at: Box<Location>,
        /// Full dotted key (array items carry `[index]`, 0-based).
        key: String,
        /// The offending value (shortened, escaped).
        value: String,
        /// Why it is rejected, starting with a verb (`is not …`).
        reason: String,
    },
    /// A key that must be present is absent.
    #[error("{at}: missing key `{key}`: {reason}")]
    MissingKey {
        /// File and, when the enclosing table exists, its position.
        at: Box<Location>,
        /// Full dotted key that is required.
        key: String,
        /// Why it is required.
        reason: String,
    },
    /// Two keys whose values contradict each other.
    #[error("{at}: `{key}` {reason}")]
    Conflict {
        /// File and position of `key`.
        at: Box<Location>,
        /// The key the error points at.
        key: String,
        /// The other key involved.
        other_key: String,
        /// Description starting with a verb, naming the other key and the
        /// values involved.
        reason: String,
    },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

impl ConfigError {
    /// Where the error was found.
    pub fn location(&self) -> &Location {
        match self {
            Self::Syntax { at, .. }
            | Self::UnknownKey { at, .. }
            | Self::WrongType { at, .. }
            | Self::InvalidValue { at, .. }
            | Self::MissingKey { at, .. }
            | Self::Conflict { at, .. } => at,
        }
    }

    /// The config file the error is about.
    pub fn file(&self) -> &Path {
        &self.location().file
    }

    /// 1-based line, when known.
    pub fn line(&self) -> Option<usize> {
        self.location().position.map(|p| p.line)
    }

    /// 1-based column, when known.
    pub fn column(&self) -> Option<usize> {
        self.location().position.map(|p| p.column)
    }

    /// The full dotted key, for every variant except [`ConfigError::Syntax`].
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Syntax { .. } => None,
            Self::UnknownKey { key, .. }
            | Self::WrongType { key, .. }
            | Self::InvalidValue { key, .. }
            | Self::MissingKey { key, .. }
            | Self::Conflict { key, .. } => Some(key),
        }
    }
}

/// Longest rendering of an offending value, in characters, before it is cut.
const MAX_SHOWN: usize = 80;

/// Render an untrusted value for a backticked slot: control characters and
/// backticks are escaped so the message stays one line, long values are cut.
pub(crate) fn show(value: &str) -> String {
    show_cut(value, MAX_SHOWN)
}

/// [`show`] with its own length limit (token and seed messages allow more).
pub(crate) fn show_cut(value: &str, max: usize) -> String {
    let mut out = String::new();
    for (count, c) in value.chars().enumerate() {
        if count >= max {
            out.push('…');
            break;
        }
        if c == '`' {
            out.push_str("\\`");
        } else if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Box<Location> {
        Box::new(Location {
            file: PathBuf::from("firma.toml"),
            position: Some(Position { line, column }),
        })
    }

    #[test]
    fn location_renders_with_and_without_position() {
        assert_eq!(at(3, 1).to_string(), "firma.toml:3:1");
        let none = Location {
            file: PathBuf::from("/etc/firma.toml"),
            position: None,
        };
        assert_eq!(none.to_string(), "/etc/firma.toml");
    }

    #[test]
    fn accessors_expose_file_line_column_key() {
        let err = ConfigError::UnknownKey {
            at: at(3, 1),
            key: "sidecar.mapping.rule_path".into(),
            suggestion: Some("rules_path".into()),
        };
        assert_eq!(err.file(), Path::new("firma.toml"));
        assert_eq!((err.line(), err.column()), (Some(3), Some(1)));
        assert_eq!(err.key(), Some("sidecar.mapping.rule_path"));
        assert_eq!(
            err.to_string(),
            "firma.toml:3:1: unknown key `sidecar.mapping.rule_path` (did you mean `rules_path`?)"
        );
    }

    #[test]
    fn show_escapes_and_truncates() {
        assert_eq!(show("a\nb`c"), "a\\nb\\`c");
        assert_eq!(show(&"x".repeat(200)).chars().count(), MAX_SHOWN + 1);
    }
}
