//! Rule files: TOML text → validated [`Rule`]s with positions (spec `MAP-1`..`MAP-3`).

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::MappingError;
use super::pattern::{CONNECT, HostPattern, PathPattern, parse_host, parse_method, parse_path};
use crate::action_class::ActionClass;
use crate::engine::RuleRef;
use crate::normalize::show;

/// One validated rule.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    /// Explicit method, or `None` for "any method except CONNECT".
    pub method: Option<&'static str>,
    /// Compiled host pattern.
    pub host: HostPattern,
    /// Compiled path pattern.
    pub path: PathPattern,
    /// Class the rule assigns.
    pub class: ActionClass,
    /// Where the rule came from.
    pub rule_ref: RuleRef,
}

impl Rule {
    /// Canonical `METHOD host path` used in duplicate messages.
    pub(crate) fn signature(&self) -> String {
        format!(
            "{} {} {}",
            self.method.unwrap_or("ANY"),
            self.host.display(),
            self.path.display()
        )
    }
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

/// Position context while parsing one file.
struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn at(&self, span: &Range<usize>) -> (String, usize, usize) {
        let (line, col) = line_col(self.text, span.start);
        (self.file.to_owned(), line, col)
    }
}

/// Parse and validate every rule of one file.
pub(crate) fn parse_file(file: &str, text: &str) -> Result<Vec<Rule>, MappingError> {
    let ctx = Ctx { file, text };
    let doc = DeTable::parse(text).map_err(|e| {
        let (file, line, col) = ctx.at(&e.span().unwrap_or(0..0));
        let message = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        MappingError::Toml {
            file,
            line,
            col,
            message,
        }
    })?;
    let doc = doc.into_inner();
    let mut keys: Vec<_> = doc.iter().collect();
    keys.sort_by_key(|(k, _)| k.span().start);
    let mut rules_value = None;
    for (key, value) in keys {
        if key.get_ref() == "rules" {
            rules_value = Some(value);
        } else {
            let (file, line, col) = ctx.at(&key.span());
            return Err(MappingError::UnknownTopLevelKey {
                file,
                line,
                col,
                key: show(key.get_ref()),
            });
        }
    }
    let Some(rules_value) = rules_value else {
        return Err(MappingError::Empty {
            file: file.to_owned(),
        });
    };
    let DeValue::Array(items) = rules_value.get_ref() else {
        let (file, line, col) = ctx.at(&rules_value.span());
        return Err(MappingError::RulesNotTables { file, line, col });
    };
    if items.is_empty() {
        return Err(MappingError::Empty {
            file: file.to_owned(),
        });
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_rule(&ctx, i + 1, item))
        .collect()
}

fn string_value<'v>(
    ctx: &Ctx<'_>,
    rule: usize,
    key: &str,
    value: &'v Spanned<DeValue<'_>>,
) -> Result<&'v str, MappingError> {
    match value.get_ref() {
        DeValue::String(s) => Ok(s.as_ref()),
        _ => {
            let (file, line, col) = ctx.at(&value.span());
            Err(MappingError::NotAString {
                file,
                line,
                col,
                rule,
                key: key.to_owned(),
            })
        }
    }
}

fn parse_rule(
    ctx: &Ctx<'_>,
    rule: usize,
    item: &Spanned<DeValue<'_>>,
) -> Result<Rule, MappingError> {
    let DeValue::Table(table) = item.get_ref() else {
        let (file, line, col) = ctx.at(&item.span());
        return Err(MappingError::RulesNotTables { file, line, col });
    };
    let mut method = None;
    let mut host = None;
    let mut path = None;
    let mut class = None;
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (key, value) in entries {
        let slot = match key.get_ref().as_ref() {
            "method" => &mut method,
            "host" => &mut host,
            "path" => &mut path,
            "action_class" => &mut class,
            other => {
                let (file, line, col) = ctx.at(&key.span());
                return Err(MappingError::UnknownKey {
                    file,
                    line,
                    col,
                    rule,
                    key: show(other),
                });
            }
        };
        *slot = Some((string_value(ctx, rule, key.get_ref(), value)?, value.span()));
    }
    let missing = |key: &'static str| {
        let (file, line, col) = ctx.at(&item.span());
        MappingError::MissingKey {
            file,
            line,
            col,
            rule,
            key,
        }
    };
    let (host_text, host_span) = host.ok_or_else(|| missing("host"))?;
    let (class_text, class_span) = class.ok_or_else(|| missing("action_class"))?;

    let method = match method {
        None => None,
        Some((text, span)) => Some(parse_method(text).ok_or_else(|| {
            let (file, line, col) = ctx.at(&span);
            MappingError::InvalidMethod {
                file,
                line,
                col,
                rule,
                value: show(text),
            }
        })?),
    };
    let host = parse_host(host_text).map_err(|reason| {
        let (file, line, col) = ctx.at(&host_span);
        MappingError::InvalidHost {
            file,
            line,
            col,
            rule,
            value: show(host_text),
            reason,
        }
    })?;
    let path = match path {
        None => PathPattern::Any,
        Some((text, span)) => {
            let invalid = |reason: String| {
                let (file, line, col) = ctx.at(&span);
                MappingError::InvalidPath {
                    file,
                    line,
                    col,
                    rule,
                    value: show(text),
                    reason,
                }
            };
            let pattern = parse_path(text).map_err(invalid)?;
            if method == Some(CONNECT) && pattern != PathPattern::Any {
                return Err(invalid(
                    "is not allowed on a `CONNECT` rule; tunnels have no path (omit `path` or use `*`)"
                        .to_owned(),
                ));
            }
            pattern
        }
    };
    let class = class_text.parse::<ActionClass>().map_err(|unknown| {
        let (file, line, col) = ctx.at(&class_span);
        MappingError::UnknownActionClass {
            file,
            line,
            col,
            rule,
            value: show(class_text),
            suggestion: unknown.suggestion(),
        }
    })?;
    Ok(Rule {
        method,
        host,
        path,
        class,
        rule_ref: RuleRef {
            file: ctx.file.to_owned(),
            index: rule,
        },
    })
}
