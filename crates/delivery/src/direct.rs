//! One broker hop for a healthy delivery. When a task's endpoint and the worker both have room now, the
//! fan-out stage makes the first attempt itself instead of publishing the task to the deliveries queue
//! for some worker to consume: the hop it saves is a confirmed publish, a quorum-queue write and a
//! consume, several milliseconds of every delivery's latency and a good share of the broker's work.
//!
//! Nothing is less durable for it. The event's message stays unacked until each of its direct attempts
//! is durable, exactly as a queued task's message would be: the outcome recorded, and the retry or dead
//! letter confirmed. An attempt whose outcome cannot be made durable (the database away, a refused
//! value, shutdown) hands its task to the deliveries queue, where the usual attempt stage deals with it
//! as it would with a redelivered task. If even that publish fails, the event is returned to its queue,
//! and its redelivery publishes every delivery still waiting for a first attempt.
//!
//! A direct attempt takes one of the worker's attempt slots and a permit from its endpoint's gate, like
//! any other, and never waits for either: a task that cannot go at once is queued as before, so a slow
//! or failing endpoint holds no more here than it could through the queue. `delivery.direct_attempts`
//! bounds how many run at once, because each holds its event's message (the fan-out's prefetch grows by
//! the same number, so those never starve the consumer).
//!
//! A task whose endpoint takes nothing now (its breaker open, or paused by `Retry-After`) is deferred
//! here, straight to the deferral queue: through the deliveries queue it would only be consumed to be
//! deferred, and a failing endpoint's burst would fill the shard that healthy endpoints share. A task
//! of an endpoint that is only busy is queued as before (see [`Direct::begin`]).

use std::sync::Arc;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use hookline_core::messages::DeliveryTask;
use hookline_runtime::{prometheus, spans};
use lapin::Channel;
use lapin::types::FieldTable;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::attempt::{self, AttemptError, AttemptStage};
use crate::gate::Room;
use crate::task;

/// The fan-out's way into the attempt stage.
pub struct Direct {
    pub stage: Arc<AttemptStage>,
    /// Direct attempts allowed at once (`delivery.direct_attempts`).
    budget: Arc<Semaphore>,
    size: usize,
}

/// What [`Direct::begin`] did with a task. Unboxed: it lives for one move, and a box would cost an
/// allocation for every task that goes through the queue.
#[allow(clippy::large_enum_variant)]
pub enum Begun {
    /// It is being attempted here; the future ends with whether the task is durable (its outcome made
    /// durable, or the task handed to the deliveries queue).
    Started(BoxFuture<'static, bool>),
    /// It cannot go now: publish it to the deliveries queue as usual.
    Queue(DeliveryTask),
    /// Its endpoint takes nothing for a while (its breaker open, or paused by `Retry-After`): publish
    /// it, already counted as deferred, straight to this deferral queue.
    Defer(DeliveryTask, String),
}

impl Direct {
    pub fn new(stage: Arc<AttemptStage>, size: usize) -> Self {
        Self {
            stage,
            budget: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    /// How many direct attempts may run at once, each holding its event's message.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Starts the first attempt of `task` here if its endpoint and the worker can take it at once, or
    /// defers it here if its endpoint takes nothing now. `parent` is the span of the event's processing.
    pub async fn begin(
        &self,
        channel: &Channel,
        task: DeliveryTask,
        parent: &tracing::Span,
        shutdown: &CancellationToken,
    ) -> Begun {
        let stage = &self.stage;
        // A webhook disabled or deleted since the fan-out read it, or a lookup that failed: the queued
        // attempt cancels or retries it, as it always has.
        let target = match stage.webhooks.get(task.webhook_id).await {
            // A rate-limited webhook's tasks take their turn in its schedule, from the queue.
            Ok(Some(target)) if target.enabled && target.rate_limit.is_none() => target,
            _ => return Begun::Queue(task),
        };
        let open_until = attempt::shared_open_until(&target);
        let permit = match stage.gate.admit_first(task.webhook_id, open_until) {
            Room::Now(permit) => permit,
            // A full endpoint is still taking tasks: its next ones wait their turn in the deliveries
            // queue, where the attempt stage takes them as its slots free. Deferred from here, a healthy
            // endpoint's burst bounced through the deferral queues at the fan-out's pace (measured: another
            // organisation's p99 went from 0.2 s to 2-4 s during a 200,000-event burst).
            Room::Full => return Begun::Queue(task),
            Room::Closed(wait, reason) => {
                let (task, wait) = attempt::deferred(task, wait, reason, "fanout");
                let (queue, _) = stage.topology.defer_queue_for(wait);
                return Begun::Defer(task, queue);
            }
        };
        // The permit, unused, is dropped with the task queued: that frees it.
        let Ok(budget) = self.budget.clone().try_acquire_owned() else {
            return Begun::Queue(task);
        };
        let Ok(slot) = stage.slots.clone().try_acquire_owned() else {
            return Begun::Queue(task);
        };
        let Some(claim) = stage.in_progress.claim(task.delivery_id, task.attempt) else {
            return Begun::Queue(task);
        };
        metrics::counter!(prometheus::DIRECT_ATTEMPTS).increment(1);
        let span = spans::direct_attempt(parent, task::ids(&task));
        let (stage, channel, shutdown) = (stage.clone(), channel.clone(), shutdown.clone());
        let attempt = async move {
            let in_flight = metrics::gauge!(prometheus::IN_FLIGHT);
            in_flight.increment(1.0);
            let sent = stage.send(&channel, task.clone(), &target, permit).await;
            in_flight.decrement(1.0);
            drop((slot, claim, budget));
            match sent {
                Ok(()) => true,
                Err(error) => hand_over(&stage, &channel, &task, &error, &shutdown).await,
            }
        };
        // Spawned, so the attempt runs while the fan-out goes on; the handle says how it ended.
        let handle = tokio::spawn(attempt.instrument(span));
        Begun::Started(handle.map(|joined| joined.unwrap_or(false)).boxed())
    }
}

/// Hands a task whose direct attempt could not be made durable to the deliveries queue, where the attempt
/// stage tries it again like a redelivered task; whether that publish was confirmed.
async fn hand_over(
    stage: &AttemptStage,
    channel: &Channel,
    task: &DeliveryTask,
    error: &AttemptError,
    shutdown: &CancellationToken,
) -> bool {
    if !shutdown.is_cancelled() {
        tracing::warn!(%error, "outcome not durable; handing the task to the deliveries queue");
    }
    let exchange = stage.topology.deliveries_exchange();
    let published = task::publish_to(
        channel,
        &stage.topology,
        &exchange,
        "",
        task,
        FieldTable::default(),
    )
    .await;
    if let Err(error) = &published {
        tracing::warn!(%error, "cannot hand the task over; its event returns to the queue");
    }
    published.is_ok()
}
