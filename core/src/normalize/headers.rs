//! Header-field checks (spec `NRM-5`, `NRM-6`): field syntax, a single `Host`,
//! and unambiguous message framing (request-smuggling defence).

use super::Malformed;
use super::show::{show, show_bytes};

/// What normalization needs from the headers once they passed the checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderFacts {
    /// The single `Host` header's value without surrounding whitespace.
    pub host: Option<String>,
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

fn trim_ows(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |i| i + 1);
    value.get(start..end).unwrap_or_default()
}

/// Check every header field and extract the facts normalization needs.
pub fn check_headers(headers: &[(&str, &[u8])]) -> Result<HeaderFacts, Malformed> {
    let mut host: Option<String> = None;
    let mut content_length: Option<u64> = None;
    let mut transfer_codings: Vec<String> = Vec::new();
    let mut saw_transfer_encoding = false;

    for (name, value) in headers {
        check_field(name, value)?;
        let value = trim_ows(value);
        if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return Err(Malformed::new("request has more than one `host` header"));
            }
            let text = std::str::from_utf8(value).map_err(|_| {
                Malformed::new(format!("host header `{}` is not ascii", show_bytes(value)))
            })?;
            host = Some(text.to_owned());
        } else if name.eq_ignore_ascii_case("content-length") {
            let length = parse_content_length(value)?;
            match content_length {
                Some(previous) if previous != length => {
                    return Err(Malformed::new(format!(
                        "conflicting content-length values `{previous}` and `{length}`"
                    )));
                }
                _ => content_length = Some(length),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            saw_transfer_encoding = true;
            for coding in value.split(|b| *b == b',') {
                let coding = trim_ows(coding);
                let coding_name = coding.split(|b| *b == b';').next().unwrap_or_default();
                let coding_name = trim_ows(coding_name);
                if !coding_name.is_empty() {
                    transfer_codings
                        .push(String::from_utf8_lossy(coding_name).to_ascii_lowercase());
                }
            }
        }
    }

    if saw_transfer_encoding {
        if let Some(length) = content_length {
            return Err(Malformed::new(format!(
                "request has both `content-length` (`{length}`) and `transfer-encoding`"
            )));
        }
        let list = transfer_codings.join(", ");
        match transfer_codings.split_last() {
            Some((last, rest)) if last == "chunked" && !rest.iter().any(|c| c == "chunked") => {}
            Some((last, _)) if last == "chunked" => {
                return Err(Malformed::new(format!(
                    "transfer-encoding `{}` applies `chunked` more than once",
                    show(&list)
                )));
            }
            _ => {
                return Err(Malformed::new(format!(
                    "transfer-encoding `{}` does not end with `chunked`",
                    show(&list)
                )));
            }
        }
    }
    Ok(HeaderFacts { host })
}

fn check_field(name: &str, value: &[u8]) -> Result<(), Malformed> {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(Malformed::new(format!(
            "invalid header name `{}`",
            show(name)
        )));
    }
    let what = if value.iter().any(|b| *b == b'\r' || *b == b'\n') {
        "a line break (cr/lf or obs-fold)"
    } else if value.contains(&0) {
        "a nul byte"
    } else if value
        .iter()
        .any(|b| (b.is_ascii_control() && *b != b'\t') || *b == 0x7f)
    {
        "a control character"
    } else {
        return Ok(());
    };
    Err(Malformed::new(format!(
        "header `{}` value `{}` contains {what}",
        show(name),
        show_bytes(value)
    )))
}

fn parse_content_length(value: &[u8]) -> Result<u64, Malformed> {
    let invalid = || {
        Malformed::new(format!(
            "content-length `{}` is not a decimal length",
            show_bytes(value)
        ))
    };
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(headers: &[(&str, &str)]) -> Result<HeaderFacts, Malformed> {
        let owned: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
        check_headers(&owned)
    }

    // NRM-5
    #[test]
    fn single_host_header_is_extracted() {
        assert_eq!(check(&[]).unwrap().host, None);
        assert_eq!(
            check(&[("HoSt", " a.com \t")]).unwrap().host.as_deref(),
            Some("a.com")
        );
        let err = check(&[("Host", "a.com"), ("host", "a.com")]).unwrap_err();
        assert_eq!(err.detail, "request has more than one `host` header");
    }

    // NRM-6
    #[test]
    fn framing_must_be_unambiguous() {
        assert!(check(&[("Content-Length", "5"), ("content-length", "5")]).is_ok());
        assert!(check(&[("Transfer-Encoding", "gzip, chunked")]).is_ok());
        assert!(check(&[("Transfer-Encoding", "Chunked")]).is_ok());
        assert_eq!(
            check(&[("Content-Length", "5"), ("Content-Length", "6")])
                .unwrap_err()
                .detail,
            "conflicting content-length values `5` and `6`"
        );
        assert_eq!(
            check(&[("Content-Length", "5"), ("Transfer-Encoding", "chunked")])
                .unwrap_err()
                .detail,
            "request has both `content-length` (`5`) and `transfer-encoding`"
        );
        for bad in ["5, 5", "-1", "0x10", "", "1e3", "99999999999999999999999"] {
            assert!(check(&[("Content-Length", bad)]).is_err(), "{bad:?}");
        }
        for bad in ["gzip", "chunked, gzip", "chunked, chunked", "", " , "] {
            assert!(check(&[("Transfer-Encoding", bad)]).is_err(), "{bad:?}");
        }
        assert!(
            check(&[
                ("Transfer-Encoding", "gzip"),
                ("Transfer-Encoding", "chunked")
            ])
            .is_ok()
        );
    }

    // NRM-7
    #[test]
    fn field_syntax() {
        for bad_name in ["", "Bad Name", "a:b", "x\r\n", "é"] {
            assert!(check(&[(bad_name, "v")]).is_err(), "{bad_name:?}");
        }
        for bad_value in ["a\r\n b", "a\nb", "a\rb", "a\0b", "a\x01b", "a\x7fb"] {
            assert!(check(&[("X-A", bad_value)]).is_err(), "{bad_value:?}");
        }
        assert!(check(&[("X-A", "tab\tinside and obs-text \u{e9}")]).is_ok());
        assert_eq!(
            check(&[("X-A", "a\r\n b")]).unwrap_err().detail,
            "header `X-A` value `a\\r\\n b` contains a line break (cr/lf or obs-fold)"
        );
    }
}
