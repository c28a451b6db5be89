//! Test harness shared by the `sidecar_*` black-box tests (spec `SDC-*`).
//!
//! Everything runs on loopback: a recording HTTP upstream and a TCP echo
//! server started inside the test, the real `firma` binary as a child process
//! (killed with SIGKILL when dropped), and real clients (`curl`, Python, raw
//! sockets). Every wait is bounded.

#![allow(dead_code, unused_imports)]

pub mod audit;
pub mod authority;
pub mod client;
pub mod sidecar;
pub mod tls;
pub mod upstream;

use std::path::{Path, PathBuf};

pub use audit::{AuditLog, field};
pub use client::{Conn, HttpResponse, curl, python, raw_exchange};
pub use sidecar::{Config, Mitm, Sidecar, StartFailure, Workspace};
pub use upstream::{Behavior, Echo, Upstream, closed_port};

/// The directory of checked-in fixtures (`<repo>/fixtures`).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// The seed 000 mapping rules (step 3), verbatim.
pub const SEED000_MAPPING: &str = r#"# Map the calls we want to enforce on. Anything not listed here will
# be PASSTHROUGH because we set default_protected = false in the
# sidecar config below — convenient for first-touch experimentation.

[[rules]]
method = "GET"
host = "wttr.in"
path = "*"
action_class = "communication.external.send"

[[rules]]
method = "POST"
host = "paste.rs"
path = "*"
action_class = "communication.external.send"
"#;

/// The seed 000 Cedar policy (step 4), verbatim.
pub const SEED000_POLICY: &str = r#"// Permit weather lookups; forbid pastes. A minimal demonstration policy.

permit (
  principal,
  action == Firma::Action::"communication.external.send",
  resource
) when {
  context.risk_score < 80
};

forbid (
  principal,
  action == Firma::Action::"communication.external.send",
  resource == Firma::Resource::"paste.rs/"
);
"#;

/// A policy that permits everything.
pub const PERMIT_ALL: &str = "permit(principal, action, resource);\n";
