//! Evaluating one request against a [`Bundle`] (spec `CED-13`, `CED-14`).

use cedar_policy::{Context, Decision, Entities, Request};

use super::bundle::Bundle;
use super::context::PolicyContext;
use super::error::EvalError;
use super::schema::class_index;
use super::source::one_line;
use crate::action_class::ActionClass;

/// One Stage 2 question: may `principal` perform `action` on `resource`?
#[derive(Clone, Copy, Debug)]
pub struct PolicyRequest<'a> {
    /// Agent id; `"anonymous"` in policy-only mode.
    pub principal: &'a str,
    /// The mapped action class.
    pub action: ActionClass,
    /// The destination.
    pub resource: ResourceAttrs<'a>,
    /// The context record.
    pub context: &'a PolicyContext,
}

/// The resource of a request. Its entity id is `host + path`, e.g. `paste.rs/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceAttrs<'a> {
    /// Authority (host, with a non-default port).
    pub host: &'a str,
    /// Normalized path without query, `/` at the root.
    pub path: &'a str,
    /// Provider tag for curated hosts (`github`, `stripe`, `gmail`).
    pub provider: Option<&'a str>,
}

/// Cedar's answer for one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// True when some permit applied and no forbid did.
    pub allowed: bool,
    /// Ids of the determining policies (the applying forbids on a deny,
    /// the applying permits on an allow), sorted.
    pub policies: Vec<String>,
    /// Policies that raised an evaluation error and were skipped, as
    /// ``policy `id`: message``, sorted. For the log; they do not change `allowed`.
    pub errors: Vec<String>,
}

impl Bundle {
    /// Evaluate `req` against the policies whose action scope can match
    /// `req.action`. Default deny; forbid wins.
    pub fn evaluate(&self, req: &PolicyRequest<'_>) -> Result<Verdict, EvalError> {
        let index = class_index(req.action);
        let (Some(policies), Some(action)) =
            (self.partitions.get(index), self.names.actions.get(index))
        else {
            return Err(EvalError::Request {
                action: req.action.as_str().to_owned(),
                message: "action class is not in the bundle".to_owned(),
            });
        };
        let (set, usage) = policies.for_principal(req.principal);
        if set.is_empty() {
            // No policy can apply: Cedar's default deny, nothing determining.
            return Ok(Verdict::default());
        }
        let r = &req.resource;
        let entity_error = |message: String| EvalError::Entity {
            resource: format!("{}{}", r.host, r.path),
            message: one_line(&message),
        };
        // Build only what the group's policies can read (CED-12).
        let (resource, entities) = if usage.entity_attrs {
            let (uid, entity) = self
                .names
                .resource(r.host, r.path, r.provider)
                .map_err(entity_error)?;
            let entities = match &self.action_entities {
                None => Entities::from_entities([entity], None),
                Some(actions) => actions.clone().add_entities([entity], None),
            }
            .map_err(|e| entity_error(e.to_string()))?;
            (uid, entities)
        } else {
            let entities = self.action_entities.clone().unwrap_or_else(Entities::empty);
            (self.names.resource_uid(r.host, r.path), entities)
        };
        let request_error = |m: String| EvalError::Request {
            action: req.action.as_str().to_owned(),
            message: one_line(&m),
        };
        let context = Context::from_pairs(req.context.to_pairs(usage.context))
            .map_err(|e| request_error(e.to_string()))?;
        // Request shape was validated against the schema at compile (CED-10).
        let request = Request::new(
            self.names.principal(req.principal),
            action.clone(),
            resource,
            context,
            None,
        )
        .map_err(|e| request_error(e.to_string()))?;
        let response = self.authorizer.is_authorized(&request, set, &entities);
        let diagnostics = response.diagnostics();
        let mut determining: Vec<String> = diagnostics.reason().map(ToString::to_string).collect();
        determining.sort_unstable();
        let mut errors: Vec<String> = diagnostics
            .errors()
            .map(|e| one_line(&e.to_string()))
            .collect();
        errors.sort_unstable();
        Ok(Verdict {
            allowed: response.decision() == Decision::Allow,
            policies: determining,
            errors,
        })
    }
}
