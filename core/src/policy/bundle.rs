//! Compiling policy files into an immutable, per-action partitioned [`Bundle`]
//! (spec `CED-6`..`CED-12`).

use std::collections::HashMap;
use std::str::FromStr;

use cedar_policy::{
    ActionConstraint, Authorizer, Entities, EntityUid, Policy, PolicyId, PolicySet, ValidationMode,
    Validator,
};
use sha2::{Digest, Sha256};

use super::compiler::BundleCompiler;
use super::error::{BundleError, PolicyDiagnostic};
use super::schema::{self, ACTION_TYPE, CompiledSchema, Names, class_index};
use super::usage::Usage;
use super::{PolicySource, source};
use crate::action_class::ActionClass;

/// A compiled, validated policy bundle. Immutable; share it behind an `Arc`.
pub struct Bundle {
    pub(crate) version: String,
    pub(crate) file_count: usize,
    pub(crate) policy_count: usize,
    /// One group per action class, indexed by registry position: the
    /// policies whose action scope can match that class.
    pub(crate) partitions: Vec<Partition>,
    pub(crate) names: Names,
    pub(crate) action_entities: Option<Entities>,
    pub(crate) authorizer: Authorizer,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("version", &self.version)
            .field("file_count", &self.file_count)
            .field("policy_count", &self.policy_count)
            .finish_non_exhaustive()
    }
}

/// The policies of one action class and the request data they can read.
pub(crate) struct Partition {
    /// Policies whose principal scope is not pinned to one agent.
    pub(crate) set: PolicySet,
    pub(crate) usage: Usage,
    /// For each agent id some policy pins with `principal == Firma::Agent::"id"`:
    /// `set` plus those policies. A request from any other agent uses `set`
    /// alone, since a pinned policy can never apply to it (CED-12).
    pub(crate) by_principal: HashMap<String, (PolicySet, Usage)>,
}

impl Partition {
    /// The policies that can apply to `principal`, and what they read.
    pub(crate) fn for_principal(&self, principal: &str) -> (&PolicySet, Usage) {
        match self.by_principal.get(principal) {
            Some((set, usage)) => (set, *usage),
            None => (&self.set, self.usage),
        }
    }
}

/// The agent id a policy's principal scope is pinned to with `==`, if any.
fn pinned_agent(policy: &Policy) -> Option<String> {
    match policy.principal_constraint() {
        cedar_policy::PrincipalConstraint::Eq(uid)
            if uid.type_name().to_string() == schema::AGENT_TYPE =>
        {
            Some(uid.id().unescaped().to_owned())
        }
        _ => None,
    }
}

/// A policy parsed from one file, with its firma id.
pub(crate) struct NamedPolicy {
    pub(crate) policy: Policy,
    /// Index of the source file in the input slice.
    pub(crate) file: usize,
}

impl Bundle {
    /// Compile all policy files (already read by the shell, in the order given —
    /// the shell sorts by file name) against `schema` (`None` = [`BUILTIN_SCHEMA`](super::BUILTIN_SCHEMA)).
    ///
    /// Every call starts from scratch; a component that reloads keeps a
    /// [`BundleCompiler`] instead, which gives the same result and reuses the
    /// work for unchanged files.
    pub fn compile(
        policies: &[PolicySource<'_>],
        schema: Option<PolicySource<'_>>,
    ) -> Result<Bundle, BundleError> {
        BundleCompiler::new().compile(policies, schema)
    }

    /// Lowercase hex SHA-256 over a length-prefixed encoding of the file names,
    /// texts and the schema text (spec `CED-11`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Number of policies in the bundle.
    pub fn policy_count(&self) -> usize {
        self.policy_count
    }

    /// Number of policy files the bundle was compiled from.
    pub fn file_count(&self) -> usize {
        self.file_count
    }

    /// Number of policies consulted for `class` (its partition size).
    pub fn policies_for(&self, class: ActionClass) -> usize {
        self.partitions.get(class_index(class)).map_or(0, |p| {
            let shared = p.set.policies().count();
            let pinned: usize = p
                .by_principal
                .values()
                .map(|(set, _)| set.policies().count().saturating_sub(shared))
                .sum();
            shared + pinned
        })
    }
}

/// Parse one file; policies come back in file order with their firma ids
/// (`@id` annotation, else `<file>#<index>`), spec `CED-7`.
pub(crate) fn parse_file(src: &PolicySource<'_>) -> Result<Vec<Policy>, Vec<PolicyDiagnostic>> {
    let set = PolicySet::from_str(src.text).map_err(|e| source::collect(&e, src.name, src.text))?;
    if set.templates().next().is_some() {
        let offset = ["?principal", "?resource"]
            .iter()
            .filter_map(|slot| src.text.find(slot))
            .min()
            .unwrap_or(0);
        let (line, column) = source::line_col(src.text, offset);
        return Err(vec![PolicyDiagnostic {
            file: src.name.to_owned(),
            line,
            column,
            message: "policy templates (`?principal`, `?resource`) are not supported".to_owned(),
        }]);
    }
    // The parser names policies `policy0`, `policy1`, … in file order.
    let mut indexed: Vec<(usize, &Policy)> = set
        .policies()
        .map(|p| {
            let n = p
                .id()
                .to_string()
                .strip_prefix("policy")
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(usize::MAX);
            (n, p)
        })
        .collect();
    indexed.sort_by_key(|(n, _)| *n);
    let mut out = Vec::with_capacity(indexed.len());
    for (index, (_, policy)) in indexed.into_iter().enumerate() {
        let id = match policy.annotation("id") {
            Some(id) if id.trim().is_empty() => {
                return Err(vec![PolicyDiagnostic {
                    file: src.name.to_owned(),
                    line: 1,
                    column: 1,
                    message: format!("policy {index} has an empty `@id` annotation"),
                }]);
            }
            Some(id) => id.to_owned(),
            None => format!("{}#{index}", src.name),
        };
        out.push(policy.new_id(PolicyId::new(id)));
    }
    Ok(out)
}

/// Two policies with one id are an error naming both files (spec `CED-8`).
pub(crate) fn check_duplicates(
    parsed: &[NamedPolicy],
    files: &[PolicySource<'_>],
) -> Result<(), BundleError> {
    check_duplicate_ids(parsed.iter().map(|p| (&p.policy, p.file)), files)
}

/// [`check_duplicates`] over `(policy, file index)` pairs in bundle order.
pub(crate) fn check_duplicate_ids<'a>(
    parsed: impl Iterator<Item = (&'a Policy, usize)>,
    files: &[PolicySource<'_>],
) -> Result<(), BundleError> {
    let name = |i: usize| files.get(i).map_or("?", |f| f.name).to_owned();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (policy, file) in parsed {
        let id = policy.id().to_string();
        if let Some(first) = seen.get(&id) {
            return Err(BundleError::DuplicateId {
                id,
                first: name(*first),
                second: name(file),
            });
        }
        seen.insert(id, file);
    }
    Ok(())
}

/// Strict validation against the schema; every error positioned (spec `CED-9`).
pub(crate) fn validate(
    schema: &CompiledSchema,
    parsed: &[NamedPolicy],
    files: &[PolicySource<'_>],
) -> Result<(), Vec<PolicyDiagnostic>> {
    let mut set = PolicySet::new();
    let mut origin: HashMap<String, usize> = HashMap::with_capacity(parsed.len());
    for p in parsed {
        origin.insert(p.policy.id().to_string(), p.file);
        // Ids are unique (checked before), so `add` cannot fail.
        let _ = set.add(p.policy.clone());
    }
    let result = Validator::new(schema.schema.clone()).validate(&set, ValidationMode::Strict);
    let mut diags: Vec<(usize, PolicyDiagnostic)> = result
        .validation_errors()
        .map(|e| {
            let file = origin.get(&e.policy_id().to_string()).copied().unwrap_or(0);
            let (name, text) = files.get(file).map_or(("?", ""), |f| (f.name, f.text));
            (file, source::single(e, name, text))
        })
        .collect();
    if diags.is_empty() {
        return Ok(());
    }
    diags.sort_by_key(|(file, d)| (*file, d.line, d.column));
    Err(diags.into_iter().map(|(_, d)| d).collect())
}

/// Which registry classes a policy's action scope can match; `None` = all.
fn scope_classes(policy: &Policy) -> Option<Vec<ActionClass>> {
    let class_of = |uid: &EntityUid| -> Option<ActionClass> {
        if uid.type_name().to_string() != ACTION_TYPE {
            return None;
        }
        ActionClass::from_str(uid.id().unescaped()).ok()
    };
    match policy.action_constraint() {
        ActionConstraint::Any => None,
        ActionConstraint::Eq(uid) => class_of(&uid).map(|c| vec![c]),
        // An action group (custom schemas) may contain any class: keep it everywhere.
        ActionConstraint::In(uids) => uids.iter().map(class_of).collect(),
    }
}

/// Group policies, with what each reads, by action class (spec `CED-12`).
pub(crate) fn partition<'a>(parsed: impl Iterator<Item = (&'a Policy, Usage)>) -> Vec<Partition> {
    let mut parts: Vec<Partition> = ActionClass::ALL
        .iter()
        .map(|_| Partition {
            set: PolicySet::new(),
            usage: Usage::NONE,
            by_principal: HashMap::new(),
        })
        .collect();
    let mut pinned: Vec<Vec<(String, &Policy, Usage)>> = parts.iter().map(|_| Vec::new()).collect();
    for (policy, usage) in parsed {
        let agent = pinned_agent(policy);
        let targets: Vec<usize> = match scope_classes(policy) {
            None => (0..parts.len()).collect(),
            Some(classes) => classes.into_iter().map(class_index).collect(),
        };
        for i in targets {
            if let Some(agent) = &agent {
                if let Some(list) = pinned.get_mut(i)
                    && !list.iter().any(|(_, q, _)| q.id() == policy.id())
                {
                    list.push((agent.clone(), policy, usage));
                }
                continue;
            }
            if let Some(part) = parts.get_mut(i) {
                // Ids are unique and `in [A, A]` is skipped, so `add` cannot fail.
                if part.set.policy(policy.id()).is_none() {
                    let _ = part.set.add(policy.clone());
                    part.usage = part.usage.union(usage);
                }
            }
        }
    }
    for (part, list) in parts.iter_mut().zip(pinned) {
        for (agent, policy, usage) in list {
            let (base, base_usage) = (&part.set, part.usage);
            let entry = part
                .by_principal
                .entry(agent)
                .or_insert_with(|| (base.clone(), base_usage));
            // Ids are unique, so `add` cannot fail.
            let _ = entry.0.add(policy.clone());
            entry.1 = entry.1.union(usage);
        }
    }
    parts
}

/// The bundle version (spec `CED-11`).
pub(crate) fn version(policies: &[PolicySource<'_>], schema: &CompiledSchema) -> String {
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    field(b"firma.bundle.v1");
    field(&(policies.len() as u64).to_be_bytes());
    for p in policies {
        field(p.name.as_bytes());
        field(p.text.as_bytes());
    }
    field(schema.text.as_bytes());
    let digest = h.finalize();
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";
