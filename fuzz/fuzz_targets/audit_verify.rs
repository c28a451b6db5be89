//! Audit-log verifier (spec `AUD-16`..`AUD-19`): any bytes yield a report
//! without panicking; the first error's message is one line and names a line
//! that exists.
#![no_main]

use firma_core::audit::verify_log;
use firma_fuzz::verifier;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = verify_log(data, verifier());
    let lines = data.split(|&b| b == b'\n').count();
    assert!(
        report.verified <= lines,
        "more records than lines: {report:?}"
    );
    if let Some(e) = &report.first_error {
        let message = e.to_string();
        assert!(
            !message.contains(['\n', '\r']),
            "verify error is not one line: {message:?}"
        );
        assert!(
            e.line >= 1 && e.line <= lines,
            "error on line {} of {lines}",
            e.line
        );
    }
});
