//! `firma __run-inside` (hidden, RUN-3): the first process in the sandbox.
//! It binds the bridge on 127.0.0.1:18080, proves the Unix socket to the
//! outside answers, runs the agent with the environment bwrap set, and exits
//! with the agent's exit code (128+n when a signal killed it).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use super::{EXIT_RUN_FAILED, bridge};

/// `firma __run-inside` arguments.
#[derive(Debug, clap::Args)]
pub struct InsideArgs {
    /// The Unix socket that leads to the Sidecar.
    #[arg(long)]
    pub socket: PathBuf,
    /// Where the in-sandbox bridge listens.
    #[arg(long)]
    pub listen: SocketAddr,
    /// The agent command.
    #[arg(last = true, required = true)]
    pub command: Vec<OsString>,
}

/// Run the bridge and the agent; the agent's exit code.
pub fn run(args: &InsideArgs) -> ExitCode {
    let fail = |msg: String| {
        eprintln!("[ERR]  firma run (sandbox): {msg}; the agent was not started");
        ExitCode::from(EXIT_RUN_FAILED)
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let listener = match rt.block_on(tokio::net::TcpListener::bind(args.listen)) {
        Ok(l) => l,
        Err(e) => return fail(format!("cannot listen on {}: {e}", args.listen)),
    };
    if let Err(e) = rt.block_on(tokio::net::UnixStream::connect(&args.socket)) {
        return fail(format!(
            "the route to the Sidecar (`{}`) does not answer: {e}",
            args.socket.display()
        ));
    }
    rt.spawn(bridge::tcp_to_unix(listener, args.socket.clone()));
    let Some((program, rest)) = args.command.split_first() else {
        return fail("no command given".into());
    };
    let status = match Command::new(program).args(rest).status() {
        Ok(s) => s,
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            eprintln!(
                "[ERR]  firma run (sandbox): cannot run `{}`: {e}",
                program.to_string_lossy()
            );
            return ExitCode::from(code);
        }
    };
    rt.shutdown_background();
    ExitCode::from(exit_code(status))
}

/// The shell convention: the exit code, or 128+n for signal n.
pub fn exit_code(status: std::process::ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(c), _) => u8::try_from(c & 0xff).unwrap_or(1),
        (None, Some(n)) => u8::try_from((128 + n) & 0xff).unwrap_or(1),
        (None, None) => 1,
    }
}
