//! The event catalog as the registry serves it: the built-in types plus those registered in PostgreSQL,
//! and the snapshot of registered types that ingest reads from the catalog stream.

use std::collections::BTreeMap;
use std::time::Duration;

use hookline_core::catalog::{self, CatalogSnapshot, EventTypeDef, VersionDef};
use hookline_core::event_type::EventType;
use hookline_proto::v1;
use hookline_runtime::publisher::EventPublisher;
use serde_json::{Map, Value};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::error::RegistryError;
use crate::input::WebhookFields;

/// How often start-up retries announcing the catalog while the broker or database is away.
const ANNOUNCE_RETRY: Duration = Duration::from_secs(2);

/// Every registered type, versions oldest first, by name.
pub async fn registered(pool: &PgPool) -> Result<Vec<EventTypeDef>, sqlx::Error> {
    let rows: Vec<(String, i32, String, Value, Value)> = sqlx::query_as(
        "SELECT name, version, description, schema, example FROM event_type_versions
         ORDER BY name, version",
    )
    .fetch_all(pool)
    .await?;
    let mut types: BTreeMap<String, EventTypeDef> = BTreeMap::new();
    for (name, version, description, schema, example) in rows {
        let def = types.entry(name.clone()).or_insert_with(|| EventTypeDef {
            name,
            description: String::new(),
            versions: Vec::new(),
        });
        // The newest version's description describes the type.
        def.description = description;
        def.versions.push(VersionDef {
            version: version as u32,
            schema,
            example: match example {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        });
    }
    Ok(types.into_values().collect())
}

/// The whole catalog by name, each type marked built-in or not. Registered versions of a built-in type
/// join its versions; its description stays the built-in one.
pub async fn all(pool: &PgPool) -> Result<Vec<(EventTypeDef, bool)>, sqlx::Error> {
    let mut types: BTreeMap<String, (EventTypeDef, bool)> = catalog::built_in()
        .iter()
        .map(|def| (def.name.clone(), (def.clone(), true)))
        .collect();
    for def in registered(pool).await? {
        match types.get_mut(&def.name) {
            Some((existing, _)) => {
                existing.versions.extend(def.versions);
                existing.versions.sort_by_key(|v| v.version);
            }
            None => {
                types.insert(def.name.clone(), (def, false));
            }
        }
    }
    Ok(types.into_values().collect())
}

/// The versions the catalog holds of each of `types`; unknown types are absent.
pub async fn versions(
    pool: &PgPool,
    types: &[EventType],
) -> Result<BTreeMap<String, Vec<u32>>, sqlx::Error> {
    let names: Vec<&str> = types.iter().map(EventType::as_str).collect();
    let registered: Vec<(String, i32)> = sqlx::query_as(
        "SELECT name, version FROM event_type_versions WHERE name = ANY($1) ORDER BY version",
    )
    .bind(&names)
    .fetch_all(pool)
    .await?;
    let mut versions: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for name in &names {
        if let Some(def) = catalog::built_in_type(name) {
            versions.insert(
                name.to_string(),
                def.versions.iter().map(|v| v.version).collect(),
            );
        }
    }
    for (name, version) in registered {
        versions.entry(name).or_default().push(version as u32);
    }
    for list in versions.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
    Ok(versions)
}

/// Checks that every subscribed type is in the catalog and settles each one's pin: the one requested, or
/// the one it had (`current`), or the latest version. A pin to a version the catalog lacks is refused.
pub async fn resolve_pins(
    pool: &PgPool,
    fields: &mut WebhookFields,
    current: &BTreeMap<String, u32>,
) -> Result<(), RegistryError> {
    let known = versions(pool, &fields.event_types).await?;
    let mut violations = Vec::new();
    let mut pins = BTreeMap::new();
    for t in &fields.event_types {
        let Some(available) = known.get(t.as_str()) else {
            violations.push((
                "event_types",
                format!("`{t}` is not in the event catalog (see ListEventTypes)"),
            ));
            continue;
        };
        let pin = fields
            .pins
            .get(t.as_str())
            .or_else(|| current.get(t.as_str()))
            .copied()
            .or_else(|| available.last().copied())
            .unwrap_or(1);
        if !available.contains(&pin) {
            violations.push((
                "event_versions",
                format!("`{t}` has no version {pin} (it has {available:?})"),
            ));
        }
        pins.insert(t.to_string(), pin);
    }
    if !violations.is_empty() {
        return Err(RegistryError::Invalid(violations));
    }
    fields.pins = pins;
    Ok(())
}

/// A version to register, already checked.
pub struct Registration {
    pub name: EventType,
    pub description: String,
    pub version: VersionDef,
    pub registered_by: String,
}

/// Stores `registration`, replacing the same version if it was registered before.
pub async fn register(pool: &PgPool, registration: &Registration) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO event_type_versions (name, version, description, schema, example, registered_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (name, version) DO UPDATE SET description = EXCLUDED.description,
             schema = EXCLUDED.schema, example = EXCLUDED.example,
             registered_by = EXCLUDED.registered_by, registered_at = now()",
    )
    .bind(registration.name.as_str())
    .bind(registration.version.version as i32)
    .bind(&registration.description)
    .bind(&registration.version.schema)
    .bind(Value::Object(registration.version.example.clone()))
    .bind(&registration.registered_by)
    .execute(pool)
    .await
    .map(drop)
}

/// Why the registered types could not be announced.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    #[error("reading the registered types: {0}")]
    Database(#[from] sqlx::Error),
    #[error("publishing the catalog snapshot: {0}")]
    Broker(#[from] hookline_runtime::amqp::PublishError),
}

/// Publishes every registered type to the catalog stream, for ingest.
pub async fn announce(pool: &PgPool, events: &EventPublisher) -> Result<(), AnnounceError> {
    let snapshot = CatalogSnapshot {
        registered: registered(pool).await?,
    };
    events.publish_catalog(&snapshot).await?;
    Ok(())
}

/// Announces the catalog once at start-up, retrying until it is out or `shutdown` fires, so a fresh
/// broker (or a new prefix) learns the registered types without waiting for the next registration.
pub async fn announce_at_start(pool: PgPool, events: EventPublisher, shutdown: CancellationToken) {
    loop {
        match announce(&pool, &events).await {
            Ok(()) => return,
            Err(error) => tracing::debug!(%error, "catalog not announced yet; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(ANNOUNCE_RETRY) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// The wire form of a catalog entry.
pub fn to_proto(def: EventTypeDef, built_in: bool) -> v1::EventType {
    let object = |v: Value| match v {
        Value::Object(map) => hookline_core::json_struct::from_json(map),
        _ => prost_types::Struct::default(),
    };
    v1::EventType {
        name: def.name,
        description: def.description,
        versions: def
            .versions
            .into_iter()
            .map(|v| v1::EventTypeVersion {
                version: v.version,
                schema: Some(object(v.schema)),
                example: Some(hookline_core::json_struct::from_json(v.example)),
            })
            .collect(),
        built_in,
    }
}

/// The longest type description.
const MAX_DESCRIPTION_CHARS: usize = 1000;

/// Checks a `RegisterEventType` request, reporting every bad field at once.
pub fn parse_registration(
    r: v1::RegisterEventTypeRequest,
    registered_by: &str,
) -> Result<Registration, crate::error::RegistryError> {
    use crate::error::RegistryError;
    use hookline_core::json_struct::to_json;
    let mut violations: Vec<(&'static str, String)> = Vec::new();
    let name = EventType::parse(r.name.trim())
        .map_err(|e| violations.push(("name", e.to_string())))
        .ok();
    let description = r.description.trim().to_owned();
    if !(1..=MAX_DESCRIPTION_CHARS).contains(&description.chars().count()) {
        violations.push((
            "description",
            format!("must be 1-{MAX_DESCRIPTION_CHARS} characters"),
        ));
    } else if let Err(why) = hookline_core::storable::text(&description) {
        violations.push(("description", why));
    }
    if r.version == 0 || i32::try_from(r.version).is_err() {
        violations.push(("version", format!("must be between 1 and {}", i32::MAX)));
    }
    let schema = match r.schema.map(to_json) {
        None => Err("is required".to_owned()),
        Some(Err(e)) => Err(e.0),
        Some(Ok(map)) => Ok(Value::Object(map)),
    };
    let validator = schema
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|s| catalog::compile(s).map_err(|e| format!("is not a JSON Schema: {e}")))
        .map_err(|why| violations.push(("schema", why)))
        .ok();
    let mut example = match r.example.map(to_json) {
        None => Map::new(),
        Some(Err(e)) => {
            violations.push(("example", e.0));
            Map::new()
        }
        Some(Ok(map)) => map,
    };
    if let (Some(name), Some(validator)) = (&name, &validator) {
        let checked = catalog::stamp_object_type(name, &mut example).and_then(|()| {
            catalog::check(validator, &Value::Object(example.clone())).map_err(|e| e.to_string())
        });
        if let Err(why) = checked {
            violations.push(("example", format!("does not satisfy the schema: {why}")));
        }
    }
    match (name, schema) {
        (Some(name), Ok(schema)) if violations.is_empty() => Ok(Registration {
            name,
            description,
            version: VersionDef {
                version: r.version,
                schema,
                example,
            },
            registered_by: registered_by.to_owned(),
        }),
        _ => Err(RegistryError::Invalid(violations)),
    }
}
