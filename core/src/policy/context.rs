//! The typed `EnforcementContext` record passed to every Cedar evaluation (spec `CED-5`).

use cedar_policy::RestrictedExpression;
use serde_json::Value;

use super::error::ContextError;

/// Cedar type of one context attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrType {
    /// `String`
    String,
    /// `Long`
    Long,
    /// `Set<String>`
    StringSet,
}

impl AttrType {
    fn describe(self) -> &'static str {
        match self {
            AttrType::String => "a String",
            AttrType::Long => "a Long (integer)",
            AttrType::StringSet => "a Set<String> (array of strings)",
        }
    }
}

/// Every attribute of `EnforcementContext`: name, type, required.
/// Mirrors `spec/firma.cedarschema` (a test keeps them equal).
pub const CONTEXT_ATTRIBUTES: &[(&str, AttrType, bool)] = &[
    ("session_id", AttrType::String, true),
    ("timestamp_ms", AttrType::Long, true),
    ("params", AttrType::String, true),
    ("risk_score", AttrType::Long, true),
    ("session_duration_s", AttrType::Long, true),
    ("action_count", AttrType::Long, true),
    ("raw_transport", AttrType::String, true),
    ("deny_count", AttrType::Long, true),
    ("prior_action_classes", AttrType::StringSet, true),
    ("last_resource", AttrType::String, true),
    ("transfer_amount", AttrType::Long, true),
    ("daily_cumulative_amount", AttrType::Long, true),
    ("transfers_last_10m", AttrType::Long, true),
    ("same_payee_count_30m", AttrType::Long, true),
    ("session_transfer_count", AttrType::Long, true),
    ("method", AttrType::String, true),
    ("git_provider", AttrType::String, false),
    ("git_owner", AttrType::String, false),
    ("git_repo", AttrType::String, false),
    ("git_ref", AttrType::String, false),
    ("git_ref_type", AttrType::String, false),
    ("git_operation", AttrType::String, false),
];

/// The context record of one evaluation. Construct with [`PolicyContext::at`]
/// (or `Default`, which uses `timestamp_ms = 0`) and set fields directly;
/// [`PolicyContext::apply_override`] sets a field by name from JSON (fixtures).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyContext {
    /// Session id from the capability token; `""` in policy-only mode.
    pub session_id: String,
    /// Request time, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// JSON text describing the call parameters; `"{}"` by default.
    pub params: String,
    /// Session risk score; 0 by default.
    pub risk_score: i64,
    /// Seconds since the session started.
    pub session_duration_s: i64,
    /// Calls in this session including this one (1-based).
    pub action_count: i64,
    /// `"http"` or `"https"`.
    pub raw_transport: String,
    /// Denied calls so far in this session.
    pub deny_count: i64,
    /// Distinct action classes seen earlier in this session.
    pub prior_action_classes: Vec<String>,
    /// Resource id of the previous call, `""` if none.
    pub last_resource: String,
    /// Payment amount of this call (minor units); 0 when unknown.
    pub transfer_amount: i64,
    /// Sum of today's transfers.
    pub daily_cumulative_amount: i64,
    /// Transfers in the last ten minutes.
    pub transfers_last_10m: i64,
    /// Transfers to the same payee in the last thirty minutes.
    pub same_payee_count_30m: i64,
    /// Transfers in this session.
    pub session_transfer_count: i64,
    /// HTTP method of the call (`GET`, `POST`, …); `""` when not applicable.
    pub method: String,
    /// Git details for code-hosting calls; each is omitted from the record when `None`.
    pub git: GitContext,
}

/// Optional git attributes (`git_provider`, `git_owner`, …) of the context.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GitContext {
    /// `git_provider`, e.g. `github`.
    pub provider: Option<String>,
    /// `git_owner`.
    pub owner: Option<String>,
    /// `git_repo`.
    pub repo: Option<String>,
    /// `git_ref`.
    pub git_ref: Option<String>,
    /// `git_ref_type`, e.g. `branch`.
    pub ref_type: Option<String>,
    /// `git_operation`, e.g. `push`.
    pub operation: Option<String>,
}

impl Default for PolicyContext {
    fn default() -> Self {
        PolicyContext::at(0)
    }
}

impl PolicyContext {
    /// The default context for a request made at `timestamp_ms`.
    pub fn at(timestamp_ms: i64) -> Self {
        PolicyContext {
            session_id: String::new(),
            timestamp_ms,
            params: "{}".to_owned(),
            risk_score: 0,
            session_duration_s: 0,
            action_count: 1,
            raw_transport: "http".to_owned(),
            deny_count: 0,
            prior_action_classes: Vec::new(),
            last_resource: String::new(),
            transfer_amount: 0,
            daily_cumulative_amount: 0,
            transfers_last_10m: 0,
            same_payee_count_30m: 0,
            session_transfer_count: 0,
            method: String::new(),
            git: GitContext::default(),
        }
    }

    /// Set the attribute `key` from a JSON value, checking name and type
    /// against `EnforcementContext`. `null` clears an optional attribute.
    pub fn apply_override(&mut self, key: &str, value: &Value) -> Result<(), ContextError> {
        let Some(&(name, ty, required)) = CONTEXT_ATTRIBUTES.iter().find(|(k, _, _)| *k == key)
        else {
            return Err(ContextError::UnknownKey {
                key: key.to_owned(),
                suggestion: suggest(key),
            });
        };
        let wrong = || ContextError::WrongType {
            key: key.to_owned(),
            expected: ty.describe(),
            got: value.to_string(),
        };
        if value.is_null() && !required {
            *self.optional_slot(name).ok_or_else(wrong)? = None;
            return Ok(());
        }
        match ty {
            AttrType::Long => {
                let n = value.as_i64().ok_or_else(wrong)?;
                *self.long_slot(name).ok_or_else(wrong)? = n;
            }
            AttrType::String => {
                let s = value.as_str().ok_or_else(wrong)?.to_owned();
                if required {
                    *self.string_slot(name).ok_or_else(wrong)? = s;
                } else {
                    *self.optional_slot(name).ok_or_else(wrong)? = Some(s);
                }
            }
            AttrType::StringSet => {
                let items = value.as_array().ok_or_else(wrong)?;
                let mut set = Vec::with_capacity(items.len());
                for item in items {
                    set.push(item.as_str().ok_or_else(wrong)?.to_owned());
                }
                self.prior_action_classes = set;
            }
        }
        Ok(())
    }

    fn long_slot(&mut self, key: &str) -> Option<&mut i64> {
        Some(match key {
            "timestamp_ms" => &mut self.timestamp_ms,
            "risk_score" => &mut self.risk_score,
            "session_duration_s" => &mut self.session_duration_s,
            "action_count" => &mut self.action_count,
            "deny_count" => &mut self.deny_count,
            "transfer_amount" => &mut self.transfer_amount,
            "daily_cumulative_amount" => &mut self.daily_cumulative_amount,
            "transfers_last_10m" => &mut self.transfers_last_10m,
            "same_payee_count_30m" => &mut self.same_payee_count_30m,
            "session_transfer_count" => &mut self.session_transfer_count,
            _ => return None,
        })
    }

    fn string_slot(&mut self, key: &str) -> Option<&mut String> {
        Some(match key {
            "session_id" => &mut self.session_id,
            "params" => &mut self.params,
            "raw_transport" => &mut self.raw_transport,
            "last_resource" => &mut self.last_resource,
            "method" => &mut self.method,
            _ => return None,
        })
    }

    fn optional_slot(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "git_provider" => &mut self.git.provider,
            "git_owner" => &mut self.git.owner,
            "git_repo" => &mut self.git.repo,
            "git_ref" => &mut self.git.git_ref,
            "git_ref_type" => &mut self.git.ref_type,
            "git_operation" => &mut self.git.operation,
            _ => return None,
        })
    }

    /// The record as Cedar `(name, value)` pairs, without any parsing; only the
    /// attributes in `mask` (optional ones also only when set).
    pub(crate) fn to_pairs(&self, mask: AttrMask) -> Vec<(String, RestrictedExpression)> {
        let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
        let l = RestrictedExpression::new_long;
        let mut pairs = Vec::with_capacity(mask.len());
        let mut index = 0usize;
        // Visit every attribute in `CONTEXT_ATTRIBUTES` order; build only the selected ones.
        let mut put = |k: &str, v: &dyn Fn() -> Option<RestrictedExpression>| {
            debug_assert_eq!(CONTEXT_ATTRIBUTES.get(index).map(|a| a.0), Some(k));
            let selected = mask.contains(index);
            index += 1;
            if !selected {
                return;
            }
            if let Some(v) = v() {
                pairs.push((k.to_owned(), v));
            }
        };
        put("session_id", &|| Some(s(&self.session_id)));
        put("timestamp_ms", &|| Some(l(self.timestamp_ms)));
        put("params", &|| Some(s(&self.params)));
        put("risk_score", &|| Some(l(self.risk_score)));
        put("session_duration_s", &|| Some(l(self.session_duration_s)));
        put("action_count", &|| Some(l(self.action_count)));
        put("raw_transport", &|| Some(s(&self.raw_transport)));
        put("deny_count", &|| Some(l(self.deny_count)));
        put("prior_action_classes", &|| {
            Some(RestrictedExpression::new_set(
                self.prior_action_classes.iter().map(|c| s(c)),
            ))
        });
        put("last_resource", &|| Some(s(&self.last_resource)));
        put("transfer_amount", &|| Some(l(self.transfer_amount)));
        put("daily_cumulative_amount", &|| {
            Some(l(self.daily_cumulative_amount))
        });
        put("transfers_last_10m", &|| Some(l(self.transfers_last_10m)));
        put("same_payee_count_30m", &|| {
            Some(l(self.same_payee_count_30m))
        });
        put("session_transfer_count", &|| {
            Some(l(self.session_transfer_count))
        });
        put("method", &|| Some(s(&self.method)));
        put("git_provider", &|| self.git.provider.as_deref().map(s));
        put("git_owner", &|| self.git.owner.as_deref().map(s));
        put("git_repo", &|| self.git.repo.as_deref().map(s));
        put("git_ref", &|| self.git.git_ref.as_deref().map(s));
        put("git_ref_type", &|| self.git.ref_type.as_deref().map(s));
        put("git_operation", &|| self.git.operation.as_deref().map(s));
        pairs
    }
}

/// A set of `EnforcementContext` attributes, by position in [`CONTEXT_ATTRIBUTES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AttrMask(u32);

impl AttrMask {
    /// No attribute.
    pub(crate) const NONE: AttrMask = AttrMask(0);
    /// Every attribute.
    pub(crate) const ALL: AttrMask = AttrMask(u32::MAX);

    /// The mask with `name` added (unknown names add nothing: firma never sends them).
    pub(crate) fn with(self, name: &str) -> AttrMask {
        match CONTEXT_ATTRIBUTES.iter().position(|a| a.0 == name) {
            Some(i) => AttrMask(self.0 | (1u32 << i)),
            None => self,
        }
    }

    /// Union.
    pub(crate) fn union(self, other: AttrMask) -> AttrMask {
        AttrMask(self.0 | other.0)
    }

    fn contains(self, index: usize) -> bool {
        index < 32 && self.0 & (1u32 << index) != 0
    }

    fn len(self) -> usize {
        (0..CONTEXT_ATTRIBUTES.len())
            .filter(|i| self.contains(*i))
            .count()
    }
}

fn suggest(key: &str) -> Option<&'static str> {
    CONTEXT_ATTRIBUTES
        .iter()
        .map(|(k, _, _)| (distance(key, k), *k))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // CED-5: defaults
    #[test]
    fn defaults_match_the_spec() {
        let c = PolicyContext::at(42);
        assert_eq!(c.timestamp_ms, 42);
        assert_eq!(c.params, "{}");
        assert_eq!(c.action_count, 1);
        assert_eq!(c.raw_transport, "http");
        assert_eq!(c.risk_score, 0);
        assert_eq!(c.method, "");
        assert!(c.prior_action_classes.is_empty());
        assert_eq!(PolicyContext::default().timestamp_ms, 0);
        // required attributes always present, optional ones only when set
        let keys: Vec<String> = c
            .to_pairs(AttrMask::ALL)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let required: Vec<&str> = CONTEXT_ATTRIBUTES
            .iter()
            .filter(|a| a.2)
            .map(|a| a.0)
            .collect();
        assert_eq!(keys, required);
    }

    // CED-5: overrides are typed
    #[test]
    fn overrides_set_typed_fields() {
        let mut c = PolicyContext::at(0);
        c.apply_override("risk_score", &json!(90)).unwrap();
        c.apply_override("method", &json!("POST")).unwrap();
        c.apply_override("git_repo", &json!("firma")).unwrap();
        c.apply_override("prior_action_classes", &json!(["code.read"]))
            .unwrap();
        assert_eq!(c.risk_score, 90);
        assert_eq!(c.method, "POST");
        assert_eq!(c.git.repo.as_deref(), Some("firma"));
        assert_eq!(c.prior_action_classes, vec!["code.read".to_owned()]);
        c.apply_override("git_repo", &Value::Null).unwrap();
        assert_eq!(c.git.repo, None);
        assert_eq!(c.to_pairs(AttrMask::ALL).len(), 16);
        let some = AttrMask::NONE
            .with("risk_score")
            .with("git_repo")
            .with("nope");
        let keys: Vec<String> = c.to_pairs(some).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["risk_score"]);
        c.git.repo = Some("r".into());
        assert_eq!(c.to_pairs(some).len(), 2);
        assert_eq!(c.to_pairs(AttrMask::NONE).len(), 0);
    }

    #[test]
    fn every_attribute_is_settable() {
        for (k, ty, _) in CONTEXT_ATTRIBUTES {
            let v = match ty {
                AttrType::String => json!("x"),
                AttrType::Long => json!(7),
                AttrType::StringSet => json!(["a"]),
            };
            PolicyContext::default().apply_override(k, &v).unwrap();
        }
    }

    #[test]
    fn override_errors_name_the_key() {
        let mut c = PolicyContext::default();
        let e = c.apply_override("risk_scor", &json!(1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown context key `risk_scor`; did you mean `risk_score`?"
        );
        let e = c.apply_override("risk_score", &json!("high")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "context key `risk_score` must be a Long (integer), got `\"high\"`"
        );
        let e = c.apply_override("risk_score", &json!(1.5)).unwrap_err();
        assert!(e.to_string().contains("`1.5`"));
        let e = c.apply_override("method", &Value::Null).unwrap_err();
        assert!(e.to_string().contains("must be a String"));
        let e = c
            .apply_override("prior_action_classes", &json!([1]))
            .unwrap_err();
        assert!(e.to_string().contains("Set<String>"));
    }
}
