//! What a worker tells organisations about their webhooks: a webhook switched off on `410 Gone`, its
//! breaker opening and closing, a delivery dead-lettered. Each is an operational event of the
//! organisation (`hookline_core::operational`), published after the fact it reports is recorded, in
//! the background, so no attempt waits for it. One that cannot be published is logged and dropped: the
//! fact itself stays on the webhook and in the delivery log.

use hookline_core::messages::{DeliveryTask, EventMessage};
use hookline_core::operational::{self, DeadLetter, WebhookRef};
use hookline_dispatch::outcome::HttpExchange;
use hookline_dispatch::webhooks::{GONE_REASON, Target};
use hookline_runtime::prometheus;
use hookline_runtime::publisher::EventPublisher;

use crate::attempt::AttemptStage;
use crate::gate::Transition;

/// Publishes operational events. Cheap to clone.
#[derive(Clone)]
pub struct Notices {
    events: EventPublisher,
    /// Whether an operations endpoint gets a copy of each (`operations.webhook_url`).
    operations_endpoint: bool,
}

impl Notices {
    pub fn new(events: EventPublisher, operations_endpoint: bool) -> Self {
        Self {
            events,
            operations_endpoint,
        }
    }

    /// Publishes `event` to its organisation, and to the operations endpoint's, without holding up the
    /// caller.
    pub fn send(&self, event: EventMessage) {
        let (events, operations_endpoint) = (self.events.clone(), self.operations_endpoint);
        tokio::spawn(async move { events.announce(event, operations_endpoint).await });
    }

    /// Closes the publisher's connection, once the stage has stopped.
    pub fn stop(&self) {
        self.events.stop();
    }
}

fn webhook<'a>(task: &'a DeliveryTask, target: &'a Target) -> WebhookRef<'a> {
    WebhookRef {
        organisation_id: &task.event.organisation_id,
        id: task.webhook_id,
        url: &target.url,
    }
}

/// `delivery.dead_lettered` for `task`'s last failed attempt; none for the delivery of a
/// `delivery.dead_lettered` event itself, which could otherwise feed on its own failures for ever.
pub fn dead_lettered(
    task: &DeliveryTask,
    target: &Target,
    exchange: &HttpExchange,
) -> Option<EventMessage> {
    if task.event.event_type == operational::DEAD_LETTERED {
        return None;
    }
    let error = exchange.error().unwrap_or_default();
    let dead = DeadLetter {
        delivery_id: task.delivery_id,
        event: &task.event,
        attempts: task.attempt,
        last_status: exchange.status,
        last_error: &error,
    };
    Some(operational::dead_lettered(&webhook(task, target), &dead))
}

impl AttemptStage {
    /// `410 Gone` says the endpoint will never take a delivery again: its webhook is switched off at once,
    /// with the reason shown on it, rather than filling the dead-letter queue until someone notices.
    pub(crate) async fn endpoint_gone(&self, task: &DeliveryTask, target: &Target) {
        match self.webhooks.disable(task.webhook_id, GONE_REASON).await {
            Ok(true) => {
                metrics::counter!(prometheus::WEBHOOKS_DISABLED, "reason" => "gone").increment(1);
                tracing::info!(webhook_id = %task.webhook_id, "webhook disabled: {GONE_REASON}");
                let notice = operational::webhook_disabled(&webhook(task, target), GONE_REASON);
                self.notices.send(notice);
            }
            Ok(false) => {}
            // The next 410 tries again.
            Err(error) => {
                tracing::warn!(%error, webhook_id = %task.webhook_id, "cannot disable the webhook")
            }
        }
    }

    /// Makes a breaker change visible: the webhook's row (which every worker reads), the log, metrics,
    /// and the organisation's operational events.
    pub(crate) async fn circuit_changed(
        &self,
        task: &DeliveryTask,
        target: &Target,
        transition: Transition,
    ) {
        let id = task.webhook_id;
        let (to, notice) = match transition {
            Transition::Opened { for_ } => {
                tracing::info!(webhook_id = %id, cooloff = ?for_, "circuit breaker opened");
                let probe_at = chrono::Utc::now() + for_;
                (
                    "open",
                    operational::circuit_opened(&webhook(task, target), probe_at),
                )
            }
            Transition::Closed => {
                tracing::info!(webhook_id = %id, "circuit breaker closed");
                (
                    "closed",
                    operational::circuit_closed(&webhook(task, target)),
                )
            }
        };
        metrics::counter!(prometheus::CIRCUIT_TRANSITIONS, "to" => to).increment(1);
        // Best effort: this worker's breaker works without it; others just learn later. The event goes
        // out once per change of the shared state, not once per worker.
        match self.webhooks.set_circuit(id, transition).await {
            Ok(true) => self.notices.send(notice),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, webhook_id = %id, "cannot record the breaker's state")
            }
        }
    }
}
