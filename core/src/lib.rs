//! `firma-core`: the sans-IO enforcement core of firma.
//!
//! This crate never touches the clock, the filesystem, the network, the
//! environment or a random number generator. Time, file contents and keys are
//! arguments; results are values that tell the shell what to do. See
//! `ARCHITECTURE.md` and `spec/`.
//!
//! Pipeline: [`normalize`] → [`mapping`] → Stage 1 (capability) → Stage 2
//! ([`policy`], Cedar) → [`Decision`] → [`audit`] record.

#![forbid(unsafe_code)]
#![deny(unused_must_use)]

pub mod action_class;
pub mod audit;
pub mod config;
pub mod decision;
pub mod engine;
pub mod mapping;
pub mod normalize;
pub mod policy;
pub mod time;
pub mod tls;
pub mod token;

pub use action_class::ActionClass;
pub use decision::{Outcome, ReasonCode, Stage};
pub use engine::{Decision, Principal, RuleRef};
pub use time::UnixTime;
