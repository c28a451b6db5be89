//! `conformance [--spec DIR] [PATH…]`: run conformance fixtures against
//! firma-core, print a diff for each failing case and end with
//! `N passed, M failed`. Exit 1 on any failure or spec-coverage gap.

use std::path::PathBuf;
use std::process::ExitCode;

use firma_conformance::{COVERED_PREFIXES, SpecIds, coverage_gaps, named_ids, run_paths};

fn main() -> ExitCode {
    let mut spec_dir = PathBuf::from("spec");
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--spec" => match args.next() {
                Some(d) => spec_dir = PathBuf::from(d),
                None => {
                    eprintln!("error: --spec needs a directory");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!(
                    "usage: conformance [--spec DIR] [PATH...]\n\nRuns fixture TOMLs (default: fixtures/conformance) against firma-core."
                );
                return ExitCode::SUCCESS;
            }
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if paths.is_empty() {
        paths.push(PathBuf::from("fixtures/conformance"));
    }
    let results = run_paths(&paths);
    let spec = match SpecIds::load(&spec_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "error: cannot read spec directory `{}`: {e}",
                spec_dir.display()
            );
            return ExitCode::from(2);
        }
    };
    let mut passed = 0usize;
    let mut failed = 0usize;
    for r in &results {
        let unknown: Vec<&String> = r.spec.iter().filter(|id| !spec.contains(id)).collect();
        if r.passed() && unknown.is_empty() {
            passed += 1;
            continue;
        }
        failed += 1;
        println!("FAIL {} :: {}", r.fixture.display(), r.case);
        for f in &r.failures {
            println!("    - {f}");
        }
        for id in unknown {
            println!("    - names unknown spec id `{id}`");
        }
    }
    let fixtures: std::collections::BTreeSet<_> =
        results.iter().map(|r| r.fixture.clone()).collect();
    let gaps = coverage_gaps(&spec, &named_ids(&results), COVERED_PREFIXES);
    if !gaps.is_empty() {
        println!("spec ids named by no fixture: {}", gaps.join(", "));
    }
    println!("{} fixtures, {} cases", fixtures.len(), results.len());
    println!("{passed} passed, {failed} failed");
    if failed == 0 && gaps.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
