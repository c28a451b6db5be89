//! The session pair's `firma.toml` (RUN-6): the project's file with only
//! what must differ for one session changed, written next to it (so every
//! relative path and every default resolves exactly as in the project):
//!
//! - `[authority] listen_addr` and `[sidecar.interceptor] listen_addr`: free
//!   loopback ports of this run;
//! - `[sidecar.authority] url`: the session Authority;
//! - `[sidecar.capability_seed] paths`: the run's own seed;
//! - `[sidecar.interceptor.https_mitm]`: when the project does not set
//!   `enabled`, interception is enabled, and when it lists no
//!   `intercept_hosts`, they are the hosts the mapping rules name (ports
//!   dropped), so mapped HTTPS calls are classified, not tunnelled blind.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use firma_core::config::{Config, RulesSource};
use toml::{Table, Value};

use super::RunError;

/// What the session changes.
#[derive(Debug, Clone)]
pub struct SessionValues {
    /// The session Authority's listen address.
    pub authority: SocketAddr,
    /// The session Sidecar's listen address.
    pub sidecar: SocketAddr,
    /// The run's capability seed file.
    pub seed: PathBuf,
}

/// The session text derived from the project's `text` (parsed as `config`).
pub fn derive(
    origin: &Path,
    text: &str,
    config: &Config,
    v: &SessionValues,
) -> Result<String, RunError> {
    let bad = |e: String| RunError::Sidecar {
        reason: format!(
            "cannot derive the session config from `{}`: {e}",
            origin.display()
        ),
        fix: format!("fix `{}` (check it with `firma doctor`)", origin.display()),
    };
    let mut doc: Table = text
        .parse()
        .map_err(|e: toml::de::Error| bad(e.to_string()))?;
    table(&mut doc, &["authority"])
        .map_err(bad)?
        .insert("listen_addr".into(), v.authority.to_string().into());
    table(&mut doc, &["sidecar", "interceptor"])
        .map_err(bad)?
        .insert("listen_addr".into(), v.sidecar.to_string().into());
    table(&mut doc, &["sidecar", "authority"])
        .map_err(bad)?
        .insert("url".into(), format!("http://{}", v.authority).into());
    table(&mut doc, &["sidecar", "capability_seed"])
        .map_err(bad)?
        .insert(
            "paths".into(),
            Value::Array(vec![v.seed.display().to_string().into()]),
        );
    let hosts = mapped_hosts(config);
    let mitm = table(&mut doc, &["sidecar", "interceptor", "https_mitm"]).map_err(bad)?;
    if !mitm.contains_key("enabled") {
        let listed = mitm
            .get("intercept_hosts")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if !listed && !hosts.is_empty() {
            mitm.insert(
                "intercept_hosts".into(),
                Value::Array(hosts.into_iter().map(Value::from).collect()),
            );
        }
        let active = mitm
            .get("intercept_hosts")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        mitm.insert("enabled".into(), active.into());
    }
    let mut out = String::from(
        "# firma run session config: derived from firma.toml in this directory for one session;\n\
         # removed when the session ends.\n",
    );
    out.push_str(&toml::to_string(&doc).map_err(|e| bad(e.to_string()))?);
    Ok(out)
}

/// `doc[path…]` as a table, created when missing.
fn table<'a>(doc: &'a mut Table, path: &[&str]) -> Result<&'a mut Table, String> {
    let mut t = doc;
    for (i, key) in path.iter().enumerate() {
        let entry = t
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Table(Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{}` is not a table", path[..=i].join(".")))?;
    }
    Ok(t)
}

/// The hosts the mapping rule files name, without ports, deduplicated.
pub fn mapped_hosts(config: &Config) -> Vec<String> {
    let RulesSource::Files(files) = &config.sidecar.mapping.rules else {
        return Vec::new();
    };
    let mut hosts: Vec<String> = Vec::new();
    for f in files {
        let Ok(t) = std::fs::read_to_string(f).map(|s| s.parse::<Table>()) else {
            continue;
        };
        let Ok(t) = t else { continue };
        let rules = t.get("rules").and_then(Value::as_array);
        for r in rules.into_iter().flatten() {
            if let Some(h) = r.get("host").and_then(Value::as_str) {
                let h = strip_port(h.trim()).to_ascii_lowercase();
                if !h.is_empty() && !hosts.contains(&h) {
                    hosts.push(h);
                }
            }
        }
    }
    hosts
}

/// `host:443` → `host`; `[::1]:443` → `::1`; other forms unchanged.
fn strip_port(h: &str) -> &str {
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match h.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECT: &str = r#"
[authority]
listen_addr = "127.0.0.1:50051"
policy_dir = "policies"

[sidecar.interceptor]
listen_addr = "127.0.0.1:8080"

[sidecar.authority]
url = "http://127.0.0.1:50051"
public_key_path = "authority.pub"
agent_id = "agt_01jdaemontest0000000000000"

[sidecar.capability_seed]
paths = ["/state/capabilities/daemon.toml"]

[sidecar.audit]
sink = "file"
file_path = "/state/audit.jsonl"
signing_key_path = "audit.key"
"#;

    fn values() -> SessionValues {
        SessionValues {
            authority: "127.0.0.1:41001".parse().unwrap(),
            sidecar: "127.0.0.1:41002".parse().unwrap(),
            seed: PathBuf::from("/state/run/sbx_a/capabilities/daemon.toml"),
        }
    }

    fn parsed(text: &str) -> Config {
        Config::parse(Path::new("/p/.firma/firma.toml"), text).unwrap()
    }

    /// RUN-6: ports, URL and seed change; everything else is kept; the
    /// result parses.
    #[test]
    fn session_changes_only_what_it_must() {
        let cfg = parsed(PROJECT);
        let out = derive(Path::new("/p/.firma/firma.toml"), PROJECT, &cfg, &values()).unwrap();
        let s = parsed(&out);
        assert_eq!(s.authority.listen_addr, values().authority);
        assert_eq!(s.sidecar.interceptor.listen_addr, values().sidecar);
        assert_eq!(s.sidecar.capability_seed_paths, vec![values().seed]);
        assert_eq!(s.authority.policy_dir, cfg.authority.policy_dir);
        assert_eq!(s.sidecar.authority.agent_id, cfg.sidecar.authority.agent_id);
    }

    /// RUN-6: an explicit `enabled` is respected; hosts are not invented
    /// when the project lists its own.
    #[test]
    fn explicit_mitm_is_kept() {
        let text = format!(
            "{PROJECT}\n[sidecar.interceptor.https_mitm]\nenabled = false\nintercept_hosts = [\"a.test\"]\n"
        );
        let cfg = parsed(&text);
        let out = derive(Path::new("/p/.firma/firma.toml"), &text, &cfg, &values()).unwrap();
        let s = parsed(&out);
        assert!(!s.sidecar.interceptor.https_mitm.enabled);
        let text = format!(
            "{PROJECT}\n[sidecar.interceptor.https_mitm]\nintercept_hosts = [\"a.test\"]\n"
        );
        let cfg = parsed(&text);
        let out = derive(Path::new("/p/.firma/firma.toml"), &text, &cfg, &values()).unwrap();
        let s = parsed(&out);
        assert!(s.sidecar.interceptor.https_mitm.enabled);
        assert_eq!(s.sidecar.interceptor.https_mitm.intercept_hosts.len(), 1);
    }

    /// RUN-6: ports are dropped from mapped hosts.
    #[test]
    fn ports_stripped() {
        assert_eq!(strip_port("api.test:8443"), "api.test");
        assert_eq!(strip_port("api.test"), "api.test");
        assert_eq!(strip_port("[::1]:443"), "::1");
        assert_eq!(strip_port("*.x.test"), "*.x.test");
    }
}
