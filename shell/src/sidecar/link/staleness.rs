//! One warning when the active bundle's TTL runs out (TTL-2): from then on
//! core denies `PolicyBundleStale` until the Authority sends a bundle.
//! Decisions never wait for this timer; it only tells the operator.

use std::sync::Arc;
use std::time::Duration;

use firma_core::UnixTime;

use super::{TARGET, short};
use crate::sidecar::clock::wall_now;
use crate::sidecar::engine_cell::EngineCell;
use crate::sidecar::log::log;

/// Longest sleep when no deadline is pending (re-checked on every update).
const IDLE: Duration = Duration::from_secs(3600);

/// Log once per bundle deadline that passes without a new bundle.
pub async fn watch(cell: Arc<EngineCell>) {
    let mut updates = cell.subscribe();
    let mut warned: Option<UnixTime> = None;
    loop {
        let engine = cell.load();
        let deadline = engine.poll_timeout().filter(|d| warned != Some(*d));
        let version = engine.bundle().map(|b| short(b.version()).to_owned());
        drop(engine);
        let wait = deadline.map_or(IDLE, |d| d.saturating_since(wall_now()));
        tokio::select! {
            changed = updates.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep(wait) => {
                if let Some(d) = deadline
                    && wall_now() >= d
                {
                    log!(
                        Warn,
                        TARGET,
                        "policy bundle version={} is stale (its ttl ran out at {d}); calls are denied PolicyBundleStale until the Authority sends a new bundle",
                        version.as_deref().unwrap_or("-")
                    );
                    warned = Some(d);
                }
            }
        }
    }
}
