//! PASETO `v4.public` verification and capability claims (spec `TOK-1`..
//! `TOK-8`). Two checks per input:
//!
//! 1. the input as a token string, verified under the TEST-ONLY Authority
//!    key: never panics, errors are one line, and a token that verifies
//!    re-signs (message and footer) to exactly the same string;
//! 2. the input as a claims payload, signed with that key and verified as a
//!    capability: never panics, errors are one line, and claims that parse
//!    serialize and parse back to themselves.
#![no_main]

use std::sync::LazyLock;

use firma_core::token::{self, Capability, Claims, PublicKey, SigningKey};
use libfuzzer_sys::fuzz_target;

static KEY: LazyLock<SigningKey> = LazyLock::new(|| {
    SigningKey::from_bytes(include_bytes!("../../fixtures/tokens/authority-test.key"))
        .expect("test key")
});
static PUBLIC: LazyLock<PublicKey> = LazyLock::new(|| {
    PublicKey::from_bytes(include_bytes!("../../fixtures/tokens/authority-test.pub"))
        .expect("test public key")
});

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match token::verify(&PUBLIC, text) {
            Ok(v) => assert_eq!(
                token::sign(&KEY, v.message(), v.footer()),
                text,
                "a verified token does not re-sign to itself"
            ),
            Err(e) => assert!(!e.to_string().contains(['\n', '\r']), "{e:?}"),
        }
    }

    let signed = token::sign(&KEY, data, b"");
    match Capability::verify(&PUBLIC, &signed) {
        Ok(cap) => {
            let again = Claims::from_json(cap.claims().to_json().as_bytes())
                .expect("serialized claims parse");
            assert_eq!(&again, cap.claims());
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.contains(['\n', '\r']), "{message:?}");
        }
    }
});
