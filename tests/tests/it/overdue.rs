//! Overdue retries: a retry that the broker never brings back (as RabbitMQ 3.10 did for minutes after a
//! node failure) is re-driven by the registry as the same attempt, and a second copy of an attempt that
//! was already made is never sent.

use hookline_core::messages::DeliveryTask;
use hookline_proto::v1;
use hookline_tests::broker::messages_held;
use hookline_tests::{DEADLINE, ORG};
use hookline_tests::{Receiver, Reply, Stack, eventually};
use sqlx::PgPool;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_retry_the_broker_lost_is_redriven_once_and_a_late_copy_is_not_sent(pool: PgPool) {
    let stack = Stack::start_with(
        pool.clone(),
        &[
            ("HOOKLINE__DELIVERY__RETRY_SCHEDULE", "3s,3s"),
            ("HOOKLINE__REGISTRY__RETRY_OVERDUE_AFTER", "1s"),
            ("HOOKLINE__REGISTRY__METRICS_INTERVAL", "200ms"),
        ],
    )
    .await;
    let receiver = Receiver::start(|n| Reply::status(if n == 0 { 503 } else { 200 })).await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;

    // The first attempt fails and its retry waits 3 s in the retry queue; the broker loses it there.
    let topology = stack.topology();
    let (retry_queue, _) = topology
        .retry_queue_after(1)
        .expect("a retry after attempt 1");
    let broker = stack.broker().await;
    eventually("the retry to wait in its queue", DEADLINE, || async {
        (hookline_tests::stack::message_count(&broker, &retry_queue).await == 1).then_some(())
    })
    .await;
    let purged = broker
        .queue_purge(retry_queue.as_str().into(), Default::default())
        .await
        .expect("purging the retry queue");
    assert_eq!(purged, 1, "the retry was lost before it expired");

    // Overdue by a second, it is published again, as attempt 2 of the same chain.
    let done = stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;
    let numbers = hookline_tests::stack::attempt_statuses(&done);
    assert_eq!(numbers, vec![(1, 503), (2, 200)]);
    assert_eq!(receiver.count(), 2);

    // The lost retry turns up after all (or a second registry re-drove it too): that attempt was made,
    // so the copy is consumed without a request.
    let delivery = done.delivery.expect("the delivery");
    let event = hookline_core::messages::EventMessage {
        id: delivery.event_id.parse().unwrap(),
        organisation_id: ORG.into(),
        event_type: "job.completed".into(),
        occurred_at: chrono::Utc::now(),
        version: 1,
        data: serde_json::Map::new(),
        webhook_id: None,
        versions: Default::default(),
    };
    let task = DeliveryTask::chain(
        delivery.id.parse().unwrap(),
        webhook.id.parse().unwrap(),
        2,
        event,
    );
    let body = serde_json::to_vec(&task).unwrap();
    let connection = hookline_runtime::amqp::connect(&stack.settings.amqp.url, "hookline-tests")
        .await
        .unwrap();
    let channel = hookline_runtime::amqp::confirmed_channel(&connection)
        .await
        .unwrap();
    hookline_runtime::amqp::publish_traced(
        &channel,
        &topology.deliveries_exchange(),
        "",
        &body,
        &delivery.id,
        topology.delivery_headers(&task.webhook_id),
    )
    .await
    .expect("the broker confirms the copy");
    for queue in topology.deliveries_queues() {
        eventually(&format!("{queue} to be drained"), DEADLINE, || async {
            (messages_held(&queue).await == 0).then_some(())
        })
        .await;
    }
    assert_eq!(receiver.count(), 2, "attempt 2 was not sent twice");
    let _ = connection.close(200, "done".into()).await;
}
