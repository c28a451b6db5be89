//! `bare-proxy [PORT] [HOST:PORT=ADDR]...`: the pass-through baseline of the
//! loopback load bench (`cargo xtask bench-proxy`).
//!
//! A plain HTTP/1.1 forward proxy on `127.0.0.1:PORT` (default 0, an ephemeral
//! port) with nothing but forwarding: absolute-form requests are rewritten to
//! origin form, hop-by-hop headers are dropped, and the request goes to the
//! origin over one keep-alive upstream connection per downstream connection.
//! No classification, no policy, no audit: it is the cost floor of any
//! tokio + hyper forward proxy, against which `firma sidecar` is compared.
//!
//! `HOST:PORT=ADDR` pins a destination to a socket address, like
//! `curl --resolve` (`bench.upstream:80=127.0.0.1:40123`); other destinations
//! are resolved with DNS. The runtime has two worker threads. Once bound it
//! prints its address (`127.0.0.1:40124`) as the first line on stdout.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// What the proxy answers with: the origin's streamed body, or its own error.
type Body = Either<Incoming, Full<Bytes>>;

/// `host:port` (lower case) → pinned socket address.
type Resolve = HashMap<String, SocketAddr>;

/// The upstream connection of one downstream connection, with the
/// destination it was opened for.
type Upstream = Option<(String, SendRequest<Incoming>)>;

/// Headers that describe one hop and are never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
    "transfer-encoding",
];

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let port = match args.next() {
        None => 0,
        Some(raw) => match raw.parse::<u16>() {
            Ok(p) => p,
            Err(_) => {
                eprintln!("bare-proxy: port `{raw}` is not a number from 0 to 65535");
                return ExitCode::from(2);
            }
        },
    };
    let mut resolve = Resolve::new();
    for pin in args {
        let Some((dest, addr)) = pin.split_once('=') else {
            eprintln!("bare-proxy: pin `{pin}` is not of the form `host:port=addr`");
            return ExitCode::from(2);
        };
        let Ok(addr) = addr.parse::<SocketAddr>() else {
            eprintln!("bare-proxy: pin `{pin}`: `{addr}` is not a socket address");
            return ExitCode::from(2);
        };
        resolve.insert(dest.to_ascii_lowercase(), addr);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bare-proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    match runtime.block_on(serve(addr, Arc::new(resolve))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bare-proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(addr: SocketAddr, resolve: Arc<Resolve>) -> Result<(), String> {
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
                eprintln!("bare-proxy: accept failed: {e}");
                continue;
            }
        };
        // Best effort: a socket that refuses NODELAY still serves.
        let _ = stream.set_nodelay(true);
        let resolve = Arc::clone(&resolve);
        tokio::spawn(async move {
            let upstream: Arc<Mutex<Upstream>> = Arc::new(Mutex::new(None));
            let service =
                service_fn(move |req| forward(req, Arc::clone(&upstream), Arc::clone(&resolve)));
            // Clients closing mid-request are normal at the end of a load run.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Forwards one absolute-form request; never fails at the hyper level, errors
/// become `400`/`502` answers.
async fn forward(
    mut req: Request<Incoming>,
    upstream: Arc<Mutex<Upstream>>,
    resolve: Arc<Resolve>,
) -> Result<Response<Body>, Infallible> {
    let Some(authority) = req.uri().authority() else {
        return Ok(answer(
            StatusCode::BAD_REQUEST,
            "request target must be absolute (http://host/path)",
        ));
    };
    let dest = match authority.port_u16() {
        Some(_) => authority.as_str().to_ascii_lowercase(),
        None => format!("{}:80", authority.host().to_ascii_lowercase()),
    };
    let origin_form = req
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .parse::<Uri>();
    match origin_form {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return Ok(answer(StatusCode::BAD_REQUEST, "bad request target")),
    }
    strip_hop_by_hop(req.headers_mut());

    let mut slot = upstream.lock().await;
    let reuse = matches!(&*slot, Some((d, s)) if *d == dest && !s.is_closed());
    if !reuse {
        match connect(&dest, &resolve).await {
            Ok(sender) => *slot = Some((dest, sender)),
            Err(e) => {
                *slot = None;
                return Ok(answer(StatusCode::BAD_GATEWAY, &e));
            }
        }
    }
    let Some((_, sender)) = slot.as_mut() else {
        return Ok(answer(StatusCode::BAD_GATEWAY, "no upstream connection"));
    };
    if let Err(e) = sender.ready().await {
        *slot = None;
        return Ok(answer(StatusCode::BAD_GATEWAY, &e.to_string()));
    }
    match sender.send_request(req).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Ok(Response::from_parts(parts, Either::Left(body)))
        }
        Err(e) => {
            *slot = None;
            Ok(answer(StatusCode::BAD_GATEWAY, &e.to_string()))
        }
    }
}

/// Opens a keep-alive HTTP/1.1 client connection to `dest` (`host:port`).
async fn connect(dest: &str, resolve: &Resolve) -> Result<SendRequest<Incoming>, String> {
    let addr = match resolve.get(dest) {
        Some(a) => *a,
        None => tokio::net::lookup_host(dest)
            .await
            .map_err(|e| format!("cannot resolve `{dest}`: {e}"))?
            .next()
            .ok_or_else(|| format!("`{dest}` resolves to no address"))?,
    };
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to `{dest}` at `{addr}`: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake with `{dest}` failed: {e}"))?;
    tokio::spawn(async move {
        // The connection ends when either side closes; nothing to report.
        let _ = conn.await;
    });
    Ok(sender)
}

/// Removes hop-by-hop headers, including those named in `Connection`.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn answer(status: StatusCode, message: &str) -> Response<Body> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from(format!(
        "bare-proxy: {message}\n"
    )))));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}
