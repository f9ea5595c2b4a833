//! Replaying dead letters: taking chosen delivery tasks out of the dead-letter queue and sending them back
//! to the attempt stage as a new chain of attempts.

use std::collections::HashSet;

use hookline_core::messages::DeliveryTask;
use hookline_runtime::amqp::{self, PublishError, Settle};
use hookline_runtime::topology::Topology;
use lapin::Channel;
use lapin::options::BasicGetOptions;
use uuid::Uuid;

/// The most dead letters one replay call looks at, so a huge queue cannot make a call run unbounded.
pub const MAX_SCANNED: usize = 10_000;

/// Which dead letters a replay takes.
pub struct Selection {
    pub organisation_id: String,
    pub deliveries: HashSet<Uuid>,
    pub webhook_id: Option<Uuid>,
}

impl Selection {
    fn takes(&self, task: &DeliveryTask) -> bool {
        task.event.organisation_id == self.organisation_id
            && (self.deliveries.contains(&task.delivery_id)
                || self.webhook_id == Some(task.webhook_id))
    }
}

/// Replays the selected dead letters and returns their delivery ids. Each is republished (confirmed)
/// before its dead letter is acked, so a failure part-way leaves it in the queue rather than losing it;
/// letters not selected go back to the queue untouched.
pub async fn replay(
    channel: &Channel,
    topology: &Topology,
    selection: &Selection,
) -> Result<Vec<Uuid>, PublishError> {
    let queue = topology.dead_letter_queue();
    let mut replayed = Vec::new();
    let mut passed_over = Vec::new();
    let result = async {
        while replayed.len() + passed_over.len() < MAX_SCANNED {
            let Some(message) = channel
                .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
                .await?
            else {
                break;
            };
            let task = serde_json::from_slice::<DeliveryTask>(&message.data)
                .ok()
                .filter(|t| selection.takes(t));
            let Some(task) = task else {
                passed_over.push(message);
                continue;
            };
            let retry = DeliveryTask::chain(
                task.delivery_id,
                task.webhook_id,
                task.attempt + 1,
                task.event,
            );
            let body = serde_json::to_vec(&retry).expect("tasks always serialise");
            // The replay is part of the operator's call's trace.
            amqp::publish_traced(
                channel,
                &topology.deliveries_exchange(),
                "",
                &body,
                &retry.delivery_id.to_string(),
                topology.delivery_headers(&retry.webhook_id),
            )
            .await?;
            amqp::settle(&message.acker, Settle::Ack).await?;
            replayed.push(retry.delivery_id);
        }
        Ok::<_, PublishError>(())
    }
    .await;
    for message in passed_over {
        let _ = amqp::settle(&message.acker, Settle::Requeue).await;
    }
    result.map(|()| replayed)
}
