//! Request-target forms (spec `NRM-2`..`NRM-4`).

use super::show::show;
use super::{Malformed, Scheme};

/// A syntactically split request target (nothing normalized yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// `http://authority/path?query` (or `https://`).
    Absolute {
        scheme: Scheme,
        authority: &'a str,
        path: &'a str,
        query: Option<&'a str>,
    },
    /// `/path?query`.
    Origin {
        path: &'a str,
        query: Option<&'a str>,
    },
}

/// Reject targets that can never be valid on the wire: empty, containing a
/// fragment, whitespace, control or non-ASCII characters.
pub(crate) fn check_wire_chars(target: &str) -> Result<(), Malformed> {
    if target.is_empty() {
        return Err(Malformed::new("request target is empty"));
    }
    if target.contains('#') {
        return Err(Malformed::new(format!(
            "request target `{}` contains a fragment (`#`)",
            show(target)
        )));
    }
    if !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Malformed::new(format!(
            "request target `{}` contains whitespace, control or non-ascii characters",
            show(target)
        )));
    }
    Ok(())
}

/// Reject userinfo (`user@`) in an authority: never guess which host is meant.
pub(crate) fn reject_userinfo(authority: &str, target: &str) -> Result<(), Malformed> {
    if authority.contains('@') {
        return Err(Malformed::new(format!(
            "request target `{}` has userinfo (`…@`) in its authority",
            show(target)
        )));
    }
    Ok(())
}

fn split_query(rest: &str) -> (&str, Option<&str>) {
    match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    }
}

/// Split a non-CONNECT request target into absolute-form or origin-form.
pub(crate) fn parse_target(target: &str) -> Result<Target<'_>, Malformed> {
    check_wire_chars(target)?;
    if target == "*" {
        return Err(Malformed::new(
            "asterisk-form request target `*` is not accepted by a proxy",
        ));
    }
    if target.starts_with('/') {
        let (path, query) = split_query(target);
        return Ok(Target::Origin { path, query });
    }
    let Some((scheme, rest)) = target.split_once("://") else {
        return Err(Malformed::new(format!(
            "request target `{}` is not in absolute-form `http://host/path`",
            show(target)
        )));
    };
    let scheme = if scheme.eq_ignore_ascii_case("http") {
        Scheme::Http
    } else if scheme.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else {
        return Err(Malformed::new(format!(
            "request target `{}` has unsupported scheme `{}`",
            show(target),
            show(scheme)
        )));
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, remainder) = rest.split_at(end);
    reject_userinfo(authority, target)?;
    if authority.is_empty() {
        return Err(Malformed::new(format!(
            "request target `{}` has an empty authority",
            show(target)
        )));
    }
    let (path, query) = split_query(remainder);
    Ok(Target::Absolute {
        scheme,
        authority,
        path,
        query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // NRM-2
    #[test]
    fn forms() {
        assert_eq!(
            parse_target("HTTP://a.com/x?y").unwrap(),
            Target::Absolute {
                scheme: Scheme::Http,
                authority: "a.com",
                path: "/x",
                query: Some("y")
            }
        );
        assert_eq!(
            parse_target("https://a.com?q").unwrap(),
            Target::Absolute {
                scheme: Scheme::Https,
                authority: "a.com",
                path: "",
                query: Some("q")
            }
        );
        assert_eq!(
            parse_target("/p?a?b").unwrap(),
            Target::Origin {
                path: "/p",
                query: Some("a?b")
            }
        );
        for bad in [
            "*",
            "",
            "ftp://a.com/",
            "a.com/x",
            "http:/a.com",
            "http:///x",
            "http://a.com/#f",
            "http://a.com/ x",
            "http://a.com/é",
        ] {
            assert!(parse_target(bad).is_err(), "{bad:?}");
        }
    }

    // NRM-4
    #[test]
    fn userinfo_is_rejected() {
        for bad in ["http://wttr.in@paste.rs/", "http://u:p@h/", "http://@h/"] {
            assert!(parse_target(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_target("http://wttr.in@paste.rs/").unwrap_err().detail,
            "request target `http://wttr.in@paste.rs/` has userinfo (`…@`) in its authority"
        );
        // an `@` after the authority is an ordinary path character
        assert!(parse_target("http://h/a@b").is_ok());
    }
}
