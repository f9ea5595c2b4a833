//! The RabbitMQ topology: every exchange and queue name (under the configured prefix) and their declaration.
//!
//! ```text
//! ingest ─▶ {p}.events (fanout) ─▶ {p}.events (quorum) ─▶ fan-out stage
//!                                        └─ rejected ─▶ {p}.events.rejected
//! fan-out ─▶ {p}.deliveries (fanout) ─▶ {p}.deliveries (quorum) ─▶ attempt stage
//! attempt stage, failed ─▶ {p}.deliveries.retry.<delay> (quorum, TTL = delay) ─┐ dead-letters back to
//!                                                   {p}.deliveries (exchange) ◀┘
//! attempt stage, endpoint cannot take it now ─▶ {p}.deliveries.defer.<step> (quorum, TTL = step) ─┐
//!                                                   {p}.deliveries (exchange) ◀─ dead-letters back ◀┘
//! attempt stage, last failure (or unparsable task) ─▶ {p}.deliveries.dead (quorum): the dead-letter queue
//! ```
//! Every queue is a durable quorum queue; dead-lettering between them is at-least-once.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind};

/// How long deferred tasks wait, one queue each: few enough to declare them all, close enough together
/// that a wait of any length takes a few hops at most.
pub const DEFER_STEPS: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
];

/// The names of one deployment's exchanges and queues.
#[derive(Debug, Clone)]
pub struct Topology {
    prefix: String,
    retry_schedule: Vec<Duration>,
}

impl Topology {
    pub fn new(prefix: &str, retry_schedule: &[Duration]) -> Self {
        Self {
            prefix: prefix.to_owned(),
            retry_schedule: retry_schedule.to_vec(),
        }
    }

    /// The prefix of every name; it also tells a deployment's broker connections apart.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Exchange ingest publishes events to.
    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    /// The routing key of `organisation`'s events on the events exchange (the events exchange fans out to
    /// one queue, so every key routes the same way).
    pub fn event_routing_key(&self, _organisation: &str) -> String {
        String::new()
    }

    /// Queue the fan-out stage consumes.
    pub fn events_queue(&self) -> String {
        format!("{}.events", self.prefix)
    }

    /// Queue that keeps event messages the fan-out stage could not parse, for inspection.
    pub fn rejected_events_queue(&self) -> String {
        format!("{}.events.rejected", self.prefix)
    }

    /// Exchange fan-out publishes delivery tasks to, and retry queues dead-letter back into.
    pub fn deliveries_exchange(&self) -> String {
        format!("{}.deliveries", self.prefix)
    }

    /// Queue the attempt stage consumes.
    pub fn deliveries_queue(&self) -> String {
        format!("{}.deliveries", self.prefix)
    }

    /// The dead-letter queue: deliveries whose every attempt failed.
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.deliveries.dead", self.prefix)
    }

    /// The retry schedule this topology was built for.
    /// Every queue that holds work: events, rejected events, deliveries, each retry queue and the
    /// dead-letter queue (not the catalog stream).
    pub fn work_queues(&self) -> Vec<String> {
        let mut queues = vec![
            self.events_queue(),
            self.rejected_events_queue(),
            self.deliveries_queue(),
            self.dead_letter_queue(),
        ];
        queues.extend(self.retry_schedule.iter().map(|d| self.retry_queue(*d)));
        queues.extend(DEFER_STEPS.iter().map(|d| self.defer_queue(*d)));
        queues
    }

    /// The stream of catalog snapshots the registry publishes and every ingest replica reads.
    pub fn catalog_stream(&self) -> String {
        format!("{}.catalog", self.prefix)
    }

    pub fn retry_schedule(&self) -> &[Duration] {
        &self.retry_schedule
    }

    /// Queue that holds a delivery for `delay` before returning it. Named by delay, so changing the schedule
    /// declares new queues rather than clashing with the arguments of existing ones.
    pub fn retry_queue(&self, delay: Duration) -> String {
        format!("{}.deliveries.retry.{}ms", self.prefix, delay.as_millis())
    }

    /// Queue that holds a deferred task for `step` (one of [`DEFER_STEPS`]) before returning it. A task is
    /// deferred when its endpoint cannot take it now; that is not an attempt.
    pub fn defer_queue(&self, step: Duration) -> String {
        format!("{}.deliveries.defer.{}ms", self.prefix, step.as_millis())
    }

    /// The deferral queue for a wait of `wanted`: the longest step that does not overshoot it (the
    /// shortest step for waits below it), and that step. A task that must wait longer comes back early
    /// and is deferred again for the rest.
    pub fn defer_queue_for(&self, wanted: Duration) -> (String, Duration) {
        let step = DEFER_STEPS
            .iter()
            .rev()
            .find(|s| **s <= wanted)
            .copied()
            .unwrap_or(DEFER_STEPS[0]);
        (self.defer_queue(step), step)
    }

    /// The retry queue to use after failed attempt number `attempt` (1-based), or `None` when that was the last.
    pub fn retry_queue_after(&self, attempt: u32) -> Option<(String, Duration)> {
        let delay = *self.retry_schedule.get(attempt.checked_sub(1)? as usize)?;
        Some((self.retry_queue(delay), delay))
    }

    /// Declares every exchange and queue and their bindings. Idempotent; every service calls it on connect.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        for exchange in [self.events_exchange(), self.deliveries_exchange()] {
            let options = ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            };
            channel
                .exchange_declare(
                    exchange.into(),
                    ExchangeKind::Fanout,
                    options,
                    FieldTable::default(),
                )
                .await?;
        }

        declare_queue(channel, &self.catalog_stream(), stream()).await?;
        declare_queue(channel, &self.rejected_events_queue(), quorum()).await?;
        declare_queue(channel, &self.dead_letter_queue(), quorum()).await?;
        let events = dead_lettering(quorum(), "", Some(&self.rejected_events_queue()));
        declare_queue(channel, &self.events_queue(), events).await?;
        // A task the attempt stage cannot parse is rejected straight into the dead-letter queue.
        let deliveries = dead_lettering(quorum(), "", Some(&self.dead_letter_queue()));
        declare_queue(channel, &self.deliveries_queue(), deliveries).await?;
        let delays = self
            .retry_schedule
            .iter()
            .map(|d| (self.retry_queue(*d), *d));
        let steps = DEFER_STEPS.iter().map(|d| (self.defer_queue(*d), *d));
        for (queue, delay) in delays.chain(steps) {
            let mut args = dead_lettering(quorum(), &self.deliveries_exchange(), None);
            args.insert(
                "x-message-ttl".into(),
                AMQPValue::LongLongInt(delay.as_millis() as i64),
            );
            declare_queue(channel, &queue, args).await?;
        }

        let bind = |queue: String, exchange: String| async move {
            channel
                .queue_bind(
                    queue.into(),
                    exchange.into(),
                    ShortString::from(""),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
        };
        bind(self.events_queue(), self.events_exchange()).await?;
        bind(self.deliveries_queue(), self.deliveries_exchange()).await?;
        Ok(())
    }
}

impl Topology {
    /// Deletes every queue and exchange of this topology, messages included. For tearing down a test or
    /// benchmark environment once nothing uses it any more: never while a service may still declare it.
    pub async fn delete(&self, channel: &Channel) -> lapin::Result<()> {
        let mut queues = self.work_queues();
        queues.push(self.catalog_stream());
        for queue in queues {
            channel
                .queue_delete(queue.into(), Default::default())
                .await?;
        }
        for exchange in [self.events_exchange(), self.deliveries_exchange()] {
            channel
                .exchange_delete(exchange.into(), Default::default())
                .await?;
        }
        Ok(())
    }
}

fn quorum() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args
}

/// Adds at-least-once dead-lettering to `exchange` (with `routing_key`, if given).
/// A stream: messages stay after they are read, so a replica that starts later still reads the latest
/// snapshot. Small segments and a size cap keep old snapshots from piling up.
fn stream() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("stream".into()),
    );
    args.insert(
        "x-max-length-bytes".into(),
        AMQPValue::LongLongInt(64 * 1024 * 1024),
    );
    args.insert(
        "x-stream-max-segment-size-bytes".into(),
        AMQPValue::LongLongInt(4 * 1024 * 1024),
    );
    args
}

fn dead_lettering(mut args: FieldTable, exchange: &str, routing_key: Option<&str>) -> FieldTable {
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(exchange.into()),
    );
    if let Some(key) = routing_key {
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(key.into()),
        );
    }
    // At-least-once dead-lettering (RabbitMQ 3.10+) requires reject-publish overflow.
    args.insert(
        "x-dead-letter-strategy".into(),
        AMQPValue::LongString("at-least-once".into()),
    );
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    args
}

async fn declare_queue(channel: &Channel, name: &str, args: FieldTable) -> lapin::Result<()> {
    let options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(name.into(), options, args)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_queues_follow_the_schedule_then_stop() {
        let t = Topology::new("p", &[Duration::from_secs(300), Duration::from_secs(600)]);
        assert_eq!(
            t.retry_queue_after(1).unwrap().0,
            "p.deliveries.retry.300000ms"
        );
        assert_eq!(
            t.retry_queue_after(2).unwrap().0,
            "p.deliveries.retry.600000ms"
        );
        assert!(t.retry_queue_after(3).is_none());
        assert!(t.retry_queue_after(0).is_none());
    }

    #[test]
    fn deferrals_never_overshoot_except_below_the_shortest_step() {
        let t = Topology::new("p", &[]);
        let step = |ms| t.defer_queue_for(Duration::from_millis(ms)).1.as_millis();
        assert_eq!(step(10), 1000);
        assert_eq!(step(4_999), 1000);
        assert_eq!(step(5_000), 5000);
        assert_eq!(step(100_000), 30_000);
        assert_eq!(step(10_000_000), 600_000);
        assert_eq!(
            t.defer_queue_for(Duration::from_secs(7)).0,
            "p.deliveries.defer.5000ms"
        );
    }
}
