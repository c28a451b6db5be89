//! The intercepted tunnel (MITM-2..7): answer the CONNECT once a leaf is
//! ready, read the ClientHello, terminate TLS (HTTP/1.1 or HTTP/2 by ALPN),
//! and enforce, record and forward every decrypted request over verified
//! upstream TLS.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use firma_core::Decision;
use firma_core::engine::{InterceptFailure, Interception};
use firma_core::tls::{HelloScan, scan_client_hello, sni_matches};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use rustls::ServerConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

use crate::sidecar::clock::wall_now;
use crate::sidecar::first_head::Rewind;
use crate::sidecar::log::log;
use crate::sidecar::proxy::{Body, Proxy, TARGET, UpBody, empty, micros, no_intent, with_raw};

/// Bound on reading the ClientHello and on the TLS handshake with the client.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for reading a decrypted request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle upstream connections kept per tunnel.
const POOL_MAX: usize = 8;

/// One intercepted tunnel: its CONNECT and its upstream connections.
struct Tunnel {
    interception: Interception,
    /// HTTP/2 towards the client (concurrent requests share the pool).
    h2: bool,
    pool: Mutex<Vec<(SocketAddr, SendRequest<UpBody>)>>,
}

impl Tunnel {
    /// An upstream connection ready for a request, if one is kept.
    async fn take(&self) -> Option<(SocketAddr, SendRequest<UpBody>)> {
        loop {
            let (addr, mut sender) = {
                let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
                pool.retain(|(_, s)| !s.is_closed());
                if self.h2 {
                    // Concurrent streams: only a connection that is free now.
                    let i = pool.iter().position(|(_, s)| s.is_ready())?;
                    pool.swap_remove(i)
                } else {
                    // One request at a time: the last connection finishes
                    // its previous response before this request arrives.
                    pool.pop()?
                }
            };
            if sender.ready().await.is_ok() {
                return Some((addr, sender));
            }
        }
    }

    fn put(&self, addr: SocketAddr, sender: SendRequest<UpBody>) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOL_MAX {
            pool.push((addr, sender));
        }
    }
}

/// Read until the bytes are a complete ClientHello, not TLS, or malformed.
async fn read_client_hello<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<HelloScan> {
    let mut chunk = [0u8; 4096];
    loop {
        match scan_client_hello(buf) {
            HelloScan::NeedMore => {}
            done => return Ok(done),
        }
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the client closed the tunnel before a complete TLS ClientHello",
            ));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
    }
}

/// Serve `conn` to its end; on shutdown, finish the in-flight request and
/// close (SDC-17).
async fn until_shutdown<C: GracefulConnection>(
    conn: C,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), C::Error> {
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r,
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}

fn unix_secs() -> i64 {
    i64::try_from(wall_now().as_nanos() / 1_000_000_000).unwrap_or(i64::MAX)
}

impl Proxy {
    /// An intercepted CONNECT (MITM-2): the leaf is minted (or taken from
    /// the cache) before the `200`, so a host whose leaf cannot be minted
    /// falls back or is denied while the client can still be told.
    pub(crate) async fn intercept(
        self: Arc<Self>,
        req: Request<Incoming>,
        tunnel: Interception,
        event_id: String,
        started: Instant,
    ) -> Response<Body> {
        // INVARIANT: the engine intercepts only when the proxy has a MITM
        // runtime; if that ever breaks it is handled as a leaf failure.
        let leaf = match &self.mitm {
            Some(mitm) => mitm
                .leaves
                .get_or_mint(&tunnel.intent.host, unix_secs())
                .map_err(|e| e.to_string()),
            None => Err("interception is not set up".to_owned()),
        };
        let leaf = match leaf {
            Ok(leaf) => leaf,
            Err(e) => {
                log!(Warn, TARGET, "{e}");
                let engine = self.engine.load();
                let d = engine.interception_failed(&tunnel, InterceptFailure::Leaf, &e, wall_now());
                let d = engine.finish(d, started.elapsed());
                if d.forwards() {
                    return self.connect(req, d, event_id, started).await;
                }
                return self.answer_locally(d, &event_id, started).await;
            }
        };
        // The tunnel outlives the CONNECT's own connection task: it counts as
        // a live connection for graceful shutdown (SDC-17).
        let guard = self.drain.enter();
        tokio::spawn(async move {
            let _guard = guard;
            match hyper::upgrade::on(req).await {
                Ok(upgraded) => self.run_interception(upgraded, tunnel, leaf).await,
                Err(e) => log!(Debug, TARGET, "CONNECT upgrade failed: {e}"),
            }
        });
        Response::new(empty())
    }

    /// Terminate TLS on the tunnel and serve the decrypted requests.
    async fn run_interception(
        self: Arc<Self>,
        upgraded: Upgraded,
        interception: Interception,
        leaf: Arc<ServerConfig>,
    ) {
        let started = Instant::now();
        let mut io = TokioIo::new(upgraded);
        let mut buf = Vec::new();
        let scanned =
            tokio::time::timeout(SETUP_TIMEOUT, read_client_hello(&mut io, &mut buf)).await;
        let hello = match scanned {
            Ok(Ok(HelloScan::Complete(hello))) => hello,
            Ok(Ok(HelloScan::NotTls)) => {
                return self.not_tls(io, buf, &interception, started).await;
            }
            Ok(Ok(HelloScan::Malformed(e))) => {
                let detail = format!("invalid TLS ClientHello: {e}");
                return self
                    .record_failure(
                        &interception,
                        InterceptFailure::ClientHello,
                        &detail,
                        started,
                    )
                    .await;
            }
            Ok(Ok(HelloScan::NeedMore)) | Ok(Err(_)) if buf.is_empty() => {
                log!(
                    Debug,
                    TARGET,
                    "tunnel to {} closed before any byte was sent",
                    interception.intent.authority
                );
                return;
            }
            Ok(Ok(HelloScan::NeedMore)) | Ok(Err(_)) => {
                let detail = format!(
                    "the client closed the tunnel after {} bytes, before a complete TLS ClientHello",
                    buf.len()
                );
                return self
                    .record_failure(
                        &interception,
                        InterceptFailure::ClientHello,
                        &detail,
                        started,
                    )
                    .await;
            }
            Err(_) => {
                let detail = format!(
                    "no complete TLS ClientHello within {} s ({} bytes received)",
                    SETUP_TIMEOUT.as_secs(),
                    buf.len()
                );
                return self
                    .record_failure(
                        &interception,
                        InterceptFailure::ClientHello,
                        &detail,
                        started,
                    )
                    .await;
            }
        };
        if !sni_matches(&interception.intent.host, hello.server_name.as_deref()) {
            let detail = format!(
                "the ClientHello names server `{}` but the tunnel goes to `{}`",
                hello.server_name.as_deref().unwrap_or(""),
                interception.intent.authority
            );
            return self
                .record_failure(
                    &interception,
                    InterceptFailure::SniMismatch,
                    &detail,
                    started,
                )
                .await;
        }
        let accepted = tokio::time::timeout(
            SETUP_TIMEOUT,
            TlsAcceptor::from(leaf).accept(Rewind::new(buf, io)),
        )
        .await;
        let tls = match accepted {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                let detail = format!(
                    "TLS handshake with the client failed: {e} (does the client trust the Firma CA?)"
                );
                return self
                    .record_failure(&interception, InterceptFailure::Handshake, &detail, started)
                    .await;
            }
            Err(_) => {
                let detail = format!(
                    "TLS handshake with the client did not finish within {} s",
                    SETUP_TIMEOUT.as_secs()
                );
                return self
                    .record_failure(&interception, InterceptFailure::Handshake, &detail, started)
                    .await;
            }
        };
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let tunnel = Arc::new(Tunnel {
            interception,
            h2,
            pool: Mutex::new(Vec::new()),
        });
        let svc_proxy = Arc::clone(&self);
        let svc_tunnel = Arc::clone(&tunnel);
        let service = service_fn(move |req| {
            Arc::clone(&svc_proxy).handle_intercepted(req, Arc::clone(&svc_tunnel))
        });
        let io = TokioIo::new(tls);
        let shutdown = self.drain.subscribe();
        let served = if h2 {
            let conn = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .serve_connection(io, service);
            until_shutdown(conn, shutdown).await
        } else {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(true)
                .serve_connection(io, service);
            until_shutdown(conn, shutdown).await
        };
        if let Err(e) = served {
            if e.is_parse() || e.is_parse_too_large() {
                let detail = format!("cannot parse a request inside the tunnel: {e}");
                self.record_failure(
                    &tunnel.interception,
                    InterceptFailure::Request,
                    &detail,
                    started,
                )
                .await;
            } else {
                log!(
                    Debug,
                    TARGET,
                    "intercepted tunnel to {} ended: {e}",
                    tunnel.interception.intent.authority
                );
            }
        }
    }

    /// The client's first bytes are not TLS: a blind tunnel if the host is
    /// not strict and the CONNECT itself is allowed, else a recorded deny
    /// answered in plain HTTP (MITM-5).
    async fn not_tls(
        &self,
        mut io: TokioIo<Upgraded>,
        buf: Vec<u8>,
        interception: &Interception,
        started: Instant,
    ) {
        let detail = "the client's first bytes in the tunnel are not a TLS ClientHello";
        let engine = self.engine.load();
        // The budget covers this decision only, not the wait for the client's
        // first bytes (`started` still times the audit record).
        let deciding = Instant::now();
        let d =
            engine.interception_failed(interception, InterceptFailure::NotTls, detail, wall_now());
        let d = engine.finish(d, deciding.elapsed());
        let id = self.ids.next(wall_now());
        if !d.forwards() {
            log!(Warn, TARGET, "{}", d.detail);
            let status = d.response_status().unwrap_or(403);
            let body = d.response_body(&id).unwrap_or_default();
            if let Err(e) = self.audit.record(d, &id, wall_now(), micros(started)).await {
                log!(Error, TARGET, "{e}");
            }
            let resp = format!(
                "HTTP/1.1 {status} Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = io.write_all(resp.as_bytes()).await;
            let _ = io.shutdown().await;
            return;
        }
        let (d, _, mut upstream) = match self.dial(d).await {
            Ok(v) => v,
            Err(d) => {
                if let Err(e) = self.audit.record(d, &id, wall_now(), micros(started)).await {
                    log!(Error, TARGET, "{e}");
                }
                return;
            }
        };
        if let Err(e) = self.audit.record(d, &id, wall_now(), micros(started)).await {
            log!(Error, TARGET, "{e}; closing the tunnel");
            return;
        }
        if upstream.write_all(&buf).await.is_ok() {
            let _ = tokio::io::copy_bidirectional(&mut io, &mut upstream).await;
        }
    }

    /// Record an interception failure as its own event and log it.
    async fn record_failure(
        &self,
        interception: &Interception,
        failure: InterceptFailure,
        detail: &str,
        started: Instant,
    ) {
        let d = self
            .engine
            .load()
            .interception_failed(interception, failure, detail, wall_now());
        log!(
            Warn,
            TARGET,
            "tunnel to {}: {}",
            interception.intent.authority,
            d.detail
        );
        let id = self.ids.next(wall_now());
        if let Err(e) = self.audit.record(d, &id, wall_now(), micros(started)).await {
            log!(Error, TARGET, "{e}");
        }
    }

    /// One decrypted request (MITM-4): decided with the tunnel's authority,
    /// recorded, and forwarded over verified upstream TLS.
    async fn handle_intercepted(
        self: Arc<Self>,
        req: Request<Incoming>,
        tunnel: Arc<Tunnel>,
    ) -> Result<Response<Body>, Infallible> {
        let started = Instant::now();
        let now = wall_now();
        let event_id = self.ids.next(now);
        if let Some(d) = self.oversized(&req) {
            return Ok(self.answer_locally(d, &event_id, started).await);
        }
        let authority = tunnel.interception.intent.authority.as_str();
        let engine = self.engine.load();
        let decision = with_raw(&req, Some(authority), |raw| engine.decide(raw, now));
        let decision = engine.finish(decision, started.elapsed());
        if !decision.forwards() {
            return Ok(self.answer_locally(decision, &event_id, started).await);
        }
        let (decision, addr, sender) = match tunnel.take().await {
            Some((addr, sender)) => (engine.check_resolved(decision, addr), addr, sender),
            None => match self.dial_tls(decision, tunnel.interception.strict).await {
                Ok(v) => v,
                Err(d) => return Ok(self.answer_locally(d, &event_id, started).await),
            },
        };
        if !decision.forwards() {
            return Ok(self.answer_locally(decision, &event_id, started).await);
        }
        let (resp, sender) = self
            .dispatch(req, decision, &event_id, started, sender)
            .await;
        if let Some(sender) = sender {
            tunnel.put(addr, sender);
        }
        Ok(resp)
    }

    /// Connect to the upstream of an intercepted request and verify its TLS
    /// certificate (MITM-6). `Err` is the decision to answer with.
    async fn dial_tls(
        &self,
        decision: Decision,
        strict: bool,
    ) -> Result<(Decision, SocketAddr, SendRequest<UpBody>), Decision> {
        let Some(mitm) = self.mitm.as_ref().map(Arc::clone) else {
            return Err(no_intent());
        };
        let (decision, addr, stream) = self.dial(decision).await?;
        let Some(intent) = decision.intent.as_ref() else {
            return Err(no_intent());
        };
        let host = intent.host.trim_start_matches('[').trim_end_matches(']');
        let name = match ServerName::try_from(host.to_owned()) {
            Ok(n) => n,
            Err(e) => {
                let detail = format!("`{host}` is not a valid TLS server name: {e}");
                return Err(decision.upstream_tls_failed(strict, detail));
            }
        };
        let authority = intent.authority.clone();
        let tls =
            match tokio::time::timeout(self.connect_timeout, mitm.upstream.connect(name, stream))
                .await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    let detail = format!("TLS to upstream `{authority}` ({addr}) failed: {e}");
                    return Err(decision.upstream_tls_failed(strict, detail));
                }
                Err(_) => {
                    let detail = format!(
                        "TLS handshake with upstream `{authority}` ({addr}) took longer than {} ms",
                        self.connect_timeout.as_millis()
                    );
                    return Err(decision.upstream_tls_failed(strict, detail));
                }
            };
        match hyper::client::conn::http1::handshake(TokioIo::new(tls)).await {
            Ok((sender, connection)) => {
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok((decision, addr, sender))
            }
            Err(e) => {
                let detail = format!("upstream `{authority}` handshake failed: {e}");
                Err(decision.upstream_tls_failed(strict, detail))
            }
        }
    }
}
