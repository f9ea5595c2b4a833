//! The RabbitMQ topology: every exchange and queue name (under the configured prefix) and their declaration.
//!
//! Events and delivery tasks are spread over [`SHARDS`] queues each, by a stable hash of the organisation
//! (events) and of the webhook (tasks). Every worker consumes every shard, each with its own prefetch, so
//! one organisation's burst or one endpoint's backlog fills its own shard and not the queue everyone
//! else waits in.
//!
//! ```text
//! ingest ─▶ {p}.events.by-organisation (direct, key = shard) ─▶ {p}.events.<n> (quorum) ─▶ fan-out
//!                                                  └─ rejected ─▶ {p}.events.rejected
//! fan-out ─▶ {p}.deliveries.by-webhook (headers, hookline-shard) ─▶ {p}.deliveries.<n> ─▶ attempt stage
//! attempt stage, failed ─▶ {p}.retry.<delay> (quorum, TTL = delay) ──────────────┐ dead-letter back,
//! attempt stage, endpoint cannot take it now ─▶ {p}.defer.<step> (TTL = step) ───┤ headers kept, to
//!                                                   {p}.deliveries.by-webhook ◀──┘ the same shard
//! attempt stage, last failure (or unparsable task) ─▶ {p}.deliveries.dead (quorum): the dead-letter queue
//! ```
//! Every queue is a durable quorum queue; dead-lettering between them is at-least-once.
//!
//! Before sharding there was one `{p}.events` and one `{p}.deliveries` queue behind fanout exchanges of
//! the same names, with retry queues `{p}.deliveries.retry.<delay>` dead-lettering into the latter.
//! Workers still declare and consume those two queues, so nothing a previous version (or a replica not yet
//! rolled) left in them is stranded.

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

/// How many queues events, and delivery tasks, are spread over. Fixed: a message in a shard that no worker
/// consumes would be stranded, so the number is part of the wire contract, like the names.
pub const SHARDS: u16 = 8;

/// The header that routes a delivery task to its webhook's shard, kept through dead-lettering. Not
/// `x-`-prefixed: a headers exchange ignores such binding arguments, and would route every task to
/// every shard.
pub const SHARD_HEADER: &str = "hookline-shard";

/// The shard of `key`: FNV-1a, so every process and every version agrees.
pub fn shard_of(key: &[u8]) -> u16 {
    let hash = key.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % u64::from(SHARDS)) as u16
}

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

    /// Exchange ingest publishes events to, routed by [`Topology::event_routing_key`].
    pub fn events_exchange(&self) -> String {
        format!("{}.events.by-organisation", self.prefix)
    }

    /// The routing key of `organisation`'s events: its shard's number.
    pub fn event_routing_key(&self, organisation: &str) -> String {
        shard_of(organisation.as_bytes()).to_string()
    }

    /// Every queue the fan-out stage consumes: each shard, then the queue of versions before sharding.
    pub fn events_queues(&self) -> Vec<String> {
        let mut queues: Vec<_> = (0..SHARDS)
            .map(|n| format!("{}.events.{n}", self.prefix))
            .collect();
        queues.push(self.legacy_events());
        queues
    }

    /// The queue `organisation`'s events go to.
    pub fn events_queue_of(&self, organisation: &str) -> String {
        format!(
            "{}.events.{}",
            self.prefix,
            shard_of(organisation.as_bytes())
        )
    }

    /// The single events queue (and fanout exchange) of versions before sharding.
    fn legacy_events(&self) -> String {
        format!("{}.events", self.prefix)
    }

    /// Queue that keeps event messages the fan-out stage set aside, for inspection.
    pub fn rejected_events_queue(&self) -> String {
        format!("{}.events.rejected", self.prefix)
    }

    /// Exchange delivery tasks are published to, routed by their [`SHARD_HEADER`]; retry and deferral
    /// queues dead-letter back into it.
    pub fn deliveries_exchange(&self) -> String {
        format!("{}.deliveries.by-webhook", self.prefix)
    }

    /// The headers that route a task for `webhook` to its shard; every task published anywhere carries
    /// them, so that it comes back to the same shard from a retry or deferral queue.
    pub fn delivery_headers(&self, webhook: &uuid::Uuid) -> FieldTable {
        let shard = shard_of(webhook.as_bytes()).to_string();
        FieldTable::from(std::collections::BTreeMap::from([(
            ShortString::from(SHARD_HEADER),
            AMQPValue::LongString(shard.into()),
        )]))
    }

    /// Every queue the attempt stage consumes: each shard, then the queue of versions before sharding.
    pub fn deliveries_queues(&self) -> Vec<String> {
        let mut queues: Vec<_> = (0..SHARDS)
            .map(|n| format!("{}.deliveries.{n}", self.prefix))
            .collect();
        queues.push(self.legacy_deliveries());
        queues
    }

    /// The queue `webhook`'s delivery tasks go to.
    pub fn deliveries_queue_of(&self, webhook: &uuid::Uuid) -> String {
        format!(
            "{}.deliveries.{}",
            self.prefix,
            shard_of(webhook.as_bytes())
        )
    }

    /// The single deliveries queue (and fanout exchange) of versions before sharding.
    fn legacy_deliveries(&self) -> String {
        format!("{}.deliveries", self.prefix)
    }

    /// The dead-letter queue: deliveries whose every attempt failed.
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.deliveries.dead", self.prefix)
    }

    /// Every queue that holds work: the events and deliveries shards (and their queues from before
    /// sharding), rejected events, the dead-letter queue, and each retry and deferral queue (not the
    /// catalog stream).
    pub fn work_queues(&self) -> Vec<String> {
        let mut queues = self.events_queues();
        queues.push(self.rejected_events_queue());
        queues.extend(self.deliveries_queues());
        queues.push(self.dead_letter_queue());
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
        format!("{}.retry.{}ms", self.prefix, delay.as_millis())
    }

    /// Queue that holds a deferred task for `step` (one of [`DEFER_STEPS`]) before returning it. A task is
    /// deferred when its endpoint cannot take it now; that is not an attempt.
    pub fn defer_queue(&self, step: Duration) -> String {
        format!("{}.defer.{}ms", self.prefix, step.as_millis())
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

    /// The shortest step at least `wanted` (the longest step for waits beyond it). A task that need not
    /// come back exactly on time (its endpoint's breaker is open, or it asked for a pause) is deferred for
    /// this long: one hop, where `defer_queue_for`'s precision would cost a hop per shorter step, for every
    /// task of the endpoint.
    pub fn defer_step_at_least(wanted: Duration) -> Duration {
        DEFER_STEPS
            .iter()
            .find(|s| **s >= wanted)
            .copied()
            .unwrap_or(DEFER_STEPS[DEFER_STEPS.len() - 1])
    }

    /// The retry queue to use after failed attempt number `attempt` (1-based), or `None` when that was the last.
    pub fn retry_queue_after(&self, attempt: u32) -> Option<(String, Duration)> {
        let delay = *self.retry_schedule.get(attempt.checked_sub(1)? as usize)?;
        Some((self.retry_queue(delay), delay))
    }

    /// Declares every exchange and queue and their bindings. Idempotent; every service calls it on connect.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let exchanges = [
            (self.events_exchange(), ExchangeKind::Direct),
            (self.deliveries_exchange(), ExchangeKind::Headers),
            (self.legacy_events(), ExchangeKind::Fanout),
            (self.legacy_deliveries(), ExchangeKind::Fanout),
        ];
        for (exchange, kind) in exchanges {
            let options = ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            };
            channel
                .exchange_declare(exchange.into(), kind, options, FieldTable::default())
                .await?;
        }

        declare_queue(channel, &self.catalog_stream(), stream()).await?;
        declare_queue(channel, &self.rejected_events_queue(), quorum()).await?;
        declare_queue(channel, &self.dead_letter_queue(), quorum()).await?;
        let bind = |queue: String, exchange: String, key: String, args: FieldTable| async move {
            channel
                .queue_bind(
                    queue.into(),
                    exchange.into(),
                    key.into(),
                    QueueBindOptions::default(),
                    args,
                )
                .await
        };
        let events = dead_lettering(quorum(), "", Some(&self.rejected_events_queue()));
        for (n, queue) in self.events_queues().into_iter().enumerate() {
            declare_queue(channel, &queue, events.clone()).await?;
            let (exchange, key) = if n < usize::from(SHARDS) {
                (self.events_exchange(), n.to_string())
            } else {
                (self.legacy_events(), String::new())
            };
            bind(queue, exchange, key, FieldTable::default()).await?;
        }
        // A task the attempt stage cannot parse is rejected straight into the dead-letter queue.
        let deliveries = dead_lettering(quorum(), "", Some(&self.dead_letter_queue()));
        for (n, queue) in self.deliveries_queues().into_iter().enumerate() {
            declare_queue(channel, &queue, deliveries.clone()).await?;
            let (exchange, args) = if n < usize::from(SHARDS) {
                let mut args = FieldTable::default();
                args.insert("x-match".into(), AMQPValue::LongString("all".into()));
                args.insert(
                    SHARD_HEADER.into(),
                    AMQPValue::LongString(n.to_string().into()),
                );
                (self.deliveries_exchange(), args)
            } else {
                (self.legacy_deliveries(), FieldTable::default())
            };
            bind(queue, exchange, String::new(), args).await?;
        }
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
        let exchanges = [
            self.events_exchange(),
            self.deliveries_exchange(),
            self.legacy_events(),
            self.legacy_deliveries(),
        ];
        for exchange in exchanges {
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
        assert_eq!(t.retry_queue_after(1).unwrap().0, "p.retry.300000ms");
        assert_eq!(t.retry_queue_after(2).unwrap().0, "p.retry.600000ms");
        assert!(t.retry_queue_after(3).is_none());
        assert!(t.retry_queue_after(0).is_none());
    }

    #[test]
    fn shards_are_stable_and_spread() {
        // The hash is part of the wire contract: these must never change.
        let known: Vec<u16> = ["org_a", "org_b", "org_c"]
            .iter()
            .map(|o| shard_of(o.as_bytes()))
            .collect();
        assert_eq!(known, vec![1, 0, 3]);
        let mut seen = [0usize; SHARDS as usize];
        for i in 0..8_000 {
            seen[usize::from(shard_of(format!("org_{i}").as_bytes()))] += 1;
        }
        assert!(seen.iter().all(|n| (800..1200).contains(n)), "{seen:?}");
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
            "p.defer.5000ms"
        );
    }

    #[test]
    fn a_wait_rounded_up_is_one_whole_step() {
        let up = |ms| Topology::defer_step_at_least(Duration::from_millis(ms)).as_millis();
        assert_eq!(up(10), 1000);
        assert_eq!(up(1_001), 5000);
        assert_eq!(up(17_000), 30_000);
        assert_eq!(up(30_000), 30_000);
        assert_eq!(up(10_000_000), 600_000);
    }
}
