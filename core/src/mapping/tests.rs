//! Unit tests, one group per `MAP-*` requirement.

use super::*;
use crate::normalize::{RawRequest, normalize};

fn compile(files: &[(&str, &str)]) -> Result<RuleSet, MappingError> {
    let sources: Vec<RuleSource<'_>> = files
        .iter()
        .map(|(name, text)| RuleSource { name, text })
        .collect();
    RuleSet::compile(&sources)
}

fn one(text: &str) -> RuleSet {
    compile(&[("rules.toml", text)]).unwrap()
}

fn err(text: &str) -> String {
    compile(&[("rules.toml", text)]).unwrap_err().to_string()
}

fn intent(method: &str, target: &str) -> Intent {
    normalize(&RawRequest {
        method,
        target,
        headers: &[],
        tunnel: None,
    })
    .unwrap()
}

/// Class (or "-") and rule index chosen for a request; also checks that the
/// linear reference matcher agrees.
fn pick(set: &RuleSet, method: &str, target: &str) -> String {
    let i = intent(method, target);
    let fast = set.classify(&i).map(|m| (m.action_class, m.rule.clone()));
    let slow = set
        .classify_linear(&i)
        .map(|m| (m.action_class, m.rule.clone()));
    assert_eq!(fast, slow, "{method} {target}");
    fast.map_or("-".to_owned(), |(c, r)| format!("{c}#{}", r.index))
}

const ACME: &str = r#"
# Mappings for acme-saas.com.
[[rules]]
method = "GET"
host = "api.acme-saas.com"
path = "/api/v1/users/*"
action_class = "credential.read"

[[rules]]
method = "POST"
host = "api.acme-saas.com"
path = "/api/v1/users/*/notify"
action_class = "communication.external.send"

[[rules]]
method = "POST"
host = "api.acme-saas.com"
path = "/api/v1/transfers"
action_class = "payment.transfer"
"#;

// MAP-1
#[test]
fn seed_003_acme_rules() {
    let set = one(ACME);
    assert_eq!((set.len(), set.file_count(), set.is_empty()), (3, 1, false));
    assert_eq!(
        pick(&set, "GET", "http://api.acme-saas.com/api/v1/users/42"),
        "credential.read#1"
    );
    assert_eq!(
        pick(
            &set,
            "POST",
            "http://api.acme-saas.com/api/v1/users/42/notify"
        ),
        "communication.external.send#2"
    );
    assert_eq!(
        pick(&set, "POST", "http://api.acme-saas.com/api/v1/transfers"),
        "payment.transfer#3"
    );
    assert_eq!(
        pick(&set, "GET", "http://api.acme-saas.com/api/v1/transfers"),
        "-"
    );
    assert_eq!(
        pick(&set, "GET", "http://api.acme-saas.com/api/v1/users"),
        "-"
    );
    // query strings are not part of matching
    assert_eq!(
        pick(&set, "GET", "http://api.acme-saas.com/api/v1/users/42?x=/y"),
        "credential.read#1"
    );
    let m = set
        .classify(&intent("GET", "http://api.acme-saas.com/api/v1/users/1"))
        .unwrap();
    assert_eq!(
        m.rule,
        &RuleRef {
            file: "rules.toml".into(),
            index: 1
        }
    );
}

// MAP-1
#[test]
fn file_level_errors() {
    assert_eq!(
        err(""),
        "rules.toml: no rules; a mapping file needs at least one `[[rules]]` entry"
    );
    assert!(err("# only a comment\n").contains("no rules"));
    assert!(err("rules = []").contains("no rules"));
    assert_eq!(
        err("[[rules]]\nhost = \"a.com\"\naction_class = \"code.read\"\n[[rule]]\nhost = \"b\"\n"),
        "rules.toml:4:3: unknown top-level key `rule`; a mapping file only holds `[[rules]]` entries"
    );
    assert!(err("rules = 3").starts_with("rules.toml:1:9: `rules` must be an array of tables"));
    let toml = err("[[rules]]\nhost = = 1\n");
    assert!(toml.starts_with("rules.toml:2:8: invalid toml: "), "{toml}");
    assert!(toml.contains("invalid toml"), "{toml}");
    assert!(!toml.contains('\n'));
}

// MAP-2
#[test]
fn rule_level_key_errors() {
    assert_eq!(
        err("[[rules]]\nhost = \"a.com\"\nmethods = \"GET\"\naction_class = \"code.read\"\n"),
        "rules.toml:3:1: rule 1: unknown key `methods`; a rule has only `method`, `host`, `path` and `action_class`"
    );
    assert_eq!(
        err(
            "[[rules]]\nhost = \"a.com\"\naction_class = \"code.read\"\n\n[[rules]]\naction_class = \"code.read\"\n"
        ),
        "rules.toml:5:1: rule 2: missing required key `host`"
    );
    assert!(
        err("[[rules]]\nhost = \"a.com\"\n")
            .contains("rule 1: missing required key `action_class`")
    );
    assert_eq!(
        err("[[rules]]\nhost = \"a.com\"\npath = 3\naction_class = \"code.read\"\n"),
        "rules.toml:3:8: rule 1: `path` must be a string"
    );
}

// MAP-3
#[test]
fn unknown_action_class_suggests() {
    assert_eq!(
        err("[[rules]]\nhost = \"a.com\"\naction_class = \"communications.external.send\"\n"),
        "rules.toml:3:16: rule 1: unknown action class `communications.external.send`; did you mean `communication.external.send`?"
    );
    assert!(
        err("[[rules]]\nhost = \"a.com\"\naction_class = \"zzz\"\n")
            .ends_with("see the action-class registry for valid identifiers")
    );
}

// MAP-4
#[test]
fn exact_hosts_are_normalized() {
    let set = one(
        "[[rules]]\nhost = \"API.Acme.COM.:443\"\naction_class = \"code.read\"\n\n[[rules]]\nhost = \"acme.com:8443\"\naction_class = \"code.write\"\n",
    );
    assert_eq!(pick(&set, "GET", "http://api.acme.com/x"), "code.read#1");
    assert_eq!(pick(&set, "GET", "https://api.acme.com/x"), "code.read#1");
    assert_eq!(pick(&set, "GET", "http://acme.com:8443/x"), "code.write#2");
    assert_eq!(pick(&set, "GET", "http://acme.com/x"), "-");
    assert_eq!(pick(&set, "GET", "http://api.acme.com:8080/x"), "-");
    let ip = one("[[rules]]\nhost = \"2852039166\"\naction_class = \"credential.read\"\n");
    assert_eq!(
        pick(&ip, "GET", "http://[::ffff:169.254.169.254]/latest"),
        "credential.read#1"
    );
    assert!(
        err("[[rules]]\nhost = \"a b\"\naction_class = \"code.read\"\n")
            .contains("rule 1: host `a b` is not a valid host")
    );
}

// MAP-5
#[test]
fn wildcard_host_matches_exactly_one_label() {
    let set = one("[[rules]]\nhost = \"*.acme-saas.com\"\naction_class = \"code.read\"\n");
    assert_eq!(
        pick(&set, "GET", "http://api.acme-saas.com/"),
        "code.read#1"
    );
    assert_eq!(
        pick(&set, "GET", "http://auth.acme-saas.com/x"),
        "code.read#1"
    );
    assert_eq!(pick(&set, "GET", "http://api.dev.acme-saas.com/"), "-");
    assert_eq!(pick(&set, "GET", "http://acme-saas.com/"), "-");
    assert_eq!(pick(&set, "GET", "http://evilacme-saas.com/"), "-");
    assert_eq!(pick(&set, "GET", "http://api.acme-saas.com.evil.com/"), "-");
    assert_eq!(pick(&set, "GET", "http://api.acme-saas.com:8080/"), "-");
    let port = one("[[rules]]\nhost = \"*.acme.com:8443\"\naction_class = \"code.read\"\n");
    assert_eq!(pick(&port, "GET", "http://x.acme.com:8443/"), "code.read#1");
    assert_eq!(pick(&port, "GET", "http://x.acme.com/"), "-");
}

// MAP-5
#[test]
fn bad_wildcards_are_rejected() {
    let cases = [
        (
            "*.com",
            "is too broad: the suffix after `*.` needs at least two labels, got `com`",
        ),
        ("*", "uses `*` outside a leading `*.` label"),
        ("api.*.com", "uses `*` outside a leading `*.` label"),
        ("*api.com", "uses `*` outside a leading `*.` label"),
        ("*.", "has no suffix after `*.`"),
        ("*.*.com", "has more than one `*`"),
        ("host:*", "has a port wildcard"),
        ("*.1.2.3", "wildcard over an ip address"),
        ("*.[::1]", "wildcard over an ip address"),
    ];
    for (host, reason) in cases {
        let e = err(&format!(
            "[[rules]]\nhost = \"{host}\"\naction_class = \"code.read\"\n"
        ));
        assert!(e.contains(&format!("rule 1: host `{host}` ")), "{e}");
        assert!(e.contains(reason), "{e}");
    }
}

const PATHS: &str = r#"
[[rules]]
host = "a.com"
path = "/v1/*"
action_class = "code.read"

[[rules]]
host = "a.com"
path = "/v1/*/x"
action_class = "code.write"

[[rules]]
host = "a.com"
path = "/v1/lit/x"
action_class = "code.merge"

[[rules]]
host = "a.com"
path = "/"
action_class = "issue.read"

[[rules]]
host = "a.com"
action_class = "issue.write"

[[rules]]
host = "a.com"
path = "/v2/*/"
action_class = "repo.admin"

[[rules]]
host = "a.com"
path = "/v2/%7euser/%2f"
action_class = "repo.lifecycle"
"#;

// MAP-6
#[test]
fn path_segments() {
    let set = one(PATHS);
    assert_eq!(pick(&set, "GET", "http://a.com/v1/q"), "code.read#1");
    assert_eq!(pick(&set, "GET", "http://a.com/v1/q/r/s"), "code.read#1");
    assert_eq!(pick(&set, "GET", "http://a.com/v1/q/x"), "code.write#2");
    assert_eq!(pick(&set, "GET", "http://a.com/v1/lit/x"), "code.merge#3");
    assert_eq!(pick(&set, "GET", "http://a.com/v1/lit/x/"), "code.merge#3");
    assert_eq!(pick(&set, "GET", "http://a.com/"), "issue.read#4");
    assert_eq!(pick(&set, "GET", "http://a.com/v1"), "issue.write#5");
    assert_eq!(
        pick(&set, "GET", "http://a.com/other/deep/path"),
        "issue.write#5"
    );
    // trailing `/` in a pattern is ignored: `/v2/*/` is `/v2/*` (trailing)
    assert_eq!(pick(&set, "GET", "http://a.com/v2/u/v"), "repo.admin#6");
    // literal segments get the request's percent-normalization
    assert_eq!(
        pick(&set, "GET", "http://a.com/v2/~user/%2F"),
        "repo.lifecycle#7"
    );
    assert_eq!(
        pick(&set, "GET", "http://a.com/v2/%7Euser/%2f"),
        "repo.lifecycle#7"
    );
    // `/` inside a segment does not split it
    let one_seg =
        one("[[rules]]\nhost = \"a.com\"\npath = \"/f/*/g\"\naction_class = \"code.read\"\n");
    assert_eq!(
        pick(&one_seg, "GET", "http://a.com/f/x%2Fy/g"),
        "code.read#1"
    );
    assert_eq!(pick(&one_seg, "GET", "http://a.com/f/x/y/g"), "-");
    assert_eq!(pick(&one_seg, "GET", "http://a.com/f/g"), "-");
}

// MAP-7
#[test]
fn bad_paths_are_rejected() {
    let cases = [
        (
            "/v1/*.git",
            "has a partial-segment wildcard `*.git`; use `*` for a whole segment",
        ),
        ("/v1*", "has a partial-segment wildcard `v1*`"),
        ("v1/x", "must start with `/` or be `*`"),
        ("", "must start with `/` or be `*`"),
        ("/a//b", "has an empty segment"),
        ("/a/../b", "has a dot segment `..`"),
        ("/a/%2e", "has a dot segment `%2e`"),
        ("/a?x=1", "contains `?`"),
        ("/a#f", "contains `#`"),
        (
            "/a b",
            "is invalid: path `/a b` contains the invalid character ` `",
        ),
        ("/a%zz", "has an invalid percent-escape"),
    ];
    for (path, reason) in cases {
        let e = err(&format!(
            "[[rules]]\nhost = \"a.com\"\npath = \"{path}\"\naction_class = \"code.read\"\n"
        ));
        assert!(e.contains(&format!("rule 1: path `{path}` ")), "{e}");
        assert!(e.contains(reason), "{e}");
    }
    assert_eq!(
        err("[[rules]]\nhost = \"a.com\"\npath = \"/v1/*.git\"\naction_class = \"code.read\"\n"),
        "rules.toml:3:8: rule 1: path `/v1/*.git` has a partial-segment wildcard `*.git`; use `*` for a whole segment"
    );
}

// MAP-8
#[test]
fn methods_and_connect() {
    let set = one(r#"
[[rules]]
host = "a.com"
action_class = "code.read"

[[rules]]
method = "CONNECT"
host = "b.com:443"
action_class = "code.write"

[[rules]]
method = "CONNECT"
host = "*.c.com"
path = "*"
action_class = "code.merge"

[[rules]]
method = "DELETE"
host = "a.com"
action_class = "code.destructive"
"#);
    assert_eq!(pick(&set, "GET", "http://a.com/x"), "code.read#1");
    assert_eq!(pick(&set, "DELETE", "http://a.com/x"), "code.destructive#4");
    assert_eq!(pick(&set, "M-SEARCH", "http://a.com/x"), "code.read#1");
    // a method-less rule never grants a tunnel
    assert_eq!(pick(&set, "CONNECT", "a.com:443"), "-");
    assert_eq!(pick(&set, "CONNECT", "b.com:443"), "code.write#2");
    assert_eq!(pick(&set, "CONNECT", "b.com:8443"), "-");
    assert_eq!(pick(&set, "CONNECT", "x.c.com:443"), "code.merge#3");
    // a CONNECT rule never classifies requests inside or outside a tunnel
    assert_eq!(pick(&set, "GET", "http://b.com/"), "-");

    for bad in ["TRACE", "get", "FOO", ""] {
        let e = err(&format!(
            "[[rules]]\nmethod = \"{bad}\"\nhost = \"a.com\"\naction_class = \"code.read\"\n"
        ));
        assert!(e.contains(&format!("rule 1: method `{bad}` is not supported; use one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT")), "{e}");
    }
    assert_eq!(
        err(
            "[[rules]]\nmethod = \"CONNECT\"\nhost = \"a.com\"\npath = \"/x\"\naction_class = \"code.read\"\n"
        ),
        "rules.toml:4:8: rule 1: path `/x` is not allowed on a `CONNECT` rule; tunnels have no path (omit `path` or use `*`)"
    );
}

// MAP-9
#[test]
fn duplicates_across_files() {
    let b = "[[rules]]\nmethod = \"POST\"\nhost = \"API.acme-saas.com.\"\npath = \"/api/v1/users/*/\"\naction_class = \"code.read\"\n";
    let a = "[[rules]]\nmethod = \"GET\"\nhost = \"api.acme-saas.com\"\naction_class = \"code.read\"\n\n[[rules]]\nmethod = \"POST\"\nhost = \"api.acme-saas.com\"\npath = \"/api/v1/users/*\"\naction_class = \"code.write\"\n";
    assert_eq!(
        compile(&[("a.toml", a), ("b.toml", b)])
            .unwrap_err()
            .to_string(),
        "duplicate rule `POST api.acme-saas.com /api/v1/users/*`: `a.toml` rule 2 and `b.toml` rule 1"
    );
    // absent path and `*` are the same pattern; within one file too
    let same = "[[rules]]\nhost = \"a.com\"\naction_class = \"code.read\"\n[[rules]]\nhost = \"a.com:80\"\npath = \"*\"\naction_class = \"code.write\"\n";
    assert_eq!(
        err(same),
        "duplicate rule `ANY a.com *`: `rules.toml` rule 1 and `rules.toml` rule 2"
    );
    // different methods, or method vs none, are distinct
    let distinct = "[[rules]]\nhost = \"a.com\"\naction_class = \"code.read\"\n[[rules]]\nmethod = \"GET\"\nhost = \"a.com\"\naction_class = \"code.write\"\n";
    assert_eq!(one(distinct).len(), 2);
    let set = compile(&[("a.toml", ACME), ("b.toml", distinct)]).unwrap();
    assert_eq!((set.len(), set.file_count()), (5, 2));
}

// MAP-10
#[test]
fn precedence_is_total_and_order_free() {
    let text = r#"
[[rules]]
host = "*.a.com"
path = "/x/y"
action_class = "code.read"

[[rules]]
host = "api.a.com"
action_class = "code.write"

[[rules]]
host = "api.a.com"
path = "/x/*"
action_class = "code.merge"

[[rules]]
method = "GET"
host = "api.a.com"
path = "/x/*"
action_class = "issue.read"

[[rules]]
host = "api.a.com"
path = "/x/*/z"
action_class = "issue.write"

[[rules]]
host = "api.a.com"
path = "/*/y/z"
action_class = "repo.admin"
"#;
    let set = one(text);
    // exact host beats wildcard even with a less specific path
    assert_eq!(pick(&set, "GET", "http://api.a.com/x/y"), "issue.read#4");
    assert_eq!(pick(&set, "GET", "http://other.a.com/x/y"), "code.read#1");
    // explicit method beats absent at the same pattern
    assert_eq!(pick(&set, "POST", "http://api.a.com/x/y"), "code.merge#3");
    // literal beats `*` at the first difference
    assert_eq!(pick(&set, "GET", "http://api.a.com/x/y/z"), "issue.write#5");
    assert_eq!(pick(&set, "GET", "http://api.a.com/q/y/z"), "repo.admin#6");
    // fixed-length beats trailing `*`, trailing beats any-path
    assert_eq!(pick(&set, "GET", "http://api.a.com/x/q/z"), "issue.write#5");
    assert_eq!(pick(&set, "GET", "http://api.a.com/x/q/r"), "issue.read#4");
    assert_eq!(pick(&set, "GET", "http://api.a.com/x"), "code.write#2");

    // reversing the rule order changes nothing but the indices
    let blocks: Vec<&str> = text.split("[[rules]]").skip(1).collect();
    let reversed: String = blocks
        .iter()
        .rev()
        .map(|b| format!("[[rules]]{b}"))
        .collect();
    let rev = one(&reversed);
    assert_eq!(pick(&rev, "GET", "http://api.a.com/x/y"), "issue.read#3");
    assert_eq!(pick(&rev, "GET", "http://api.a.com/x/y/z"), "issue.write#2");
}

// MAP-11
#[test]
fn fast_matcher_agrees_with_linear_on_many_rules() {
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&format!(
            "[[rules]]\nmethod = \"GET\"\nhost = \"h{i}.example.com\"\npath = \"/v1/*/items/{i}\"\naction_class = \"code.read\"\n"
        ));
    }
    text.push_str("[[rules]]\nhost = \"*.example.com\"\naction_class = \"code.write\"\n");
    let set = one(&text);
    assert_eq!(
        pick(&set, "GET", "http://h7.example.com/v1/q/items/7"),
        "code.read#8"
    );
    assert_eq!(
        pick(&set, "GET", "http://h7.example.com/v1/q/items/8"),
        "code.write#301"
    );
    assert_eq!(pick(&set, "GET", "http://example.com/"), "-");
}

// MAP-12
#[test]
fn provider_tags_are_exact() {
    assert_eq!(provider_for_host("api.github.com"), Some("github"));
    assert_eq!(provider_for_host("github.com"), Some("github"));
    assert_eq!(provider_for_host("api.stripe.com"), Some("stripe"));
    assert_eq!(provider_for_host("gmail.googleapis.com"), Some("gmail"));
    assert_eq!(provider_for_host("www.googleapis.com"), None);
    assert_eq!(provider_for_host("api.github.com.evil.example"), None);
    assert_eq!(provider_for_host("API.GITHUB.COM"), None);
}

// MAP-13
#[test]
fn messages_are_one_line_and_escaped() {
    let e = err("[[rules]]\nhost = \"a\\u0007b\"\naction_class = \"code.read\"\n");
    assert!(!e.contains('\u{7}') && !e.contains('\n'), "{e}");
    assert!(e.contains("\\u{7}"), "{e}");
}
