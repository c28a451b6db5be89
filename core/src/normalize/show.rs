//! Rendering untrusted values inside one-line error details.

/// Longest rendering of an offending value, in characters, before it is cut.
const MAX_SHOWN: usize = 120;

/// Render `value` for a backticked slot in an error detail: control and
/// non-ASCII characters are escaped (so the detail stays one printable line)
/// and very long values are shortened with `…`.
pub(crate) fn show(value: &str) -> String {
    let mut out = String::new();
    for (count, c) in value.chars().enumerate() {
        if count >= MAX_SHOWN {
            out.push('…');
            break;
        }
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

/// [`show`] for raw bytes (header values): invalid UTF-8 is replaced first.
pub(crate) fn show_bytes(value: &[u8]) -> String {
    show(&String::from_utf8_lossy(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_truncates() {
        assert_eq!(show("a\r\nb"), "a\\r\\nb");
        assert_eq!(show("é"), "\\u{e9}");
        let long = "x".repeat(500);
        assert_eq!(show(&long).chars().count(), MAX_SHOWN + 1);
        assert_eq!(show_bytes(b"\xff"), "\\u{fffd}");
    }
}
