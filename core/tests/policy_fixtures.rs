//! The shipped Cedar files and `policy test` fixtures, checked through the core API
//! (spec `CED-2`, `CED-6`, `CED-9`, `CED-16`).
#![allow(clippy::disallowed_methods)] // tests read the fixture files from disk

use std::fs;
use std::path::{Path, PathBuf};

use firma_core::policy::fixture::PolicyFixture;
use firma_core::policy::{BUILTIN_SCHEMA, Bundle, PolicySource, validate_source};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/policy-test")
}

fn with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Compile the bundle directory like the shell does.
fn load(bundle: &Path) -> Bundle {
    let files: Vec<(String, String)> = with_ext(bundle, "cedar")
        .iter()
        .map(|p| (name(p), fs::read_to_string(p).unwrap()))
        .collect();
    let schema = with_ext(bundle, "cedarschema")
        .first()
        .map(|p| (name(p), fs::read_to_string(p).unwrap()));
    let srcs: Vec<PolicySource<'_>> = files
        .iter()
        .map(|(n, t)| PolicySource { name: n, text: t })
        .collect();
    let schema = schema
        .as_ref()
        .map(|(n, t)| PolicySource { name: n, text: t });
    Bundle::compile(&srcs, schema).unwrap_or_else(|e| panic!("{}: {e}", bundle.display()))
}

// CED-9: every shipped policy validates, except the deliberately bad ones.
#[test]
fn every_shipped_cedar_file_validates() {
    let mut files = with_ext(&dir(), "cedar");
    for entry in fs::read_dir(dir()).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files.extend(with_ext(&p, "cedar"));
        }
    }
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo/policies");
    files.extend(with_ext(&demo, "cedar"));
    assert!(files.len() >= 5, "{files:?}");
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        let n = name(&f);
        let result = validate_source(
            &PolicySource {
                name: &n,
                text: &text,
            },
            None,
        );
        if n.starts_with("bad") {
            let diags = result.expect_err(&n);
            assert!(diags.iter().all(|d| d.file == n && d.line > 1), "{diags:?}");
        } else {
            let count = result.unwrap_or_else(|d| panic!("{}: {d:?}", f.display()));
            assert!(count > 0, "{}", f.display());
        }
    }
}

// CED-16, CED-17: every shipped fixture parses and passes against its bundle.
#[test]
fn every_shipped_fixture_passes() {
    let fixtures = with_ext(&dir(), "toml");
    assert!(fixtures.len() >= 6);
    for f in fixtures {
        let text = fs::read_to_string(&f).unwrap();
        let fx = PolicyFixture::parse(&name(&f), &text).unwrap();
        let bundle = load(&dir().join(&fx.bundle_path));
        let ctx = fx.context(1_767_225_600_000);
        let verdict = bundle.evaluate(&fx.request(&ctx)).unwrap();
        assert!(fx.passes(&verdict), "{}: {verdict:?}", f.display());
        assert!(verdict.errors.is_empty(), "{verdict:?}");
    }
}

// CED-2: the seed bundle carries the demo schema, identical to the built-in one.
#[test]
fn seed_bundle_schema_is_the_builtin_one() {
    let text = fs::read_to_string(dir().join("bundle/schema.cedarschema")).unwrap();
    assert_eq!(text, BUILTIN_SCHEMA);
}
