//! `firma policy test` fixture parser (spec `CED-16`): any text parses or
//! yields a one-line error; a parsed fixture's request evaluates against the
//! seed 000 bundle without panicking.
#![no_main]

use firma_core::policy::fixture::PolicyFixture;
use firma_fuzz::{NOW, engine};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match PolicyFixture::parse("fixture.toml", text) {
        Err(e) => {
            let message = e.to_string();
            assert!(
                !message.contains(['\n', '\r']),
                "fixture error is not one line: {message:?}"
            );
        }
        Ok(fixture) => {
            let now_ms = i64::try_from(NOW.as_millis()).unwrap_or(i64::MAX);
            let context = fixture.context(now_ms);
            if let Some(bundle) = engine().bundle()
                && let Ok(verdict) = bundle.evaluate(&fixture.request(&context))
            {
                let _ = fixture.passes(&verdict);
            }
        }
    }
});
