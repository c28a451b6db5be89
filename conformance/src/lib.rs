//! Conformance harness for `firma-core`.
//!
//! Reads scenario TOMLs from `fixtures/conformance/`, drives the real core
//! (mapping compiler, normalizer, engine, Cedar bundle, audit chain) with a
//! virtual clock, and compares every decision and audit record with the
//! expectations in the file. No sockets, no processes: the sidecar's own
//! end-to-end tests cover the I/O around the same core.

mod fixture;
mod run;
mod spec;

pub use fixture::Fixture;
pub use run::{CaseResult, named_ids, run_fixture, run_paths};
pub use spec::{SpecIds, coverage_gaps};

/// Spec prefixes whose every id must be named by at least one fixture.
pub const COVERED_PREFIXES: &[&str] = &["MAP", "NRM", "DEC", "TTL", "AUD"];
