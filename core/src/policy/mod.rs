//! Stage 2: Cedar policies (spec `spec/policy.md`, ids `CED-*` and `ACL-*`).
//!
//! The shell reads the policy files (and an optional `*.cedarschema`) and hands
//! their text to [`Bundle::compile`], which parses every file on its own (so
//! errors name the file with line and column), gives every policy a stable id,
//! validates strictly against the schema and groups the policies by action
//! class. [`Bundle::evaluate`] then answers one [`PolicyRequest`] with a
//! [`Verdict`], consulting only the policies that can match its action.

mod bundle;
mod compiler;
mod context;
mod error;
mod eval;
pub mod fixture;
mod schema;
mod source;
mod usage;
mod validate;

pub use bundle::Bundle;
pub use compiler::BundleCompiler;
pub use context::{AttrType, CONTEXT_ATTRIBUTES, GitContext, PolicyContext};
pub use error::{BundleError, ContextError, EvalError, FixtureError, PolicyDiagnostic};
pub use eval::{PolicyRequest, ResourceAttrs, Verdict};
pub use validate::{check_schema, validate_source};

/// The built-in Cedar schema (`spec/firma.cedarschema`), used when the policy
/// directory has no `*.cedarschema` of its own.
pub const BUILTIN_SCHEMA: &str = include_str!("../../../spec/firma.cedarschema");

/// The name the built-in schema goes by in messages.
pub const BUILTIN_SCHEMA_NAME: &str = "firma.cedarschema";

/// The principal id used when no capability token identifies the agent.
pub const ANONYMOUS: &str = "anonymous";

/// One policy or schema file, already read by the shell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicySource<'a> {
    /// File name, used in policy ids (`<name>#<index>`) and messages.
    pub name: &'a str,
    /// The file's text.
    pub text: &'a str,
}

impl<'a> PolicySource<'a> {
    /// Borrow a `(name, text)` pair, the shape the shell reads files into.
    pub fn of_pair(pair: &'a (String, String)) -> PolicySource<'a> {
        PolicySource {
            name: &pair.0,
            text: &pair.1,
        }
    }

    /// Borrow every `(name, text)` pair, in order.
    pub fn of_pairs(pairs: &'a [(String, String)]) -> Vec<PolicySource<'a>> {
        pairs.iter().map(PolicySource::of_pair).collect()
    }
}

#[cfg(test)]
mod tests;
