//! Regression tests for inputs the fuzz targets in `fuzz/` found. Each test
//! names the target and the property it broke; see `fuzz/README.md`.

use firma_core::audit::{AuditVerifier, VerifyErrorKind, verify_log};

const TEST_KEY: &str = include_str!("../../fixtures/keys/TEST-ONLY-audit-p256-pkcs8.key.pem");

fn verifier() -> AuditVerifier {
    AuditVerifier::from_pem(TEST_KEY).expect("test key parses")
}

/// `audit_verify`: a record key whose name holds a (JSON-escaped) newline was
/// echoed raw, so the verification error spanned two lines (AUD-16; error
/// messages are one line).
#[test]
fn unknown_key_with_a_newline_is_reported_on_one_line() {
    for log in [&b"{\"ag\\nt_id\":null}\n"[..], b"{\"\\u0007\":1}\n"] {
        let report = verify_log(log, &verifier());
        let error = report.first_error.expect("an unknown key is an error");
        assert_eq!(error.kind, VerifyErrorKind::UnknownKey);
        let message = error.to_string();
        assert!(
            !message.chars().any(char::is_control),
            "not one clean line: {message:?}"
        );
    }
}
