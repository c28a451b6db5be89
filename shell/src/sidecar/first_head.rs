//! The first request head of every connection is read and checked by firma
//! before hyper sees it (SDC-19). hyper quietly drops `Content-Length` when
//! `Transfer-Encoding` is also present (RFC 9112 §6.1 allows that), which
//! would hide a request-smuggling attempt from the audit log; core's
//! normalizer rejects the combination, so the raw head is handed to it here.
//! hyper then parses the same bytes again from a [`Rewind`] reader.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Largest head inspected; longer heads are left to hyper's own limits.
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;

/// What the peek found.
pub enum FirstHead {
    /// A complete head whose raw header list shows both framing headers:
    /// `(method, target, headers)` for core to decide.
    Suspicious(String, String, Vec<(String, Vec<u8>)>),
    /// Anything else: let hyper handle it (including parse errors, which
    /// hyper reports and the proxy records).
    Ordinary,
}

/// Read until the end of the first head (or `MAX_HEAD`, EOF, or `timeout`)
/// and classify it. Returns the bytes read, which must be replayed.
pub async fn peek(stream: &mut TcpStream, timeout: Duration) -> (Vec<u8>, FirstHead) {
    let mut buf = Vec::with_capacity(1024);
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            if find_end(&buf).is_some() || buf.len() >= MAX_HEAD {
                return;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
            }
        }
    };
    let _ = tokio::time::timeout(timeout, read).await;
    let verdict = classify(&buf);
    (buf, verdict)
}

fn find_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

fn classify(buf: &[u8]) -> FirstHead {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = req.parse(buf) else {
        return FirstHead::Ordinary;
    };
    let has = |name: &str| {
        req.headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(name))
    };
    if !(has("content-length") && has("transfer-encoding")) {
        return FirstHead::Ordinary;
    }
    let method = req.method.unwrap_or_default().to_owned();
    let target = req.path.unwrap_or_default().to_owned();
    let list = req
        .headers
        .iter()
        .map(|h| (h.name.to_owned(), h.value.to_vec()))
        .collect();
    FirstHead::Suspicious(method, target, list)
}

/// A stream that first replays bytes already read from it.
pub struct Rewind<S = TcpStream> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Rewind<S> {
    /// Replay `prefix`, then read from `inner`.
    pub fn new(prefix: Vec<u8>, inner: S) -> Rewind<S> {
        Rewind {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(rest) = self.prefix.get(self.pos..).filter(|r| !r.is_empty()) {
            let n = rest.len().min(out.remaining());
            out.put_slice(rest.get(..n).unwrap_or(&[]));
            self.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, out)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_only_heads_with_both_framing_headers() {
        let both = b"POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(
            matches!(classify(both), FirstHead::Suspicious(m, t, h) if m == "POST" && t == "http://a/" && h.len() == 3)
        );
        let plain = b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(matches!(classify(plain), FirstHead::Ordinary));
        assert!(matches!(classify(b"GARBAGE\r\n\r\n"), FirstHead::Ordinary));
        assert!(matches!(
            classify(b"GET http://a/ HTTP/1.1\r\nHost"),
            FirstHead::Ordinary
        ));
    }
}
