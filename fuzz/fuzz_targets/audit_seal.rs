//! Audit records of adversarial requests (spec `AUD-1`, `AUD-10`, `AUD-11`):
//! the seed 000 engine decides a fuzzed request head (`firma_fuzz::Head`
//! format), the decision is sealed from genesis with the test key, and the
//! one-line log must verify clean with exactly one record.
#![no_main]

use firma_core::audit::{AuditChain, verify_log};
use firma_fuzz::{Head, NOW, engine, meta, signer, verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let decision = Head::decode(data).with_raw(|raw| engine().decide(raw, NOW));
    let mut chain = AuditChain::genesis();
    let mut line = chain.seal(&decision, &meta(), signer());
    assert!(!line.contains('\n'), "sealed record spans lines: {line:?}");
    line.push('\n');
    let report = verify_log(line.as_bytes(), verifier());
    assert!(
        report.is_ok() && report.verified == 1 && report.torn_tail.is_none(),
        "sealed record does not verify: {report:?}\n{line}"
    );
});
