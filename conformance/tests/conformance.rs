//! Runs every fixture in `fixtures/conformance` as part of `cargo test`, and
//! checks that the fixtures name every spec id of the covered areas.

use std::path::PathBuf;

use firma_conformance::{COVERED_PREFIXES, SpecIds, coverage_gaps, named_ids, run_paths};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn every_fixture_passes_and_every_spec_id_is_covered() {
    let results = run_paths(&[root().join("fixtures/conformance")]);
    let spec = SpecIds::load(&root().join("spec")).expect("spec dir");
    let mut report = String::new();
    for r in results.iter().filter(|r| !r.passed()) {
        report.push_str(&format!("FAIL {} :: {}\n", r.fixture.display(), r.case));
        for f in &r.failures {
            report.push_str(&format!("    - {f}\n"));
        }
    }
    for r in &results {
        for id in r.spec.iter().filter(|id| !spec.contains(id)) {
            report.push_str(&format!(
                "{} names unknown spec id {id}\n",
                r.fixture.display()
            ));
        }
    }
    let gaps = coverage_gaps(&spec, &named_ids(&results), COVERED_PREFIXES);
    if !gaps.is_empty() {
        report.push_str(&format!(
            "spec ids named by no fixture: {}\n",
            gaps.join(", ")
        ));
    }
    let fixtures: std::collections::BTreeSet<_> = results.iter().map(|r| &r.fixture).collect();
    assert!(
        fixtures.len() >= 60,
        "only {} conformance fixtures; the issue asks for at least 60",
        fixtures.len()
    );
    assert!(report.is_empty(), "{report}");
}

#[test]
fn a_wrong_expectation_is_reported_with_a_diff() {
    let dir =
        std::env::temp_dir().join(format!("firma-conformance-selftest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("wrong.toml");
    std::fs::write(
        &file,
        r#"
spec = ["DEC-4"]
description = "self-test: expectation deliberately wrong"
[config]
default_protected = false
[[mapping]]
name = "m.toml"
text = """
[[rules]]
method = "GET"
host = "wttr.in"
action_class = "communication.external.send"
"""
[[policy]]
name = "p.cedar"
text = "permit(principal, action, resource);"
[[request]]
name = "unmapped host"
method = "GET"
target = "http://example.org/"
[request.expect]
outcome = "ALLOW"
"#,
    )
    .unwrap();
    let results = run_paths(&[file]);
    std::fs::remove_dir_all(&dir).ok();
    let failed: Vec<_> = results.iter().filter(|r| !r.passed()).collect();
    assert_eq!(failed.len(), 1, "{results:?}");
    assert_eq!(
        failed[0].failures,
        vec!["outcome: expected `ALLOW`, got `PASSTHROUGH`".to_owned()]
    );
}
