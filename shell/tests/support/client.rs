//! Clients that talk to the sidecar: `curl`, Python, and raw sockets (for
//! byte-exact requests such as smuggling attempts).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

/// How long a client waits for an answer before the test fails.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header fields as received.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// Asserts a DEC-13 deny: 403, `content-type: application/json`, body
    /// `{"denied":true,"reason":<reason>,"detail":…,"event_id":…}` with keys
    /// in that order. Returns the body.
    pub fn assert_deny(&self, reason: &str) -> Value {
        self.assert_json_answer(403, "denied", reason)
    }

    /// Asserts a DEC-13 ABORT answer with `status` (502/504) and `reason`.
    pub fn assert_abort(&self, status: u16, reason: &str) -> Value {
        self.assert_json_answer(status, "aborted", reason)
    }

    fn assert_json_answer(&self, status: u16, flag: &str, reason: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "expected {status} {reason}, got {} with body {:?}",
            self.status,
            self.text()
        );
        let ct = self.header("content-type").unwrap_or_default();
        assert!(
            ct.to_ascii_lowercase().starts_with("application/json"),
            "content-type is {ct:?}, expected application/json"
        );
        let v = self.json();
        let obj = v.as_object().expect("body is a JSON object");
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        assert_eq!(keys, [flag, "reason", "detail", "event_id"], "body keys");
        // serde_json's map is ordered by insertion only with `preserve_order`;
        // check the key order on the raw text too.
        let text = self.text();
        let pos = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
        assert!(
            pos(flag) < pos("reason")
                && pos("reason") < pos("detail")
                && pos("detail") < pos("event_id"),
            "body keys out of order: {text}"
        );
        assert_eq!(v[flag], Value::Bool(true), "{flag} flag: {text}");
        assert_eq!(v["reason"], reason, "reason: {text}");
        assert!(v["detail"].is_string(), "detail: {text}");
        let id = v["event_id"].as_str().expect("event_id is a string");
        assert!(id.starts_with("aevt_"), "event_id {id:?}");
        v
    }
}

/// Reads one HTTP response from `r`. `head_only_for` = true for a response to
/// HEAD or a CONNECT 200 (no body).
pub fn read_response(r: &mut impl Read, no_body: bool) -> io::Result<HttpResponse> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    // Head, byte by byte (responses are small; this never reads past the head).
    while !buf.ends_with(b"\r\n\r\n") {
        let n = r.read(&mut byte)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed after {} bytes of head: {:?}",
                    buf.len(),
                    String::from_utf8_lossy(&buf)
                ),
            ));
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut resp = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if no_body || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(resp);
    }
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        resp.body = read_chunked(r)?;
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| io::Error::other(format!("bad content-length {len:?}")))?;
        let mut body = vec![0u8; len];
        r.read_exact(&mut body)?;
        resp.body = body;
    } else {
        r.read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

fn read_line(r: &mut impl Read) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if r.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        line.push(byte[0]);
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn read_chunked(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?;
        let size_hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| io::Error::other(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // trailers until the empty line
            while !read_line(r)?.is_empty() {}
            return Ok(body);
        }
        let mut chunk = vec![0u8; size];
        r.read_exact(&mut chunk)?;
        body.extend_from_slice(&chunk);
        read_line(r)?;
    }
}

/// Connects to `addr` with read/write timeouts of [`CLIENT_TIMEOUT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT).expect("connect to sidecar");
    s.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    s
}

/// Sends `bytes` on a new connection and reads one response. `Ok(None)` when
/// the server closed the connection without answering.
pub fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> io::Result<Option<HttpResponse>> {
    let mut s = connect(addr);
    s.write_all(bytes)?;
    let no_body = bytes.starts_with(b"HEAD ");
    match read_response(&mut s, no_body) {
        Ok(r) => Ok(Some(r)),
        Err(e)
            if e.kind() == io::ErrorKind::UnexpectedEof
                && e.to_string().contains("after 0 bytes") =>
        {
            Ok(None)
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(None),
        Err(e) => Err(e),
    }
}

/// A keep-alive client connection to the proxy.
pub struct Conn {
    /// The socket.
    pub stream: TcpStream,
}

impl Conn {
    /// Opens a connection to the proxy at `addr`.
    pub fn open(addr: SocketAddr) -> Conn {
        Conn {
            stream: connect(addr),
        }
    }

    /// Sends a `GET url` in absolute form with the Host of `url`'s authority
    /// and reads the response.
    pub fn get(&mut self, url: &str) -> io::Result<HttpResponse> {
        let authority = url
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
            .unwrap_or_default();
        let req = format!("GET {url} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
        self.send(req.as_bytes())
    }

    /// Writes `bytes` and reads one response.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<HttpResponse> {
        self.stream.write_all(bytes)?;
        read_response(&mut self.stream, bytes.starts_with(b"HEAD "))
    }

    /// Sends a CONNECT for `authority` and reads the answer head (no body on
    /// 200; the JSON body otherwise).
    pub fn connect_tunnel(&mut self, authority: &str) -> io::Result<HttpResponse> {
        let req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
        self.stream.write_all(req.as_bytes())?;
        let mut resp = read_response(&mut self.stream, true)?;
        if let Some(len) = resp.header("content-length").filter(|_| resp.status != 200) {
            let mut body = vec![0u8; len.parse().unwrap_or(0)];
            self.stream.read_exact(&mut body)?;
            resp.body = body;
        }
        Ok(resp)
    }

    /// Closes the write half.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// Output of a `curl` run through the proxy.
#[derive(Debug)]
pub struct CurlResult {
    /// Exit status of curl.
    pub exit: Option<i32>,
    /// The final response (the last head in `-i` output), if any.
    pub response: Option<HttpResponse>,
    /// curl's stderr.
    pub stderr: String,
}

impl CurlResult {
    /// The response; panics with curl's stderr when there was none.
    pub fn resp(&self) -> &HttpResponse {
        self.response.as_ref().unwrap_or_else(|| {
            panic!(
                "curl got no response (exit {:?}): {}",
                self.exit, self.stderr
            )
        })
    }
}

/// Runs `curl -s -S -i --max-time 20 --proxy <proxy> <args…>` with the proxy
/// environment cleared, and parses the last response of the `-i` output.
pub fn curl(proxy: &str, args: &[&str]) -> CurlResult {
    let out = Command::new("curl")
        .args(["-s", "-S", "-i", "--max-time", "20", "--proxy", proxy])
        .args(args)
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .expect("run curl");
    CurlResult {
        exit: out.status.code(),
        response: parse_curl_output(&out.stdout),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Parses `curl -i` output: skips `100 Continue` and `200 Connection
/// established` heads, returns the final response.
fn parse_curl_output(mut out: &[u8]) -> Option<HttpResponse> {
    loop {
        if !out.starts_with(b"HTTP/") {
            return None;
        }
        let end = out.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let mut head = &out[..end];
        let resp = read_response(&mut head, true).ok()?;
        let rest = &out[end..];
        if rest.starts_with(b"HTTP/") {
            out = rest;
            continue;
        }
        return Some(HttpResponse {
            body: rest.to_vec(),
            ..resp
        });
    }
}

/// Runs `python3 -c <script> <args…>` with the proxy environment cleared.
pub fn python(script: &str, args: &[&str]) -> Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .expect("run python3")
}
