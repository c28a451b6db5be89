//! The `firma` binary: parses the command line and dispatches to `cmd::*`.
//! Everything here does I/O around `firma-core`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod authority;
mod ca_pair;
mod cmd;
mod daemon;
mod doctor;
mod fsio;
mod monitor;
mod project;
mod run;
mod sidecar;

/// firma: a runtime enforcement boundary between AI agents and the outside world.
#[derive(Debug, Parser)]
#[command(
    name = "firma",
    version,
    max_term_width = 100,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scaffold a project: .firma/ (config, keys, packs) in a workspace.
    Init(project::InitArgs),
    /// Choose the project's posture and mapping packs.
    Config(project::ConfigArgs),
    /// Validate Cedar policies and run allow/deny fixtures against them.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCommand),
    /// Work with the signed audit log.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCommand),
    /// Run and manage the enforcement Sidecar (bare: the proxy in the foreground).
    Sidecar(sidecar::SidecarArgs),
    /// Issue tokens, stream policy bundles and revocations (bare: serve gRPC).
    Authority(authority::AuthorityArgs),
    /// Tail audit decisions and component logs from the state directory.
    Monitor(monitor::MonitorArgs),
    /// Run an agent in a network sandbox whose only way out is the Sidecar.
    Run(run::RunArgs),
    /// Internal: the first process inside a `firma run` sandbox.
    #[command(name = "__run-inside", hide = true)]
    RunInside(run::InsideArgs),
    /// Diagnose a firma install, its project and its daemon.
    Doctor(doctor::DoctorArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let Some(command) = cli.command else {
        // `firma` alone: the command tree, not an error.
        print!(
            "{}",
            cmd::tree::render(&<Cli as clap::CommandFactory>::command())
        );
        return ExitCode::SUCCESS;
    };
    match command {
        Command::Init(a) => project::run_init(a),
        Command::Config(a) => project::run_config(a),
        Command::Policy(c) => cmd::policy::run(c),
        Command::Audit(c) => cmd::audit::run(c),
        Command::Sidecar(a) => sidecar::run(a),
        Command::Authority(a) => authority::run(a),
        Command::Monitor(a) => monitor::run(a),
        Command::Run(a) => run::run(a),
        Command::RunInside(a) => run::run_inside(a),
        Command::Doctor(a) => doctor::run(a),
    }
}
