//! Reconnect delays (SDC-31): exponential from 250 ms, doubling up to 30 s,
//! back to 250 ms after a successful connect.

use std::time::Duration;

/// First delay after a failure.
pub const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Largest delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The delay before the next connection attempt.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    /// Starts at [`MIN_BACKOFF`].
    pub fn new() -> Backoff {
        Backoff { next: MIN_BACKOFF }
    }

    /// The delay to wait now; the following one doubles, up to [`MAX_BACKOFF`].
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        delay
    }

    /// A connection succeeded: start again from [`MIN_BACKOFF`].
    pub fn reset(&mut self) {
        self.next = MIN_BACKOFF;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SDC-31: 250 ms doubling to a 30 s ceiling; reset after a connect.
    #[test]
    fn doubles_to_the_ceiling_and_resets() {
        let mut b = Backoff::new();
        let seen: Vec<u128> = (0..10).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(
            seen,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        b.reset();
        assert_eq!(b.next_delay(), MIN_BACKOFF);
    }
}
