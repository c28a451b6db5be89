//! Cedar bundle compiler (spec `CED-6`..`CED-12`): policy text (and, after a
//! NUL byte, an optional schema) compiles or fails without panicking; a
//! compiled bundle answers a few fixed requests without panicking.
#![no_main]

use firma_core::ActionClass;
use firma_core::policy::{Bundle, PolicyContext, PolicyRequest, PolicySource, ResourceAttrs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (policy, schema) = match text.split_once('\0') {
        Some((p, s)) => (p, Some(s)),
        None => (text, None),
    };
    let policies = [PolicySource {
        name: "fuzz.cedar",
        text: policy,
    }];
    let schema = schema.map(|text| PolicySource {
        name: "fuzz.cedarschema",
        text,
    });
    let Ok(bundle) = Bundle::compile(&policies, schema) else {
        return;
    };
    let context = PolicyContext::default();
    for (action, host, path, provider) in [
        (
            ActionClass::CommunicationExternalSend,
            "paste.rs",
            "/",
            None,
        ),
        (
            ActionClass::FilesystemRead,
            "api.github.com",
            "/repos/a/b",
            Some("github"),
        ),
    ] {
        let _ = bundle.evaluate(&PolicyRequest {
            principal: "anonymous",
            action,
            resource: ResourceAttrs {
                host,
                path,
                provider,
            },
            context: &context,
        });
    }
});
