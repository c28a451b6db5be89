//! Converting spanned raw values into typed ones, with errors that point at
//! the value.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use toml::Spanned;

use super::TlsFiles;
use super::error::{ConfigError, Location, show};
use super::location::position;
use super::raw::{Opt, StrList};
use super::suggest::closest;

/// Everything needed to turn spans into messages and relative paths into
/// absolute-or-config-relative ones.
pub(crate) struct Ctx<'a> {
    /// The config file, as named in messages.
    pub file: &'a Path,
    /// The config text (to compute line:column).
    pub text: &'a str,
    /// The directory relative paths are joined onto.
    pub base: &'a Path,
}

impl Ctx<'_> {
    /// A location at the start of `span`.
    pub fn at(&self, span: &Range<usize>) -> Box<Location> {
        Box::new(Location {
            file: self.file.to_path_buf(),
            position: Some(position(self.text, span.start)),
        })
    }

    /// A location at `span` when known, else the file alone.
    pub fn at_opt(&self, span: Option<Range<usize>>) -> Box<Location> {
        match span {
            Some(s) => self.at(&s),
            None => Box::new(Location {
                file: self.file.to_path_buf(),
                position: None,
            }),
        }
    }

    /// An [`ConfigError::InvalidValue`] for a spanned value.
    pub fn invalid(
        &self,
        key: &str,
        span: &Range<usize>,
        value: &str,
        reason: impl Into<String>,
    ) -> ConfigError {
        ConfigError::InvalidValue {
            at: self.at(span),
            key: key.to_owned(),
            value: if value.is_empty() {
                "\"\"".to_owned()
            } else {
                show(value)
            },
            reason: reason.into(),
        }
    }

    /// A [`ConfigError::Conflict`] located at `span`.
    pub fn conflict(
        &self,
        key: &str,
        span: &Range<usize>,
        other_key: &str,
        reason: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Conflict {
            at: self.at(span),
            key: key.to_owned(),
            other_key: other_key.to_owned(),
            reason: reason.into(),
        }
    }

    /// A [`ConfigError::MissingKey`], located at the enclosing table when it
    /// exists.
    pub fn missing(
        &self,
        key: &str,
        table: Option<Range<usize>>,
        reason: impl Into<String>,
    ) -> ConfigError {
        ConfigError::MissingKey {
            at: self.at_opt(table),
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    /// A non-empty path, joined onto the config directory when relative
    /// (CFG-6, CFG-7).
    pub fn path(&self, key: &str, v: &Spanned<String>) -> Result<PathBuf, ConfigError> {
        let raw = v.get_ref();
        if raw.is_empty() {
            return Err(self.invalid(key, &v.span(), raw, "is an empty path"));
        }
        Ok(self.rebase(raw))
    }

    /// Join a relative path onto the config directory; absolute paths are
    /// returned unchanged (that is what `Path::join` does).
    pub fn rebase(&self, raw: &str) -> PathBuf {
        self.base.join(raw)
    }

    /// An optional path.
    pub fn opt_path(&self, key: &str, v: &Opt<String>) -> Result<Option<PathBuf>, ConfigError> {
        v.as_ref().map(|v| self.path(key, v)).transpose()
    }

    /// A path with a config-relative default.
    pub fn path_or(
        &self,
        key: &str,
        v: &Opt<String>,
        default: &str,
    ) -> Result<PathBuf, ConfigError> {
        match v {
            Some(v) => self.path(key, v),
            None => Ok(self.rebase(default)),
        }
    }

    /// An array of paths (default empty); item keys carry `[index]`.
    pub fn path_list(&self, key: &str, v: &StrList) -> Result<Vec<PathBuf>, ConfigError> {
        let Some(items) = v else {
            return Ok(Vec::new());
        };
        items
            .get_ref()
            .iter()
            .enumerate()
            .map(|(i, item)| self.path(&format!("{key}[{i}]"), item))
            .collect()
    }

    /// Two paths that must be given together (CFG-11): both → `Some`,
    /// neither → `None`, one alone → [`ConfigError::Conflict`].
    pub fn path_pair(
        &self,
        (a_key, a): (&str, &Opt<String>),
        (b_key, b): (&str, &Opt<String>),
    ) -> Result<Option<TlsFiles>, ConfigError> {
        match (a, b) {
            (Some(a), Some(b)) => Ok(Some(TlsFiles {
                cert_path: self.path(a_key, a)?,
                key_path: self.path(b_key, b)?,
            })),
            (None, None) => Ok(None),
            (Some(set), None) => Err(self.half_pair(a_key, &set.span(), b_key)),
            (None, Some(set)) => Err(self.half_pair(b_key, &set.span(), a_key)),
        }
    }

    fn half_pair(&self, set_key: &str, span: &Range<usize>, unset_key: &str) -> ConfigError {
        self.conflict(
            set_key,
            span,
            unset_key,
            format!("is set but `{unset_key}` is not (set both or neither)"),
        )
    }

    /// A socket address `ip:port` (CFG-8).
    pub fn socket_addr_or(
        &self,
        key: &str,
        v: &Opt<String>,
        default: SocketAddr,
    ) -> Result<SocketAddr, ConfigError> {
        match v {
            None => Ok(default),
            Some(v) => parse_socket_addr(v.get_ref())
                .map_err(|reason| self.invalid(key, &v.span(), v.get_ref(), reason)),
        }
    }

    /// An integer in `1..=max`, or `default` when absent (CFG-9).
    pub fn positive(
        &self,
        key: &str,
        v: &Opt<i64>,
        default: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let Some(v) = v else {
            return Ok(default);
        };
        let n = *v.get_ref();
        let shown = n.to_string();
        if n == 0 {
            return Err(self.invalid(key, &v.span(), &shown, "must be greater than zero"));
        }
        match u64::try_from(n) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(self.invalid(
                key,
                &v.span(),
                &shown,
                format!("is out of range (expected an integer from 1 to {max})"),
            )),
        }
    }

    /// One of a closed set of strings, or `default` when absent (CFG-10).
    pub fn choice<T: Copy>(
        &self,
        key: &str,
        v: &Opt<String>,
        choices: &[(&str, T)],
        default: T,
    ) -> Result<T, ConfigError> {
        let Some(v) = v else {
            return Ok(default);
        };
        let given = v.get_ref().as_str();
        if let Some((_, t)) = choices.iter().find(|(name, _)| *name == given) {
            return Ok(*t);
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        Err(self.invalid(key, &v.span(), given, unsupported(given, &names)))
    }
}

/// "is not supported (expected …)" with a hint when the value is close to one
/// of the accepted names.
pub(crate) fn unsupported(given: &str, names: &[&str]) -> String {
    let expected = match names {
        [one] => format!("`{one}`"),
        _ => {
            let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("one of {}", quoted.join(", "))
        }
    };
    match closest(given, names) {
        Some(s) if names.len() > 1 => {
            format!("is not supported (expected {expected}; did you mean `{s}`?)")
        }
        _ => format!("is not supported (expected {expected})"),
    }
}

/// A boolean with a default.
pub(crate) fn flag(v: &Opt<bool>, default: bool) -> bool {
    v.as_ref().map_or(default, |v| *v.get_ref())
}

/// Parse `ip:port`, explaining the failure in the reason.
pub(crate) fn parse_socket_addr(raw: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = SocketAddr::from_str(raw) {
        return Ok(addr);
    }
    if let Some((host, port)) = raw.rsplit_once(':')
        && !host.is_empty()
        && !host.contains(':')
        && port.parse::<u16>().is_ok()
    {
        return Err(
            "is not a socket address: the host must be an ip address (e.g. `127.0.0.1:8080`)"
                .into(),
        );
    }
    Err("is not a socket address (expected `host:port`)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx<'static> {
        Ctx {
            file: Path::new("firma.toml"),
            text: "",
            base: Path::new("/etc/firma"),
        }
    }

    fn s<T>(v: T) -> Spanned<T> {
        Spanned::new(0..1, v)
    }

    #[test]
    fn cfg6_relative_paths_join_config_dir_absolute_kept() {
        let c = ctx();
        assert_eq!(
            c.path("k", &s("policies".into())).unwrap(),
            PathBuf::from("/etc/firma/policies")
        );
        assert_eq!(
            c.path("k", &s("/abs/x".into())).unwrap(),
            PathBuf::from("/abs/x")
        );
        assert_eq!(
            c.path_or("k", &None, "d").unwrap(),
            PathBuf::from("/etc/firma/d")
        );
    }

    #[test]
    fn cfg7_empty_path_is_an_error() {
        let err = ctx()
            .path("sidecar.policy.dir", &s(String::new()))
            .unwrap_err();
        assert_eq!(err.key(), Some("sidecar.policy.dir"));
        assert!(err.to_string().contains("is an empty path"), "{err}");
        let list = Some(s(vec![s("a".to_string()), s(String::new())]));
        let err = ctx()
            .path_list("sidecar.mapping.rules_paths", &list)
            .unwrap_err();
        assert_eq!(err.key(), Some("sidecar.mapping.rules_paths[1]"));
    }

    #[test]
    fn cfg8_socket_addresses() {
        assert!(parse_socket_addr("127.0.0.1:8080").is_ok());
        assert!(parse_socket_addr("[::1]:50051").is_ok());
        assert!(
            parse_socket_addr("127.0.0.1:99999")
                .unwrap_err()
                .contains("expected `host:port`")
        );
        assert!(
            parse_socket_addr("localhost:8080")
                .unwrap_err()
                .contains("must be an ip address")
        );
        assert!(parse_socket_addr("").is_err());
        assert!(parse_socket_addr("127.0.0.1").is_err());
    }

    #[test]
    fn cfg9_positive_integers() {
        let c = ctx();
        assert_eq!(c.positive("k", &None, 30, 10).unwrap(), 30);
        assert_eq!(c.positive("k", &Some(s(7)), 30, 10).unwrap(), 7);
        let zero = c.positive("k", &Some(s(0)), 30, 10).unwrap_err();
        assert!(
            zero.to_string().contains("`0` must be greater than zero"),
            "{zero}"
        );
        assert!(c.positive("k", &Some(s(-1)), 30, 10).is_err());
        assert!(c.positive("k", &Some(s(11)), 30, 10).is_err());
        assert!(c.positive("k", &Some(s(i64::MIN)), 30, u64::MAX).is_err());
    }

    #[test]
    fn cfg10_choices_with_hint() {
        let c = ctx();
        let levels = [("info", 1), ("warn", 2)];
        assert_eq!(c.choice("k", &None, &levels, 0).unwrap(), 0);
        assert_eq!(
            c.choice("k", &Some(s("warn".into())), &levels, 0).unwrap(),
            2
        );
        let err = c
            .choice("k", &Some(s("INFO".into())), &levels, 0)
            .unwrap_err();
        assert!(err.to_string().contains("did you mean `info`?"), "{err}");
        let err = c
            .choice("k", &Some(s("grpc".into())), &[("http_proxy", 1)], 0)
            .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("is not supported (expected `http_proxy`)"),
            "{err}"
        );
    }
}
