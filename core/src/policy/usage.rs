//! What parts of a request a policy can read, so evaluation builds only those
//! (spec `CED-12`): the context attributes it names and whether it reads any
//! entity attribute.

use cedar_policy::Policy;
use serde_json::Value;

use super::context::AttrMask;

/// The request data a set of policies may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Context attributes named (`context.x`, `context has x`).
    pub(crate) context: AttrMask,
    /// True when some expression reads an attribute of something other than
    /// `context` (in practice `resource.host` etc.): the resource entity is needed.
    pub(crate) entity_attrs: bool,
}

impl Usage {
    /// Reads nothing.
    pub(crate) const NONE: Usage = Usage {
        context: AttrMask::NONE,
        entity_attrs: false,
    };
    /// Reads everything (the safe answer when analysis is not possible).
    pub(crate) const ALL: Usage = Usage {
        context: AttrMask::ALL,
        entity_attrs: true,
    };

    /// Union of two usages.
    pub(crate) fn union(self, other: Usage) -> Usage {
        Usage {
            context: self.context.union(other.context),
            entity_attrs: self.entity_attrs || other.entity_attrs,
        }
    }

    /// Analyse one policy's conditions (from its JSON form).
    pub(crate) fn of(policy: &Policy) -> Usage {
        let Ok(json) = policy.to_json() else {
            return Usage::ALL;
        };
        let mut usage = Usage::NONE;
        match json.get("conditions") {
            Some(conditions) => walk(conditions, &mut usage),
            None => return Usage::ALL,
        }
        usage
    }
}

fn is_var(v: &Value, name: &str) -> bool {
    v.get("Var").and_then(Value::as_str) == Some(name)
}

/// Walk a Cedar JSON (EST) expression tree.
fn walk(v: &Value, usage: &mut Usage) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| walk(i, usage)),
        Value::Object(map) => {
            for (key, inner) in map {
                match key.as_str() {
                    "." | "has" if inner.get("left").is_some() => {
                        let left = inner.get("left").unwrap_or(&Value::Null);
                        if is_var(left, "context") {
                            match inner.get("attr").and_then(Value::as_str) {
                                Some(attr) => usage.context = usage.context.with(attr),
                                None => usage.context = AttrMask::ALL,
                            }
                        } else {
                            usage.entity_attrs = true;
                            walk(left, usage);
                        }
                    }
                    "getTag" | "hasTag" => {
                        usage.entity_attrs = true;
                        walk(inner, usage);
                    }
                    // `context` used whole (compared, passed to a function…).
                    "Var" if inner.as_str() == Some("context") => {
                        usage.context = AttrMask::ALL;
                    }
                    _ => walk(inner, usage),
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn usage(text: &str) -> Usage {
        Usage::of(&Policy::from_str(text).unwrap())
    }

    // CED-12
    #[test]
    fn finds_context_attributes_and_entity_reads() {
        let u = usage("permit(principal, action, resource) when { context.risk_score < 80 };");
        assert_eq!(
            u,
            Usage {
                context: AttrMask::NONE.with("risk_score"),
                entity_attrs: false
            }
        );
        let u = usage(
            "forbid(principal, action, resource == Firma::Resource::\"a/\") \
             when { context has git_ref && context.git_ref == \"main\" };",
        );
        assert_eq!(
            u,
            Usage {
                context: AttrMask::NONE.with("git_ref"),
                entity_attrs: false
            }
        );
        let u = usage("forbid(principal, action, resource) when { resource.host == \"x\" };");
        assert_eq!(
            u,
            Usage {
                context: AttrMask::NONE,
                entity_attrs: true
            }
        );
        let u = usage("forbid(principal, action, resource) unless { resource has provider };");
        assert!(u.entity_attrs);
        let u = usage("permit(principal, action, resource) when { context == {} };");
        assert_eq!(u.context, AttrMask::ALL);
        let u = usage(
            "permit(principal, action, resource) when { (if true then resource else resource).path == \"/\" };",
        );
        assert!(u.entity_attrs);
        let u = usage("permit(principal, action, resource);");
        assert_eq!(u, Usage::NONE);
        let u = usage(
            "permit(principal, action, resource) when { {\"Var\": \"context\", \"attr\": 1}.attr == 1 };",
        );
        assert!(u.entity_attrs);
        assert_eq!(u.context, AttrMask::NONE);
    }
}
