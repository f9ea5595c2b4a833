//! The attempt stage: consumes delivery tasks, POSTs each one, records the attempt, and publishes the
//! retry (into the retry queue for the next delay) or, after the last failure, the dead letter.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt as _;
use hookline_common::amqp::{self, PublishError};
use hookline_common::envelope::Envelope;
use hookline_common::headers;
use hookline_common::messages::DeliveryTask;
use hookline_common::prometheus;
use hookline_common::spans;
use hookline_common::topology::Topology;
use lapin::Channel;
use lapin::message::Delivery as Message;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::organisations::OrganisationCache;
use crate::outcome::{DeliveryState, Outcome};
use crate::recorder::{NotRecorded, Recorder};
use crate::sender::Sender;
use crate::webhooks::WebhookCache;

/// How long a task whose outcome could not be made durable waits before going back to the queue, so a
/// database or broker outage does not turn into a hot loop.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);

/// Why a task goes back to the queue instead of being acked.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("cannot read the webhook or the delivery log: {0}")]
    Lookup(#[from] sqlx::Error),
    #[error(transparent)]
    Record(#[from] NotRecorded),
    #[error("cannot schedule the next step: {0}")]
    Publish(#[from] PublishError),
}

/// Everything an attempt needs, shared by all in-flight attempts of a worker.
pub struct AttemptStage {
    pub topology: Topology,
    pub webhooks: WebhookCache,
    pub organisations: OrganisationCache,
    pub sender: Sender,
    pub recorder: Recorder,
    /// In-flight attempts per worker; the queue's prefetch.
    pub concurrency: u16,
    pub grace: Duration,
    pub in_progress: InProgress,
}

/// The attempts (delivery, attempt number) this worker is making. A second copy of a task that arrives
/// meanwhile, such as the task a fan-out republishes for an event the broker redelivered, is acked
/// without a second request: the first copy is acked or returned to the queue when it ends.
#[derive(Debug, Default)]
pub struct InProgress(Arc<std::sync::Mutex<HashSet<(Uuid, u32)>>>);

impl InProgress {
    /// Claims the attempt, or `None` when it is already in progress here.
    fn claim(&self, delivery: Uuid, attempt: u32) -> Option<Claim> {
        let key = (delivery, attempt);
        let fresh = self.0.lock().expect("in-progress lock").insert(key);
        fresh.then(|| Claim {
            set: self.0.clone(),
            key,
        })
    }
}

/// An attempt in progress; released when dropped.
struct Claim {
    set: Arc<std::sync::Mutex<HashSet<(Uuid, u32)>>>,
    key: (Uuid, u32),
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.set.lock().expect("in-progress lock").remove(&self.key);
    }
}

impl AttemptStage {
    /// Consumes until `shutdown` or a broker error, then waits (up to the grace period) for in-flight
    /// attempts. Unfinished ones return to the queue when the channel closes.
    pub async fn run(
        self: Arc<Self>,
        channel: Channel,
        shutdown: CancellationToken,
    ) -> lapin::Result<()> {
        channel
            .basic_qos(self.concurrency, BasicQosOptions::default())
            .await?;
        let mut consumer = channel
            .basic_consume(
                self.topology.deliveries_queue().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let in_flight = TaskTracker::new();
        let result = loop {
            tokio::select! {
                next = consumer.next() => match next {
                    Some(Ok(message)) => {
                        in_flight.spawn(self.clone().handle(channel.clone(), message));
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
        in_flight.close();
        if tokio::time::timeout(self.grace, in_flight.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                unfinished = in_flight.len(),
                "grace period over; unfinished attempts return to the queue"
            );
        }
        result
    }

    async fn handle(self: Arc<Self>, channel: Channel, message: Message) {
        let task: DeliveryTask = match serde_json::from_slice(&message.data) {
            Ok(task) => task,
            Err(error) => {
                tracing::error!(%error, "unparsable delivery task; moving it to the dead-letter queue");
                count_rejected("unparsable");
                let _ = message
                    .acker
                    .reject(BasicRejectOptions { requeue: false })
                    .await;
                return;
            }
        };
        let span = spans::amqp_process(
            &self.topology.deliveries_queue(),
            &message,
            spans::Ids {
                event_id: Some(&task.event.id),
                event_type: Some(&task.event.event_type),
                delivery_id: Some(&task.delivery_id),
                webhook_id: Some(&task.webhook_id),
                attempt: Some(task.attempt),
            },
        );
        let Some(claim) = self.in_progress.claim(task.delivery_id, task.attempt) else {
            tracing::info!(delivery_id = %task.delivery_id, attempt = task.attempt,
                "a copy of an attempt in progress; not sent twice");
            let _ = message.acker.ack(BasicAckOptions::default()).await;
            return;
        };
        // The span covers the ack too, so its log lines carry the ids; it is never held across an await
        // by a guard, which would leak it into other tasks.
        async move {
            let in_flight = metrics::gauge!(prometheus::IN_FLIGHT);
            in_flight.increment(1.0);
            let result = if message.redelivered {
                self.unless_sent(&channel, task).await
            } else {
                self.attempt(&channel, task).await
            };
            in_flight.decrement(1.0);
            match result {
                Ok(()) => {
                    if let Err(error) = message.acker.ack(BasicAckOptions::default()).await {
                        tracing::warn!(%error, "ack failed; the task will be redelivered");
                    }
                }
                // Retrying cannot help; the task would only come back to fail again.
                Err(AttemptError::Record(error @ NotRecorded::Refused(_))) => {
                    tracing::error!(%error, "moving the task to the dead-letter queue");
                    count_rejected("unstorable");
                    let _ = message
                        .acker
                        .reject(BasicRejectOptions { requeue: false })
                        .await;
                }
                Err(error) => {
                    tracing::warn!(%error, "outcome not durable; returning the task to the queue");
                    tokio::time::sleep(REQUEUE_PAUSE).await;
                    let _ = message
                        .acker
                        .nack(BasicNackOptions {
                            requeue: true,
                            multiple: false,
                        })
                        .await;
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
    async fn unless_sent(&self, channel: &Channel, task: DeliveryTask) -> Result<(), AttemptError> {
        if self
            .recorder
            .succeeded(task.delivery_id, task.attempt)
            .await?
        {
            tracing::info!("redelivered task already succeeded; not sent again");
            return Ok(());
        }
        self.attempt(channel, task).await
    }

    /// Makes the attempt and makes its outcome durable: recorded, and the retry or dead letter confirmed.
    async fn attempt(&self, channel: &Channel, task: DeliveryTask) -> Result<(), AttemptError> {
        let target = self.webhooks.get(task.webhook_id).await?;
        let Some(target) = target.filter(|t| t.enabled) else {
            tracing::info!("webhook disabled or deleted; delivery cancelled");
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

        let event = self.organisations.localised(&task.event).await?;
        let body = Envelope::new(&event, task.webhook_id).to_bytes();
        let exchange = self
            .sender
            .send(&target.url, &target, &task.event.id.to_string(), body)
            .await;
        metrics::counter!(prometheus::ATTEMPTS,
            "outcome" => if exchange.succeeded() { "success" } else { "failure" },
            "status_class" => prometheus::status_class(exchange.status))
        .increment(1);
        metrics::histogram!(prometheus::ATTEMPT_DURATION)
            .record(f64::from(exchange.duration_ms.max(0)) / 1000.0);
        let retry = self.topology.retry_queue_after(task.attempt_in_chain());
        let (state, next_attempt_at) = match (&exchange.error, &retry) {
            (None, _) => (DeliveryState::Succeeded, None),
            // The retry queue's TTL starts when the task is published, right after this.
            (Some(_), Some((_, delay))) => (DeliveryState::Retrying, Some(Utc::now() + *delay)),
            (Some(_), None) => (DeliveryState::Failed, None),
        };
        match &exchange.error {
            None => tracing::info!(
                status = exchange.status,
                duration_ms = exchange.duration_ms,
                "delivered"
            ),
            Some(error) => {
                tracing::warn!(status = exchange.status, %error, ?next_attempt_at, "attempt failed")
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
                AMQPValue::LongString(exchange.error.clone().unwrap_or_default().into()),
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
                    let next = DeliveryTask {
                        attempt: task.attempt + 1,
                        ..task.clone()
                    };
                    publish(channel, &queue, &next, FieldTable::default()).await
                }
                (DeliveryState::Failed, _) => {
                    let queue = self.topology.dead_letter_queue();
                    publish(channel, &queue, &task, last_failure).await
                }
                _ => Ok(()),
            }
        };
        let (recorded, forwarded) = tokio::join!(self.recorder.record(outcome), forward);
        recorded?;
        forwarded?;
        count_end(state);
        Ok(())
    }
}

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

/// Publishes `task` straight to `queue` through the default exchange, with `headers`, continuing the
/// attempt's trace.
async fn publish(
    channel: &Channel,
    queue: &str,
    task: &DeliveryTask,
    headers: FieldTable,
) -> Result<(), PublishError> {
    let body = serde_json::to_vec(task).expect("tasks always serialise");
    amqp::publish_traced(
        channel,
        "",
        queue,
        &body,
        &task.delivery_id.to_string(),
        headers,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_is_claimed_once_until_it_ends() {
        let in_progress = InProgress::default();
        let delivery = Uuid::now_v7();
        let first = in_progress.claim(delivery, 1).expect("a fresh attempt");
        assert!(
            in_progress.claim(delivery, 1).is_none(),
            "a copy is refused"
        );
        assert!(
            in_progress.claim(delivery, 2).is_some(),
            "another attempt of the same delivery is its own"
        );
        drop(first);
        assert!(
            in_progress.claim(delivery, 1).is_some(),
            "free once it ended"
        );
    }
}
