//! Preflight (RUN-2): `bwrap` is on `PATH`, runs, and can create a network
//! namespace. Every failure names the cause and the fix; the agent never
//! starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::RunError;

/// How long each probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Find `bwrap` on `PATH` and prove it can build the sandbox; returns its
/// path.
pub fn check() -> Result<PathBuf, RunError> {
    let bwrap = find_on_path("bwrap", std::env::var_os("PATH").as_deref()).ok_or_else(|| {
        RunError::Sandbox {
            reason: "bubblewrap (`bwrap`) is not installed or not on PATH".into(),
            fix: "install it (Debian/Ubuntu: `apt-get install bubblewrap`, Fedora: `dnf install bubblewrap`) \
                  and run firma run again"
                .into(),
        }
    })?;
    let version = probe(&bwrap, &["--version"])?;
    if !version.0 {
        return Err(RunError::Sandbox {
            reason: format!(
                "`{} --version` failed: {}",
                bwrap.display(),
                version.1.trim()
            ),
            fix: "reinstall bubblewrap (`apt-get install --reinstall bubblewrap`)".into(),
        });
    }
    let netns = probe(
        &bwrap,
        &["--unshare-net", "--ro-bind", "/", "/", "--", "true"],
    )?;
    if !netns.0 {
        return Err(RunError::Sandbox {
            reason: format!(
                "bwrap cannot create a network namespace (`{} --unshare-net --ro-bind / / true` failed: {})",
                bwrap.display(),
                one_line(&netns.1)
            ),
            fix: "enable unprivileged user namespaces (`sysctl -w kernel.unprivileged_userns_clone=1` and \
                  `sysctl -w user.max_user_namespaces=15000`; on Ubuntu 24.04+ also \
                  `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`), or run inside a container \
                  started with user namespaces allowed"
                .into(),
        });
    }
    Ok(bwrap)
}

/// The first executable file `name` in the `PATH` list.
pub fn find_on_path(name: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path?)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Run `bwrap <args>` bounded by [`PROBE_TIMEOUT`]: (success, stderr).
fn probe(bwrap: &Path, args: &[&str]) -> Result<(bool, String), RunError> {
    let mut child = Command::new(bwrap)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RunError::Sandbox {
            reason: format!("cannot run `{}`: {e}", bwrap.display()),
            fix: "check that bubblewrap is installed and executable (`apt-get install bubblewrap`)"
                .into(),
        })?;
    let deadline = Instant::now() + PROBE_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Sandbox {
                    reason: format!(
                        "`{} {}` did not finish within {} s",
                        bwrap.display(),
                        args.join(" "),
                        PROBE_TIMEOUT.as_secs()
                    ),
                    fix: "check the bubblewrap installation".into(),
                });
            }
        }
    }
    let out = child.wait_with_output().map_err(|e| RunError::Sandbox {
        reason: format!("cannot read `{}`'s result: {e}", bwrap.display()),
        fix: "check the bubblewrap installation".into(),
    })?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn one_line(s: &str) -> String {
    let s = s.trim();
    if s.is_empty() {
        "no message".to_owned()
    } else {
        s.lines().collect::<Vec<_>>().join(" / ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RUN-2: `bwrap` is looked up on PATH only; empty entries are skipped.
    #[test]
    fn path_lookup() {
        let dir = std::env::temp_dir().join(format!("firma-run-path-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("tool");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths(["", "/nonexistent", dir.to_str().unwrap()]).unwrap();
        assert_eq!(find_on_path("tool", Some(&path)), Some(exe.clone()));
        assert_eq!(find_on_path("absent", Some(&path)), None);
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(find_on_path("tool", Some(&path)), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
