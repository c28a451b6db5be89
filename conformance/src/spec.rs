//! Spec ids declared in `spec/*.md` (`### MAP-4 — …` headings).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every id declared in the spec, with the file that declares it.
#[derive(Debug, Default)]
pub struct SpecIds {
    /// id → spec file name.
    pub ids: BTreeMap<String, String>,
    /// Ids whose heading ends in `[shell]`: proven by the binary's tests, not
    /// by core conformance fixtures, so exempt from the coverage check.
    pub shell_only: BTreeSet<String>,
}

impl SpecIds {
    /// Read every `*.md` in `dir`.
    pub fn load(dir: &Path) -> std::io::Result<SpecIds> {
        let mut ids = BTreeMap::new();
        let mut shell_only = BTreeSet::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        entries.sort();
        for path in entries {
            let text = std::fs::read_to_string(&path)?;
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            for id in heading_ids(&text) {
                ids.insert(id, file.clone());
            }
            for line in text
                .lines()
                .filter(|l| l.starts_with("### ") && l.trim_end().ends_with("[shell]"))
            {
                if let Some(id) = heading_ids(line).into_iter().next() {
                    shell_only.insert(id);
                }
            }
        }
        Ok(SpecIds { ids, shell_only })
    }

    /// True if `id` is declared.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains_key(id)
    }
}

/// Ids from headings of the form `### PREFIX-N — title`.
pub fn heading_ids(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("### "))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|tok| is_id(tok))
        .map(str::to_owned)
        .collect()
}

fn is_id(tok: &str) -> bool {
    let Some((prefix, num)) = tok.split_once('-') else {
        return false;
    };
    !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_uppercase())
        && !num.is_empty()
        && num.bytes().all(|b| b.is_ascii_digit())
}

/// Ids with one of `prefixes` that no fixture names.
pub fn coverage_gaps(spec: &SpecIds, named: &BTreeSet<String>, prefixes: &[&str]) -> Vec<String> {
    spec.ids
        .keys()
        .filter(|id| {
            prefixes
                .iter()
                .any(|p| id.split_once('-').is_some_and(|(q, _)| q == *p))
        })
        .filter(|id| !named.contains(*id) && !spec.shell_only.contains(*id))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_heading_ids_only() {
        let text = "# T\n### MAP-1 — a\ntext MAP-9\n### Not-an-id\n### TTL-12 — b\n";
        assert_eq!(heading_ids(text), vec!["MAP-1", "TTL-12"]);
    }
}
