//! Turning a `PublishEventRequest` into the `EventMessage` that goes to the broker.

use chrono::{DateTime, Utc};
use hookline_core::event_type::EventType;
use hookline_core::messages::{EventMessage, idempotent_event_id};
use hookline_core::organisation::OrganisationId;
use hookline_proto::v1::PublishEventRequest;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::error::IngestError;
use hookline_core::catalog::{self, Catalog, CatalogError};
use hookline_core::json_struct;

/// The longest idempotency key.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// Validates `request` for `organisation` (already authorised) against the catalog and builds the event,
/// with its id and `objectType` set.
pub fn parse(
    request: PublishEventRequest,
    organisation: OrganisationId,
    catalog: &Catalog,
    max_data_bytes: usize,
) -> Result<EventMessage, IngestError> {
    let event_type = EventType::parse(&request.event_type)
        .map_err(|e| IngestError::invalid("event_type", e.to_string()))?;
    // A forged `webhook.disabled` would tell an organisation's subscribers something Hookline never said.
    if hookline_core::operational::is_operational(event_type.as_str()) {
        return Err(IngestError::invalid(
            "event_type",
            format!("{event_type} is published by Hookline itself, not by producers"),
        ));
    }
    if request.idempotency_key.chars().count() > MAX_IDEMPOTENCY_KEY {
        return Err(IngestError::invalid(
            "idempotency_key",
            format!("must be at most {MAX_IDEMPOTENCY_KEY} characters"),
        ));
    }
    let version = request.version.max(1);
    let data = payload(
        &event_type,
        version,
        request.data,
        "data",
        catalog,
        max_data_bytes,
    )?;
    let mut versions = BTreeMap::new();
    for extra in request.versions {
        if extra.version == 0 || extra.version == version || versions.contains_key(&extra.version) {
            return Err(IngestError::invalid(
                "versions",
                format!("version {} is given twice, or is 0", extra.version),
            ));
        }
        let object = payload(
            &event_type,
            extra.version,
            extra.data,
            "versions",
            catalog,
            max_data_bytes,
        )?;
        versions.insert(extra.version, object);
    }
    let occurred_at = match request.occurred_at {
        None => Utc::now(),
        Some(ts) => {
            DateTime::from_timestamp(ts.seconds, ts.nanos.try_into().unwrap_or(u32::MAX))
                .ok_or_else(|| IngestError::invalid("occurred_at", "is not a valid timestamp"))?
        }
    };
    let id = match request.idempotency_key.as_str() {
        "" => Uuid::now_v7(),
        key => idempotent_event_id(organisation.as_str(), key),
    };
    Ok(EventMessage {
        id,
        organisation_id: organisation.into_string(),
        event_type: event_type.to_string(),
        occurred_at,
        version,
        data,
        webhook_id: None,
        versions,
    })
}

/// One version's `data`: an object, `objectType` set, within the size limit, valid against the catalog's
/// schema of that version. `field` names it in errors.
fn payload(
    event_type: &EventType,
    version: u32,
    raw: Option<prost_types::Struct>,
    field: &'static str,
    catalog: &Catalog,
    max_data_bytes: usize,
) -> Result<Map<String, Value>, IngestError> {
    let invalid = |why: String| IngestError::invalid(field, why);
    let raw = raw.ok_or_else(|| invalid("must be an object".into()))?;
    let mut object = json_struct::to_json(raw).map_err(|e| invalid(e.0))?;
    let object_type_field = if field == "data" {
        "data.objectType"
    } else {
        field
    };
    catalog::stamp_object_type(event_type, &mut object)
        .map_err(|why| IngestError::invalid(object_type_field, why))?;
    let size = serde_json::to_vec(&object).map_or(usize::MAX, |b| b.len());
    if size > max_data_bytes {
        return Err(invalid(format!(
            "is {size} bytes serialised; the limit is {max_data_bytes}"
        )));
    }
    let object = Value::Object(object);
    catalog
        .validate(event_type.as_str(), version, &object)
        .map_err(|e| match e {
            CatalogError::Invalid { .. } => invalid(format!("version {version}: {e}")),
            _ => IngestError::invalid("event_type", e.to_string()),
        })?;
    let Value::Object(object) = object else {
        unreachable!("built as an object above")
    };
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::value::Kind;

    fn request(data: serde_json::Value) -> PublishEventRequest {
        let fields = data
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    prost_types::Value {
                        kind: Some(Kind::StringValue(v.as_str().unwrap().into())),
                    },
                )
            })
            .collect();
        PublishEventRequest {
            organisation_id: "org_1".into(),
            event_type: "job.completed".into(),
            data: Some(prost_types::Struct { fields }),
            ..Default::default()
        }
    }

    fn org() -> OrganisationId {
        OrganisationId::parse("org_1").unwrap()
    }

    fn field_of(err: IngestError) -> &'static str {
        match err {
            IngestError::Invalid { field, .. } => field,
            other => panic!("expected invalid argument, got {other:?}"),
        }
    }

    #[test]
    fn stamps_object_type_and_id() {
        let event = parse(
            request(serde_json::json!({"jobId": "j1"})),
            org(),
            &Catalog::new(&[]),
            1024,
        )
        .unwrap();
        assert_eq!(event.data["objectType"], "job");
        assert_eq!(event.id.get_version_num(), 7);
    }

    #[test]
    fn idempotency_keys_give_stable_ids() {
        let mut a = request(serde_json::json!({}));
        a.idempotency_key = "k-1".into();
        let first = parse(a.clone(), org(), &Catalog::new(&[]), 1024)
            .unwrap()
            .id;
        assert_eq!(parse(a, org(), &Catalog::new(&[]), 1024).unwrap().id, first);
    }

    #[test]
    fn names_the_bad_field() {
        let mut r = request(serde_json::json!({}));
        r.event_type = "completed".into();
        assert_eq!(
            field_of(parse(r, org(), &Catalog::new(&[]), 1024).unwrap_err()),
            "event_type"
        );
        let mut r = request(serde_json::json!({}));
        r.data = None;
        assert_eq!(
            field_of(parse(r, org(), &Catalog::new(&[]), 1024).unwrap_err()),
            "data"
        );
        let r = request(serde_json::json!({"objectType": "estimate"}));
        assert_eq!(
            field_of(parse(r, org(), &Catalog::new(&[]), 1024).unwrap_err()),
            "data.objectType"
        );
        let r = request(serde_json::json!({"blob": "x".repeat(2000)}));
        assert_eq!(
            field_of(parse(r, org(), &Catalog::new(&[]), 1024).unwrap_err()),
            "data"
        );
        let mut r = request(serde_json::json!({"objectType": "delivery"}));
        r.event_type = "delivery.dead_lettered".into();
        assert_eq!(
            field_of(parse(r, org(), &Catalog::new(&[]), 1024).unwrap_err()),
            "event_type",
            "only Hookline publishes operational events"
        );
        let mut r = request(serde_json::json!({}));
        r.event_type = "job.exploded".into();
        assert_eq!(
            field_of(parse(r, org(), &Catalog::new(&[]), 1024).unwrap_err()),
            "event_type"
        );
        let r = request(
            serde_json::json!({"updatedAt": "x", "name": "n", "status": "s", "jobId": "j"}),
        );
        parse(r, org(), &Catalog::new(&[]), 1024).expect("strings where the schema wants strings");
    }
}
