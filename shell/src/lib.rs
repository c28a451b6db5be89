//! Library side of the `firma` binary: the I/O pieces that benches and
//! integration tests reuse. The command-line front end lives in `main.rs`.

#![forbid(unsafe_code)]

pub mod signer;
