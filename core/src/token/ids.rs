//! Identifier formats carried by capability tokens (spec `TOK-5`), and the
//! issuance `context_hash`.

use sha2::{Digest, Sha256};

use crate::action_class::ActionClass;

/// Prefix of capability token ids.
pub const TOKEN_ID_PREFIX: &str = "ctok_";
/// Prefix of agent ids.
pub const AGENT_ID_PREFIX: &str = "agt_";
/// Longest agent or session id, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// Crockford base32, lower case: the TypeID alphabet.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Why `id` is not a token id (`ctok_` + 26 TypeID base32 characters, the
/// first one `0`..`7`), or `None` when it is one.
pub fn token_id_problem(id: &str) -> Option<String> {
    let Some(suffix) = id.strip_prefix(TOKEN_ID_PREFIX) else {
        return Some(format!("does not start with `{TOKEN_ID_PREFIX}`"));
    };
    if suffix.len() != 26 {
        return Some(format!(
            "has {} characters after `{TOKEN_ID_PREFIX}`, expected 26",
            suffix.chars().count()
        ));
    }
    if !suffix.bytes().all(|b| ALPHABET.contains(&b)) {
        return Some("is not lower-case typeid base32 after `ctok_`".to_owned());
    }
    if !matches!(suffix.as_bytes().first(), Some(b'0'..=b'7')) {
        return Some("overflows 128 bits (first character after `ctok_` above `7`)".to_owned());
    }
    None
}

/// True for a well-formed token id.
pub fn is_token_id(id: &str) -> bool {
    token_id_problem(id).is_none()
}

/// The token id of a 128-bit value (the shell passes a fresh UUIDv7): `ctok_`
/// and its 26-character TypeID base32 encoding.
pub fn token_id_from_uuid(uuid: [u8; 16]) -> String {
    let n = u128::from_be_bytes(uuid);
    let mut out = String::with_capacity(TOKEN_ID_PREFIX.len() + 26);
    out.push_str(TOKEN_ID_PREFIX);
    for i in (0..26).rev() {
        let digit = ((n >> (5 * i)) & 0x1f) as usize;
        out.push(char::from(ALPHABET.get(digit).copied().unwrap_or(b'0')));
    }
    out
}

/// Why `id` is not an agent id (`agt_` then `[A-Za-z0-9_-]`, 5..=128 bytes), or
/// `None`.
pub fn agent_id_problem(id: &str) -> Option<String> {
    let Some(suffix) = id.strip_prefix(AGENT_ID_PREFIX) else {
        return Some(format!("does not start with `{AGENT_ID_PREFIX}`"));
    };
    if suffix.is_empty() {
        return Some(format!("has nothing after `{AGENT_ID_PREFIX}`"));
    }
    plain_id_problem(id)
}

/// Why `id` is not a session id (1..=128 of `[A-Za-z0-9_-]`), or `None`.
pub fn session_id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("is empty".to_owned());
    }
    plain_id_problem(id)
}

fn plain_id_problem(id: &str) -> Option<String> {
    if id.len() > MAX_ID_LEN {
        return Some(format!("is longer than {MAX_ID_LEN} bytes"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Some(format!(
            "contains `{}`; only letters, digits, `_` and `-` are allowed",
            c.escape_default()
        ));
    }
    None
}

/// Why `hash` is not a context hash (64 lower-case hex digits), or `None`.
pub fn context_hash_problem(hash: &str) -> Option<String> {
    if hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        None
    } else {
        Some("is not 64 lower-case hex digits (a sha-256)".to_owned())
    }
}

/// The issuance context hash: hex SHA-256 of `agent_id`, `|`, each action
/// (sorted) followed by `,`, `|`, `resource_scope`, `|`, `bundle_version`.
pub fn context_hash(
    agent_id: &str,
    actions: &[ActionClass],
    resource_scope: &str,
    bundle_version: &str,
) -> String {
    let mut sorted: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
    sorted.sort_unstable();
    let mut h = Sha256::new();
    h.update(agent_id.as_bytes());
    h.update(b"|");
    for a in sorted {
        h.update(a.as_bytes());
        h.update(b",");
    }
    h.update(b"|");
    h.update(resource_scope.as_bytes());
    h.update(b"|");
    h.update(bundle_version.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
