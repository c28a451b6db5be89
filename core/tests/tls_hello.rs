//! ClientHello scanning against real captures (spec `HEL-*`): the hellos of
//! Python `ssl`, curl and `openssl s_client` in `fixtures/tls/client-hello/`
//! (see its README), cut, re-fragmented and corrupted.

use firma_core::tls::{ClientHello, HelloScan, MAX_CLIENT_HELLO, scan_client_hello, sni_matches};
use proptest::prelude::*;

/// A captured hello, the SNI and the ALPN names it carries.
struct Fixture {
    name: &'static str,
    bytes: &'static [u8],
    sni: Option<&'static str>,
    alpn: &'static [&'static str],
}

macro_rules! fixture {
    ($file:literal, $sni:expr, $alpn:expr) => {
        Fixture {
            name: $file,
            bytes: include_bytes!(concat!("../../fixtures/tls/client-hello/", $file)),
            sni: $sni,
            alpn: $alpn,
        }
    };
}

const H2: &[&str] = &["h2", "http/1.1"];

fn fixtures() -> Vec<Fixture> {
    vec![
        fixture!("python-example-com-h2.bin", Some("example.com"), H2),
        fixture!("python-mixed-case-no-alpn.bin", Some("api.openai.com"), &[]),
        fixture!("python-ip-literal-no-sni.bin", None, &["http/1.1"]),
        fixture!("curl-api-openai-com.bin", Some("api.openai.com"), H2),
        fixture!(
            "curl-http11-tls12-wttr-in.bin",
            Some("wttr.in"),
            &["http/1.1"]
        ),
        fixture!("openssl-s-client-paste-rs.bin", Some("paste.rs"), H2),
        fixture!(
            "openssl-s-client-two-records.bin",
            Some("frag.example.org"),
            &[]
        ),
        fixture!("openssl-s-client-tls12-no-sni.bin", None, &[]),
    ]
}

/// The 40 extra names `capture.py` offers in `openssl-s-client-two-records`.
fn two_records_alpn() -> Vec<Vec<u8>> {
    let mut names = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    names.extend((0..40).map(|i| format!("x-proto-{i:03}").into_bytes()));
    names
}

fn complete(buf: &[u8]) -> ClientHello {
    match scan_client_hello(buf) {
        HelloScan::Complete(h) => h,
        other => panic!("expected Complete, got {other:?}"),
    }
}

/// The handshake message (header included) carried by the records of `buf`.
fn message(buf: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        out.extend_from_slice(&rest[5..5 + len]);
        rest = &rest[5 + len..];
    }
    out
}

/// `message` in handshake records whose payload sizes cycle through `sizes`.
fn refragment(message: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = message;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((*size).clamp(1, 1 << 14).min(rest.len()));
        out.extend([22, 3, 3]);
        out.extend(u16::try_from(chunk.len()).unwrap().to_be_bytes());
        out.extend_from_slice(chunk);
        rest = tail;
    }
    out
}

/// HEL-3, HEL-6, HEL-8: every capture parses with the SNI and ALPN its
/// client was asked to send; the two-record capture is reassembled.
#[test]
fn hel_3_6_8_real_client_hellos_parse() {
    for f in fixtures() {
        let hello = complete(f.bytes);
        assert_eq!(hello.server_name.as_deref(), f.sni, "{}", f.name);
        let alpn: Vec<Vec<u8>> = if f.name.contains("two-records") {
            two_records_alpn()
        } else {
            f.alpn.iter().map(|a| a.as_bytes().to_vec()).collect()
        };
        assert_eq!(hello.alpn, alpn, "{}", f.name);
        assert_eq!(hello.record_bytes, f.bytes.len(), "{}", f.name);
    }
    let two = fixtures()
        .into_iter()
        .find(|f| f.name.contains("two-records"))
        .unwrap();
    assert_eq!(two.bytes[3..5], [2, 0], "first record is 512 bytes");
    assert!(two.bytes.len() > 512 + 10);
}

/// HEL-7: each capture agrees with its own CONNECT host and not another.
#[test]
fn hel_7_captures_match_their_connect_host() {
    for f in fixtures() {
        let hello = complete(f.bytes);
        let sni = hello.server_name.as_deref();
        if let Some(host) = f.sni {
            assert!(sni_matches(&host.to_uppercase(), sni), "{}", f.name);
            assert!(sni_matches(&format!("{host}."), sni), "{}", f.name);
            assert!(!sni_matches("other.example", sni), "{}", f.name);
        } else {
            assert!(sni_matches("127.0.0.1", sni), "{}", f.name);
        }
    }
}

/// HEL-3: every strict prefix of a capture (a hello split across reads) is
/// NeedMore; bytes after the hello do not change the answer.
#[test]
fn hel_3_every_strict_prefix_needs_more() {
    for f in fixtures() {
        for cut in 0..f.bytes.len() {
            assert_eq!(
                scan_client_hello(&f.bytes[..cut]),
                HelloScan::NeedMore,
                "{} cut at {cut}",
                f.name
            );
        }
        let mut longer = f.bytes.to_vec();
        longer.extend([20, 3, 3, 0, 1, 1, 23, 3, 3]);
        assert_eq!(complete(&longer), complete(f.bytes), "{}", f.name);
    }
}

/// HEL-3: re-fragmenting a capture into records of every size gives the
/// same hello.
#[test]
fn hel_3_every_record_size_gives_the_same_hello() {
    for f in fixtures() {
        let expected = complete(f.bytes);
        let msg = message(f.bytes);
        for size in 1..=msg.len() {
            let buf = refragment(&msg, &[size]);
            let hello = complete(&buf);
            assert_eq!(
                hello.server_name, expected.server_name,
                "{} size {size}",
                f.name
            );
            assert_eq!(hello.alpn, expected.alpn, "{} size {size}", f.name);
            assert_eq!(hello.record_bytes, buf.len());
        }
    }
}

/// Offsets and widths of the length fields in a ClientHello body: session
/// id, cipher suites, compression, extensions block, each extension's data,
/// SNI list and name, ALPN list.
fn length_fields(body: &[u8]) -> Vec<(usize, usize)> {
    // An ALPN name length is left out: one more or less can re-slice the
    // names into another valid list.
    let u16_at = |at: usize| usize::from(u16::from_be_bytes([body[at], body[at + 1]]));
    let mut fields = Vec::new();
    let mut at = 2 + 32;
    fields.push((at, 1));
    at += 1 + usize::from(body[at]);
    fields.push((at, 2));
    at += 2 + u16_at(at);
    fields.push((at, 1));
    at += 1 + usize::from(body[at]);
    if at == body.len() {
        return fields;
    }
    fields.push((at, 2));
    at += 2;
    while at < body.len() {
        let ty = u16_at(at);
        let len = u16_at(at + 2);
        fields.push((at + 2, 2));
        let data = at + 4;
        if ty == 0 {
            fields.push((data, 2));
            fields.push((data + 3, 2));
        }
        if ty == 16 {
            fields.push((data, 2));
        }
        at = data + len;
    }
    fields
}

/// HEL-5, HEL-9: a length field one more or one less than the truth makes the
/// hello Malformed (a record or handshake length one more: NeedMore); a
/// flipped top bit never panics nor yields a hello.
#[test]
fn hel_5_9_corrupted_lengths_are_malformed() {
    for f in fixtures() {
        let msg = message(f.bytes);
        let single = refragment(&msg, &[1 << 14]);
        let body_at = 5 + 4;
        let mut checked = 0;
        for (offset, width) in length_fields(&msg[4..]) {
            let low = body_at + offset + width - 1;
            for delta in [1u8, 255] {
                let mut buf = single.clone();
                buf[low] = buf[low].wrapping_add(delta);
                let result = scan_client_hello(&buf);
                assert!(
                    matches!(result, HelloScan::Malformed(_)),
                    "{}: length at body offset {offset} {delta:+}: {result:?}",
                    f.name
                );
                checked += 1;
            }
            let mut buf = single.clone();
            buf[body_at + offset] ^= 0x80;
            assert!(
                !matches!(scan_client_hello(&buf), HelloScan::Complete(_)),
                "{} offset {offset}",
                f.name
            );
        }
        assert!(checked >= 10, "{}: only {checked} mutations", f.name);
        // Record length (bytes 3..5) and handshake length (bytes 6..9),
        // changed as whole numbers.
        let record_len = u32::from(u16::from_be_bytes([single[3], single[4]]));
        let message_len = u32::from_be_bytes([0, single[6], single[7], single[8]]);
        for (range, value) in [(3..5, record_len), (6..9, message_len)] {
            let set = |v: u32| {
                let mut buf = single.clone();
                let width = range.len();
                buf[range.clone()].copy_from_slice(&v.to_be_bytes()[4 - width..]);
                buf
            };
            let longer = scan_client_hello(&set(value + 1));
            assert_eq!(longer, HelloScan::NeedMore, "{} {range:?} +1", f.name);
            let shorter = scan_client_hello(&set(value - 1));
            assert!(
                matches!(shorter, HelloScan::Malformed(_)),
                "{} {range:?} -1: {shorter:?}",
                f.name
            );
        }
    }
}

/// HEL-9: flipping any single byte of a capture never panics, and anything
/// still Complete keeps the invariants.
#[test]
fn hel_9_single_byte_corruption_never_panics() {
    for f in fixtures() {
        for at in 0..f.bytes.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut buf = f.bytes.to_vec();
                buf[at] ^= mask;
                check_invariants(&buf);
            }
        }
    }
}

/// Properties every answer must have (HEL-3, HEL-4, HEL-6, HEL-9).
fn check_invariants(buf: &[u8]) {
    match scan_client_hello(buf) {
        HelloScan::NeedMore => assert!(buf.len() < MAX_CLIENT_HELLO),
        HelloScan::NotTls => assert!(!buf.is_empty()),
        HelloScan::Malformed(e) => {
            let text = e.to_string();
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert!(!text.ends_with('.'), "{text}");
        }
        HelloScan::Complete(hello) => {
            assert!(hello.record_bytes <= buf.len());
            if let Some(sni) = &hello.server_name {
                assert_eq!(sni, &sni.to_ascii_lowercase());
                assert!(!sni.is_empty() && !sni.ends_with('.'));
            }
            assert!(hello.alpn.iter().all(|a| !a.is_empty()));
            assert_eq!(
                scan_client_hello(&buf[..hello.record_bytes]),
                HelloScan::Complete(hello.clone())
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// HEL-3: any record sizes, any read boundaries: NeedMore until the last
    /// record is whole, then the capture's hello.
    #[test]
    fn hel_3_any_fragmentation_and_reads(
        which in 0usize..8,
        sizes in prop::collection::vec(1usize..700, 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let f = &fixtures()[which];
        let expected = complete(f.bytes);
        let buf = refragment(&message(f.bytes), &sizes);
        let hello = complete(&buf);
        prop_assert_eq!(&hello.server_name, &expected.server_name);
        prop_assert_eq!(&hello.alpn, &expected.alpn);
        prop_assert_eq!(hello.record_bytes, buf.len());
        let cut = cut.index(buf.len());
        prop_assert_eq!(scan_client_hello(&buf[..cut]), HelloScan::NeedMore);
    }

    /// HEL-9: arbitrary bytes, and captures with arbitrary byte edits, never
    /// panic and keep the invariants.
    #[test]
    fn hel_9_arbitrary_input(
        which in 0usize..8,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        noise in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        check_invariants(&noise);
        let mut tls = vec![22, 3, 1];
        tls.extend(&noise);
        check_invariants(&tls);
        let mut buf = fixtures()[which].bytes.to_vec();
        for (at, byte) in edits {
            let i = at.index(buf.len());
            buf[i] = byte;
        }
        check_invariants(&buf);
    }
}
