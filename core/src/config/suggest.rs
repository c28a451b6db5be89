//! "Did you mean" hints for misspelt keys and values.

/// The candidate closest to `input`: a case-insensitive match, or one within
/// a small edit distance (at most 1 for short words, a third of the length for
/// longer ones), or one that differs by a whole `_suffix` (a unit such as
/// `_secs`). `None` when nothing is close.
pub(crate) fn closest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (input.chars().count() / 3).max(1);
    candidates
        .iter()
        .copied()
        .filter_map(|c| {
            if c.eq_ignore_ascii_case(input) {
                return Some((0, c));
            }
            // a unit suffix left off or added: `drain_timeout` → `drain_timeout_secs`
            let (short, long) = if c.len() < input.len() {
                (c, input)
            } else {
                (input, c)
            };
            if short.len() >= 4
                && long.starts_with(short)
                && long.as_bytes().get(short.len()) == Some(&b'_')
            {
                return Some((1, c));
            }
            let d = bounded_distance(input, c, limit)?;
            Some((d, c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance between `a` and `b` in characters, or `None` when it
/// exceeds `limit` (checked cheaply first on the length difference, so huge
/// untrusted inputs cost nothing).
fn bounded_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let replace = prev
                .get(j)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(usize::from(ca != cb));
            let delete = prev
                .get(j + 1)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let insert = cur.get(j).copied().unwrap_or(usize::MAX).saturating_add(1);
            cur.push(replace.min(delete).min(insert));
        }
        prev = cur;
    }
    let d = prev.last().copied()?;
    (d <= limit).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        let keys = ["rules_path", "rules_paths", "default_protected"];
        assert_eq!(closest("rule_path", &keys), Some("rules_path"));
        assert_eq!(closest("default_protect", &keys), Some("default_protected"));
        assert_eq!(closest("RULES_PATH", &keys), Some("rules_path"));
        assert_eq!(closest("colour", &keys), None);
        assert_eq!(closest(&"x".repeat(10_000), &keys), None);
        assert_eq!(closest("", &keys), None);
        let units = ["drain_timeout_secs", "listen_addr"];
        assert_eq!(closest("drain_timeout", &units), Some("drain_timeout_secs"));
        assert_eq!(closest("dra", &units), None);
    }
}
