//! The pack catalogue compiled into the binary (spec `PRJ-6`..`PRJ-9`):
//! posture packs (Cedar enforcement policies) and mapping packs (rule files).
//! The pack texts live once, under `fixtures/packs/`; the Sidecar's embedded
//! default uses the same files.

use std::path::{Path, PathBuf};

use firma_core::mapping::{RuleSet, RuleSource};

use super::ProjectError;
use crate::sidecar::embedded::{DEV_POLICY, MAPPING_PACKS};

/// A posture pack: one Cedar file written to `policies/<name>.cedar`.
#[derive(Debug)]
pub struct Posture {
    /// `--posture` value and file stem.
    pub name: &'static str,
    /// One line for `firma policy list`.
    pub description: &'static str,
    /// The Cedar text.
    pub text: &'static str,
}

/// Every posture pack, least permissive first.
pub const POSTURES: &[Posture] = &[
    Posture {
        name: "strict",
        description: "Default deny; LLM calls, outbound communication and credential reads only (no code operations)",
        text: include_str!("../../../fixtures/packs/policies/strict.cedar"),
    },
    Posture {
        name: "dev",
        description: "Adds code read/write, reviews, issues and package installs; no payments or destructive ops",
        text: DEV_POLICY.1,
    },
    Posture {
        name: "dev-with-delete-watch",
        description: "dev plus code.destructive (local-exec and delete-watch scenarios)",
        text: include_str!("../../../fixtures/packs/policies/dev-with-delete-watch.cedar"),
    },
];

/// The posture used when none is chosen.
pub const DEFAULT_POSTURE: &str = "dev";

/// A built-in mapping pack.
#[derive(Debug)]
pub struct MappingPack {
    /// `--mapping` value.
    pub name: &'static str,
    /// One line for `firma policy list`.
    pub description: &'static str,
}

/// Every built-in mapping pack, in display order.
pub const MAPPINGS: &[MappingPack] = &[
    MappingPack {
        name: "anthropic",
        description: "api.anthropic.com, *.claude.com, *.claude.ai: model inference and other calls",
    },
    MappingPack {
        name: "cargo",
        description: "crates.io, static.crates.io: package installs",
    },
    MappingPack {
        name: "github",
        description: "api.github.com REST and github.com git smart-HTTP: code, reviews, issues, repos",
    },
    MappingPack {
        name: "gmail",
        description: "gmail.googleapis.com REST: read, send, draft, manage, delete, filter mail",
    },
    MappingPack {
        name: "npm",
        description: "registry.npmjs.org: package installs",
    },
    MappingPack {
        name: "openai",
        description: "api.openai.com, chatgpt.com: model inference and other calls",
    },
    MappingPack {
        name: "pypi",
        description: "pypi.org, files.pythonhosted.org: package installs",
    },
    MappingPack {
        name: "stripe",
        description: "api.stripe.com REST: payments, customers, refunds, payouts, subscriptions",
    },
];

impl MappingPack {
    /// The rule file text, from the Sidecar's embedded packs.
    pub fn text(&self) -> &'static str {
        let file = format!("packs/{}.toml", self.name);
        MAPPING_PACKS
            .iter()
            .find(|(n, _)| *n == file)
            .map_or("", |(_, t)| t)
    }
}

/// Find a posture by name.
pub fn posture(name: &str) -> Result<&'static Posture, ProjectError> {
    POSTURES.iter().find(|p| p.name == name).ok_or_else(|| {
        ProjectError::Usage(format!(
            "unknown posture `{name}`; choose one of: {}",
            names(POSTURES.iter().map(|p| p.name))
        ))
    })
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    it.collect::<Vec<_>>().join(", ")
}

/// One chosen mapping: a built-in pack or a rule file of the user's.
#[derive(Debug, Clone)]
pub enum Mapping {
    /// A built-in pack.
    Builtin(&'static MappingPack),
    /// A custom rule file (absolute path) and its text.
    File {
        /// The file.
        path: PathBuf,
        /// Its contents.
        text: String,
    },
}

impl Mapping {
    /// Resolve a `--mapping` value: a pack name, or a path to a rule file
    /// (anything containing `/` or ending in `.toml`), read now.
    pub fn resolve(value: &str, base: &Path) -> Result<Mapping, ProjectError> {
        if let Some(p) = MAPPINGS.iter().find(|m| m.name == value) {
            return Ok(Mapping::Builtin(p));
        }
        if value.contains('/') || value.ends_with(".toml") {
            let path = base.join(value);
            let path = std::path::absolute(&path).unwrap_or(path);
            let text = std::fs::read_to_string(&path).map_err(|source| ProjectError::Io {
                path: path.clone(),
                what: "read mapping rules",
                source,
            })?;
            return Ok(Mapping::File { path, text });
        }
        Err(ProjectError::Usage(format!(
            "unknown mapping pack `{value}`; choose from: {} (or give the path of a rule file)",
            names(MAPPINGS.iter().map(|m| m.name))
        )))
    }

    /// The name used in messages and in the `mapping-rules.toml` header.
    pub fn name(&self) -> String {
        match self {
            Mapping::Builtin(p) => p.name.to_owned(),
            Mapping::File { path, .. } => path.display().to_string(),
        }
    }

    /// The rule text.
    pub fn text(&self) -> &str {
        match self {
            Mapping::Builtin(p) => p.text(),
            Mapping::File { text, .. } => text,
        }
    }
}

/// Marker of the header line that records the chosen packs.
pub const PACKS_HEADER: &str = "# firma-packs: ";

/// The text of `mapping-rules.toml` for `mappings`: a header recording the
/// choice, then every pack's rules in order.
pub fn merged_rules(mappings: &[Mapping]) -> String {
    let list: Vec<String> = mappings.iter().map(Mapping::name).collect();
    let mut out = String::from(
        "# Mapping rules generated by `firma init` / `firma config` from the packs\n\
         # listed below. `firma config` rewrites this file: keep rules of your own\n\
         # in another file and list it in `[sidecar.mapping] rules_paths`.\n",
    );
    out.push_str(PACKS_HEADER);
    out.push_str(&list.join(", "));
    out.push('\n');
    for m in mappings {
        out.push_str(&format!("\n# ---- pack `{}` ----\n\n", m.name()));
        let text = m.text();
        out.push_str(text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// The packs recorded in a `mapping-rules.toml` header, if any.
pub fn recorded_packs(text: &str) -> Option<Vec<String>> {
    let line = text.lines().find_map(|l| l.strip_prefix(PACKS_HEADER))?;
    Some(
        line.split(", ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// Check that the chosen packs and the project's other rule files compile
/// together; a duplicate rule names both packs (or files) (`PRJ-8`).
/// `extra` holds `(name, text)` of the other configured rule files.
pub fn check_rules(mappings: &[Mapping], extra: &[(String, String)]) -> Result<(), ProjectError> {
    if mappings.is_empty() {
        return Err(ProjectError::Usage(
            "no mapping pack chosen; pass at least one `--mapping`".to_owned(),
        ));
    }
    for (i, m) in mappings.iter().enumerate() {
        if mappings.iter().take(i).any(|o| o.name() == m.name()) {
            return Err(ProjectError::Usage(format!(
                "mapping pack `{}` is chosen twice",
                m.name()
            )));
        }
    }
    let names: Vec<String> = mappings.iter().map(Mapping::name).collect();
    let mut sources: Vec<RuleSource<'_>> = mappings
        .iter()
        .zip(&names)
        .map(|(m, n)| RuleSource {
            name: n,
            text: m.text(),
        })
        .collect();
    sources.extend(extra.iter().map(|(n, t)| RuleSource { name: n, text: t }));
    RuleSet::compile(&sources).map_err(|e| ProjectError::Rules(e.to_string()))?;
    // The merged file itself must compile too (a custom file could hold
    // TOML that is valid alone but not when appended).
    let merged = merged_rules(mappings);
    let mut whole = vec![RuleSource {
        name: "mapping-rules.toml",
        text: &merged,
    }];
    whole.extend(extra.iter().map(|(n, t)| RuleSource { name: n, text: t }));
    RuleSet::compile(&whole).map_err(|e| ProjectError::Rules(e.to_string()))?;
    Ok(())
}

/// The `firma policy list` / `firma config --list-templates` catalogue.
pub fn catalogue() -> String {
    let mut out = String::from("Postures  (--posture):\n\n");
    for p in POSTURES {
        out.push_str(&format!("  {:<28}  {}\n", p.name, p.description));
    }
    out.push_str("\nMappings  (--mapping, repeatable):\n\n");
    for m in MAPPINGS {
        out.push_str(&format!("  {:<28}  {}\n", m.name, m.description));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use firma_core::policy::{Bundle, PolicySource};

    /// PRJ-6: every posture pack compiles on its own with core's bundle
    /// compiler against the built-in schema.
    #[test]
    fn prj6_every_posture_compiles() {
        for p in POSTURES {
            let src = PolicySource {
                name: p.name,
                text: p.text,
            };
            if let Err(e) = Bundle::compile(&[src], None) {
                panic!("posture `{}` does not compile: {e}", p.name);
            }
        }
    }

    /// PRJ-6: every posture permits `model.inference.chat`, the class of LLM calls.
    #[test]
    fn prj6_every_posture_permits_llm_calls() {
        for p in POSTURES {
            let permit = p.text.split("\nforbid (").next().unwrap_or("");
            assert!(
                permit.contains("\"model.inference.chat\""),
                "posture `{}` does not permit model.inference.chat",
                p.name
            );
        }
    }

    /// PRJ-7: every built-in mapping pack has a text and compiles alone, and
    /// all of them compile together.
    #[test]
    fn prj7_every_mapping_pack_compiles() {
        let all: Vec<Mapping> = MAPPINGS.iter().map(Mapping::Builtin).collect();
        for m in &all {
            assert!(!m.text().is_empty(), "pack `{}` has no text", m.name());
            check_rules(std::slice::from_ref(m), &[]).unwrap();
        }
        check_rules(&all, &[]).unwrap();
        assert_eq!(recorded_packs(&merged_rules(&all)).unwrap().len(), 8);
    }

    /// PRJ-8: a rule file duplicating a pack rule is refused naming both.
    #[test]
    fn prj8_collision_names_both_sources() {
        let dup = "[[rules]]\nmethod = \"CONNECT\"\nhost = \"registry.npmjs.org\"\naction_class = \"system.install\"\n";
        let npm = Mapping::resolve("npm", Path::new("/")).unwrap();
        let mine = Mapping::File {
            path: "/p/mine.toml".into(),
            text: dup.to_owned(),
        };
        let err = check_rules(&[npm, mine], &[]).unwrap_err().to_string();
        assert!(
            err.contains("`npm`") && err.contains("`/p/mine.toml`"),
            "{err}"
        );
    }
}
