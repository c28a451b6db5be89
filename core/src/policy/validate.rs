//! `firma policy validate`: check one file on its own (spec `CED-15`).

use super::bundle::{NamedPolicy, check_duplicates, parse_file, validate};
use super::error::{BundleError, PolicyDiagnostic};
use super::{BUILTIN_SCHEMA_NAME, PolicySource, schema};

/// Parse `src` and validate it strictly against `schema` (`None` = the built-in
/// schema). Returns the number of policies, or every problem found.
pub fn validate_source(
    src: &PolicySource<'_>,
    schema: Option<PolicySource<'_>>,
) -> Result<usize, Vec<PolicyDiagnostic>> {
    let name = schema.map_or(BUILTIN_SCHEMA_NAME, |s| s.name);
    let compiled = schema::compile(schema.as_ref()).map_err(|e| schema_diagnostics(e, name))?;
    let parsed: Vec<NamedPolicy> = parse_file(src)?
        .into_iter()
        .map(|policy| NamedPolicy { policy, file: 0 })
        .collect();
    let files = [*src];
    check_duplicates(&parsed, &files).map_err(|e| {
        vec![PolicyDiagnostic {
            file: src.name.to_owned(),
            line: 1,
            column: 1,
            message: e.to_string(),
        }]
    })?;
    validate(&compiled, &parsed, &files)?;
    Ok(parsed.len())
}

/// Parse a custom schema and check that it accepts firma's entities and context
/// (spec `CED-3`, `CED-10`). Every problem names the schema file.
pub fn check_schema(schema: &PolicySource<'_>) -> Result<(), Vec<PolicyDiagnostic>> {
    schema::compile(Some(schema))
        .map(|_| ())
        .map_err(|e| schema_diagnostics(e, schema.name))
}

fn schema_diagnostics(e: BundleError, name: &str) -> Vec<PolicyDiagnostic> {
    let message = match e {
        BundleError::Schema(d) => return d,
        BundleError::IncompatibleSchema {
            action, message, ..
        } => format!(
            "schema is not compatible with firma's entities and context: action `{action}`: {message}"
        ),
        other => other.to_string(),
    };
    vec![PolicyDiagnostic {
        file: name.to_owned(),
        line: 1,
        column: 1,
        message,
    }]
}
