//! Shared pieces of the firma fuzz targets: the request-head input format and
//! the fixed engine, signer and sealed log the targets check against.
//!
//! Everything fixed comes from `fixtures/` at compile time, so a target
//! behaves the same on every machine.

use std::sync::{Arc, LazyLock};

use firma_core::UnixTime;
use firma_core::audit::{AuditChain, AuditVerifier, P256Signer, RecordMeta};
use firma_core::engine::{Engine, EngineConfig};
use firma_core::mapping::{RuleSet, RuleSource};
use firma_core::normalize::RawRequest;
use firma_core::policy::{Bundle, PolicySource};

/// The TEST-ONLY audit signing key (PKCS#8 PEM).
pub const TEST_KEY_PEM: &str =
    include_str!("../../fixtures/keys/TEST-ONLY-audit-p256-pkcs8.key.pem");

/// Mapping rules of the seed 000 walkthrough.
pub const SEED000_RULES: &str =
    include_str!("../../fixtures/conformance/shared/seed000-mapping-rules.toml");

/// Policy of the seed 000 walkthrough.
pub const SEED000_POLICY: &str =
    include_str!("../../fixtures/conformance/shared/seed000-policies/default.cedar");

/// Wall time used for every decision: inside the bundle TTL of [`engine`].
pub const NOW: UnixTime = UnixTime::from_secs(1_790_000_000);

/// Event id written into every sealed record.
pub const EVENT_ID: &str = "aevt_fuzz";

/// The seed 000 mapping rules and policy in policy-only mode, loaded at [`NOW`].
pub fn engine() -> &'static Engine {
    static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
        let rules = RuleSet::compile(&[RuleSource {
            name: "mapping-rules.toml",
            text: SEED000_RULES,
        }])
        .expect("seed 000 mapping rules compile");
        let bundle = Bundle::compile(
            &[PolicySource {
                name: "default.cedar",
                text: SEED000_POLICY,
            }],
            None,
        )
        .expect("seed 000 policy compiles");
        Engine::policy_only(
            EngineConfig::default(),
            Arc::new(rules),
            Arc::new(bundle),
            NOW,
        )
    });
    &ENGINE
}

/// The TEST-ONLY signer.
pub fn signer() -> &'static P256Signer {
    static SIGNER: LazyLock<P256Signer> =
        LazyLock::new(|| P256Signer::from_pem(TEST_KEY_PEM).expect("test key parses"));
    &SIGNER
}

/// The verifier of the TEST-ONLY key.
pub fn verifier() -> &'static AuditVerifier {
    static VERIFIER: LazyLock<AuditVerifier> =
        LazyLock::new(|| signer().verifier().expect("test key has a public key"));
    &VERIFIER
}

/// Metadata of every sealed record.
pub fn meta() -> RecordMeta<'static> {
    RecordMeta {
        event_id: EVENT_ID,
        timestamp: NOW,
        latency_us: 7,
    }
}

/// Request heads of the sealed log: an ALLOW, a policy DENY, a CONNECT
/// (unmapped) and a malformed request, in the [`Head::decode`] format.
pub const SEALED_HEADS: &[&[u8]] = &[
    b"GET\nhttp://wttr.in/london?format=3&token=s3cret\n\nHost: wttr.in",
    b"POST\nhttp://paste.rs/\n\nHost: paste.rs\nContent-Length: 5",
    b"CONNECT\napi.openai.com:443\n\nHost: api.openai.com:443",
    b"GET\nhttp://wttr.in@paste.rs/\n",
];

/// A log of the first `n` [`SEALED_HEADS`] decided by [`engine`] and sealed
/// from genesis with the test key; every line ends in `\n`.
pub fn sealed_log(n: usize) -> Vec<u8> {
    let mut chain = AuditChain::genesis();
    let mut log = Vec::new();
    for head in SEALED_HEADS.iter().take(n) {
        let decision = Head::decode(head).with_raw(|raw| engine().decide(raw, NOW));
        log.extend_from_slice(chain.seal(&decision, &meta(), signer()).as_bytes());
        log.push(b'\n');
    }
    log
}

/// A request head decoded from fuzz input.
///
/// Format (lines split on `\n`, invalid UTF-8 replaced): line 1 the method,
/// line 2 the request target, line 3 the MITM tunnel authority (empty or
/// absent: no tunnel), every further line one header `name:value` (the value
/// is the raw bytes after the first `:`, minus one leading space; a line
/// without `:` is a name with an empty value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Head {
    /// Method token.
    pub method: String,
    /// Request target.
    pub target: String,
    /// Tunnel authority.
    pub tunnel: Option<String>,
    /// Header fields in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// Decode fuzz input; every input is some head.
    pub fn decode(data: &[u8]) -> Head {
        let mut lines = data.split(|&b| b == b'\n');
        let text = |line: Option<&[u8]>| String::from_utf8_lossy(line.unwrap_or(b"")).into_owned();
        let method = text(lines.next());
        let target = text(lines.next());
        let tunnel = Some(text(lines.next())).filter(|t| !t.is_empty());
        let headers = lines
            .map(|line| match line.iter().position(|&b| b == b':') {
                Some(i) => {
                    let (name, value) = line.split_at(i);
                    let value = value.get(1..).unwrap_or_default();
                    let value = value.strip_prefix(b" ").unwrap_or(value);
                    (String::from_utf8_lossy(name).into_owned(), value.to_vec())
                }
                None => (String::from_utf8_lossy(line).into_owned(), Vec::new()),
            })
            .collect();
        Head {
            method,
            target,
            tunnel,
            headers,
        }
    }

    /// Encode in the [`Head::decode`] format (for seeds).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(self.method.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(self.target.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(self.tunnel.as_deref().unwrap_or("").as_bytes());
        for (name, value) in &self.headers {
            out.push(b'\n');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
        }
        out
    }

    /// Call `f` with this head as a [`RawRequest`].
    pub fn with_raw<R>(&self, f: impl FnOnce(&RawRequest<'_>) -> R) -> R {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        f(&RawRequest {
            method: &self.method,
            target: &self.target,
            headers: &headers,
            tunnel: self.tunnel.as_deref(),
        })
    }
}
