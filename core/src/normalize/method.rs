//! Method token validation (spec `NRM-1`).

use super::Malformed;
use super::show::show;

/// Longest accepted method token.
const MAX_METHOD_LEN: usize = 32;

/// Check that `method` is an upper-case token `[A-Z][A-Z0-9_-]{0,31}`.
///
/// The method is never case-folded: `get` and `Get` are rejected so that the
/// proxy and the upstream can never disagree about which method was meant.
pub fn validate_method(method: &str) -> Result<(), Malformed> {
    let bytes = method.as_bytes();
    let first_ok = bytes.first().is_some_and(u8::is_ascii_uppercase);
    let rest_ok = bytes
        .iter()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-');
    if method.is_empty() {
        return Err(Malformed::new("request method is empty"));
    }
    if !first_ok || !rest_ok || bytes.len() > MAX_METHOD_LEN {
        return Err(Malformed::new(format!(
            "method `{}` is not an upper-case token",
            show(method)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // NRM-1
    #[test]
    fn accepts_upper_case_tokens() {
        for m in ["GET", "POST", "CONNECT", "M-SEARCH", "X_1", "A"] {
            assert!(validate_method(m).is_ok(), "{m}");
        }
        assert!(validate_method(&"A".repeat(32)).is_ok());
    }

    // NRM-1
    #[test]
    fn rejects_case_variants_and_junk() {
        for m in [
            "get", "Get", "gET", "", "1GET", "GE T", "GET\r", "-GET", "GÉT",
        ] {
            assert!(validate_method(m).is_err(), "{m:?}");
        }
        assert!(validate_method(&"A".repeat(33)).is_err());
        assert_eq!(
            validate_method("get").unwrap_err().detail,
            "method `get` is not an upper-case token"
        );
    }
}
