//! A delivery task on the broker: how every path publishes one (fan-out, retries, deferrals, dead
//! letters, hand-overs), the ids its spans carry, and what happens to unfinished ones at shutdown.

use std::time::Duration;

use hookline_core::messages::DeliveryTask;
use hookline_runtime::amqp::{self, PublishError};
use hookline_runtime::spans;
use hookline_runtime::topology::Topology;
use lapin::Channel;
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The ids of `task`, for its span.
pub(crate) fn ids(task: &DeliveryTask) -> spans::Ids<'_> {
    spans::Ids {
        event_id: Some(&task.event.id),
        event_type: Some(&task.event.event_type),
        delivery_id: Some(&task.delivery_id),
        webhook_id: Some(&task.webhook_id),
        attempt: Some(task.attempt),
    }
}

/// Closes `tracker` and waits up to `grace` for its tasks, or until `abandon` fires (the connection is
/// lost: the tasks can no longer ack their messages, so waiting for them would only hold back the
/// reconnect and every delivery behind it; they finish on their own and their messages are redelivered,
/// where the log and the claims keep a finished attempt from being sent again). What is unfinished is
/// said in the log; its messages return to the queue when the channel closes.
pub(crate) async fn finish_within(
    grace: Duration,
    tracker: &TaskTracker,
    what: &str,
    abandon: &CancellationToken,
) {
    tracker.close();
    tokio::select! {
        () = tracker.wait() => {}
        () = tokio::time::sleep(grace) => tracing::warn!(
            unfinished = tracker.len(),
            "grace period over; unfinished {what} return to the queue"
        ),
        () = abandon.cancelled() => tracing::info!(
            unfinished = tracker.len(),
            "connection lost; unfinished {what} end without it and return to the queue"
        ),
    }
}

/// Publishes `task` straight to `queue` through the default exchange (a retry, deferral or dead-letter
/// queue), continuing the attempt's trace.
pub(crate) async fn publish(
    channel: &Channel,
    topology: &Topology,
    queue: &str,
    task: &DeliveryTask,
    extra: FieldTable,
) -> Result<(), PublishError> {
    publish_to(channel, topology, "", queue, task, extra).await
}

/// Publishes `task` to `exchange` with `routing_key`, confirmed, with `extra` headers beside its shard's
/// (which bring it back to its shard when a retry or deferral queue returns it), continuing the current
/// trace.
pub(crate) async fn publish_to(
    channel: &Channel,
    topology: &Topology,
    exchange: &str,
    routing_key: &str,
    task: &DeliveryTask,
    extra: FieldTable,
) -> Result<(), PublishError> {
    let mut headers = topology.delivery_headers(&task.webhook_id);
    for (name, value) in extra.inner() {
        headers.insert(name.clone(), value.clone());
    }
    let body = serde_json::to_vec(task).expect("tasks always serialise");
    amqp::publish_traced(
        channel,
        exchange,
        routing_key,
        &body,
        &task.delivery_id.to_string(),
        headers,
    )
    .await
}
