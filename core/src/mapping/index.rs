//! The fast matcher (spec `MAP-11`): hosts in hash maps, paths in a trie.
//! Cost depends on the request's host and path, not on the number of rules.

use std::collections::HashMap;

use super::parse::Rule;
use super::pattern::{CONNECT, PathPattern, Segment};

/// Rules at one trie position, by method.
#[derive(Debug, Default)]
struct Methods {
    /// Rules with an explicit method (never CONNECT here).
    explicit: Vec<(&'static str, usize)>,
    /// The method-less rule, if any.
    any: Option<usize>,
}

impl Methods {
    fn insert(&mut self, method: Option<&'static str>, rule: usize) {
        match method {
            Some(m) => self.explicit.push((m, rule)),
            None => self.any = Some(rule),
        }
    }

    fn get(&self, method: &str) -> Option<usize> {
        self.explicit
            .iter()
            .find(|(m, _)| *m == method)
            .map(|(_, r)| *r)
            .or(self.any)
    }
}

/// One node of the path trie.
#[derive(Debug, Default)]
struct Node {
    literal: HashMap<String, Node>,
    star: Option<Box<Node>>,
    /// Patterns that end exactly here.
    terminal: Methods,
    /// Patterns with a trailing `*` here (one or more further segments).
    trailing: Methods,
}

impl Node {
    fn walk(&mut self, segments: &[Segment]) -> &mut Node {
        let mut node = self;
        for seg in segments {
            node = match seg {
                Segment::Literal(l) => node.literal.entry(l.clone()).or_default(),
                Segment::Star => node.star.get_or_insert_with(Box::default),
            };
        }
        node
    }

    /// Depth-first in precedence order: literal child, `*` child, trailing `*`.
    /// Each trie node is visited at most once per lookup.
    fn find(&self, segments: &[&str], method: &str) -> Option<usize> {
        let Some((first, rest)) = segments.split_first() else {
            return self.terminal.get(method);
        };
        if let Some(found) = self.literal.get(*first).and_then(|c| c.find(rest, method)) {
            return Some(found);
        }
        if let Some(found) = self.star.as_ref().and_then(|c| c.find(rest, method)) {
            return Some(found);
        }
        self.trailing.get(method)
    }
}

/// All rules for one host key.
#[derive(Debug, Default)]
pub(crate) struct HostRules {
    /// The `CONNECT` rule for this host key.
    connect: Option<usize>,
    /// Path trie for every other rule.
    root: Node,
    /// `path = "*"` (or absent) rules: lowest path precedence.
    any_path: Methods,
}

impl HostRules {
    /// Add rule number `index`.
    pub(crate) fn insert(&mut self, rule: &Rule, index: usize) {
        if rule.method == Some(CONNECT) {
            self.connect = Some(index);
            return;
        }
        match &rule.path {
            PathPattern::Any => self.any_path.insert(rule.method, index),
            PathPattern::Fixed(segs) => self.root.walk(segs).terminal.insert(rule.method, index),
            PathPattern::Trailing(segs) => self.root.walk(segs).trailing.insert(rule.method, index),
        }
    }

    /// Best rule for a CONNECT request to this host key.
    pub(crate) fn find_connect(&self) -> Option<usize> {
        self.connect
    }

    /// Best non-CONNECT rule for `method` and the path's segments.
    pub(crate) fn find(&self, method: &str, segments: &[&str]) -> Option<usize> {
        self.root
            .find(segments, method)
            .or_else(|| self.any_path.get(method))
    }
}
