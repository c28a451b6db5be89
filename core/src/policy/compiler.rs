//! Recompiling bundles cheaply: a [`BundleCompiler`] keeps the compiled
//! schema and every file's parsed, analysed and validated policies between
//! reloads, so a reload redoes only the files whose text changed (spec
//! `CED-18`).

use std::collections::HashMap;

use cedar_policy::{Authorizer, Policy, PolicySet, ValidationMode, Validator};

use super::bundle::{self, Bundle};
use super::error::{BundleError, PolicyDiagnostic};
use super::schema::{self, CompiledSchema};
use super::usage::Usage;
use super::{BUILTIN_SCHEMA, PolicySource, source};

/// Compiles policy bundles, remembering what it can between calls.
///
/// [`BundleCompiler::compile`] gives exactly what [`Bundle::compile`] gives
/// for the same input (same policies, version, errors); it only skips work:
///
/// - the schema is parsed and checked again only when its text changes;
/// - a policy file whose name and text are unchanged since the previous
///   call is not parsed, analysed (`CED-12`) or validated (`CED-9`) again.
///   Cedar's strict validation checks each policy on its own against the
///   schema, so validating file by file finds exactly the errors validating
///   the whole set finds.
///
/// Keep one per reloading component (the Authority's bundle watcher, the
/// Sidecar's link) and feed it every reload. It holds the last compile's
/// files only: a file that disappears is forgotten.
#[derive(Default)]
pub struct BundleCompiler {
    schema: Option<SchemaEntry>,
    files: HashMap<String, FileEntry>,
}

impl std::fmt::Debug for BundleCompiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleCompiler")
            .field("schema_cached", &self.schema.is_some())
            .field("files_cached", &self.files.len())
            .finish()
    }
}

/// A compiled schema and the strict validator built on it.
struct SchemaEntry {
    compiled: CompiledSchema,
    validator: Validator,
}

/// One policy file's work, valid while its text stays the same.
struct FileEntry {
    text: String,
    /// The file's policies with their firma ids, in file order, and what
    /// each reads.
    policies: Vec<(Policy, Usage)>,
    /// Strict validation against the cached schema; `None` until done (and
    /// again after the schema changes).
    validation: Option<Result<(), Vec<PolicyDiagnostic>>>,
}

impl BundleCompiler {
    /// An empty compiler: its first compile does all the work.
    pub fn new() -> Self {
        Self::default()
    }

    /// Compile `policies` against `schema` (`None` = the built-in schema),
    /// like [`Bundle::compile`], reusing the previous calls' work where the
    /// schema text and a file's name and text are unchanged.
    pub fn compile(
        &mut self,
        policies: &[PolicySource<'_>],
        schema: Option<PolicySource<'_>>,
    ) -> Result<Bundle, BundleError> {
        let schema_text = schema.map_or(BUILTIN_SCHEMA, |s| s.text);
        let cached = match self.schema.take() {
            Some(cached) if cached.compiled.text == schema_text => cached,
            _ => {
                let compiled = schema::compile(schema.as_ref())?;
                let validator = Validator::new(compiled.schema.clone());
                for entry in self.files.values_mut() {
                    entry.validation = None;
                }
                SchemaEntry {
                    compiled,
                    validator,
                }
            }
        };
        let result = self.compile_files(&cached, policies);
        self.schema = Some(cached);
        result
    }

    /// Parse (or reuse) every file, then finish; the cache ends up holding
    /// exactly this call's files that parsed.
    fn compile_files(
        &mut self,
        schema: &SchemaEntry,
        policies: &[PolicySource<'_>],
    ) -> Result<Bundle, BundleError> {
        if policies.is_empty() {
            return Err(BundleError::NoFiles);
        }
        let mut previous = std::mem::take(&mut self.files);
        let mut entries: Vec<(usize, FileEntry)> = Vec::with_capacity(policies.len());
        let mut errors = Vec::new();
        for (i, src) in policies.iter().enumerate() {
            match previous.remove(src.name) {
                Some(entry) if entry.text == src.text => entries.push((i, entry)),
                _ => match bundle::parse_file(src) {
                    Ok(parsed) => {
                        let policies = parsed
                            .into_iter()
                            .map(|p| {
                                let usage = Usage::of(&p);
                                (p, usage)
                            })
                            .collect();
                        let entry = FileEntry {
                            text: src.text.to_owned(),
                            policies,
                            validation: None,
                        };
                        entries.push((i, entry));
                    }
                    // All parse errors of all files are reported together.
                    Err(d) => errors.extend(d),
                },
            }
        }
        let result = if errors.is_empty() {
            // Every file parsed: `entries` is in `policies` order, one each.
            Self::finish(schema, &mut entries, policies)
        } else {
            Err(BundleError::Policy(errors))
        };
        for (i, entry) in entries {
            if let Some(src) = policies.get(i) {
                self.files.insert(src.name.to_owned(), entry);
            }
        }
        result
    }

    /// Everything after parsing: duplicate ids, validation, grouping.
    fn finish(
        schema: &SchemaEntry,
        entries: &mut [(usize, FileEntry)],
        policies: &[PolicySource<'_>],
    ) -> Result<Bundle, BundleError> {
        let count: usize = entries.iter().map(|(_, e)| e.policies.len()).sum();
        if count == 0 {
            let files: Vec<String> = policies.iter().map(|p| format!("`{}`", p.name)).collect();
            return Err(BundleError::NoPolicies {
                files: files.join(", "),
            });
        }
        let all = entries
            .iter()
            .enumerate()
            .flat_map(|(file, (_, e))| e.policies.iter().map(move |(p, _)| (p, file)));
        bundle::check_duplicate_ids(all, policies)?;
        let mut errors = Vec::new();
        for ((_, entry), src) in entries.iter_mut().zip(policies) {
            let validation = entry
                .validation
                .get_or_insert_with(|| validate_file(&schema.validator, &entry.policies, src));
            if let Err(d) = validation {
                errors.extend(d.iter().cloned());
            }
        }
        if !errors.is_empty() {
            return Err(BundleError::Policy(errors));
        }
        let all = entries
            .iter()
            .flat_map(|(_, e)| e.policies.iter().map(|(p, u)| (p, *u)));
        let compiled = &schema.compiled;
        Ok(Bundle {
            version: bundle::version(policies, compiled),
            file_count: policies.len(),
            policy_count: count,
            partitions: bundle::partition(all),
            names: compiled.names.clone(),
            action_entities: compiled.action_entities.clone(),
            authorizer: Authorizer::new(),
        })
    }
}

/// Strict validation of one file's policies; errors in (line, column) order
/// (spec `CED-9`).
fn validate_file(
    validator: &Validator,
    policies: &[(Policy, Usage)],
    src: &PolicySource<'_>,
) -> Result<(), Vec<PolicyDiagnostic>> {
    let mut set = PolicySet::new();
    for (p, _) in policies {
        // Ids are unique (checked before), so `add` cannot fail.
        let _ = set.add(p.clone());
    }
    let result = validator.validate(&set, ValidationMode::Strict);
    let mut diags: Vec<PolicyDiagnostic> = result
        .validation_errors()
        .map(|e| source::single(e, src.name, src.text))
        .collect();
    if diags.is_empty() {
        return Ok(());
    }
    diags.sort_by_key(|d| (d.line, d.column));
    Err(diags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action_class::ActionClass;

    const A: &str = "permit (principal, action == Firma::Action::\"code.read\", resource)\n  when { resource.host == \"api.github.com\" && context.risk_score < 50 };\n";
    const B: &str = "@id(\"block\")\nforbid (principal, action, resource)\n  when { [\"x.example\"].contains(resource.host) };\n";
    const B2: &str = "@id(\"block\")\nforbid (principal, action, resource)\n  when { [\"y.example\"].contains(resource.host) };\n";
    const C: &str = "permit (principal == Firma::Agent::\"agt_a\", action in [Firma::Action::\"code.read\", Firma::Action::\"code.write\"], resource)\n  when { context.method == \"POST\" };\n";
    const BAD_TYPE: &str = "permit (principal, action == Firma::Action::\"code.read\", resource)\n  when { context.risk_score == \"high\" };\n";
    const BAD_SYNTAX: &str = "permit (principal, action, resource) when { ";
    const DUP: &str = "@id(\"block\")\npermit (principal, action, resource);\n";

    fn src<'a>(files: &'a [(&'a str, &'a str)]) -> Vec<PolicySource<'a>> {
        files
            .iter()
            .map(|(name, text)| PolicySource { name, text })
            .collect()
    }

    /// What a bundle looks like from outside: version, sizes, partitions.
    fn shape(b: &Bundle) -> (String, usize, usize, Vec<usize>) {
        let parts = ActionClass::ALL
            .iter()
            .map(|c| b.policies_for(*c))
            .collect();
        (
            b.version().to_owned(),
            b.file_count(),
            b.policy_count(),
            parts,
        )
    }

    fn same(warm: Result<Bundle, BundleError>, cold: Result<Bundle, BundleError>) {
        match (warm, cold) {
            (Ok(w), Ok(c)) => assert_eq!(shape(&w), shape(&c)),
            (Err(w), Err(c)) => assert_eq!(w.to_string(), c.to_string()),
            (w, c) => panic!("warm {w:?} but cold {c:?}"),
        }
    }

    // CED-18: a compiler fed a sequence of reloads (edits, errors, fixes,
    // removed files, a schema change) gives at every step what a fresh
    // `Bundle::compile` gives.
    #[test]
    fn warm_compiles_equal_cold_compiles() {
        let custom = PolicySource {
            name: "custom.cedarschema",
            text: "// same declarations, other text\n",
        };
        let custom_text = format!("{}{}", custom.text, BUILTIN_SCHEMA);
        let custom = PolicySource {
            name: custom.name,
            text: &custom_text,
        };
        type Step<'a> = (Vec<(&'a str, &'a str)>, Option<PolicySource<'a>>);
        let steps: Vec<Step<'_>> = vec![
            (vec![("a.cedar", A), ("b.cedar", B)], None),
            (vec![("a.cedar", A), ("b.cedar", B2)], None),
            (vec![("a.cedar", A), ("b.cedar", B2), ("c.cedar", C)], None),
            (vec![("a.cedar", BAD_TYPE), ("b.cedar", B2)], None),
            (vec![("a.cedar", BAD_TYPE), ("b.cedar", BAD_SYNTAX)], None),
            (
                vec![("a.cedar", A), ("b.cedar", B2), ("d.cedar", DUP)],
                None,
            ),
            (vec![("a.cedar", A), ("c.cedar", C)], Some(custom)),
            (vec![("c.cedar", C), ("a.cedar", A)], Some(custom)),
            (vec![("a.cedar", BAD_TYPE)], Some(custom)),
            (vec![], None),
            (vec![("a.cedar", A), ("b.cedar", B)], None),
            (vec![("b.cedar", A), ("a.cedar", B)], None),
        ];
        let mut compiler = BundleCompiler::new();
        for (files, schema) in &steps {
            let files = src(files);
            same(
                compiler.compile(&files, *schema),
                Bundle::compile(&files, *schema),
            );
        }
        // The custom schema compiles (so the steps above changed schemas).
        compiler
            .compile(&src(&[("a.cedar", A)]), Some(custom))
            .unwrap();
        // Errors stay errors while their file is unchanged (the cached
        // validation is replayed), and name the file with line:col.
        let files = [("ok.cedar", A), ("bad.cedar", BAD_TYPE)];
        for _ in 0..2 {
            let Err(BundleError::Policy(d)) = compiler.compile(&src(&files), None) else {
                panic!("expected a validation error");
            };
            assert_eq!((d[0].file.as_str(), d[0].line), ("bad.cedar", 2));
        }
    }

    // CED-18: only the current files are kept.
    #[test]
    fn cache_holds_the_last_files_only() {
        let mut compiler = BundleCompiler::new();
        compiler
            .compile(&src(&[("a.cedar", A), ("b.cedar", B)]), None)
            .unwrap();
        assert_eq!(compiler.files.len(), 2);
        compiler.compile(&src(&[("a.cedar", A)]), None).unwrap();
        assert_eq!(compiler.files.len(), 1);
        assert!(compiler.files["a.cedar"].validation.is_some());
        let _ = compiler.compile(&src(&[("a.cedar", A), ("x.cedar", BAD_SYNTAX)]), None);
        assert_eq!(compiler.files.len(), 1);
    }
}
