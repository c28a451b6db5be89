//! Behaviour of compile + evaluate, one test (or more) per spec id.

use super::*;
use crate::action_class::ActionClass;

const SEED_000: &str = r#"// Permit weather lookups; forbid pastes.
permit (
  principal,
  action == Firma::Action::"communication.external.send",
  resource
) when { context.risk_score < 80 };

forbid (
  principal,
  action == Firma::Action::"communication.external.send",
  resource == Firma::Resource::"paste.rs/"
);
"#;

fn src<'a>(name: &'a str, text: &'a str) -> PolicySource<'a> {
    PolicySource { name, text }
}

fn bundle(files: &[(&str, &str)]) -> Bundle {
    let srcs: Vec<PolicySource<'_>> = files.iter().map(|(n, t)| src(n, t)).collect();
    Bundle::compile(&srcs, None).unwrap()
}

fn compile_err(files: &[(&str, &str)]) -> BundleError {
    let srcs: Vec<PolicySource<'_>> = files.iter().map(|(n, t)| src(n, t)).collect();
    Bundle::compile(&srcs, None).unwrap_err()
}

fn eval(b: &Bundle, action: ActionClass, host: &str, path: &str, ctx: &PolicyContext) -> Verdict {
    eval_full(b, "anonymous", action, host, path, None, ctx)
}

fn eval_full(
    b: &Bundle,
    principal: &str,
    action: ActionClass,
    host: &str,
    path: &str,
    provider: Option<&str>,
    ctx: &PolicyContext,
) -> Verdict {
    b.evaluate(&PolicyRequest {
        principal,
        action,
        resource: ResourceAttrs {
            host,
            path,
            provider,
        },
        context: ctx,
    })
    .unwrap()
}

const SEND: ActionClass = ActionClass::CommunicationExternalSend;

// CED-13: the seed 000 walkthrough.
#[test]
fn seed_000_allows_weather_and_denies_paste() {
    let b = bundle(&[("default.cedar", SEED_000)]);
    assert_eq!((b.file_count(), b.policy_count()), (1, 2));
    let ctx = PolicyContext::at(1_700_000_000_000);
    let v = eval(&b, SEND, "wttr.in", "/london", &ctx);
    assert!(v.allowed);
    assert_eq!(v.policies, ["default.cedar#0"]);
    let v = eval(&b, SEND, "paste.rs", "/", &ctx);
    assert!(!v.allowed);
    assert_eq!(v.policies, ["default.cedar#1"]);
    // CED-5: context attributes reach the policies.
    let risky = PolicyContext {
        risk_score: 90,
        ..PolicyContext::at(0)
    };
    let v = eval(&b, SEND, "wttr.in", "/london", &risky);
    assert_eq!((v.allowed, v.policies.len()), (false, 0));
}

// CED-13: default deny, forbid wins, determining policies sorted.
#[test]
fn default_deny_and_forbid_wins() {
    let b = bundle(&[
        (
            "a.cedar",
            "permit(principal, action, resource);\n\
             @id(\"zz-forbid\") forbid(principal, action == Firma::Action::\"code.write\", resource);\n\
             @id(\"aa-forbid\") forbid(principal, action in [Firma::Action::\"code.write\"], resource);",
        ),
        (
            "b.cedar",
            "permit(principal, action == Firma::Action::\"code.read\", resource);",
        ),
    ]);
    let ctx = PolicyContext::default();
    let v = eval(&b, ActionClass::CodeRead, "api.github.com", "/", &ctx);
    assert!(v.allowed);
    assert_eq!(v.policies, ["a.cedar#0", "b.cedar#0"]);
    let v = eval(&b, ActionClass::CodeWrite, "api.github.com", "/", &ctx);
    assert!(!v.allowed);
    assert_eq!(v.policies, ["aa-forbid", "zz-forbid"]);

    let only_code = bundle(&[(
        "c.cedar",
        "permit(principal, action == Firma::Action::\"code.read\", resource);",
    )]);
    let v = eval(&only_code, SEND, "wttr.in", "/", &ctx);
    assert_eq!(v, Verdict::default());
}

// CED-1, CED-4: entity ids and resource attributes.
#[test]
fn entities_and_attributes() {
    let b = bundle(&[(
        "e.cedar",
        r#"@id("agent") permit(principal == Firma::Agent::"agt_1", action, resource);
@id("exact") permit(principal, action, resource == Firma::Resource::"api.github.com/repos/a/b");
@id("host") forbid(principal, action, resource) when { resource.host == "169.254.169.254" };
@id("path") forbid(principal, action, resource) when { resource.path like "/admin/*" };
@id("provider") permit(principal, action, resource) when { resource has provider && resource.provider == "github" };
"#,
    )]);
    let ctx = PolicyContext::default();
    let v = eval_full(&b, "agt_1", ActionClass::CodeRead, "x.org", "/", None, &ctx);
    assert_eq!(v.policies, ["agent"]);
    let v = eval(
        &b,
        ActionClass::CodeRead,
        "api.github.com",
        "/repos/a/b",
        &ctx,
    );
    assert_eq!(v.policies, ["exact"]);
    let v = eval_full(&b, "agt_1", SEND, "169.254.169.254", "/latest", None, &ctx);
    assert_eq!(
        (v.allowed, v.policies.as_slice()),
        (false, &["host".to_owned()][..])
    );
    let v = eval_full(&b, "agt_1", SEND, "x.org", "/admin/users", None, &ctx);
    assert_eq!(v.policies, ["path"]);
    let v = eval_full(
        &b,
        "x",
        ActionClass::CodeRead,
        "api.github.com",
        "/user",
        Some("github"),
        &ctx,
    );
    assert_eq!(
        (v.allowed, v.policies.as_slice()),
        (true, &["provider".to_owned()][..])
    );
    // ids are opaque: quotes and `::` in ids are not Cedar syntax
    let v = eval_full(&b, "agt_1\"::x", SEND, "h\"", "/", None, &ctx);
    assert!(!v.allowed);
}

// CED-5: method and optional git attributes.
#[test]
fn context_method_and_git() {
    let b = bundle(&[(
        "m.cedar",
        r#"@id("get-only") permit(principal, action, resource) when { context.method == "GET" };
@id("no-main") forbid(principal, action == Firma::Action::"code.write", resource)
  when { context has git_ref && context.git_ref == "main" };
"#,
    )]);
    let mut ctx = PolicyContext::default();
    assert!(!eval(&b, SEND, "h", "/", &ctx).allowed);
    ctx.method = "GET".into();
    assert!(eval(&b, SEND, "h", "/", &ctx).allowed);
    assert!(eval(&b, ActionClass::CodeWrite, "h", "/", &ctx).allowed);
    ctx.git.git_ref = Some("main".into());
    let v = eval(&b, ActionClass::CodeWrite, "h", "/", &ctx);
    assert_eq!(
        (v.allowed, v.policies.as_slice()),
        (false, &["no-main".to_owned()][..])
    );
}

// CED-14: an erroring policy is skipped and reported.
#[test]
fn evaluation_errors_are_reported_not_fatal() {
    let b = bundle(&[(
        "o.cedar",
        "permit(principal, action, resource);\n\
         forbid(principal, action, resource) when { context.risk_score + 9223372036854775807 > 0 };",
    )]);
    let ctx = PolicyContext {
        risk_score: 1,
        ..PolicyContext::default()
    };
    let v = eval(&b, SEND, "h", "/", &ctx);
    assert!(v.allowed);
    assert_eq!(v.policies, ["o.cedar#0"]);
    assert_eq!(v.errors.len(), 1);
    assert!(v.errors[0].contains("o.cedar#1"), "{:?}", v.errors);
}

// CED-7: ids.
#[test]
fn policy_ids_follow_annotation_or_file_index() {
    let b = bundle(&[(
        "x.cedar",
        "permit(principal, action, resource);\n@id(\"named\")\npermit(principal, action, resource);\npermit(principal, action, resource);",
    )]);
    let v = eval(&b, SEND, "h", "/", &PolicyContext::default());
    assert_eq!(v.policies, ["named", "x.cedar#0", "x.cedar#2"]);
}

// CED-8
#[test]
fn duplicate_ids_name_both_files() {
    let e = compile_err(&[
        ("a.cedar", "@id(\"p\") permit(principal, action, resource);"),
        ("b.cedar", "@id(\"p\") forbid(principal, action, resource);"),
    ]);
    insta::assert_snapshot!(e.to_string(), @"duplicate policy id `p` in `a.cedar` and `b.cedar`");
    let e = compile_err(&[("a.cedar", "@id(\"\") permit(principal, action, resource);")]);
    insta::assert_snapshot!(e.to_string(), @"invalid policy: a.cedar:1:1: policy 0 has an empty `@id` annotation");
}

// CED-6
#[test]
fn parse_errors_name_file_line_column() {
    let e = compile_err(&[
        ("ok.cedar", "permit(principal, action, resource);"),
        (
            "bad.cedar",
            "permit(principal, action, resource);\n\npermit(principal action, resource);",
        ),
        (
            "worse.cedar",
            "forbid(principal, action, resource) when { context.risk_score > };",
        ),
    ]);
    let d = e.diagnostics();
    assert_eq!(d.len(), 2, "{e}");
    assert_eq!(
        (d[0].file.as_str(), d[0].line, d[0].column),
        ("bad.cedar", 3, 18)
    );
    assert_eq!(d[1].file, "worse.cedar");
    insta::assert_snapshot!(e.to_string(), @"invalid policy (2 errors): bad.cedar:3:18: unexpected token `action`; worse.cedar:1:65: unexpected token `}`");
    let e = compile_err(&[(
        "t.cedar",
        "permit(principal == ?principal, action, resource);",
    )]);
    insta::assert_snapshot!(e.to_string(), @"invalid policy: t.cedar:1:21: policy templates (`?principal`, `?resource`) are not supported");
}

// CED-9
#[test]
fn strict_validation_errors_are_positioned() {
    let e = compile_err(&[(
        "typo.cedar",
        "// typo\npermit(principal, action == Firma::Action::\"communications.external.send\", resource);\n\
         forbid(principal, action, resource) when { resource.owner == \"x\" };\n\
         forbid(principal, action, resource) when { resource.provider == \"x\" };",
    )]);
    let d = e.diagnostics();
    assert_eq!(d.len(), 3, "{e}");
    assert_eq!((d[0].line, d[1].line, d[2].line), (2, 3, 4));
    insta::assert_snapshot!(e.to_string(), @r#"invalid policy (3 errors): typo.cedar:2:29: for policy `typo.cedar#0`, unrecognized action `Firma::Action::"communications.external.send"`; help: did you mean `Firma::Action::"communication.external.send"`?; typo.cedar:3:44: for policy `typo.cedar#1`, attribute `owner` on entity type `Firma::Resource` not found; help: did you mean `host`?; typo.cedar:4:44: for policy `typo.cedar#2`, unable to guarantee safety of access to optional attribute `provider` on entity type `Firma::Resource`; help: try testing for the attribute's presence with `e has provider && ..`"#);
}

// CED-6
#[test]
fn empty_bundles_are_errors() {
    let e = Bundle::compile(&[], None).unwrap_err();
    insta::assert_snapshot!(e.to_string(), @"policy bundle has no `*.cedar` files");
    let e = compile_err(&[("a.cedar", "// nothing\n"), ("b.cedar", "")]);
    insta::assert_snapshot!(e.to_string(), @"policy bundle has no policies in `a.cedar`, `b.cedar`");
}

// CED-11
#[test]
fn version_is_stable_and_unambiguous() {
    let v = |files: &[(&str, &str)]| bundle(files).version().to_owned();
    let p = "permit(principal, action, resource);";
    let a = v(&[("a.cedar", p)]);
    assert_eq!(a.len(), 64);
    assert!(
        a.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(a, v(&[("a.cedar", p)]));
    assert_ne!(a, v(&[("b.cedar", p)]));
    assert_ne!(a, v(&[("a.cedar", &format!("{p} "))]));
    // moving bytes between name and text changes the version
    assert_ne!(v(&[("a.cedar", &format!(" {p}"))]), v(&[("a.cedar ", p)]));
    let custom = Bundle::compile(
        &[src("a.cedar", p)],
        Some(src("s.cedarschema", &format!("{BUILTIN_SCHEMA}\n"))),
    )
    .unwrap();
    assert_ne!(custom.version(), a);
}

// CED-12: only the policies that can match an action are consulted.
#[test]
fn policies_are_grouped_by_action() {
    let mut text = String::new();
    for c in ActionClass::ALL {
        text.push_str(&format!(
            "permit(principal, action == Firma::Action::\"{c}\", resource);\n"
        ));
    }
    text.push_str("forbid(principal, action, resource) when { context.risk_score > 50 };\n");
    text.push_str(
        "permit(principal, action in [Firma::Action::\"code.read\", Firma::Action::\"code.write\"], resource);\n",
    );
    let b = bundle(&[("all.cedar", &text)]);
    assert_eq!(b.policy_count(), 47);
    assert_eq!(b.policies_for(SEND), 2);
    assert_eq!(b.policies_for(ActionClass::CodeRead), 3);
    assert_eq!(b.policies_for(ActionClass::CodeWrite), 3);
    let v = eval(
        &b,
        ActionClass::CodeRead,
        "h",
        "/",
        &PolicyContext::default(),
    );
    assert_eq!(v.policies, ["all.cedar#15", "all.cedar#46"]);
}

// CED-3, CED-12: a custom schema with action groups.
#[test]
fn custom_schema_with_action_groups() {
    let schema = BUILTIN_SCHEMA
        .replace("  entity Agent;", "  entity Agent;\n  action \"reads\";")
        .replace(
            "action \"code.read\" appliesTo",
            "action \"code.read\" in [\"reads\"] appliesTo",
        );
    let b = Bundle::compile(
        &[src(
            "g.cedar",
            "permit(principal, action in Firma::Action::\"reads\", resource);",
        )],
        Some(src("schema.cedarschema", &schema)),
    )
    .unwrap();
    let ctx = PolicyContext::default();
    assert!(eval(&b, ActionClass::CodeRead, "h", "/", &ctx).allowed);
    assert!(!eval(&b, ActionClass::CodeWrite, "h", "/", &ctx).allowed);
}

// CED-10
#[test]
fn incompatible_custom_schema_message() {
    let schema = BUILTIN_SCHEMA.replace("    method: String,\n", "");
    let e = Bundle::compile(
        &[src("a.cedar", "permit(principal, action, resource);")],
        Some(src("policies/schema.cedarschema", &schema)),
    )
    .unwrap_err();
    insta::assert_snapshot!(e.to_string(), @"policies/schema.cedarschema: schema is not compatible with firma's entities and context: action `account.permission.change`: context attribute `method` is not declared with firma's type in `EnforcementContext`");
    let e = Bundle::compile(
        &[src("a.cedar", "permit(principal, action, resource);")],
        Some(src(
            "policies/schema.cedarschema",
            "namespace Firma {\n  entity Agent\n  entity Resource;\n}",
        )),
    )
    .unwrap_err();
    insta::assert_snapshot!(e.to_string(), @"invalid schema: policies/schema.cedarschema:3:3: error parsing schema: unexpected token `entity`");
}

// CED-15
#[test]
fn validate_source_counts_and_reports() {
    assert_eq!(
        validate_source(&src("default.cedar", SEED_000), None),
        Ok(2)
    );
    assert_eq!(validate_source(&src("empty.cedar", ""), None), Ok(0));
    let d = validate_source(
        &src(
            "bad.cedar",
            "permit(principal, action == Firma::Action::\"code.reed\", resource);",
        ),
        None,
    )
    .unwrap_err();
    assert_eq!((d[0].file.as_str(), d[0].line), ("bad.cedar", 1));
    insta::assert_snapshot!(d[0].to_string(), @r#"bad.cedar:1:29: for policy `bad.cedar#0`, unrecognized action `Firma::Action::"code.reed"`; help: did you mean `Firma::Action::"code.read"`?"#);
    let d = validate_source(
        &src("dup.cedar", "@id(\"x\") permit(principal, action, resource);\n@id(\"x\") permit(principal, action, resource);"),
        None,
    )
    .unwrap_err();
    assert!(d[0].message.contains("duplicate policy id `x`"));
}

#[test]
fn bundle_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Bundle>();
}

#[test]
fn anonymous_is_the_policy_only_principal() {
    let b = bundle(&[(
        "a.cedar",
        "permit(principal == Firma::Agent::\"anonymous\", action, resource);",
    )]);
    assert!(
        eval_full(
            &b,
            ANONYMOUS,
            SEND,
            "h",
            "/",
            None,
            &PolicyContext::default()
        )
        .allowed
    );
}

// CED-12: a group that reads no entity attribute is evaluated without the
// resource entity; scope `==`/`in` on the resource still work.
#[test]
fn entity_free_groups_keep_scope_semantics() {
    let b = bundle(&[(
        "s.cedar",
        "permit(principal, action, resource in Firma::Resource::\"a.example/\");\n\
         forbid(principal == Firma::Agent::\"bad\", action, resource);\n\
         permit(principal, action == Firma::Action::\"code.read\", resource) when { context.risk_score < 5 };",
    )]);
    let ctx = PolicyContext::default();
    assert!(eval(&b, SEND, "a.example", "/", &ctx).allowed);
    assert!(!eval(&b, SEND, "b.example", "/", &ctx).allowed);
    let v = eval_full(&b, "bad", SEND, "a.example", "/", None, &ctx);
    assert_eq!(
        (v.allowed, v.policies.as_slice()),
        (false, &["s.cedar#1".to_owned()][..])
    );
    let v = eval(&b, ActionClass::CodeRead, "z", "/", &ctx);
    assert_eq!(v.policies, ["s.cedar#2"]);
}

/// CED-12: policies pinned to one agent are only evaluated for that agent,
/// with the same verdicts and determining policies as evaluating them all.
#[test]
fn ced_12_principal_pinned_policies_apply_only_to_their_agent() {
    let text = r#"
@id("a-reads")
permit (principal == Firma::Agent::"agt_a", action == Firma::Action::"code.read", resource);
@id("b-reads")
permit (principal == Firma::Agent::"agt_b", action == Firma::Action::"code.read", resource);
@id("b-no-secrets")
forbid (principal == Firma::Agent::"agt_b", action, resource) when { resource.path like "/secret*" };
@id("everyone-docs")
permit (principal, action == Firma::Action::"code.read", resource) when { resource.path like "/docs*" };
"#;
    let bundle = Bundle::compile(
        &[PolicySource {
            name: "p.cedar",
            text,
        }],
        None,
    )
    .unwrap();
    assert_eq!(bundle.policies_for(ActionClass::CodeRead), 4);
    let ctx = PolicyContext::default();
    let eval = |agent: &str, path: &str| {
        let v = bundle
            .evaluate(&PolicyRequest {
                principal: agent,
                action: ActionClass::CodeRead,
                resource: ResourceAttrs {
                    host: "api.github.com",
                    path,
                    provider: None,
                },
                context: &ctx,
            })
            .unwrap();
        (v.allowed, v.policies)
    };
    assert_eq!(eval("agt_a", "/repo"), (true, vec!["a-reads".to_owned()]));
    assert_eq!(eval("agt_b", "/repo"), (true, vec!["b-reads".to_owned()]));
    assert_eq!(eval("agt_c", "/repo"), (false, vec![]));
    assert_eq!(
        eval("agt_c", "/docs/x"),
        (true, vec!["everyone-docs".to_owned()])
    );
    assert_eq!(
        eval("agt_b", "/secret/x"),
        (false, vec!["b-no-secrets".to_owned()])
    );
    assert_eq!(
        eval("agt_a", "/secret/x"),
        (true, vec!["a-reads".to_owned()])
    );
}
