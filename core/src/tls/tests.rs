//! Unit tests on hand-built ClientHellos; each names the `HEL-*` id it
//! proves. Real captures are tested in `core/tests/tls_hello.rs`.

use super::*;

/// A ClientHello body built field by field.
#[derive(Clone)]
struct Body {
    version: u16,
    session_id: Vec<u8>,
    suites: Vec<u8>,
    compression: Vec<u8>,
    extensions: Option<Vec<(u16, Vec<u8>)>>,
}

impl Default for Body {
    fn default() -> Self {
        Body {
            version: 0x0303,
            session_id: vec![7; 32],
            suites: vec![0x13, 0x01, 0x13, 0x02],
            compression: vec![0],
            extensions: Some(vec![
                (0, sni(&[(0, b"Example.COM.")])),
                (16, alpn(&[b"h2", b"http/1.1"])),
                (43, vec![2, 3, 4]),
            ]),
        }
    }
}

fn u16_prefixed(bytes: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

fn sni(entries: &[(u8, &[u8])]) -> Vec<u8> {
    let mut list = Vec::new();
    for (ty, name) in entries {
        list.push(*ty);
        list.extend(u16_prefixed(name));
    }
    u16_prefixed(&list)
}

fn alpn(names: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for name in names {
        list.push(u8::try_from(name.len()).unwrap());
        list.extend_from_slice(name);
    }
    u16_prefixed(&list)
}

impl Body {
    fn encode(&self) -> Vec<u8> {
        let mut out = self.version.to_be_bytes().to_vec();
        out.extend([0xab; 32]);
        out.push(u8::try_from(self.session_id.len()).unwrap());
        out.extend(&self.session_id);
        out.extend(u16_prefixed(&self.suites));
        out.push(u8::try_from(self.compression.len()).unwrap());
        out.extend(&self.compression);
        if let Some(exts) = &self.extensions {
            let mut block = Vec::new();
            for (ty, data) in exts {
                block.extend(ty.to_be_bytes());
                block.extend(u16_prefixed(data));
            }
            out.extend(u16_prefixed(&block));
        }
        out
    }

    fn with_ext(mut self, ty: u16, data: Vec<u8>) -> Self {
        self.extensions = Some(vec![(ty, data)]);
        self
    }
}

/// Wrap a body in a client_hello handshake header.
fn message(body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).unwrap().to_be_bytes();
    let mut out = vec![1, len[1], len[2], len[3]];
    out.extend_from_slice(body);
    out
}

/// Wrap a handshake message in handshake records of at most `size` bytes.
fn records(message: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in message.chunks(size) {
        out.extend([22, 3, 1]);
        out.extend(u16_prefixed(chunk));
    }
    out
}

fn wire(body: &Body) -> Vec<u8> {
    records(&message(&body.encode()), 1 << 14)
}

fn malformed(buf: &[u8]) -> HelloError {
    match scan_client_hello(buf) {
        HelloScan::Malformed(e) => e,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

fn complete(buf: &[u8]) -> ClientHello {
    match scan_client_hello(buf) {
        HelloScan::Complete(h) => h,
        other => panic!("expected Complete, got {other:?}"),
    }
}

#[test]
fn hel_3_default_hello_parses() {
    let buf = wire(&Body::default());
    let hello = complete(&buf);
    assert_eq!(hello.server_name.as_deref(), Some("example.com"));
    assert_eq!(hello.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    assert_eq!(hello.record_bytes, buf.len());
}

#[test]
fn hel_1_not_tls_decided_early() {
    assert_eq!(scan_client_hello(b""), HelloScan::NeedMore);
    assert_eq!(scan_client_hello(b"G"), HelloScan::NotTls);
    assert_eq!(scan_client_hello(b"GET / HTTP/1.1\r\n"), HelloScan::NotTls);
    // SSLv2-compatible hello, alert and application data records.
    assert_eq!(scan_client_hello(&[0x80, 0x2e, 1]), HelloScan::NotTls);
    assert_eq!(scan_client_hello(&[21, 3, 3, 0, 2]), HelloScan::NotTls);
    assert_eq!(scan_client_hello(&[23]), HelloScan::NotTls);
    assert_eq!(scan_client_hello(&[22]), HelloScan::NeedMore);
    assert_eq!(scan_client_hello(&[22, 2]), HelloScan::NotTls);
    assert_eq!(scan_client_hello(&[22, 3]), HelloScan::NeedMore);
}

#[test]
fn hel_2_first_message_must_be_client_hello() {
    let mut buf = wire(&Body::default());
    buf[5] = 2;
    assert_eq!(malformed(&buf), HelloError::HandshakeType { msg_type: 2 });
    // Decided from the first handshake byte.
    assert_eq!(
        malformed(&[22, 3, 1, 0, 40, 11]),
        HelloError::HandshakeType { msg_type: 11 }
    );
}

#[test]
fn hel_3_every_prefix_needs_more_and_every_fragment_size_agrees() {
    let msg = message(&Body::default().encode());
    let expected = complete(&records(&msg, 1 << 14));
    for size in 1..=msg.len() {
        let buf = records(&msg, size);
        let hello = complete(&buf);
        assert_eq!(hello.server_name, expected.server_name, "size {size}");
        assert_eq!(hello.alpn, expected.alpn, "size {size}");
        assert_eq!(hello.record_bytes, buf.len());
        if size % 17 == 1 {
            for cut in 0..buf.len() {
                assert_eq!(
                    scan_client_hello(&buf[..cut]),
                    HelloScan::NeedMore,
                    "size {size} cut {cut}"
                );
            }
        }
    }
}

#[test]
fn hel_3_bytes_after_the_hello_records_are_not_read() {
    let mut buf = wire(&Body::default());
    let len = buf.len();
    buf.extend([20, 3, 3, 0, 1, 1, 0xff, 0xff]);
    assert_eq!(complete(&buf).record_bytes, len);
}

#[test]
fn hel_3_other_record_inside_the_hello_is_malformed() {
    let msg = message(&Body::default().encode());
    let mut buf = records(&msg[..10], 10);
    buf.extend([21, 3, 3, 0, 2, 2, 40]);
    assert_eq!(
        malformed(&buf),
        HelloError::UnexpectedRecord {
            offset: 15,
            content_type: 21
        }
    );
    let mut buf = records(&msg[..10], 10);
    buf.extend([22, 4, 3, 0, 2]);
    assert_eq!(
        malformed(&buf),
        HelloError::RecordVersion {
            offset: 15,
            major: 4
        }
    );
}

#[test]
fn hel_3_handshake_data_after_the_hello_in_its_record_is_malformed() {
    let mut msg = message(&Body::default().encode());
    msg.extend([11, 0, 0, 0]);
    assert_eq!(
        malformed(&records(&msg, 1 << 14)),
        HelloError::TrailingHandshake { extra: 4 }
    );
}

#[test]
fn hel_4_record_and_hello_bounds() {
    assert_eq!(
        malformed(&[22, 3, 1, 0, 0]),
        HelloError::RecordLength { offset: 0, len: 0 }
    );
    assert_eq!(
        malformed(&[22, 3, 1, 0x40, 0x01]),
        HelloError::RecordLength {
            offset: 0,
            len: 16385
        }
    );
    assert_eq!(
        scan_client_hello(&[22, 3, 1, 0x40, 0x00]),
        HelloScan::NeedMore
    );
    assert_eq!(
        malformed(&[22, 3, 1, 0x40, 0x00, 1, 0, 0x40, 0]),
        HelloError::HelloTooLong {
            len: 16384,
            max: MAX_HELLO_BODY
        }
    );
    // The largest body fits one record exactly.
    let mut big = Body::default();
    let base = big.encode().len();
    big.extensions
        .as_mut()
        .unwrap()
        .push((21, vec![0; MAX_HELLO_BODY - base - 4]));
    let buf = wire(&big);
    assert_eq!(buf.len(), 5 + (1 << 14));
    assert_eq!(complete(&buf).record_bytes, buf.len());
    // The same hello in 5-byte records exceeds MAX_CLIENT_HELLO.
    let msg = message(&big.encode());
    let fragmented = records(&msg, 5);
    match malformed(&fragmented) {
        HelloError::TooManyBytes { end, max } => {
            assert!(end > MAX_CLIENT_HELLO && end <= MAX_CLIENT_HELLO + 10);
            assert_eq!(max, MAX_CLIENT_HELLO);
        }
        other => panic!("unexpected {other:?}"),
    }
    // NeedMore until the header of the record crossing the limit is read.
    let last_header = fragmented.len() - 9;
    assert_eq!(
        scan_client_hello(&fragmented[..last_header + 4]),
        HelloScan::NeedMore
    );
    assert!(matches!(
        malformed(&fragmented[..last_header + 5]),
        HelloError::TooManyBytes { .. }
    ));
}

#[test]
fn hel_5_structure_errors() {
    let cases: Vec<(Body, HelloError)> = vec![
        (
            Body {
                version: 0x0203,
                ..Body::default()
            },
            HelloError::HelloVersion { version: 0x0203 },
        ),
        (
            Body {
                session_id: vec![1; 33],
                ..Body::default()
            },
            HelloError::SessionIdLength { len: 33 },
        ),
        (
            Body {
                suites: vec![],
                ..Body::default()
            },
            HelloError::EmptyVector {
                field: "cipher_suites",
            },
        ),
        (
            Body {
                suites: vec![0x13, 0x01, 0x13],
                ..Body::default()
            },
            HelloError::CipherSuitesLength { len: 3 },
        ),
        (
            Body {
                compression: vec![],
                ..Body::default()
            },
            HelloError::EmptyVector {
                field: "legacy_compression_methods",
            },
        ),
        (
            Body {
                extensions: Some(vec![(43, vec![2, 3, 4]), (10, vec![]), (43, vec![])]),
                ..Body::default()
            },
            HelloError::DuplicateExtension { ext_type: 43 },
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(malformed(&wire(&body)), expected);
    }
}

#[test]
fn hel_5_tls12_hello_without_extensions() {
    let hello = complete(&wire(&Body {
        extensions: None,
        ..Body::default()
    }));
    assert_eq!(hello.server_name, None);
    assert!(hello.alpn.is_empty());
}

#[test]
fn hel_5_truncated_and_overlong_vectors() {
    let good = Body::default().encode();
    // Cut the body short, keeping the handshake header honest.
    assert_eq!(
        malformed(&records(&message(&good[..20]), 1 << 14)),
        HelloError::Truncated { field: "random" }
    );
    assert_eq!(
        malformed(&records(&message(&good[..35]), 1 << 14)),
        HelloError::VectorLength {
            field: "legacy_session_id",
            declared: 32,
            available: 0
        }
    );
    // A byte after the extensions block.
    let mut long = good.clone();
    long.push(0);
    assert_eq!(
        malformed(&records(&message(&long), 1 << 14)),
        HelloError::TrailingBytes {
            field: "extensions",
            extra: 1
        }
    );
    // Extension data longer than the extensions block.
    let body = Body::default().with_ext(0, sni(&[(0, b"a.example")]));
    let mut bytes = body.encode();
    let ext_len_at = bytes.len() - body.extensions.as_ref().unwrap()[0].1.len() - 2;
    bytes[ext_len_at + 1] += 1;
    assert_eq!(
        malformed(&records(&message(&bytes), 1 << 14)),
        HelloError::VectorLength {
            field: "extension_data",
            declared: 15,
            available: 14
        }
    );
}

#[test]
fn hel_6_server_name_rules() {
    let scan = |entries: &[(u8, &[u8])]| {
        scan_client_hello(&wire(&Body::default().with_ext(0, sni(entries))))
    };
    let name = |entries: &[(u8, &[u8])]| match scan(entries) {
        HelloScan::Complete(h) => Ok(h.server_name.unwrap()),
        HelloScan::Malformed(e) => Err(e),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(
        name(&[(0, b"API.OpenAI.com.")]),
        Ok("api.openai.com".to_owned())
    );
    assert_eq!(name(&[(0, b"localhost")]), Ok("localhost".to_owned()));
    assert_eq!(
        name(&[(0, b"a.example"), (0, b"b.example")]),
        Err(HelloError::SeveralHostNames {
            name: "b.example".into()
        })
    );
    assert_eq!(
        name(&[(1, b"a.example")]),
        Err(HelloError::ServerNameType { name_type: 1 })
    );
    assert_eq!(
        name(&[(0, b"")]),
        Err(HelloError::EmptyVector { field: "host_name" })
    );
    assert_eq!(
        name(&[(0, b"caf\xe9.example")]),
        Err(HelloError::ServerNameNotUtf8 {
            name: "caf\\xe9.example".into()
        })
    );
    for ip in [
        &b"127.0.0.1"[..],
        b"10.1",
        b"2852039166",
        b"::1",
        b"[::1]",
        b"fe80::1",
    ] {
        assert!(
            matches!(
                name(&[(0, ip)]),
                Err(HelloError::ServerNameIpLiteral { .. })
            ),
            "{ip:?}"
        );
    }
    for bad in [
        &b"a..example"[..],
        b"caf\xc3\xa9.example",
        b"a b",
        b"a%2eb",
        b".",
        b"x:443",
    ] {
        assert!(
            matches!(name(&[(0, bad)]), Err(HelloError::ServerNameInvalid { .. })),
            "{bad:?} gave {:?}",
            name(&[(0, bad)])
        );
    }
    let longest = format!("{}example", "ab.".repeat(82));
    assert_eq!(longest.len(), 253);
    assert_eq!(name(&[(0, longest.as_bytes())]), Ok(longest.clone()));
    assert!(matches!(
        name(&[(0, format!("{longest}.").as_bytes())]),
        Err(HelloError::ServerNameInvalid { .. })
    ));
    assert_eq!(
        name(&[(0, b"_dmarc.x-y.example")]),
        Ok("_dmarc.x-y.example".to_owned())
    );
    assert_eq!(
        scan_client_hello(&wire(&Body::default().with_ext(0, u16_prefixed(&[])))),
        HelloScan::Malformed(HelloError::EmptyVector {
            field: "server_name_list"
        })
    );
}

#[test]
fn hel_7_sni_must_match_the_connect_host() {
    assert!(sni_matches("api.openai.com", Some("api.openai.com")));
    assert!(sni_matches("API.OpenAI.com.", Some("api.openai.com")));
    assert!(sni_matches("api.openai.com", Some("API.OPENAI.COM.")));
    assert!(sni_matches("10.0.0.1", None));
    assert!(sni_matches("api.openai.com", None));
    assert!(!sni_matches("api.openai.com", Some("evil.example")));
    assert!(!sni_matches("api.openai.com", Some("openai.com")));
    assert!(!sni_matches("api.openai.com", Some("api.openai.com.evil")));
    assert!(!sni_matches("", Some("")));
    assert!(!sni_matches(".", Some("")));
}

#[test]
fn hel_8_alpn_list() {
    let scan = |data: Vec<u8>| scan_client_hello(&wire(&Body::default().with_ext(16, data)));
    assert!(matches!(
        scan(alpn(&[b"http/1.1", b"h2", b"x"])),
        HelloScan::Complete(h) if h.alpn == vec![b"http/1.1".to_vec(), b"h2".to_vec(), b"x".to_vec()]
    ));
    assert_eq!(
        scan(alpn(&[b"h2", b""])),
        HelloScan::Malformed(HelloError::EmptyAlpnName { index: 1 })
    );
    assert_eq!(
        scan(u16_prefixed(&[])),
        HelloScan::Malformed(HelloError::EmptyVector {
            field: "protocol_name_list"
        })
    );
    let mut trailing = alpn(&[b"h2"]);
    trailing.push(0);
    assert_eq!(
        scan(trailing),
        HelloScan::Malformed(HelloError::TrailingBytes {
            field: "protocol_name_list",
            extra: 1
        })
    );
    assert_eq!(
        scan(u16_prefixed(&[5, b'h', b'2'])),
        HelloScan::Malformed(HelloError::VectorLength {
            field: "protocol_name",
            declared: 5,
            available: 2
        })
    );
}

#[test]
fn hel_9_error_messages_are_one_line_and_name_the_value() {
    let e = malformed(&wire(
        &Body::default().with_ext(0, sni(&[(0, b"a\r\n.example")])),
    ));
    let text = e.to_string();
    assert!(!text.chars().any(char::is_control), "{text:?}");
    assert!(text.contains("a\\r\\n.example"), "{text}");
    assert_eq!(
        HelloError::RecordLength { offset: 0, len: 0 }.to_string(),
        "tls record at offset `0` has length `0`, outside 1..=16384"
    );
    assert_eq!(
        HelloError::HelloVersion { version: 0x0203 }.to_string(),
        "client hello legacy_version `0x0203` is not 3.x"
    );
}
