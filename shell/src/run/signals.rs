//! SIGINT, SIGTERM and SIGHUP to `firma run` are caught (RUN-9): the wait
//! loops see the signal, tear the session down and exit 128+n instead of
//! dying and leaving the session pair running.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use tokio::signal::unix::{SignalKind, signal};

/// The first signal received (0: none yet).
#[derive(Debug, Clone, Default)]
pub struct Caught(Arc<AtomicI32>);

impl Caught {
    /// The signal number, if one arrived.
    pub fn get(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n),
        }
    }
}

/// Catch the three signals on `rt`. Fails when a handler cannot be set up
/// (then `firma run` must not start anything it could not clean up).
pub fn install(rt: &tokio::runtime::Runtime) -> std::io::Result<Caught> {
    let caught = Caught::default();
    let (int, term, hup) = rt.block_on(async {
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        )
    });
    let (mut int, mut term, mut hup) = (int?, term?, hup?);
    let slot = Arc::clone(&caught.0);
    rt.spawn(async move {
        loop {
            let n = tokio::select! {
                _ = int.recv() => 2,
                _ = term.recv() => 15,
                _ = hup.recv() => 1,
            };
            let _ = slot.compare_exchange(0, n, Ordering::SeqCst, Ordering::SeqCst);
        }
    });
    Ok(caught)
}
