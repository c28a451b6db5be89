//! Audit event ids: `aevt_` + 12 hex digits of milliseconds + 16 hex digits of
//! a per-process random start plus a counter. Sortable by time, unique within
//! and (with overwhelming probability) across processes.

use std::sync::atomic::{AtomicU64, Ordering};

use firma_core::UnixTime;
use ring::rand::{SecureRandom, SystemRandom};

/// Hands out event ids.
#[derive(Debug)]
pub struct EventIds {
    base: u64,
    counter: AtomicU64,
}

impl EventIds {
    /// Seeded from the system RNG (falls back to the clock if it fails).
    pub fn new(now: UnixTime) -> EventIds {
        let mut bytes = [0u8; 8];
        let base = match SystemRandom::new().fill(&mut bytes) {
            Ok(()) => u64::from_le_bytes(bytes),
            Err(_) => now.as_nanos().rotate_left(17),
        };
        EventIds {
            base,
            counter: AtomicU64::new(0),
        }
    }

    /// The next id.
    pub fn next(&self, now: UnixTime) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!(
            "aevt_{:012x}{:016x}",
            now.as_millis() & 0xffff_ffff_ffff,
            self.base.wrapping_add(n)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_prefixed() {
        let ids = EventIds::new(UnixTime::from_secs(1));
        let a = ids.next(UnixTime::from_secs(2));
        let b = ids.next(UnixTime::from_secs(2));
        assert_ne!(a, b);
        assert!(a.starts_with("aevt_") && a.len() == 5 + 28, "{a}");
    }
}
