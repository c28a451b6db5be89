//! `firma monitor`: a read-only live view of the audit log and the
//! component logs in the state directory (spec/monitor.md, MON-*).

mod filter;
mod record;
mod render;
mod since;
mod tail;

use std::io::{ErrorKind, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use clap::Args;
use firma_core::config::AuditSink;

use crate::sidecar::discover;
use filter::{Decision, Filter, SinceState};
use record::AuditView;
use render::{Format, Renderer};
use tail::{Notice, Tail};

/// `firma monitor` flags.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// The firma.toml whose `[sidecar.audit] file_path` names the audit log
    /// when --state-dir is not given. Default: $FIRMA_CONFIG, else the
    /// nearest .firma/firma.toml from the current directory upwards.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// State directory. Default: $FIRMA_STATE_DIR, else
    /// $XDG_RUNTIME_DIR/firma, else /tmp/firma-$UID.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Which files to show.
    #[arg(long, value_enum, default_value_t = SourceArg::All)]
    pub source: SourceArg,
    /// Read what is there and exit instead of following.
    #[arg(long)]
    pub no_follow: bool,
    /// Audit records only: show only this outcome.
    #[arg(long, value_enum)]
    pub decision: Option<Decision>,
    /// Audit records only: show only this action class (exact match).
    #[arg(long, value_name = "CLASS")]
    pub action_class: Option<String>,
    /// Backfill window: 30s, 15m, 2h, 1d or an RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Pretty)]
    pub format: Format,
}

/// `--source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceArg {
    /// The audit log.
    Audit,
    /// `authority.log`.
    Authority,
    /// `sidecar.log`.
    Sidecar,
    /// All three.
    All,
}

/// One followed file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The audit log (JSON lines).
    Audit,
    /// `<state>/authority.log`.
    Authority,
    /// `<state>/sidecar.log`.
    Sidecar,
}

impl Source {
    /// The name used in output and messages.
    pub fn name(self) -> &'static str {
        match self {
            Source::Audit => "audit",
            Source::Authority => "authority",
            Source::Sidecar => "sidecar",
        }
    }
}

/// Why the monitor could not start.
#[derive(Debug, thiserror::Error)]
enum MonitorError {
    /// `--since` did not parse.
    #[error("--since: {0}")]
    Since(#[from] since::SinceError),
    /// The config naming the audit log is unreadable or invalid.
    #[error("{0}")]
    Config(#[from] crate::sidecar::startup::StartupError),
}

/// What the reader threads send to the writer.
enum Event {
    Line(Source, Vec<u8>),
    Done,
    Stop,
}

/// Runs `firma monitor`; exit 0 at the end of a one-shot read, on Ctrl-C or
/// SIGTERM and when stdout is closed, 2 on bad arguments or config.
pub fn run(args: MonitorArgs) -> ExitCode {
    match prepare(&args) {
        Ok((plan, filter)) => execute(plan, &filter, &args),
        Err(e) => {
            eprintln!("monitor: {e}");
            ExitCode::from(2)
        }
    }
}

fn prepare(args: &MonitorArgs) -> Result<(Vec<(Source, PathBuf)>, Filter), MonitorError> {
    let since = args
        .since
        .as_deref()
        .map(|s| since::parse(s, now()))
        .transpose()?;
    let state = discover::state_dir(
        args.state_dir.as_deref(),
        std::env::var_os("FIRMA_STATE_DIR").map(PathBuf::from),
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        discover::current_uid(),
    );
    let sources: &[Source] = match args.source {
        SourceArg::Audit => &[Source::Audit],
        SourceArg::Authority => &[Source::Authority],
        SourceArg::Sidecar => &[Source::Sidecar],
        SourceArg::All => &[Source::Audit, Source::Authority, Source::Sidecar],
    };
    let mut plan = Vec::new();
    for &s in sources {
        let path = match s {
            Source::Audit => audit_path(args, &state)?,
            Source::Authority => state.join("authority.log"),
            Source::Sidecar => state.join("sidecar.log"),
        };
        plan.push((s, path));
    }
    let filter = Filter {
        decision: args.decision,
        action_class: args.action_class.clone(),
        since,
    };
    Ok((plan, filter))
}

/// The wall clock as core's `UnixTime`.
fn now() -> firma_core::UnixTime {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    firma_core::UnixTime::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// `<state>/audit.jsonl` with --state-dir; else the config's file sink;
/// else `<state>/audit.jsonl` (MON-2).
fn audit_path(args: &MonitorArgs, state: &Path) -> Result<PathBuf, MonitorError> {
    let default = state.join("audit.jsonl");
    if args.state_dir.is_some() {
        return Ok(default);
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let found = discover::config(
        args.config.as_deref(),
        std::env::var_os("FIRMA_CONFIG").map(PathBuf::from),
        &cwd,
    );
    match found {
        discover::Discovered::File(path, _) => {
            let config = crate::sidecar::startup::read_config(&path)?;
            Ok(match config.sidecar.audit.sink {
                AuditSink::File(p) => p,
                AuditSink::Stdout => default,
            })
        }
        discover::Discovered::Embedded(_) => Ok(default),
    }
}

fn execute(plan: Vec<(Source, PathBuf)>, filter: &Filter, args: &MonitorArgs) -> ExitCode {
    let follow = !args.no_follow;
    let renderer = Renderer {
        format: args.format,
        color: std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let (tx, rx) = sync_channel::<Event>(1024);
    if let Err(e) = watch_signals(tx.clone()) {
        eprintln!("monitor: cannot watch for Ctrl-C: {e}");
        return ExitCode::from(2);
    }
    let from_start = filter.since.is_some();
    let readers = if follow {
        // One thread per file; lines interleave as they are written.
        let n = plan.len();
        for (source, path) in plan {
            let tx = tx.clone();
            std::thread::spawn(move || {
                read(source, path, true, from_start, &tx);
                let _ = tx.send(Event::Done);
            });
        }
        n
    } else {
        // One shot: the files one after another, in the order given.
        let tx = tx.clone();
        std::thread::spawn(move || {
            for (source, path) in plan {
                read(source, path, false, true, &tx);
            }
            let _ = tx.send(Event::Done);
        });
        1
    };
    drop(tx);
    write_loop(&rx, readers, filter, renderer)
}

/// Tails one file into the channel.
fn read(source: Source, path: PathBuf, follow: bool, from_start: bool, tx: &SyncSender<Event>) {
    let shown = path.display().to_string();
    Tail::new(path, follow, from_start).run(
        |line| tx.send(Event::Line(source, line)).is_ok(),
        |notice| match notice {
            Notice::Waiting => eprintln!(
                "monitor: waiting for {} log at {shown} (start `firma sidecar start` first)",
                source.name()
            ),
            Notice::Missing => eprintln!("monitor: no {} log at {shown}", source.name()),
            Notice::Unreadable(e) => eprintln!("monitor: cannot read {shown}: {e}"),
        },
    );
}

fn write_loop(
    rx: &Receiver<Event>,
    mut readers: usize,
    filter: &Filter,
    renderer: Renderer,
) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut audit_since = SinceState::default();
    let mut authority_since = SinceState::default();
    let mut sidecar_since = SinceState::default();
    while readers > 0 {
        let event = match rx.recv() {
            Ok(e) => e,
            Err(_) => break,
        };
        let bytes = match event {
            Event::Stop => break,
            Event::Done => {
                readers -= 1;
                continue;
            }
            Event::Line(Source::Audit, line) => {
                let view = AuditView::parse(&line);
                if !filter.audit(view.as_ref(), &mut audit_since) {
                    continue;
                }
                renderer.audit(&line, view.as_ref())
            }
            Event::Line(source, line) => {
                let st = if source == Source::Authority {
                    &mut authority_since
                } else {
                    &mut sidecar_since
                };
                let time = since::line_time(&String::from_utf8_lossy(&line));
                if !filter.component(time, st) {
                    continue;
                }
                renderer.component(source, &line)
            }
        };
        if let Err(e) = out.write_all(&bytes).and_then(|()| out.flush()) {
            if e.kind() == ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("monitor: writing to stdout: {e}");
            return ExitCode::from(2);
        }
    }
    match out.flush() {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => {
            eprintln!("monitor: writing to stdout: {e}");
            ExitCode::from(2)
        }
        _ => ExitCode::SUCCESS,
    }
}

/// Sends `Stop` on SIGINT or SIGTERM. The handlers are installed before this
/// returns, so no signal after it can kill the process mid-line.
fn watch_signals(tx: SyncSender<Event>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut int, mut term) = rt.block_on(async {
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))
    })?;
    std::thread::spawn(move || {
        rt.block_on(async {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        });
        let _ = tx.send(Event::Stop);
    });
    Ok(())
}
