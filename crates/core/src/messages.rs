//! The JSON messages that travel through RabbitMQ between the services.
//!
//! `EventMessage` goes from ingest to the fan-out stage; `DeliveryTask` from fan-out to the attempt stage,
//! through the retry queues and, after the last failure, into the dead-letter queue.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A published event, exactly as ingest accepted it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventMessage {
    pub id: Uuid,
    pub organisation_id: String,
    pub event_type: String,
    /// When the event happened, as given by the producer or stamped by ingest.
    pub occurred_at: DateTime<Utc>,
    /// The event's payload version.
    pub version: u32,
    /// The resource snapshot, delivered as `data.object`; carries `objectType`.
    pub data: Map<String, Value>,
    /// Set for events addressed to one webhook alone, whatever it subscribes to (its ping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<Uuid>,
    /// The same event in further versions beside `version`, by version (`data.object` of each).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<u32, Map<String, Value>>,
}

impl EventMessage {
    /// Every version the event was published in, oldest first.
    pub fn published_versions(&self) -> Vec<u32> {
        let mut all: Vec<u32> = self.versions.keys().copied().collect();
        all.push(self.version);
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The event as a webhook pinned to `version` receives it: that version's data alone. `None` when the
    /// event was not published in that version.
    pub fn in_version(&self, version: u32) -> Option<EventMessage> {
        let data = if version == self.version {
            self.data.clone()
        } else {
            self.versions.get(&version)?.clone()
        };
        // Field by field: `..self.clone()` would copy the data and every other version only to drop them.
        Some(EventMessage {
            id: self.id,
            organisation_id: self.organisation_id.clone(),
            event_type: self.event_type.clone(),
            occurred_at: self.occurred_at,
            version,
            data,
            webhook_id: self.webhook_id,
            versions: BTreeMap::new(),
        })
    }
}

/// The event a webhook receives when it is switched on, so its owner sees the endpoint works.
pub const PING_EVENT_TYPE: &str = "webhook.ping";

/// One delivery (an event to one webhook) waiting for its next attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeliveryTask {
    pub delivery_id: Uuid,
    pub webhook_id: Uuid,
    /// The number of the attempt this task is for, 1 for the first. Numbers keep counting across
    /// redeliveries, so every attempt in the log has its own.
    pub attempt: u32,
    /// The attempt that started this chain: 1, or the first attempt of a redelivery. The retry schedule
    /// counts from here.
    #[serde(default = "first_attempt")]
    pub chain_start: u32,
    pub event: EventMessage,
    /// The attempt is not to be made before this: set when the task is deferred, or when the endpoint
    /// asked for a pause (`Retry-After`) longer than the retry delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    /// How often this attempt has been deferred; each deferral waits at least the next step.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deferrals: u32,
    /// The slot this attempt reserved in its webhook's rate-limit schedule, when that was too far off to
    /// wait for in a worker: the task waits in the broker and is sent at the slot without reserving again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_slot: Option<RateSlot>,
}

/// A reserved slot of a rate-limit schedule, and the limit it was reserved under: a slot reserved before
/// the limit changed is given up, and the task takes a place in the new schedule instead.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct RateSlot {
    pub at: DateTime<Utc>,
    pub per_second: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn first_attempt() -> u32 {
    1
}

impl DeliveryTask {
    /// A task starting a chain of attempts at `attempt`: 1 for a new delivery, the next number for a
    /// redelivery or a replayed dead letter.
    pub fn chain(delivery_id: Uuid, webhook_id: Uuid, attempt: u32, event: EventMessage) -> Self {
        Self {
            delivery_id,
            webhook_id,
            attempt,
            chain_start: attempt,
            event,
            not_before: None,
            deferrals: 0,
            rate_slot: None,
        }
    }

    /// The task for the attempt after this one in the same chain, not before `not_before` if given.
    pub fn next(&self, not_before: Option<DateTime<Utc>>) -> Self {
        Self {
            attempt: self.attempt + 1,
            not_before,
            deferrals: 0,
            rate_slot: None,
            ..self.clone()
        }
    }

    /// Which attempt of its chain this is: 1 for the chain's first.
    pub fn attempt_in_chain(&self) -> u32 {
        self.attempt.saturating_sub(self.chain_start) + 1
    }
}

/// The namespace of deterministic ids, so a redelivered event fans out to the same delivery ids.
const DELIVERY_NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_2a51_8d44_4a3e_9b1f_7c2d_0e5a_4b13);
/// The namespace of event ids derived from idempotency keys.
const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x1d9e_7b03_52c8_4f6a_a0e4_3b8c_96d1_25f7);

/// The delivery id of `event` to `webhook`: the same however often the event is fanned out.
pub fn delivery_id(event: Uuid, webhook: Uuid) -> Uuid {
    let mut name = [0u8; 32];
    name[..16].copy_from_slice(event.as_bytes());
    name[16..].copy_from_slice(webhook.as_bytes());
    Uuid::new_v5(&DELIVERY_NAMESPACE, &name)
}

/// The event id for an idempotency key: the same key in the same organisation gives the same id.
pub fn idempotent_event_id(organisation_id: &str, key: &str) -> Uuid {
    // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
    let name = format!("{}:{organisation_id}{key}", organisation_id.len());
    Uuid::new_v5(&IDEMPOTENCY_NAMESPACE, name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_are_stable_and_distinct() {
        let (e, w1, w2) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(delivery_id(e, w1), delivery_id(e, w1));
        assert_ne!(delivery_id(e, w1), delivery_id(e, w2));
    }

    #[test]
    fn idempotency_keys_are_scoped_to_their_organisation() {
        assert_eq!(
            idempotent_event_id("org", "k"),
            idempotent_event_id("org", "k")
        );
        assert_ne!(
            idempotent_event_id("org", "k"),
            idempotent_event_id("org2", "k")
        );
        assert_ne!(
            idempotent_event_id("ab", "c"),
            idempotent_event_id("a", "bc")
        );
    }
}
