//! The wall clock, read only in the shell and passed to core.

use std::time::{SystemTime, UNIX_EPOCH};

use firma_core::UnixTime;

/// Now, as core's `UnixTime`.
pub fn wall_now() -> UnixTime {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    UnixTime::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
