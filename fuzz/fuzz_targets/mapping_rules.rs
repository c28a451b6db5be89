//! Mapping-rule parser and compiler (spec `MAP-*`).
//!
//! Input: the text of one rule file, or two files separated by a NUL byte
//! (exercising the cross-file duplicate check, MAP-9). Properties: an error
//! message is one line (MAP-13); a compiled rule set gives the indexed
//! `classify` and the reference `classify_linear` the same answer (MAP-10,
//! MAP-11) for fixed requests and for requests built from the hosts, paths
//! and methods written in the input.
#![no_main]

use firma_core::mapping::{RuleSet, RuleSource};
use firma_core::normalize::{RawRequest, normalize};
use libfuzzer_sys::fuzz_target;

const FIXED: &[(&str, &str)] = &[
    ("GET", "http://api.github.com/repos/acme/widgets"),
    ("POST", "http://wttr.in/"),
    ("DELETE", "http://api.example.com:8443/v1/x/y"),
    ("GET", "https://a.b.example.com/"),
    ("CONNECT", "api.openai.com:443"),
    ("CONNECT", "x.example.com:8443"),
];

/// The quoted values of `key = "…"` lines (first four).
fn values<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim_start().strip_prefix(key)?.trim_start();
            let rest = rest.strip_prefix('=')?.trim_start().strip_prefix('"')?;
            rest.split('"').next()
        })
        .take(4)
        .collect()
}

/// A concrete host and path a pattern can match: wildcards filled in.
fn concrete(pattern: &str, fill: &str) -> String {
    pattern.replace("**", fill).replace('*', fill)
}

fn check(rules: &RuleSet, method: &str, target: &str) {
    let raw = RawRequest {
        method,
        target,
        headers: &[],
        tunnel: None,
    };
    if let Ok(intent) = normalize(&raw) {
        assert_eq!(
            rules.classify(&intent),
            rules.classify_linear(&intent),
            "indexed and linear matchers disagree on {method} {target}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut sources = vec![];
    let (a, b) = match text.split_once('\0') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    sources.push(RuleSource {
        name: "a.toml",
        text: a,
    });
    if let Some(b) = b {
        sources.push(RuleSource {
            name: "b.toml",
            text: b,
        });
    }
    let rules = match RuleSet::compile(&sources) {
        Ok(rules) => rules,
        Err(e) => {
            let message = e.to_string();
            assert!(
                !message.contains(['\n', '\r']),
                "MAP-13: mapping error is not one line: {message:?}"
            );
            return;
        }
    };
    for (method, target) in FIXED {
        check(&rules, method, target);
    }
    let hosts = values(text, "host");
    let mut paths = values(text, "path");
    paths.push("/");
    let mut methods = values(text, "method");
    methods.extend(["GET", "POST"]);
    for host in &hosts {
        let host = concrete(host, "x");
        for path in &paths {
            let path = concrete(path, "s");
            let path = if path.starts_with('/') {
                path
            } else {
                format!("/{path}")
            };
            for method in &methods {
                check(&rules, method, &format!("http://{host}{path}"));
            }
            check(&rules, "GET", &format!("https://{host}{path}"));
        }
        check(&rules, "CONNECT", &format!("{host}:443"));
        check(&rules, "CONNECT", &host);
    }
});
