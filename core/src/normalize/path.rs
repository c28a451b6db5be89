//! Path normalization (spec `NRM-12`..`NRM-15`).

use super::Malformed;
use super::show::show;

/// The two renderings of a normalized path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormalizedPath {
    /// Match path: no empty or dot segments, no trailing `/` except the root.
    pub path: String,
    /// Same segments, trailing `/` kept when the original ended with one.
    pub forward: String,
}

/// True for bytes allowed raw in a path segment (RFC 3986 `pchar` minus `%`).
fn is_pchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Validate one path segment's characters and normalize its percent-escapes:
/// escapes of unreserved characters are decoded, all others are kept with
/// upper-case hex. `%00`, `%5C` and invalid escapes are malformed. `whole` is
/// the full path, named in error details.
pub fn normalize_segment(segment: &str, whole: &str) -> Result<String, Malformed> {
    let bytes = segment.as_bytes();
    let mut out = String::with_capacity(segment.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(Malformed::new(format!(
                    "path `{}` has an invalid percent-escape",
                    show(whole)
                )));
            };
            let value = hi * 16 + lo;
            match value {
                0 => {
                    return Err(Malformed::new(format!(
                        "path `{}` contains an encoded nul byte",
                        show(whole)
                    )));
                }
                b'\\' => {
                    return Err(Malformed::new(format!(
                        "path `{}` contains an encoded backslash",
                        show(whole)
                    )));
                }
                v if is_unreserved(v) => out.push(char::from(v)),
                v => {
                    out.push('%');
                    out.push_str(&format!("{v:02X}"));
                }
            }
            i += 3;
        } else if is_pchar(b) {
            out.push(char::from(b));
            i += 1;
        } else {
            let shown = segment
                .get(i..)
                .and_then(|s| s.chars().next())
                .map_or_else(|| format!("\\x{b:02x}"), |c| show(&c.to_string()));
            return Err(Malformed::new(format!(
                "path `{}` contains the invalid character `{shown}`",
                show(whole)
            )));
        }
    }
    Ok(out)
}

/// Normalize a request path (the part before `?`). Empty means `/`.
///
/// Order: validate characters and percent-escapes per segment, collapse empty
/// segments, resolve `.` and `..` (clamped at the root), drop a trailing `/`
/// from the match path. Case is preserved.
pub fn normalize_path(raw: &str) -> Result<NormalizedPath, Malformed> {
    if raw.is_empty() {
        return Ok(NormalizedPath {
            path: "/".into(),
            forward: "/".into(),
        });
    }
    let Some(body) = raw.strip_prefix('/') else {
        return Err(Malformed::new(format!(
            "path `{}` does not start with `/`",
            show(raw)
        )));
    };
    let mut stack: Vec<String> = Vec::new();
    let mut trailing = false;
    for segment in body.split('/') {
        let segment = normalize_segment(segment, raw)?;
        trailing = false;
        match segment.as_str() {
            "" => trailing = true,
            "." => trailing = true,
            ".." => {
                stack.pop();
                trailing = true;
            }
            _ => stack.push(segment),
        }
    }
    let path = format!("/{}", stack.join("/"));
    let forward = if trailing && !stack.is_empty() {
        format!("{path}/")
    } else {
        path.clone()
    };
    Ok(NormalizedPath { path, forward })
}

/// Validate a raw query (without `?`): visible ASCII only, no `#`.
pub fn validate_query(query: &str) -> Result<(), Malformed> {
    match query.chars().find(|c| !c.is_ascii_graphic() || *c == '#') {
        Some(c) => Err(Malformed::new(format!(
            "query `{}` contains the invalid character `{}`",
            show(query),
            show(&c.to_string())
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        normalize_path(s).unwrap().path
    }

    fn fwd(s: &str) -> String {
        normalize_path(s).unwrap().forward
    }

    // NRM-12
    #[test]
    fn dot_segments_and_empty_segments() {
        assert_eq!(p(""), "/");
        assert_eq!(p("/"), "/");
        assert_eq!(p("//"), "/");
        assert_eq!(p("/a//b///c"), "/a/b/c");
        assert_eq!(p("/v1/chat/../admin"), "/v1/admin");
        assert_eq!(p("/../.."), "/");
        assert_eq!(p("/a/./b/."), "/a/b");
        assert_eq!(p("/a/b/"), "/a/b");
        assert_eq!(p("/A/B"), "/A/B");
        assert_eq!(p("/a/..."), "/a/...");
        assert!(normalize_path("a/b").is_err());
    }

    // NRM-13
    #[test]
    fn raw_characters_outside_pchar_are_malformed() {
        for bad in [
            "/a b", "/é", "/a\\b", "/a\"b", "/a<b", "/a>b", "/a\u{7f}", "/a\tb", "/a^b", "/a`b",
            "/a{b}", "/a|b", "/a[b]",
        ] {
            assert!(normalize_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            normalize_path("/a b").unwrap_err().detail,
            "path `/a b` contains the invalid character ` `"
        );
        assert_eq!(p("/a:b@c!$&'()*+,;=~"), "/a:b@c!$&'()*+,;=~");
    }

    // NRM-14
    #[test]
    fn percent_escapes() {
        assert_eq!(p("/%2e%2e/admin"), "/admin");
        assert_eq!(p("/a/%2E%2e/b"), "/b");
        assert_eq!(p("/a/.%2e/b"), "/b");
        assert_eq!(p("/%41%7a%2D%5f%7E"), "/Az-_~");
        assert_eq!(p("/a%2fb"), "/a%2Fb");
        assert_eq!(p("/a%2Fb/%2e%2e"), "/");
        assert_eq!(p("/%20"), "/%20");
        assert_eq!(p("/%c3%a9"), "/%C3%A9");
        for bad in ["/%zz", "/%4", "/%", "/a%00b", "/a%5cb", "/a%5C", "/%%41"] {
            assert!(normalize_path(bad).is_err(), "{bad:?}");
        }
    }

    // NRM-15
    #[test]
    fn forward_target_keeps_trailing_slash() {
        assert_eq!(fwd("/a/b/"), "/a/b/");
        assert_eq!(fwd("/a//b//"), "/a/b/");
        assert_eq!(fwd("/a/b"), "/a/b");
        assert_eq!(fwd("/"), "/");
        assert_eq!(fwd("/a/.."), "/");
        assert_eq!(fwd("/a/b/.."), "/a/");
    }

    // NRM-16
    #[test]
    fn query_validation() {
        assert!(validate_query("a=1&b=%20[x]").is_ok());
        assert!(validate_query("").is_ok());
        assert!(validate_query("a b").is_err());
        assert!(validate_query("a=é").is_err());
    }
}
