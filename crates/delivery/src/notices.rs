//! What a worker tells organisations about their webhooks: a webhook switched off on `410 Gone`, its
//! breaker opening and closing, a delivery dead-lettered. Each is an operational event of the
//! organisation (`hookline_core::operational`), published after the fact it reports is recorded, in
//! the background, so no attempt waits for it. One that cannot be published is logged and dropped: the
//! fact itself stays on the webhook and in the delivery log. A worker that stops lets those already
//! under way finish before it closes their connection, so a SIGTERM right after a dead-letter does not
//! drop its notice.

use hookline_core::messages::{DeliveryTask, EventMessage};
use hookline_core::operational::{self, DeadLetter, WebhookRef};
use hookline_dispatch::outcome::HttpExchange;
use hookline_dispatch::webhooks::{GONE_REASON, Target};
use hookline_runtime::amqp::CONFIRM_TIMEOUT;
use hookline_runtime::prometheus;
use hookline_runtime::publisher::EventPublisher;
use tokio_util::task::TaskTracker;

use crate::attempt::AttemptStage;
use crate::gate::Transition;

/// Publishes operational events. Cheap to clone.
#[derive(Clone)]
pub struct Notices {
    events: EventPublisher,
    /// The notices still being published, which [`stop`](Self::stop) waits for.
    under_way: TaskTracker,
    /// Whether an operations endpoint gets a copy of each (`operations.webhook_url`).
    operations_endpoint: bool,
}

impl Notices {
    pub fn new(events: EventPublisher, operations_endpoint: bool) -> Self {
        Self {
            events,
            under_way: TaskTracker::new(),
            operations_endpoint,
        }
    }

    /// Publishes `event` to its organisation, and to the operations endpoint's, without holding up the
    /// caller.
    pub fn send(&self, event: EventMessage) {
        let (events, operations_endpoint) = (self.events.clone(), self.operations_endpoint);
        self.under_way
            .spawn(async move { events.announce(event, operations_endpoint).await });
    }

    /// Once the stage has stopped: waits for the notices under way to be confirmed, then closes the
    /// publisher's connection. The wait is bounded by one confirm's timeout, not by the shutdown grace
    /// again, which the stage may already have used up: it fits in the margin the Helm chart adds to
    /// the grace (`terminationGraceExtraSeconds`).
    pub async fn stop(&self) {
        self.under_way.close();
        let wait = self.under_way.wait();
        if tokio::time::timeout(CONFIRM_TIMEOUT, wait).await.is_err() {
            tracing::warn!(
                left = self.under_way.len(),
                "operational events still unconfirmed at shutdown; dropping them"
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_runtime::amqp::{self, AMQP};
    use hookline_runtime::config::Settings;
    use hookline_runtime::ops::Health;
    use lapin::options::QueueDeclareOptions;
    use std::time::{Duration, Instant};
    use uuid::Uuid;

    /// A worker stopping right behind its last attempts' notices: `stop` returns only once every notice
    /// under way is confirmed, so closing the connection then drops none of them.
    #[tokio::test]
    async fn stop_returns_once_the_notices_under_way_are_confirmed() {
        const NOTICES: u32 = 20;
        let prefix = format!("test-{}", Uuid::new_v4().simple());
        let settings = Settings::load_from(None, [("HOOKLINE__AMQP__PREFIX".into(), prefix)])
            .expect("the default settings");
        let topology = settings.topology();
        let url = settings.amqp.url;
        let events = EventPublisher::start(
            "hookline-notices-test",
            url.clone(),
            topology.clone(),
            Health::new(&[AMQP]),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while events.channel().is_err() {
            assert!(
                Instant::now() < deadline,
                "the publisher connects to RabbitMQ"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let notices = Notices::new(events, false);
        let webhook = WebhookRef {
            organisation_id: "org_notices",
            id: Uuid::now_v7(),
            url: "https://example.com/hooks",
        };
        for _ in 0..NOTICES {
            notices.send(operational::webhook_disabled(&webhook, GONE_REASON));
        }
        notices.stop().await;
        assert!(
            notices.under_way.is_empty(),
            "stop returned with {} notices unconfirmed",
            notices.under_way.len()
        );

        let connection = amqp::connect(&url, "hookline-notices-test-check")
            .await
            .expect("connecting");
        let channel = connection.create_channel().await.expect("a channel");
        let queue = topology.events_queue_of(webhook.organisation_id);
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let held = channel
            .queue_declare(queue.as_str().into(), passive, Default::default())
            .await
            .expect("the events queue exists")
            .message_count();
        topology
            .delete(&channel)
            .await
            .expect("deleting the topology");
        assert_eq!(held, NOTICES, "every notice confirmed before stop returned");
    }
}
