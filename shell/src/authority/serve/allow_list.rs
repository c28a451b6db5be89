//! The mTLS allow-list (`[authority] authorized_clients_path`, AUT-11): which
//! client certificate identities may connect. Read once at start-up.
//!
//! ```toml
//! [[clients]]
//! identity = "sidecar-1.example.internal"
//! ```

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    clients: Vec<RawClient>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    identity: String,
}

/// The identities allowed to connect. Empty rejects every client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct AllowList {
    identities: HashSet<String>,
}

impl AllowList {
    /// Parse the allow-list text of `path`. Unknown keys, a missing
    /// `identity` or a value of the wrong type are errors naming the line;
    /// empty identities are ignored.
    pub(super) fn parse(path: &Path, text: &str) -> Result<AllowList, String> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let upto = text.get(..s.start).unwrap_or(text);
                    let line = upto.matches('\n').count() + 1;
                    let column = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    format!("{}:{line}:{column}: ", path.display())
                })
                .unwrap_or_else(|| format!("{}: ", path.display()));
            format!("{at}{}", e.message().trim())
        })?;
        Ok(AllowList {
            identities: raw
                .clients
                .into_iter()
                .map(|c| c.identity)
                .filter(|i| !i.is_empty())
                .collect(),
        })
    }

    /// True when `identity` is listed (exact string comparison).
    pub(super) fn allows(&self, identity: &str) -> bool {
        self.identities.contains(identity)
    }

    /// Number of identities.
    pub(super) fn len(&self) -> usize {
        self.identities.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AllowList, String> {
        AllowList::parse(Path::new("clients.toml"), text)
    }

    /// AUT-11: exact identities; empty entries ignored; empty file allows none.
    #[test]
    fn aut_11_identities_exact() {
        let list =
            parse("[[clients]]\nidentity = \"a.example\"\n[[clients]]\nidentity = \"\"\n").unwrap();
        assert_eq!(list.len(), 1);
        assert!(list.allows("a.example"));
        assert!(!list.allows("A.example"));
        assert!(!list.allows(""));
        assert_eq!(parse("").unwrap().len(), 0);
    }

    /// AUT-11: strict keys, with file and line in the error.
    #[test]
    fn aut_11_unknown_keys_rejected_with_line() {
        let e = parse("[[clients]]\nidentity = \"a\"\ncn = \"b\"\n").unwrap_err();
        assert!(e.starts_with("clients.toml:3:"), "{e}");
        assert!(e.contains("cn"), "{e}");
        let e = parse("[[authorized]]\ncn = \"a\"\n").unwrap_err();
        assert!(e.starts_with("clients.toml:1:"), "{e}");
        let e = parse("[[clients]]\nname = \"a\"\n").unwrap_err();
        assert!(e.contains("clients.toml:"), "{e}");
    }
}
