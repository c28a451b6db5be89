//! `mitm-client`: the load client of the MITM bench (`cargo xtask bench-mitm`).
//!
//! ```text
//! mitm-client --proxy ADDR --host NAME --ca FILE --mode handshake|keepalive
//!             [--conns N] [--duration SECS] [--threads N] [--direct]
//! ```
//!
//! Every connection goes through an HTTP forward proxy at `ADDR`: TCP connect,
//! `CONNECT NAME:443`, then a TLS handshake that trusts only the PEM CA in
//! `FILE` (the proxy's MITM CA) and checks that the leaf is valid for `NAME`.
//! A proxy that tunnels blindly instead of intercepting fails that check, as
//! the origin's certificate is signed by another CA. Session resumption is
//! off, so every handshake is a full one. With `--direct`, `ADDR` is the
//! origin itself and no `CONNECT` is sent (the baseline: `FILE` is then the
//! origin's CA).
//!
//! - `handshake`: each of `N` loops repeats new TCP connection, `CONNECT`,
//!   handshake, one `GET /`, close, for `SECS` seconds; the latency of one
//!   iteration is the whole sequence.
//! - `keepalive`: `N` connections each do the `CONNECT` and handshake once,
//!   then send `GET /` back to back (one in flight per connection) for `SECS`
//!   seconds; the latency is request written → response read.
//!
//! The HTTP/1.1 client is hand-written and minimal (one request in flight,
//! `Content-Length` or chunked bodies) so the client is cheap next to the
//! proxies. Any transport error or status other than `200` counts as an
//! error; the first one is printed on stderr and the exit code is 1.
//!
//! The result is one line on stdout, `MITM_BENCH key=value …`: `mode`,
//! `conns`, `requests` (completed iterations), `errors`, `elapsed_us`,
//! `rps`, `p50_us`, `p99_us`, `first_us` (the first iteration, i.e. the first
//! handshake in `handshake` mode), `setup_p50_us` (CONNECT + handshake in
//! `keepalive` mode, else the same as `p50_us`), and `distinct_leaves` (how
//! many different leaf certificates the proxy presented).

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::Resumption;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const USAGE: &str = "usage: mitm-client --proxy ADDR --host NAME --ca FILE --mode handshake|keepalive [--conns N] [--duration SECS] [--threads N] [--direct]";

/// Largest response head or chunk-size line accepted.
const MAX_HEAD: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Handshake,
    KeepAlive,
}

/// Command-line options.
struct Options {
    proxy: SocketAddr,
    host: String,
    ca: PathBuf,
    mode: Mode,
    conns: usize,
    duration: Duration,
    threads: usize,
    direct: bool,
}

fn parse_options() -> Result<Options, String> {
    let (mut proxy, mut host, mut ca, mut mode) = (None, None, None, None);
    let (mut conns, mut secs, mut threads) = (1usize, 5.0f64, 1usize);
    let mut direct = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        if arg == "--direct" {
            direct = true;
            continue;
        }
        let raw = it
            .next()
            .ok_or_else(|| format!("`{arg}` needs a value; {USAGE}"))?;
        let bad = || format!("`{arg}` value `{raw}` is invalid");
        match arg.as_str() {
            "--proxy" => proxy = Some(raw.parse::<SocketAddr>().map_err(|_| bad())?),
            "--host" => host = Some(raw),
            "--ca" => ca = Some(PathBuf::from(raw)),
            "--mode" => {
                mode = Some(match raw.as_str() {
                    "handshake" => Mode::Handshake,
                    "keepalive" => Mode::KeepAlive,
                    _ => return Err(bad()),
                });
            }
            "--conns" => conns = raw.parse().ok().filter(|n| *n > 0).ok_or_else(bad)?,
            "--threads" => threads = raw.parse().ok().filter(|n| *n > 0).ok_or_else(bad)?,
            "--duration" => {
                secs = raw
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(bad)?;
            }
            other => return Err(format!("unknown argument `{other}`; {USAGE}")),
        }
    }
    let missing = |name: &str| format!("`{name}` is required; {USAGE}");
    Ok(Options {
        proxy: proxy.ok_or_else(|| missing("--proxy"))?,
        host: host.ok_or_else(|| missing("--host"))?,
        ca: ca.ok_or_else(|| missing("--ca"))?,
        mode: mode.ok_or_else(|| missing("--mode"))?,
        conns,
        duration: Duration::from_secs_f64(secs),
        threads,
        direct,
    })
}

fn main() -> ExitCode {
    let opts = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mitm-client: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = if opts.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mitm-client: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(opts)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mitm-client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the loops share.
struct Shared {
    proxy: SocketAddr,
    host: String,
    server_name: ServerName<'static>,
    connector: TlsConnector,
    /// `CONNECT host:443 …` request bytes.
    connect: Vec<u8>,
    /// `GET / …` request bytes.
    get: Vec<u8>,
    deadline: Instant,
    /// No proxy: TLS straight to the origin.
    direct: bool,
    tally: Mutex<Tally>,
}

/// Results merged from every loop.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    setup_us: Vec<u32>,
    first_us: Option<u32>,
    errors: u64,
    first_error: Option<String>,
    leaves: HashSet<u64>,
}

impl Tally {
    fn error(&mut self, e: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e);
        }
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

async fn run(opts: Options) -> Result<u64, String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&opts.ca)
        .map_err(|e| format!("cannot read `{}`: {e}", opts.ca.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad PEM in `{}`: {e}", opts.ca.display()))?;
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("no CA certificate in `{}`", opts.ca.display()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot build the TLS config: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = Resumption::disabled();
    let server_name = ServerName::try_from(opts.host.clone())
        .map_err(|_| format!("`{}` is not a valid server name", opts.host))?;

    let start = Instant::now();
    let shared = Arc::new(Shared {
        proxy: opts.proxy,
        connect: format!(
            "CONNECT {h}:443 HTTP/1.1\r\nHost: {h}:443\r\n\r\n",
            h = opts.host
        )
        .into_bytes(),
        get: format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", opts.host).into_bytes(),
        host: opts.host,
        server_name,
        connector: TlsConnector::from(Arc::new(config)),
        deadline: start + opts.duration,
        direct: opts.direct,
        tally: Mutex::new(Tally::default()),
    });
    let mut tasks = Vec::with_capacity(opts.conns);
    for _ in 0..opts.conns {
        let s = Arc::clone(&shared);
        tasks.push(tokio::spawn(async move {
            match opts.mode {
                Mode::Handshake => handshake_loop(&s).await,
                Mode::KeepAlive => keepalive_loop(&s).await,
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| format!("a load task failed: {e}"))?;
    }
    let elapsed = start.elapsed();

    let mut tally = shared
        .tally
        .lock()
        .map_err(|_| "a load task panicked".to_owned())?;
    let tally = std::mem::take(&mut *tally);
    let mut lat = tally.latencies_us;
    lat.sort_unstable();
    let mut setup = tally.setup_us;
    setup.sort_unstable();
    let requests = lat.len() as u64;
    let rps = requests as f64 / elapsed.as_secs_f64();
    println!(
        "MITM_BENCH mode={} conns={} requests={requests} errors={} elapsed_us={} rps={rps:.1} \
         p50_us={} p99_us={} first_us={} setup_p50_us={} distinct_leaves={}",
        match opts.mode {
            Mode::Handshake => "handshake",
            Mode::KeepAlive => "keepalive",
        },
        opts.conns,
        tally.errors,
        elapsed.as_micros(),
        percentile(&lat, 50),
        percentile(&lat, 99),
        tally.first_us.unwrap_or(0),
        percentile(if setup.is_empty() { &lat } else { &setup }, 50),
        tally.leaves.len(),
    );
    if let Some(e) = &tally.first_error {
        eprintln!(
            "mitm-client: {} error(s) through `{}`; first: {e}",
            tally.errors, opts.proxy
        );
    } else if requests == 0 {
        eprintln!("mitm-client: no request completed through `{}`", opts.proxy);
        return Ok(1);
    }
    Ok(tally.errors)
}

/// The `p`th percentile of sorted values (nearest rank), 0 when empty.
fn percentile(sorted: &[u32], p: usize) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or(0)
}

async fn handshake_loop(s: &Shared) {
    let mut lat = Vec::new();
    let mut leaves = HashSet::new();
    while Instant::now() < s.deadline {
        let t0 = Instant::now();
        let result = async {
            let mut conn = Conn::open(s).await?;
            leaves.insert(conn.leaf_hash());
            conn.request(&s.get).await?;
            // Close politely; the proxy's reaction is not measured.
            let _ = conn.tls.shutdown().await;
            Ok::<_, String>(())
        }
        .await;
        let took = micros(t0.elapsed());
        match result {
            Ok(()) => {
                lat.push(took);
                if let Ok(mut t) = s.tally.lock()
                    && t.first_us.is_none()
                {
                    t.first_us = Some(took);
                }
            }
            Err(e) => record_error(s, e),
        }
    }
    if let Ok(mut t) = s.tally.lock() {
        t.latencies_us.extend(lat);
        t.leaves.extend(leaves);
    }
}

async fn keepalive_loop(s: &Shared) {
    let mut lat = Vec::new();
    let mut setup = Vec::new();
    let mut leaves = HashSet::new();
    'connections: while Instant::now() < s.deadline {
        let t0 = Instant::now();
        let mut conn = match Conn::open(s).await {
            Ok(c) => c,
            Err(e) => {
                record_error(s, e);
                continue;
            }
        };
        setup.push(micros(t0.elapsed()));
        leaves.insert(conn.leaf_hash());
        while Instant::now() < s.deadline {
            let t = Instant::now();
            if let Err(e) = conn.request(&s.get).await {
                record_error(s, e);
                continue 'connections;
            }
            let took = micros(t.elapsed());
            if lat.is_empty()
                && let Ok(mut tl) = s.tally.lock()
                && tl.first_us.is_none()
            {
                tl.first_us = Some(took);
            }
            lat.push(took);
        }
    }
    if let Ok(mut t) = s.tally.lock() {
        t.latencies_us.extend(lat);
        t.setup_us.extend(setup);
        t.leaves.extend(leaves);
    }
}

fn record_error(s: &Shared, e: String) {
    if let Ok(mut t) = s.tally.lock() {
        t.error(e);
    }
}

/// One intercepted connection: TLS to the proxy's minted leaf, inside a
/// CONNECT tunnel, with a read buffer.
struct Conn {
    tls: TlsStream<TcpStream>,
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    pos: usize,
}

impl Conn {
    /// TCP to the proxy, `CONNECT` (unless direct), then the TLS handshake.
    async fn open(s: &Shared) -> Result<Self, String> {
        let mut tcp = TcpStream::connect(s.proxy)
            .await
            .map_err(|e| format!("cannot connect to `{}`: {e}", s.proxy))?;
        tcp.set_nodelay(true)
            .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
        if !s.direct {
            connect(&mut tcp, s).await?;
        }
        let tls = s
            .connector
            .connect(s.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS handshake with the proxy for `{}` failed: {e}", s.host))?;
        Ok(Self {
            tls,
            buf: Vec::with_capacity(4096),
            pos: 0,
        })
    }

    /// A hash of the leaf certificate the proxy presented.
    fn leaf_hash(&self) -> u64 {
        let mut h = DefaultHasher::new();
        if let Some(leaf) = self
            .tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
        {
            leaf.as_ref().hash(&mut h);
        }
        h.finish()
    }

    /// Sends one request and reads its whole response; non-`200` is an error.
    async fn request(&mut self, req: &[u8]) -> Result<(), String> {
        self.tls
            .write_all(req)
            .await
            .map_err(|e| format!("cannot send the request: {e}"))?;
        let head_len = loop {
            if let Some(end) = find(self.pending(), b"\r\n\r\n") {
                break end + 4;
            }
            if self.pending().len() > MAX_HEAD {
                return Err("the response head is too long".into());
            }
            self.fill().await?;
        };
        let head = self.pending().get(..head_len).unwrap_or_default();
        let status = status_of(head)?;
        let framing = framing_of(head)?;
        self.pos += head_len;
        match framing {
            Framing::Length(n) => self.skip(n).await?,
            Framing::Chunked => self.skip_chunked().await?,
        }
        if status != 200 {
            return Err(format!("the response status is `{status}`"));
        }
        Ok(())
    }

    fn pending(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Reads more bytes into the buffer; end of stream is an error.
    async fn fill(&mut self) -> Result<(), String> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 32 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + 16 * 1024, 0);
        let n = self
            .tls
            .read(self.buf.get_mut(old..).unwrap_or_default())
            .await;
        self.buf.truncate(old + n.as_ref().copied().unwrap_or(0));
        match n {
            Ok(0) => Err("the proxy closed the connection mid-response".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("cannot read the response: {e}")),
        }
    }

    /// Consumes `n` body bytes.
    async fn skip(&mut self, mut n: usize) -> Result<(), String> {
        loop {
            let have = self.pending().len().min(n);
            self.pos += have;
            n -= have;
            if n == 0 {
                return Ok(());
            }
            self.fill().await?;
        }
    }

    /// Consumes one CRLF-terminated line and returns it without the CRLF.
    async fn line(&mut self) -> Result<Vec<u8>, String> {
        loop {
            if let Some(end) = find(self.pending(), b"\r\n") {
                let line = self.pending().get(..end).unwrap_or_default().to_vec();
                self.pos += end + 2;
                return Ok(line);
            }
            if self.pending().len() > MAX_HEAD {
                return Err("a chunk line is too long".into());
            }
            self.fill().await?;
        }
    }

    /// Consumes a chunked body with its trailers.
    async fn skip_chunked(&mut self) -> Result<(), String> {
        loop {
            let line = self.line().await?;
            let text = String::from_utf8_lossy(&line);
            let size = text.split(';').next().unwrap_or_default().trim();
            let size =
                usize::from_str_radix(size, 16).map_err(|_| format!("bad chunk size `{size}`"))?;
            if size == 0 {
                while !self.line().await?.is_empty() {}
                return Ok(());
            }
            self.skip(size).await?;
            if !self.line().await?.is_empty() {
                return Err("a chunk is not followed by CRLF".into());
            }
        }
    }
}

/// Sends `CONNECT host:443` and checks for a `200` answer.
async fn connect(tcp: &mut TcpStream, s: &Shared) -> Result<(), String> {
    tcp.write_all(&s.connect)
        .await
        .map_err(|e| format!("cannot send CONNECT: {e}"))?;
    // The proxy says nothing after its CONNECT answer until the client
    // speaks TLS, so reading up to the blank line reads exactly the head.
    let mut head = Vec::with_capacity(128);
    let mut byte = [0u8; 256];
    loop {
        let n = tcp
            .read(&mut byte)
            .await
            .map_err(|e| format!("cannot read the CONNECT answer: {e}"))?;
        if n == 0 {
            return Err("the proxy closed the connection after CONNECT".into());
        }
        head.extend_from_slice(byte.get(..n).unwrap_or_default());
        if let Some(end) = find(&head, b"\r\n\r\n") {
            if end + 4 != head.len() {
                return Err("the proxy sent bytes after its CONNECT answer".into());
            }
            break;
        }
        if head.len() > MAX_HEAD {
            return Err("the CONNECT answer head is too long".into());
        }
    }
    let status = status_of(&head)?;
    if status != 200 {
        return Err(format!(
            "CONNECT {}:443 answered `{status}`: {}",
            s.host,
            String::from_utf8_lossy(&head).trim_end()
        ));
    }
    Ok(())
}

enum Framing {
    Length(usize),
    Chunked,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The status code of an HTTP/1.x response head.
fn status_of(head: &[u8]) -> Result<u16, String> {
    let first = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let text = String::from_utf8_lossy(first);
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next().and_then(|c| c.parse().ok())) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => Ok(code),
        _ => Err(format!("bad status line `{text}`")),
    }
}

/// How the body after `head` is delimited.
fn framing_of(head: &[u8]) -> Result<Framing, String> {
    let text = String::from_utf8_lossy(head);
    let mut length = None;
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            return Ok(Framing::Chunked);
        }
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse()
                    .map_err(|_| format!("bad content-length `{value}`"))?,
            );
        }
    }
    length
        .map(Framing::Length)
        .ok_or_else(|| "the response has neither content-length nor chunked body".into())
}
