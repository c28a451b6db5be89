//! `bench-upstream [PORT]`: the origin server of the loopback load bench
//! (`cargo xtask bench-proxy`).
//!
//! A minimal HTTP/1.1 server on `127.0.0.1:PORT` (default 0, an ephemeral
//! port) that answers every request on every path with `200 OK` and a 1 KiB
//! body, with keep-alive. It runs on a single-threaded tokio runtime so that it
//! takes at most one of the machine's cores. Once bound it prints its address
//! (`127.0.0.1:40123`) as the first line on stdout.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The response body: 1 KiB.
static BODY: [u8; 1024] = [b'x'; 1024];

fn main() -> ExitCode {
    let port = match std::env::args().nth(1) {
        None => 0,
        Some(raw) => match raw.parse::<u16>() {
            Ok(p) => p,
            Err(_) => {
                eprintln!("bench-upstream: port `{raw}` is not a number from 0 to 65535");
                return ExitCode::from(2);
            }
        },
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-upstream: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(SocketAddr::from(([127, 0, 0, 1], port)))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-upstream: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(addr: SocketAddr) -> Result<(), String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on `{addr}`: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let mut out = std::io::stdout();
    writeln!(out, "{bound}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot print the bound address: {e}"))?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bench-upstream: accept failed: {e}");
                continue;
            }
        };
        // Best effort: a socket that refuses NODELAY still serves.
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(answer));
            // Clients closing mid-request are normal at the end of a load run.
            let _ = conn.await;
        });
    }
}

async fn answer(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::new(Full::new(Bytes::from_static(&BODY)));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}
