//! Operational events: what Hookline itself tells an organisation about its own webhooks. Each is an
//! ordinary event of that organisation, in the catalog with a schema and an example, so a webhook can
//! subscribe to it like to any other; producers cannot publish them (ingest refuses these types).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::messages::{EventMessage, PING_EVENT_TYPE};

/// A webhook was switched off by Hookline (its endpoint answered 410 Gone, or every delivery failed for
/// the configured period).
pub const WEBHOOK_DISABLED: &str = "webhook.disabled";
/// An endpoint's circuit breaker opened: its deliveries wait for the cool-off.
pub const CIRCUIT_OPENED: &str = "webhook.circuit_opened";
/// An endpoint's circuit breaker closed after a successful probe.
pub const CIRCUIT_CLOSED: &str = "webhook.circuit_closed";
/// A delivery failed its last attempt and went to the dead-letter queue.
pub const DEAD_LETTERED: &str = "delivery.dead_lettered";

/// Every operational event type.
pub const TYPES: [&str; 4] = [
    WEBHOOK_DISABLED,
    CIRCUIT_OPENED,
    CIRCUIT_CLOSED,
    DEAD_LETTERED,
];

/// Whether only Hookline may publish events of `event_type`.
pub fn is_operational(event_type: &str) -> bool {
    TYPES.contains(&event_type)
}

/// A webhook, as the webhook events name it.
pub struct WebhookRef<'a> {
    pub organisation_id: &'a str,
    pub id: Uuid,
    pub url: &'a str,
}

/// `webhook.ping`, addressed to the webhook alone whatever it subscribes to: sent each time it becomes
/// enabled, so its owner sees the endpoint works.
pub fn ping(webhook: &WebhookRef<'_>, name: &str) -> EventMessage {
    let data = json!({
        "objectType": "webhook",
        "webhookId": webhook.id,
        "name": name,
        "url": webhook.url,
    });
    EventMessage {
        webhook_id: Some(webhook.id),
        ..event(webhook.organisation_id, PING_EVENT_TYPE, data)
    }
}

/// `webhook.disabled`, with why.
pub fn webhook_disabled(webhook: &WebhookRef<'_>, reason: &str) -> EventMessage {
    let now = Utc::now();
    about(
        webhook,
        WEBHOOK_DISABLED,
        json!({
            "objectType": "webhook",
            "webhookId": webhook.id,
            "url": webhook.url,
            "reason": reason,
            "disabledAt": now,
        }),
    )
}

/// `webhook.circuit_opened`, with when the next probe may go.
pub fn circuit_opened(webhook: &WebhookRef<'_>, probe_at: DateTime<Utc>) -> EventMessage {
    about(
        webhook,
        CIRCUIT_OPENED,
        json!({
            "objectType": "webhook",
            "webhookId": webhook.id,
            "url": webhook.url,
            "openedAt": Utc::now(),
            "probeAt": probe_at,
        }),
    )
}

/// `webhook.circuit_closed`.
pub fn circuit_closed(webhook: &WebhookRef<'_>) -> EventMessage {
    about(
        webhook,
        CIRCUIT_CLOSED,
        json!({
            "objectType": "webhook",
            "webhookId": webhook.id,
            "url": webhook.url,
            "closedAt": Utc::now(),
        }),
    )
}

/// What a dead-lettered delivery was and how it last failed.
pub struct DeadLetter<'a> {
    pub delivery_id: Uuid,
    pub event: &'a EventMessage,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: &'a str,
}

/// `delivery.dead_lettered`.
pub fn dead_lettered(webhook: &WebhookRef<'_>, dead: &DeadLetter<'_>) -> EventMessage {
    about(
        webhook,
        DEAD_LETTERED,
        json!({
            "objectType": "delivery",
            "deliveryId": dead.delivery_id,
            "webhookId": webhook.id,
            "url": webhook.url,
            "eventId": dead.event.id,
            "eventType": dead.event.event_type,
            "attempts": dead.attempts,
            "lastStatus": dead.last_status,
            "lastError": dead.last_error,
        }),
    )
}

/// An operational event about `webhook`, its organisation's: `data` with `organisationId` added, so the
/// operations endpoint's copy says whose it is.
fn about(webhook: &WebhookRef<'_>, event_type: &str, data: Value) -> EventMessage {
    let mut event = event(webhook.organisation_id, event_type, data);
    event.data.insert(
        "organisationId".into(),
        Value::from(webhook.organisation_id),
    );
    event
}

/// The organisation under which the operations endpoint (`operations.webhook_url`) is registered, and
/// whose events carry every organisation's operational events to it. Reserved: no tenant may have it.
pub const OPERATIONS_ORGANISATION: &str = "hookline-operations";

/// The events that tell of `event` (an operational event of some organisation): the event itself and,
/// when the platform configured an operations endpoint, a copy as an event of
/// [`OPERATIONS_ORGANISATION`]. Nothing is told of the operations endpoint's own troubles: they would
/// be sent to the endpoint that has them, and its failures would feed on themselves.
pub fn addressed(event: EventMessage, operations_endpoint: bool) -> Vec<EventMessage> {
    if event.organisation_id == OPERATIONS_ORGANISATION {
        return Vec::new();
    }
    let copy = operations_endpoint.then(|| EventMessage {
        id: Uuid::now_v7(),
        organisation_id: OPERATIONS_ORGANISATION.to_owned(),
        ..event.clone()
    });
    std::iter::once(event).chain(copy).collect()
}

fn event(organisation_id: &str, event_type: &str, data: Value) -> EventMessage {
    EventMessage {
        id: Uuid::now_v7(),
        organisation_id: organisation_id.to_owned(),
        event_type: event_type.to_owned(),
        occurred_at: Utc::now(),
        version: 1,
        data: data.as_object().cloned().unwrap_or_else(Map::new),
        webhook_id: None,
        versions: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    /// Each operational event satisfies its own catalog schema, and the catalog's example does too.
    #[test]
    fn every_operational_event_is_in_the_catalog_and_matches_its_schema() {
        let webhook = WebhookRef {
            organisation_id: "org_a",
            id: Uuid::now_v7(),
            url: "https://example.com/hooks",
        };
        let source = event("org_a", "job.completed", json!({"objectType": "job"}));
        let dead = DeadLetter {
            delivery_id: Uuid::now_v7(),
            event: &source,
            attempts: 3,
            last_status: Some(500),
            last_error: "HTTP 500",
        };
        let built = [
            webhook_disabled(&webhook, "the endpoint answered 410 Gone"),
            circuit_opened(&webhook, Utc::now()),
            circuit_closed(&webhook),
            dead_lettered(&webhook, &dead),
        ];
        for event in built {
            let def = catalog::built_in_type(&event.event_type)
                .unwrap_or_else(|| panic!("{} is in the catalog", event.event_type));
            let version = def.latest().expect("a version");
            let schema = catalog::compile(&version.schema).expect("a schema");
            assert!(
                schema.is_valid(&Value::Object(event.data.clone())),
                "{event:?}"
            );
            assert!(schema.is_valid(&Value::Object(version.example.clone())));
            assert_eq!(event.data["organisationId"], "org_a");
        }
    }

    #[test]
    fn the_operations_endpoint_hears_of_others_but_not_of_itself() {
        let of = |organisation_id| WebhookRef {
            organisation_id,
            id: Uuid::now_v7(),
            url: "https://example.com/hooks",
        };
        let event = circuit_closed(&of("org_a"));
        assert_eq!(addressed(event.clone(), false), vec![event.clone()]);
        let both = addressed(event.clone(), true);
        assert_eq!(both.len(), 2);
        assert_eq!(both[1].organisation_id, OPERATIONS_ORGANISATION);
        assert_eq!(both[1].data, event.data, "the same payload, naming org_a");
        assert_ne!(both[1].id, event.id, "an event of its own");
        assert!(addressed(circuit_closed(&of(OPERATIONS_ORGANISATION)), true).is_empty());
    }
}
