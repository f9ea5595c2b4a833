//! The JSON body every webhook receives (the seed envelope), built from an event for one webhook.

use chrono::SecondsFormat;
use serde::Serialize;
use uuid::Uuid;

use crate::messages::EventMessage;

/// The webhook framework version (seed 000's "Versions"): the envelope's shape and the headers. A change
/// that breaks receivers would make a version 2.
pub const FRAMEWORK_VERSION: u32 = 1;

/// The delivered body, in the seed's camelCase shape.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<'a> {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub organisation_id: &'a str,
    pub event_type: &'a str,
    /// RFC 3339 in UTC with a `Z`.
    pub date_time: String,
    pub data: EnvelopeData<'a>,
    pub version: u32,
}

/// `data`: holds the resource snapshot under `object`.
#[derive(Debug, Serialize)]
pub struct EnvelopeData<'a> {
    pub object: &'a serde_json::Map<String, serde_json::Value>,
}

impl<'a> Envelope<'a> {
    pub fn new(event: &'a EventMessage, webhook_id: Uuid) -> Self {
        Self {
            id: event.id,
            webhook_id,
            organisation_id: &event.organisation_id,
            event_type: &event.event_type,
            date_time: event
                .occurred_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            data: EnvelopeData {
                object: &event.data,
            },
            version: event.version,
        }
    }

    /// The exact bytes to sign and send.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope of JSON values always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn serialises_in_the_seed_shape() {
        let event = EventMessage {
            id: Uuid::nil(),
            organisation_id: "org_1".into(),
            event_type: "job.completed".into(),
            occurred_at: chrono::Utc.with_ymd_and_hms(2024, 10, 5, 0, 0, 0).unwrap(),
            version: 1,
            webhook_id: None,
            versions: Default::default(),
            data: serde_json::json!({"objectType": "job"})
                .as_object()
                .unwrap()
                .clone(),
        };
        let body: serde_json::Value =
            serde_json::from_slice(&Envelope::new(&event, Uuid::max()).to_bytes()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "id": "00000000-0000-0000-0000-000000000000",
                "webhookId": "ffffffff-ffff-ffff-ffff-ffffffffffff",
                "organisationId": "org_1",
                "eventType": "job.completed",
                "dateTime": "2024-10-05T00:00:00.000Z",
                "data": {"object": {"objectType": "job"}},
                "version": 1
            })
        );
    }
}
