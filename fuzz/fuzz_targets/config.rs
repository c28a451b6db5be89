//! `firma.toml` parser (spec `CFG-*`): any text either parses or yields one
//! error whose message is a single line starting with the file name.
#![no_main]

use std::path::Path;

use firma_core::config::Config;
use libfuzzer_sys::fuzz_target;

const FILE: &str = "/project/firma.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::parse(Path::new(FILE), text) {
        let message = e.to_string();
        assert!(
            !message.contains(['\n', '\r']),
            "config error is not one line: {message:?}"
        );
        assert!(
            message.starts_with(FILE),
            "config error does not name the file: {message:?}"
        );
    }
});
