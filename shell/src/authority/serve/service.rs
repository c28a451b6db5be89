//! The `firma.v1.AuthorityService` implementation (AUT-4, AUT-5, AUT-7, AUT-8).
//! Each streaming call runs as a task that feeds a small channel; a closed
//! client or a shutdown ends the task.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use firma_core::time::UnixTime;
use firma_core::token::Capability;
use firma_proto::AuthorityService;
use firma_proto::v1::{
    CapabilityToken, IssueCapabilityRequest, IssueCapabilityResponse, PolicyBundleUpdate,
    RevocationEvent, TokenFormat, WatchPolicyBundleRequest, WatchRevocationsRequest,
};
use tokio::sync::{mpsc, watch};
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::super::issuer::{IssueRequest, Issuer};
use super::bundle::Current;
use super::revocations::Revocations;
use crate::sidecar::clock::wall_now;
use crate::sidecar::log::log;

const TARGET: &str = "firma_authority::service";

/// Messages buffered per stream before the sender waits for the client.
const STREAM_BUFFER: usize = 16;

/// A stream this many revocations behind the log is logged as lagging.
const LAG_WARN: usize = 1024;

/// `since` when a WatchRevocations request leaves it out: 365 days ago.
const DEFAULT_REPLAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// The state every RPC reads.
pub(super) struct Authority {
    /// The current enforcement bundle.
    pub(super) bundles: watch::Receiver<Arc<Current>>,
    /// The revocation log.
    pub(super) revocations: Arc<Revocations>,
    /// Token issuance.
    pub(super) issuer: Arc<Issuer>,
    /// Re-send period of an unchanged bundle: max(ttl / 2, 1 s).
    pub(super) resend: Duration,
    /// Becomes `true` at shutdown: streams end.
    pub(super) shutdown: watch::Receiver<bool>,
}

type Sender<T> = mpsc::Sender<Result<T, Status>>;

#[tonic::async_trait]
impl AuthorityService for Authority {
    async fn issue_capability(
        &self,
        request: Request<IssueCapabilityRequest>,
    ) -> Result<Response<IssueCapabilityResponse>, Status> {
        let req = request.into_inner();
        let issue = IssueRequest {
            agent_id: req.agent_id,
            session_id: req.session_id,
            actions: req.requested_actions,
            resource_scope: if req.resource_scope.is_empty() {
                "*".to_owned()
            } else {
                req.resource_scope
            },
            requested_ttl_secs: i64::from(req.requested_ttl_seconds),
        };
        let version = self.bundles.borrow().bundle.version.clone();
        let mut entropy = [0u8; 10];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut entropy)
            .map_err(|_| Status::internal("the system random generator failed"))?;
        let issuer = Arc::clone(&self.issuer);
        let now = wall_now();
        let outcome = tokio::task::spawn_blocking(move || {
            let outcome = issuer.issue(&issue, &version, now, entropy);
            (issue, version, outcome)
        })
        .await
        .map_err(|e| Status::internal(format!("issuance failed: {e}")))?;
        let (issue, version, outcome) = outcome;
        match outcome {
            Ok(cap) => {
                log!(
                    Info,
                    TARGET,
                    "capability issued token_id={} agent_id={} session_id={} actions={}",
                    cap.claims().token_id,
                    cap.claims().agent_id,
                    cap.claims().session_id,
                    cap.claims()
                        .action_set
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                );
                Ok(Response::new(IssueCapabilityResponse {
                    granted: true,
                    token: Some(token_message(&cap, &version)),
                    deny_reason: String::new(),
                    deny_message: String::new(),
                }))
            }
            Err(denial) => {
                log!(
                    Info,
                    TARGET,
                    "capability denied agent_id={} session_id={} reason={}: {}",
                    issue.agent_id,
                    issue.session_id,
                    denial.code,
                    denial.message
                );
                match denial.code {
                    "INVALID_REQUEST" => Err(Status::invalid_argument(denial.message)),
                    "INTERNAL" => Err(Status::internal(denial.message)),
                    code => Ok(Response::new(IssueCapabilityResponse {
                        granted: false,
                        token: None,
                        deny_reason: code.to_owned(),
                        deny_message: denial.message,
                    })),
                }
            }
        }
    }

    type WatchPolicyBundleStream = ReceiverStream<Result<PolicyBundleUpdate, Status>>;

    async fn watch_policy_bundle(
        &self,
        request: Request<WatchPolicyBundleRequest>,
    ) -> Result<Response<Self::WatchPolicyBundleStream>, Status> {
        let have = request.into_inner().current_version;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(stream_bundles(
            self.bundles.clone(),
            have,
            self.resend,
            self.shutdown.clone(),
            tx,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type WatchRevocationsStream = ReceiverStream<Result<RevocationEvent, Status>>;

    async fn watch_revocations(
        &self,
        request: Request<WatchRevocationsRequest>,
    ) -> Result<Response<Self::WatchRevocationsStream>, Status> {
        let now = wall_now();
        let since = match request.into_inner().since {
            Some(ts) => from_timestamp(&ts),
            None => UnixTime::from_nanos(
                now.as_nanos()
                    .saturating_sub(u64::try_from(DEFAULT_REPLAY.as_nanos()).unwrap_or(u64::MAX)),
            ),
        };
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(stream_revocations(
            Arc::clone(&self.revocations),
            since,
            self.shutdown.clone(),
            tx,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// The current bundle unless the client holds it, then every change, and
/// the current bundle again after each `resend` without a push (AUT-5).
async fn stream_bundles(
    mut bundles: watch::Receiver<Arc<Current>>,
    have: String,
    resend: Duration,
    mut shutdown: watch::Receiver<bool>,
    tx: Sender<PolicyBundleUpdate>,
) {
    let first = Arc::clone(&bundles.borrow_and_update());
    if first.bundle.version != have && !send_bundle(&tx, &first).await {
        return;
    }
    loop {
        tokio::select! {
            changed = bundles.changed() => {
                if changed.is_err() {
                    return;
                }
                let current = Arc::clone(&bundles.borrow_and_update());
                if !send_bundle(&tx, &current).await {
                    return;
                }
            }
            () = tokio::time::sleep(resend) => {
                let current = Arc::clone(&bundles.borrow());
                if !send_bundle(&tx, &current).await {
                    return;
                }
            }
            () = stopped(&mut shutdown) => return,
            () = tx.closed() => return,
        }
    }
}

async fn send_bundle(tx: &Sender<PolicyBundleUpdate>, current: &Current) -> bool {
    let update = PolicyBundleUpdate {
        bundle: Some(current.bundle.clone()),
        updated_at: Some(prost_types::Timestamp::from(SystemTime::now())),
    };
    tx.send(Ok(update)).await.is_ok()
}

/// Entries newer than `since`, then every entry added later (AUT-7).
async fn stream_revocations(
    store: Arc<Revocations>,
    since: UnixTime,
    mut shutdown: watch::Receiver<bool>,
    tx: Sender<RevocationEvent>,
) {
    let mut added = store.subscribe();
    added.borrow_and_update();
    let (replay, mut next) = store.entries_from(0, wall_now());
    for r in replay.iter().filter(|r| r.revoked_at > since) {
        if tx.send(Ok(event(r))).await.is_err() {
            return;
        }
    }
    let mut lagging = false;
    loop {
        tokio::select! {
            changed = added.changed() => {
                if changed.is_err() {
                    return;
                }
                added.borrow_and_update();
            }
            () = stopped(&mut shutdown) => return,
            () = tx.closed() => return,
        }
        let behind = store.len().saturating_sub(next);
        if behind > LAG_WARN && !lagging {
            log!(
                Warn,
                TARGET,
                "a revocation stream is {behind} entries behind; it keeps receiving them in order"
            );
        }
        lagging = behind > LAG_WARN;
        let (batch, end) = store.entries_from(next, wall_now());
        next = end;
        for r in &batch {
            if tx.send(Ok(event(r))).await.is_err() {
                return;
            }
        }
    }
}

fn event(r: &firma_core::token::Revocation) -> RevocationEvent {
    RevocationEvent {
        token_id: r.token_id.clone(),
        reason: r.reason.clone(),
        timestamp: Some(to_timestamp(r.revoked_at)),
    }
}

/// The token message for a granted capability (AUT-8).
fn token_message(cap: &Capability, bundle_version: &str) -> CapabilityToken {
    let c = cap.claims();
    CapabilityToken {
        token_id: c.token_id.clone(),
        agent_id: c.agent_id.clone(),
        session_id: c.session_id.clone(),
        action_set: c.action_set.iter().map(ToString::to_string).collect(),
        resource_scope: c.resource_scope.to_string(),
        issued_at: Some(to_timestamp(c.issued_at)),
        expiry: Some(to_timestamp(c.expiry)),
        context_hash: c.context_hash.clone(),
        signature: cap.token().as_bytes().to_vec(),
        format: TokenFormat::PasetoV4.into(),
        policy_bundle_version: Some(bundle_version.to_owned()),
    }
}

fn to_timestamp(t: UnixTime) -> prost_types::Timestamp {
    let ns = t.as_nanos();
    prost_types::Timestamp {
        seconds: i64::try_from(ns / 1_000_000_000).unwrap_or(i64::MAX),
        nanos: i32::try_from(ns % 1_000_000_000).unwrap_or(0),
    }
}

fn from_timestamp(ts: &prost_types::Timestamp) -> UnixTime {
    let secs = u64::try_from(ts.seconds).unwrap_or(0);
    let nanos = u64::try_from(ts.nanos).unwrap_or(0).min(999_999_999);
    if ts.seconds < 0 {
        return UnixTime::EPOCH;
    }
    UnixTime::from_nanos(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

/// Resolves when `shutdown` becomes `true` (or its sender is gone).
pub(super) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
