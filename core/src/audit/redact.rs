//! Redaction of sensitive query values before they reach the audit log
//! (spec `AUD-6`).

/// Query parameter names whose values never appear in an audit record
/// (compared case-insensitively, after percent-decoding the name).
pub const SENSITIVE_QUERY_KEYS: &[&str] = &[
    "api_key",
    "apikey",
    "key",
    "token",
    "access_token",
    "refresh_token",
    "auth",
    "password",
    "secret",
    "signature",
    "sig",
    "sas",
];

/// What replaces a sensitive value.
pub const REDACTED: &str = "<redacted>";

/// `query` with the value of every sensitive `name=value` pair replaced by
/// `<redacted>`. Pairs are separated by `&`; pairs without `=` and the order
/// and spelling of everything else are kept as they are.
pub fn redact_query(query: &str) -> String {
    redact_query_with(query, &[])
}

/// Like [`redact_query`], also redacting the names in `extra`
/// (`[sidecar.audit] redact_query_params`, compared case-insensitively).
pub fn redact_query_with(query: &str, extra: &[String]) -> String {
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if is_sensitive(name, extra) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    out
}

fn is_sensitive(raw_name: &str, extra: &[String]) -> bool {
    let name = percent_decode_lossy(raw_name);
    let name = name.trim();
    SENSITIVE_QUERY_KEYS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(name))
        || extra.iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// Decode `%XX` escapes and `+` (form encoding of a space); invalid escapes are
/// kept literally and invalid UTF-8 is replaced.
fn percent_decode_lossy(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                // hi, lo < 16, so the value fits in a byte.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'%'));
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    // AUD-6
    #[test]
    fn aud_6_redacts_sensitive_values_only() {
        assert_eq!(redact_query("format=3"), "format=3");
        assert_eq!(
            redact_query("q=rust&api_key=abc123&page=2"),
            "q=rust&api_key=<redacted>&page=2"
        );
        assert_eq!(
            redact_query("Token=x&ACCESS_TOKEN=y&Sig=z&sas=1&key=&password=p%3D"),
            "Token=<redacted>&ACCESS_TOKEN=<redacted>&Sig=<redacted>&sas=<redacted>&key=<redacted>&password=<redacted>"
        );
        for k in SENSITIVE_QUERY_KEYS {
            assert_eq!(redact_query(&format!("{k}=v")), format!("{k}=<redacted>"));
        }
    }

    // AUD-6: a value containing `=` is redacted whole; names are compared after decoding.
    #[test]
    fn aud_6_redaction_edge_cases() {
        assert_eq!(redact_query("secret=a=b&x=1"), "secret=<redacted>&x=1");
        assert_eq!(redact_query("api%5Fkey=abc"), "api%5Fkey=<redacted>");
        assert_eq!(redact_query("api%5fkey=abc"), "api%5fkey=<redacted>");
        // Pairs without `=`, empty pairs and look-alike names are kept.
        assert_eq!(
            redact_query("token&&keys=1&mykey=2&"),
            "token&&keys=1&mykey=2&"
        );
        assert_eq!(redact_query(""), "");
        assert_eq!(redact_query("%zz=1&%=2&%4=3"), "%zz=1&%=2&%4=3");
    }
}

#[cfg(test)]
mod extra_tests {
    use super::*;

    #[test]
    fn aud_6_configured_names_are_redacted_too() {
        let extra = vec!["Session".to_owned()];
        assert_eq!(
            redact_query_with("session=abc&q=1&token=t", &extra),
            "session=<redacted>&q=1&token=<redacted>"
        );
        assert_eq!(redact_query("session=abc"), "session=abc");
    }
}
