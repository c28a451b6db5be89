//! Capability claims: the signed JSON payload of a capability token (spec
//! `TOK-4`, `TOK-5`).

use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::Value;

use super::error::{TokenError, one_line, show};
use super::ids;
use super::scope::ResourceScope;
use crate::action_class::ActionClass;
use crate::time::UnixTime;

/// The claims of a capability token. Built by the Authority (then
/// [`Claims::validate`]d and signed) or parsed from a verified token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// `token_id`: `ctok_…`.
    pub token_id: String,
    /// `agent_id`: `agt_…`.
    pub agent_id: String,
    /// `session_id`.
    pub session_id: String,
    /// `action_set`: the action classes the token grants, no duplicates.
    pub action_set: Vec<ActionClass>,
    /// `resource_scope`.
    pub resource_scope: ResourceScope,
    /// `iat`.
    pub issued_at: UnixTime,
    /// `exp`: the token is expired when `exp <= now`.
    pub expiry: UnixTime,
    /// `context_hash`: hex SHA-256 of the issuance context.
    pub context_hash: String,
}

/// The claim names, in the order [`Claims::to_json`] writes them.
pub const CLAIM_NAMES: [&str; 8] = [
    "exp",
    "iat",
    "token_id",
    "agent_id",
    "session_id",
    "context_hash",
    "resource_scope",
    "action_set",
];

impl Claims {
    /// Parse the claims JSON of a verified token. Every claim in
    /// [`CLAIM_NAMES`] is required; any other claim, a repeated claim, a
    /// wrong type or an invalid value is an error naming the claim.
    pub fn from_json(bytes: &[u8]) -> Result<Claims, TokenError> {
        let ClaimMap(entries) =
            serde_json::from_slice(bytes).map_err(|e| TokenError::MalformedPayload {
                reason: one_line(&e.to_string()),
            })?;
        let mut slots: [Option<Value>; 8] = Default::default();
        for (name, value) in entries {
            let Some(i) = CLAIM_NAMES.iter().position(|n| *n == name) else {
                return Err(malformed(
                    &name,
                    "is not a firma capability claim".to_owned(),
                ));
            };
            match slots.get_mut(i) {
                Some(slot @ None) => *slot = Some(value),
                _ => return Err(malformed(&name, "appears more than once".to_owned())),
            }
        }
        let [
            exp,
            iat,
            token_id,
            agent_id,
            session_id,
            context_hash,
            scope,
            actions,
        ] = slots;
        let string = |name: &str, v: Option<Value>| -> Result<String, TokenError> {
            match v {
                None => Err(malformed(name, "is missing".to_owned())),
                Some(Value::String(s)) => Ok(s),
                Some(other) => Err(malformed(
                    name,
                    format!("is not a string: `{}`", show(&other.to_string())),
                )),
            }
        };
        let time = |name: &str, v: Option<Value>| -> Result<UnixTime, TokenError> {
            let s = string(name, v)?;
            UnixTime::parse_rfc3339(&s).ok_or_else(|| {
                malformed(
                    name,
                    format!("is not an rfc 3339 utc timestamp: `{}`", show(&s)),
                )
            })
        };
        let expiry = time("exp", exp)?;
        let issued_at = time("iat", iat)?;
        let token_id = string("token_id", token_id)?;
        let agent_id = string("agent_id", agent_id)?;
        let session_id = string("session_id", session_id)?;
        let context_hash = string("context_hash", context_hash)?;
        let scope_raw = string("resource_scope", scope)?;
        let resource_scope = ResourceScope::parse(&scope_raw).map_err(|reason| {
            malformed("resource_scope", format!("`{}` {reason}", show(&scope_raw)))
        })?;
        let action_set = match actions {
            None => return Err(malformed("action_set", "is missing".to_owned())),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => parse_action(&s),
                    other => Err(malformed(
                        "action_set",
                        format!("has a non-string item `{}`", show(&other.to_string())),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => {
                return Err(malformed(
                    "action_set",
                    format!("is not an array: `{}`", show(&other.to_string())),
                ));
            }
        };
        let claims = Claims {
            token_id,
            agent_id,
            session_id,
            action_set,
            resource_scope,
            issued_at,
            expiry,
            context_hash,
        };
        claims.validate()?;
        Ok(claims)
    }

    /// Check every claim's format (TOK-5); the Authority calls this before
    /// signing, and parsing calls it after reading.
    pub fn validate(&self) -> Result<(), TokenError> {
        let id = |name: &str, value: &str, problem: Option<String>| match problem {
            Some(p) => Err(malformed(name, format!("`{}` {p}", show(value)))),
            None => Ok(()),
        };
        id(
            "token_id",
            &self.token_id,
            ids::token_id_problem(&self.token_id),
        )?;
        id(
            "agent_id",
            &self.agent_id,
            ids::agent_id_problem(&self.agent_id),
        )?;
        id(
            "session_id",
            &self.session_id,
            ids::session_id_problem(&self.session_id),
        )?;
        id(
            "context_hash",
            &self.context_hash,
            ids::context_hash_problem(&self.context_hash),
        )?;
        if self.action_set.is_empty() {
            return Err(malformed("action_set", "is empty".to_owned()));
        }
        for (i, a) in self.action_set.iter().enumerate() {
            if self
                .action_set
                .get(..i)
                .is_some_and(|seen| seen.contains(a))
            {
                return Err(malformed("action_set", format!("lists `{a}` twice")));
            }
        }
        if self.expiry <= self.issued_at {
            return Err(malformed(
                "exp",
                format!(
                    "`{}` is not after `iat` `{}`",
                    rfc3339(self.expiry),
                    rfc3339(self.issued_at)
                ),
            ));
        }
        Ok(())
    }

    /// The claims JSON, keys in [`CLAIM_NAMES`] order, times in RFC 3339 UTC
    /// (whole seconds when there is no fraction).
    pub fn to_json(&self) -> String {
        let s = |v: &str| Value::String(v.to_owned()).to_string();
        let actions: Vec<String> = self.action_set.iter().map(|a| s(a.as_str())).collect();
        format!(
            "{{\"exp\":{},\"iat\":{},\"token_id\":{},\"agent_id\":{},\"session_id\":{},\"context_hash\":{},\"resource_scope\":{},\"action_set\":[{}]}}",
            s(&rfc3339(self.expiry)),
            s(&rfc3339(self.issued_at)),
            s(&self.token_id),
            s(&self.agent_id),
            s(&self.session_id),
            s(&self.context_hash),
            s(self.resource_scope.as_str()),
            actions.join(",")
        )
    }

    /// True when `action` is in `action_set`.
    pub fn grants(&self, action: ActionClass) -> bool {
        self.action_set.contains(&action)
    }

    /// True when `exp <= now` (TOK-6).
    pub fn is_expired(&self, now: UnixTime) -> bool {
        self.expiry <= now
    }
}

/// RFC 3339 UTC: `2026-01-02T03:04:05Z`, with a fraction (up to nanoseconds,
/// trailing zeros dropped) only when there is one.
pub fn rfc3339(t: UnixTime) -> String {
    let nanos = t.as_nanos() % 1_000_000_000;
    let whole = UnixTime::from_nanos(t.as_nanos() - nanos).to_string();
    let mut out: String = whole.chars().take(19).collect();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

fn parse_action(s: &str) -> Result<ActionClass, TokenError> {
    s.parse().map_err(|_| {
        malformed(
            "action_set",
            format!("names an unknown action class `{}`", show(s)),
        )
    })
}

fn malformed(claim: &str, reason: String) -> TokenError {
    TokenError::Malformed {
        claim: show(claim),
        reason,
    }
}

/// A JSON object's entries in order, duplicates kept (so they can be
/// refused rather than silently resolved).
struct ClaimMap(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for ClaimMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClaimMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a json object of claims")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ClaimMap, A::Error> {
                let mut entries = Vec::with_capacity(CLAIM_NAMES.len());
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(ClaimMap(entries))
            }
        }
        d.deserialize_map(V)
    }
}
