//! Mapping rules (spec `MAP-*`): `(method, host, path)` → [`ActionClass`].
//!
//! Rule files are TOML `[[rules]]` tables. [`RuleSet::compile`] validates and
//! merges every file (rejecting duplicates across files) into an immutable,
//! indexed rule set; [`RuleSet::classify`] picks the single most specific rule
//! for a normalized [`Intent`], independent of file and rule order.

mod error;
mod index;
mod parse;
mod pattern;

use std::collections::HashMap;

pub use error::MappingError;

use crate::action_class::ActionClass;
use crate::engine::RuleRef;
use crate::normalize::Intent;
use index::HostRules;
use parse::{Rule, parse_file};
use pattern::{HostPattern, precedence, wildcard_key};

/// One rule file's contents.
#[derive(Clone, Copy, Debug)]
pub struct RuleSource<'a> {
    /// Name used in messages and in [`RuleRef::file`] (usually the file path).
    pub name: &'a str,
    /// The TOML text.
    pub text: &'a str,
}

/// The rule that classified a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleMatch<'a> {
    /// The class the rule assigns.
    pub action_class: ActionClass,
    /// Which rule it was.
    pub rule: &'a RuleRef,
}

/// Compiled, immutable mapping rules from one or more files.
#[derive(Debug)]
pub struct RuleSet {
    /// Every rule, sorted best-first by precedence.
    rules: Vec<Rule>,
    /// Exact host keys (host, plus `:port` when not 80/443).
    exact: HashMap<String, HostRules>,
    /// Wildcard rules by suffix key (`acme.com`, `acme.com:8443`).
    wildcard: HashMap<String, HostRules>,
    files: usize,
}

impl RuleSet {
    /// Parse, validate and merge rule files, in the order given.
    ///
    /// Fails on the first invalid file or rule (spec `MAP-1`..`MAP-9`) and on
    /// any duplicate `(method, host pattern, path pattern)` across all files
    /// (`MAP-9`).
    pub fn compile(sources: &[RuleSource<'_>]) -> Result<RuleSet, MappingError> {
        let mut rules: Vec<Rule> = Vec::new();
        let mut seen: HashMap<String, RuleRef> = HashMap::new();
        for source in sources {
            for rule in parse_file(source.name, source.text)? {
                let signature = rule.signature();
                if let Some(first) = seen.get(&signature) {
                    return Err(MappingError::Duplicate {
                        rule: signature,
                        first_file: first.file.clone(),
                        first_index: first.index,
                        second_file: rule.rule_ref.file.clone(),
                        second_index: rule.rule_ref.index,
                    });
                }
                seen.insert(signature, rule.rule_ref.clone());
                rules.push(rule);
            }
        }
        rules.sort_by(|a, b| {
            precedence((&a.method, &a.host, &a.path), (&b.method, &b.host, &b.path))
        });
        let mut exact: HashMap<String, HostRules> = HashMap::new();
        let mut wildcard: HashMap<String, HostRules> = HashMap::new();
        for (i, rule) in rules.iter().enumerate() {
            let slot = match &rule.host {
                HostPattern::Exact(key) => exact.entry(key.clone()).or_default(),
                HostPattern::Wildcard(key) => wildcard.entry(key.clone()).or_default(),
            };
            slot.insert(rule, i);
        }
        Ok(RuleSet {
            rules,
            exact,
            wildcard,
            files: sources.len(),
        })
    }

    /// The most specific rule for `intent` (spec `MAP-10`), or `None` when no
    /// rule matches. CONNECT requests match only `method = "CONNECT"` rules.
    pub fn classify(&self, intent: &Intent) -> Option<RuleMatch<'_>> {
        let found = if intent.connect {
            self.exact
                .get(&intent.authority)
                .and_then(HostRules::find_connect)
                .or_else(|| {
                    self.wildcard_rules(intent)
                        .and_then(HostRules::find_connect)
                })
        } else {
            let segments = path_segments(&intent.path);
            self.exact
                .get(&intent.authority)
                .and_then(|h| h.find(&intent.method, &segments))
                .or_else(|| {
                    self.wildcard_rules(intent)
                        .and_then(|h| h.find(&intent.method, &segments))
                })
        };
        found.and_then(|i| self.rules.get(i)).map(Rule::to_match)
    }

    /// Linear reference matcher: the first matching rule in precedence order.
    /// Same answers as [`RuleSet::classify`]; kept for tests and benchmarks.
    pub fn classify_linear(&self, intent: &Intent) -> Option<RuleMatch<'_>> {
        let segments = path_segments(&intent.path);
        self.rules
            .iter()
            .find(|r| r.matches(intent, &segments))
            .map(Rule::to_match)
    }

    fn wildcard_rules(&self, intent: &Intent) -> Option<&HostRules> {
        wildcard_key(&intent.host, &intent.authority).and_then(|k| self.wildcard.get(&k))
    }

    /// Number of rules across all files.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when no rule was compiled (only for an empty source list).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Number of rule files merged.
    pub fn file_count(&self) -> usize {
        self.files
    }

    /// Number of rules that came from the source named `file`.
    pub fn rules_in_file(&self, file: &str) -> usize {
        self.rules
            .iter()
            .filter(|r| r.rule_ref.file == file)
            .count()
    }
}

impl Rule {
    fn to_match(&self) -> RuleMatch<'_> {
        RuleMatch {
            action_class: self.class,
            rule: &self.rule_ref,
        }
    }

    /// Direct reading of the grammar, used by the linear matcher.
    fn matches(&self, intent: &Intent, segments: &[&str]) -> bool {
        let method_ok = if intent.connect {
            self.method == Some(pattern::CONNECT)
        } else {
            self.method
                .is_none_or(|m| m == intent.method && m != pattern::CONNECT)
        };
        method_ok
            && self.host.matches(&intent.host, &intent.authority)
            && self.path.matches(segments)
    }
}

fn path_segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Provider tag for curated hosts (exact match on the normalized host):
/// `api.github.com`, `github.com` → `github`; `api.stripe.com` → `stripe`;
/// `gmail.googleapis.com` → `gmail` (spec `MAP-12`).
pub fn provider_for_host(host: &str) -> Option<&'static str> {
    match host {
        "api.github.com" | "github.com" => Some("github"),
        "api.stripe.com" => Some("stripe"),
        "gmail.googleapis.com" => Some("gmail"),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
