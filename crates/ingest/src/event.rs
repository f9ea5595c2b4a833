//! Turning a `PublishEventRequest` into the `EventMessage` that goes to the broker.

use chrono::{DateTime, Utc};
use hookline_common::event_type::EventType;
use hookline_common::messages::{EventMessage, idempotent_event_id};
use hookline_common::organisation::OrganisationId;
use hookline_proto::v1::PublishEventRequest;
use serde_json::Value;
use uuid::Uuid;

use crate::error::IngestError;
use hookline_common::catalog::{self, Catalog, CatalogError};
use hookline_common::json_struct;

/// The payload version of events published through `PublishEvent`.
const EVENT_VERSION: u32 = 1;
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
    if request.idempotency_key.chars().count() > MAX_IDEMPOTENCY_KEY {
        return Err(IngestError::invalid(
            "idempotency_key",
            format!("must be at most {MAX_IDEMPOTENCY_KEY} characters"),
        ));
    }
    let raw = request
        .data
        .ok_or_else(|| IngestError::invalid("data", "must be an object"))?;
    let mut object = json_struct::to_json(raw).map_err(|e| IngestError::invalid("data", e.0))?;
    catalog::stamp_object_type(&event_type, &mut object)
        .map_err(|why| IngestError::invalid("data.objectType", why))?;
    let size = serde_json::to_vec(&object)
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    if size > max_data_bytes {
        return Err(IngestError::invalid(
            "data",
            format!("is {size} bytes serialised; the limit is {max_data_bytes}"),
        ));
    }
    let object = Value::Object(object);
    catalog
        .validate(event_type.as_str(), EVENT_VERSION, &object)
        .map_err(|e| match e {
            CatalogError::Invalid { .. } => IngestError::invalid("data", e.to_string()),
            _ => IngestError::invalid("event_type", e.to_string()),
        })?;
    let Value::Object(object) = object else {
        unreachable!("built as an object above")
    };
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
        version: EVENT_VERSION,
        data: object,
        webhook_id: None,
    })
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
