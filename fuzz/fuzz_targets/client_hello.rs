//! TLS ClientHello scanner (spec `HEL-1`..`HEL-9`): any bytes give an answer
//! without panicking, and the answer is self-consistent:
//!
//! - `Complete` spans at most the input; its SNI is a lower-case DNS name
//!   without a trailing dot and its ALPN names are non-empty; re-scanning just
//!   its records gives the same hello, and shorter prefixes give `NeedMore`;
//! - `NeedMore` only below `MAX_CLIENT_HELLO` bytes; `NotTls` only when the
//!   first two bytes are not a handshake record of version 3.x;
//! - an error is one line.
//!
//! Differential check against rustls's sans-IO `Acceptor` fed the same
//! bytes: when both reach a ClientHello they agree on its SNI and ALPN, a
//! hello firma completes is never still incomplete for rustls, and a hello
//! rustls accepts is never still incomplete for firma.
#![no_main]

use firma_core::tls::{ClientHello, HelloScan, MAX_CLIENT_HELLO, scan_client_hello, sni_matches};
use libfuzzer_sys::fuzz_target;
use rustls::server::Acceptor;

/// What rustls made of the same bytes.
#[derive(Debug)]
enum Rustls {
    NeedMore,
    Hello {
        sni: Option<String>,
        alpn: Vec<Vec<u8>>,
    },
    Rejected,
}

fn rustls_scan(bytes: &[u8]) -> Rustls {
    let mut acceptor = Acceptor::default();
    let mut rest = bytes;
    loop {
        if !rest.is_empty() {
            match acceptor.read_tls(&mut rest) {
                Ok(0) => return Rustls::NeedMore,
                Ok(_) => {}
                Err(_) => return Rustls::Rejected,
            }
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                let hello = accepted.client_hello();
                return Rustls::Hello {
                    sni: hello.server_name().map(str::to_owned),
                    alpn: hello
                        .alpn()
                        .map(|names| names.map(<[u8]>::to_vec).collect())
                        .unwrap_or_default(),
                };
            }
            Ok(None) if rest.is_empty() => return Rustls::NeedMore,
            Ok(None) => {}
            Err(_) => return Rustls::Rejected,
        }
    }
}

/// A host name as compared: lower case, no trailing dot.
fn canonical(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

fn check_complete(data: &[u8], hello: &ClientHello) {
    let n = hello.record_bytes;
    assert!(
        n >= 9 && n <= data.len(),
        "record_bytes {n} of {}",
        data.len()
    );
    if let Some(sni) = &hello.server_name {
        assert!(!sni.is_empty() && !sni.ends_with('.'), "sni {sni:?}");
        assert_eq!(sni, &sni.to_ascii_lowercase(), "sni not lower case");
        assert!(
            sni.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')),
            "sni {sni:?} has a character outside a dns name"
        );
        assert!(sni_matches(&sni.to_ascii_uppercase(), Some(sni)));
    }
    assert!(hello.alpn.iter().all(|a| !a.is_empty()), "empty alpn name");
    let records = data.get(..n).unwrap_or_default();
    assert_eq!(
        scan_client_hello(records),
        HelloScan::Complete(hello.clone()),
        "re-scanning the hello's records differs"
    );
    let first = usize::from(data.first().copied().unwrap_or(0));
    for cut in [0, 1, 4, 5, 8, n / 2, first % n, n - 1] {
        let prefix = data.get(..cut).unwrap_or_default();
        assert_eq!(
            scan_client_hello(prefix),
            HelloScan::NeedMore,
            "prefix of {cut} bytes"
        );
    }
    match rustls_scan(records) {
        Rustls::Hello { sni, alpn } => {
            assert_eq!(
                hello.server_name,
                sni.as_deref().map(canonical),
                "sni differs from rustls"
            );
            assert_eq!(hello.alpn, alpn, "alpn differs from rustls");
        }
        Rustls::NeedMore => panic!("rustls needs more bytes for a complete hello"),
        Rustls::Rejected => {}
    }
}

fuzz_target!(|data: &[u8]| {
    match scan_client_hello(data) {
        HelloScan::Complete(hello) => check_complete(data, &hello),
        HelloScan::NeedMore => {
            assert!(
                data.len() < MAX_CLIENT_HELLO,
                "NeedMore at {} bytes",
                data.len()
            );
            if let Rustls::Hello { sni, .. } = rustls_scan(data) {
                panic!("rustls accepted a hello (sni {sni:?}) firma still waits for");
            }
        }
        HelloScan::NotTls => {
            let handshake_v3 = data.first() == Some(&22) && data.get(1).is_none_or(|&v| v == 3);
            assert!(!handshake_v3, "NotTls for a handshake record");
        }
        HelloScan::Malformed(e) => {
            let message = e.to_string();
            assert!(
                !message.chars().any(char::is_control) && !message.ends_with('.'),
                "error is not one clean line: {message:?}"
            );
        }
    }
});
