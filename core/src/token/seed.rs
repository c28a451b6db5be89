//! Capability seed files (spec `TOK-9`..`TOK-11`): the TOML file
//! `firma authority issue` writes and the Sidecar loads from
//! `[sidecar.capability_seed].paths`.
//!
//! The seed repeats the token's claims in readable form next to the token
//! itself (`raw_token`). The signed claims are the truth: the token is
//! verified under the Authority key and every repeated field must agree with
//! its claim, or the seed is rejected.

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, Deserializer};

use super::capability::Capability;
use super::claims::rfc3339;
use super::error::{SeedError, one_line, show};
use super::paseto::PublicKey;
use crate::action_class::ActionClass;
use crate::config::{Location, Position};
use crate::time::UnixTime;

/// A loaded seed: the verified capability and the optional, unsigned
/// `budget_ceiling` (informational; nothing enforces it).
#[derive(Clone, Debug, PartialEq)]
pub struct Seed {
    /// The verified token.
    pub capability: Capability,
    /// `budget_ceiling`, a finite non-negative number, if given.
    pub budget_ceiling: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeed {
    raw_token: Spanned<String>,
    token_id: Spanned<String>,
    agent_id: Spanned<String>,
    session_id: Spanned<String>,
    action_set: Spanned<Vec<Spanned<String>>>,
    resource_scope: Spanned<String>,
    issued_at: Spanned<String>,
    expiry: Spanned<String>,
    context_hash: Spanned<String>,
    budget_ceiling: Option<Spanned<toml::Value>>,
}

/// Every key a seed file may hold.
pub const SEED_KEYS: [&str; 10] = [
    "raw_token",
    "token_id",
    "agent_id",
    "session_id",
    "action_set",
    "resource_scope",
    "issued_at",
    "expiry",
    "context_hash",
    "budget_ceiling",
];

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn at(&self, span: Option<Range<usize>>) -> Box<Location> {
        Box::new(Location {
            file: self.file.to_path_buf(),
            position: span.map(|s| position(self.text, s.start)),
        })
    }

    fn invalid<T>(&self, key: &str, v: &Spanned<T>, value: &str, reason: String) -> SeedError {
        SeedError::InvalidValue {
            at: self.at(Some(v.span())),
            key: key.to_owned(),
            value: show(value),
            reason,
        }
    }
}

impl Seed {
    /// Parse the seed file at `origin` (used in messages only) and verify its
    /// token under `key`. Never panics. Expiry is not checked: an expired
    /// seed loads, and Stage 1 denies it `TokenExpired`.
    pub fn parse(origin: &Path, text: &str, key: &PublicKey) -> Result<Seed, SeedError> {
        let ctx = Ctx { file: origin, text };
        let doc = DeTable::parse(text).map_err(|e| SeedError::Syntax {
            at: ctx.at(e.span()),
            message: one_line(e.message()),
        })?;
        let raw = RawSeed::deserialize(Deserializer::from(doc.clone()))
            .map_err(|e| schema_error(&ctx, doc.get_ref(), &e))?;

        let capability = Capability::verify(key, raw.raw_token.get_ref()).map_err(|source| {
            SeedError::Token {
                at: ctx.at(Some(raw.raw_token.span())),
                source,
            }
        })?;
        let claims = capability.claims();
        let same = |k: &str, v: &Spanned<String>, claim: &str| {
            if v.get_ref() == claim {
                Ok(())
            } else {
                Err(mismatch(&ctx, k, v, v.get_ref(), claim))
            }
        };
        same("token_id", &raw.token_id, &claims.token_id)?;
        same("agent_id", &raw.agent_id, &claims.agent_id)?;
        same("session_id", &raw.session_id, &claims.session_id)?;
        same(
            "resource_scope",
            &raw.resource_scope,
            claims.resource_scope.as_str(),
        )?;
        same("context_hash", &raw.context_hash, &claims.context_hash)?;
        let time = |k: &str, v: &Spanned<String>, claim: UnixTime| {
            let t = UnixTime::parse_rfc3339(v.get_ref()).ok_or_else(|| {
                ctx.invalid(
                    k,
                    v,
                    v.get_ref(),
                    "is not an rfc 3339 utc timestamp".to_owned(),
                )
            })?;
            if t == claim {
                Ok(())
            } else {
                Err(mismatch(&ctx, k, v, v.get_ref(), &rfc3339(claim)))
            }
        };
        time("issued_at", &raw.issued_at, claims.issued_at)?;
        time("expiry", &raw.expiry, claims.expiry)?;

        let mut actions = Vec::with_capacity(raw.action_set.get_ref().len());
        for (i, item) in raw.action_set.get_ref().iter().enumerate() {
            let key = format!("action_set[{i}]");
            let a: ActionClass = item.get_ref().parse().map_err(|_| {
                ctx.invalid(
                    &key,
                    item,
                    item.get_ref(),
                    "is not a known action class".to_owned(),
                )
            })?;
            if actions.contains(&a) {
                return Err(ctx.invalid(&key, item, item.get_ref(), "is listed twice".to_owned()));
            }
            actions.push(a);
        }
        let mut signed = claims.action_set.clone();
        signed.sort_unstable();
        actions.sort_unstable();
        if actions != signed {
            let list =
                |v: &[ActionClass]| v.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ");
            return Err(mismatch(
                &ctx,
                "action_set",
                &raw.action_set,
                &list(&actions),
                &list(&signed),
            ));
        }

        let budget_ceiling = match &raw.budget_ceiling {
            None => None,
            Some(v) => {
                let n = match v.get_ref() {
                    toml::Value::Float(f) => *f,
                    toml::Value::Integer(i) => *i as f64,
                    other => {
                        return Err(SeedError::WrongType {
                            at: ctx.at(Some(v.span())),
                            key: "budget_ceiling".to_owned(),
                            expected: "a number".to_owned(),
                            value: show(&other.to_string()),
                        });
                    }
                };
                if !n.is_finite() || n < 0.0 {
                    return Err(ctx.invalid(
                        "budget_ceiling",
                        v,
                        &n.to_string(),
                        "is not a finite non-negative number".to_owned(),
                    ));
                }
                Some(n)
            }
        };
        Ok(Seed {
            capability,
            budget_ceiling,
        })
    }

    /// The seed file text for this capability (TOK-11): every key of
    /// [`SEED_KEYS`] in that order, values copied from the signed claims.
    /// `budget_ceiling` is written only when it is finite and non-negative.
    pub fn to_toml(&self) -> String {
        let c = self.capability.claims();
        let s = |v: &str| serde_json::Value::String(v.to_owned()).to_string();
        let actions: Vec<String> = c.action_set.iter().map(|a| s(a.as_str())).collect();
        let mut out = format!(
            "# firma capability seed: the signed token is the truth; the other keys repeat its claims\n\
             raw_token = {}\ntoken_id = {}\nagent_id = {}\nsession_id = {}\naction_set = [{}]\n\
             resource_scope = {}\nissued_at = {}\nexpiry = {}\ncontext_hash = {}\n",
            s(self.capability.token()),
            s(&c.token_id),
            s(&c.agent_id),
            s(&c.session_id),
            actions.join(", "),
            s(c.resource_scope.as_str()),
            s(&rfc3339(c.issued_at)),
            s(&rfc3339(c.expiry)),
            s(&c.context_hash),
        );
        if let Some(b) = self.budget_ceiling.filter(|b| b.is_finite() && *b >= 0.0) {
            out.push_str(&format!("budget_ceiling = {b:?}\n"));
        }
        out
    }
}

fn mismatch<T>(ctx: &Ctx<'_>, key: &str, v: &Spanned<T>, seed: &str, claim: &str) -> SeedError {
    SeedError::Mismatch {
        at: ctx.at(Some(v.span())),
        key: key.to_owned(),
        seed: show(seed),
        claim: show(claim),
    }
}

/// The 1-based line and column (in characters) of byte `offset`.
fn position(text: &str, offset: usize) -> Position {
    let mut end = offset.min(text.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = text.get(..end).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).unwrap_or("").chars().count() + 1;
    Position { line, column }
}

/// Turn an error of the serde pass into a [`SeedError`].
fn schema_error(ctx: &Ctx<'_>, doc: &DeTable<'_>, e: &toml::de::Error) -> SeedError {
    let message = one_line(e.message());
    let at = ctx.at(e.span());
    let quoted = |rest: &str| rest.split('`').nth(1).unwrap_or("").to_owned();
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return SeedError::UnknownKey {
            at,
            key: show(&quoted(rest)),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return SeedError::MissingKey {
            at: ctx.at(None),
            key: show(&quoted(rest)),
        };
    }
    let key = e
        .span()
        .and_then(|span| key_at(doc, &span))
        .unwrap_or_default();
    let value = e
        .span()
        .and_then(|s| ctx.text.get(s))
        .map(|v| show(v.lines().next().unwrap_or("")))
        .unwrap_or_default();
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((_, expected)) = rest.rsplit_once(", expected ")
    {
        let expected = match expected {
            "a sequence" => "an array".to_owned(),
            e => e.to_owned(),
        };
        return SeedError::WrongType {
            at,
            key,
            expected,
            value,
        };
    }
    SeedError::InvalidValue {
        at,
        key,
        value,
        reason: format!("is invalid ({message})"),
    }
}

/// The top-level key (and array index) whose value contains `span`.
fn key_at(doc: &DeTable<'_>, span: &Range<usize>) -> Option<String> {
    let inside = |outer: &Range<usize>| outer.start <= span.start && span.end <= outer.end;
    for (k, v) in doc {
        if !inside(&v.span()) && !inside(&k.span()) {
            continue;
        }
        let mut key = show(k.get_ref());
        if let DeValue::Array(items) = v.get_ref()
            && let Some(i) = items.iter().position(|item| inside(&item.span()))
        {
            key.push_str(&format!("[{i}]"));
        }
        return Some(key);
    }
    None
}
