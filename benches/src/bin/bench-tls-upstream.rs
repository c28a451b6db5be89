//! `bench-tls-upstream --ca-out FILE [--port PORT] [--host NAME]`: the HTTPS
//! origin of the MITM bench (`cargo xtask bench-mitm`).
//!
//! On start it mints a throwaway CA and a leaf certificate for `NAME`
//! (default `bench.test`, as a DNS subject alternative name) with rcgen, and
//! writes the CA certificate as PEM to `FILE` so that the proxies under test
//! can trust it for their upstream TLS. It then serves HTTPS with HTTP/1.1
//! keep-alive on `127.0.0.1:PORT` (default 0, an ephemeral port) and answers
//! every request on every path with `200 OK` and a 1 KiB body, like
//! `bench-upstream`. It runs on a single-threaded tokio runtime so that it
//! takes at most one of the machine's cores. Once bound and with the CA file
//! written it prints its address (`127.0.0.1:40123`) as the first line on
//! stdout.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The response body: 1 KiB.
static BODY: [u8; 1024] = [b'x'; 1024];

const USAGE: &str = "usage: bench-tls-upstream --ca-out FILE [--port PORT] [--host NAME]";

/// Command-line options.
struct Options {
    ca_out: PathBuf,
    port: u16,
    host: String,
}

fn parse_options() -> Result<Options, String> {
    let mut ca_out = None;
    let mut port = 0;
    let mut host = String::from("bench.test");
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("`{arg}` needs a value; {USAGE}"))
        };
        match arg.as_str() {
            "--ca-out" => ca_out = Some(PathBuf::from(value()?)),
            "--port" => {
                let raw = value()?;
                port = raw
                    .parse()
                    .map_err(|_| format!("port `{raw}` is not a number from 0 to 65535"))?;
            }
            "--host" => host = value()?,
            other => return Err(format!("unknown argument `{other}`; {USAGE}")),
        }
    }
    let ca_out = ca_out.ok_or_else(|| format!("`--ca-out` is required; {USAGE}"))?;
    Ok(Options { ca_out, port, host })
}

fn main() -> ExitCode {
    let opts = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench-tls-upstream: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-tls-upstream: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-tls-upstream: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A throwaway CA and a leaf for `host` signed by it: (CA PEM, leaf DER,
/// leaf key DER).
fn mint(host: &str) -> Result<(String, CertificateDer<'static>, PrivateKeyDer<'static>), String> {
    let fail = |what: &str, e: rcgen::Error| format!("cannot mint the {what}: {e}");
    let ca_key = KeyPair::generate().map_err(|e| fail("CA key", e))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(|e| fail("CA", e))?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "firma bench upstream CA");
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(|e| fail("CA certificate", e))?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().map_err(|e| fail("leaf key", e))?;
    let mut leaf_params =
        CertificateParams::new(vec![host.to_owned()]).map_err(|e| fail("leaf", e))?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, host);
    let leaf = leaf_params
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| fail("leaf certificate", e))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    Ok((ca_cert.pem(), leaf.der().clone(), key))
}

async fn serve(opts: Options) -> Result<(), String> {
    let (ca_pem, leaf, key) = mint(&opts.host)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot build the TLS config: {e}"))?
        .with_no_client_auth()
        .with_single_cert(vec![leaf], key)
        .map_err(|e| format!("cannot use the minted leaf: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));

    std::fs::write(&opts.ca_out, ca_pem)
        .map_err(|e| format!("cannot write `{}`: {e}", opts.ca_out.display()))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], opts.port));
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
                eprintln!("bench-tls-upstream: accept failed: {e}");
                continue;
            }
        };
        // Best effort: a socket that refuses NODELAY still serves.
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // A client that gives up mid-handshake is normal at a run's end.
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let conn = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tls), service_fn(answer));
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
