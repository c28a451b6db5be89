//! `WatchRevocations` (SDC-33): every event is merged into the engine's
//! revocation set; the revocation state is ready on the first event or
//! after a grace period on a connected stream with no event.

use std::time::Duration;

use firma_core::UnixTime;
use firma_core::token::{Revocation, token_id_problem};
use firma_proto::v1::{RevocationEvent, WatchRevocationsRequest};
use tonic::Status;
use tonic::codec::Streaming;

use super::TARGET;
use crate::sidecar::clock::wall_now;
use crate::sidecar::engine_cell::EngineCell;
use crate::sidecar::log::log;

/// How long a connected stream may stay silent before the (empty)
/// revocation list counts as hydrated.
pub const READINESS_GRACE: Duration = Duration::from_millis(500);
/// Replays start this long before the last event seen, so that events
/// sharing its timestamp are not missed (a replayed id is a no-op).
const REPLAY_OVERLAP: Duration = Duration::from_secs(1);
/// Most events applied in one engine update.
const MAX_BATCH: usize = 1024;

/// What the revocation stream remembers across reconnects.
#[derive(Debug, Default)]
pub struct RevocationState {
    /// The latest `revoked_at` seen.
    last: Option<UnixTime>,
    /// The engine has been told the revocation state is ready.
    ready: bool,
}

impl RevocationState {
    /// The request for a (re)connect: replay from just before the last
    /// event seen; on first connect, the Authority's default window.
    pub fn request(&self) -> WatchRevocationsRequest {
        WatchRevocationsRequest {
            since: self.last.map(|t| {
                let start = t.as_nanos().saturating_sub(nanos(REPLAY_OVERLAP));
                timestamp(UnixTime::from_nanos(start))
            }),
        }
    }

    fn mark_ready(&mut self, cell: &EngineCell, why: &str) {
        if self.ready {
            return;
        }
        self.ready = true;
        log!(Info, TARGET, "revocation list hydrated ({why})");
        cell.update(|e| e.handle_revocations_ready());
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A `UnixTime` as a protobuf timestamp.
fn timestamp(t: UnixTime) -> prost_types::Timestamp {
    let ns = t.as_nanos();
    prost_types::Timestamp {
        seconds: i64::try_from(ns / 1_000_000_000).unwrap_or(i64::MAX),
        nanos: i32::try_from(ns % 1_000_000_000).unwrap_or(0),
    }
}

/// A protobuf timestamp as a `UnixTime`; `None` when absent, before 1970
/// or out of range.
fn unix_time(ts: Option<&prost_types::Timestamp>) -> Option<UnixTime> {
    let ts = ts?;
    let secs = u64::try_from(ts.seconds).ok()?;
    let sub = u64::try_from(ts.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)?;
    let ns = secs.checked_mul(1_000_000_000)?.checked_add(sub)?;
    Some(UnixTime::from_nanos(ns))
}

/// One event as a revocation. An event without a usable timestamp is
/// stamped `now`; an id that is not a token id is refused (it could never
/// match a token).
pub fn to_revocation(event: RevocationEvent, now: UnixTime) -> Result<Revocation, String> {
    if let Some(problem) = token_id_problem(&event.token_id) {
        return Err(format!(
            "revocation event for `{}` ignored: the token id {problem}",
            event.token_id.escape_debug()
        ));
    }
    let revoked_at = unix_time(event.timestamp.as_ref()).unwrap_or(now);
    Ok(Revocation {
        token_id: event.token_id,
        revoked_at,
        reason: event.reason,
    })
}

/// Apply every event of `stream` until it fails or ends. Events already
/// buffered are applied together, so a long replay costs one engine update
/// per batch rather than one per event.
pub async fn follow(
    mut stream: Streaming<RevocationEvent>,
    state: &mut RevocationState,
    cell: &EngineCell,
) -> Result<(), Status> {
    let grace = tokio::time::sleep(READINESS_GRACE);
    tokio::pin!(grace);
    loop {
        let first = tokio::select! {
            m = stream.message() => m?,
            () = &mut grace, if !state.ready => {
                state.mark_ready(cell, "no revocation within the grace period");
                continue;
            }
        };
        let Some(first) = first else {
            return Ok(());
        };
        let mut batch = vec![first];
        let mut ended = false;
        while batch.len() < MAX_BATCH {
            // Take what is already buffered without waiting for more.
            match tokio::time::timeout(Duration::ZERO, stream.message()).await {
                Ok(Ok(Some(event))) => batch.push(event),
                Ok(Ok(None)) => {
                    ended = true;
                    break;
                }
                Ok(Err(status)) => {
                    apply(batch, state, cell);
                    return Err(status);
                }
                Err(_) => break,
            }
        }
        apply(batch, state, cell);
        state.mark_ready(cell, "first revocation event received");
        if ended {
            return Ok(());
        }
    }
}

fn apply(events: Vec<RevocationEvent>, state: &mut RevocationState, cell: &EngineCell) {
    let now = wall_now();
    let mut revocations = Vec::with_capacity(events.len());
    for event in events {
        match to_revocation(event, now) {
            Ok(r) => revocations.push(r),
            Err(e) => log!(Warn, TARGET, "{e}"),
        }
    }
    if revocations.is_empty() {
        return;
    }
    for r in &revocations {
        state.last = Some(state.last.map_or(r.revoked_at, |t| t.max(r.revoked_at)));
    }
    match revocations.as_slice() {
        [r] => log!(
            Info,
            TARGET,
            "token revoked token_id={} reason={}",
            r.token_id,
            r.reason.escape_debug()
        ),
        many => log!(Info, TARGET, "{} revocations applied", many.len()),
    }
    cell.update(|e| e.handle_revocations(revocations));
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "ctok_01j0000000e008000000000001";

    /// SDC-33: the event's time and reason are kept; a missing time is `now`.
    #[test]
    fn events_become_revocations() {
        let now = UnixTime::from_secs(2_000);
        let r = to_revocation(
            RevocationEvent {
                token_id: ID.into(),
                reason: "leaked".into(),
                timestamp: Some(prost_types::Timestamp {
                    seconds: 1_000,
                    nanos: 5,
                }),
            },
            now,
        )
        .expect("valid");
        assert_eq!(r.revoked_at, UnixTime::from_nanos(1_000_000_000_005));
        assert_eq!(r.reason, "leaked");
        let r = to_revocation(
            RevocationEvent {
                token_id: ID.into(),
                reason: String::new(),
                timestamp: None,
            },
            now,
        )
        .expect("valid");
        assert_eq!(r.revoked_at, now);
        let e = to_revocation(
            RevocationEvent {
                token_id: "tok_1".into(),
                reason: String::new(),
                timestamp: None,
            },
            now,
        )
        .expect_err("bad id");
        assert!(e.contains("tok_1"), "{e}");
    }

    /// SDC-33: a reconnect replays from one second before the last event.
    #[test]
    fn reconnect_replays_from_the_last_event() {
        let mut s = RevocationState::default();
        assert_eq!(s.request().since, None);
        s.last = Some(UnixTime::from_secs(1_000));
        assert_eq!(
            s.request().since,
            Some(prost_types::Timestamp {
                seconds: 999,
                nanos: 0
            })
        );
    }
}
