//! The HTTP forward proxy (SDC-5..13): one hyper service per client
//! connection. Every request goes through `Engine::decide`; the decision is
//! recorded before anything is forwarded; denies are answered locally.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use firma_core::config::HostPort;
use firma_core::engine::ConnectStep;
use firma_core::normalize::{Intent, RawRequest, Scheme};
use firma_core::{Decision, ReasonCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::Drain;
use super::audit_sink::AuditSink;
use super::clock::wall_now;
use super::engine_cell::EngineCell;
use super::headers::strip_hop_by_hop;
use super::ids::EventIds;
use super::log::log;
use super::mitm::Mitm;

/// Response body type of the proxy.
pub type Body = BoxBody<Bytes, hyper::Error>;
/// Request body type sent upstream (size-limited, SDC-18).
pub(super) type UpBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

pub(super) const TARGET: &str = "firma_sidecar::interceptor::http";

/// Shared, read-only state of the proxy.
pub struct Proxy {
    /// The enforcement engine; each request decides with one snapshot
    /// (SDC-30).
    pub engine: Arc<EngineCell>,
    /// The audit writer.
    pub audit: AuditSink,
    /// `[sidecar.upstream] resolve`.
    pub resolve: BTreeMap<HostPort, SocketAddr>,
    /// `upstream_connect_timeout_ms`.
    pub connect_timeout: Duration,
    /// `upstream_read_timeout_ms`.
    pub read_timeout: Duration,
    /// Event id source.
    pub ids: EventIds,
    /// `max_request_body_bytes`.
    pub max_body: u64,
    /// HTTPS interception, when `[sidecar.interceptor.https_mitm]` is active.
    pub mitm: Option<Arc<Mitm>>,
    /// Live connections, for graceful shutdown.
    pub drain: Drain,
}

/// The upstream connection a client connection is currently reusing.
#[derive(Default)]
pub struct ConnState {
    /// Destination `host:port` as the client named it, the address it was
    /// dialled at, and the connection.
    upstream: Option<(String, u16, SocketAddr, SendRequest<UpBody>)>,
}

/// Per-connection handle given to the service.
pub type ConnHandle = Arc<Mutex<ConnState>>;

pub(super) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub(super) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn json_response(status: u16, body: String) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

pub(super) fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

impl Proxy {
    /// Handle one request from a client connection.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        conn: ConnHandle,
    ) -> Result<Response<Body>, Infallible> {
        let started = Instant::now();
        let now = wall_now();
        let event_id = self.ids.next(now);
        if let Some(d) = self.oversized(&req) {
            return Ok(self.answer_locally(d, &event_id, started).await);
        }
        let engine = self.engine.load();
        let step = with_raw(&req, None, |raw| {
            if raw.method == "CONNECT" {
                engine.decide_connect(raw, now)
            } else {
                ConnectStep::Decided(engine.decide(raw, now))
            }
        });
        let decision = match step {
            ConnectStep::Decided(d) => engine.finish(d, started.elapsed()),
            ConnectStep::Intercept(tunnel) => {
                return Ok(self.intercept(req, tunnel, event_id, started).await);
            }
        };
        if !decision.forwards() {
            return Ok(self.answer_locally(decision, &event_id, started).await);
        }
        let Some(connect) = decision.intent.as_ref().map(|i| i.connect) else {
            // INVARIANT: a forwarding decision always carries its intent.
            return Ok(self.answer_locally(no_intent(), &event_id, started).await);
        };
        if connect {
            return Ok(self.connect(req, decision, event_id, started).await);
        }
        Ok(self.forward(req, decision, event_id, started, conn).await)
    }

    /// A DENY `MalformedRequest` when the declared body is over
    /// `max_request_body_bytes` (SDC-18).
    pub(super) fn oversized<B>(&self, req: &Request<B>) -> Option<Decision> {
        let len = declared_length(req).filter(|len| *len > self.max_body)?;
        Some(Decision::malformed(format!(
            "request body of {len} bytes exceeds max_request_body_bytes ({})",
            self.max_body
        )))
    }

    /// Record a decision that is answered by the Sidecar itself (DENY, ABORT).
    pub(super) async fn answer_locally(
        &self,
        decision: Decision,
        event_id: &str,
        started: Instant,
    ) -> Response<Body> {
        let status = decision.response_status().unwrap_or(403);
        let body = decision.response_body(event_id).unwrap_or_default();
        if let Err(e) = self
            .audit
            .record(decision, event_id, wall_now(), micros(started))
            .await
        {
            log!(Error, TARGET, "{e}");
        }
        json_response(status, body)
    }

    /// Refuse a call whose audit record could not be written (fail closed).
    pub(super) fn audit_failed(event_id: &str, e: &impl std::fmt::Display) -> Response<Body> {
        log!(Error, TARGET, "{e}; refusing the call");
        let body = firma_core::engine::deny_body(ReasonCode::FailClosed, &e.to_string(), event_id);
        json_response(503, body)
    }

    /// Where to connect for `host:port`: the resolve override, else DNS.
    async fn resolve_addr(&self, intent: &Intent) -> Result<SocketAddr, String> {
        if let Some(addr) = self.resolve_override(intent) {
            return Ok(addr);
        }
        let host = intent.host.trim_start_matches('[').trim_end_matches(']');
        let mut addrs = tokio::net::lookup_host((host, intent.port))
            .await
            .map_err(|e| format!("cannot resolve `{}`: {e}", intent.host))?;
        addrs
            .next()
            .ok_or_else(|| format!("`{}` resolved to no address", intent.host))
    }

    /// The `[sidecar.upstream] resolve` entry for the intent's `host:port`.
    fn resolve_override(&self, intent: &Intent) -> Option<SocketAddr> {
        // A short table is scanned, which needs no owned key per request.
        if self.resolve.len() <= 16 {
            return self
                .resolve
                .iter()
                .find(|(k, _)| k.port == intent.port && k.host == intent.host)
                .map(|(_, addr)| *addr);
        }
        let key = HostPort {
            host: intent.host.clone(),
            port: intent.port,
        };
        self.resolve.get(&key).copied()
    }

    /// Resolve, re-check against protected endpoints, and connect.
    /// `Err` carries the final decision (DENY or ABORT) to answer with.
    pub(super) async fn dial(
        &self,
        decision: Decision,
    ) -> Result<(Decision, SocketAddr, TcpStream), Decision> {
        let Some(intent) = decision.intent.as_ref() else {
            return Err(no_intent());
        };
        let addr = match self.resolve_addr(intent).await {
            Ok(a) => a,
            Err(e) => return Err(decision.abort(ReasonCode::UpstreamUnavailable, e)),
        };
        let decision = self.engine.load().check_resolved(decision, addr);
        if !decision.forwards() {
            return Err(decision);
        }
        let connected = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await;
        let (host, port) = decision
            .intent
            .as_ref()
            .map_or(("", 0), |i| (i.host.as_str(), i.port));
        match connected {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                Ok((decision, addr, stream))
            }
            Ok(Err(e)) => {
                let detail = format!("cannot connect to `{host}:{port}` ({addr}): {e}");
                Err(decision.abort(ReasonCode::UpstreamUnavailable, detail))
            }
            Err(_) => {
                let detail = format!(
                    "connecting to `{host}:{port}` ({addr}) took longer than {} ms",
                    self.connect_timeout.as_millis()
                );
                Err(decision.abort(ReasonCode::UpstreamTimeout, detail))
            }
        }
    }

    /// CONNECT: record, answer 200 and relay bytes both ways (SDC-8).
    pub(super) async fn connect(
        self: Arc<Self>,
        req: Request<Incoming>,
        decision: Decision,
        event_id: String,
        started: Instant,
    ) -> Response<Body> {
        let (decision, _, upstream) = match self.dial(decision).await {
            Ok(v) => v,
            Err(d) => return self.answer_locally(d, &event_id, started).await,
        };
        let intent = match self
            .audit
            .record(decision, &event_id, wall_now(), micros(started))
            .await
        {
            Ok(d) => d.intent,
            Err(e) => return Self::audit_failed(&event_id, &e),
        };
        tokio::spawn(async move {
            match hyper::upgrade::on(req).await {
                Ok(upgraded) => {
                    let mut client = TokioIo::new(upgraded);
                    let mut upstream = upstream;
                    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await
                    {
                        let (host, port) = intent
                            .as_ref()
                            .map_or(("", 0), |i| (i.host.as_str(), i.port));
                        log!(Debug, TARGET, "tunnel to {host}:{port} closed: {e}");
                    }
                }
                Err(e) => log!(Debug, TARGET, "CONNECT upgrade failed: {e}"),
            }
        });
        Response::new(empty())
    }

    /// Reuse this connection's upstream connection if it goes to `addr`,
    /// else dial a new one (and record the decision only once connected).
    async fn forward(
        self: Arc<Self>,
        req: Request<Incoming>,
        decision: Decision,
        event_id: String,
        started: Instant,
        conn: ConnHandle,
    ) -> Response<Body> {
        if decision.intent.as_ref().map(|i| i.scheme) == Some(Scheme::Https) {
            let d = decision.abort(
                ReasonCode::UpstreamUnavailable,
                "absolute-form https:// requests are not forwarded; clients use CONNECT for https",
            );
            return self.answer_locally(d, &event_id, started).await;
        }
        let mut state = conn.lock().await;
        let reusable = match state.upstream.take() {
            Some((host, port, addr, mut sender)) => sender
                .ready()
                .await
                .is_ok()
                .then_some((host, port, addr, sender)),
            None => None,
        };
        let (decision, addr, sender) = match reusable {
            // Same destination as the kept connection: no new DNS lookup.
            Some((host, port, addr, sender)) if same_destination(&decision, &host, port) => {
                let decision = self.engine.load().check_resolved(decision, addr);
                if !decision.forwards() {
                    return self.answer_locally(decision, &event_id, started).await;
                }
                (decision, addr, sender)
            }
            _ => {
                let (decision, addr, stream) = match self.dial(decision).await {
                    Ok(v) => v,
                    Err(d) => return self.answer_locally(d, &event_id, started).await,
                };
                match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
                    Ok((sender, connection)) => {
                        tokio::spawn(async move {
                            let _ = connection.await;
                        });
                        (decision, addr, sender)
                    }
                    Err(e) => {
                        let d = decision.abort(
                            ReasonCode::UpstreamUnavailable,
                            format!("upstream handshake failed: {e}"),
                        );
                        return self.answer_locally(d, &event_id, started).await;
                    }
                }
            }
        };
        let Some((host_of, port_of)) = decision.intent.as_ref().map(|i| (i.host.clone(), i.port))
        else {
            return self.answer_locally(no_intent(), &event_id, started).await;
        };

        let (resp, sender) = self
            .dispatch(req, decision, &event_id, started, sender)
            .await;
        if let Some(sender) = sender {
            state.upstream = Some((host_of, port_of, addr, sender));
        }
        resp
    }

    /// Record a forwarding decision, then send the request on `sender`
    /// (SDC-14: the record is on disk before a byte of the request leaves).
    /// Returns the response and, when the exchange worked, the sender for
    /// reuse.
    pub(super) async fn dispatch(
        &self,
        req: Request<Incoming>,
        decision: Decision,
        event_id: &str,
        started: Instant,
        mut sender: SendRequest<UpBody>,
    ) -> (Response<Body>, Option<SendRequest<UpBody>>) {
        let decision = match self
            .audit
            .record(decision, event_id, wall_now(), micros(started))
            .await
        {
            Ok(d) => d,
            Err(e) => return (Self::audit_failed(event_id, &e), None),
        };
        let Some(intent) = decision.intent.as_ref() else {
            return (self.dispatch_failed(no_intent(), started).await, None);
        };
        let upstream_req = match build_upstream_request(req, intent, self.max_body) {
            Ok(r) => r,
            Err(e) => {
                let d = decision.abort(
                    ReasonCode::UpstreamUnavailable,
                    format!("cannot build the upstream request: {e}"),
                );
                return (self.dispatch_failed(d, started).await, None);
            }
        };
        match tokio::time::timeout(self.read_timeout, sender.send_request(upstream_req)).await {
            Ok(Ok(resp)) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                (Response::from_parts(parts, body.boxed()), Some(sender))
            }
            Ok(Err(e)) => {
                let detail = format!(
                    "upstream `{}` failed after request `{event_id}` was forwarded: {e}",
                    intent.authority
                );
                let d = decision.abort(ReasonCode::UpstreamUnavailable, detail);
                (self.dispatch_failed(d, started).await, None)
            }
            Err(_) => {
                let detail = format!(
                    "upstream `{}` sent no response within {} ms after request `{event_id}` was forwarded",
                    intent.authority,
                    self.read_timeout.as_millis()
                );
                let d = decision.abort(ReasonCode::UpstreamTimeout, detail);
                (self.dispatch_failed(d, started).await, None)
            }
        }
    }

    /// A failure after the ALLOW record was written: a second record with its
    /// own event id; `decision.detail` names the forwarded call's id (SDC-14).
    pub(super) async fn dispatch_failed(
        &self,
        decision: Decision,
        started: Instant,
    ) -> Response<Body> {
        let id = self.ids.next(wall_now());
        log!(Warn, TARGET, "{}", decision.detail);
        self.answer_locally(decision, &id, started).await
    }
}

/// Run `f` on core's view of `req`'s head; `tunnel` is the CONNECT
/// authority for a request decrypted inside an intercepted tunnel.
pub(super) fn with_raw<B, R>(
    req: &Request<B>,
    tunnel: Option<&str>,
    f: impl FnOnce(&RawRequest<'_>) -> R,
) -> R {
    let target = req.uri().to_string();
    let mut headers: Vec<(&str, &[u8])> = Vec::with_capacity(req.headers().len());
    headers.extend(
        req.headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes())),
    );
    f(&RawRequest {
        method: req.method().as_str(),
        target: &target,
        headers: &headers,
        tunnel,
    })
}

/// Does the decision go to the `host:port` a kept connection was dialled for?
fn same_destination(decision: &Decision, host: &str, port: u16) -> bool {
    decision
        .intent
        .as_ref()
        .is_some_and(|i| i.host == host && i.port == port)
}

/// INVARIANT: a forwarding decision always carries its intent; this is the
/// answer if one ever does not.
pub(super) fn no_intent() -> Decision {
    Decision::malformed("internal error: forwarding decision without an intent")
}

/// The request the upstream sees: origin-form normalized target, the
/// client's end-to-end headers, a Host header, streamed body.
fn build_upstream_request(
    req: Request<Incoming>,
    intent: &Intent,
    max_body: u64,
) -> Result<Request<UpBody>, hyper::http::Error> {
    let (parts, body) = req.into_parts();
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    if !headers.contains_key(HOST)
        && let Ok(v) = HeaderValue::from_str(&intent.authority)
    {
        headers.insert(HOST, v);
    }
    let target = if intent.forward_target.is_empty() {
        "/"
    } else {
        intent.forward_target.as_str()
    };
    let limit = usize::try_from(max_body).unwrap_or(usize::MAX);
    let mut out = Request::builder()
        .method(parts.method)
        .uri(target)
        .version(Version::HTTP_11)
        .body(Limited::new(body, limit).boxed())?;
    *out.headers_mut() = headers;
    Ok(out)
}

/// The largest `Content-Length` the client declared, if any parses.
fn declared_length<B>(req: &Request<B>) -> Option<u64> {
    req.headers()
        .get_all(hyper::header::CONTENT_LENGTH)
        .iter()
        .filter_map(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .max()
}
