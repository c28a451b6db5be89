//! The swappable engine (SDC-30): requests read an immutable snapshot,
//! inputs from the Authority link and the seed watcher publish a new one.
//!
//! A request calls [`EngineCell::load`] once and decides with that snapshot
//! from start to end, so a swap never changes a decision half-way and never
//! waits for, drops or stalls an in-flight call. Updates are serialized: each
//! one copies the current engine, applies its input and publishes the copy.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use firma_core::engine::Engine;
use tokio::sync::watch;

/// The current engine, replaced atomically.
pub struct EngineCell {
    current: RwLock<Arc<Engine>>,
    /// Held across copy → apply → publish so that concurrent updates never
    /// lose one another.
    writer: Mutex<()>,
    /// Bumped after every published update.
    generation: watch::Sender<u64>,
}

impl EngineCell {
    /// A cell holding `engine`.
    pub fn new(engine: Engine) -> EngineCell {
        EngineCell {
            current: RwLock::new(Arc::new(engine)),
            writer: Mutex::new(()),
            generation: watch::Sender::new(0),
        }
    }

    /// The engine to decide one request with. Cheap (one reference count);
    /// the snapshot stays valid however long the request takes.
    pub fn load(&self) -> Arc<Engine> {
        let guard = self.current.read().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&guard)
    }

    /// Apply `input` to a copy of the current engine and publish it. Readers
    /// see either the old or the new engine, never a mix.
    pub fn update<R>(&self, input: impl FnOnce(&mut Engine) -> R) -> R {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = Engine::clone(&self.load());
        let result = input(&mut next);
        {
            let mut guard = self.current.write().unwrap_or_else(PoisonError::into_inner);
            *guard = Arc::new(next);
        }
        self.generation.send_modify(|g| *g = g.wrapping_add(1));
        result
    }

    /// A receiver that changes after every update.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Wait until the engine is ready (a bundle and the revocation state are
    /// in place, DEC-6).
    pub async fn ready(&self) {
        let mut updates = self.subscribe();
        loop {
            if self.load().is_ready() {
                return;
            }
            if updates.changed().await.is_err() {
                // The sender lives in `self`: unreachable while `self` is
                // borrowed. Never report readiness that did not happen.
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use firma_core::UnixTime;
    use firma_core::engine::{Capabilities, Engine, EngineConfig};
    use firma_core::mapping::RuleSet;
    use firma_core::token::Revocation;

    use super::EngineCell;

    fn awaiting() -> Engine {
        let rules = RuleSet::compile(&[firma_core::mapping::RuleSource {
            name: "r.toml",
            text: "[[rules]]\nmethod = \"GET\"\nhost = \"a.example\"\naction_class = \"code.read\"\n",
        }])
        .expect("rules compile");
        Engine::awaiting_authority(
            EngineConfig::default(),
            Arc::new(rules),
            Capabilities::empty(),
        )
    }

    fn revocation(n: u8) -> Revocation {
        Revocation {
            token_id: format!("ctok_01j0000000e0080000000001{n:02}"),
            revoked_at: UnixTime::from_nanos(1_000_000_000),
            reason: "test".into(),
        }
    }

    /// SDC-30: a snapshot taken before an update keeps its state; the next
    /// load sees the update.
    #[test]
    fn snapshot_survives_a_swap() {
        let cell = EngineCell::new(awaiting());
        let before = cell.load();
        cell.update(|e| e.handle_revocations([revocation(1)]));
        assert_eq!(before.revocations().len(), 0);
        assert_eq!(cell.load().revocations().len(), 1);
        assert!(!cell.load().is_ready());
    }

    /// SDC-30: concurrent updates never lose one another.
    #[test]
    fn concurrent_updates_all_land() {
        let cell = Arc::new(EngineCell::new(awaiting()));
        let threads: Vec<_> = (0..8u8)
            .map(|n| {
                let cell = Arc::clone(&cell);
                std::thread::spawn(move || {
                    for k in 0..10u8 {
                        cell.update(|e| e.handle_revocations([revocation(n * 10 + k)]));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("updater thread");
        }
        assert_eq!(cell.load().revocations().len(), 80);
    }

    /// `ready` resolves once both readiness inputs have arrived.
    #[test]
    fn ready_waits_for_both_inputs() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let cell = Arc::new(EngineCell::new(awaiting()));
            let waiter = {
                let cell = Arc::clone(&cell);
                tokio::spawn(async move { cell.ready().await })
            };
            cell.update(|e| e.handle_revocations_ready());
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(!waiter.is_finished());
            let bundle = firma_core::policy::Bundle::compile(
                &[firma_core::policy::PolicySource {
                    name: "p.cedar",
                    text: "permit(principal, action, resource);",
                }],
                None,
            )
            .expect("bundle");
            cell.update(|e| {
                e.handle_bundle(
                    Arc::new(bundle),
                    Duration::from_secs(30),
                    UnixTime::from_nanos(1),
                )
            });
            tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .expect("ready in time")
                .expect("waiter");
        });
    }
}
