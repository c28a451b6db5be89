//! `firma policy validate|test|schema` through the real binary (spec `CED-15`..`CED-17`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Run `firma <args>` from the workspace root.
fn firma(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_firma"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run firma")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("firma-policy-cli-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn redact(s: &str, dir: &Path) -> String {
    s.replace(&dir.display().to_string(), "<tmp>")
}

fn seed_bundle() -> String {
    root()
        .join("fixtures/policy-test/bundle")
        .canonicalize()
        .unwrap()
        .display()
        .to_string()
}

const FIXTURE: &str = r#"[fixture]
expected = "ALLOW"
[fixture.action]
class = "communication.external.send"
[fixture.resource]
host = "paste.rs"
[bundle]
path = "BUNDLE"
"#;

// CED-15
#[test]
fn validate_good_file() {
    let o = firma(&["policy", "validate", "fixtures/policy-test/good.cedar"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "ok: fixtures/policy-test/good.cedar: 2 policies\n"
    );
    assert_eq!(stderr(&o), "");
}

// CED-15, CED-6
#[test]
fn validate_syntax_error() {
    let o = firma(&["policy", "validate", "fixtures/policy-test/bad.cedar"]);
    assert_eq!(code(&o), 1);
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("bad.cedar:4:3:"), "{}", stderr(&o));
    insta::assert_snapshot!("validate_syntax_error", stderr(&o));
}

// CED-15, CED-9
#[test]
fn validate_unknown_action() {
    let o = firma(&[
        "policy",
        "validate",
        "fixtures/policy-test/bad-schema.cedar",
    ]);
    assert_eq!(code(&o), 1);
    insta::assert_snapshot!("validate_unknown_action", stderr(&o));
}

// CED-15: all files are checked; one unreadable file makes the exit 2.
#[test]
fn validate_missing_file() {
    let o = firma(&[
        "policy",
        "validate",
        "fixtures/policy-test/good.cedar",
        "fixtures/policy-test/missing.cedar",
    ]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        stdout(&o),
        "ok: fixtures/policy-test/good.cedar: 2 policies\n"
    );
    insta::assert_snapshot!("validate_missing_file", stderr(&o));
}

// CED-15, CED-3, CED-10
#[test]
fn validate_with_custom_schema() {
    let dir = scratch("schema");
    let good = fs::read_to_string(root().join("spec/firma.cedarschema")).unwrap();
    fs::write(dir.join("ok.cedarschema"), &good).unwrap();
    fs::write(
        dir.join("old.cedarschema"),
        good.replace("    method: String,\n", ""),
    )
    .unwrap();
    fs::write(
        dir.join("broken.cedarschema"),
        "namespace Firma {\n  entity\n}\n",
    )
    .unwrap();
    let arg = |f: &str| dir.join(f).display().to_string();

    let o = firma(&[
        "policy",
        "validate",
        "--schema",
        &arg("ok.cedarschema"),
        "fixtures/policy-test/good.cedar",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    let o = firma(&[
        "policy",
        "validate",
        "--schema",
        &arg("old.cedarschema"),
        "fixtures/policy-test/good.cedar",
    ]);
    assert_eq!(code(&o), 2);
    insta::assert_snapshot!("validate_incompatible_schema", redact(&stderr(&o), &dir));

    let o = firma(&[
        "policy",
        "validate",
        "--schema",
        &arg("broken.cedarschema"),
        "fixtures/policy-test/good.cedar",
    ]);
    assert_eq!(code(&o), 2);
    insta::assert_snapshot!("validate_broken_schema", redact(&stderr(&o), &dir));
}

// CED-17
#[test]
fn test_fixture_directory_passes() {
    let o = firma(&["policy", "test", "fixtures/policy-test"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.ends_with("10 passed, 0 failed\n"), "{out}");
    assert!(
        out.contains("PASS fixtures/policy-test/seed_paste_denied.toml: DENY [default.cedar#1]\n")
    );
    insta::assert_snapshot!("test_fixture_directory", out);
}

// CED-17
#[test]
fn test_single_fixture_file() {
    let o = firma(&[
        "policy",
        "test",
        "fixtures/policy-test/seed_weather_allowed.toml",
    ]);
    assert_eq!(code(&o), 0);
    assert_eq!(
        stdout(&o),
        "PASS fixtures/policy-test/seed_weather_allowed.toml: ALLOW [default.cedar#0]\n1 passed, 0 failed\n"
    );
}

// CED-17: a mismatch is a failure (exit 1), the others still run.
#[test]
fn test_failing_fixture() {
    let dir = scratch("failing");
    fs::write(
        dir.join("paste.toml"),
        FIXTURE.replace("BUNDLE", &seed_bundle()),
    )
    .unwrap();
    let o = firma(&[
        "policy",
        "test",
        &dir.display().to_string(),
        "fixtures/policy-test/seed_weather_allowed.toml",
    ]);
    assert_eq!(code(&o), 1);
    insta::assert_snapshot!("test_failing_fixture", redact(&stdout(&o), &dir));
}

// CED-16: malformed fixtures are input errors (exit 2) with file:line:col.
#[test]
fn test_malformed_fixtures() {
    let dir = scratch("malformed");
    let bundle = seed_bundle();
    let ok = FIXTURE.replace("BUNDLE", &bundle);
    let cases = [
        ("a_syntax.toml", "[fixture\nexpected = 1\n".to_owned()),
        ("b_unknown_key.toml", ok.replace("host = ", "hots = ")),
        (
            "c_action_typo.toml",
            ok.replace("communication.", "communications."),
        ),
        (
            "d_context_key.toml",
            ok.replace("[bundle]", "[fixture.context]\nrisk = 1\n[bundle]"),
        ),
        (
            "e_context_type.toml",
            ok.replace(
                "[bundle]",
                "[fixture.context]\nrisk_score = \"high\"\n[bundle]",
            ),
        ),
        ("f_expected.toml", ok.replace("\"ALLOW\"", "\"PERMIT\"")),
        ("g_missing_bundle.toml", ok.replace(&bundle, "no-such-dir/")),
    ];
    for (name, text) in &cases {
        fs::write(dir.join(name), text).unwrap();
    }
    let o = firma(&["policy", "test", &dir.display().to_string()]);
    assert_eq!(code(&o), 2);
    assert_eq!(stdout(&o), "0 passed, 0 failed, 7 errors\n");
    insta::assert_snapshot!("test_malformed_fixtures", redact(&stderr(&o), &dir));
}

// CED-6, CED-8, CED-9: bundle errors name the bundle and the file with line:col.
#[test]
fn test_bundle_errors() {
    let dir = scratch("bundles");
    let make = |name: &str, files: &[(&str, &str)]| {
        let b = dir.join(name);
        fs::create_dir_all(&b).unwrap();
        for (f, text) in files {
            fs::write(b.join(f), text).unwrap();
        }
        fs::write(
            dir.join(format!("{name}.toml")),
            FIXTURE.replace("BUNDLE", &format!("{name}/")),
        )
        .unwrap();
    };
    make("a_empty", &[("notes.txt", "x")]);
    make(
        "b_dup",
        &[
            (
                "one.cedar",
                "@id(\"p\") permit(principal, action, resource);",
            ),
            (
                "two.cedar",
                "@id(\"p\") forbid(principal, action, resource);",
            ),
        ],
    );
    make(
        "c_invalid",
        &[
            ("ok.cedar", "permit(principal, action, resource);"),
            (
                "bad.cedar",
                "permit(principal, action, resource)\nwhen { resource.owner == \"x\" };",
            ),
        ],
    );
    make(
        "d_two_schemas",
        &[
            ("p.cedar", "permit(principal, action, resource);"),
            ("a.cedarschema", ""),
            ("b.cedarschema", ""),
        ],
    );
    let o = firma(&["policy", "test", &dir.display().to_string()]);
    assert_eq!(code(&o), 2);
    insta::assert_snapshot!("test_bundle_errors", redact(&stderr(&o), &dir));
}

#[test]
fn test_requires_an_argument() {
    let o = firma(&["policy", "test"]);
    assert_eq!(code(&o), 2);
    let o = firma(&["policy", "validate"]);
    assert_eq!(code(&o), 2);
}

// CED-2
#[test]
fn schema_prints_the_builtin_schema() {
    let o = firma(&["policy", "schema"]);
    assert_eq!(code(&o), 0);
    let spec = fs::read_to_string(root().join("spec/firma.cedarschema")).unwrap();
    assert_eq!(stdout(&o), spec);
}

#[test]
fn help_documents_the_subcommands() {
    let o = firma(&["policy", "--help"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    for word in ["validate", "test", "schema"] {
        assert!(out.contains(word), "{out}");
    }
    let o = firma(&["policy", "test", "--help"]);
    assert!(stdout(&o).contains("Exit status"));
}
