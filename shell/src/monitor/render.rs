//! Output lines: `pretty` for people, `json` for tools (MON-8, MON-9).

use super::Source;
use super::record::AuditView;

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One human-readable line per record.
    Pretty,
    /// Audit lines as written; component lines wrapped in a JSON object.
    Json,
}

/// Width of the decision column (`PASSTHROUGH`).
const DECISION_WIDTH: usize = 11;

/// Renders lines for one output.
#[derive(Debug, Clone, Copy)]
pub struct Renderer {
    /// Output format.
    pub format: Format,
    /// Colour the decision (only for a terminal without `NO_COLOR`).
    pub color: bool,
}

impl Renderer {
    /// The output bytes (with the final `\n`) for a shown audit line.
    pub fn audit(&self, raw: &[u8], view: Option<&AuditView>) -> Vec<u8> {
        let mut out = match (self.format, view) {
            (Format::Json, _) => raw.to_vec(),
            (Format::Pretty, Some(v)) => self.pretty(v).into_bytes(),
            (Format::Pretty, None) => {
                format!("[audit] {}", clean(&String::from_utf8_lossy(raw))).into_bytes()
            }
        };
        out.push(b'\n');
        out
    }

    /// The output bytes for a component log line.
    pub fn component(&self, source: Source, raw: &[u8]) -> Vec<u8> {
        let text = String::from_utf8_lossy(raw);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        let line = match self.format {
            Format::Json => format!(
                "{{\"source\":{},\"raw\":{}}}",
                json_string(source.name()),
                json_string(text)
            ),
            Format::Pretty => format!("[{}] {}", source.name(), clean(text)),
        };
        let mut out = line.into_bytes();
        out.push(b'\n');
        out
    }

    fn pretty(&self, v: &AuditView) -> String {
        let time = v.time.map_or_else(
            || "-".to_owned(),
            |t| {
                let full = t.to_string();
                format!("{}Z", &full[..19])
            },
        );
        let outcome = clean(v.outcome.as_deref().unwrap_or("-"));
        let padded = format!("{outcome:<DECISION_WIDTH$}");
        let decision = match (self.color, color_of(&outcome)) {
            (true, Some(code)) => format!("\x1b[{code}m{padded}\x1b[0m"),
            _ => padded,
        };
        let target = clean(&match (&v.host, &v.path) {
            (Some(h), Some(p)) => format!("{h}{p}"),
            (Some(h), None) => h.clone(),
            (None, Some(p)) => p.clone(),
            (None, None) => "-".to_owned(),
        });
        let mut line = format!(
            "{time}  {decision}  {}  {target}  class={}  agent={}",
            clean(v.method.as_deref().unwrap_or("-")),
            clean(v.action_class.as_deref().unwrap_or("-")),
            clean(v.agent_id.as_deref().unwrap_or("-")),
        );
        if let Some(r) = &v.reason {
            line.push_str("  reason=");
            line.push_str(&clean(r));
        }
        line
    }
}

/// ANSI SGR colour of an outcome.
fn color_of(outcome: &str) -> Option<&'static str> {
    match outcome {
        "DENY" => Some("31"),
        "ALLOW" => Some("32"),
        "PASSTHROUGH" => Some("2;33"),
        "ABORT" => Some("35"),
        _ => None,
    }
}

/// Control characters from a file are shown as `?` so that a line cannot
/// drive the terminal (our own colour codes are added around clean text).
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use firma_core::UnixTime;

    use super::*;

    fn deny() -> AuditView {
        AuditView {
            time: UnixTime::parse_rfc3339("2026-11-22T02:24:12.987654Z"),
            outcome: Some("DENY".into()),
            reason: Some("POLICY_DENY".into()),
            action_class: Some("communication.external.send".into()),
            method: Some("POST".into()),
            host: Some("paste.rs".into()),
            path: Some("/".into()),
            agent_id: None,
        }
    }

    #[test]
    fn pretty_plain_and_coloured() {
        let plain = Renderer {
            format: Format::Pretty,
            color: false,
        };
        assert_eq!(
            String::from_utf8(plain.audit(b"", Some(&deny()))).unwrap(),
            "2026-11-22T02:24:12Z  DENY         POST  paste.rs/  class=communication.external.send  agent=-  reason=POLICY_DENY\n"
        );
        let colour = Renderer {
            format: Format::Pretty,
            color: true,
        };
        let out = String::from_utf8(colour.audit(b"", Some(&deny()))).unwrap();
        assert!(out.contains("\x1b[31mDENY       \x1b[0m"), "{out:?}");
        assert_eq!(
            String::from_utf8(plain.audit(b"torn", None)).unwrap(),
            "[audit] torn\n"
        );
    }

    #[test]
    fn record_text_cannot_inject_escapes() {
        let mut v = deny();
        v.path = Some("/\x1b[2J\n".into());
        let r = Renderer {
            format: Format::Pretty,
            color: true,
        };
        let out = String::from_utf8(r.audit(b"", Some(&v))).unwrap();
        assert!(out.contains("paste.rs/?[2J?"), "{out:?}");
        assert_eq!(out.matches('\x1b').count(), 2, "{out:?}");
    }

    #[test]
    fn json_component_lines_are_wrapped() {
        let r = Renderer {
            format: Format::Json,
            color: false,
        };
        assert_eq!(
            String::from_utf8(r.component(Source::Sidecar, b"a \"q\"\r")).unwrap(),
            "{\"source\":\"sidecar\",\"raw\":\"a \\\"q\\\"\"}\n"
        );
        assert_eq!(r.audit(b"{\"x\":1}", None), b"{\"x\":1}\n");
    }
}
