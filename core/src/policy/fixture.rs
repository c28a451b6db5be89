//! The `firma policy test` fixture format (spec `CED-16`). Pure: the shell
//! reads the file and the bundle it names.
//!
//! ```toml
//! [fixture]
//! expected = "DENY"                    # ALLOW or DENY, case-insensitive
//! name = "optional label"
//! [fixture.principal]
//! agent_id = "agt_01j0000000e008000000000001"   # default "anonymous"
//! [fixture.action]
//! class = "communication.external.send"
//! [fixture.resource]
//! host = "169.254.169.254"
//! path = "/latest/meta-data"           # default "/"
//! provider = "github"                  # optional
//! [fixture.context]                    # optional EnforcementContext overrides
//! risk_score = 90
//! [bundle]
//! path = "bundle/"                     # relative to the fixture file
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::context::PolicyContext;
use super::error::{ContextError, FixtureError};
use super::eval::{PolicyRequest, ResourceAttrs, Verdict};
use super::source::line_col;
use crate::action_class::ActionClass;

/// The decision a fixture expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// `ALLOW`
    Allow,
    /// `DENY`
    Deny,
}

impl Expected {
    /// `ALLOW` or `DENY` for a verdict.
    pub fn of(verdict: &Verdict) -> Expected {
        if verdict.allowed {
            Expected::Allow
        } else {
            Expected::Deny
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expected::Allow => "ALLOW",
            Expected::Deny => "DENY",
        })
    }
}

/// One parsed, checked fixture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyFixture {
    /// Optional label.
    pub name: Option<String>,
    /// The expected decision.
    pub expected: Expected,
    /// Principal id (`anonymous` when not given).
    pub agent_id: String,
    /// Action class.
    pub action: ActionClass,
    /// Resource host.
    pub host: String,
    /// Resource path (`/` when not given).
    pub path: String,
    /// Resource provider tag.
    pub provider: Option<String>,
    /// The bundle directory as written (relative to the fixture file).
    pub bundle_path: String,
    /// Default context with the overrides applied (timestamp 0 unless overridden).
    context: PolicyContext,
    timestamp_overridden: bool,
}

impl PolicyFixture {
    /// Parse and check fixture `text`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<PolicyFixture, FixtureError> {
        let err = |span: Option<Range<usize>>, message: String| {
            let (line, column) = span.map_or((1, 1), |s| line_col(text, s.start));
            FixtureError {
                file: file.to_owned(),
                line,
                column,
                message,
            }
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            err(
                e.span(),
                super::source::one_line(e.message())
                    .trim_end_matches('.')
                    .to_owned(),
            )
        })?;
        let f = raw.fixture;

        let expected = match f.expected.get_ref().to_ascii_uppercase().as_str() {
            "ALLOW" => Expected::Allow,
            "DENY" => Expected::Deny,
            _ => {
                return Err(err(
                    Some(f.expected.span()),
                    format!(
                        "`fixture.expected` `{}` must be `ALLOW` or `DENY`",
                        f.expected.get_ref()
                    ),
                ));
            }
        };

        let agent_id = match f.principal {
            None => super::ANONYMOUS.to_owned(),
            Some(p) => {
                if !valid_agent_id(p.agent_id.get_ref()) {
                    return Err(err(
                        Some(p.agent_id.span()),
                        format!(
                            "`fixture.principal.agent_id` `{}` is not a valid agent id (1 to 128 of `A-Z a-z 0-9 _ -`)",
                            p.agent_id.get_ref()
                        ),
                    ));
                }
                p.agent_id.into_inner()
            }
        };

        let action = f
            .action
            .class
            .get_ref()
            .parse::<ActionClass>()
            .map_err(|e| {
                let hint = e
                    .suggestion()
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                err(
                    Some(f.action.class.span()),
                    format!("`fixture.action.class`: {e}{hint}"),
                )
            })?;

        let host = f.resource.host;
        if host.get_ref().is_empty()
            || host
                .get_ref()
                .chars()
                .any(|c| c.is_whitespace() || c == '/' || c.is_control())
        {
            return Err(err(
                Some(host.span()),
                format!(
                    "`fixture.resource.host` `{}` must be a non-empty host without `/` or spaces",
                    host.get_ref()
                ),
            ));
        }
        let path = match f.resource.path {
            None => "/".to_owned(),
            Some(p) if p.get_ref().starts_with('/') => p.into_inner(),
            Some(p) => {
                return Err(err(
                    Some(p.span()),
                    format!(
                        "`fixture.resource.path` `{}` must start with `/`",
                        p.get_ref()
                    ),
                ));
            }
        };
        let provider = match f.resource.provider {
            Some(p) if p.get_ref().is_empty() => {
                return Err(err(
                    Some(p.span()),
                    "`fixture.resource.provider` must not be empty".to_owned(),
                ));
            }
            p => p.map(Spanned::into_inner),
        };

        let mut context = PolicyContext::at(0);
        let mut timestamp_overridden = false;
        for (key, value) in f.context.unwrap_or_default() {
            let json = to_json(value.get_ref());
            context.apply_override(key.get_ref(), &json).map_err(|e| {
                // Point at the key when it is unknown, at the value when mistyped.
                let span = match e {
                    ContextError::UnknownKey { .. } => key.span(),
                    ContextError::WrongType { .. } => value.span(),
                };
                err(
                    Some(span),
                    format!("`fixture.context.{}`: {e}", key.get_ref()),
                )
            })?;
            timestamp_overridden |= key.get_ref() == "timestamp_ms";
        }

        if raw.bundle.path.get_ref().is_empty() {
            return Err(err(
                Some(raw.bundle.path.span()),
                "`bundle.path` must not be empty".to_owned(),
            ));
        }

        Ok(PolicyFixture {
            name: f.name,
            expected,
            agent_id,
            action,
            host: host.into_inner(),
            path,
            provider,
            bundle_path: raw.bundle.path.into_inner(),
            context,
            timestamp_overridden,
        })
    }

    /// The fixture's context for a run at `now_ms` (unless the fixture sets `timestamp_ms`).
    pub fn context(&self, now_ms: i64) -> PolicyContext {
        let mut c = self.context.clone();
        if !self.timestamp_overridden {
            c.timestamp_ms = now_ms;
        }
        c
    }

    /// The request this fixture describes, with `context` from [`Self::context`].
    pub fn request<'a>(&'a self, context: &'a PolicyContext) -> PolicyRequest<'a> {
        PolicyRequest {
            principal: &self.agent_id,
            action: self.action,
            resource: ResourceAttrs {
                host: &self.host,
                path: &self.path,
                provider: self.provider.as_deref(),
            },
            context,
        }
    }

    /// True when `verdict` is what the fixture expects.
    pub fn passes(&self, verdict: &Verdict) -> bool {
        Expected::of(verdict) == self.expected
    }
}

/// `[a-zA-Z0-9_-]{1,128}`.
fn valid_agent_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn to_json(v: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(to_json).collect()),
        toml::Value::Table(t) => {
            J::Object(t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    fixture: RawFixture,
    bundle: RawBundle,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFixture {
    expected: Spanned<String>,
    name: Option<String>,
    principal: Option<RawPrincipal>,
    action: RawAction,
    resource: RawResource,
    context: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrincipal {
    agent_id: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    class: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    host: Spanned<String>,
    path: Option<Spanned<String>>,
    provider: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBundle {
    path: Spanned<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[fixture]
expected = "deny"
name = "imds"
[fixture.principal]
agent_id = "agt_01j0000000e008000000000001"
[fixture.action]
class = "communication.external.send"
[fixture.resource]
host = "169.254.169.254"
path = "/latest/meta-data"
[fixture.context]
risk_score = 90
[bundle]
path = "bundle/"
"#;

    fn parse_err(text: &str) -> FixtureError {
        PolicyFixture::parse("f.toml", text).unwrap_err()
    }

    // CED-16
    #[test]
    fn parses_a_full_fixture() {
        let f = PolicyFixture::parse("f.toml", GOOD).unwrap();
        assert_eq!(f.expected, Expected::Deny);
        assert_eq!(f.name.as_deref(), Some("imds"));
        assert_eq!(f.action, ActionClass::CommunicationExternalSend);
        assert_eq!(f.path, "/latest/meta-data");
        assert_eq!(f.bundle_path, "bundle/");
        let c = f.context(5);
        assert_eq!((c.risk_score, c.timestamp_ms), (90, 5));
        let r = f.request(&c);
        assert_eq!(r.principal, "agt_01j0000000e008000000000001");
        assert_eq!(r.resource.host, "169.254.169.254");
    }

    #[test]
    fn defaults_principal_and_path() {
        let f = PolicyFixture::parse(
            "f.toml",
            "[fixture]\nexpected = \"ALLOW\"\n[fixture.action]\nclass = \"code.read\"\n\
             [fixture.resource]\nhost = \"api.github.com\"\n[bundle]\npath = \"b\"\n",
        )
        .unwrap();
        assert_eq!(f.agent_id, "anonymous");
        assert_eq!(f.path, "/");
        assert_eq!(f.expected, Expected::Allow);
        assert!(f.passes(&Verdict {
            allowed: true,
            ..Verdict::default()
        }));
    }

    // CED-16, ACL-3
    #[test]
    fn errors_name_file_position_and_key() {
        let e = parse_err(&GOOD.replace("risk_score = 90", "risk_scor = 90"));
        assert_eq!(
            e.to_string(),
            "f.toml:13:1: `fixture.context.risk_scor`: unknown context key `risk_scor`; did you mean `risk_score`?"
        );
        let e = parse_err(&GOOD.replace("risk_score = 90", "risk_score = \"high\""));
        assert!(e.to_string().starts_with("f.toml:13:14: `fixture.context.risk_score`: context key `risk_score` must be a Long"), "{e}");
        let e = parse_err(&GOOD.replace("\"deny\"", "\"maybe\""));
        assert_eq!(
            e.to_string(),
            "f.toml:3:12: `fixture.expected` `maybe` must be `ALLOW` or `DENY`"
        );
        let e = parse_err(&GOOD.replace("communication.external", "communications.external"));
        assert!(
            e.to_string()
                .contains("did you mean `communication.external.send`")
        );
        assert_eq!((e.line, e.column), (8, 9));
        let e = parse_err(&GOOD.replace("name = \"imds\"", "nmae = \"imds\""));
        assert_eq!(e.line, 4);
        assert!(e.message.contains("unknown field `nmae`"), "{e}");
        let e = parse_err(&GOOD.replace("/latest", "latest"));
        assert!(e.message.contains("must start with `/`"));
        let e = parse_err(&GOOD.replace("agt_01j", "agt 01j"));
        assert!(e.message.contains("not a valid agent id"));
        let e = parse_err("[fixture\n");
        assert_eq!(e.file, "f.toml");
    }

    #[test]
    fn never_panics_on_garbage() {
        for text in [
            "",
            "\u{0}",
            "[[[",
            "fixture = 1",
            "[bundle]\npath = 3",
            "é\n\n=\"",
        ] {
            assert!(PolicyFixture::parse("x", text).is_err());
        }
    }
}
