//! Publishing events to the events exchange (ingest, and the registry's pings): one confirmed channel,
//! kept connected by a supervisor task.

use std::sync::{Arc, RwLock};

use crate::amqp::{self, AMQP, PublishError};
use crate::ops::Health;
use crate::topology::Topology;
use hookline_core::catalog::CatalogSnapshot;
use hookline_core::messages::{DeliveryTask, EventMessage};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use secrecy::SecretString;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Publishes events with confirms. Cheap to clone.
#[derive(Clone)]
pub struct EventPublisher {
    channel: Arc<RwLock<Option<Channel>>>,
    topology: Topology,
    catalog_stream: String,
    stop: CancellationToken,
}

impl EventPublisher {
    /// Starts the supervisor that connects, declares the topology and reconnects with backoff whenever
    /// the connection drops. Until it is connected, publishes fail fast with `UNAVAILABLE`.
    /// `service` names the connection in RabbitMQ's management UI.
    ///
    /// It runs until [`stop`](Self::stop), not until the process's shutdown begins: calls still in flight
    /// then must be able to finish publishing and get their confirms. Closing the channel under them
    /// would answer `UNAVAILABLE` for events the broker may already hold, which a producer retries as
    /// new events.
    pub fn start(
        service: &'static str,
        url: SecretString,
        topology: Topology,
        health: Health,
    ) -> Self {
        let publisher = Self {
            channel: Arc::default(),
            topology: topology.clone(),
            catalog_stream: topology.catalog_stream(),
            stop: CancellationToken::new(),
        };
        tokio::spawn(supervise(
            service,
            publisher.channel.clone(),
            url,
            topology,
            health,
            publisher.stop.clone(),
        ));
        publisher
    }

    /// Closes the connection, for good: call it once nothing publishes any more (after the gRPC server
    /// has answered its last call).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Publishes `event` persistently and returns once the broker has confirmed it; the message continues
    /// the current trace.
    pub async fn publish(&self, event: &EventMessage) -> Result<(), PublishError> {
        let exchange = self.topology.events_exchange();
        let key = self.topology.event_routing_key(&event.organisation_id);
        self.traced(&exchange, &key, FieldTable::default(), event.id, event)
            .await
    }

    /// Publishes an operational event to its organisation and, with `operations_endpoint`, a copy to
    /// the operations endpoint's (`hookline_core::operational::addressed`). One that cannot be
    /// published is logged and dropped: the fact it tells of is already recorded where it happened.
    pub async fn announce(&self, event: EventMessage, operations_endpoint: bool) {
        for event in hookline_core::operational::addressed(event, operations_endpoint) {
            if let Err(error) = self.publish(&event).await {
                tracing::warn!(%error, event_type = %event.event_type,
                    organisation_id = %event.organisation_id, "cannot publish an operational event");
            }
        }
    }

    /// Appends the registered event types to the catalog stream, confirmed.
    pub async fn publish_catalog(&self, snapshot: &CatalogSnapshot) -> Result<(), PublishError> {
        let channel = self.channel()?;
        let id = Uuid::now_v7().to_string();
        amqp::publish_confirmed(
            &channel,
            "",
            &self.catalog_stream,
            &to_json(snapshot),
            amqp::json_properties(&id),
        )
        .await
    }

    /// Publishes a delivery task (a redelivery) straight to the attempt stage, confirmed; it continues
    /// the current trace.
    pub async fn publish_task(&self, task: &DeliveryTask) -> Result<(), PublishError> {
        let exchange = self.topology.deliveries_exchange();
        let headers = self.topology.delivery_headers(&task.webhook_id);
        self.traced(&exchange, "", headers, task.delivery_id, task)
            .await
    }

    /// The connected, confirm-mode channel, for work beyond publishing (reading the dead-letter queue).
    pub fn channel(&self) -> Result<Channel, PublishError> {
        let channel = self.channel.read().expect("channel lock").clone();
        channel
            .filter(|c| c.status().connected())
            .ok_or(PublishError::NotConnected)
    }

    /// Publishes `message` to `exchange` with `key` and `headers`, confirmed, continuing the current trace.
    async fn traced(
        &self,
        exchange: &str,
        key: &str,
        headers: FieldTable,
        id: Uuid,
        message: &impl Serialize,
    ) -> Result<(), PublishError> {
        let channel = self.channel()?;
        let body = to_json(message);
        amqp::publish_traced(&channel, exchange, key, &body, &id.to_string(), headers).await
    }
}

fn to_json(message: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(message).expect("messages always serialise")
}

async fn supervise(
    service: &'static str,
    slot: Arc<RwLock<Option<Channel>>>,
    url: SecretString,
    topology: Topology,
    health: Health,
    shutdown: CancellationToken,
) {
    let name = format!("{service}/{}", topology.prefix());
    let mut connections = amqp::Reconnecting::new(&url, &name, &shutdown);
    while let Some(connection) = connections.next().await {
        match open(connection, &topology).await {
            Ok(channel) => {
                *slot.write().expect("channel lock") = Some(channel);
                health.set(AMQP, true);
                tracing::info!("connected to RabbitMQ");
                amqp::wait_until_lost(connection, &shutdown).await;
                let channel = slot.write().expect("channel lock").take();
                if let Some(channel) = channel {
                    amqp::close_channel(channel).await;
                }
                health.set(AMQP, false);
            }
            Err(error) => tracing::warn!(%error, "cannot set up the RabbitMQ channel"),
        }
        if !shutdown.is_cancelled() {
            tracing::warn!("RabbitMQ connection lost; reconnecting");
        }
    }
}

async fn open(connection: &Connection, topology: &Topology) -> lapin::Result<Channel> {
    let channel = amqp::confirmed_channel(connection).await?;
    topology.declare(&channel).await?;
    Ok(channel)
}
