//! Bare `firma authority`: the Authority gRPC server (spec `AUT-*`).
//!
//! Start-up loads the config, the signing key and issuer, the policy bundle
//! and the revocation list, builds TLS if configured, binds, and only then
//! logs `authority ready`. Polling watchers keep the bundle and the
//! revocations current; SIGINT/SIGTERM end the streams and stop the server.

mod allow_list;
mod bundle;
mod error;
mod revocations;
mod service;
mod startup;
mod tls;

use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use firma_proto::AuthorityServiceServer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

use super::Common;
use super::issuer::Issuer;
use crate::sidecar::log::log;
use error::ServeError;

const TARGET: &str = "firma_authority";

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long open calls get to finish after SIGINT/SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Run the Authority server until SIGINT/SIGTERM (exit 0); a start-up
/// failure prints `error: …` and exits 2.
pub fn run(common: &Common) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("firma-authority")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {}", ServeError::Runtime(e));
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(main(common)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn main(common: &Common) -> Result<(), ServeError> {
    let settings = startup::load_settings(common)?;
    let config = &settings.config;
    let source = if settings.embedded {
        bundle::Source::Embedded
    } else {
        bundle::Source::Dir {
            dir: config.policy_dir.clone(),
            schema_path: config.schema_path.clone(),
        }
    };
    log!(
        Info,
        "firma_authority::startup",
        "config loaded policy_dir={} listen_addr={}",
        source.describe(),
        config.listen_addr
    );
    startup::ensure_key(&settings)?;
    let issuer = Issuer::load(config).map_err(|e| ServeError::Issuer(e.to_string()))?;
    let (current, files, compiler) = bundle::load_initial(&source, config.bundle_ttl)?;
    let revocations = revocations::Revocations::load(&config.revocation_file, config.max_ttl);
    let tls = tls::server_config(config)?;

    let listener = bind(config.listen_addr)?;
    let bound = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen_addr,
        source,
    })?;
    log!(Info, "firma_authority::startup", "listening addr={bound}");

    let (bundle_tx, bundle_rx) = watch::channel(Arc::new(current));
    bundle::spawn_watcher(source, config.bundle_ttl, files, compiler, bundle_tx)
        .map_err(ServeError::Thread)?;
    revocations.spawn_watcher().map_err(ServeError::Thread)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let authority = service::Authority {
        bundles: bundle_rx,
        revocations,
        issuer: Arc::new(issuer),
        resend: (config.bundle_ttl / 2).max(Duration::from_secs(1)),
        shutdown: stop_rx.clone(),
    };
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<AuthorityServiceServer<service::Authority>>()
        .await;
    let router = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(AuthorityServiceServer::new(authority));

    let mut stopping = stop_rx.clone();
    let shutdown = async move { service::stopped(&mut stopping).await };
    let server = match tls {
        None => {
            let (tx, rx) = mpsc::channel(64);
            tokio::spawn(accept_plain(listener, tx, stop_rx.clone()));
            tokio::spawn(router.serve_with_incoming_shutdown(ReceiverStream::new(rx), shutdown))
        }
        Some(tls) => {
            let (tx, rx) = mpsc::channel(64);
            tokio::spawn(accept_tls(
                listener,
                tokio_rustls::TlsAcceptor::from(tls),
                tx,
                stop_rx.clone(),
            ));
            tokio::spawn(router.serve_with_incoming_shutdown(ReceiverStream::new(rx), shutdown))
        }
    };
    // Handlers are in place before `authority ready`: a signal sent right
    // after it still drains instead of killing the process.
    let signals = Signals::install();
    log!(Info, "firma_authority::startup", "authority ready");

    let signal = signals.recv().await;
    log!(Info, TARGET, "{signal} received, shutting down");
    let _ = stop_tx.send(true);
    match tokio::time::timeout(DRAIN_TIMEOUT, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(ServeError::Serve(e)),
        Ok(Err(join)) => log!(Warn, TARGET, "server task ended abnormally: {join}"),
        Err(_) => log!(
            Warn,
            TARGET,
            "open calls did not finish within {} s; closing them",
            DRAIN_TIMEOUT.as_secs()
        ),
    }
    log!(Info, TARGET, "authority stopped");
    Ok(())
}

/// Bind with `SO_REUSEADDR` so a restart can take the same port at once.
fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    let err = |source| ServeError::Bind { addr, source };
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(err)?;
    socket.set_reuseaddr(true).map_err(err)?;
    socket.bind(addr).map_err(err)?;
    socket.listen(1024).map_err(err)
}

/// Accept TCP connections for plain h2c until shutdown.
async fn accept_plain(
    listener: TcpListener,
    tx: mpsc::Sender<std::io::Result<TcpStream>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = service::stopped(&mut stop) => return,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                if tx.send(Ok(stream)).await.is_err() {
                    return;
                }
            }
            Err(e) => accept_error(&e).await,
        }
    }
}

/// Accept TCP connections and run each TLS handshake on its own task; a
/// rejected handshake is logged and the connection dropped before any gRPC
/// frame is read (AUT-10, AUT-11).
async fn accept_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    tx: mpsc::Sender<std::io::Result<TlsConn>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = service::stopped(&mut stop) => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                accept_error(&e).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send(Ok(TlsConn { inner: tls, peer })).await;
                }
                Ok(Err(e)) => {
                    let (identity, why) = tls::describe_failure(&e);
                    log!(
                        Warn,
                        "firma_authority::tls",
                        "tls handshake rejected peer={peer} identity={identity} reason={why}"
                    );
                }
                Err(_) => log!(
                    Warn,
                    "firma_authority::tls",
                    "tls handshake rejected peer={peer} identity=- reason=timed out after {} s",
                    HANDSHAKE_TIMEOUT.as_secs()
                ),
            }
        });
    }
}

/// Log an accept error and pause briefly (e.g. out of descriptors).
async fn accept_error(e: &std::io::Error) {
    log!(Warn, TARGET, "accept failed: {e}");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// A server-side TLS connection handed to tonic.
struct TlsConn {
    inner: tokio_rustls::server::TlsStream<TcpStream>,
    peer: SocketAddr,
}

impl Connected for TlsConn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        TcpConnectInfo {
            local_addr: self.inner.get_ref().0.local_addr().ok(),
            remote_addr: Some(self.peer),
        }
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// SIGINT and SIGTERM handlers.
struct Signals {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Wait for SIGINT or SIGTERM; returns its name.
    async fn recv(mut self) -> &'static str {
        async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = next(&mut self.int) => "SIGINT",
            () = next(&mut self.term) => "SIGTERM",
        }
    }
}
