//! Self-tests of the sidecar test harness (`tests/support`): the recording
//! upstream, the echo server and the clients work on their own, so that a
//! failing sidecar test points at the sidecar, not at the harness.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use support::{Behavior, Conn, Echo, Upstream, curl, python};

#[test]
fn upstream_records_requests_over_keep_alive_and_chunked_bodies() {
    let up = Upstream::start();
    let mut c = Conn::open(up.addr);
    let r = c
        .send(b"GET /a?x=1 HTTP/1.1\r\nHost: wttr.in\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "upstream saw GET /a?x=1 host=wttr.in body=0");
    let r = c
        .send(b"POST /b HTTP/1.1\r\nHost: paste.rs\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        .unwrap();
    assert_eq!(r.text(), "upstream saw POST /b host=paste.rs body=5");
    let r = c.send(b"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "chunk-one;chunk-two");
    let seen = up.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[1].body, b"abcde");
    assert_eq!(seen[0].header("host"), Some("wttr.in"));
    assert_eq!(up.accepts(), 1, "one keep-alive connection");
}

#[test]
fn silent_upstream_never_answers() {
    let up = Upstream::with(Behavior::Silent);
    let mut s = std::net::TcpStream::connect(up.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 16];
    let e = s.read(&mut buf).unwrap_err();
    assert!(matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    assert_eq!(up.wait_seen(1, Duration::from_secs(5)).len(), 1);
}

#[test]
fn echo_server_echoes() {
    let echo = Echo::start();
    let mut s = std::net::TcpStream::connect(echo.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    assert_eq!(echo.accepts(), 1);
}

#[test]
fn curl_and_python_reach_a_proxy() {
    // The recording upstream accepts absolute-form targets, so it can stand
    // in for a proxy here: this proves the client wrappers send proxy requests.
    let up = Upstream::start();
    let proxy = format!("http://{}", up.addr);
    let r = curl(&proxy, &["http://wttr.in/london?format=3"]);
    assert_eq!(r.resp().status, 200, "{}", r.stderr);
    let out = python(
        "import sys,requests; r=requests.get('http://wttr.in/x', proxies={'http': sys.argv[1]}, timeout=10); print(r.status_code)",
        &[&proxy],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "200");
    let seen = up.seen();
    assert_eq!(seen[0].target, "http://wttr.in/london?format=3");
    assert_eq!(seen[1].target, "http://wttr.in/x");
}
