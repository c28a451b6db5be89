//! `firma sidecar status [--json] [--daemon]` (DMN-10): one row per
//! component from its pidfile, `/proc` liveness and a TCP probe of its
//! listen address; then one row per `firma run` sidecar (RUN-7).

use std::net::TcpStream;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::{Component, DaemonError, Paths, files, process};

/// TCP probe timeout.
const PROBE: Duration = Duration::from_millis(200);

/// `firma sidecar status` arguments.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print a JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Print only the supervisor's pid (nothing, exit 1, when not running).
    #[arg(long, conflicts_with = "json")]
    pub daemon: bool,
}

/// What `status` found for one component.
#[derive(Debug)]
struct Row {
    component: Component,
    pid: Option<u32>,
    state: State,
    listen: Option<std::net::SocketAddr>,
    uptime: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// Alive but its listen address refuses connections.
    Unhealthy,
    /// No pidfile.
    Stopped,
    /// A pidfile whose process is gone.
    Stale,
}

impl State {
    fn text(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Unhealthy => "unhealthy",
            State::Stopped => "stopped",
            State::Stale => "stopped (stale pidfile)",
        }
    }

    fn json(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Unhealthy => "unhealthy",
            State::Stopped | State::Stale => "stopped",
        }
    }
}

/// Run `firma sidecar status`: exit 0 when every component runs, 1 when
/// any does not, 2 on error.
pub fn run(args: &StatusArgs, state: &Path) -> ExitCode {
    let paths = Paths {
        dir: state.to_path_buf(),
    };
    let rows = match rows(&paths) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("[ERR]  sidecar status: {e}");
            return ExitCode::from(2);
        }
    };
    let all_running = rows.iter().all(|r| r.state == State::Running);
    let runs = crate::run::list_runs(&paths.dir);
    if args.daemon {
        let sup = rows.iter().find(|r| r.component == Component::Supervisor);
        return match sup {
            Some(Row {
                pid: Some(pid),
                state: State::Running,
                ..
            }) => {
                println!("{pid}");
                ExitCode::SUCCESS
            }
            _ => ExitCode::from(1),
        };
    }
    if args.json {
        let components: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "component": r.component.name(),
                    "pid": r.pid,
                    "state": r.state.json(),
                    "stale_pidfile": r.state == State::Stale,
                    "listen": r.listen.map(|a| a.to_string()),
                    "uptime_secs": r.uptime.map(|u| u.as_secs()),
                })
            })
            .collect();
        let out = json!({
            "state_dir": paths.dir.display().to_string(),
            "running": all_running,
            "components": components,
            "runs": runs.iter().map(|r| json!({
                "sandbox_id": r.sandbox_id,
                "pid": r.pid,
                "state": if r.pid.is_some_and(process::alive) { "running" } else { "stopped" },
                "listen": r.listen,
                "authority_url": r.authority_url,
                "autostarted": r.autostarted,
                "started_at": r.started_at,
                "command": r.command,
                "run_dir": r.dir.display().to_string(),
            })).collect::<Vec<Value>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!(
            "{:<12}{:<9}{:<26}{:<24}UPTIME",
            "COMPONENT", "PID", "STATE", "LISTEN"
        );
        for r in &rows {
            println!(
                "{:<12}{:<9}{:<26}{:<24}{}",
                r.component.name(),
                r.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                r.state.text(),
                r.listen.map_or_else(|| "-".to_owned(), |a| a.to_string()),
                r.uptime.map_or_else(|| "-".to_owned(), hms)
            );
        }
        if !runs.is_empty() {
            println!();
            println!(
                "{:<32}{:<9}{:<10}{:<24}COMMAND",
                "RUN", "PID", "STATE", "SIDECAR"
            );
            for r in &runs {
                println!(
                    "{:<32}{:<9}{:<10}{:<24}{}",
                    r.sandbox_id,
                    r.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                    if r.pid.is_some_and(process::alive) {
                        "running"
                    } else {
                        "stopped"
                    },
                    r.listen,
                    r.command.join(" ")
                );
            }
        }
    }
    if all_running {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn rows(paths: &Paths) -> Result<Vec<Row>, DaemonError> {
    Component::ALL
        .iter()
        .map(|&c| {
            let pid_path = paths.pid(c);
            let pid = files::read_pid(&pid_path)?;
            let listen = paths.listen(c).and_then(|l| files::read_listen(&l));
            let state = match pid {
                None => State::Stopped,
                Some(p) if !process::is_firma(p) => State::Stale,
                Some(_) => match listen {
                    Some(a) if TcpStream::connect_timeout(&a, PROBE).is_err() => State::Unhealthy,
                    None if c != Component::Supervisor => State::Unhealthy,
                    _ => State::Running,
                },
            };
            let uptime = match state {
                State::Running | State::Unhealthy => {
                    files::mtime(&pid_path).and_then(|t| SystemTime::now().duration_since(t).ok())
                }
                State::Stopped | State::Stale => None,
            };
            Ok(Row {
                component: c,
                pid,
                state,
                listen,
                uptime,
            })
        })
        .collect()
}

/// `HH:MM:SS`, hours unbounded.
fn hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DMN-10: uptime is `HH:MM:SS` with unbounded hours.
    #[test]
    fn uptime_format() {
        assert_eq!(hms(Duration::from_secs(0)), "00:00:00");
        assert_eq!(hms(Duration::from_secs(3_723)), "01:02:03");
        assert_eq!(hms(Duration::from_secs(100 * 3600 + 59)), "100:00:59");
    }
}
