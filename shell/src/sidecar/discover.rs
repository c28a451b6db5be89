//! Which `firma.toml` and which state directory (SDC-1, DECISIONS D7).

use std::path::{Path, PathBuf};

/// Where the config came from.
#[derive(Debug)]
pub enum Discovered {
    /// A file, and how it was found.
    File(PathBuf, &'static str),
    /// Nothing found: run on the embedded default. Lists where we looked.
    Embedded(Vec<PathBuf>),
}

/// `-c` → `FIRMA_CONFIG` → nearest `.firma/firma.toml` upwards from `cwd` →
/// embedded default.
pub fn config(flag: Option<&Path>, env: Option<PathBuf>, cwd: &Path) -> Discovered {
    if let Some(p) = flag {
        return Discovered::File(p.to_path_buf(), "--config");
    }
    if let Some(p) = env.filter(|p| !p.as_os_str().is_empty()) {
        return Discovered::File(p, "FIRMA_CONFIG");
    }
    let mut looked = Vec::new();
    for dir in cwd.ancestors() {
        let candidate = dir.join(".firma").join("firma.toml");
        if candidate.is_file() {
            return Discovered::File(candidate, ".firma/firma.toml");
        }
        looked.push(candidate);
    }
    Discovered::Embedded(looked)
}

/// `--state-dir` → `FIRMA_STATE_DIR` → `$XDG_RUNTIME_DIR/firma` → `/tmp/firma-$UID`.
pub fn state_dir(
    flag: Option<&Path>,
    env: Option<PathBuf>,
    xdg_runtime: Option<PathBuf>,
    uid: u32,
) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = env.filter(|p| !p.as_os_str().is_empty()) {
        return p;
    }
    if let Some(p) = xdg_runtime.filter(|p| !p.as_os_str().is_empty()) {
        return p.join("firma");
    }
    PathBuf::from(format!("/tmp/firma-{uid}"))
}

/// The real user id, read from `/proc/self/status` (no unsafe, no libc).
pub fn current_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_flag_env_walk_embedded() {
        let tmp = std::env::temp_dir().join(format!("firma-discover-{}", std::process::id()));
        let deep = tmp.join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir_all(tmp.join("a/.firma")).unwrap();
        std::fs::write(tmp.join("a/.firma/firma.toml"), "").unwrap();

        let flag = PathBuf::from("/x/flag.toml");
        assert!(
            matches!(config(Some(&flag), Some("/y".into()), &deep), Discovered::File(p, "--config") if p == flag)
        );
        assert!(
            matches!(config(None, Some("/y.toml".into()), &deep), Discovered::File(p, "FIRMA_CONFIG") if p == Path::new("/y.toml"))
        );
        assert!(
            matches!(config(None, None, &deep), Discovered::File(p, _) if p == tmp.join("a/.firma/firma.toml"))
        );
        std::fs::remove_dir_all(tmp.join("a/.firma")).unwrap();
        assert!(
            matches!(config(None, None, &deep), Discovered::Embedded(looked) if !looked.is_empty())
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn state_dir_precedence() {
        assert_eq!(
            state_dir(
                Some(Path::new("/s")),
                Some("/e".into()),
                Some("/x".into()),
                7
            ),
            PathBuf::from("/s")
        );
        assert_eq!(
            state_dir(None, Some("/e".into()), Some("/x".into()), 7),
            PathBuf::from("/e")
        );
        assert_eq!(
            state_dir(None, None, Some("/x".into()), 7),
            PathBuf::from("/x/firma")
        );
        assert_eq!(
            state_dir(None, None, None, 7),
            PathBuf::from("/tmp/firma-7")
        );
    }
}
