//! The `resource_scope` claim and what it covers (spec `TOK-7`).
//!
//! Resources are the engine's resource ids: normalized authority plus
//! normalized path, e.g. `api.github.com/repos/o/r` or `paste.rs/`.

use std::fmt;

/// A validated `resource_scope`:
///
/// - `*` covers every resource;
/// - `B` or `B/*` covers the resource `B` and every resource below it,
///   `B/…`, matching only at a `/` boundary: `api.example.com` does not cover
///   `api.example.com.evil.net/` or `api.example.com:8443/`, and
///   `api.example.com/v1` does not cover `api.example.com/v1alpha`.
///
/// `B` is an authority (lower-case host, optional `:port`) optionally followed
/// by a path of non-empty segments; `B/` (the root, `host/`) covers only the
/// root resource. No other `*`, no `?`, `#`, dot segments, empty segments,
/// whitespace or non-ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceScope {
    raw: String,
    /// Length of `B` in `raw`; `None` for `*`.
    base: Option<usize>,
}

impl ResourceScope {
    /// The scope that covers everything.
    pub fn any() -> ResourceScope {
        ResourceScope {
            raw: "*".to_owned(),
            base: None,
        }
    }

    /// Validate a scope; the error starts with a verb (`is …`, `has …`).
    pub fn parse(raw: &str) -> Result<ResourceScope, String> {
        if raw == "*" {
            return Ok(ResourceScope::any());
        }
        if raw.is_empty() {
            return Err("is empty; use `*` for every resource".to_owned());
        }
        if let Some(c) = raw.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(format!(
                "contains `{}`; only visible ascii characters are allowed",
                c.escape_default()
            ));
        }
        if let Some(c) = raw.chars().find(|c| matches!(c, '?' | '#' | '\\')) {
            return Err(format!("contains `{c}`, which never occurs in a resource"));
        }
        let base = raw.strip_suffix("/*").unwrap_or(raw);
        if base.contains('*') {
            return Err("has a `*` other than the whole scope or a final `/*`".to_owned());
        }
        let (authority, path) = match base.find('/') {
            Some(i) => base.split_at(i),
            None => (base, ""),
        };
        if authority.is_empty() {
            return Err("has no host before its path".to_owned());
        }
        if authority.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("has upper-case letters in its host; resources are lower-case".to_owned());
        }
        if path.len() > 1 {
            let segments = path.get(1..).unwrap_or("");
            if segments.split('/').any(|s| s.is_empty()) {
                return Err("has an empty path segment or a trailing `/`".to_owned());
            }
            if segments.split('/').any(|s| s == "." || s == "..") {
                return Err("has a `.` or `..` path segment".to_owned());
            }
        } else if path == "/" && raw.ends_with("/*") {
            return Err("ends with `//*`".to_owned());
        }
        Ok(ResourceScope {
            raw: raw.to_owned(),
            base: Some(base.len()),
        })
    }

    /// The scope as written in the token.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// True for `*`.
    pub fn is_any(&self) -> bool {
        self.base.is_none()
    }

    /// How specific the scope is: 0 for `*`, else the length of its base.
    /// Stage 1 prefers the most specific covering token.
    pub fn specificity(&self) -> usize {
        self.base.unwrap_or(0)
    }

    /// True when `resource` is inside the scope (TOK-7).
    pub fn covers(&self, resource: &str) -> bool {
        let Some(len) = self.base else {
            return true;
        };
        let Some(base) = self.raw.get(..len) else {
            return false;
        };
        match resource.strip_prefix(base) {
            Some("") => true,
            Some(rest) => rest.starts_with('/') && !base.ends_with('/'),
            None => false,
        }
    }
}

impl fmt::Display for ResourceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}
