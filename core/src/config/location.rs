//! Turning byte spans into line:column positions and dotted key paths.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::error::{Position, show};

/// The 1-based line and column of byte `offset` in `text`. Offsets past the
/// end or inside a multi-byte character are clamped to the previous boundary.
pub(crate) fn position(text: &str, offset: usize) -> Position {
    let mut end = offset.min(text.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = text.get(..end).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).unwrap_or("").chars().count() + 1;
    Position { line, column }
}

/// Append one key segment to a dotted path, quoting it when it is not a bare
/// TOML key.
pub(crate) fn push_segment(path: &mut String, segment: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    let bare = !segment.is_empty()
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        path.push_str(segment);
    } else {
        path.push('"');
        path.push_str(&show(segment).replace('"', "\\\""));
        path.push('"');
    }
}

/// The node of the document a span points at.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Node {
    /// Dotted key path, array items as `[index]`.
    pub path: String,
    /// The TOML type name when the span is (inside) a value, `None` for a key.
    pub value_type: Option<&'static str>,
}

/// Deepest nesting the search follows; the TOML parser rejects deeper input.
const MAX_DEPTH: usize = 128;

struct Best {
    node: Node,
    len: usize,
}

/// Find the key or value in `root` whose span is the smallest one containing
/// `span` (the shallowest one on ties), and describe it.
pub(crate) fn node_at(root: &DeTable<'_>, span: &Range<usize>) -> Option<Node> {
    let mut best = None;
    walk_table(root, &mut String::new(), span, &mut best, 0);
    best.map(|b: Best| b.node)
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

fn consider(
    best: &mut Option<Best>,
    candidate: &Range<usize>,
    target: &Range<usize>,
    path: &str,
    value_type: Option<&'static str>,
) {
    if !contains(candidate, target) {
        return;
    }
    let len = candidate.end.saturating_sub(candidate.start);
    if best.as_ref().is_none_or(|b| len < b.len) {
        *best = Some(Best {
            node: Node {
                path: path.to_owned(),
                value_type,
            },
            len,
        });
    }
}

fn walk_table(
    table: &DeTable<'_>,
    path: &mut String,
    target: &Range<usize>,
    best: &mut Option<Best>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    for (key, value) in table {
        let saved = path.len();
        push_segment(path, key.get_ref());
        consider(best, &key.span(), target, path, None);
        walk_value(value.get_ref(), &value.span(), path, target, best, depth);
        path.truncate(saved);
    }
}

fn walk_value(
    value: &DeValue<'_>,
    span: &Range<usize>,
    path: &mut String,
    target: &Range<usize>,
    best: &mut Option<Best>,
    depth: usize,
) {
    consider(best, span, target, path, Some(value.type_str()));
    match value {
        DeValue::Table(t) => walk_table(t, path, target, best, depth + 1),
        DeValue::Array(items) => {
            if depth > MAX_DEPTH {
                return;
            }
            for (i, item) in items.iter().enumerate() {
                let saved = path.len();
                path.push_str(&format!("[{i}]"));
                walk_value(item.get_ref(), &item.span(), path, target, best, depth + 1);
                path.truncate(saved);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_lines_and_chars() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(position(text, 0), Position { line: 1, column: 1 });
        assert_eq!(position(text, 6), Position { line: 2, column: 1 });
        // byte 9 is after "bé" (3 bytes): column 3
        assert_eq!(position(text, 9), Position { line: 2, column: 3 });
        // inside the two-byte é: clamped back
        assert_eq!(position(text, 8), Position { line: 2, column: 2 });
        assert_eq!(position(text, 10_000), Position { line: 3, column: 1 });
    }

    #[test]
    fn segments_are_quoted_when_not_bare() {
        let mut p = String::new();
        push_segment(&mut p, "sidecar");
        push_segment(&mut p, "a.b");
        push_segment(&mut p, "");
        assert_eq!(p, "sidecar.\"a.b\".\"\"");
    }

    #[test]
    fn finds_keys_values_and_array_items() {
        let text = "[sidecar.mapping]\nrules_paths = [\"a\", 2]\nx = 1\n";
        let doc = DeTable::parse(text).unwrap();
        let find = |needle: &str| {
            let start = text.find(needle).unwrap();
            node_at(doc.get_ref(), &(start..start + needle.len())).unwrap()
        };
        assert_eq!(
            find("2"),
            Node {
                path: "sidecar.mapping.rules_paths[1]".into(),
                value_type: Some("integer")
            }
        );
        assert_eq!(
            find("x"),
            Node {
                path: "sidecar.mapping.x".into(),
                value_type: None
            }
        );
        assert_eq!(
            find("mapping").path,
            "sidecar.mapping",
            "header key resolves to the table"
        );
    }
}
