//! The Cedar schema a bundle is checked against: the built-in one or a custom
//! `*.cedarschema` from the policy directory (spec `CED-2`, `CED-3`, `CED-10`).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression,
    Schema,
};

use super::context::{AttrMask, PolicyContext};
use super::error::{BundleError, PolicyDiagnostic};
use super::{ANONYMOUS, BUILTIN_SCHEMA, BUILTIN_SCHEMA_NAME, PolicySource, source};
use crate::action_class::ActionClass;

/// Entity type of principals.
pub(crate) const AGENT_TYPE: &str = "Firma::Agent";
/// Entity type of actions.
pub(crate) const ACTION_TYPE: &str = "Firma::Action";
/// Entity type of resources.
pub(crate) const RESOURCE_TYPE: &str = "Firma::Resource";

/// A parsed schema plus the pre-built names firma uses with it.
pub(crate) struct CompiledSchema {
    pub(crate) schema: Schema,
    /// The schema text (part of the bundle version).
    pub(crate) text: String,
    pub(crate) names: Names,
    /// The schema's action entities, kept only when actions have groups
    /// (then `action in <group>` needs them at evaluation).
    pub(crate) action_entities: Option<Entities>,
}

/// Entity type names and per-class action UIDs, built once.
#[derive(Clone)]
pub(crate) struct Names {
    pub(crate) agent: EntityTypeName,
    pub(crate) resource: EntityTypeName,
    /// Indexed by the class's position in [`ActionClass::ALL`].
    pub(crate) actions: Vec<EntityUid>,
}

impl Names {
    pub(crate) fn new() -> Self {
        let action = type_name(ACTION_TYPE);
        Names {
            agent: type_name(AGENT_TYPE),
            resource: type_name(RESOURCE_TYPE),
            actions: ActionClass::ALL
                .iter()
                .map(|c| {
                    EntityUid::from_type_name_and_id(action.clone(), EntityId::new(c.as_str()))
                })
                .collect(),
        }
    }

    pub(crate) fn action(&self, class: ActionClass) -> Option<&EntityUid> {
        self.actions.get(class_index(class))
    }

    pub(crate) fn principal(&self, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(self.agent.clone(), EntityId::new(id))
    }

    /// The resource UID `Firma::Resource::"<host><path>"`.
    pub(crate) fn resource_uid(&self, host: &str, path: &str) -> EntityUid {
        let mut id = String::with_capacity(host.len() + path.len());
        id.push_str(host);
        id.push_str(path);
        EntityUid::from_type_name_and_id(self.resource.clone(), EntityId::new(&id))
    }

    /// The resource entity `Firma::Resource::"<host><path>"` with its attributes.
    pub(crate) fn resource(
        &self,
        host: &str,
        path: &str,
        provider: Option<&str>,
    ) -> Result<(EntityUid, Entity), String> {
        let uid = self.resource_uid(host, path);
        let mut attrs = HashMap::with_capacity(3);
        attrs.insert(
            "host".to_owned(),
            RestrictedExpression::new_string(host.to_owned()),
        );
        attrs.insert(
            "path".to_owned(),
            RestrictedExpression::new_string(path.to_owned()),
        );
        if let Some(p) = provider {
            attrs.insert(
                "provider".to_owned(),
                RestrictedExpression::new_string(p.to_owned()),
            );
        }
        let entity = Entity::new(uid.clone(), attrs, HashSet::new())
            .map_err(|e| source::one_line(&e.to_string()))?;
        Ok((uid, entity))
    }
}

/// Position of `class` in [`ActionClass::ALL`] (the enum is declared in that order).
pub(crate) fn class_index(class: ActionClass) -> usize {
    class as usize
}

fn type_name(s: &str) -> EntityTypeName {
    // The argument is one of the constants above, which are valid Cedar names.
    EntityTypeName::from_str(s).expect("firma entity type names are valid cedar names")
}

/// Parse `custom` (or the built-in schema) and check that firma's requests fit it.
pub(crate) fn compile(custom: Option<&PolicySource<'_>>) -> Result<CompiledSchema, BundleError> {
    let (name, text) = match custom {
        Some(s) => (s.name, s.text),
        None => (BUILTIN_SCHEMA_NAME, BUILTIN_SCHEMA),
    };
    let schema = parse(name, text).map_err(BundleError::Schema)?;
    let names = Names::new();
    check_compatible(&schema, &names).map_err(|(action, message)| {
        BundleError::IncompatibleSchema {
            file: name.to_owned(),
            action,
            message,
        }
    })?;
    let action_entities = if schema.action_groups().next().is_some() {
        let entities = schema
            .action_entities()
            .map_err(|e| BundleError::IncompatibleSchema {
                file: name.to_owned(),
                action: "*".to_owned(),
                message: source::one_line(&e.to_string()),
            })?;
        Some(entities)
    } else {
        None
    };
    Ok(CompiledSchema {
        schema,
        text: text.to_owned(),
        names,
        action_entities,
    })
}

/// Parse a schema in Cedar syntax; errors name `name` with line:col.
pub(crate) fn parse(name: &str, text: &str) -> Result<Schema, Vec<PolicyDiagnostic>> {
    Schema::from_cedarschema_str(text)
        .map(|(schema, _warnings)| schema)
        .map_err(|e| source::collect(&e, name, text))
}

/// Build, with schema validation, the request and entities firma would send for
/// every registry action; the first rejection is `(action, reason)`.
fn check_compatible(schema: &Schema, names: &Names) -> Result<(), (String, String)> {
    let context = PolicyContext::default();
    for class in ActionClass::ALL {
        let fail = |m: String| (class.as_str().to_owned(), source::one_line(&m));
        let action = names
            .action(*class)
            .cloned()
            .ok_or_else(|| fail(String::new()))?;
        let (resource, entity) = names
            .resource("example.com", "/", Some("github"))
            .map_err(fail)?;
        Entities::from_entities([entity], Some(schema)).map_err(|e| fail(e.to_string()))?;
        let pairs = context.to_pairs(AttrMask::ALL);
        let request = |pairs: Vec<(String, RestrictedExpression)>| {
            let ctx = Context::from_pairs(pairs).map_err(|e| e.to_string())?;
            Request::new(
                names.principal(ANONYMOUS),
                action.clone(),
                resource.clone(),
                ctx,
                Some(schema),
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        if let Err(message) = request(pairs.clone()) {
            // Name the attribute when dropping a single one makes the context fit.
            for i in 0..pairs.len() {
                let mut fewer = pairs.clone();
                let (key, _) = fewer.remove(i);
                if request(fewer).is_ok() {
                    return Err(fail(format!(
                        "context attribute `{key}` is not declared with firma's type in `EnforcementContext`"
                    )));
                }
            }
            return Err(fail(message));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    // ACL-1, ACL-2: the schema declares exactly the 45 registry classes, both directions.
    #[test]
    fn schema_actions_equal_registry() {
        let schema = parse(BUILTIN_SCHEMA_NAME, BUILTIN_SCHEMA).unwrap();
        let declared: BTreeSet<String> = schema
            .actions()
            .map(|uid| {
                assert_eq!(uid.type_name().to_string(), ACTION_TYPE);
                uid.id().unescaped().to_owned()
            })
            .collect();
        let registry: BTreeSet<String> = ActionClass::ALL
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        assert_eq!(declared.len(), 45);
        assert_eq!(declared, registry);
    }

    #[test]
    fn class_index_is_registry_position() {
        for (i, c) in ActionClass::ALL.iter().enumerate() {
            assert_eq!(class_index(*c), i);
        }
    }

    // CED-3: the built-in schema accepts firma's requests for every action.
    #[test]
    fn builtin_schema_is_compatible() {
        let s = compile(None).unwrap();
        assert_eq!(s.text, BUILTIN_SCHEMA);
        assert!(s.action_entities.is_none());
    }

    // CED-3: the demo copy is byte-identical to the built-in schema.
    #[test]
    fn demo_schema_is_identical() {
        let demo = include_str!("../../../examples/demo/policies/schema.cedarschema");
        assert_eq!(demo, BUILTIN_SCHEMA);
    }

    // CED-5: the context table mirrors the schema's EnforcementContext.
    #[test]
    fn context_table_matches_schema() {
        use super::super::context::{AttrType, CONTEXT_ATTRIBUTES};
        let schema = parse(BUILTIN_SCHEMA_NAME, BUILTIN_SCHEMA).unwrap();
        let names = Names::new();
        let action = names.action(ActionClass::CodeRead).unwrap().clone();
        let (resource, _) = names.resource("h", "/", None).unwrap();
        let build = |pairs: Vec<(String, RestrictedExpression)>| {
            Request::new(
                names.principal("a"),
                action.clone(),
                resource.clone(),
                Context::from_pairs(pairs).unwrap(),
                Some(&schema),
            )
            .is_ok()
        };
        let value = |ty: AttrType| match ty {
            AttrType::String => RestrictedExpression::new_string("x".into()),
            AttrType::Long => RestrictedExpression::new_long(1),
            AttrType::StringSet => RestrictedExpression::new_set([]),
        };
        let all: Vec<_> = CONTEXT_ATTRIBUTES
            .iter()
            .map(|(k, t, _)| (k.to_string(), value(*t)))
            .collect();
        assert!(build(all.clone()));
        for (i, (k, _, required)) in CONTEXT_ATTRIBUTES.iter().enumerate() {
            let mut without = all.clone();
            without.remove(i);
            assert_eq!(build(without), !required, "attribute {k}");
        }
        let mut extra = all.clone();
        extra.push(("budget_remaining".into(), RestrictedExpression::new_long(1)));
        assert!(!build(extra));
        let mut wrong = all;
        wrong[3].1 = RestrictedExpression::new_string("90".into());
        assert!(!build(wrong));
    }

    // CED-10: a custom schema that parses but misses firma's shape is rejected.
    #[test]
    fn incompatible_custom_schema_is_rejected() {
        let text = "namespace Firma { entity Agent; entity Resource; \
                    action \"code.read\" appliesTo { principal: [Agent], resource: [Resource] }; }";
        let src = PolicySource {
            name: "schema.cedarschema",
            text,
        };
        let Err(BundleError::IncompatibleSchema { file, .. }) = compile(Some(&src)) else {
            panic!("expected an incompatible-schema error");
        };
        assert_eq!(file, "schema.cedarschema");
    }

    // CED-10: schema parse errors name the file with line:col.
    #[test]
    fn schema_parse_error_is_positioned() {
        let src = PolicySource {
            name: "s.cedarschema",
            text: "namespace Firma {\n  entity Agent\n}",
        };
        let Err(BundleError::Schema(d)) = compile(Some(&src)) else {
            panic!("expected a schema error");
        };
        assert_eq!(d[0].file, "s.cedarschema");
        assert_eq!(d[0].line, 3);
    }
}
