//! Turning Cedar's span-carrying errors into `file:line:col` diagnostics.

use miette::Diagnostic;

use super::error::PolicyDiagnostic;

/// 1-based line and column (in characters) of byte `offset` in `text`.
/// Offsets past the end or inside a character clamp to the nearest valid position.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = text.get(..end).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// Collapse a possibly multi-line message into one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One diagnostic per error in `diag` (itself plus its `related()` errors),
/// positioned by each error's first label within `text`.
pub(crate) fn collect(diag: &dyn Diagnostic, file: &str, text: &str) -> Vec<PolicyDiagnostic> {
    let mut out = vec![single(diag, file, text)];
    if let Some(related) = diag.related() {
        out.extend(related.map(|d| single(d, file, text)));
    }
    out
}

/// The diagnostic for `diag` alone.
pub(crate) fn single(diag: &dyn Diagnostic, file: &str, text: &str) -> PolicyDiagnostic {
    let offset = diag
        .labels()
        .and_then(|mut labels| labels.next())
        .map_or(0, |l| l.offset());
    let (line, column) = line_col(text, offset);
    let mut message = one_line(&diag.to_string());
    if let Some(help) = diag.help() {
        message.push_str("; help: ");
        message.push_str(&one_line(&help.to_string()));
    }
    PolicyDiagnostic {
        file: file.to_owned(),
        line,
        column,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_in_chars() {
        let t = "ab\nçd\nx";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        // `d` is after the two-byte `ç`
        assert_eq!(line_col(t, 5), (2, 2));
        assert_eq!(line_col(t, 4), (2, 1)); // inside `ç`: clamps back
        assert_eq!(line_col(t, 999), (3, 2));
    }

    #[test]
    fn one_line_collapses_whitespace() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
    }
}
