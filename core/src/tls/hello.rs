//! The ClientHello body (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) and the two
//! extensions firma reads: `server_name` (RFC 6066 §3, spec `HEL-6`) and
//! `application_layer_protocol_negotiation` (RFC 7301, spec `HEL-8`).

use std::net::Ipv6Addr;

use super::reader::Reader;
use super::{ClientHello, HelloError};
use crate::normalize::{is_ip_literal, normalize_host_name};

/// Extension type `server_name`.
const EXT_SERVER_NAME: u16 = 0;
/// Extension type `application_layer_protocol_negotiation`.
const EXT_ALPN: u16 = 16;
/// `NameType.host_name`.
const HOST_NAME: u8 = 0;
/// Length of `Random`.
const RANDOM_LEN: usize = 32;
/// Longest `legacy_session_id`.
const MAX_SESSION_ID: usize = 32;
/// Longest `host_name` accepted, trailing dot included (as rustls and
/// `rustls-pki-types` count it).
const MAX_HOST_NAME: usize = 253;
/// Longest rendering of an offending host name in an error message.
const MAX_SHOWN: usize = 120;

/// Parse a complete ClientHello body (the handshake message without its
/// 4-byte header). `record_bytes` is copied into the result.
pub(super) fn parse(body: &[u8], record_bytes: usize) -> Result<ClientHello, HelloError> {
    let mut r = Reader::new(body);
    let version = r.u16("legacy_version")?;
    if version >> 8 != 3 {
        return Err(HelloError::HelloVersion { version });
    }
    r.take(RANDOM_LEN, "random")?;
    let session_id = r.vec8("legacy_session_id")?.rest();
    if session_id.len() > MAX_SESSION_ID {
        return Err(HelloError::SessionIdLength {
            len: session_id.len(),
        });
    }
    let suites = r.vec16("cipher_suites")?.rest();
    if suites.is_empty() {
        return Err(HelloError::EmptyVector {
            field: "cipher_suites",
        });
    }
    if suites.len() % 2 != 0 {
        return Err(HelloError::CipherSuitesLength { len: suites.len() });
    }
    if r.vec8("legacy_compression_methods")?.is_empty() {
        return Err(HelloError::EmptyVector {
            field: "legacy_compression_methods",
        });
    }
    let mut hello = ClientHello {
        server_name: None,
        alpn: Vec::new(),
        record_bytes,
    };
    // A TLS 1.2 hello may end here: no extensions at all.
    if r.is_empty() {
        return Ok(hello);
    }
    let mut extensions = r.vec16("extensions")?;
    r.finish("extensions")?;
    // One bit per extension type: constant size, on the stack.
    let mut seen = [0u64; 1024];
    while !extensions.is_empty() {
        let ext_type = extensions.u16("extension_type")?;
        let data = extensions.vec16("extension_data")?;
        let (word, bit) = (usize::from(ext_type >> 6), 1u64 << (ext_type & 63));
        if let Some(slot) = seen.get_mut(word) {
            if *slot & bit != 0 {
                return Err(HelloError::DuplicateExtension { ext_type });
            }
            *slot |= bit;
        }
        match ext_type {
            EXT_SERVER_NAME => hello.server_name = server_name(data)?,
            EXT_ALPN => hello.alpn = alpn(data)?,
            _ => {}
        }
    }
    Ok(hello)
}

/// `ServerNameList` (HEL-6): exactly one `host_name`, a valid DNS name.
fn server_name(mut data: Reader<'_>) -> Result<Option<String>, HelloError> {
    let mut list = data.vec16("server_name_list")?;
    data.finish("server_name_list")?;
    if list.is_empty() {
        return Err(HelloError::EmptyVector {
            field: "server_name_list",
        });
    }
    let mut found: Option<String> = None;
    while !list.is_empty() {
        let name_type = list.u8("name_type")?;
        if name_type != HOST_NAME {
            return Err(HelloError::ServerNameType { name_type });
        }
        let name = list.vec16("host_name")?.rest();
        if found.is_some() {
            return Err(HelloError::SeveralHostNames { name: show(name) });
        }
        found = Some(host_name(name)?);
    }
    Ok(found)
}

/// Validate one `host_name`: UTF-8, a DNS name (lower-cased, trailing dot
/// dropped; labels of letters, digits, `_` and inner `-`), never an IP
/// address in any spelling.
fn host_name(raw: &[u8]) -> Result<String, HelloError> {
    if raw.is_empty() {
        return Err(HelloError::EmptyVector { field: "host_name" });
    }
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(HelloError::ServerNameNotUtf8 { name: show(raw) });
    };
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if bare.parse::<Ipv6Addr>().is_ok() {
        return Err(HelloError::ServerNameIpLiteral { name: show(raw) });
    }
    let invalid = |detail: String| HelloError::ServerNameInvalid {
        name: show(raw),
        detail,
    };
    if raw.len() > MAX_HOST_NAME {
        return Err(invalid(format!("it is longer than {MAX_HOST_NAME} bytes")));
    }
    let host = normalize_host_name(text).map_err(|e| invalid(e.to_string()))?;
    if is_ip_literal(&host) {
        return Err(HelloError::ServerNameIpLiteral { name: show(raw) });
    }
    if let Some(label) = host
        .split('.')
        .find(|l| l.starts_with('-') || l.ends_with('-'))
    {
        return Err(invalid(format!(
            "label `{}` starts or ends with `-`",
            show(label.as_bytes())
        )));
    }
    Ok(host)
}

/// `ProtocolNameList` (HEL-8): at least one name, none empty, in order.
fn alpn(mut data: Reader<'_>) -> Result<Vec<Vec<u8>>, HelloError> {
    let mut list = data.vec16("protocol_name_list")?;
    data.finish("protocol_name_list")?;
    if list.is_empty() {
        return Err(HelloError::EmptyVector {
            field: "protocol_name_list",
        });
    }
    let mut names = Vec::new();
    while !list.is_empty() {
        let name = list.vec8("protocol_name")?.rest();
        if name.is_empty() {
            return Err(HelloError::EmptyAlpnName { index: names.len() });
        }
        names.push(name.to_vec());
    }
    Ok(names)
}

/// Render untrusted name bytes for a backticked slot in an error message:
/// printable ASCII as is, everything else escaped, long values cut with `…`.
pub(super) fn show(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (count, b) in bytes.iter().enumerate() {
        if count >= MAX_SHOWN {
            out.push('…');
            break;
        }
        out.extend(b.escape_ascii().map(char::from));
    }
    out
}
