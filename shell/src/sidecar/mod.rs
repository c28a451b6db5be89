//! `firma sidecar`: the enforcing HTTP forward proxy in the foreground
//! (spec `SDC-*`). Start-up loads and checks everything, then serves until
//! SIGINT/SIGTERM, then drains and flushes the audit log.

mod audit_sink;
pub(crate) mod clock;
pub(crate) mod discover;
pub(crate) mod embedded;
mod engine_cell;
mod first_head;
mod headers;
mod ids;
mod link;
pub(crate) mod log;
mod mitm;
mod proxy;
mod seeds;
pub(crate) mod startup;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use firma_core::config::{AuditSink as SinkConfig, Config};
use firma_core::engine::{Capabilities, Engine, EngineConfig, ProtectedEndpoints};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use self::audit_sink::AuditSink;
use self::clock::wall_now;
use self::discover::Discovered;
use self::engine_cell::EngineCell;
use self::ids::EventIds;
use self::log::log;
use self::proxy::{ConnHandle, Proxy};
use self::startup::StartupError;

/// `firma sidecar` arguments.
#[derive(Debug, clap::Args)]
pub struct SidecarArgs {
    /// The firma.toml to use. Default: $FIRMA_CONFIG, else the nearest
    /// .firma/firma.toml above the working directory, else the built-in default.
    #[arg(short, long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Runtime state directory (embedded-default audit log and key). Default:
    /// $FIRMA_STATE_DIR, else $XDG_RUNTIME_DIR/firma, else /tmp/firma-$UID.
    #[arg(long, value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// `start`, `stop`, `status` of the daemon pair; none: the foreground proxy.
    #[command(subcommand)]
    pub command: Option<crate::daemon::DaemonCommand>,
}

/// Time allowed for reading a request head (slow-loris bound).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Run the Sidecar in the foreground.
pub fn run(mut args: SidecarArgs) -> ExitCode {
    if let Some(command) = args.command.take() {
        return crate::daemon::run(command, args.config, args.state_dir);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("firma-sidecar")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(main(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn load_config(args: &SidecarArgs) -> Result<Config, StartupError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let state_dir = discover::state_dir(
        args.state_dir.as_deref(),
        std::env::var_os("FIRMA_STATE_DIR").map(PathBuf::from),
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        discover::current_uid(),
    );
    match discover::config(
        args.config.as_deref(),
        std::env::var_os("FIRMA_CONFIG").map(PathBuf::from),
        &cwd,
    ) {
        Discovered::File(path, _how) => startup::read_config(&path),
        Discovered::Embedded(looked) => {
            eprintln!(
                "firma: no firma.toml found (no --config, no FIRMA_CONFIG, no .firma/firma.toml from {} upwards); \
                 running on the embedded default: proxy on 127.0.0.1:8080, built-in mapping packs, built-in \
                 development policy, default_protected = false, audit log in {}",
                looked
                    .first()
                    .and_then(|p| p.parent())
                    .and_then(|p| p.parent())
                    .unwrap_or(&cwd)
                    .display(),
                state_dir.display()
            );
            startup::ensure_state_dir(&state_dir)?;
            Ok(Config::embedded_default(&state_dir))
        }
    }
}

async fn main(args: SidecarArgs) -> Result<(), StartupError> {
    let config = load_config(&args)?;
    let sc = &config.sidecar;
    log::set_level(sc.log_level);
    let config_dir = match &config.origin {
        firma_core::config::ConfigOrigin::File(p) => p.parent().map(std::path::Path::to_path_buf),
        firma_core::config::ConfigOrigin::Embedded => None,
    };
    let rules = startup::load_rules(&sc.mapping.rules, config_dir.as_deref())?;
    let authority = sc.authority.url.clone();
    // Policy-only mode loads the bundle once; with an Authority it streams
    // in, and the local policy directory is not read (SDC-32).
    let local_bundle = match &authority {
        None => Some(startup::load_bundle(&sc.policy.source)?),
        Some(url) => {
            log!(
                Info,
                "firma_sidecar::startup",
                "policy bundle comes from the Authority at {url}"
            );
            None
        }
    };
    let (link, seeds) = match &authority {
        Some(url) => {
            let link = link::Link::new(&sc.authority, url)?;
            let seeds = match &sc.authority.public_key_path {
                Some(key) => Some(seeds::SeedFiles::load(key, &sc.capability_seed_paths)?),
                None => None,
            };
            (Some(link), seeds)
        }
        None => {
            if !sc.capability_seed_paths.is_empty() {
                log!(
                    Warn,
                    "firma_sidecar::startup",
                    "`sidecar.capability_seed.paths` is ignored: without an Authority Stage 1 is bypassed (policy-only mode)"
                );
            }
            (None, None)
        }
    };
    let signer = startup::load_signer(&sc.audit.signing_key)?;
    // The CA is ready before the listener accepts (MITM-8).
    let mitm = if sc.interceptor.https_mitm.is_active() {
        let now_secs = i64::try_from(wall_now().as_nanos() / 1_000_000_000).unwrap_or(i64::MAX);
        Some(Arc::new(mitm::Mitm::start(
            &sc.interceptor.https_mitm,
            &sc.ca_dir,
            now_secs,
        )?))
    } else {
        None
    };

    let listen = sc.interceptor.listen_addr;
    let std_listener =
        std::net::TcpListener::bind(listen).map_err(|source| StartupError::Bind {
            addr: listen,
            source,
        })?;
    std_listener
        .set_nonblocking(true)
        .map_err(|source| StartupError::Bind {
            addr: listen,
            source,
        })?;
    let bound = std_listener
        .local_addr()
        .map_err(|source| StartupError::Bind {
            addr: listen,
            source,
        })?;
    let listener = TcpListener::from_std(std_listener).map_err(|source| StartupError::Bind {
        addr: listen,
        source,
    })?;
    log!(
        Info,
        "firma_sidecar::interceptor::http",
        "listening on {bound}"
    );

    let now = wall_now();
    let target = startup::sink_target(&sc.audit.sink);
    let audit = AuditSink::open(
        &target,
        signer,
        sc.audit.redact_query_params.clone(),
        now.as_nanos() / 1_000_000_000,
    )?;
    match &sc.audit.sink {
        SinkConfig::File(p) => log!(
            Info,
            "firma_sidecar::audit",
            "file sink ready {}",
            p.display()
        ),
        SinkConfig::Stdout => log!(Info, "firma_sidecar::audit", "stdout sink ready"),
    }

    let engine_config = EngineConfig {
        default_protected: sc.mapping.default_protected,
        bundle_ttl: sc.constraint_enforcement.bundle_ttl,
        enforcement_timeout: sc.constraint_enforcement.enforcement_timeout,
    };
    let mut engine = match local_bundle {
        Some(bundle) => {
            Engine::policy_only(engine_config, Arc::new(rules), Arc::new(bundle), wall_now())
        }
        None => {
            let caps = seeds
                .as_ref()
                .map_or_else(Capabilities::empty, seeds::SeedFiles::capabilities);
            if caps.is_empty() {
                log!(
                    Warn,
                    "firma_sidecar::startup",
                    "no capability seed loaded: every protected call is denied TokenInvalid (set `sidecar.capability_seed.paths`)"
                );
            }
            Engine::awaiting_authority(engine_config, Arc::new(rules), caps)
        }
    };
    let mut protected = ProtectedEndpoints::new();
    protected.add_addr(bound);
    // The local Authority's listener (`[authority] listen_addr`) is never a
    // destination either, whether or not it is running yet.
    protected.add_addr(config.authority.listen_addr);
    if let Some(url) = &authority {
        protected.add_name(url.host(), url.port());
    }
    engine.set_protected_endpoints(protected);
    engine.set_interception(sc.interceptor.https_mitm.clone());

    // Many agents keep many connections: allow as many descriptors as the
    // hard limit permits.
    let _ = rlimit::increase_nofile_limit(u64::MAX);

    let cell = Arc::new(EngineCell::new(engine));
    let proxy = Arc::new(Proxy {
        engine: Arc::clone(&cell),
        audit: audit.clone(),
        resolve: sc.upstream_resolve.clone(),
        connect_timeout: sc.interceptor.upstream_connect_timeout,
        read_timeout: sc.interceptor.upstream_read_timeout,
        ids: EventIds::new(now),
        max_body: sc.interceptor.max_request_body_bytes.get(),
        mitm,
        drain: Drain::default(),
    });
    match link {
        None => log!(Info, "firma_sidecar", "sidecar ready"),
        Some(link) => {
            // Calls are answered (and denied PolicyBundleNotReady /
            // RevocationCacheNotReady) from now on; `sidecar ready` waits
            // until both streams have hydrated (SDC-35).
            link.spawn(Arc::clone(&cell));
            if let Some(seeds) = seeds {
                seeds.watch(Arc::clone(&cell));
            }
            let cell = Arc::clone(&cell);
            tokio::spawn(async move {
                cell.ready().await;
                log!(Info, "firma_sidecar", "sidecar ready");
            });
        }
    }

    serve(listener, proxy, sc.interceptor.drain_timeout).await;

    audit.close().await;
    log!(Info, "firma_sidecar", "audit log flushed; bye");
    Ok(())
}

/// Accept connections until a shutdown signal, then drain (SDC-17).
async fn serve(listener: TcpListener, proxy: Arc<Proxy>, drain: Duration) {
    let drain_state = proxy.drain.clone();
    let mut signals = Signals::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(v) => v,
                    Err(e) => {
                        log!(Warn, "firma_sidecar::interceptor::http", "accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let proxy = Arc::clone(&proxy);
                let mut shutdown = drain_state.subscribe();
                let guard = drain_state.enter();
                tokio::spawn(async move {
                    let _guard = guard;
                    let mut stream = stream;
                    let peeked = tokio::select! {
                        p = first_head::peek(&mut stream, HEADER_READ_TIMEOUT) => p,
                        _ = shutdown.changed() => return,
                    };
                    let prefix = match peeked {
                        (_, first_head::FirstHead::Suspicious(method, target, headers)) => {
                            proxy.refuse_first_head(stream, &method, &target, &headers).await;
                            return;
                        }
                        (prefix, first_head::FirstHead::Ordinary) => prefix,
                    };
                    let conn_state: ConnHandle = ConnHandle::default();
                    let svc_proxy = Arc::clone(&proxy);
                    let service = service_fn(move |req| Arc::clone(&svc_proxy).handle(req, Arc::clone(&conn_state)));
                    let conn = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_READ_TIMEOUT)
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(first_head::Rewind::new(prefix, stream)), service)
                        .with_upgrades();
                    tokio::pin!(conn);
                    let result = tokio::select! {
                        r = conn.as_mut() => r,
                        _ = shutdown.changed() => {
                            conn.as_mut().graceful_shutdown();
                            conn.await
                        }
                    };
                    if let Err(e) = result {
                        if e.is_parse() || e.is_parse_too_large() {
                            proxy.record_unparsable(peer, &e).await;
                        } else {
                            log!(Debug, "firma_sidecar::interceptor::http", "connection from {peer} ended: {e}");
                        }
                    }
                });
            }
            sig = signals.recv() => {
                log!(Info, "firma_sidecar", "{sig} received: no longer accepting; draining for up to {} s", drain.as_secs());
                break;
            }
        }
    }
    drop(listener);
    tokio::select! {
        () = drain_state.shutdown() => log!(Info, "firma_sidecar", "all connections drained"),
        () = tokio::time::sleep(drain) => log!(Warn, "firma_sidecar", "drain timeout reached; closing remaining connections"),
    }
}

impl Proxy {
    /// SDC-19: a first head carrying both framing headers is decided by core
    /// from the raw header list (which hyper would have rewritten), recorded,
    /// answered 403 and the connection closed.
    async fn refuse_first_head(
        &self,
        mut stream: tokio::net::TcpStream,
        method: &str,
        target: &str,
        headers: &[(String, Vec<u8>)],
    ) {
        use tokio::io::AsyncWriteExt;
        let started = std::time::Instant::now();
        let now = wall_now();
        let id = self.ids.next(now);
        let list: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let raw = firma_core::normalize::RawRequest {
            method,
            target,
            headers: &list,
            tunnel: None,
        };
        let mut d = self.engine.load().decide(&raw, now);
        if d.forwards() {
            // INVARIANT (fail closed): this path never forwards.
            d = firma_core::Decision::malformed(
                "request has both Content-Length and Transfer-Encoding",
            );
        }
        let latency = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let body = d.response_body(&id).unwrap_or_default();
        if let Err(e) = self.audit.record(d, &id, now, latency).await {
            log!(Error, "firma_sidecar::audit", "{e}");
        }
        let resp = format!(
            "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(resp.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    /// SDC-13: a request head hyper could not parse still gets its record.
    async fn record_unparsable(&self, peer: std::net::SocketAddr, e: &hyper::Error) {
        let now = wall_now();
        let id = self.ids.next(now);
        let d =
            firma_core::Decision::malformed(format!("unparsable request head from {peer}: {e}"));
        if let Err(err) = self.audit.record(d, &id, now, 0).await {
            log!(Error, "firma_sidecar::audit", "{err}");
        }
    }
}

/// Tracks live client connections (and intercepted tunnels) and tells them
/// to finish (SDC-17).
#[derive(Clone, Default)]
pub(crate) struct Drain {
    signal: Arc<tokio::sync::watch::Sender<bool>>,
    live: Arc<(std::sync::atomic::AtomicUsize, tokio::sync::Notify)>,
}

/// Held by a connection task while it runs.
pub(crate) struct LiveGuard(Arc<(std::sync::atomic::AtomicUsize, tokio::sync::Notify)>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.0.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
            self.0.1.notify_waiters();
        }
    }
}

impl Drain {
    /// A receiver that changes when shutdown starts.
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<bool> {
        self.signal.subscribe()
    }

    /// Count a connection as live until the guard is dropped.
    pub(crate) fn enter(&self) -> LiveGuard {
        self.live
            .0
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        LiveGuard(Arc::clone(&self.live))
    }

    /// Ask every connection to finish its in-flight request and close, then
    /// wait until none is left.
    async fn shutdown(&self) {
        let _ = self.signal.send(true);
        loop {
            let notified = self.live.1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.live.0.load(std::sync::atomic::Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// SIGINT and SIGTERM.
struct Signals {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    async fn recv(&mut self) -> &'static str {
        let int = async {
            match &mut self.int {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        let term = async {
            match &mut self.term {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = int => "SIGINT",
            _ = term => "SIGTERM",
        }
    }
}
