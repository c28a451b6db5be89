//! Is a call through the Sidecar enforced (DOC-13)? The test call is a plain
//! `GET` through the proxy to the proxy's own listener — a protected endpoint
//! the Sidecar must refuse itself (DEC-15) without contacting anything —
//! and the answer must be the 403 JSON deny body (DEC-13).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Context;
use super::check::{Check, sh};

const ID: &str = "enforcement";
const TITLE: &str = "test call enforced";
/// Longest answer read.
const MAX_ANSWER: usize = 64 * 1024;

/// `enforcement`: `addr` is the Sidecar address `sidecar-port` reached.
pub fn test_call(cx: &Context, addr: Option<SocketAddr>) -> Check {
    let Some(addr) = addr else {
        return Check::skip(
            ID,
            TITLE,
            "the Sidecar port is not reachable (see `sidecar-port`)",
        );
    };
    let url = format!("http://{addr}/");
    let answer = match exchange(addr, &url, cx.timeout) {
        Ok(a) => a,
        Err(e) => {
            return Check::fail(
                ID,
                TITLE,
                format!("the test call GET {url} through {addr} got no answer: {e}"),
                format!(
                    "read {}/sidecar.log; restart with `firma sidecar stop --state-dir {1} && firma sidecar start --detach --state-dir {1}`",
                    cx.state_dir.display(),
                    sh(&cx.state_dir)
                ),
            );
        }
    };
    let not_enforced = |what: String| {
        Check::fail(
            ID,
            TITLE,
            format!("calls are NOT being enforced: GET {url} through {addr} {what}"),
            format!(
                "make sure {addr} is a firma Sidecar (`[sidecar.interceptor] listen_addr`) and nothing else holds that port (`ss -ltnp 'sport = :{}'`)",
                addr.port()
            ),
        )
    };
    if answer.status != 403 {
        return not_enforced(format!(
            "was answered {} instead of 403 with the deny body",
            answer.status
        ));
    }
    let body: Value = match serde_json::from_slice(&answer.body) {
        Ok(v) => v,
        Err(_) => {
            return not_enforced(format!(
                "was answered 403 without the JSON deny body (got {:?})",
                String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)])
            ));
        }
    };
    if body.get("denied") != Some(&Value::Bool(true)) {
        return not_enforced(format!(
            "was answered 403 with {body} (no `\"denied\": true`)"
        ));
    }
    let reason = body.get("reason").and_then(Value::as_str).unwrap_or("");
    let event = body.get("event_id").and_then(Value::as_str).unwrap_or("-");
    if reason == "ProtectedEndpoint" {
        Check::ok(
            ID,
            TITLE,
            format!(
                "GET {url} through the proxy was denied: 403 ProtectedEndpoint (event {event})"
            ),
        )
    } else {
        Check::warn(
            ID,
            TITLE,
            format!(
                "GET {url} was denied, but with reason `{reason}` instead of `ProtectedEndpoint` (event {event})"
            ),
            format!(
                "check that {addr} is this project's Sidecar: `firma sidecar status --state-dir {}`",
                sh(&cx.state_dir)
            ),
        )
    }
}

/// A parsed HTTP answer.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// Send the proxy-form request and read the whole answer (the connection
/// is closed after it), bounded by `timeout` overall.
fn exchange(addr: SocketAddr, url: &str, timeout: Duration) -> Result<Answer, String> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    let request = format!(
        "GET {url} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: firma-doctor/{}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_ANSWER || complete(&buf) {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) => return Err(format!("cannot read the answer: {e}")),
        }
    }
    parse(&buf)
}

/// True when `buf` holds a whole answer with a `Content-Length` body.
fn complete(buf: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(head)) => {
            content_length(resp.headers).is_some_and(|len| buf.len() >= head + len)
        }
        _ => false,
    }
}

fn content_length(headers: &[httparse::Header<'_>]) -> Option<usize> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(|v| v.trim().parse().ok())
}

fn parse(buf: &[u8]) -> Result<Answer, String> {
    if buf.is_empty() {
        return Err("the connection closed without an answer".to_owned());
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err("the answer head is incomplete".to_owned()),
        Err(e) => return Err(format!("the answer is not HTTP: {e}")),
    };
    let status = resp.code.unwrap_or(0);
    let rest = &buf[head..];
    let chunked = resp.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        let len = content_length(resp.headers).unwrap_or(rest.len());
        rest[..len.min(rest.len())].to_vec()
    };
    Ok(Answer { status, body })
}

/// The data of a chunked body (as much as arrived).
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        rest = &rest[eol + 2..];
        if size == 0 || rest.len() < size {
            out.extend_from_slice(&rest[..size.min(rest.len())]);
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
    out
}
