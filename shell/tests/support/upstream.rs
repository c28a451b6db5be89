//! Loopback servers standing in for the outside world: a recording HTTP/1.1
//! origin ([`Upstream`]) and a TCP echo server ([`Echo`]). Both count the TCP
//! connections they accepted, so a test can prove that nothing was dialed.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method as received.
    pub method: String,
    /// Request target as received (origin form for a proxied request).
    pub target: String,
    /// Header fields in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The request body after de-chunking.
    pub body: Vec<u8>,
}

impl Seen {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the upstream answers.
#[derive(Debug, Clone, Copy)]
pub enum Behavior {
    /// Answer at once.
    Ok,
    /// Answer after this delay.
    Delay(Duration),
    /// Read the request, then never answer (the connection stays open).
    Silent,
}

/// A recording HTTP/1.1 origin server on `127.0.0.1:0`.
///
/// Answers `200` with `content-type: text/plain` and the body
/// `upstream saw <METHOD> <target> host=<Host> body=<n bytes>`. A target
/// starting with `/chunked` is answered with a chunked body of two chunks
/// (`chunk-one;` and `chunk-two`). Keep-alive and chunked request bodies work
/// (hyper's server).
pub struct Upstream {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    accepts: Arc<AtomicUsize>,
    rt: Option<Runtime>,
}

impl Upstream {
    /// Starts an upstream answering at once.
    pub fn start() -> Upstream {
        Upstream::with(Behavior::Ok)
    }

    /// Starts an upstream with the given behaviour.
    pub fn with(behavior: Behavior) -> Upstream {
        Upstream::serve(behavior, None)
    }

    /// Starts an HTTPS upstream: every connection is a TLS session with
    /// `acceptor` (see `support::tls`), then the same recording server.
    pub fn tls(acceptor: tokio_rustls::TlsAcceptor) -> Upstream {
        Upstream::serve(Behavior::Ok, Some(acceptor))
    }

    /// An HTTPS upstream with the given behaviour.
    pub fn tls_with(acceptor: tokio_rustls::TlsAcceptor, behavior: Behavior) -> Upstream {
        Upstream::serve(behavior, Some(acceptor))
    }

    fn serve(behavior: Behavior, tls: Option<tokio_rustls::TlsAcceptor>) -> Upstream {
        let rt = runtime(2);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let accepts = Arc::new(AtomicUsize::new(0));
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind upstream");
        let addr = listener.local_addr().unwrap();
        let (seen2, accepts2) = (seen.clone(), accepts.clone());
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                accepts2.fetch_add(1, Ordering::SeqCst);
                let seen = seen2.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(req, seen.clone(), behavior));
                    let builder = http1::Builder::new();
                    match tls {
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                    }
                });
            }
        });
        Upstream {
            addr,
            seen,
            accepts,
            rt: Some(rt),
        }
    }

    /// Every request received so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Number of TCP connections accepted so far.
    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    /// `"127.0.0.1:<port>"`, for `[sidecar.upstream] resolve` values.
    pub fn addr_str(&self) -> String {
        self.addr.to_string()
    }

    /// Waits (bounded) until at least `n` requests were received.
    pub fn wait_seen(&self, n: usize, timeout: Duration) -> Vec<Seen> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.seen();
            if seen.len() >= n || Instant::now() >= deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Asserts that the upstream neither accepted a connection nor saw a request.
    pub fn assert_untouched(&self, what: &str) {
        assert!(
            self.seen().is_empty(),
            "{what}: upstream received requests: {:?}",
            self.seen()
        );
        assert_eq!(self.accepts(), 0, "{what}: upstream accepted a connection");
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    behavior: Behavior,
) -> Result<Response<TestBody>, Infallible> {
    let method = req.method().to_string();
    let target = req.uri().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let host = req
        .headers()
        .get("host")
        .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        .unwrap_or_default();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let n = body.len();
    seen.lock().unwrap().push(Seen {
        method: method.clone(),
        target: target.clone(),
        headers,
        body,
    });
    match behavior {
        Behavior::Ok => {}
        Behavior::Delay(d) => tokio::time::sleep(d).await,
        Behavior::Silent => std::future::pending::<()>().await,
    }
    let text = format!("upstream saw {method} {target} host={host} body={n}");
    let chunked = target.starts_with("/chunked");
    let body = if chunked {
        TestBody::chunked(vec![
            Bytes::from_static(b"chunk-one;"),
            Bytes::from_static(b"chunk-two"),
        ])
    } else {
        TestBody::fixed(Bytes::from(text))
    };
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .header("x-upstream", "yes")
        .body(body)
        .unwrap())
}

/// A response body of fixed length (content-length) or of unknown length
/// (sent chunked).
pub struct TestBody {
    chunks: VecDeque<Bytes>,
    exact: Option<u64>,
}

impl TestBody {
    fn fixed(b: Bytes) -> TestBody {
        let exact = Some(b.len() as u64);
        TestBody {
            chunks: VecDeque::from([b]),
            exact,
        }
    }

    fn chunked(chunks: Vec<Bytes>) -> TestBody {
        TestBody {
            chunks: chunks.into(),
            exact: None,
        }
    }
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.chunks.pop_front().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// A TCP server that writes back every byte it reads, counting accepts.
pub struct Echo {
    /// Where it listens.
    pub addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    rt: Option<Runtime>,
}

impl Echo {
    /// Starts the echo server on `127.0.0.1:0`.
    pub fn start() -> Echo {
        let rt = runtime(1);
        let accepts = Arc::new(AtomicUsize::new(0));
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind echo");
        let addr = listener.local_addr().unwrap();
        let accepts2 = accepts.clone();
        rt.spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                accepts2.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if stream.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                });
            }
        });
        Echo {
            addr,
            accepts,
            rt: Some(rt),
        }
    }

    /// Number of TCP connections accepted so far.
    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn runtime(workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A loopback port that nothing listens on (bound, then released).
pub fn closed_port() -> SocketAddr {
    let l = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}
