//! What parts of a request a policy can read, so evaluation builds only those
//! (spec `CED-12`): the context attributes it names and whether it reads any
//! entity attribute.

use cedar_policy::Policy;

use super::context::AttrMask;

/// The request data a set of policies may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Context attributes named (`context.x`, `context has x`).
    pub(crate) context: AttrMask,
    /// True when some expression reads an attribute of something other than
    /// `context` (in practice `resource.host` etc.): the resource entity is needed.
    pub(crate) entity_attrs: bool,
}

impl Usage {
    /// Reads nothing.
    pub(crate) const NONE: Usage = Usage {
        context: AttrMask::NONE,
        entity_attrs: false,
    };
    /// Reads everything (the safe answer when analysis is not possible).
    pub(crate) const ALL: Usage = Usage {
        context: AttrMask::ALL,
        entity_attrs: true,
    };

    /// Union of two usages.
    pub(crate) fn union(self, other: Usage) -> Usage {
        Usage {
            context: self.context.union(other.context),
            entity_attrs: self.entity_attrs || other.entity_attrs,
        }
    }

    /// Analyse one policy's conditions by scanning its source text
    /// ([`scan`]); anything the scan does not understand reads everything.
    pub(crate) fn of(policy: &Policy) -> Usage {
        scan(&policy.to_string())
    }
}

/// A token of Cedar policy text, as far as the scan needs to tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    Ident(&'a str),
    /// A string literal's contents, escapes not undone.
    Str(&'a str),
    Dot,
    Open(u8),
    Close(u8),
    /// Any other operator or punctuation (`::`, `==`, `&&`, `@`, `,`, …).
    Other,
}

/// Split policy text into tokens; `None` on anything outside Cedar's
/// lexical grammar (the caller then assumes the worst).
fn tokens(text: &str) -> Option<Vec<Token<'_>>> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 3);
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while b.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
            }
            b'"' => {
                let start = i + 1;
                i = start;
                loop {
                    match b.get(i)? {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                out.push(Token::Str(text.get(start..i)?));
                i += 1;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let start = i;
                while b
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    i += 1;
                }
                out.push(Token::Ident(text.get(start..i)?));
            }
            b'0'..=b'9' => {
                while b.get(i).is_some_and(u8::is_ascii_alphanumeric) {
                    i += 1;
                }
                out.push(Token::Other);
            }
            b'.' => {
                i += 1;
                out.push(Token::Dot);
            }
            b'(' | b'[' | b'{' => {
                i += 1;
                out.push(Token::Open(c));
            }
            b')' | b']' | b'}' => {
                i += 1;
                out.push(Token::Close(c));
            }
            b':' | b'=' | b'!' | b'<' | b'>' | b'&' | b'|' | b'+' | b'-' | b'*' | b',' | b';'
            | b'@' | b'?' => {
                i += 1;
                out.push(Token::Other);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Keywords after which `[` opens a set literal, not an index.
const NOT_INDEXABLE: &[&str] = &[
    "in", "has", "like", "is", "if", "then", "else", "when", "unless",
];

/// What the policy text `text` can read (spec `CED-12`), found from its
/// tokens. The result may name more than the policy reads, never less:
///
/// - `context.a`, `context has a`, `context["a"]` add `a`; any other use of
///   `context` (compared whole, passed to a function, an attribute name
///   with escapes) adds every attribute;
/// - any other attribute access (`.a` not followed by `(`, `has`, an index
///   `[…]` after an expression), `getTag` and `hasTag` read entity attributes;
/// - text the scan cannot tokenize reads everything.
///
/// Scope constraints and annotations contain none of these, so the whole
/// policy text is scanned.
pub(crate) fn scan(text: &str) -> Usage {
    let Some(toks) = tokens(text) else {
        return Usage::ALL;
    };
    let at = |i: usize| toks.get(i).copied();
    let mut usage = Usage::NONE;
    let mut i = 0;
    while let Some(tok) = at(i) {
        i += 1;
        match tok {
            Token::Ident("context") => match (at(i), at(i + 1), at(i + 2)) {
                (Some(Token::Dot), Some(Token::Ident(a)), next)
                    if next != Some(Token::Open(b'(')) =>
                {
                    usage.context = usage.context.with(a);
                    i += 2;
                }
                (Some(Token::Ident("has")), Some(Token::Ident(a)), _) => {
                    usage.context = usage.context.with(a);
                    i += 2;
                }
                (Some(Token::Ident("has")), Some(Token::Str(a)), _) if !a.contains('\\') => {
                    usage.context = usage.context.with(a);
                    i += 2;
                }
                (Some(Token::Open(b'[')), Some(Token::Str(a)), Some(Token::Close(b']')))
                    if !a.contains('\\') =>
                {
                    usage.context = usage.context.with(a);
                    i += 3;
                }
                _ => usage.context = AttrMask::ALL,
            },
            Token::Dot => match (at(i), at(i + 1)) {
                (Some(Token::Ident(m)), Some(Token::Open(b'('))) => {
                    if m == "getTag" || m == "hasTag" {
                        usage.entity_attrs = true;
                    }
                    i += 1;
                }
                (Some(Token::Ident(_)), _) => {
                    usage.entity_attrs = true;
                    i += 1;
                }
                _ => return Usage::ALL,
            },
            Token::Ident("has") => {
                usage.entity_attrs = true;
                if matches!(at(i), Some(Token::Ident(_) | Token::Str(_))) {
                    i += 1;
                }
            }
            Token::Open(b'[') => {
                let indexes = match i.checked_sub(2).and_then(at) {
                    Some(Token::Ident(k)) => !NOT_INDEXABLE.contains(&k),
                    Some(Token::Str(_) | Token::Close(_)) => true,
                    _ => false,
                };
                if indexes {
                    usage.entity_attrs = true;
                }
            }
            _ => {}
        }
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::str::FromStr;

    fn usage(text: &str) -> Usage {
        let policy = Policy::from_str(text).unwrap();
        let scanned = Usage::of(&policy);
        assert_eq!(
            scanned,
            of_json(&policy),
            "scan and EST walk differ on {text}"
        );
        scanned
    }

    /// The reference analysis: walk the policy's JSON (EST) form, as firma
    /// did before the scan (63 µs a policy, mostly re-parsing the text).
    pub(crate) fn of_json(policy: &Policy) -> Usage {
        let Ok(json) = policy.to_json() else {
            return Usage::ALL;
        };
        let mut usage = Usage::NONE;
        match json.get("conditions") {
            Some(conditions) => walk(conditions, &mut usage),
            None => return Usage::ALL,
        }
        usage
    }

    fn is_var(v: &Value, name: &str) -> bool {
        v.get("Var").and_then(Value::as_str) == Some(name)
    }

    /// Walk a Cedar JSON (EST) expression tree.
    fn walk(v: &Value, usage: &mut Usage) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, usage)),
            Value::Object(map) => {
                for (key, inner) in map {
                    match key.as_str() {
                        "." | "has" if inner.get("left").is_some() => {
                            let left = inner.get("left").unwrap_or(&Value::Null);
                            if is_var(left, "context") {
                                match inner.get("attr").and_then(Value::as_str) {
                                    Some(attr) => usage.context = usage.context.with(attr),
                                    None => usage.context = AttrMask::ALL,
                                }
                            } else {
                                usage.entity_attrs = true;
                                walk(left, usage);
                            }
                        }
                        "getTag" | "hasTag" => {
                            usage.entity_attrs = true;
                            walk(inner, usage);
                        }
                        "Var" if inner.as_str() == Some("context") => {
                            usage.context = AttrMask::ALL;
                        }
                        _ => walk(inner, usage),
                    }
                }
            }
            _ => {}
        }
    }

    /// `scanned` reads at least what `reference` reads.
    fn covers(scanned: Usage, reference: Usage) -> bool {
        scanned.context.union(reference.context) == scanned.context
            && (scanned.entity_attrs || !reference.entity_attrs)
    }

    // CED-12
    #[test]
    fn finds_context_attributes_and_entity_reads() {
        let u = usage("permit(principal, action, resource) when { context.risk_score < 80 };");
        assert_eq!(
            u,
            Usage {
                context: AttrMask::NONE.with("risk_score"),
                entity_attrs: false
            }
        );
        let u = usage(
            "forbid(principal, action, resource == Firma::Resource::\"a/\") \
             when { context has git_ref && context.git_ref == \"main\" };",
        );
        assert_eq!(
            u,
            Usage {
                context: AttrMask::NONE.with("git_ref"),
                entity_attrs: false
            }
        );
        let u = usage("forbid(principal, action, resource) when { resource.host == \"x\" };");
        assert_eq!(
            u,
            Usage {
                context: AttrMask::NONE,
                entity_attrs: true
            }
        );
        let u = usage("forbid(principal, action, resource) unless { resource has provider };");
        assert!(u.entity_attrs);
        let u = usage("permit(principal, action, resource) when { context == {} };");
        assert_eq!(u.context, AttrMask::ALL);
        let u = usage(
            "permit(principal, action, resource) when { (if true then resource else resource).path == \"/\" };",
        );
        assert!(u.entity_attrs);
        let u = usage("permit(principal, action, resource);");
        assert_eq!(u, Usage::NONE);
        let u = usage(
            "permit(principal, action, resource) when { {\"Var\": \"context\", \"attr\": 1}.attr == 1 };",
        );
        assert!(u.entity_attrs);
        assert_eq!(u.context, AttrMask::NONE);
    }

    // CED-12: tricky spellings; the scan is exact on all of them but the
    // last group, where it may only read more.
    #[test]
    fn scan_matches_est_walk_on_tricky_text() {
        let exact = [
            "permit(principal, action, resource) when { context[\"risk_score\"] > 1 };",
            "permit(principal, action, resource) when { context has \"git_ref\" };",
            "permit(principal, action, resource) when { context.git_owner.x == 1 };",
            "permit(principal, action, resource) when { context[\"a\"][\"b\"] == 1 };",
            "permit(principal, action, resource) when { context.prior_action_classes.contains(\"x\") };",
            "permit(principal, action, resource) when { context.contains(1) };",
            "permit(principal, action, resource) when { [context] == [] };",
            "permit(principal, action, resource) when { resource.getTag(\"t\") == 1 };",
            "permit(principal, action, resource) when { principal.hasTag(\"t\") };",
            "permit(principal, action, resource) when { principal[\"x\"] == 1 };",
            "permit(principal, action, resource) when { resource.context == 1 };",
            "permit(principal, action, resource) when { resource has context };",
            "permit(principal, action, resource) when { \"context.risk_score // x\" == \"\\\"context\" };",
            "permit(principal, action, resource) // context.method\n when { true };",
            "@id(\"context.deny_count\") permit(principal, action in [Firma::Action::\"code.read\"], resource) when { [1, 2].contains(1) && ip(\"10.0.0.1\").isLoopback() };",
            "permit(principal == Firma::Agent::\"context\", action, resource is Firma::Resource) unless { context.method like \"P*\" };",
            "permit(principal, action, resource) when { {a: context.method}.a == \"\" };",
            "permit(principal, action, resource) when { if context has risk_score then context.risk_score > -1 else false };",
        ];
        for text in exact {
            usage(text);
        }
        let over = [
            "permit(principal, action, resource) when { {context: 1}.context == 1 };",
            "permit(principal, action, resource) when { context has \"ri\\u{73}k_score\" };",
        ];
        for text in over {
            let policy = Policy::from_str(text).unwrap();
            let (scanned, reference) = (Usage::of(&policy), of_json(&policy));
            assert!(
                covers(scanned, reference),
                "{text}: {scanned:?} < {reference:?}"
            );
        }
        // `has a.b` on `context`: the EST keeps the path as a list, so its
        // walk gives up (every attribute); the scan reads `a` alone, which is
        // all the test needs, plus entity attributes for `.b`.
        let u = scan("permit(principal, action, resource) when { context has git_owner.x };");
        assert_eq!(u.context, AttrMask::NONE.with("git_owner"));
        assert!(u.entity_attrs);
        // Text outside Cedar's grammar (the scan never sees it from a parsed
        // policy) reads everything.
        assert_eq!(
            scan("permit(principal, action, resource) when { # };"),
            Usage::ALL
        );
        assert_eq!(scan("when { \"open"), Usage::ALL);
    }

    /// Every policy in the repository's `.cedar` files and conformance
    /// fixtures (`[[policy]]` texts).
    fn fixture_policies() -> Vec<(String, String)> {
        let files: &[(&str, &str)] = &[
            (
                "benches/fixtures/policies-100/bench.cedar",
                include_str!("../../../benches/fixtures/policies-100/bench.cedar"),
            ),
            (
                "benches/fixtures/policies-15/bench.cedar",
                include_str!("../../../benches/fixtures/policies-15/bench.cedar"),
            ),
            (
                "fixtures/conformance/shared/seed000-policies/default.cedar",
                include_str!("../../../fixtures/conformance/shared/seed000-policies/default.cedar"),
            ),
            (
                "fixtures/packs/policies/dev-with-delete-watch.cedar",
                include_str!("../../../fixtures/packs/policies/dev-with-delete-watch.cedar"),
            ),
            (
                "fixtures/packs/policies/dev.cedar",
                include_str!("../../../fixtures/packs/policies/dev.cedar"),
            ),
            (
                "fixtures/packs/policies/strict.cedar",
                include_str!("../../../fixtures/packs/policies/strict.cedar"),
            ),
            (
                "fixtures/policy-test/bad-schema.cedar",
                include_str!("../../../fixtures/policy-test/bad-schema.cedar"),
            ),
            (
                "fixtures/policy-test/bad.cedar",
                include_str!("../../../fixtures/policy-test/bad.cedar"),
            ),
            (
                "fixtures/policy-test/bundle/default.cedar",
                include_str!("../../../fixtures/policy-test/bundle/default.cedar"),
            ),
            (
                "fixtures/policy-test/good.cedar",
                include_str!("../../../fixtures/policy-test/good.cedar"),
            ),
            (
                "fixtures/policy-test/host_forbid_bundle/default.cedar",
                include_str!("../../../fixtures/policy-test/host_forbid_bundle/default.cedar"),
            ),
            (
                "fixtures/policy-test/path_bundle/admin.cedar",
                include_str!("../../../fixtures/policy-test/path_bundle/admin.cedar"),
            ),
            (
                "fixtures/policy-test/provider_bundle/github.cedar",
                include_str!("../../../fixtures/policy-test/provider_bundle/github.cedar"),
            ),
            (
                "fixtures/conformance/audit/canonical-lines.toml",
                include_str!("../../../fixtures/conformance/audit/canonical-lines.toml"),
            ),
            (
                "fixtures/conformance/audit/empty-log.toml",
                include_str!("../../../fixtures/conformance/audit/empty-log.toml"),
            ),
            (
                "fixtures/conformance/audit/record-shape.toml",
                include_str!("../../../fixtures/conformance/audit/record-shape.toml"),
            ),
            (
                "fixtures/conformance/audit/resume-after-restart.toml",
                include_str!("../../../fixtures/conformance/audit/resume-after-restart.toml"),
            ),
            (
                "fixtures/conformance/audit/sec1-key.toml",
                include_str!("../../../fixtures/conformance/audit/sec1-key.toml"),
            ),
            (
                "fixtures/conformance/audit/tamper.toml",
                include_str!("../../../fixtures/conformance/audit/tamper.toml"),
            ),
            (
                "fixtures/conformance/decisions/abort.toml",
                include_str!("../../../fixtures/conformance/decisions/abort.toml"),
            ),
            (
                "fixtures/conformance/decisions/determinism.toml",
                include_str!("../../../fixtures/conformance/decisions/determinism.toml"),
            ),
            (
                "fixtures/conformance/decisions/enforcement-timeout.toml",
                include_str!("../../../fixtures/conformance/decisions/enforcement-timeout.toml"),
            ),
            (
                "fixtures/conformance/decisions/forbid-wins.toml",
                include_str!("../../../fixtures/conformance/decisions/forbid-wins.toml"),
            ),
            (
                "fixtures/conformance/decisions/malformed-first.toml",
                include_str!("../../../fixtures/conformance/decisions/malformed-first.toml"),
            ),
            (
                "fixtures/conformance/decisions/no-permit.toml",
                include_str!("../../../fixtures/conformance/decisions/no-permit.toml"),
            ),
            (
                "fixtures/conformance/decisions/policy-only-principal.toml",
                include_str!("../../../fixtures/conformance/decisions/policy-only-principal.toml"),
            ),
            (
                "fixtures/conformance/decisions/protected-endpoints.toml",
                include_str!("../../../fixtures/conformance/decisions/protected-endpoints.toml"),
            ),
            (
                "fixtures/conformance/decisions/seed000-protected.toml",
                include_str!("../../../fixtures/conformance/decisions/seed000-protected.toml"),
            ),
            (
                "fixtures/conformance/decisions/seed000-walkthrough.toml",
                include_str!("../../../fixtures/conformance/decisions/seed000-walkthrough.toml"),
            ),
            (
                "fixtures/conformance/mapping/exact-host-normalization.toml",
                include_str!("../../../fixtures/conformance/mapping/exact-host-normalization.toml"),
            ),
            (
                "fixtures/conformance/mapping/load-duplicate-across-files.toml",
                include_str!(
                    "../../../fixtures/conformance/mapping/load-duplicate-across-files.toml"
                ),
            ),
            (
                "fixtures/conformance/mapping/lookalike-hosts.toml",
                include_str!("../../../fixtures/conformance/mapping/lookalike-hosts.toml"),
            ),
            (
                "fixtures/conformance/mapping/packs-merged.toml",
                include_str!("../../../fixtures/conformance/mapping/packs-merged.toml"),
            ),
            (
                "fixtures/conformance/mapping/precedence.toml",
                include_str!("../../../fixtures/conformance/mapping/precedence.toml"),
            ),
            (
                "fixtures/conformance/mapping/provider-tag.toml",
                include_str!("../../../fixtures/conformance/mapping/provider-tag.toml"),
            ),
            (
                "fixtures/conformance/mapping/seed003-acme-saas.toml",
                include_str!("../../../fixtures/conformance/mapping/seed003-acme-saas.toml"),
            ),
            (
                "fixtures/conformance/mapping/unmapped-passthrough.toml",
                include_str!("../../../fixtures/conformance/mapping/unmapped-passthrough.toml"),
            ),
            (
                "fixtures/conformance/mapping/wildcard-host.toml",
                include_str!("../../../fixtures/conformance/mapping/wildcard-host.toml"),
            ),
            (
                "fixtures/conformance/normalize/connect.toml",
                include_str!("../../../fixtures/conformance/normalize/connect.toml"),
            ),
            (
                "fixtures/conformance/normalize/dns-host.toml",
                include_str!("../../../fixtures/conformance/normalize/dns-host.toml"),
            ),
            (
                "fixtures/conformance/normalize/framing.toml",
                include_str!("../../../fixtures/conformance/normalize/framing.toml"),
            ),
            (
                "fixtures/conformance/normalize/header-syntax.toml",
                include_str!("../../../fixtures/conformance/normalize/header-syntax.toml"),
            ),
            (
                "fixtures/conformance/normalize/host-header.toml",
                include_str!("../../../fixtures/conformance/normalize/host-header.toml"),
            ),
            (
                "fixtures/conformance/normalize/idempotent.toml",
                include_str!("../../../fixtures/conformance/normalize/idempotent.toml"),
            ),
            (
                "fixtures/conformance/normalize/imds-spellings.toml",
                include_str!("../../../fixtures/conformance/normalize/imds-spellings.toml"),
            ),
            (
                "fixtures/conformance/normalize/ipv6.toml",
                include_str!("../../../fixtures/conformance/normalize/ipv6.toml"),
            ),
            (
                "fixtures/conformance/normalize/method-case.toml",
                include_str!("../../../fixtures/conformance/normalize/method-case.toml"),
            ),
            (
                "fixtures/conformance/normalize/path-chars.toml",
                include_str!("../../../fixtures/conformance/normalize/path-chars.toml"),
            ),
            (
                "fixtures/conformance/normalize/path-dots.toml",
                include_str!("../../../fixtures/conformance/normalize/path-dots.toml"),
            ),
            (
                "fixtures/conformance/normalize/ports.toml",
                include_str!("../../../fixtures/conformance/normalize/ports.toml"),
            ),
            (
                "fixtures/conformance/normalize/query.toml",
                include_str!("../../../fixtures/conformance/normalize/query.toml"),
            ),
            (
                "fixtures/conformance/normalize/target-forms.toml",
                include_str!("../../../fixtures/conformance/normalize/target-forms.toml"),
            ),
            (
                "fixtures/conformance/normalize/tunnel-requests.toml",
                include_str!("../../../fixtures/conformance/normalize/tunnel-requests.toml"),
            ),
            (
                "fixtures/conformance/normalize/userinfo.toml",
                include_str!("../../../fixtures/conformance/normalize/userinfo.toml"),
            ),
            (
                "fixtures/conformance/policy/context-method.toml",
                include_str!("../../../fixtures/conformance/policy/context-method.toml"),
            ),
            (
                "fixtures/conformance/policy/custom-schema.toml",
                include_str!("../../../fixtures/conformance/policy/custom-schema.toml"),
            ),
            (
                "fixtures/conformance/policy/eval-error.toml",
                include_str!("../../../fixtures/conformance/policy/eval-error.toml"),
            ),
            (
                "fixtures/conformance/policy/github-provider.toml",
                include_str!("../../../fixtures/conformance/policy/github-provider.toml"),
            ),
            (
                "fixtures/conformance/policy/imds-host.toml",
                include_str!("../../../fixtures/conformance/policy/imds-host.toml"),
            ),
            (
                "fixtures/conformance/policy/load-duplicate-id.toml",
                include_str!("../../../fixtures/conformance/policy/load-duplicate-id.toml"),
            ),
            (
                "fixtures/conformance/policy/load-empty-bundle.toml",
                include_str!("../../../fixtures/conformance/policy/load-empty-bundle.toml"),
            ),
            (
                "fixtures/conformance/policy/load-incompatible-schema.toml",
                include_str!("../../../fixtures/conformance/policy/load-incompatible-schema.toml"),
            ),
            (
                "fixtures/conformance/policy/load-parse-error.toml",
                include_str!("../../../fixtures/conformance/policy/load-parse-error.toml"),
            ),
            (
                "fixtures/conformance/policy/load-unknown-action.toml",
                include_str!("../../../fixtures/conformance/policy/load-unknown-action.toml"),
            ),
            (
                "fixtures/conformance/policy/no-permit.toml",
                include_str!("../../../fixtures/conformance/policy/no-permit.toml"),
            ),
            (
                "fixtures/conformance/policy/policy-ids.toml",
                include_str!("../../../fixtures/conformance/policy/policy-ids.toml"),
            ),
            (
                "fixtures/conformance/policy/seed000-forbid-wins.toml",
                include_str!("../../../fixtures/conformance/policy/seed000-forbid-wins.toml"),
            ),
            (
                "fixtures/conformance/ttl/clock-backwards.toml",
                include_str!("../../../fixtures/conformance/ttl/clock-backwards.toml"),
            ),
            (
                "fixtures/conformance/ttl/reload-restarts-clock.toml",
                include_str!("../../../fixtures/conformance/ttl/reload-restarts-clock.toml"),
            ),
            (
                "fixtures/conformance/ttl/short-ttl-ms.toml",
                include_str!("../../../fixtures/conformance/ttl/short-ttl-ms.toml"),
            ),
            (
                "fixtures/conformance/ttl/stale-after-ttl.toml",
                include_str!("../../../fixtures/conformance/ttl/stale-after-ttl.toml"),
            ),
        ];
        let mut out = Vec::new();
        for (name, text) in files {
            if name.ends_with(".cedar") {
                out.push(((*name).to_owned(), (*text).to_owned()));
                continue;
            }
            let doc: toml::Table = text.parse().unwrap();
            let files = doc.get("policy").and_then(|p| p.as_array());
            for file in files.into_iter().flatten() {
                if let Some(t) = file.get("text").and_then(|t| t.as_str()) {
                    out.push(((*name).to_owned(), t.to_owned()));
                }
            }
        }
        out
    }

    // CED-12: on every fixture policy the scan finds exactly what the EST
    // walk finds.
    #[test]
    fn scan_matches_est_walk_on_fixtures() {
        let files = fixture_policies();
        let mut checked = 0;
        for (name, text) in &files {
            let Ok(set) = cedar_policy::PolicySet::from_str(text) else {
                continue;
            };
            for policy in set.policies() {
                assert_eq!(Usage::of(policy), of_json(policy), "{name}: {policy}");
                checked += 1;
            }
        }
        assert!(checked >= 30, "only {checked} fixture policies found");
    }

    fn atom() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let attr = prop::sample::select(vec![
            "risk_score",
            "method",
            "git_owner",
            "deny_count",
            "host",
            "path",
            "provider",
            "context",
            "has",
        ]);
        let owner = prop::sample::select(vec!["context", "resource", "principal", "action"]);
        (owner, attr, 0..12u8).prop_map(|(o, a, shape)| match shape {
            0 => format!("{o}.{a}"),
            1 => format!("{o} has {a}"),
            2 => format!("{o}[\"{a}\"]"),
            3 => format!("{o}.{a}.{a}"),
            4 => format!("{o} has \"{a}\""),
            5 => format!("{o}.getTag(\"{a}\")"),
            6 => format!("[{o}, \"{o}.{a}\"]"),
            7 => format!("{{{a}: {o}}}.{a}"),
            8 => format!("{o}.{a}.contains({o})"),
            9 => format!("(if {o} has {a} then {o}.{a} else {o})"),
            10 => format!("{o}[\"{a}\"].{a}"),
            _ => o.to_owned(),
        })
    }

    proptest::proptest! {
        // CED-12: the scan never reads less than the EST walk (conditions
        // built from attribute accesses of every kind, on every variable).
        #[test]
        fn scan_covers_est_walk(atoms in proptest::collection::vec(atom(), 1..5), unless: bool) {
            let cond = atoms.join(" == ");
            let kw = if unless { "unless" } else { "when" };
            let text = format!("permit(principal, action, resource) {kw} {{ {cond} }};");
            if let Ok(policy) = Policy::from_str(&text) {
                let (scanned, reference) = (Usage::of(&policy), of_json(&policy));
                proptest::prop_assert!(covers(scanned, reference), "{}: {:?} < {:?}", text, scanned, reference);
            }
        }
    }
}
