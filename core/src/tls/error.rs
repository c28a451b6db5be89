//! Why a buffered ClientHello was rejected (spec `HEL-*`).

use thiserror::Error;

/// A ClientHello, or the TLS records carrying it, that firma refuses to
/// interpret. Every message is one lower-case line naming the field at fault
/// and its value.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum HelloError {
    /// A record announced an empty payload or more than 2^14 bytes (HEL-4).
    #[error("tls record at offset `{offset}` has length `{len}`, outside 1..=16384")]
    RecordLength {
        /// Offset of the record header in the buffer.
        offset: usize,
        /// The announced payload length.
        len: usize,
    },
    /// A record after the first is not a handshake record (HEL-3).
    #[error(
        "tls record at offset `{offset}` has content type `{content_type}` inside the client hello, expected handshake (22)"
    )]
    UnexpectedRecord {
        /// Offset of the record header in the buffer.
        offset: usize,
        /// Its content type.
        content_type: u8,
    },
    /// A record after the first has a protocol version whose major is not 3 (HEL-3).
    #[error("tls record at offset `{offset}` has version major `{major}`, expected 3")]
    RecordVersion {
        /// Offset of the record header in the buffer.
        offset: usize,
        /// Its version major byte.
        major: u8,
    },
    /// The first handshake message is not a ClientHello (HEL-2).
    #[error("handshake message type `{msg_type}` is not client_hello (1)")]
    HandshakeType {
        /// The handshake type byte.
        msg_type: u8,
    },
    /// The ClientHello announces more bytes than firma buffers (HEL-4).
    #[error("client hello length `{len}` exceeds the limit of {max} bytes")]
    HelloTooLong {
        /// The announced handshake body length.
        len: usize,
        /// The largest accepted body length.
        max: usize,
    },
    /// The records needed to carry the ClientHello exceed
    /// [`MAX_CLIENT_HELLO`](super::MAX_CLIENT_HELLO) (HEL-4).
    #[error("client hello records reach byte `{end}`, beyond the limit of {max} buffered bytes")]
    TooManyBytes {
        /// Where the offending record ends.
        end: usize,
        /// [`MAX_CLIENT_HELLO`](super::MAX_CLIENT_HELLO).
        max: usize,
    },
    /// Handshake bytes follow the ClientHello in the record that ends it (HEL-3).
    #[error("`{extra}` handshake bytes follow the client hello in its last record")]
    TrailingHandshake {
        /// How many bytes follow.
        extra: usize,
    },
    /// The ClientHello ends inside a field (HEL-5).
    #[error("client hello ends inside `{field}`")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// A length-prefixed vector announces more bytes than its container holds (HEL-5).
    #[error("`{field}` declares `{declared}` bytes but only `{available}` remain")]
    VectorLength {
        /// The vector.
        field: &'static str,
        /// Its announced length.
        declared: usize,
        /// Bytes left in the enclosing structure.
        available: usize,
    },
    /// Bytes remain after a structure that must fill its container (HEL-5).
    #[error("`{extra}` unexpected bytes after `{field}`")]
    TrailingBytes {
        /// The structure that should have ended its container.
        field: &'static str,
        /// How many bytes are left over.
        extra: usize,
    },
    /// A vector that must hold at least one element is empty (HEL-5).
    #[error("`{field}` is empty")]
    EmptyVector {
        /// The vector.
        field: &'static str,
    },
    /// `legacy_version` is not `3.x` (HEL-5).
    #[error("client hello legacy_version `{version:#06x}` is not 3.x")]
    HelloVersion {
        /// The version field.
        version: u16,
    },
    /// `legacy_session_id` is longer than 32 bytes (HEL-5).
    #[error("legacy_session_id length `{len}` exceeds 32")]
    SessionIdLength {
        /// Its length.
        len: usize,
    },
    /// `cipher_suites` has an odd length (HEL-5).
    #[error("cipher_suites length `{len}` is odd")]
    CipherSuitesLength {
        /// Its length.
        len: usize,
    },
    /// An extension type appears twice (HEL-5).
    #[error("extension type `{ext_type}` appears more than once")]
    DuplicateExtension {
        /// The repeated extension type.
        ext_type: u16,
    },
    /// A `server_name` entry is not of type `host_name` (HEL-6).
    #[error("server_name entry type `{name_type}` is not host_name (0)")]
    ServerNameType {
        /// The entry's name type.
        name_type: u8,
    },
    /// The `server_name` list holds more than one `host_name` (HEL-6).
    #[error("server_name list holds a second host_name `{name}`")]
    SeveralHostNames {
        /// The second name, escaped.
        name: String,
    },
    /// The `host_name` is not valid UTF-8 (HEL-6).
    #[error("sni host_name `{name}` is not valid utf-8")]
    ServerNameNotUtf8 {
        /// The name, escaped.
        name: String,
    },
    /// The `host_name` is not a valid DNS name (HEL-6).
    #[error("sni host_name `{name}` is not a valid dns name: {detail}")]
    ServerNameInvalid {
        /// The name, escaped.
        name: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The `host_name` is an IP address, which RFC 6066 forbids (HEL-6).
    #[error("sni host_name `{name}` is an ip literal, which rfc 6066 forbids")]
    ServerNameIpLiteral {
        /// The name, escaped.
        name: String,
    },
    /// An ALPN protocol name is empty (HEL-8).
    #[error("alpn protocol name at position `{index}` is empty")]
    EmptyAlpnName {
        /// Zero-based position in `protocol_name_list`.
        index: usize,
    },
}
