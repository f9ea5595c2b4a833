//! The attempt stage: consumes delivery tasks, POSTs each one, records the attempt, and publishes the
//! retry (into the retry queue for the next delay) or, after the last failure, the dead letter.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt as _;
use hookline_core::envelope::Envelope;
use hookline_core::headers;
use hookline_core::messages::DeliveryTask;
use hookline_runtime::amqp::{self, PublishError, Settle};
use hookline_runtime::prometheus;
use hookline_runtime::spans;
use hookline_runtime::topology::{DEFER_STEPS, Topology};
use lapin::Channel;
use lapin::message::Delivery as Message;
use lapin::options::BasicQosOptions;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::claims::InProgress;
use crate::gate::{Admission, DeferReason, Gate, Permit, Verdict};
use crate::rate::Paced;
use crate::recorder::{NotRecorded, Recorder};
use crate::task::{finish_within, ids, publish};
use hookline_dispatch::organisations::OrganisationCache;
use hookline_dispatch::outcome::{DeliveryState, Outcome};
use hookline_dispatch::sender::Sender;
use hookline_dispatch::store::Claim;
use hookline_dispatch::webhooks::{Target, WebhookCache};

/// How long a task whose outcome could not be made durable waits before going back to the queue, so a
/// database or broker outage does not turn into a hot loop.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);

/// Why a task goes back to the queue instead of being acked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AttemptError {
    #[error("cannot read the webhook or the delivery log: {0}")]
    Lookup(#[from] sqlx::Error),
    #[error(transparent)]
    Record(#[from] NotRecorded),
    #[error("cannot schedule the next step: {0}")]
    Publish(#[from] PublishError),
    #[error("shut down while the task waited for its endpoint")]
    Interrupted,
}

/// How long a task waiting for its endpoint's slot sleeps at most before it asks the gate again. Every
/// freed slot wakes one waiter, so this is only a safety net (and lets a long wait turn into a
/// deferral); polling more often cost measurable CPU with hundreds of tasks waiting.
const RECHECK: Duration = Duration::from_millis(250);

/// Everything an attempt needs, shared by all in-flight attempts of a worker.
pub struct AttemptStage {
    pub topology: Topology,
    pub webhooks: WebhookCache,
    pub organisations: OrganisationCache,
    pub sender: Sender,
    pub recorder: Recorder,
    /// Each queue's prefetch (per consumer).
    pub concurrency: u16,
    /// The worker's attempt slots: at most `concurrency` attempts in flight, whatever the shards hold.
    pub slots: Arc<tokio::sync::Semaphore>,
    pub grace: Duration,
    pub in_progress: InProgress,
    pub gate: Arc<Gate>,
    /// The longest pause a `Retry-After` may impose on a retry.
    pub max_retry_after: Duration,
    /// How long a claim on a retry (see [`Recorder::claim`]) keeps other copies of its task waiting: past
    /// the longest an attempt can take, so only a dead holder's claim runs out.
    pub claim_lease: Duration,
    /// Where the operational events this stage causes are published.
    pub notices: crate::notices::Notices,
}

impl AttemptStage {
    /// Consumes until `shutdown` or a broker error, then waits (up to the grace period, or until
    /// `abandon` says the connection is lost) for in-flight attempts. Unfinished ones return to the
    /// queue when the channel closes.
    pub async fn run(
        self: Arc<Self>,
        channel: Channel,
        shutdown: CancellationToken,
        abandon: CancellationToken,
    ) -> lapin::Result<()> {
        channel
            .basic_qos(self.concurrency, BasicQosOptions::default())
            .await?;
        let mut consumer = amqp::consume_all(&channel, self.topology.deliveries_queues()).await?;
        let in_flight = TaskTracker::new();
        let result = loop {
            tokio::select! {
                next = consumer.next() => match next {
                    Some(Ok((queue, message))) => {
                        let handled =
                            self.clone().handle(channel.clone(), queue, message, shutdown.clone());
                        in_flight.spawn(handled);
                    }
                    Some(Err(error)) => break Err(error),
                    None => break Ok(()),
                },
                // No basic.cancel: under load, tasks whose acks followed a cancel were redelivered
                // (quorum queues, RabbitMQ 3.10), so attempts still finishing were sent twice. Tasks
                // the broker pushes meanwhile stay unacked and go back when the channel closes.
                () = shutdown.cancelled() => break Ok(()),
            }
        };
        finish_within(self.grace, &in_flight, "attempts", &abandon).await;
        result
    }

    async fn handle(
        self: Arc<Self>,
        channel: Channel,
        queue: Arc<str>,
        message: Message,
        shutdown: CancellationToken,
    ) {
        let task: DeliveryTask = match serde_json::from_slice(&message.data) {
            Ok(task) => task,
            Err(error) => {
                tracing::error!(%error, "unparsable delivery task; moving it to the dead-letter queue");
                count_rejected("unparsable");
                let _ = amqp::settle(&message.acker, Settle::Reject).await;
                return;
            }
        };
        let span = spans::amqp_process(&queue, &message, ids(&task));
        let Some(claim) = self.in_progress.claim(task.delivery_id, task.attempt) else {
            tracing::info!(delivery_id = %task.delivery_id, attempt = task.attempt,
                "a copy of an attempt in progress; not sent twice");
            let _ = amqp::settle(&message.acker, Settle::Ack).await;
            return;
        };
        // The span covers the ack too, so its log lines carry the ids; it is never held across an await
        // by a guard, which would leak it into other tasks.
        async move {
            let in_flight = metrics::gauge!(prometheus::IN_FLIGHT);
            in_flight.increment(1.0);
            let result = if message.redelivered {
                self.unless_sent(&channel, task, &shutdown).await
            } else {
                self.attempt(&channel, task, &shutdown).await
            };
            in_flight.decrement(1.0);
            match result {
                Ok(()) => {
                    if let Err(error) = amqp::settle(&message.acker, Settle::Ack).await {
                        tracing::warn!(%error, "ack failed; the task will be redelivered");
                    }
                }
                // Retrying cannot help; the task would only come back to fail again.
                Err(AttemptError::Record(error @ NotRecorded::Refused(_))) => {
                    tracing::error!(%error, "moving the task to the dead-letter queue");
                    count_rejected("unstorable");
                    let _ = amqp::settle(&message.acker, Settle::Reject).await;
                }
                Err(AttemptError::Interrupted) => {
                    let _ = amqp::settle(&message.acker, Settle::Requeue).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "outcome not durable; returning the task to the queue");
                    tokio::time::sleep(REQUEUE_PAUSE).await;
                    let _ = amqp::settle(&message.acker, Settle::Requeue).await;
                }
            }
        }
        .instrument(span)
        .await;
        drop(claim);
    }

    /// A task the broker redelivers may already have been sent: its worker recorded the outcome but
    /// stopped or died before the ack reached the broker. A success in the log is not sent again; anything
    /// else is attempted as usual (at least once).
    async fn unless_sent(
        &self,
        channel: &Channel,
        task: DeliveryTask,
        shutdown: &CancellationToken,
    ) -> Result<(), AttemptError> {
        if self
            .recorder
            .succeeded(task.delivery_id, task.attempt)
            .await?
        {
            tracing::info!("redelivered task already succeeded; not sent again");
            return Ok(());
        }
        self.attempt(channel, task, shutdown).await
    }

    /// Makes the attempt and makes its outcome durable: recorded, and the retry or dead letter confirmed.
    async fn attempt(
        &self,
        channel: &Channel,
        mut task: DeliveryTask,
        shutdown: &CancellationToken,
    ) -> Result<(), AttemptError> {
        // A deferred task that came back from a shorter step than its wait goes on waiting.
        if let Some(rest) = task.not_before.and_then(|t| (t - Utc::now()).to_std().ok())
            && rest > NOT_BEFORE_SLACK
        {
            return self.hold(channel, &task, rest).await;
        }
        let target = self.webhooks.get(task.webhook_id).await?;
        let Some(target) = target.filter(|t| t.enabled) else {
            tracing::debug!("webhook disabled or deleted; delivery cancelled");
            let cancelled = Outcome {
                delivery_id: task.delivery_id,
                state: DeliveryState::Cancelled,
                attempt: task.attempt - 1,
                next_attempt_at: None,
                exchange: None,
            };
            self.recorder.record(cancelled).await?;
            count_end(DeliveryState::Cancelled);
            return Ok(());
        };

        if let Some(per_second) = target.rate_limit
            && let Paced::Held = self.pace(channel, &mut task, per_second, shutdown).await?
        {
            return Ok(());
        }
        let shared_open_until = shared_open_until(&target);
        let mut waited = false;
        let permit = loop {
            match self.gate.admit(task.webhook_id, shared_open_until, waited) {
                Admission::Now(permit) => break permit,
                Admission::Wait(wake) => {
                    waited = true;
                    tokio::select! {
                        () = wake.notified() => {}
                        () = tokio::time::sleep(RECHECK) => {}
                        () = shutdown.cancelled() => {
                            self.gate.stop_waiting(task.webhook_id);
                            return Err(AttemptError::Interrupted);
                        }
                    }
                }
                Admission::Defer(wait, reason) => {
                    return self.defer(channel, task, wait, reason).await;
                }
            }
        };
        // Then one of the worker's attempt slots, shared by every endpoint.
        let _slot = tokio::select! {
            slot = self.slots.acquire() => slot.expect("the slots are never closed"),
            () = shutdown.cancelled() => return Err(AttemptError::Interrupted),
        };
        // A first attempt has one task; a retry may have two (see `Claim`).
        if task.attempt > 1 {
            match self
                .recorder
                .claim(task.delivery_id, task.attempt, self.claim_lease)
                .await?
            {
                Claim::Granted => {}
                Claim::AlreadyMade => {
                    tracing::info!("another copy of this attempt was made; not sent twice");
                    return Ok(());
                }
                Claim::HeldUntil(until) => {
                    let wait = (until - Utc::now()).to_std().unwrap_or_default();
                    let held = DeliveryTask {
                        not_before: Some(until),
                        ..task
                    };
                    return self.hold(channel, &held, wait).await;
                }
            }
        }
        self.send(channel, task, &target, permit).await
    }

    /// Sends `task` to `target` under `permit` (the caller holds an attempt slot), and makes the outcome
    /// durable: recorded, and the retry or dead letter confirmed.
    pub(crate) async fn send(
        &self,
        channel: &Channel,
        task: DeliveryTask,
        target: &Target,
        permit: Permit,
    ) -> Result<(), AttemptError> {
        let event = self.organisations.localised(&task.event).await?;
        let body = Envelope::new(&event, task.webhook_id).to_bytes();
        let exchange = self
            .sender
            .send(&target.url, target, &task.event.id.to_string(), body)
            .await;
        metrics::counter!(prometheus::ATTEMPTS,
            "outcome" => if exchange.succeeded() { "success" } else { "failure" },
            "status_class" => prometheus::status_class(exchange.status))
        .increment(1);
        metrics::histogram!(prometheus::ATTEMPT_DURATION).record(exchange.duration.as_secs_f64());
        let verdict = exchange.verdict();
        if let Some(transition) = permit.finish(verdict) {
            self.circuit_changed(&task, target, transition).await;
        }
        if exchange.status == Some(http::StatusCode::GONE.as_u16()) {
            self.endpoint_gone(&task, target).await;
        }
        let retry = self.topology.retry_queue_after(task.attempt_in_chain());
        // The endpoint's Retry-After, when longer than the schedule's delay, pushes the next attempt back.
        let asked = match verdict {
            Verdict::Failure { retry_after, .. } => {
                retry_after.map(|d| d.min(self.max_retry_after))
            }
            Verdict::Success => None,
        };
        let (state, next_attempt_at) = match (&exchange.failure, &retry) {
            (None, _) => (DeliveryState::Succeeded, None),
            // The retry queue's TTL starts when the task is published, right after this.
            (Some(failure), Some((_, delay))) if failure.is_retryable() => {
                let wait = asked.map_or(*delay, |asked| asked.max(*delay));
                (DeliveryState::Retrying, Some(Utc::now() + wait))
            }
            (Some(_), _) => (DeliveryState::Failed, None),
        };
        let not_before = next_attempt_at.filter(|_| asked.is_some());
        let dead_lettered = (state == DeliveryState::Failed)
            .then(|| crate::notices::dead_lettered(&task, target, &exchange))
            .flatten();
        // A customer's endpoint failing is the platform working, not a fault of it: each attempt is a
        // DEBUG line, and operators watch `hookline_delivery_attempts_total` instead (README, Runbook).
        match &exchange.failure {
            None => tracing::debug!(
                status = exchange.status,
                duration_ms = exchange.duration_ms(),
                "delivered"
            ),
            Some(error) => {
                let next =
                    next_attempt_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
                tracing::debug!(status = exchange.status, %error, next_attempt_at = next.as_deref(), "attempt failed")
            }
        }
        // The dead letter says why, so the queue can be read without the database.
        let last_failure = FieldTable::from(std::collections::BTreeMap::from([
            (
                ShortString::from(headers::LAST_STATUS),
                AMQPValue::LongUInt(exchange.status.unwrap_or(0).into()),
            ),
            (
                ShortString::from(headers::LAST_ERROR),
                AMQPValue::LongString(exchange.error().unwrap_or_default().into()),
            ),
        ]));
        let outcome = Outcome {
            delivery_id: task.delivery_id,
            state,
            attempt: task.attempt,
            next_attempt_at,
            exchange: Some(exchange),
        };

        let forward = async {
            match (state, retry) {
                (DeliveryState::Retrying, Some((queue, _))) => {
                    let next = task.next(not_before);
                    publish(
                        channel,
                        &self.topology,
                        &queue,
                        &next,
                        FieldTable::default(),
                    )
                    .await
                }
                (DeliveryState::Failed, _) => {
                    let queue = self.topology.dead_letter_queue();
                    publish(channel, &self.topology, &queue, &task, last_failure).await
                }
                _ => Ok(()),
            }
        };
        let (recorded, forwarded) = tokio::join!(self.recorder.record(outcome), forward);
        recorded?;
        forwarded?;
        if let Some(notice) = dead_lettered {
            self.notices.send(notice);
        }
        count_end(state);
        Ok(())
    }
}

impl AttemptStage {
    /// Defers `task` because its endpoint cannot take it now (see [`deferred`]).
    async fn defer(
        &self,
        channel: &Channel,
        task: DeliveryTask,
        wait: Duration,
        reason: DeferReason,
    ) -> Result<(), AttemptError> {
        let (task, wait) = deferred(task, wait, reason, "attempt");
        self.hold(channel, &task, wait).await
    }

    /// Publishes `task` to the deferral step for `wait` (confirmed); the caller then acks the original.
    pub(crate) async fn hold(
        &self,
        channel: &Channel,
        task: &DeliveryTask,
        wait: Duration,
    ) -> Result<(), AttemptError> {
        let (queue, _) = self.topology.defer_queue_for(wait);
        publish(channel, &self.topology, &queue, task, FieldTable::default()).await?;
        Ok(())
    }
}

/// `task` deferred because its endpoint cannot take it now, and how long it waits: at least `wait`, and at
/// least the step its earlier deferrals reached, so a long outage costs few hops. Not an attempt: the
/// attempt number and the retry schedule are untouched. Counted, with the `stage` that deferred it (the
/// fan-out defers a task before its first hop; the attempt stage, one that came through the queue).
pub(crate) fn deferred(
    mut task: DeliveryTask,
    wait: Duration,
    reason: DeferReason,
    stage: &'static str,
) -> (DeliveryTask, Duration) {
    // A busy endpoint is still taking tasks, so its deferrals stop growing at the second step. A
    // closed or paused endpoint may stay so for long, so its tasks' deferrals grow to the last step.
    // Behind an open breaker, a task's wait is also rounded up to a whole step: with thousands of
    // tasks waiting out a cool-off, a hop per shorter step (measured: hundreds of hops a second for one
    // endpoint's 10,000 tasks) cost every other endpoint latency, and none of them could be sent
    // before the probe succeeds anyway. A Retry-After pause is kept to the second, as it was asked.
    let (longest, wait) = match reason {
        DeferReason::Busy => (1, wait),
        DeferReason::CircuitOpen => (DEFER_STEPS.len() - 1, Topology::defer_step_at_least(wait)),
        DeferReason::RetryAfter | DeferReason::RateLimited => (DEFER_STEPS.len() - 1, wait),
    };
    let floor = DEFER_STEPS[(task.deferrals as usize).min(longest)];
    let wait = wait.max(floor);
    task.deferrals += 1;
    task.not_before = Some(Utc::now() + wait);
    tracing::debug!(
        reason = reason.label(),
        stage,
        ?wait,
        "endpoint cannot take the task now; deferred"
    );
    metrics::counter!(prometheus::DEFERRED, "reason" => reason.label(), "stage" => stage)
        .increment(1);
    (task, wait)
}

/// When another worker's breaker, written to the webhook's row, holds the endpoint back until.
pub(crate) fn shared_open_until(target: &Target) -> Option<std::time::Instant> {
    target
        .circuit_open_until
        .and_then(|t| (t - Utc::now()).to_std().ok())
        .map(|rest| std::time::Instant::now() + rest)
}

/// A task due this soon is attempted rather than deferred again.
const NOT_BEFORE_SLACK: Duration = Duration::from_millis(100);

/// Counts a delivery that reached an end, once its outcome is durable.
fn count_end(state: DeliveryState) {
    let outcome = match state {
        DeliveryState::Retrying => return,
        DeliveryState::Succeeded => "succeeded",
        DeliveryState::Failed => "failed",
        DeliveryState::Cancelled => "cancelled",
    };
    metrics::counter!(prometheus::DELIVERIES, "outcome" => outcome).increment(1);
}

/// Counts a task set aside by the attempt stage.
fn count_rejected(reason: &'static str) {
    metrics::counter!(prometheus::REJECTED, "stage" => "attempt", "reason" => reason).increment(1);
}
