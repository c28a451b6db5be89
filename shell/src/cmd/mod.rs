//! One module per subcommand. Each exposes a clap `Subcommand` enum and
//! `run(..) -> ExitCode`. Exit codes: 0 success, 1 a failed test or
//! verification, 2 a usage, input or config error.

pub mod audit;
pub mod policy;
pub mod tree;

/// Exit code for a failed test or verification.
pub const EXIT_FAILED: u8 = 1;
/// Exit code for usage, input and config errors.
pub const EXIT_USAGE: u8 = 2;
