//! Request-head and CONNECT normalization (spec `NRM-*`) and the engine
//! behind it (spec `DEC-1`).
//!
//! Input: a request head in the `firma_fuzz::Head` format. Properties:
//! a malformed detail is one line without control characters (NRM-18); a
//! normalized intent normalizes to itself when its request is rebuilt from
//! the intent (NRM-17); the seed 000 engine takes exactly one decision that
//! carries the same intent, or denies `MalformedRequest` with the same detail.
#![no_main]

use firma_core::normalize::{Intent, RawRequest, normalize};
use firma_core::{Outcome, ReasonCode};
use firma_fuzz::{EVENT_ID, Head, NOW, engine};
use libfuzzer_sys::fuzz_target;

/// The request an intent describes (NRM-17).
fn renormalize(intent: &Intent) -> Result<Intent, firma_core::normalize::Malformed> {
    let (target, host) = if intent.connect {
        let hp = format!("{}:{}", intent.host, intent.port);
        (hp.clone(), hp)
    } else {
        (
            format!(
                "{}://{}{}",
                intent.scheme.as_str(),
                intent.authority,
                intent.forward_target
            ),
            intent.authority.clone(),
        )
    };
    normalize(&RawRequest {
        method: &intent.method,
        target: &target,
        headers: &[("Host", host.as_bytes())],
        tunnel: None,
    })
}

fuzz_target!(|data: &[u8]| {
    let head = Head::decode(data);
    head.with_raw(|raw| {
        let normalized = normalize(raw);
        match &normalized {
            Err(m) => assert!(
                !m.detail.chars().any(char::is_control),
                "NRM-18: malformed detail is not one clean line: {:?}",
                m.detail
            ),
            Ok(intent) => {
                let again = renormalize(intent);
                assert_eq!(again.as_ref(), Ok(intent), "NRM-17: not idempotent");
            }
        }
        let decision = engine().decide(raw, NOW);
        match normalized {
            Err(m) => {
                assert_eq!(decision.outcome, Outcome::Deny);
                assert_eq!(decision.reason, Some(ReasonCode::MalformedRequest));
                assert_eq!(decision.detail, m.detail);
                assert!(decision.intent.is_none());
            }
            Ok(intent) => assert_eq!(decision.intent.as_ref(), Some(&intent)),
        }
        let _ = decision.response_status();
        let _ = decision.response_body(EVENT_ID);
    });
});
