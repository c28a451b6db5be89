//! Load-time errors of mapping-rule files (spec `MAP-1`..`MAP-3`, `MAP-13`).

use crate::action_class::ActionClass;

/// Why a set of mapping-rule files could not be compiled. Every message is one
/// lowercase line naming the file, the position (`line:col`), the 1-based rule
/// index and the offending value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The file is not valid TOML.
    #[error("{file}:{line}:{col}: invalid toml: {message}")]
    Toml {
        /// Rule file name.
        file: String,
        /// 1-based line of the syntax error.
        line: usize,
        /// 1-based column of the syntax error.
        col: usize,
        /// The TOML parser's explanation.
        message: String,
    },
    /// The file holds no `[[rules]]` entry (empty or only comments).
    #[error("{file}: no rules; a mapping file needs at least one `[[rules]]` entry")]
    Empty {
        /// Rule file name.
        file: String,
    },
    /// A top-level key other than `rules`.
    #[error(
        "{file}:{line}:{col}: unknown top-level key `{key}`; a mapping file only holds `[[rules]]` entries"
    )]
    UnknownTopLevelKey {
        /// Rule file name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// The unexpected key.
        key: String,
    },
    /// `rules` is not an array of tables.
    #[error("{file}:{line}:{col}: `rules` must be an array of tables written `[[rules]]`")]
    RulesNotTables {
        /// Rule file name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
    },
    /// A key a rule does not know.
    #[error(
        "{file}:{line}:{col}: rule {rule}: unknown key `{key}`; a rule has only `method`, `host`, `path` and `action_class`"
    )]
    UnknownKey {
        /// Rule file name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// 1-based rule index in the file.
        rule: usize,
        /// The unexpected key.
        key: String,
    },
    /// `host` or `action_class` is missing.
    #[error("{file}:{line}:{col}: rule {rule}: missing required key `{key}`")]
    MissingKey {
        /// Rule file name.
        file: String,
        /// 1-based line of the rule.
        line: usize,
        /// 1-based column of the rule.
        col: usize,
        /// 1-based rule index in the file.
        rule: usize,
        /// The missing key.
        key: &'static str,
    },
    /// A key whose value is not a string.
    #[error("{file}:{line}:{col}: rule {rule}: `{key}` must be a string")]
    NotAString {
        /// Rule file name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// 1-based rule index in the file.
        rule: usize,
        /// The key.
        key: String,
    },
    /// A method outside the supported list (or not upper-case).
    #[error(
        "{file}:{line}:{col}: rule {rule}: method `{value}` is not supported; use one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT (upper-case)"
    )]
    InvalidMethod {
        /// Rule file name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// 1-based rule index in the file.
        rule: usize,
        /// The method as written.
        value: String,
    },
    /// A host pattern outside the grammar.
    #[error("{file}:{line}:{col}: rule {rule}: host `{value}` {reason}")]
    InvalidHost {
        /// Rule file name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// 1-based rule index in the file.
        rule: usize,
        /// The host as written.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A path pattern outside the grammar.
    #[error("{file}:{line}:{col}: rule {rule}: path `{value}` {reason}")]
    InvalidPath {
        /// Rule file name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// 1-based rule index in the file.
        rule: usize,
        /// The path as written.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An action class outside the registry.
    #[error("{file}:{line}:{col}: rule {rule}: unknown action class `{value}`{}", did_you_mean(.suggestion))]
    UnknownActionClass {
        /// Rule file name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// 1-based rule index in the file.
        rule: usize,
        /// The class as written.
        value: String,
        /// Closest registry identifier, if any is close.
        suggestion: Option<ActionClass>,
    },
    /// Two rules with the same (method, host pattern, path pattern).
    #[error(
        "duplicate rule `{rule}`: `{first_file}` rule {first_index} and `{second_file}` rule {second_index}"
    )]
    Duplicate {
        /// Canonical `METHOD host path` of the rule (`ANY` when no method).
        rule: String,
        /// File of the earlier rule.
        first_file: String,
        /// 1-based index of the earlier rule.
        first_index: usize,
        /// File of the later rule.
        second_file: String,
        /// 1-based index of the later rule.
        second_index: usize,
    },
}

fn did_you_mean(suggestion: &Option<ActionClass>) -> String {
    match suggestion {
        Some(class) => format!("; did you mean `{class}`?"),
        None => "; see the action-class registry for valid identifiers".to_owned(),
    }
}
