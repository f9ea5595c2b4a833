//! The fan-out stage: consumes events in batches, records each event and its deliveries in one
//! transaction, publishes one task per new delivery, and only then acks the events.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::future::{BoxFuture, join_all, try_join_all};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt as _, Stream, StreamExt as _};
use hookline_core::headers;
use hookline_core::messages::{DeliveryTask, EventMessage};
use hookline_runtime::amqp::{self, PublishError, Settle};
use hookline_runtime::topology::Topology;
use hookline_runtime::{prometheus, spans};
use lapin::Acker;
use lapin::Channel;
use lapin::message::Delivery as Message;
use lapin::options::BasicQosOptions;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::batch::{self, Settled};
use crate::direct::{Begun, Direct};
use crate::store;
use crate::subscriptions::SubscriptionCache;
use crate::task;

/// Why the stage stopped with messages unacked (they return to the queue with the channel).
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("publishing delivery tasks: {0}")]
    Publish(#[from] PublishError),
    #[error("shut down before the batch was recorded")]
    Interrupted,
}

/// Batches processed at once, over all shards: each waits on PostgreSQL and on confirms, so overlapping
/// them keeps both busy.
const PARALLEL_BATCHES: usize = 4;
/// Batches one shard may have in process at once: fewer than all, so a shard flooded by one
/// organisation's burst always leaves a batch's room to the others.
const SHARD_BATCHES: usize = 3;

pub struct FanoutStage {
    pub topology: Topology,
    pub pool: PgPool,
    /// Who receives each organisation's events, kept between batches.
    pub subscriptions: SubscriptionCache,
    /// Most events per batch.
    pub batch: usize,
    /// First attempts made here, without the deliveries-queue hop; `None` publishes every task.
    pub direct: Option<Direct>,
    /// How long, after the stage stops consuming, direct attempts may take to end.
    pub grace: std::time::Duration,
}

impl FanoutStage {
    /// Consumes every events shard until `shutdown` or a broker error. Each shard forms its own batches,
    /// so an event never waits in a batch full of another organisation's burst.
    pub async fn run(
        self: Arc<Self>,
        channel: Channel,
        shutdown: CancellationToken,
        abandon: CancellationToken,
    ) -> Result<(), FanoutError> {
        // One more batch than a shard processes at once, so the next is already on its way; and room
        // for the events whose direct attempts are still running, which hold their messages.
        let held = self.direct.as_ref().map_or(0, Direct::size);
        let prefetch = u16::try_from(self.batch * (SHARD_BATCHES + 1) + held).unwrap_or(u16::MAX);
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let slots = Arc::new(Semaphore::new(PARALLEL_BATCHES));
        let waiters = TaskTracker::new();
        let mut shards = Vec::new();
        for queue in self.topology.events_queues() {
            let consumer = amqp::consume_all(&channel, vec![queue]).await?;
            shards.push(self.consume(&channel, consumer, &slots, &waiters, &shutdown));
        }
        let consumed = try_join_all(shards).await;
        // Events still waiting for their direct attempts are acked (or returned) before the channel
        // closes; those that outlast the grace period return to the queue with it.
        task::finish_within(
            self.grace,
            &waiters,
            "events with direct attempts",
            &abandon,
        )
        .await;
        consumed?;
        Ok(())
    }

    /// Batches and processes one shard's events.
    async fn consume(
        &self,
        channel: &Channel,
        mut consumer: impl Stream<Item = lapin::Result<amqp::Sourced>> + Unpin,
        slots: &Arc<Semaphore>,
        waiters: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> Result<(), FanoutError> {
        let mut in_flight = FuturesUnordered::new();
        loop {
            tokio::select! {
                Some(done) = in_flight.next() => done?,
                next = consumer.next(), if in_flight.len() < SHARD_BATCHES => {
                    let Some(first) = next else { break };
                    // Take whatever else has already arrived, without waiting: batches grow with load.
                    let mut batch = vec![first?];
                    while batch.len() < self.batch {
                        match consumer.next().now_or_never() {
                            Some(Some(message)) => batch.push(message?),
                            _ => break,
                        }
                    }
                    // A slot shared with the other shards; this shard's own batches go on meanwhile.
                    let slot = loop {
                        tokio::select! {
                            Some(done) = in_flight.next() => done?,
                            slot = slots.clone().acquire_owned() => {
                                break slot.expect("the slots are never closed");
                            }
                        }
                    };
                    in_flight.push(async move {
                        let done = self.process(channel, batch, waiters, shutdown).await;
                        drop(slot);
                        done
                    });
                }
                // No basic.cancel, for the reason the attempt stage gives: batches still being
                // recorded must be able to ack their events.
                () = shutdown.cancelled() => break,
            }
        }
        // Batches already taken are finished (or interrupted) before the stage returns.
        while let Some(done) = in_flight.next().await {
            done?;
        }
        Ok(())
    }

    async fn process(
        &self,
        channel: &Channel,
        batch: Vec<amqp::Sourced>,
        waiters: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> Result<(), FanoutError> {
        let mut events = Vec::with_capacity(batch.len());
        let mut redelivered = HashSet::new();
        let mut accepted = Vec::with_capacity(batch.len());
        // One span per event, continuing its trace; each lasts until the batch is acked.
        let mut event_spans = HashMap::new();
        for (queue, message) in batch {
            match serde_json::from_slice::<EventMessage>(&message.data) {
                Ok(event) => {
                    if message.redelivered {
                        redelivered.insert(event.id);
                    }
                    // Only traces need these; they carry no log lines.
                    if spans::exporting() {
                        let ids = spans::Ids {
                            event_id: Some(&event.id),
                            event_type: Some(&event.event_type),
                            ..Default::default()
                        };
                        event_spans.insert(event.id, spans::amqp_process(&queue, &message, ids));
                    }
                    events.push(event);
                    accepted.push(message);
                }
                Err(error) => {
                    tracing::error!(%error, "unparsable event; moving it to the rejected-events queue");
                    count_rejected("unparsable");
                    amqp::settle(&message.acker, Settle::Reject).await?;
                }
            }
        }
        if events.is_empty() {
            return Ok(());
        }

        let started = std::time::Instant::now();
        let (pool, subscriptions) = (&self.pool, &self.subscriptions);
        let settled = batch::write_apart(&events, "events", shutdown, |chunk| {
            let again: Vec<Uuid> = chunk
                .iter()
                .map(|e| e.id)
                .filter(|id| redelivered.contains(id))
                .collect();
            async move { store::fan_out(pool, subscriptions, chunk, &again).await }
        })
        .await;
        let mut planned = Vec::new();
        let mut written = Vec::with_capacity(accepted.len());
        for part in settled {
            match part {
                Settled::Written(range, deliveries) => {
                    planned.extend(deliveries);
                    written.extend(range);
                }
                Settled::Refused(i, error) => {
                    self.set_aside(channel, &accepted[i], &events[i], &error)
                        .await?;
                }
                Settled::Unwritten(_) => return Err(FanoutError::Interrupted),
            }
        }

        let recorded = started.elapsed();
        let by_id: HashMap<_, _> = events.iter().map(|e| (e.id, e)).collect();
        let task_of = |p: &store::Planned| {
            let event = by_id[&p.event_id].in_version(p.version as u32);
            if event.is_none() {
                // Only a hand-edited row could ask for a version the event lacks; it stays pending.
                tracing::error!(delivery_id = %p.id, version = p.version, "event lacks the delivery's version");
            }
            Some(DeliveryTask::chain(p.id, p.webhook_id, 1, event?))
        };
        let span_of = |event: &Uuid| {
            event_spans
                .get(event)
                .cloned()
                .unwrap_or_else(tracing::Span::none)
        };

        // First attempts that can go at once go here, tasks whose endpoint takes nothing now straight
        // to a deferral queue, and the others through the deliveries queue. A task carries its own copy of
        // the event, so they are built and sent a batch's length at a time: built all at once, 200
        // events of an organisation with 100 webhooks were 20,000 tasks, and a worker's memory grew with
        // the number of webhooks an organisation may have.
        let mut direct: HashMap<Uuid, Vec<BoxFuture<'static, bool>>> = HashMap::new();
        let exchange = self.topology.deliveries_exchange();
        for part in planned.chunks(self.batch) {
            // Each task with the exchange and routing key it goes to.
            let mut sends = Vec::with_capacity(part.len());
            for task in part.iter().filter_map(task_of) {
                let Some(stage) = self.direct.as_ref().filter(|_| !shutdown.is_cancelled()) else {
                    sends.push((exchange.as_str(), String::new(), task));
                    continue;
                };
                let event = task.event.id;
                match stage.begin(channel, task, &span_of(&event), shutdown).await {
                    Begun::Started(attempt) => direct.entry(event).or_default().push(attempt),
                    Begun::Queue(task) => sends.push((exchange.as_str(), String::new(), task)),
                    Begun::Defer(task, queue) => sends.push(("", queue, task)),
                }
            }
            try_join_all(sends.iter().map(|(exchange, key, task)| {
                task::publish_to(
                    channel,
                    &self.topology,
                    exchange,
                    key,
                    task,
                    FieldTable::default(),
                )
                .instrument(span_of(&task.event.id))
            }))
            .await?;
        }
        let published = started.elapsed();

        // Events without direct attempts are done; the others once their attempts are durable.
        let mut waiting: HashMap<Uuid, Vec<Acker>> = HashMap::new();
        let mut done = Vec::with_capacity(written.len());
        for &i in &written {
            let event = events[i].id;
            if direct.contains_key(&event) {
                waiting
                    .entry(event)
                    .or_default()
                    .push(accepted[i].acker.clone());
            } else {
                done.push(amqp::settle(&accepted[i].acker, Settle::Ack));
            }
        }
        try_join_all(done).await?;
        for (event, ackers) in waiting {
            let attempts = direct.remove(&event).unwrap_or_default();
            // The event's span ends with its ack.
            let span = event_spans.remove(&event);
            waiters.spawn(async move {
                let durable = join_all(attempts).await.into_iter().all(|ok| ok);
                for acker in ackers {
                    let how = if durable { Settle::Ack } else { Settle::Requeue };
                    let settled = amqp::settle(&acker, how).await;
                    if let Err(error) = settled {
                        tracing::warn!(%error, "cannot settle the event; the broker will redeliver it");
                    }
                }
                drop(span);
            });
        }
        tracing::debug!(
            events = events.len(),
            deliveries = planned.len(),
            ?recorded,
            ?published,
            acked = ?started.elapsed(),
            "fanned out"
        );
        Ok(())
    }

    /// Moves an event whose data the database refuses to the rejected-events queue, with the reason in
    /// a header, and acks it once the broker has confirmed the copy. Logged once, here, and counted.
    async fn set_aside(
        &self,
        channel: &Channel,
        message: &Message,
        event: &EventMessage,
        error: &sqlx::Error,
    ) -> Result<(), FanoutError> {
        tracing::error!(event_id = %event.id, organisation_id = %event.organisation_id, %error,
            "the database refuses this event; moving it to the rejected-events queue");
        let reason = FieldTable::from(std::collections::BTreeMap::from([(
            ShortString::from(headers::REJECTED_REASON),
            AMQPValue::LongString(error.to_string().into()),
        )]));
        let queue = self.topology.rejected_events_queue();
        amqp::publish_traced(
            channel,
            "",
            &queue,
            &message.data,
            &event.id.to_string(),
            reason,
        )
        .await?;
        amqp::settle(&message.acker, Settle::Ack).await?;
        count_rejected("unstorable");
        Ok(())
    }
}

/// Counts an event set aside by the fan-out stage.
fn count_rejected(reason: &'static str) {
    metrics::counter!(prometheus::REJECTED, "stage" => "fanout", "reason" => reason).increment(1);
}
