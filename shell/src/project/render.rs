//! The text of the files `firma init` generates (`PRJ-2`, `PRJ-5`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

/// What `firma.toml` is rendered from.
#[derive(Debug)]
pub struct ConfigValues<'a> {
    /// `[project] name`.
    pub name: &'a str,
    /// `[project] agent` (the agent profile).
    pub agent: &'a str,
    /// The model provider (`[project] provider`, `PRJ-2`).
    pub provider: &'a str,
    /// `[authority] listen_addr`.
    pub authority_listen: SocketAddr,
    /// `[sidecar.interceptor] listen_addr`.
    pub sidecar_listen: SocketAddr,
    /// `[sidecar.authority] agent_id`.
    pub agent_id: &'a str,
    /// The user data directory (absolute).
    pub data_dir: &'a Path,
    /// The state directory (absolute).
    pub state_dir: &'a Path,
}

/// A TOML basic string.
fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn qp(p: &Path) -> String {
    q(&p.display().to_string())
}

/// Where the Sidecar dials the Authority: its listen address, with an
/// unspecified IP (`0.0.0.0`, `::`) replaced by loopback.
pub fn authority_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

/// `.firma/firma.toml`.
pub fn firma_toml(v: &ConfigValues<'_>) -> String {
    let seed = v.state_dir.join("capabilities").join("daemon.toml");
    format!(
        r#"# firma project configuration, written by `firma init`.
# Relative paths resolve against this directory (.firma/). The runtime state
# directory is never set here: --state-dir, then FIRMA_STATE_DIR, then
# $XDG_RUNTIME_DIR/firma, then /tmp/firma-$UID.

[project]
name = {name}
agent = {agent}
provider = {provider}

# The local Mini Authority: issues capability tokens and streams the
# policies in policies/ to the Sidecar.
[authority]
listen_addr = {alisten}
policy_dir = "policies"
issuance_policy_dir = "issuance-policies"
key_file = "authority.key"
revocation_file = {revocations}

[sidecar]
mode = "enforce"

[sidecar.interceptor]
mode = "http_proxy"
listen_addr = {slisten}

[sidecar.authority]
url = {url}
public_key_path = "authority.pub"
agent_id = {agent_id}

# Written by `firma sidecar start` before the Sidecar starts.
[sidecar.capability_seed]
paths = [{seed}]

# mapping-rules.toml is generated from packs (`firma config --mapping …`);
# list files of your own rules in `rules_paths`.
[sidecar.mapping]
rules_path = "mapping-rules.toml"
default_protected = true

[sidecar.policy]
dir = "policies"

[sidecar.audit]
sink = "file"
file_path = {audit}
signing_key_path = "audit.key"

[sidecar.ca]
dir = {ca}
"#,
        name = q(v.name),
        agent = q(v.agent),
        provider = q(v.provider),
        alisten = q(&v.authority_listen.to_string()),
        revocations = qp(&v.data_dir.join("revocations.txt")),
        slisten = q(&v.sidecar_listen.to_string()),
        url = q(&authority_url(v.authority_listen)),
        agent_id = q(v.agent_id),
        seed = qp(&seed),
        audit = qp(&v.state_dir.join("audit.jsonl")),
        ca = qp(&v.data_dir.join("generated-firma-ca")),
    )
}

/// `.firma/issuance-policies/default.cedar`: the project's agent may be
/// issued every action class; the enforcement posture restricts.
pub fn issuance_policy(agent_id: &str) -> String {
    format!(
        r#"// Token issuance for this project, written by `firma init`.
// The project's agent may be issued every action class: what it may actually
// do is decided per call by the enforcement posture in ../policies/.
// Narrow this to limit what tokens can ever carry.

@id("issue-project-agent")
permit (
  principal == Firma::Agent::{agent},
  action,
  resource
);
"#,
        agent = serde_json::Value::String(agent_id.to_owned())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_replaces_unspecified_ip() {
        assert_eq!(
            authority_url("0.0.0.0:50051".parse().unwrap()),
            "http://127.0.0.1:50051"
        );
        assert_eq!(authority_url("[::]:7".parse().unwrap()), "http://[::1]:7");
        assert_eq!(
            authority_url("127.0.0.2:9".parse().unwrap()),
            "http://127.0.0.2:9"
        );
    }

    /// PRJ-5: the issuance policy compiles and names the agent.
    #[test]
    fn issuance_policy_compiles() {
        use firma_core::policy::{Bundle, PolicySource};
        let text = issuance_policy("agt_01abc");
        Bundle::compile(
            &[PolicySource {
                name: "default.cedar",
                text: &text,
            }],
            None,
        )
        .unwrap();
        assert!(text.contains("Firma::Agent::\"agt_01abc\""));
    }
}
