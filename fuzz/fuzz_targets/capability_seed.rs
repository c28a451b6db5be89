//! Capability seed files (spec `TOK-9`..`TOK-11`): any text either loads
//! under the TEST-ONLY Authority key or yields one error, a single line that
//! starts with the file name. A loaded seed written back loads to the same
//! seed.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use firma_core::token::{PublicKey, Seed};
use libfuzzer_sys::fuzz_target;

const FILE: &str = "/project/capabilities/agent.toml";

static PUBLIC: LazyLock<PublicKey> = LazyLock::new(|| {
    PublicKey::from_bytes(include_bytes!("../../fixtures/tokens/authority-test.pub"))
        .expect("test public key")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Seed::parse(Path::new(FILE), text, &PUBLIC) {
        Ok(seed) => {
            let again = Seed::parse(Path::new(FILE), &seed.to_toml(), &PUBLIC)
                .expect("a written seed loads");
            assert_eq!(again.capability, seed.capability);
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                !message.contains(['\n', '\r']),
                "seed error is not one line: {message:?}"
            );
            assert!(
                message.starts_with(FILE),
                "seed error does not name the file: {message:?}"
            );
        }
    }
});
