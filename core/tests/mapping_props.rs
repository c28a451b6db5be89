//! Mapping rules: property tests, vendor packs, and load-error snapshots
//! (spec `MAP-*`).

use firma_core::ActionClass;
use firma_core::mapping::{RuleSet, RuleSource, provider_for_host};
use firma_core::normalize::{Intent, RawRequest, normalize};
use proptest::prelude::*;

fn intent(method: &str, target: &str) -> Intent {
    normalize(&RawRequest {
        method,
        target,
        headers: &[],
        tunnel: None,
    })
    .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

fn compile(files: &[(String, String)]) -> RuleSet {
    let sources: Vec<RuleSource<'_>> = files
        .iter()
        .map(|(name, text)| RuleSource { name, text })
        .collect();
    RuleSet::compile(&sources).unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------- generators

/// A generated rule: (method, host, path or None).
type GenRule = (Option<&'static str>, &'static str, Option<String>);

const HOSTS: &[&str] = &[
    "a.com",
    "api.a.com",
    "*.a.com",
    "b.a.com",
    "x.b.a.com",
    "*.b.a.com",
];
const REQ_HOSTS: &[&str] = &[
    "a.com",
    "api.a.com",
    "b.a.com",
    "x.b.a.com",
    "q.a.com",
    "y.x.b.a.com",
];
const SEGS: &[&str] = &["x", "y", "*"];
const REQ_SEGS: &[&str] = &["x", "y", "z"];

fn rule_strategy() -> impl Strategy<Value = GenRule> {
    (
        prop::sample::select(vec![None, Some("GET"), Some("POST"), Some("CONNECT")]),
        prop::sample::select(HOSTS.to_vec()),
        prop::option::of(prop::collection::vec(
            prop::sample::select(SEGS.to_vec()),
            0..4,
        )),
    )
        .prop_map(|(method, host, segs)| {
            let path = if method == Some("CONNECT") {
                None
            } else {
                segs.map(|s| format!("/{}", s.join("/")))
            };
            (method, host, path)
        })
}

/// Distinct rules (duplicates by canonical key are dropped).
fn rules_strategy() -> impl Strategy<Value = Vec<GenRule>> {
    prop::collection::vec(rule_strategy(), 1..24).prop_map(|rules| {
        let mut seen = std::collections::HashSet::new();
        rules
            .into_iter()
            .filter(|(m, h, p)| {
                let canon_path = match p.as_deref() {
                    None | Some("*") => "*".to_owned(),
                    Some(p) => p.trim_end_matches('/').to_owned(),
                };
                seen.insert((*m, *h, canon_path))
            })
            .collect()
    })
}

fn request_strategy() -> impl Strategy<Value = (&'static str, &'static str, String)> {
    (
        prop::sample::select(vec!["GET", "POST", "DELETE", "CONNECT"]),
        prop::sample::select(REQ_HOSTS.to_vec()),
        prop::collection::vec(prop::sample::select(REQ_SEGS.to_vec()), 0..5),
    )
        .prop_map(|(m, h, segs)| (m, h, format!("/{}", segs.join("/"))))
}

fn request_intent(method: &str, host: &str, path: &str) -> Intent {
    if method == "CONNECT" {
        intent(method, &format!("{host}:443"))
    } else {
        intent(method, &format!("http://{host}{path}"))
    }
}

/// Each generated rule gets a distinct class so a match identifies the rule.
fn class_for(i: usize) -> &'static str {
    ActionClass::ALL[i % ActionClass::ALL.len()].as_str()
}

fn render(rules: &[(usize, GenRule)]) -> String {
    let mut text = String::new();
    for (id, (m, h, p)) in rules {
        text.push_str("[[rules]]\n");
        if let Some(m) = m {
            text.push_str(&format!("method = \"{m}\"\n"));
        }
        text.push_str(&format!("host = \"{h}\"\n"));
        if let Some(p) = p {
            text.push_str(&format!("path = \"{p}\"\n"));
        }
        text.push_str(&format!("action_class = \"{}\"\n\n", class_for(*id)));
    }
    text
}

/// Split numbered rules into `parts` files, in the given order.
fn files_of(rules: &[(usize, GenRule)], parts: usize) -> Vec<(String, String)> {
    let parts = parts.clamp(1, rules.len().max(1));
    let chunk = rules.len().div_ceil(parts).max(1);
    rules
        .chunks(chunk)
        .enumerate()
        .map(|(i, c)| (format!("f{i}.toml"), render(c)))
        .collect()
}

/// The generated rule id a classification picked, via the rule's file/index.
fn picked(set: &RuleSet, files: &[(usize, GenRule)], parts: usize, i: &Intent) -> Option<usize> {
    let chunk = files
        .len()
        .div_ceil(parts.clamp(1, files.len().max(1)))
        .max(1);
    set.classify(i).map(|m| {
        let file_no: usize = m.rule.file[1..m.rule.file.len() - 5].parse().unwrap();
        files[file_no * chunk + m.rule.index - 1].0
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    // MAP-10: decisions do not depend on rule order or file order.
    #[test]
    fn order_independent(
        (numbered, shuffled) in rules_strategy().prop_flat_map(|rules| {
            let numbered: Vec<(usize, GenRule)> = rules.into_iter().enumerate().collect();
            (Just(numbered.clone()), Just(numbered).prop_shuffle())
        }),
        parts_a in 1usize..4,
        parts_b in 1usize..4,
        requests in prop::collection::vec(request_strategy(), 1..16),
    ) {
        let set_a = compile(&files_of(&numbered, parts_a));
        let set_b = compile(&files_of(&shuffled, parts_b));
        for (m, h, p) in &requests {
            let i = request_intent(m, h, p);
            prop_assert_eq!(
                picked(&set_a, &numbered, parts_a, &i),
                picked(&set_b, &shuffled, parts_b, &i),
                "{} {} {}", m, h, p
            );
        }
    }

    // MAP-11: the indexed matcher agrees with the linear reference matcher.
    #[test]
    fn fast_equals_reference(
        rules in rules_strategy(),
        requests in prop::collection::vec(request_strategy(), 1..16),
    ) {
        let numbered: Vec<(usize, GenRule)> = rules.into_iter().enumerate().collect();
        let set = compile(&files_of(&numbered, 2));
        for (m, h, p) in &requests {
            let i = request_intent(m, h, p);
            prop_assert_eq!(set.classify(&i), set.classify_linear(&i), "{} {} {}", m, h, p);
        }
    }

    // MAP-5: a host wildcard matches exactly one extra label, never across labels.
    #[test]
    fn wildcard_is_one_label(
        labels in prop::collection::vec("[a-z0-9]{1,6}", 1..4),
        suffix in prop::sample::select(vec!["acme.com", "b.acme.com"]),
    ) {
        let set = compile(&[(
            "w.toml".into(),
            format!("[[rules]]\nhost = \"*.{suffix}\"\naction_class = \"code.read\"\n"),
        )]);
        let host = format!("{}.{suffix}", labels.join("."));
        let matched = set.classify(&intent("GET", &format!("http://{host}/"))).is_some();
        prop_assert_eq!(matched, labels.len() == 1, "{}", host);
    }

    // MAP-4 MAP-5 (B8): look-alike hosts never match rules for `api.acme.com`.
    #[test]
    fn lookalike_hosts_never_match(
        prefix in "[a-z0-9-]{1,8}",
        tail in "[a-z]{1,8}\\.[a-z]{2,4}",
    ) {
        let set = compile(&[(
            "r.toml".into(),
            "[[rules]]\nhost = \"api.acme.com\"\naction_class = \"code.read\"\n\n\
             [[rules]]\nmethod = \"CONNECT\"\nhost = \"api.acme.com\"\naction_class = \"code.read\"\n"
                .into(),
        )]);
        for host in [
            format!("api.acme.com.{tail}"),
            format!("{prefix}api.acme.com"),
            format!("api.acme.com{prefix}.{tail}"),
            format!("{prefix}.api.acme.com"),
        ] {
            prop_assert!(set.classify(&intent("GET", &format!("http://{host}/"))).is_none(), "{}", host);
            prop_assert!(set.classify(&intent("CONNECT", &format!("{host}:443"))).is_none(), "{}", host);
        }
        prop_assert!(set.classify(&intent("GET", "http://API.acme.com./x")).is_some());
    }

    // MAP-6: a non-final `*` matches exactly one segment; a final `*` one or more.
    #[test]
    fn star_is_one_segment(segs in prop::collection::vec("[a-z0-9]{1,4}", 0..6)) {
        let set = compile(&[(
            "p.toml".into(),
            "[[rules]]\nhost = \"a.com\"\npath = \"/p/*/q\"\naction_class = \"code.read\"\n\n\
             [[rules]]\nhost = \"a.com\"\npath = \"/t/*\"\naction_class = \"code.write\"\n"
                .into(),
        )]);
        let middle = set.classify(&intent("GET", &format!("http://a.com/p/{}/q", segs.join("/"))));
        prop_assert_eq!(middle.is_some(), segs.len() == 1);
        let target = if segs.is_empty() { "http://a.com/t".to_owned() } else { format!("http://a.com/t/{}", segs.join("/")) };
        let trailing = set.classify(&intent("GET", &target));
        prop_assert_eq!(trailing.is_some(), !segs.is_empty());
    }
}

// ---------------------------------------------------------------- vendor packs

const PACKS: &[(&str, &str)] = &[
    (
        "anthropic.toml",
        include_str!("../../fixtures/packs/mappings/anthropic.toml"),
    ),
    (
        "cargo.toml",
        include_str!("../../fixtures/packs/mappings/cargo.toml"),
    ),
    (
        "github.toml",
        include_str!("../../fixtures/packs/mappings/github.toml"),
    ),
    (
        "gmail.toml",
        include_str!("../../fixtures/packs/mappings/gmail.toml"),
    ),
    (
        "npm.toml",
        include_str!("../../fixtures/packs/mappings/npm.toml"),
    ),
    (
        "openai.toml",
        include_str!("../../fixtures/packs/mappings/openai.toml"),
    ),
    (
        "pypi.toml",
        include_str!("../../fixtures/packs/mappings/pypi.toml"),
    ),
    (
        "stripe.toml",
        include_str!("../../fixtures/packs/mappings/stripe.toml"),
    ),
];

fn all_packs() -> RuleSet {
    let files: Vec<(String, String)> = PACKS
        .iter()
        .map(|(n, t)| ((*n).into(), (*t).into()))
        .collect();
    compile(&files)
}

fn class(set: &RuleSet, method: &str, target: &str) -> Option<&'static str> {
    let i = intent(method, target);
    assert_eq!(
        set.classify(&i),
        set.classify_linear(&i),
        "{method} {target}"
    );
    set.classify(&i).map(|m| m.action_class.as_str())
}

// MAP-14: each pack compiles alone, and all of them merged have no duplicates.
#[test]
fn packs_compile_alone_and_merged() {
    let mut total = 0;
    for (name, text) in PACKS {
        let set = compile(&[((*name).into(), (*text).into())]);
        assert!(!set.is_empty(), "{name}");
        total += set.len();
    }
    let merged = all_packs();
    assert_eq!(merged.len(), total);
    assert_eq!(merged.file_count(), PACKS.len());
}

// MAP-14: endpoint facts carried over from the vendor tables.
#[test]
fn pack_golden_classifications() {
    let s = all_packs();
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "GET",
            "http://api.stripe.com/v1/balance",
            Some("payment.read"),
        ),
        (
            "POST",
            "http://api.stripe.com/v1/payment_intents",
            Some("payment.transfer"),
        ),
        (
            "POST",
            "http://api.stripe.com/v1/payment_intents/pi_123/cancel",
            Some("payment.cancel"),
        ),
        (
            "POST",
            "http://api.stripe.com/v1/refunds",
            Some("payment.refund"),
        ),
        (
            "POST",
            "http://api.stripe.com/v1/payouts",
            Some("payment.payout"),
        ),
        (
            "GET",
            "http://api.stripe.com/v1/customers/search",
            Some("customer.read"),
        ),
        (
            "POST",
            "http://api.stripe.com/v1/webhook_endpoints",
            Some("account.permission.change"),
        ),
        ("POST", "http://api.stripe.com/v1/charges/ch_1/refund", None),
        ("CONNECT", "api.stripe.com:443", Some("payment.read")),
        (
            "GET",
            "http://gmail.googleapis.com/gmail/v1/users/me/profile",
            Some("communication.external.read"),
        ),
        (
            "POST",
            "http://gmail.googleapis.com/gmail/v1/users/me/messages/send",
            Some("communication.external.send"),
        ),
        (
            "POST",
            "http://gmail.googleapis.com/gmail/v1/users/me/drafts",
            Some("communication.external.draft"),
        ),
        (
            "POST",
            "http://gmail.googleapis.com/gmail/v1/users/me/messages/abc123/modify",
            Some("communication.external.manage"),
        ),
        (
            "DELETE",
            "http://gmail.googleapis.com/gmail/v1/users/me/messages/abc123",
            Some("communication.external.delete"),
        ),
        (
            "POST",
            "http://gmail.googleapis.com/gmail/v1/users/me/settings/filters",
            Some("communication.external.filter"),
        ),
        (
            "POST",
            "http://gmail.googleapis.com/gmail/v1/users/me/settings/delegates",
            Some("account.permission.change"),
        ),
        (
            "GET",
            "http://api.github.com/repos/x/y/pulls",
            Some("code.review.read"),
        ),
        (
            "POST",
            "http://api.github.com/repos/x/y/pulls",
            Some("code.write"),
        ),
        (
            "PUT",
            "http://api.github.com/repos/x/y/pulls/1/merge",
            Some("code.merge"),
        ),
        (
            "DELETE",
            "http://api.github.com/repos/x/y/contents/foo.txt",
            Some("code.destructive"),
        ),
        (
            "DELETE",
            "http://api.github.com/repos/x/y/contents/dir/foo.txt",
            Some("code.destructive"),
        ),
        (
            "GET",
            "http://api.github.com/repos/x/y/branches/main/protection",
            Some("repo.admin"),
        ),
        (
            "GET",
            "http://api.github.com/repos/x/y/branches/main/protection/restrictions",
            Some("repo.admin"),
        ),
        ("GET", "http://API.GITHUB.COM./repos/x/y", Some("code.read")),
        (
            "GET",
            "https://api.github.com:443/repos/x/y",
            Some("code.read"),
        ),
        (
            "GET",
            "http://api.github.com/repos/x/y/code-scanning/alerts/3",
            Some("security.alert.read"),
        ),
        (
            "PUT",
            "http://api.github.com/notifications",
            Some("notification.manage"),
        ),
        (
            "GET",
            "http://api.github.com/notifications/threads/1",
            Some("notification.manage"),
        ),
        (
            "GET",
            "http://github.com/o/r.git/info/refs",
            Some("code.read"),
        ),
        (
            "POST",
            "http://github.com/o/r/git-upload-pack",
            Some("code.read"),
        ),
        (
            "POST",
            "http://github.com/o/r.git/git-receive-pack",
            Some("code.write"),
        ),
        ("GET", "http://api.github.com/user", None),
        (
            "POST",
            "http://api.openai.com/v1/chat/completions",
            Some("model.inference.chat"),
        ),
        (
            "POST",
            "http://api.openai.com/v1/responses",
            Some("model.inference.chat"),
        ),
        (
            "GET",
            "https://api.openai.com/v1/models",
            Some("model.inference.chat"),
        ),
        (
            "POST",
            "http://api.openai.com/v1/files",
            Some("communication.external.send"),
        ),
        (
            "GET",
            "http://api.openai.com/v1/responses/resp_1",
            Some("communication.external.send"),
        ),
        (
            "CONNECT",
            "api.openai.com:443",
            Some("communication.external.send"),
        ),
        (
            "CONNECT",
            "ab.chatgpt.com:443",
            Some("communication.external.send"),
        ),
        (
            "POST",
            "http://api.anthropic.com/v1/messages",
            Some("model.inference.chat"),
        ),
        (
            "POST",
            "http://api.anthropic.com/v1/messages/count_tokens",
            Some("communication.external.send"),
        ),
        (
            "GET",
            "http://statsig.anthropic.com/x",
            Some("communication.external.send"),
        ),
        ("GET", "http://anthropic.com/", None),
        ("GET", "http://a.b.anthropic.com/", None),
        (
            "CONNECT",
            "api.anthropic.com:443",
            Some("communication.external.send"),
        ),
        (
            "GET",
            "http://registry.npmjs.org/left-pad",
            Some("system.install"),
        ),
        ("CONNECT", "registry.npmjs.org:443", Some("system.install")),
        ("CONNECT", "static.crates.io:443", Some("system.install")),
        (
            "GET",
            "http://files.pythonhosted.org/packages/x.whl",
            Some("system.install"),
        ),
        ("CONNECT", "pypi.org:8443", None),
    ];
    for (m, t, want) in cases {
        assert_eq!(class(&s, m, t), *want, "{m} {t}");
    }
    assert_eq!(
        provider_for_host(&intent("GET", "http://API.Stripe.com/").host),
        Some("stripe")
    );
}

// MAP-14: every pack rule is reachable (no rule is fully shadowed).
#[test]
fn every_pack_rule_is_reachable() {
    let s = all_packs();
    for (name, text) in PACKS {
        let parsed: toml::Table = toml::from_str(text).unwrap();
        let rules = parsed["rules"].as_array().unwrap();
        for (i, r) in rules.iter().enumerate() {
            let method = r.get("method").and_then(|m| m.as_str()).unwrap_or("PATCH");
            let host = r["host"].as_str().unwrap().replace("*.", "w.");
            let path = r.get("path").and_then(|p| p.as_str()).unwrap_or("*");
            let target = if method == "CONNECT" {
                format!("{}:443", host.trim_end_matches(":443"))
            } else {
                let concrete = if path == "*" {
                    "/zz-unlisted/deep".to_owned()
                } else {
                    path.replace('*', "s1")
                };
                format!("http://{host}{concrete}")
            };
            let m = s
                .classify(&intent(method, &target))
                .unwrap_or_else(|| panic!("{name} rule {}: {target}", i + 1));
            assert_eq!(
                (m.rule.file.as_str(), m.rule.index),
                (*name, i + 1),
                "{method} {target}"
            );
        }
    }
}

// ---------------------------------------------------------------- load errors

// MAP-1 MAP-2 MAP-3 MAP-4 MAP-5 MAP-7 MAP-8 MAP-9 MAP-13: every mapping load
// error message is snapshot-tested.
#[test]
fn load_error_messages() {
    let rule = |body: &str| format!("[[rules]]\n{body}\n");
    let cases: Vec<(&str, Vec<(String, String)>)> = vec![
        ("toml_syntax", vec![("bad.toml".into(), "[[rules]]\nhost = = 1\n".into())]),
        ("empty_file", vec![("empty.toml".into(), "# nothing here\n".into())]),
        ("unknown_top_level_key", vec![("top.toml".into(), "version = 1\n".into())]),
        ("rules_not_tables", vec![("arr.toml".into(), "rules = [1, 2]\n".into())]),
        ("unknown_rule_key", vec![("k.toml".into(), rule("host = \"a.com\"\naction = \"code.read\""))]),
        ("missing_host", vec![("m.toml".into(), rule("action_class = \"code.read\""))]),
        ("missing_action_class", vec![("m.toml".into(), rule("host = \"a.com\""))]),
        ("not_a_string", vec![("t.toml".into(), rule("host = [\"a.com\"]\naction_class = \"code.read\""))]),
        ("invalid_method", vec![("m.toml".into(), rule("method = \"TRACE\"\nhost = \"a.com\"\naction_class = \"code.read\""))]),
        ("lowercase_method", vec![("m.toml".into(), rule("method = \"get\"\nhost = \"a.com\"\naction_class = \"code.read\""))]),
        ("invalid_host", vec![("h.toml".into(), rule("host = \"a..com\"\naction_class = \"code.read\""))]),
        ("wildcard_too_broad", vec![("h.toml".into(), rule("host = \"*.com\"\naction_class = \"code.read\""))]),
        ("wildcard_inner_label", vec![("h.toml".into(), rule("host = \"api.*.com\"\naction_class = \"code.read\""))]),
        ("wildcard_port", vec![("h.toml".into(), rule("host = \"localhost:*\"\naction_class = \"code.read\""))]),
        ("wildcard_empty_suffix", vec![("h.toml".into(), rule("host = \"*.\"\naction_class = \"code.read\""))]),
        ("partial_segment_glob", vec![("mapping-rules.toml".into(), "[[rules]]\nhost = \"a.com\"\naction_class = \"code.read\"\n\n[[rules]]\nhost = \"a.com\"\naction_class = \"code.read\"\nmethod = \"GET\"\n\n[[rules]]\nhost = \"a.com\"\npath = \"/v1/*.git\"\naction_class = \"code.read\"\n".into())]),
        ("path_not_absolute", vec![("p.toml".into(), rule("host = \"a.com\"\npath = \"v1/x\"\naction_class = \"code.read\""))]),
        ("path_dot_segment", vec![("p.toml".into(), rule("host = \"a.com\"\npath = \"/a/../b\"\naction_class = \"code.read\""))]),
        ("path_query", vec![("p.toml".into(), rule("host = \"a.com\"\npath = \"/a?b=1\"\naction_class = \"code.read\""))]),
        ("connect_with_path", vec![("c.toml".into(), rule("method = \"CONNECT\"\nhost = \"a.com\"\npath = \"/x\"\naction_class = \"code.read\""))]),
        ("unknown_class_typo", vec![("acme-saas.toml".into(), rule("host = \"api.acme-saas.com\"\naction_class = \"communications.external.send\""))]),
        ("unknown_class_far", vec![("acme-saas.toml".into(), rule("host = \"api.acme-saas.com\"\naction_class = \"http.get\""))]),
        ("duplicate_across_files", vec![
            ("a.toml".into(), rule("method = \"GET\"\nhost = \"x.com\"\naction_class = \"code.read\"") + &rule("method = \"POST\"\nhost = \"api.acme-saas.com\"\npath = \"/api/v1/users/*\"\naction_class = \"code.read\"")),
            ("b.toml".into(), rule("method = \"POST\"\nhost = \"API.Acme-SaaS.com.:443\"\npath = \"/api/v1/users/*/\"\naction_class = \"code.write\"")),
        ]),
    ];
    for (name, files) in cases {
        let sources: Vec<RuleSource<'_>> = files
            .iter()
            .map(|(n, t)| RuleSource { name: n, text: t })
            .collect();
        let message = RuleSet::compile(&sources).unwrap_err().to_string();
        assert!(!message.contains('\n'), "{name}: {message}");
        assert!(!message.ends_with('.'), "{name}: {message}");
        assert!(message.contains(files[0].0.as_str()), "{name}: {message}");
        insta::assert_snapshot!(name, message);
    }
}
