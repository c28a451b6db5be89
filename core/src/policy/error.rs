//! Errors of the policy layer: one diagnostic type with a source position,
//! and one error enum per operation (compile, evaluate, context, fixture).

use std::fmt;

/// One problem in a policy or schema file, with its position.
///
/// `Display` is `file:line:col: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyDiagnostic {
    /// File name as given in [`PolicySource::name`](super::PolicySource).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// One-line description of the problem.
    pub message: String,
}

impl fmt::Display for PolicyDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Why a policy bundle could not be compiled (spec `CED-6`..`CED-11`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// No policy files were given.
    #[error("policy bundle has no `*.cedar` files")]
    NoFiles,
    /// Files were given but none of them contains a policy.
    #[error("policy bundle has no policies in {files}")]
    NoPolicies {
        /// The file names, comma-separated in backticks.
        files: String,
    },
    /// Parse or strict-validation errors in policy files.
    #[error("{}", join_diagnostics("invalid policy", .0))]
    Policy(Vec<PolicyDiagnostic>),
    /// The custom schema file does not parse.
    #[error("{}", join_diagnostics("invalid schema", .0))]
    Schema(Vec<PolicyDiagnostic>),
    /// Two policies share an id.
    #[error("duplicate policy id `{id}` in `{first}` and `{second}`")]
    DuplicateId {
        /// The policy id.
        id: String,
        /// File of the first policy with this id.
        first: String,
        /// File of the second policy with this id.
        second: String,
    },
    /// The custom schema parses but rejects the entities or context firma sends.
    #[error(
        "{file}: schema is not compatible with firma's entities and context: action `{action}`: {message}"
    )]
    IncompatibleSchema {
        /// Schema file name.
        file: String,
        /// First action class whose trial request was rejected.
        action: String,
        /// Cedar's reason, on one line.
        message: String,
    },
}

impl BundleError {
    /// Every positioned diagnostic carried by this error (empty for the others).
    pub fn diagnostics(&self) -> &[PolicyDiagnostic] {
        match self {
            BundleError::Policy(d) | BundleError::Schema(d) => d,
            _ => &[],
        }
    }
}

fn join_diagnostics(what: &str, diags: &[PolicyDiagnostic]) -> String {
    let list: Vec<String> = diags.iter().map(ToString::to_string).collect();
    let suffix = if diags.len() > 1 {
        format!(" ({} errors)", diags.len())
    } else {
        String::new()
    };
    format!("{what}{suffix}: {}", list.join("; "))
}

/// Why a request could not be evaluated at all. The engine maps this to a
/// fail-closed deny (spec `CED-14`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The resource entity could not be built.
    #[error("cannot build resource entity `{resource}`: {message}")]
    Entity {
        /// `host + path`.
        resource: String,
        /// Cedar's reason.
        message: String,
    },
    /// The context or request could not be built or was rejected by the schema.
    #[error("cannot build cedar request for action `{action}`: {message}")]
    Request {
        /// The action class.
        action: String,
        /// Cedar's reason.
        message: String,
    },
}

/// A context override that does not fit the `EnforcementContext` record (spec `CED-5`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// The key is not an attribute of `EnforcementContext`.
    #[error("unknown context key `{key}`{}", hint(.suggestion))]
    UnknownKey {
        /// The key as given.
        key: String,
        /// Closest known key, if any is close.
        suggestion: Option<&'static str>,
    },
    /// The value has the wrong type for the key.
    #[error("context key `{key}` must be {expected}, got `{got}`")]
    WrongType {
        /// The key.
        key: String,
        /// Expected Cedar type in words, e.g. `a Long (integer)`.
        expected: &'static str,
        /// The offending value, rendered as JSON.
        got: String,
    },
}

fn hint(s: &Option<&'static str>) -> String {
    s.map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

/// A `firma policy test` fixture that cannot be used (spec `CED-16`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct FixtureError {
    /// Fixture file name.
    pub file: String,
    /// 1-based line (1 when unknown).
    pub line: usize,
    /// 1-based column (1 when unknown).
    pub column: usize,
    /// What is wrong, naming the key.
    pub message: String,
}
