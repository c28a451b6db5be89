//! The first bytes of an intercepted tunnel (spec `HEL-*`): after the
//! Sidecar answers `200` to a CONNECT it wants to terminate, it buffers what
//! the client sends and calls [`scan_client_hello`] on everything buffered so
//! far, until the answer is no longer [`HelloScan::NeedMore`]. Only a
//! [`HelloScan::Complete`] hello whose SNI agrees with the CONNECT host
//! ([`sni_matches`]) is handed to the TLS stack.
//!
//! Pure and sans-IO: bytes in, a value out. Never panics, runs in one pass
//! over the buffer, and allocates no more than the buffer's length for the
//! hello body plus the returned names.

mod error;
mod hello;
mod reader;
mod records;
#[cfg(test)]
mod tests;

pub use error::HelloError;

/// Most bytes the records carrying one ClientHello may span, headers
/// included (HEL-4). A buffer that has reached this size without a complete
/// hello is [`HelloScan::Malformed`], so the Sidecar never needs to buffer
/// more. Real hellos are below 2 KiB, even with post-quantum key shares.
pub const MAX_CLIENT_HELLO: usize = 32 * 1024;

/// Longest ClientHello body accepted (HEL-4): one full record payload
/// (2^14 bytes) minus the 4-byte handshake header.
pub const MAX_HELLO_BODY: usize = (1 << 14) - 4;

/// Result of looking at the bytes a client sent first in an intercepted
/// tunnel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelloScan {
    /// Plausibly a TLS ClientHello that is not complete yet: read more and
    /// scan again (HEL-3). Only returned while the buffer is shorter than
    /// [`MAX_CLIENT_HELLO`].
    NeedMore,
    /// The first bytes are not a TLS handshake record (HEL-1): the client is
    /// speaking something else (plain HTTP, SSLv2) inside the tunnel.
    NotTls,
    /// TLS, but not a ClientHello firma accepts (HEL-2..HEL-8).
    Malformed(HelloError),
    /// A complete, well-formed ClientHello.
    Complete(ClientHello),
}

/// What firma reads from a ClientHello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHello {
    /// The `host_name` of the `server_name` extension (HEL-6): lower-cased,
    /// trailing dot removed, a valid DNS name, never an IP literal. `None`
    /// when the client sent no `server_name` extension.
    pub server_name: Option<String>,
    /// ALPN protocol names offered, in the client's order (HEL-8); empty when
    /// there is no ALPN extension.
    pub alpn: Vec<Vec<u8>>,
    /// How many bytes at the start of the buffer the records holding the
    /// ClientHello span (HEL-3). Bytes after them (e.g. a compatibility
    /// `change_cipher_spec` record) belong to the TLS stack.
    pub record_bytes: usize,
}

/// Look at the bytes a client has sent so far in an intercepted tunnel.
///
/// `buf` is everything buffered from the start of the tunnel. The answer is
/// decided as early as the bytes allow: `GET …` is [`HelloScan::NotTls`]
/// after one byte, a record length of 0 is [`HelloScan::Malformed`] after
/// five. A ClientHello split across reads or fragmented across several
/// handshake records is [`HelloScan::NeedMore`] until its last record is
/// buffered. Every strict prefix of a buffer that yields
/// [`HelloScan::Complete`] yields [`HelloScan::NeedMore`] (HEL-3, HEL-9).
pub fn scan_client_hello(buf: &[u8]) -> HelloScan {
    let (record_bytes, body_len) = match records::walk(buf) {
        Ok(records::Records::NeedMore) => return HelloScan::NeedMore,
        Ok(records::Records::NotTls) => return HelloScan::NotTls,
        Ok(records::Records::Hello {
            record_bytes,
            body_len,
        }) => (record_bytes, body_len),
        Err(e) => return HelloScan::Malformed(e),
    };
    let parsed = records::body(buf, record_bytes, body_len)
        .and_then(|body| hello::parse(&body, record_bytes));
    match parsed {
        Ok(hello) => HelloScan::Complete(hello),
        Err(e) => HelloScan::Malformed(e),
    }
}

/// Whether a ClientHello's SNI agrees with the CONNECT host of its tunnel
/// (HEL-7): equal ignoring ASCII case and one trailing dot on either side.
/// No SNI agrees with any host (clients send none for IP-literal targets);
/// an SNI naming another host does not.
pub fn sni_matches(connect_host: &str, sni: Option<&str>) -> bool {
    let Some(sni) = sni else {
        return true;
    };
    let host = connect_host.strip_suffix('.').unwrap_or(connect_host);
    let sni = sni.strip_suffix('.').unwrap_or(sni);
    !host.is_empty() && host.eq_ignore_ascii_case(sni)
}
