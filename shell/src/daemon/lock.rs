//! `stack.lock`: one daemon per state directory (DMN-4). The lock holds a
//! UUIDv4 generation + `\n` and is published with `create_new`; a lock
//! whose recorded processes are all gone is stale and reclaimed.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ring::rand::{SecureRandom, SystemRandom};

use super::{Component, DaemonError, Paths, files, process};

/// A fresh hyphenated UUIDv4.
pub fn new_generation() -> Result<String, DaemonError> {
    let mut b = [0u8; 16];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| DaemonError::Process("the system random number generator failed".into()))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// The generation in `path`: `None` when missing (an empty file is no lease
/// either).
pub fn read(path: &Path) -> Result<Option<String>, DaemonError> {
    match std::fs::read_to_string(path) {
        Ok(t) if t.trim().is_empty() => Ok(None),
        Ok(t) => Ok(Some(t.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DaemonError::io(path, "read")(e)),
    }
}

/// The first live firma process a pidfile of the state directory names.
pub fn live_member(paths: &Paths) -> Option<(Component, u32)> {
    [
        Component::Supervisor,
        Component::Sidecar,
        Component::Authority,
    ]
    .into_iter()
    .find_map(|c| {
        let pid = files::read_pid(&paths.pid(c)).ok().flatten()?;
        process::is_firma(pid).then_some((c, pid))
    })
}

/// Take `stack.lock` for a new generation. Fails naming the lock and the
/// live pid when a daemon owns it; reclaims a stale lock (returning a
/// note saying so).
pub fn acquire(paths: &Paths) -> Result<(String, Option<String>), DaemonError> {
    let lock = paths.lock();
    let mut note = None;
    if let Some(old) = read(&lock)? {
        if let Some((c, pid)) = live_member(paths) {
            return Err(DaemonError::Locked {
                lock,
                generation: old,
                pid,
                component: c.name(),
                state: paths.dir.display().to_string(),
            });
        }
        // Stale: every recorded process is gone. Clear its files, but only
        // while the lock still names the generation we judged stale.
        paths.cleanup(Some(&old));
        note = Some(format!(
            "reclaimed stale `{}` (generation {old}): none of its processes is alive",
            lock.display()
        ));
    } else if std::fs::symlink_metadata(&lock).is_ok() {
        // An empty legacy file is no lease.
        files::remove_quiet(&lock);
    }
    let generation = new_generation()?;
    // Publish no-clobber: a complete temp file hard-linked to the lock name
    // (a reader never sees a half-written lock).
    let tmp = paths
        .dir
        .join(format!(".stack.lock.{}.tmp", std::process::id()));
    files::remove_quiet(&tmp);
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(format!("{generation}\n").as_bytes())?;
        f.sync_all()
    };
    if let Err(e) = write() {
        files::remove_quiet(&tmp);
        return Err(DaemonError::io(&tmp, "write")(e));
    }
    let linked = std::fs::hard_link(&tmp, &lock);
    files::remove_quiet(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Lost a race with another start.
            let other = read(&lock)?.unwrap_or_default();
            let (component, pid) = live_member(paths).unwrap_or((Component::Supervisor, 0));
            return Err(DaemonError::Locked {
                lock,
                generation: other,
                pid,
                component: component.name(),
                state: paths.dir.display().to_string(),
            });
        }
        Err(e) => return Err(DaemonError::io(&lock, "create")(e)),
    }
    Ok((generation, note))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DMN-3: the generation is a hyphenated UUIDv4, fresh each time.
    #[test]
    fn generation_is_uuid_v4() {
        let a = new_generation().unwrap();
        let b = new_generation().unwrap();
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{a}");
        assert!(
            matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
            "{a}"
        );
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
