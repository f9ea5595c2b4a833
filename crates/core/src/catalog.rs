//! The event catalog: every event type producers may publish and webhooks may subscribe to, each with
//! versions that carry a JSON Schema for `data.object` and an example payload.
//!
//! The built-in types (every event of the seed documents) ship inside the binaries, from
//! `catalog/event_types.json`; a super_admin registers more through the registry, which stores them in
//! PostgreSQL and publishes them to the catalog stream that ingest reads, so ingest never needs the
//! database.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event_type::EventType;

/// The key of `data.object` that names the resource.
pub const OBJECT_TYPE: &str = "objectType";

/// One event type and its versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventTypeDef {
    pub name: String,
    pub description: String,
    /// Oldest first.
    pub versions: Vec<VersionDef>,
}

/// One version of an event type's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionDef {
    pub version: u32,
    /// A JSON Schema that `data.object` (with its `objectType`) must satisfy.
    pub schema: Value,
    /// An example `data.object`, used by test events.
    pub example: Map<String, Value>,
}

impl EventTypeDef {
    pub fn version(&self, version: u32) -> Option<&VersionDef> {
        self.versions.iter().find(|v| v.version == version)
    }

    pub fn latest(&self) -> Option<&VersionDef> {
        self.versions.iter().max_by_key(|v| v.version)
    }
}

/// The registered (not built-in) types, as the registry publishes them to the catalog stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogSnapshot {
    pub registered: Vec<EventTypeDef>,
}

static BUILT_IN: LazyLock<Vec<EventTypeDef>> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../catalog/event_types.json"))
        .expect("the built-in catalog is valid JSON of the catalog's shape")
});

/// The event types every Hookline knows, oldest version first.
pub fn built_in() -> &'static [EventTypeDef] {
    &BUILT_IN
}

pub fn built_in_type(name: &str) -> Option<&'static EventTypeDef> {
    BUILT_IN.iter().find(|t| t.name == name)
}

/// Why an event does not fit the catalog.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    #[error("`{0}` is not in the event catalog (see ListEventTypes)")]
    UnknownType(String),
    #[error("`{name}` has no version {version}")]
    UnknownVersion { name: String, version: u32 },
    /// The first violation, at a JSON pointer into `data.object`.
    #[error("`{pointer}`: {message}")]
    Invalid { pointer: String, message: String },
}

/// A compiled JSON Schema.
pub type Validator = Arc<jsonschema::Validator>;

/// Compiles `schema`, or says why it is not a usable JSON Schema.
pub fn compile(schema: &Value) -> Result<Validator, String> {
    jsonschema::validator_for(schema)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// Checks `object` against a compiled schema, naming the first violation by its JSON pointer.
pub fn check(validator: &jsonschema::Validator, object: &Value) -> Result<(), CatalogError> {
    validator
        .validate(object)
        .map_err(|e| CatalogError::Invalid {
            pointer: match e.instance_path().as_str() {
                "" => "/".to_owned(),
                path => path.to_owned(),
            },
            message: e.to_string(),
        })
}

/// Sets `objectType` to the event type's resource, or says why the one given does not match it.
pub fn stamp_object_type(
    event_type: &EventType,
    object: &mut Map<String, Value>,
) -> Result<(), String> {
    match object.get(OBJECT_TYPE) {
        None => {
            object.insert(
                OBJECT_TYPE.to_owned(),
                Value::String(event_type.resource().to_owned()),
            );
            Ok(())
        }
        Some(Value::String(t)) if t == event_type.resource() => Ok(()),
        Some(other) => Err(format!(
            "is {other} but event type {event_type} carries `{}`",
            event_type.resource()
        )),
    }
}

/// The whole catalog, schemas compiled, as ingest validates against it.
#[derive(Clone)]
pub struct Catalog {
    validators: BTreeMap<(String, u32), Validator>,
}

impl Catalog {
    /// The built-in types and `registered` ones (a registered version of a built-in type adds to it).
    /// A registered schema that does not compile is left out, with a warning: the registry compiled it
    /// before storing it, so this only happens with a corrupted snapshot.
    pub fn new(registered: &[EventTypeDef]) -> Self {
        let mut validators = BTreeMap::new();
        for def in built_in().iter().chain(registered) {
            for v in &def.versions {
                match compile(&v.schema) {
                    Ok(validator) => {
                        validators.insert((def.name.clone(), v.version), validator);
                    }
                    Err(error) => {
                        tracing::warn!(event_type = %def.name, version = v.version, %error, "schema left out")
                    }
                }
            }
        }
        Self { validators }
    }

    /// Whether `name` is in the catalog, in any version.
    pub fn knows(&self, name: &str) -> bool {
        self.validators
            .range((name.to_owned(), 0)..)
            .next()
            .is_some_and(|((n, _), _)| n == name)
    }

    /// Checks that `name` is in the catalog with `version`, and that `object` satisfies its schema.
    pub fn validate(&self, name: &str, version: u32, object: &Value) -> Result<(), CatalogError> {
        match self.validators.get(&(name.to_owned(), version)) {
            Some(validator) => check(validator, object),
            None if self.validators.keys().any(|(n, _)| n == name) => {
                Err(CatalogError::UnknownVersion {
                    name: name.to_owned(),
                    version,
                })
            }
            None => Err(CatalogError::UnknownType(name.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_built_in_type_is_well_formed_and_its_examples_satisfy_its_schemas() {
        assert!(built_in().len() >= 50);
        for def in built_in() {
            let event_type = EventType::parse(&def.name).expect("a valid name");
            assert!(!def.description.is_empty(), "{}", def.name);
            for v in &def.versions {
                let validator = compile(&v.schema).unwrap_or_else(|e| panic!("{}: {e}", def.name));
                let mut example = v.example.clone();
                stamp_object_type(&event_type, &mut example).expect("the example's objectType");
                check(&validator, &Value::Object(example)).expect("the example is valid");
            }
        }
        for seeded in [
            "job.completed",
            "signable_document.signed",
            "jobs_request.updated",
        ] {
            assert!(built_in_type(seeded).is_some(), "{seeded}");
        }
    }

    #[test]
    fn unknown_types_and_versions_and_bad_objects_are_told_apart() {
        let catalog = Catalog::new(&[]);
        let ok = json!({"objectType": "job", "jobId": "J-1"});
        assert_eq!(catalog.validate("job.completed", 1, &ok), Ok(()));
        assert!(matches!(
            catalog.validate("job.exploded", 1, &ok),
            Err(CatalogError::UnknownType(_))
        ));
        assert!(matches!(
            catalog.validate("job.completed", 9, &ok),
            Err(CatalogError::UnknownVersion { .. })
        ));
        let bad = json!({"objectType": "job", "jobId": 42});
        match catalog.validate("job.completed", 1, &bad) {
            Err(CatalogError::Invalid { pointer, .. }) => assert_eq!(pointer, "/jobId"),
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn registered_types_join_the_built_in_ones() {
        let registered = EventTypeDef {
            name: "invoice.paid".into(),
            description: "An invoice was paid.".into(),
            versions: vec![VersionDef {
                version: 1,
                schema: json!({"type": "object", "required": ["amount"]}),
                example: json!({"amount": 1}).as_object().unwrap().clone(),
            }],
        };
        let catalog = Catalog::new(&[registered]);
        assert!(
            catalog
                .validate("invoice.paid", 1, &json!({"amount": 3}))
                .is_ok()
        );
        assert!(catalog.validate("invoice.paid", 1, &json!({})).is_err());
        assert!(
            catalog
                .validate("job.completed", 1, &json!({"objectType": "job"}))
                .is_ok()
        );
    }
}
