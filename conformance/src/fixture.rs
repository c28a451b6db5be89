//! The conformance fixture format (see `fixtures/conformance/README.md`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// One scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Spec ids the scenario proves.
    pub spec: Vec<String>,
    /// One-line description.
    pub description: String,
    /// Bundle load time and default request time (RFC 3339).
    pub clock: Option<String>,
    /// Engine settings.
    #[serde(default)]
    pub config: FixtureConfig,
    /// Audit signing key form: `pkcs8` (default) or `sec1`.
    pub audit_key: Option<String>,
    /// Mapping-rule files in `rules_path`, `rules_paths` order.
    #[serde(default)]
    pub mapping: Vec<FileEntry>,
    /// Cedar files or directories.
    #[serde(default)]
    pub policy: Vec<FileEntry>,
    /// Optional custom Cedar schema.
    pub schema: Option<FileEntry>,
    /// Set when loading must fail.
    pub expect_load: Option<ExpectLoad>,
    /// Requests, decided in order against one engine and one audit chain.
    #[serde(default)]
    pub request: Vec<RequestCase>,
    /// Tampering applied to the produced audit log, each checked separately.
    #[serde(default)]
    pub tamper: Vec<Tamper>,
}

/// `[config]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureConfig {
    /// `default_protected`, default true.
    pub default_protected: Option<bool>,
    /// `bundle_ttl_seconds`, default 3600.
    pub bundle_ttl_seconds: Option<u64>,
    /// `enforcement_timeout_ms`, default 50.
    pub enforcement_timeout_ms: Option<u64>,
    /// Protected endpoints (`host:port`), DEC-15.
    #[serde(default)]
    pub protected_endpoints: Vec<String>,
}

/// A file given inline (`text`) or by `path` relative to the fixture.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Name used in messages and ids; defaults to the path's file name.
    pub name: Option<String>,
    /// Inline contents.
    pub text: Option<String>,
    /// File (or, for policies, directory) relative to the fixture.
    pub path: Option<String>,
}

/// `[expect_load]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectLoad {
    /// `mapping` or `policy`.
    pub stage: String,
    /// Substrings the error message must contain.
    #[serde(default)]
    pub error_contains: Vec<String>,
}

/// `[[request]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestCase {
    /// Case name.
    pub name: String,
    /// Method as sent.
    pub method: String,
    /// Request target as sent.
    pub target: String,
    /// Header fields; a `Host` is added from the target when absent.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Set to false to send no Host header at all.
    pub add_host: Option<bool>,
    /// CONNECT authority of the enclosing MITM tunnel.
    pub tunnel: Option<String>,
    /// `+Ns`, `+Nms` offset from `clock`, or RFC 3339.
    pub at: Option<String>,
    /// Simulated enforcement time in ms.
    pub elapsed_ms: Option<u64>,
    /// Simulate a restart before this request: the audit chain is resumed from
    /// the last line written so far.
    #[serde(default)]
    pub restart: bool,
    /// Re-deliver the policy bundle at this request's time before deciding.
    #[serde(default)]
    pub reload_bundle: bool,
    /// Simulated upstream result for forwarded calls: `ok` (default),
    /// `unreachable` or `timeout`.
    pub dispatch: Option<String>,
    /// Expectations.
    #[serde(default)]
    pub expect: Expect,
}

/// `[request.expect]`; absent keys are not checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `ALLOW`, `DENY`, `PASSTHROUGH`, `ABORT`.
    pub outcome: Option<String>,
    /// Reason code; `""` asserts none.
    pub reason: Option<String>,
    /// Stage name.
    pub stage: Option<String>,
    /// Action class; `""` asserts none.
    pub action_class: Option<String>,
    /// Cedar resource id; `""` asserts none.
    pub resource: Option<String>,
    /// Determining policy ids.
    pub matched_policies: Option<Vec<String>>,
    /// Substring of the detail.
    pub detail_contains: Option<String>,
    /// Mapping rule `file#index`; `""` asserts none.
    pub rule: Option<String>,
    /// HTTP status answered by the sidecar itself (403/502/504); 0 asserts none.
    pub status: Option<u16>,
    /// Exact JSON body answered by the sidecar itself.
    pub body: Option<String>,
    /// Audit JSON paths that must be null.
    #[serde(default)]
    pub audit_null: Vec<String>,
    /// Audit JSON path → expected value.
    #[serde(default)]
    pub audit: BTreeMap<String, toml::Value>,
}

/// `[[tamper]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tamper {
    /// `flip_byte`, `drop_line`, `swap_lines`, `insert_copy`, `truncate_tail`, `append_garbage`.
    pub action: String,
    /// 1-based line the action applies to.
    pub line: usize,
    /// Byte offset within the line for `flip_byte` (default: middle of the line).
    pub offset: Option<usize>,
    /// What verification must report.
    pub expect: TamperExpect,
}

/// `[tamper.expect]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TamperExpect {
    /// First bad line, 1-based; absent when verification must succeed.
    pub line: Option<usize>,
    /// Verify error kind (`bad_signature`, `broken_chain`, …) or `torn_tail`.
    pub kind: String,
}
