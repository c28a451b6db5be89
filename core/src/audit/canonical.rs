//! RFC 8785 JSON Canonicalization Scheme (JCS) for integer-only JSON
//! (spec `AUD-10`).
//!
//! Object members are sorted by the UTF-16 code units of their names, no
//! whitespace is emitted, strings are escaped exactly as ECMAScript's
//! `JSON.stringify` does, and integers are written in decimal. Audit records
//! contain no floating-point numbers, so a non-integer number is an error
//! rather than something to approximate.

use serde_json::{Number, Value};

/// A value the canonicalizer refuses to encode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// A number that is not an integer (audit records never contain one).
    #[error("number `{0}` is not an integer; audit canonical form has no floating-point numbers")]
    NotAnInteger(String),
}

/// The RFC 8785 canonical form of `value`; an error if it contains a
/// non-integer number.
pub fn canonicalize(value: &Value) -> Result<String, CanonicalError> {
    if let Some(n) = first_non_integer(value) {
        return Err(CanonicalError::NotAnInteger(n.to_string()));
    }
    let mut out = String::new();
    write_integer_json(&mut out, value);
    Ok(out)
}

/// The first number in `value` (depth first) that is not an integer.
fn first_non_integer(value: &Value) -> Option<&Number> {
    match value {
        Value::Number(n) if n.as_u64().is_none() && n.as_i64().is_none() => Some(n),
        Value::Array(items) => items.iter().find_map(first_non_integer),
        Value::Object(map) => map.values().find_map(first_non_integer),
        _ => None,
    }
}

/// Append the canonical form of `value` to `out`. Callers guarantee that
/// `value` holds integers only (the audit record builder does by
/// construction; [`canonicalize`] checks first).
pub(crate) fn write_integer_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        // Integers display as plain decimal digits with an optional `-`.
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_integer_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_integer_json(out, item);
            }
            out.push('}');
        }
    }
}

/// Append `s` as a JSON string literal escaped like ECMAScript `JSON.stringify`.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    escape_into(out, s);
    out.push('"');
}

/// Append the escaped contents of `s` (without quotes) to `out`. Runs of
/// characters that need no escape are copied at once; only `"`, `\\` and
/// control characters below U+0020 (all ASCII, so never inside a multi-byte
/// UTF-8 sequence) are rewritten.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(at) = rest
        .bytes()
        .position(|b| b < 0x20 || b == b'"' || b == b'\\')
    {
        let (plain, tail) = rest.split_at(at);
        out.push_str(plain);
        let mut chars = tail.chars();
        if let Some(c) = chars.next() {
            push_escaped(out, c);
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let v = u32::from(c) as usize;
            out.push_str("\\u00");
            out.push(char::from(HEX[(v >> 4) & 0xf]));
            out.push(char::from(HEX[v & 0xf]));
        }
    }
}

/// A [`std::fmt::Write`] that appends everything written to it as escaped
/// JSON string contents, so `Display` values can be written without an
/// intermediate `String`.
pub(crate) struct Escaped<'a>(pub(crate) &'a mut String);

impl std::fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(text: &str) -> String {
        canonicalize(&serde_json::from_str::<Value>(text).unwrap()).unwrap()
    }

    // AUD-10: RFC 8785 §3.2.2 string escaping (the example's string members).
    #[test]
    fn aud_10_escapes_like_json_stringify() {
        let text = r#"{"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/"}"#;
        assert_eq!(canon(text), r#"{"string":"€$\u000f\nA'B\"\\\\\"/"}"#);
        let ctl: String = (0u8..0x20).map(char::from).collect();
        assert_eq!(
            canonicalize(&Value::String(ctl)).unwrap(),
            "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\""
        );
        // DEL, non-ASCII and astral characters are written literally.
        assert_eq!(
            canonicalize(&json!("\u{7f}é😀\u{2028}")).unwrap(),
            "\"\u{7f}é😀\u{2028}\""
        );
    }

    // AUD-10: RFC 8785 §3.2.3 sorting example: keys ordered by UTF-16 code units,
    // so U+1F600 (surrogates D83D DE00) sorts before U+FB33.
    #[test]
    fn aud_10_sorts_keys_by_utf16_code_units() {
        let text = "{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\",\"\\ufb33\":\"Hebrew Letter Dalet With Dagesh\",\"1\":\"One\",\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\",\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}";
        let got = canon(text);
        let keys: Vec<String> = ["\\r", "1", "\u{80}", "ö", "€", "😀", "\u{fb33}"]
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect();
        let mut pos = 0;
        for k in &keys {
            let at = got[pos..]
                .find(k.as_str())
                .unwrap_or_else(|| panic!("{k} out of order in {got}"));
            pos += at + k.len();
        }
        // UTF-8 byte order would put U+FB33 before the emoji; UTF-16 order must not.
        assert!(got.find('😀').unwrap() < got.find('\u{fb33}').unwrap());
    }

    // AUD-10: nested objects and arrays, no whitespace, integers in decimal.
    #[test]
    fn aud_10_nested_structures_without_whitespace() {
        assert_eq!(
            canon(
                " { \"b\" : [ 1 , -2 , true , null , { \"z\" : 0 , \"a\" : \"x\" } ] , \"a\" : { } } "
            ),
            "{\"a\":{},\"b\":[1,-2,true,null,{\"a\":\"x\",\"z\":0}]}"
        );
        assert_eq!(canon("18446744073709551615"), "18446744073709551615");
        assert_eq!(canon("[]"), "[]");
    }

    // AUD-10: floats are rejected instead of being mis-encoded.
    #[test]
    fn aud_10_rejects_non_integers() {
        let v: Value = serde_json::from_str("{\"a\":[1.5]}").unwrap();
        assert_eq!(
            canonicalize(&v),
            Err(CanonicalError::NotAnInteger("1.5".into()))
        );
        let e = canonicalize(&json!(1e3)).unwrap_err();
        assert!(e.to_string().contains("is not an integer"), "{e}");
    }
}
