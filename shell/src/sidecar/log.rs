//! A small leveled logger for the Sidecar: `<time> <LEVEL> <target>: <message>`
//! on stderr, filtered by `[sidecar.log].level` (SDC-2).

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

use firma_core::config::LogLevel;

use super::clock::wall_now;

static LEVEL: AtomicU8 = AtomicU8::new(rank(LogLevel::Info));

const fn rank(l: LogLevel) -> u8 {
    match l {
        LogLevel::Error => 1,
        LogLevel::Warn => 2,
        LogLevel::Info => 3,
        LogLevel::Debug => 4,
        LogLevel::Trace => 5,
    }
}

/// Set the maximum level printed.
pub fn set_level(level: LogLevel) {
    LEVEL.store(rank(level), Ordering::Relaxed);
}

/// True if `level` is printed.
pub fn enabled(level: LogLevel) -> bool {
    rank(level) <= LEVEL.load(Ordering::Relaxed)
}

/// Print one log line (used through the `log!` macro).
pub fn write(level: LogLevel, target: &str, message: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let label = match level {
        LogLevel::Error => "ERROR",
        LogLevel::Warn => " WARN",
        LogLevel::Info => " INFO",
        LogLevel::Debug => "DEBUG",
        LogLevel::Trace => "TRACE",
    };
    let line = format!("{} {label} {target}: {message}\n", wall_now());
    // A closed stderr must not take the proxy down.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// `log!(Info, "firma_sidecar::startup", "loaded {} rules", n)`.
macro_rules! log {
    ($level:ident, $target:expr, $($arg:tt)*) => {
        $crate::sidecar::log::write(firma_core::config::LogLevel::$level, $target, format_args!($($arg)*))
    };
}
pub(crate) use log;
