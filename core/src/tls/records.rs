//! The TLS record layer in front of a ClientHello (spec `HEL-1`..`HEL-4`):
//! decide whether the buffered bytes are TLS at all, walk the handshake
//! records and find where the first handshake message ends, without copying.

use std::borrow::Cow;

use super::{HelloError, MAX_CLIENT_HELLO, MAX_HELLO_BODY};

/// TLS `ContentType.handshake`.
const CONTENT_HANDSHAKE: u8 = 22;
/// TLS `HandshakeType.client_hello`.
const CLIENT_HELLO: u8 = 1;
/// Bytes in a record header: type, version (2), length (2).
const RECORD_HEADER: usize = 5;
/// Bytes in a handshake header: type, length (3).
const HANDSHAKE_HEADER: usize = 4;
/// Largest record payload a peer may send (RFC 8446 §5.1: 2^14).
const MAX_RECORD_PAYLOAD: usize = 1 << 14;

/// What the records in the buffer hold so far.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Records {
    /// Plausibly TLS, but the first handshake message is incomplete.
    NeedMore,
    /// The first bytes are not a TLS handshake record.
    NotTls,
    /// The first handshake message is a ClientHello of `body_len` bytes that
    /// ends exactly where the record ending at `record_bytes` ends.
    Hello {
        /// Bytes of the buffer the records span.
        record_bytes: usize,
        /// Length of the ClientHello body (after the handshake header).
        body_len: usize,
    },
}

/// Walk the records in `buf` (HEL-1..HEL-4). Every check is made as soon as
/// the bytes it needs are buffered, so a prefix of an acceptable buffer is
/// never rejected. Runs in one pass and allocates nothing.
pub(super) fn walk(buf: &[u8]) -> Result<Records, HelloError> {
    let mut offset = 0usize;
    // The handshake header, collected across records, and its length so far.
    let mut header = [0u8; HANDSHAKE_HEADER];
    let mut header_len = 0usize;
    // Handshake bytes in completed records, and the body length once known.
    let mut seen = 0usize;
    let mut body_len_known: Option<usize> = None;
    loop {
        let rest = buf.get(offset..).unwrap_or_default();
        let first = offset == 0;
        let Some(&content_type) = rest.first() else {
            return Ok(Records::NeedMore);
        };
        if content_type != CONTENT_HANDSHAKE {
            return if first {
                Ok(Records::NotTls)
            } else {
                Err(HelloError::UnexpectedRecord {
                    offset,
                    content_type,
                })
            };
        }
        let Some(&major) = rest.get(1) else {
            return Ok(Records::NeedMore);
        };
        if major != 3 {
            return if first {
                Ok(Records::NotTls)
            } else {
                Err(HelloError::RecordVersion { offset, major })
            };
        }
        let (Some(&hi), Some(&lo)) = (rest.get(3), rest.get(4)) else {
            return Ok(Records::NeedMore);
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len == 0 || len > MAX_RECORD_PAYLOAD {
            return Err(HelloError::RecordLength { offset, len });
        }
        // `offset` < MAX_CLIENT_HELLO and `len` <= 2^14: no overflow, but
        // stay checked anyway.
        let end = offset
            .checked_add(RECORD_HEADER)
            .and_then(|o| o.checked_add(len))
            .unwrap_or(usize::MAX);
        if end > MAX_CLIENT_HELLO {
            return Err(HelloError::TooManyBytes {
                end,
                max: MAX_CLIENT_HELLO,
            });
        }
        let payload = rest.get(RECORD_HEADER..).unwrap_or_default();
        let payload = payload.get(..len).unwrap_or(payload);

        // Collect the handshake header and check it as soon as possible.
        if header_len < HANDSHAKE_HEADER {
            for (slot, &b) in header.iter_mut().skip(header_len).zip(payload) {
                *slot = b;
                header_len += 1;
            }
            let [msg_type, l0, l1, l2] = header;
            if header_len >= 1 && msg_type != CLIENT_HELLO {
                return Err(HelloError::HandshakeType { msg_type });
            }
            if header_len == HANDSHAKE_HEADER {
                let body_len = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
                if body_len > MAX_HELLO_BODY {
                    return Err(HelloError::HelloTooLong {
                        len: body_len,
                        max: MAX_HELLO_BODY,
                    });
                }
                body_len_known = Some(body_len);
            }
        }
        if payload.len() < len {
            return Ok(Records::NeedMore);
        }
        seen = seen.saturating_add(len);
        if let Some(body_len) = body_len_known {
            let total = body_len.saturating_add(HANDSHAKE_HEADER);
            if seen > total {
                return Err(HelloError::TrailingHandshake {
                    extra: seen.saturating_sub(total),
                });
            }
            if seen == total {
                return Ok(Records::Hello {
                    record_bytes: end,
                    body_len,
                });
            }
        }
        offset = end;
    }
}

/// The ClientHello body carried by the records `buf[..record_bytes]` that
/// [`walk`] accepted: borrowed when one record holds it, otherwise the record
/// payloads joined (at most `record_bytes` bytes are allocated).
pub(super) fn body(
    buf: &[u8],
    record_bytes: usize,
    body_len: usize,
) -> Result<Cow<'_, [u8]>, HelloError> {
    let truncated = HelloError::Truncated {
        field: "handshake record",
    };
    let records = buf.get(..record_bytes).ok_or(truncated.clone())?;
    let first_len = record_len(records).ok_or(truncated.clone())?;
    let start = RECORD_HEADER + HANDSHAKE_HEADER;
    if first_len.checked_add(RECORD_HEADER) == Some(records.len()) {
        let body = records.get(start..).ok_or(truncated)?;
        return Ok(Cow::Borrowed(body));
    }
    let mut message = Vec::with_capacity(HANDSHAKE_HEADER.saturating_add(body_len));
    let mut rest = records;
    while !rest.is_empty() {
        let len = record_len(rest).ok_or(truncated.clone())?;
        let (record, tail) = rest
            .split_at_checked(RECORD_HEADER.saturating_add(len))
            .ok_or(truncated.clone())?;
        message.extend_from_slice(record.get(RECORD_HEADER..).unwrap_or_default());
        rest = tail;
    }
    message.drain(..HANDSHAKE_HEADER.min(message.len()));
    Ok(Cow::Owned(message))
}

/// The payload length in the record header at the start of `bytes`.
fn record_len(bytes: &[u8]) -> Option<usize> {
    match bytes.get(3..RECORD_HEADER)? {
        &[hi, lo] => Some(usize::from(u16::from_be_bytes([hi, lo]))),
        _ => None,
    }
}
