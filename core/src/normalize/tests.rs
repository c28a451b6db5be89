//! End-to-end tests of [`normalize`] (one per `NRM-*` requirement at least).

use super::*;

fn req<'a>(
    method: &'a str,
    target: &'a str,
    headers: &'a [(&'a str, &'a [u8])],
    tunnel: Option<&'a str>,
) -> RawRequest<'a> {
    RawRequest {
        method,
        target,
        headers,
        tunnel,
    }
}

fn ok(method: &str, target: &str, headers: &[(&str, &[u8])]) -> Intent {
    normalize(&req(method, target, headers, None)).unwrap()
}

fn err(method: &str, target: &str, headers: &[(&str, &[u8])]) -> String {
    normalize(&req(method, target, headers, None))
        .unwrap_err()
        .detail
}

// NRM-1
#[test]
fn lower_case_method_is_malformed() {
    assert_eq!(
        err("get", "http://a.com/", &[]),
        "method `get` is not an upper-case token"
    );
    assert!(normalize(&req("Get", "http://a.com/", &[], None)).is_err());
}

// NRM-2
#[test]
fn absolute_form_intent() {
    let i = ok(
        "GET",
        "HTTP://WTTR.in/london?format=3",
        &[("Host", b"wttr.in")],
    );
    assert_eq!(
        i,
        Intent {
            method: "GET".into(),
            scheme: Scheme::Http,
            connect: false,
            host: "wttr.in".into(),
            port: 80,
            authority: "wttr.in".into(),
            path: "/london".into(),
            query: Some("format=3".into()),
            forward_target: "/london?format=3".into(),
        }
    );
    assert_eq!(i.resource_id(), "wttr.in/london");
    let s = ok("POST", "https://paste.rs", &[]);
    assert_eq!(
        (s.scheme, s.port, s.path.as_str()),
        (Scheme::Https, 443, "/")
    );
    assert_eq!(s.forward_target, "/");
    assert_eq!(s.resource_id(), "paste.rs/");
}

// NRM-2
#[test]
fn origin_form_needs_a_tunnel() {
    assert_eq!(
        err("GET", "/v1/models", &[("Host", b"api.openai.com")]),
        "origin-form target `/v1/models` is only valid inside a mitm tunnel"
    );
    let i = normalize(&req(
        "GET",
        "/v1/models",
        &[("Host", b"api.openai.com")],
        Some("api.openai.com:443"),
    ))
    .unwrap();
    assert_eq!(i.scheme, Scheme::Https);
    assert_eq!(i.authority, "api.openai.com");
    assert_eq!(i.path, "/v1/models");
    assert!(!i.connect);
    // no Host header: the tunnel's authority is used
    let i = normalize(&req("GET", "/x", &[], Some("h.test:8443"))).unwrap();
    assert_eq!(i.authority, "h.test:8443");
}

// NRM-2
#[test]
fn asterisk_and_other_forms_are_malformed() {
    assert!(normalize(&req("OPTIONS", "*", &[], None)).is_err());
    assert!(normalize(&req("GET", "a.com/x", &[], None)).is_err());
    assert!(normalize(&req("GET", "http://a.com/x#frag", &[], None)).is_err());
}

// NRM-3
#[test]
fn connect_authority_form() {
    let i = ok(
        "CONNECT",
        "API.OpenAI.com.:443",
        &[("Host", b"api.openai.com:443")],
    );
    assert_eq!(
        i,
        Intent {
            method: "CONNECT".into(),
            scheme: Scheme::Https,
            connect: true,
            host: "api.openai.com".into(),
            port: 443,
            authority: "api.openai.com".into(),
            path: "/".into(),
            query: None,
            forward_target: String::new(),
        }
    );
    assert_eq!(ok("CONNECT", "h.test:8443", &[]).authority, "h.test:8443");
    assert!(ok("CONNECT", "h.test:443", &[("Host", b"h.test")]).connect);
    for bad in [
        "h.test",
        "h.test:",
        "h.test:0",
        "http://h.test:443",
        "h.test:443/x",
        "u@h:443",
        "*",
    ] {
        assert!(normalize(&req("CONNECT", bad, &[], None)).is_err(), "{bad}");
    }
    assert_eq!(
        err("CONNECT", "h.test", &[]),
        "connect target `h.test` has no port"
    );
    assert_eq!(
        err("CONNECT", "a.test:443", &[("Host", b"b.test:443")]),
        "host header `b.test:443` disagrees with request target authority `a.test:443`"
    );
    let nested = normalize(&req("CONNECT", "a.test:443", &[], Some("a.test:443")));
    assert_eq!(
        nested.unwrap_err().detail,
        "connect request inside the mitm tunnel to `a.test:443`"
    );
}

// NRM-4
#[test]
fn userinfo_trick_is_malformed() {
    assert_eq!(
        err("GET", "http://wttr.in@paste.rs/", &[]),
        "request target `http://wttr.in@paste.rs/` has userinfo (`…@`) in its authority"
    );
    assert!(normalize(&req("GET", "http://u:p@h/", &[], None)).is_err());
}

// NRM-5
#[test]
fn host_header_must_agree() {
    assert_eq!(
        err("GET", "http://a.example/", &[("Host", b"b.example")]),
        "host header `b.example` disagrees with request target authority `a.example`"
    );
    // same host, different effective port
    assert!(
        normalize(&req(
            "GET",
            "http://a.example/",
            &[("Host", b"a.example:8080")],
            None
        ))
        .is_err()
    );
    // equivalent spellings agree
    ok("GET", "http://a.example:80/", &[("Host", b"A.EXAMPLE.")]);
    ok(
        "GET",
        "http://2852039166/",
        &[("Host", b"169.254.169.254:80")],
    );
    ok("GET", "https://a.example/", &[("Host", b"a.example:443")]);
    // zero Host headers are fine for absolute-form; two are not
    ok("GET", "http://a.example/", &[]);
    assert!(
        normalize(&req(
            "GET",
            "http://a.example/",
            &[("Host", b"a.example"), ("host", b"a.example")],
            None
        ))
        .is_err()
    );
    // unparsable Host header
    assert!(normalize(&req("GET", "http://a.example/", &[("Host", b"a b")], None)).is_err());
}

// NRM-5
#[test]
fn tunneled_host_must_match_connect_target() {
    let r = req(
        "GET",
        "/x",
        &[("Host", b"evil.test")],
        Some("api.openai.com:443"),
    );
    assert_eq!(
        normalize(&r).unwrap_err().detail,
        "tunneled host `evil.test` does not match connect target `api.openai.com:443`"
    );
    let r = req(
        "GET",
        "/x",
        &[("Host", b"api.openai.com:8443")],
        Some("api.openai.com:443"),
    );
    assert!(normalize(&r).is_err());
    let r = req(
        "GET",
        "https://evil.test/x",
        &[],
        Some("api.openai.com:443"),
    );
    assert_eq!(
        normalize(&r).unwrap_err().detail,
        "tunneled host `evil.test` does not match connect target `api.openai.com:443`"
    );
    let r = req(
        "GET",
        "http://api.openai.com/x",
        &[],
        Some("api.openai.com:443"),
    );
    assert!(normalize(&r).is_err());
    let r = req(
        "GET",
        "https://API.openai.com:443/x",
        &[],
        Some("api.openai.com:443"),
    );
    assert_eq!(normalize(&r).unwrap().path, "/x");
    let r = req("GET", "/x", &[], Some("api.openai.com:nope"));
    assert!(normalize(&r).is_err());
}

// NRM-6
#[test]
fn smuggling_framing_is_malformed() {
    let cl_te: &[(&str, &[u8])] = &[("Content-Length", b"4"), ("Transfer-Encoding", b"chunked")];
    assert!(normalize(&req("POST", "http://a.example/", cl_te, None)).is_err());
    let two_cl: &[(&str, &[u8])] = &[("Content-Length", b"4"), ("Content-Length", b"40")];
    assert!(normalize(&req("POST", "http://a.example/", two_cl, None)).is_err());
}

// NRM-7
#[test]
fn header_syntax_is_checked() {
    let bad: &[(&str, &[u8])] = &[("X-Evil", b"a\r\nHost: b")];
    assert!(normalize(&req("GET", "http://a.example/", bad, None)).is_err());
    let bad: &[(&str, &[u8])] = &[("X Evil", b"a")];
    assert!(normalize(&req("GET", "http://a.example/", bad, None)).is_err());
}

// NRM-8 NRM-9 NRM-10 NRM-11
#[test]
fn authority_normalization() {
    assert_eq!(
        ok("GET", "http://API.Example.COM./", &[]).host,
        "api.example.com"
    );
    for t in [
        "http://169.254.169.254/latest",
        "http://2852039166/latest",
        "http://0xA9FEA9FE/latest",
        "http://0251.0376.0251.0376/latest",
        "http://[::ffff:169.254.169.254]/latest",
        "http://[::ffff:a9fe:a9fe]/latest",
        "http://169.254.169.254./latest",
    ] {
        let i = ok("GET", t, &[]);
        assert_eq!(i.resource_id(), "169.254.169.254/latest", "{t}");
    }
    let i = ok("GET", "http://[2001:DB8::1]:8080/", &[]);
    assert_eq!((i.host.as_str(), i.port), ("[2001:db8::1]", 8080));
    assert_eq!(i.authority, "[2001:db8::1]:8080");
    let i = ok("GET", "http://a.example:0080/", &[]);
    assert_eq!((i.authority.as_str(), i.port), ("a.example", 80));
    let i = ok("GET", "http://a.example:/", &[]);
    assert_eq!(i.port, 80);
    let i = ok("GET", "http://a.example:443/", &[]);
    assert_eq!(i.authority, "a.example:443");
    assert!(normalize(&req("GET", "http://a.example:0/", &[], None)).is_err());
    assert!(normalize(&req("GET", "http://a.example../", &[], None)).is_err());
    assert!(normalize(&req("GET", "http://[fe80::1%25eth0]/", &[], None)).is_err());
}

// NRM-12 NRM-13 NRM-14 NRM-15 NRM-16
#[test]
fn path_and_query() {
    let i = ok(
        "GET",
        "http://a.example//v1/./x/../%2e%2e/Y%2fz/?q=%ZZ&r",
        &[],
    );
    assert_eq!(i.path, "/Y%2Fz");
    assert_eq!(i.query.as_deref(), Some("q=%ZZ&r"));
    assert_eq!(i.forward_target, "/Y%2Fz/?q=%ZZ&r");
    let i = ok("GET", "http://a.example/p?", &[]);
    assert_eq!(i.query.as_deref(), Some(""));
    assert_eq!(i.forward_target, "/p?");
    assert!(normalize(&req("GET", "http://a.example/a%00", &[], None)).is_err());
    assert!(normalize(&req("GET", "http://a.example/a%5cb", &[], None)).is_err());
    assert!(normalize(&req("GET", "http://a.example/a\\b", &[], None)).is_err());
}

// NRM-17
#[test]
fn normalization_is_idempotent_on_examples() {
    for (m, t) in [
        ("GET", "http://A.example:8080//a/./b/../c/?x=1"),
        ("POST", "https://0x7f.1/%7euser/%2f/"),
        ("CONNECT", "API.example.:0443"),
    ] {
        let first = ok(m, t, &[]);
        let again = ok(
            m,
            &rebuild_target(&first),
            &[("Host", first.authority.as_bytes())],
        );
        assert_eq!(first, again, "{t}");
    }
}

fn rebuild_target(i: &Intent) -> String {
    if i.connect {
        format!("{}:{}", i.host, i.port)
    } else {
        format!(
            "{}://{}{}",
            i.scheme.as_str(),
            i.authority,
            i.forward_target
        )
    }
}

// NRM-18
#[test]
fn details_are_one_lowercase_line() {
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a [u8])]);
    let cases: &[Case<'_>] = &[
        ("get", "http://a/", &[]),
        ("GET", "http://a\r\n/", &[]),
        ("GET", "http://A B/", &[]),
        ("GET", "http://a/", &[("Host", b"b")]),
        ("GET", "http://a/", &[("X", b"\r\n")]),
        ("GET", "http://a/%zz", &[]),
        ("GET", "HTTP://é/", &[]),
    ];
    for (m, t, h) in cases {
        let d = normalize(&req(m, t, h, None)).unwrap_err().detail;
        assert!(!d.contains('\n') && !d.contains('\r'), "{d}");
        assert!(
            d.chars().next().is_some_and(|c| c.is_ascii_lowercase()),
            "{d}"
        );
        assert!(d.contains('`'), "{d}");
        assert!(!d.ends_with('.'), "{d}");
    }
}
